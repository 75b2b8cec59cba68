"""The zone → Route 53 mapping, as a table of zone edits and what they must produce."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from gslb.geo.countries import COUNTRY_CONTINENT
from gslb.model import Zone
from gslb.sync.desired import Desired, Options, build
from gslb.sync.records import RecordSet
from tests.sync.conftest import EXAMPLE_TEXT, edit

EEA = set(
    "AT BE BG HR CY CZ DK EE FI FR DE GR HU IE IT LV LT LU MT NL PL PT RO SK SI ES SE".split()
    + "IS LI NO".split()
)
FENCES = "# Names answered per query"
RULES = "    rules:                          # explicit orders, checked against the fences\n"


def geo_map(desired: Desired, rtype: str = "A") -> dict[str, str]:
    """Geolocation code → the helper set it aliases to, for api.example.com."""
    out = {}
    for r in desired.records:
        if r.name == "api.example.com." and r.rtype == rtype and r.geo is not None:
            assert r.alias is not None and r.alias.endswith(".api.example.com.")
            assert r.evaluate is False  # never fall out of a fence
            out[r.geo[1]] = r.alias.split(".")[0].removeprefix("_gslb-")
    return out


def helper(desired: Desired, label: str, rtype: str = "A") -> list[RecordSet]:
    return [
        r
        for r in desired.records
        if r.name == f"_gslb-{label}.api.example.com." and r.rtype == rtype
    ]


def eea_and(extra: dict[str, str]) -> dict[str, str]:
    return {"*": "all", "JP": "rule1", "KR": "rule1", **{c: "eu-eea" for c in EEA}, **extra}


@dataclass
class Case:
    id: str
    edits: list[tuple[str, str]] = field(default_factory=list)
    options: Options = field(default_factory=Options)
    geo: dict[str, str] | None = None  # expected geo map for A
    warnings: set[str] = field(default_factory=set)  # codes that must be there
    errors: set[str] = field(default_factory=set)  # exactly these codes
    check: Callable[[Desired], None] | None = None


def chain_of_three(d: Desired) -> None:
    first = {r.failover: r for r in helper(d, "rule1")}
    assert first["PRIMARY"].origin == "ap-northeast" and first["PRIMARY"].alias is None
    assert (
        first["SECONDARY"].alias == "_gslb-rule1-2.api.example.com." and first["SECONDARY"].evaluate
    )
    second = {r.failover: r.origin for r in helper(d, "rule1-2")}
    assert second == {"PRIMARY": "us-west", "SECONDARY": "us-east"}


def no_aaaa(d: Desired) -> None:
    assert not [r for r in d.records if r.rtype == "AAAA"]
    assert geo_map(d) == eea_and({})


def no_sa_east(d: Desired) -> None:
    assert not [r for r in d.records if r.origin == "sa-east"]
    assert len(helper(d, "all")) == 5


def static_records(d: Desired) -> None:
    plain = {(r.name, r.rtype) for r in d.records if not r.set_id}
    assert ("example.com.", "MX") in plain and ("*.dev.example.com.", "A") in plain
    assert ("example.com.", "SOA") not in plain and ("example.com.", "NS") not in plain
    assert ("lab.example.com.", "NS") in plain  # a delegation is not the apex
    assert d.claims["example.com."] == {"MX", "TXT", "CAA"}
    assert d.claims["api.example.com."] == frozenset()
    big = next(r for r in d.records if r.name == "big.example.com.")
    assert len(big.values) == 30 and big.ttl == 3600


CASES = [
    Case(
        "example",
        geo=eea_and({}),
        warnings={"latency", "default", "degraded-ttl", "no-health-check"},
        check=lambda d: (
            [r.origin for r in helper(d, "eu-eea")] == ["eu-central", "eu-west"]
            and len(helper(d, "all")) == 6
            or pytest.fail("sets")
        ),
    ),
    Case(
        "continent fence: a continent record and every country of it",
        edits=[(FENCES, "  oc: {clients: {continents: [OC]}, regions: [ap-northeast]}\n" + FENCES)],
        geo=eea_and({"OC": "oc"} | {c: "oc" for c, k in COUNTRY_CONTINENT.items() if k == "OC"}),
    ),
    Case(
        "US state fence: a subdivision record; other subdivisions: a warning",
        edits=[
            (
                FENCES,
                "  ca: {clients: {subdivisions: [US-CA]}, regions: [us-west]}\n"
                "  bavaria: {clients: {subdivisions: [DE-BY]}, regions: [eu-central]}\n" + FENCES,
            )
        ],
        geo=eea_and({"US-CA": "ca"}),
        warnings={"subdivision"},
    ),
    Case(
        "CIDR fence: no record, a warning",
        edits=[
            (
                FENCES,
                "  office: {clients: {networks: [198.18.0.0/15]}, regions: [us-east, eu-west]}\n"
                + FENCES,
            )
        ],
        geo=eea_and({}),
        warnings={"cidr"},
    ),
    Case(
        "rule of three regions: a failover chain of two levels",
        edits=[("regions: [ap-northeast, us-west]", "regions: [ap-northeast, us-west, us-east]")],
        geo=eea_and({}),
        check=chain_of_three,
    ),
    Case(
        "rule inside a fence: its own chain, restricted to the fence",
        edits=[
            (
                RULES,
                RULES
                + "      - clients: {countries: [DE]}\n        regions: [eu-west, eu-central]\n",
            )
        ],
        geo=eea_and({"DE": "rule1-in-eu-eea", "JP": "rule2", "KR": "rule2"}),
        check=lambda d: (
            [(r.failover, r.origin) for r in helper(d, "rule1-in-eu-eea")]
            == [("PRIMARY", "eu-west"), ("SECONDARY", "eu-central")]
            or pytest.fail("chain")
        ),
    ),
    Case(
        "fail-closed fence: a warning",
        edits=[("all-down: fail-open ", "all-down: nodata ")],
        geo=eea_and({}),
        warnings={"all-down"},
    ),
    Case(
        "pick and spill: warnings",
        edits=[
            ("pick: {count: 0, second-region: false}", "pick: {count: 1, second-region: true}"),
            (
                "    aws-region: us-east-1\n",
                "    aws-region: us-east-1\n    health: {check: http, load: {json: load}}\n",
            ),
        ],
        warnings={"pick", "spill"},
    ),
    Case(
        "a region without IPv6: a warning, AAAA from the rest",
        edits=[('[203.0.113.20, "2001:db8:60::20"]', "[203.0.113.20]")],
        warnings={"family"},
        check=lambda d: len(helper(d, "all", "AAAA")) == 5 or pytest.fail("aaaa"),
    ),
    Case(
        "a fence without IPv6: no AAAA for the name at all (no fall-through)",
        edits=[
            ('[192.0.2.10, "2001:db8:30::10"]', "[192.0.2.10]"),
            ('[192.0.2.20, "2001:db8:40::20"]', "[192.0.2.20]"),
        ],
        warnings={"family"},
        check=no_aaaa,
    ),
    Case(
        "a region without aws-region: an error",
        edits=[("    aws-region: sa-east-1\n", "")],
        errors={"unmapped"},
    ),
    Case(
        "... or left out with --skip-unmapped",
        edits=[("    aws-region: sa-east-1\n", "")],
        options=Options(skip_unmapped=True),
        warnings={"unmapped"},
        check=no_sa_east,
    ),
    Case(
        "a region down in config: left out",
        edits=[("    aws-region: sa-east-1\n", "    aws-region: sa-east-1\n    down: true\n")],
        warnings={"region-down"},
        check=no_sa_east,
    ),
    Case(
        "a zone record where gslb sync needs its claim: an error",
        edits=[("  mail: {A: 192.0.2.25}", '  mail: {A: 192.0.2.25}\n  _gslb.api: {TXT: "x"}')],
        errors={"clash"},
    ),
    Case(
        "two regions in one AWS region: a warning",
        edits=[("aws-region: eu-central-1", "aws-region: eu-west-1")],
        check=lambda d: (
            any(
                "eu-west and eu-central share aws-region eu-west-1" in w.message for w in d.warnings
            )
            or pytest.fail("shared")
        ),
    ),
    Case(
        "--static: the zone's records, apex SOA/NS excepted",
        options=Options(static=True),
        check=static_records,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_mapping(case: Case, zone_from: Callable[[str], Zone]) -> None:
    text = EXAMPLE_TEXT
    for old, new in case.edits:
        text = edit(text, old, new)
    desired = build(zone_from(text), case.options)
    assert {e.code for e in desired.errors} == case.errors, desired.errors
    assert case.warnings <= {w.code for w in desired.warnings}, desired.warnings
    if case.geo is not None:
        assert geo_map(desired) == case.geo
        assert geo_map(desired, "AAAA") == case.geo
    if case.check is not None:
        case.check(desired)


def test_latency_records_carry_region_ttl_and_check(zone_from: Callable[[str], Zone]) -> None:
    desired = build(zone_from(EXAMPLE_TEXT), Options(owner="blue"))
    us = next(r for r in helper(desired, "all") if r.origin == "us-east")
    assert (us.region, us.ttl, us.values, us.health) == (
        "us-east-1",
        30,
        ("198.51.100.10", "198.51.100.11"),
        None,  # the example zone has no health: blocks
    )
    assert us.set_id.startswith("gslb:blue:region-us-east:")
    ids = [r.set_id for r in desired.records if r.set_id]
    assert len(ids) == len(set(ids))  # unique in the zone, not only per name and type
