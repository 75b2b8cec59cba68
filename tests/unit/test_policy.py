"""The policy pipeline as tables of cases: client, health, load → regions, outcome, TTL, trace.

The example zone's ``api.example.com.`` comes from ``zones/example.com.yaml`` through the
real config loader; a small hand-built name covers what the example zone cannot (IPv4-only
region, weighted subsets, second region, fail-closed fences, default location).
Distances quoted in comments are great-circle km to the regions of the example zone.
"""

from __future__ import annotations

import dataclasses
import math
from hashlib import blake2b
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import NamedTuple

import pytest

from gslb.config import load_zone
from gslb.geo.distance import haversine_km
from gslb.model import (
    AllDown,
    Client,
    ClientMatch,
    Decision,
    Endpoint,
    Fence,
    GslbName,
    LiveState,
    Location,
    Lookup,
    Pick,
    Region,
    Rule,
    Spill,
)
from gslb.policy import hashing as policy
from gslb.policy.pipeline import STEPS, decide
from tests.states import state_for

EXAMPLE = Path(__file__).resolve().parents[2] / "zones" / "example.com.yaml"
API = load_zone(EXAMPLE).gslb["api.example.com."]
STEP_NAMES = [name for name, _ in STEPS]

#: country, continent, lat, lon of real cities.
CITIES: dict[str, tuple[str, str, float, float]] = {
    "paris": ("FR", "EU", 48.86, 2.35),  # eu-central 478, eu-west 781
    "madrid": ("ES", "EU", 40.42, -3.70),  # eu-central 1445, eu-west 1451
    "oslo": ("NO", "EU", 59.91, 10.75),  # EEA, not EU
    "reykjavik": ("IS", "EU", 64.15, -21.94),  # EEA: eu-west 1495
    "zurich": ("CH", "EU", 47.37, 8.54),  # not EU/EEA: unfenced, eu-central 305
    "london": ("GB", "EU", 51.51, -0.13),  # unfenced: eu-west 463, eu-central 638
    "tokyo": ("JP", "AS", 35.68, 139.69),  # rule JP/KR
    "seoul": ("KR", "AS", 37.57, 126.98),  # rule; nearest after Tokyo would be eu-central
    "singapore": ("SG", "AS", 1.35, 103.82),
    "mumbai": ("IN", "AS", 19.08, 72.88),  # eu-central 6564, ap-northeast 6723
    "sydney": ("AU", "OC", -33.87, 151.21),  # ap-northeast 7826, us-west 12564
    "sao-paulo": ("BR", "SA", -23.55, -46.63),
    "lagos": ("NG", "AF", 6.52, 3.38),  # eu-central 4872
    "cape-town": ("ZA", "AF", -33.92, 18.42),  # sa-east 6344
    "new-york": ("US", "NA", 40.71, -74.01),
    "seattle": ("US", "NA", 47.61, -122.33),
    "mexico-city": ("MX", "NA", 19.43, -99.13),  # us-east 3007, us-west 3489
    "mcmurdo": ("AQ", "AN", -77.85, 166.67),  # sa-east 8533
}


def client(
    address: str = "192.0.2.1",
    country: str | None = None,
    continent: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    located: bool = True,
) -> Client:
    """An ECS client; ``located=False`` means the geo database knows nothing."""
    addr = ip_address(address)
    bits = 24 if addr.version == 4 else 48
    net = ip_network(f"{address}/{bits}", strict=False)
    location = Location(country, continent, None, lat, lon) if located else None
    return Client(addr, "ecs", bits, Lookup(location, net, "" if located else "not found"))


def city(name: str, address: str = "198.51.100.7") -> Client:
    country, continent, lat, lon = CITIES[name]
    return client(address, country, continent, lat, lon)


def u_of(c: Client, region: str) -> float:
    """The spill hash as the brief defines it, computed independently of gslb.policy."""
    digest = blake2b(c.key + region.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def network_where(city_name: str, region: str, spills: bool, share: float) -> str:
    """An address in a /24 whose hash makes it spill (or stay) at this share."""
    for third in range(256):
        address = f"10.20.{third}.1"
        if (u_of(city(city_name, address), region) < share) == spills:
            return address
    raise AssertionError("no such network")  # pragma: no cover - 256 tries at ~50% each


SHARE_087 = (0.87 - 0.8) / (0.95 - 0.8)
PARIS_SPILLS = network_where("paris", "eu-central", True, SHARE_087)
PARIS_STAYS = network_where("paris", "eu-central", False, SHARE_087)


class Case(NamedTuple):
    id: str
    who: Client
    expect: tuple[str, ...]  # Decision.regions
    family: int = 4
    down: frozenset[str] = frozenset()
    load: dict[str, float] = {}  # never mutated
    down_eps: frozenset[tuple[str, str]] = frozenset()
    outcome: str = "answer"
    ttl: int = 30
    facts: tuple[tuple[str, str], ...] = ()  # (step, text in its removed reasons or note)
    addresses: tuple[str, ...] | None = None  # expected answer addresses, in order
    hashed: bool | None = None  # expected Decision.hashed, when the case is about it


def down(*regions: str) -> frozenset[str]:
    return frozenset(regions)


EU = ("eu-west", "eu-central")
ALL = ("us-east", "us-west", "eu-west", "eu-central", "ap-northeast", "sa-east")

# fmt: off
EXAMPLE_CASES = [
    # ---- Europe: the eu-eea fence
    Case("paris", city("paris"), ("eu-central",),
         facts=(("fence", "us-east: outside fence eu-eea"), ("nearest", "eu-central 478 km"),
                ("nearest", "eu-west 781 km"), ("nearest", "ecs"), ("fence", "fence eu-eea"),
                ("all-down", "not needed")),
         addresses=("192.0.2.20",)),
    Case("paris-aaaa", city("paris"), ("eu-central",), family=6, addresses=("2001:db8:40::20",)),
    Case("paris-ipv6-client", city("paris", "2001:db8:ff00::1"), ("eu-central",)),
    Case("madrid-close-call", city("madrid"), ("eu-central",),
         facts=(("nearest", "eu-central 1445 km"), ("nearest", "eu-west 1451 km"))),
    Case("oslo-eea", city("oslo"), ("eu-central",), facts=(("fence", "sa-east: outside"),)),
    Case("reykjavik-eea", city("reykjavik"), ("eu-west",)),
    Case("paris-1-down", city("paris"), ("eu-west",), down=down("eu-central"), ttl=10,
         facts=(("health", "eu-central: down: region marked down"),
                ("pick", "not the first choice (eu-central)"))),
    Case("paris-2-down-fail-open", city("paris"), ("eu-central",), down=down(*EU), ttl=10,
         facts=(("all-down", "failing open to eu-central"),), addresses=("192.0.2.20",)),
    Case("paris-2-down-fail-open-aaaa", city("paris"), ("eu-central",), family=6,
         down=down(*EU), ttl=10),
    Case("paris-all-down-stays-in-fence", city("paris"), ("eu-central",), down=down(*ALL),
         ttl=10),
    Case("paris-load-below-low", city("paris"), ("eu-central",), load={"eu-central": 0.8},
         hashed=False),
    Case("paris-load-over-high", city("paris"), ("eu-west",), load={"eu-central": 0.97}, ttl=10,
         facts=(("load", "eu-central: load 0.97 >= high watermark 0.95"),)),
    Case("paris-load-at-high", city("paris"), ("eu-west",), load={"eu-central": 0.95}, ttl=10,
         hashed=False),
    Case("paris-spills", city("paris", PARIS_SPILLS), ("eu-west",), load={"eu-central": 0.87},
         ttl=10, hashed=True,
         facts=(("load", "spilled: load 0.87, 47% of client networks spill, this one does"),)),
    Case("paris-stays", city("paris", PARIS_STAYS), ("eu-central",), load={"eu-central": 0.87},
         hashed=True,
         facts=(("load", "eu-central load 0.87, 47% of client networks spill, this one stays"),)),
    Case("paris-both-overloaded-least-loaded", city("paris"), ("eu-west",),
         load={"eu-central": 0.99, "eu-west": 0.96}, ttl=10,
         facts=(("load", "kept the least loaded, eu-west"),)),
    Case("paris-both-overloaded-tie-nearest", city("paris"), ("eu-central",),
         load={"eu-central": 0.97, "eu-west": 0.97}),
    Case("paris-overload-never-leaves-fence", city("paris"), ("eu-west",),
         load={"eu-central": 1.0, "eu-west": 0.99, "us-east": 0.0}, ttl=10),
    Case("paris-down-and-overloaded", city("paris"), ("eu-west",), down=down("eu-central"),
         load={"eu-west": 0.99}, ttl=10),
    # ---- Europe, unfenced
    Case("zurich-unfenced", city("zurich"), ("eu-central",),
         facts=(("fence", "no fence matches"),)),
    Case("london-unfenced", city("london"), ("eu-west",),
         facts=(("nearest", "eu-west 463 km"),)),
    Case("london-1-down", city("london"), ("eu-central",), down=down("eu-west"), ttl=10),
    Case("london-2-down-leaves-europe", city("london"), ("us-east",), down=down(*EU), ttl=10),
    Case("london-all-down-fail-open", city("london"), ("eu-west",), down=down(*ALL), ttl=10,
         facts=(("all-down", "failing open to eu-west"),)),
    Case("london-overloaded", city("london"), ("eu-central",), load={"eu-west": 0.96}, ttl=10),
    # ---- Asia: the JP/KR rule and nearest
    Case("tokyo-rule", city("tokyo"), ("ap-northeast",),
         facts=(("rules", "rule for countries JP,KR"), ("rules", "eu-west: not in rule"))),
    Case("seoul-rule", city("seoul"), ("ap-northeast",)),
    Case("seoul-rule-failover-in-rule-order", city("seoul"), ("us-west",),
         down=down("ap-northeast"), ttl=10, facts=(("nearest", "rule order kept"),)),
    Case("seoul-rule-all-down-fail-open", city("seoul"), ("ap-northeast",),
         down=down("ap-northeast", "us-west"), ttl=10),
    Case("singapore", city("singapore"), ("ap-northeast",)),
    Case("mumbai", city("mumbai"), ("eu-central",)),
    Case("mumbai-1-down", city("mumbai"), ("ap-northeast",), down=down("eu-central"), ttl=10),
    # ---- Oceania, South America, Africa, Antarctica
    Case("sydney", city("sydney"), ("ap-northeast",)),
    Case("sydney-1-down", city("sydney"), ("us-west",), down=down("ap-northeast"), ttl=10),
    Case("sao-paulo", city("sao-paulo"), ("sa-east",), addresses=("203.0.113.20",)),
    Case("sao-paulo-1-down", city("sao-paulo"), ("us-east",), down=down("sa-east"), ttl=10),
    Case("lagos", city("lagos"), ("eu-central",)),
    Case("cape-town", city("cape-town"), ("sa-east",)),
    Case("mcmurdo", city("mcmurdo"), ("sa-east",)),
    # ---- North America
    Case("new-york", city("new-york"), ("us-east",),
         addresses=("198.51.100.10", "198.51.100.11")),
    Case("new-york-aaaa", city("new-york"), ("us-east",), family=6,
         addresses=("2001:db8:10::10",)),
    Case("new-york-2-down", city("new-york"), ("eu-west",), down=down("us-east", "us-west"),
         ttl=10),
    Case("new-york-one-endpoint-down", city("new-york"), ("us-east",),
         down_eps=frozenset({("us-east", "198.51.100.10")}), addresses=("198.51.100.11",)),
    Case("new-york-all-endpoints-down", city("new-york"), ("us-west",), ttl=10,
         down_eps=frozenset({("us-east", "198.51.100.10"), ("us-east", "198.51.100.11"),
                             ("us-east", "2001:db8:10::10")}),
         facts=(("health", "us-east: down: all endpoints failing"),)),
    # IPv4 endpoints failing, IPv6 up: the region is up, an A query gets NODATA there
    # rather than being moved to another region (A and AAAA answer the same region).
    Case("new-york-ipv4-failing-a-nodata", city("new-york"), (), outcome="nodata",
         down_eps=frozenset({("us-east", "198.51.100.10"), ("us-east", "198.51.100.11")}),
         facts=(("pick", "us-east has no live IPv4 endpoint: NODATA"),)),
    Case("seattle", city("seattle"), ("us-west",)),
    Case("mexico-city", city("mexico-city"), ("us-east",)),
    Case("mexico-city-aaaa-1-down", city("mexico-city"), ("us-west",), family=6,
         down=down("us-east"), ttl=10, addresses=("2001:db8:20::20",)),
    # ---- no location: the name's default order
    Case("unknown-default-order", client("10.1.2.3", located=False), ("us-east",),
         facts=(("nearest", "no location"), ("nearest", "default order: us-east, us-west"))),
    Case("unknown-default-order-1-down", client("10.1.2.3", located=False), ("us-west",),
         down=down("us-east"), ttl=10),
    Case("unknown-all-down", client("10.1.2.3", located=False), ("us-east",), down=down(*ALL),
         ttl=10),
    Case("country-without-coordinates", client("192.0.2.9", "US", "NA"), ("us-east",)),
    Case("fenced-without-coordinates", client("192.0.2.9", "FR", "EU"), ("eu-west",),
         facts=(("fence", "fence eu-eea"),)),
]
# fmt: on


def check(case: Case, name: GslbName) -> Decision:
    status = state_for(name, case.down, case.down_eps, case.load)
    explained = decide(name, case.who, status, case.family, explain=True)
    fast = decide(name, case.who, status, case.family)
    # explain only adds the trace: the server and `gslb resolve` decide alike
    assert dataclasses.replace(explained, trace=()) == fast
    assert fast.trace == ()
    assert [s.name for s in explained.trace] == STEP_NAMES
    assert explained.regions == case.expect, explained.trace
    assert explained.outcome == case.outcome
    assert explained.ttl == case.ttl
    assert explained.degraded == (case.ttl == name.degraded_ttl)
    for ep in explained.endpoints:
        assert ep.family == case.family
    if case.hashed is not None:
        assert explained.hashed == case.hashed
    if case.addresses is not None:
        assert tuple(str(e.address) for e in explained.endpoints) == case.addresses
    steps = {s.name: s for s in explained.trace}
    for step, text in case.facts:
        s = steps[step]
        said = [f"{region}: {why}" for region, why in s.removed] + [s.note]
        assert any(text in line for line in said), (text, s)
    return explained


@pytest.mark.parametrize("case", EXAMPLE_CASES, ids=[c.id for c in EXAMPLE_CASES])
def test_example_zone(case: Case) -> None:
    decision = check(case, API)
    if case.outcome == "answer":
        assert decision.endpoints
        region = API.region(decision.regions[0])
        assert set(decision.endpoints) <= set(region.endpoints)


def test_case_ids_unique() -> None:
    assert len({c.id for c in EXAMPLE_CASES}) == len(EXAMPLE_CASES)


def test_spill_networks_differ() -> None:
    """The two spill cases really are two client networks on either side of the share."""
    assert u_of(city("paris", PARIS_SPILLS), "eu-central") < SHARE_087
    assert u_of(city("paris", PARIS_STAYS), "eu-central") >= SHARE_087


def test_hashed_only_when_the_client_network_matters() -> None:
    status = state_for(API, load={"eu-central": 0.87})
    assert decide(API, city("paris"), status, 4).hashed
    assert not decide(API, city("paris"), LiveState(), 4).hashed
    over = state_for(API, load={"eu-central": 0.99, "us-east": 0.1})
    assert not decide(API, city("paris"), over, 4).hashed


def test_every_step_is_listed_once_in_order() -> None:
    assert STEP_NAMES == ["fence", "rules", "health", "load", "nearest", "pick", "all-down"]


def test_distances_quoted_in_this_file() -> None:
    # Paris to Frankfurt region is about 478 km; London to New York about 5570 km.
    assert haversine_km(48.86, 2.35, 50.11, 8.68) == pytest.approx(478, abs=2)
    assert haversine_km(51.51, -0.13, 40.71, -74.01) == pytest.approx(5570, abs=10)
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * 6371.0, rel=1e-3)


# --------------------------------------------------------------------------- hand-built name


def ep(address: str, weight: int = 1, is_down: bool = False) -> Endpoint:
    return Endpoint(ip_address(address), weight, is_down)


V4ONLY = Region("v4only", 48.86, 2.35, (ep("192.0.2.1"), ep("192.0.2.2")))
DUAL = Region("dual", 50.11, 8.68, (ep("192.0.2.11"), ep("2001:db8::11")))
FAR = Region("far", 40.71, -74.01, (ep("198.51.100.1"), ep("2001:db8::21")))
WEIGHTED = Region(
    "weighted",
    35.68,
    139.69,
    (
        ep("203.0.113.1", 1),
        ep("203.0.113.2", 3),
        ep("203.0.113.3", 1),
        ep("203.0.113.4", 2),
        ep("203.0.113.5", 1, is_down=True),
    ),
)


def fence(name: str, countries: str, regions: str, all_down: AllDown = "fail-open") -> Fence:
    return Fence(
        name,
        ClientMatch(countries=frozenset(countries.split())),
        frozenset(regions.split()),
        all_down,
    )


def edge_name(**changes: object) -> GslbName:
    base = GslbName(
        name="edge.example.com.",
        ttl=60,
        degraded_ttl=5,
        regions=(V4ONLY, DUAL, FAR, WEIGHTED),
        fences=(
            fence("closed-nodata", "AA", "v4only dual", "nodata"),
            fence("closed-servfail", "BB", "dual", "servfail"),
            fence("two-a", "CC DD", "v4only dual", "nodata"),
            fence("two-b", "CC EE", "dual far", "servfail"),
            fence("disjoint", "DD", "far"),
            Fence(
                "by-network",
                ClientMatch(networks=(ip_network("100.64.0.0/10"),)),
                frozenset({"far"}),
            ),
        ),
        rules=(
            # deliberately wrong config: points AA clients outside their fence
            Rule(ClientMatch(countries=frozenset({"AA"})), ("far", "dual")),
            Rule(ClientMatch(countries=frozenset({"BB"})), ("far",)),
        ),
        default_order=("far",),
        default_location=None,
        spill=Spill(0.5, 0.9),
        pick=Pick(0, False),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


EDGE = edge_name()
AT_WEIGHTED = dict(lat=35.0, lon=139.0)
AT_PARIS = dict(lat=48.86, lon=2.35)
NOWHERE = "ZZ"

# fmt: off
EDGE_CASES = [
    Case("v4only-a", client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), ("v4only",), ttl=60,
         addresses=("192.0.2.1", "192.0.2.2")),
    Case("v4only-aaaa-nodata-not-moved", client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), (),
         family=6, outcome="nodata", ttl=60, facts=(("pick", "no live IPv6 endpoint"),)),
    Case("admin-down-endpoint-not-answered", client("192.0.2.50", NOWHERE, "AS", **AT_WEIGHTED),
         ("weighted",), ttl=60,
         addresses=("203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4")),
    Case("fence-nodata-all-down", client("192.0.2.50", "AA", "EU", **AT_PARIS), (),
         down=down("v4only", "dual"), outcome="nodata", ttl=5,
         facts=(("all-down", "fence says nodata"),)),
    Case("fence-servfail-all-down", client("192.0.2.50", "BB", "EU", **AT_PARIS), (),
         down=down("dual"), outcome="servfail", ttl=5),
    Case("fence-nodata-rule-region-up", client("192.0.2.50", "AA", "EU", **AT_PARIS),
         ("dual",), down=down("v4only"), ttl=60),
    Case("wrong-rule-never-leaves-fence", client("192.0.2.50", "AA", "EU", **AT_PARIS),
         ("dual",), ttl=60, facts=(("rules", "outside the fence, dropped: far"),)),
    Case("wrong-rule-entirely-outside-ignored", client("192.0.2.50", "BB", "EU", **AT_PARIS),
         ("dual",), ttl=60, facts=(("rules", "no region inside the fence"),)),
    Case("two-fences-intersect", client("192.0.2.50", "CC", "EU", **AT_PARIS), ("dual",),
         ttl=60, facts=(("fence", "v4only: outside fence two-b"),
                        ("fence", "far: outside fence two-a"),
                        ("fence", "all down: servfail"))),
    Case("two-fences-most-restrictive-wins", client("192.0.2.50", "CC", "EU", **AT_PARIS), (),
         down=down("dual"), outcome="servfail", ttl=5),
    Case("disjoint-fences-servfail", client("192.0.2.50", "DD", "EU", **AT_PARIS), (),
         outcome="servfail", ttl=5, facts=(("all-down", "no region lies inside every fence"),)),
    Case("network-fence-without-location", client("100.64.1.1", located=False), ("far",),
         ttl=60),
    Case("network-fence-beats-nearest", client("100.64.1.1", NOWHERE, "EU", **AT_PARIS),
         ("far",), ttl=60),
    # from near Tokyo: dual 9368 km, v4only 9752 km, far 10945 km
    Case("down-region-next-nearest", client("192.0.2.50", NOWHERE, "AS", **AT_WEIGHTED),
         ("dual",), ttl=5, down=down("weighted")),
    Case("default-order-then-declaration", client("10.0.0.1", located=False), ("v4only",),
         down=down("far"), ttl=5),
]
# fmt: on


@pytest.mark.parametrize("case", EDGE_CASES, ids=[c.id for c in EDGE_CASES])
def test_edge_name(case: Case) -> None:
    check(case, EDGE)


def test_region_admin_down_in_config() -> None:
    name = edge_name(regions=(dataclasses.replace(V4ONLY, down=True), DUAL, FAR, WEIGHTED))
    d = decide(name, client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), LiveState(), 4, True)
    assert d.regions == ("dual",)
    assert ("v4only", "down: administratively (config)") in d.trace[2].removed
    assert d.ttl == 5


def test_region_with_every_endpoint_admin_down() -> None:
    off = dataclasses.replace(V4ONLY, endpoints=(ep("192.0.2.1", is_down=True),))
    name = edge_name(regions=(off, DUAL, FAR, WEIGHTED))
    d = decide(name, client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), LiveState(), 4, True)
    assert d.regions == ("dual",)
    assert ("v4only", "down: every endpoint administratively down") in d.trace[2].removed


def test_fail_open_serves_failing_endpoints_rather_than_nothing() -> None:
    status = state_for("", down_endpoints=[("v4only", "192.0.2.1"), ("v4only", "192.0.2.2")])
    name = edge_name(regions=(V4ONLY,), fences=(), rules=())
    d = decide(name, client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), status, 4)
    assert d.outcome == "answer" and d.degraded and d.ttl == 5
    assert [str(e.address) for e in d.endpoints] == ["192.0.2.1", "192.0.2.2"]


def test_fail_open_prefers_a_live_drained_region_to_a_dead_one() -> None:
    """Every region in scope is out: the one an operator drained still answers, the
    other is dead. Failing open to the dead one would answer with failing endpoints."""
    name = edge_name(regions=(V4ONLY, DUAL), fences=(), rules=())
    paris = client("192.0.2.50", NOWHERE, "EU", **AT_PARIS)  # nearest: v4only, then dual
    dead_dual = state_for("", down=["dual"], drained=["v4only"])
    assert decide(name, paris, dead_dual, 4).regions == ("v4only",)
    dead_v4 = state_for("", down=["v4only"], drained=["dual"])
    assert decide(name, paris, dead_v4, 4).regions == ("dual",)
    # both dead, one drained: the undrained one, as before
    both = state_for("", down=["v4only", "dual"], drained=["v4only"])
    assert decide(name, paris, both, 4).regions == ("dual",)


def test_default_location_orders_clients_without_coordinates() -> None:
    name = edge_name(default_location=(40.0, -75.0))  # near "far" (New York)
    d = decide(name, client("10.0.0.1", located=False), LiveState(), 4, True)
    assert d.regions == ("far",)
    assert "default location" in d.trace[4].note
    name = edge_name(default_location=(50.0, 8.0), default_order=())  # near "dual"
    assert decide(name, client("10.0.0.1", located=False), LiveState(), 4).regions == ("dual",)


def test_no_default_at_all_is_declaration_order() -> None:
    name = edge_name(default_order=())
    d = decide(name, client("10.0.0.1", located=False), LiveState(), 4, True)
    assert d.regions == ("v4only",)
    assert "declaration order" in d.trace[4].note


def test_second_region_appends_next_regions_endpoints() -> None:
    name = edge_name(pick=Pick(0, True))
    d = decide(name, client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), LiveState(), 4)
    assert d.regions == ("v4only", "dual")
    assert [str(e.address) for e in d.endpoints] == ["192.0.2.1", "192.0.2.2", "192.0.2.11"]
    # AAAA: the first choice has no IPv6, so NODATA; the second region does not replace it
    d6 = decide(name, client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), LiveState(), 6)
    assert d6.outcome == "nodata" and d6.endpoints == ()
    # second region lacking the family: the answer is just the first region's
    d6 = decide(name, client("192.0.2.50", NOWHERE, "NA", lat=50.0, lon=8.0), LiveState(), 6)
    assert d6.regions == ("dual",)


def test_pick_count_is_a_stable_weighted_subset() -> None:
    name = edge_name(pick=Pick(2, False))
    who = client("192.0.2.50", NOWHERE, "AS", **AT_WEIGHTED)
    d = decide(name, who, LiveState(), 4, True)
    assert d.hashed and len(d.endpoints) == 2
    assert len(set(d.endpoints)) == 2
    live = {e for e in WEIGHTED.endpoints if not e.down}
    assert set(d.endpoints) <= live
    # same network, another host: same subset (hashing is per /24)
    again = client("192.0.2.99", NOWHERE, "AS", **AT_WEIGHTED)
    assert decide(name, again, LiveState(), 4).endpoints == d.endpoints
    # answer order follows the rendezvous score
    scores = [policy.rendezvous_score(who.key, e) for e in d.endpoints]
    assert scores == sorted(scores, reverse=True)
    assert min(scores) > max(policy.rendezvous_score(who.key, e) for e in live - set(d.endpoints))
    assert "rendezvous subset of 2" in d.trace[5].note


def test_pick_count_not_hashed_when_enough_endpoints() -> None:
    name = edge_name(pick=Pick(2, False))
    d = decide(name, client("192.0.2.50", NOWHERE, "EU", **AT_PARIS), LiveState(), 4)
    assert not d.hashed and len(d.endpoints) == 2


def test_rendezvous_follows_weights() -> None:
    name = edge_name(pick=Pick(1, False))
    counts: dict[str, int] = {}
    n = 4000
    for i in range(n):
        who = client(f"10.{i // 256}.{i % 256}.1", NOWHERE, "AS", **AT_WEIGHTED)
        (chosen,) = decide(name, who, LiveState(), 4).endpoints
        counts[str(chosen.address)] = counts.get(str(chosen.address), 0) + 1
    total_weight = 1 + 3 + 1 + 2
    for address, weight in [("203.0.113.1", 1), ("203.0.113.2", 3), ("203.0.113.4", 2)]:
        assert counts[address] / n == pytest.approx(weight / total_weight, abs=0.03)
    assert "203.0.113.5" not in counts  # administratively down


def test_trace_reasons_absent_without_explain() -> None:
    d = decide(API, city("paris"), state_for(API, load={"eu-central": 0.99}), 4)
    assert d.trace == ()
    assert d.regions == ("eu-west",)


def test_resolver_source_and_location_are_in_the_trace() -> None:
    who = dataclasses.replace(city("london"), source="resolver", source_prefix=32)
    d = decide(API, who, LiveState(), 4, explain=True)
    assert "via resolver /32" in d.trace[4].note
    assert "GB/EU (51.51, -0.13)" in d.trace[4].note
