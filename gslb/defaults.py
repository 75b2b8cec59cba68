"""Defaults every command shares: where zones and the geo database are, where to listen.

Written once so that ``gslb serve``, ``check``, ``resolve`` and ``geoip`` cannot drift.
"""

from __future__ import annotations

from gslb.model import HostPort

ZONES = "zones"
GEOIP = "data/dbip-city-lite.mmdb"
DNS_PORT = 5353
DNS_LISTENERS = (HostPort("127.0.0.1", DNS_PORT), HostPort("::1", DNS_PORT))
HTTP_PORT = 8053
