"""Zone files in, validated model out: every problem at once, as ``file:line:col``."""

from gslb.config.zonefile import load_zone, load_zones

__all__ = ["load_zone", "load_zones"]
