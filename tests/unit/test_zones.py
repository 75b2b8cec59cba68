"""The bundled zones: the example every README command uses, and its probed twin."""

from __future__ import annotations

import dataclasses

from gslb.config import load_zone
from tests.conftest import ZONES


def test_the_demo_zone_is_the_example_with_probes() -> None:
    """zones/demo/ (the README's failover walk-through) must not drift from the example:
    the same records, regions, fences and names; only eu-west and eu-central probed."""
    example = load_zone(ZONES / "example.com.yaml")
    demo = load_zone(ZONES / "demo" / "example.com.yaml")
    probed = {name for name, r in demo.regions.items() if r.health is not None}
    assert probed == {"eu-west", "eu-central"}
    for r in demo.regions.values():
        for ep in r.endpoints:
            assert ep.health is None or ep.health.target.host == "127.0.0.1"  # type: ignore[union-attr]

    def plain(zone):  # type: ignore[no-untyped-def]
        regions = {
            n: dataclasses.replace(
                r,
                health=None,
                endpoints=tuple(dataclasses.replace(e, health=None) for e in r.endpoints),
            )
            for n, r in zone.regions.items()
        }
        return (zone.rrsets, regions, zone.fences, sorted(zone.gslb))

    assert plain(demo) == plain(example)
    assert all(r.health is None for r in example.regions.values())  # nothing contacted
