"""Zones with ``health:`` blocks for the live-state tests, written as YAML and loaded
exactly as the server loads them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gslb.config import load_zone
from gslb.model import Zone

LOCATIONS = {"eu-west": [53.35, -6.26], "eu-central": [50.11, 8.68], "us-east": [38.95, -77.45]}


def zone(tmp_path: Path, regions: dict[str, dict[str, Any]], origin: str = "example.com") -> Zone:
    """A zone ``origin`` with ``regions`` (``location`` filled in) and a GSLB name
    ``api`` over all of them."""
    body = {
        "zone": origin,
        "soa": {"mname": "ns1", "rname": "hostmaster", "serial": 1, "refresh": 2,
                "retry": 3, "expire": 4, "minimum": 5},
        "ns": ["ns1"],
        "records": {"ns1": {"A": "192.0.2.53"}},
        "regions": {
            name: {"location": LOCATIONS.get(name, [0.0, 0.0]), **spec}
            for name, spec in regions.items()
        },
        "gslb": {"api": {"ttl": 30}},
    }  # fmt: skip
    path = tmp_path / f"{origin}.yaml"
    path.write_text(yaml.safe_dump(body, sort_keys=False))
    return load_zone(path)
