"""``--verify``: Route 53's simulated answers against gslb's own, per scenario.

The bundled example over the bundled database must never answer a fenced client outside
its fence; small zones over a static locator show each cause of disagreement, and that
the leak check is not vacuous (aliases that evaluate target health do leak).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from ipaddress import ip_address

import pytest

from gslb.config import load_zones
from gslb.geo.database import GeoDatabase
from gslb.geo.locator import StaticLocator
from gslb.model import Location, Zone
from gslb.sync.desired import Desired, Options, build
from gslb.sync.verify import Report, Sample, Simulator, sample_clients, verify
from tests.conftest import GEOIP, ZONES
from tests.sync.conftest import EXAMPLE_TEXT, edit

BERLIN = Location(country="DE", continent="EU", lat=52.52, lon=13.40)
SAO_PAULO = Location(country="BR", continent="SA", lat=-23.55, lon=-46.63)
TOKYO = Location(country="JP", continent="AS", lat=35.68, lon=139.69)
NEW_YORK = Location(country="US", continent="NA", lat=40.71, lon=-74.01)
PLACES = {
    "85.214.132.0/24": BERLIN,
    "177.0.0.0/24": SAO_PAULO,
    "133.0.0.0/24": TOKYO,
    "8.8.8.0/24": NEW_YORK,
}
SAMPLES = [Sample(ip_address(net.replace("0/24", "1")), loc) for net, loc in PLACES.items()]
ONE_REGION_FENCE = ("regions: [eu-west, eu-central]", "regions: [eu-central]")


def check(zone: Zone, desired: Desired | None = None) -> Report:
    desired = desired or build(zone, Options())
    return verify([zone], [desired], StaticLocator(PLACES), SAMPLES)


def outcome(report: Report, scenario: str) -> tuple[int, int, int]:
    found = next(o for o in report.outcomes if o.scenario == scenario)
    return found.total, found.agree, found.leaks


def test_bundled_example_never_leaks_a_fence() -> None:
    zones = [z for z in load_zones([ZONES]) if z.gslb]
    desired = [build(z, Options()) for z in zones]
    geo = GeoDatabase.open(GEOIP)
    try:
        samples = sample_clients(
            geo.lookup, per_continent=15, countries=["DE", "FR", "JP", "KR"], seed=7
        )
        report = verify(zones, desired, geo, samples, ["DE", "FR", "JP", "KR"])
    finally:
        geo.close()
    assert set(report.continents()) >= {"AF", "AS", "EU", "NA", "OC", "SA"}
    assert not report.missing
    scenarios = [o.scenario for o in report.outcomes]
    assert scenarios[0] == "all healthy" and scenarios[-1] == "all down" and len(scenarios) == 8
    assert report.leaks == 0 and all(o.leaks == 0 for o in report.outcomes)
    assert all(o.total == 2 * len(samples) for o in report.outcomes)
    assert sum(o.agree for o in report.outcomes) >= 0.99 * sum(o.total for o in report.outcomes)


def test_the_leak_check_is_not_vacuous(zone_from: Callable[[str], Zone]) -> None:
    zone = zone_from(edit(EXAMPLE_TEXT, *ONE_REGION_FENCE))
    assert check(zone).leaks == 0
    # geolocation aliases that evaluate target health fall through to the default set
    desired = build(zone, Options())
    careless = dataclasses.replace(
        desired,
        records=tuple(
            dataclasses.replace(r, evaluate=True) if r.geo else r for r in desired.records
        ),
    )
    report = check(zone, careless)
    assert outcome(report, "eu-central down") == (8, 6, 2)  # Berlin, A and AAAA
    assert {d.cause for d in report.disagreements} == {"fence leak"}


def test_fail_closed_fence_is_a_disagreement(zone_from: Callable[[str], Zone]) -> None:
    zone = zone_from(edit(edit(EXAMPLE_TEXT, *ONE_REGION_FENCE), "fail-open ", "nodata "))
    report = check(zone)
    assert report.leaks == 0
    causes = report.by_cause()
    assert list(causes) == ["all-down nodata not expressible"]
    assert {
        (d.scenario, d.where, d.gslb, d.route53) for d in causes["all-down nodata not expressible"]
    } == {
        ("eu-central down", "DE/EU", "nodata", "eu-central"),
        ("all down", "DE/EU", "nodata", "eu-central"),
    }


def test_a_region_without_ipv6(zone_from: Callable[[str], Zone]) -> None:
    zone = zone_from(edit(EXAMPLE_TEXT, '[203.0.113.20, "2001:db8:60::20"]', "[203.0.113.20]"))
    report = check(zone)
    (cause,) = report.by_cause()
    assert cause == "A and AAAA from one region (gslb NODATA)"
    assert {(d.where, d.rtype, d.gslb) for d in report.disagreements} == {
        ("BR/SA", "AAAA", "nodata")
    }


@pytest.mark.parametrize(
    ("down", "where", "expected"),
    [
        (set(), TOKYO, "ap-northeast"),
        ({"ap-northeast"}, TOKYO, "us-west"),  # the rule's chain
        ({"ap-northeast", "us-west"}, TOKYO, "ap-northeast"),  # all down: the primary
        (set(), BERLIN, "eu-central"),
        ({"eu-central"}, BERLIN, "eu-west"),
        ({"eu-central", "eu-west"}, BERLIN, "eu-central"),  # fail-open inside the fence
        ({"us-east"}, NEW_YORK, "us-west"),
    ],
)
def test_simulated_route53(
    down: set[str], where: Location, expected: str, zone_from: Callable[[str], Zone]
) -> None:
    desired = build(zone_from(EXAMPLE_TEXT), Options())
    sim = Simulator(desired.records, lambda _: (0.0, 0.0))
    found = sim.answer("api.example.com.", "A", where, frozenset(down))
    assert found is not None and found.origin == expected
