"""Invariants of the policy over generated names, clients, health and load (Hypothesis).

Fences are hard, fail-open never answers empty, the same input gives the same answer,
spill sheds the configured share of client networks, and rendezvous picks only move the
clients of a removed endpoint.
"""

from __future__ import annotations

import dataclasses
import random
from ipaddress import IPv4Address, ip_address, ip_network
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gslb.config import load_zone
from gslb.geo.distance import haversine_km
from gslb.model import (
    Client,
    ClientMatch,
    Endpoint,
    Fence,
    GslbName,
    IPAddress,
    LiveState,
    Location,
    Lookup,
    Pick,
    Region,
    Rule,
    Spill,
)
from gslb.policy.pipeline import decide
from tests.states import state_for

API = load_zone(Path(__file__).resolve().parents[2] / "zones" / "example.com.yaml").gslb[
    "api.example.com."
]
COUNTRIES = ["AA", "BB", "CC", "DD"]
GENERATED = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# Each example decides thousands of times: no shrinking (a failure is already readable).
STATISTICAL = settings(
    max_examples=6, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate]
)

lats = st.floats(-89.9, 89.9, allow_nan=False)
lons = st.floats(-180.0, 180.0, allow_nan=False)


def rarely(p_true: int = 8) -> st.SearchStrategy[bool]:
    """True about once in ``p_true`` draws."""
    return st.sampled_from([True] + [False] * (p_true - 1))


@st.composite
def regions(draw: st.DrawFn, dual_stack: bool) -> tuple[Region, ...]:
    out = []
    for i in range(draw(st.integers(1, 5))):
        if dual_stack:
            families = [4, 6] + draw(st.lists(st.sampled_from([4, 6]), max_size=3))
        else:
            families = draw(
                st.sampled_from([[4, 6], [4, 4, 6], [4, 6, 6, 4], [4, 4, 4, 4, 6], [4], [6]])
            )
        eps = tuple(
            Endpoint(
                ip_address(f"192.0.{i}.{j + 1}" if fam == 4 else f"2001:db8:{i}::{j + 1}"),
                weight=draw(st.integers(1, 4)),
                down=draw(rarely()),
            )
            for j, fam in enumerate(families)
        )
        out.append(Region(f"r{i}", draw(lats), draw(lons), eps, down=draw(rarely())))
    return tuple(out)


@st.composite
def gslb_names(draw: st.DrawFn, dual_stack: bool = False) -> GslbName:
    regs = draw(regions(dual_stack))
    names = [r.name for r in regs]
    subsets = st.lists(st.sampled_from(names), unique=True)
    nonempty = st.lists(st.sampled_from(names), unique=True, min_size=1)
    countries = st.frozensets(st.sampled_from(COUNTRIES), min_size=1)
    fences = tuple(
        Fence(
            f"f{i}",
            ClientMatch(countries=draw(countries)),
            frozenset(draw(nonempty if draw(st.booleans()) else subsets)),
            draw(st.sampled_from(["fail-open", "fail-open", "nodata", "servfail"])),
        )
        for i in range(draw(st.sampled_from([0, 1, 1, 2, 3])))
    )
    rules = tuple(
        Rule(ClientMatch(countries=draw(countries)), tuple(draw(nonempty)))
        for _ in range(draw(st.integers(0, 2)))
    )
    low = draw(st.floats(0.05, 0.9))
    high = draw(st.floats(low + 0.01, 1.0))
    return GslbName(
        name="gen.example.",
        ttl=60,
        degraded_ttl=5,
        regions=regs,
        fences=fences,
        rules=rules,
        default_order=tuple(draw(subsets)),
        default_location=draw(st.none() | st.tuples(lats, lons)),
        spill=Spill(low, high),
        pick=Pick(draw(st.sampled_from([0, 0, 1, 2, 3])), draw(st.booleans())),
    )


@st.composite
def clients(draw: st.DrawFn) -> Client:
    address = draw(st.ip_addresses())
    location = None
    if not draw(rarely(5)):
        coords = draw(st.tuples(lats, lons) | st.none())
        lat, lon = coords if coords is not None else (None, None)
        location = Location(draw(st.sampled_from([*COUNTRIES, None])), None, None, lat, lon)
    net = ip_network(f"{address}/{24 if address.version == 4 else 48}", strict=False)
    return Client(address, "ecs", net.prefixlen, Lookup(location, net))


@st.composite
def statuses(draw: st.DrawFn, name: GslbName, healthy_endpoints: bool = False) -> LiveState:
    """Healthy, everything down, or each region/endpoint down at random; loads often
    between the name's watermarks, where the client network's hash decides."""
    region_names = [r.name for r in name.regions]
    mode = draw(st.sampled_from(["healthy", "random", "random", "all-down"]))
    down_regions: frozenset[str] = frozenset()
    down_endpoints: frozenset[tuple[str, str]] = frozenset()
    drained: frozenset[str] = frozenset()
    if mode == "all-down":
        down_regions = frozenset(region_names)
    elif mode == "random":
        down_regions = frozenset(n for n in region_names if draw(rarely(3)))
        if not healthy_endpoints:
            down_endpoints = frozenset(
                (r.name, str(e.address))
                for r in name.regions
                for e in r.endpoints
                if draw(rarely(4))
            )
        drained = frozenset(n for n in region_names if draw(rarely(5)))
    low, high = name.spill.low, name.spill.high
    load_values = st.floats(low, high, allow_nan=False) | st.floats(0.0, 1.2, allow_nan=False)
    if draw(rarely(4)):  # overloaded everywhere: load must still answer
        load = {n: draw(st.floats(high, 1.2)) for n in region_names}
    else:
        load = draw(st.dictionaries(st.sampled_from(region_names), load_values))
    return state_for(name, down_regions, down_endpoints, load, drained)


def all_up(name: GslbName, keep_region_flags: bool = False) -> GslbName:
    """The name without administratively down endpoints (and regions, unless kept)."""
    return dataclasses.replace(
        name,
        regions=tuple(
            dataclasses.replace(
                r,
                down=r.down and keep_region_flags,
                endpoints=tuple(dataclasses.replace(e, down=False) for e in r.endpoints),
            )
            for r in name.regions
        ),
    )


def matching_fences(name: GslbName, client: Client) -> list[Fence]:
    loc = client.lookup.location
    country = loc.country if loc is not None else None
    return [f for f in name.fences if country in f.match.countries]


def allowed_regions(name: GslbName, client: Client) -> set[str]:
    allowed = {r.name for r in name.regions}
    for f in matching_fences(name, client):
        allowed &= f.regions
    return allowed


@GENERATED
@given(data=st.data(), name=gslb_names(), client=clients(), family=st.sampled_from([4, 6]))
def test_never_outside_the_fence(
    data: st.DataObject, name: GslbName, client: Client, family: int
) -> None:
    status = data.draw(statuses(name))
    decision = decide(name, client, status, family)
    assert set(decision.regions) <= allowed_regions(name, client)
    for ep in decision.endpoints:
        assert ep.family == family
        assert any(ep in name.region(r).endpoints for r in decision.regions)
    assert decision.ttl == (name.degraded_ttl if decision.degraded else name.ttl)
    if decision.outcome != "answer":
        assert decision.endpoints == () and decision.regions == ()
    else:
        assert decision.endpoints


@GENERATED
@given(
    data=st.data(),
    name=gslb_names(dual_stack=True),
    client=clients(),
    family=st.sampled_from([4, 6]),
)
def test_fail_open_never_answers_empty(
    data: st.DataObject, name: GslbName, client: Client, family: int
) -> None:
    """Every region serves both families and no endpoint fails: only the fence can say no."""
    name = all_up(name, keep_region_flags=True)
    status = data.draw(statuses(name, healthy_endpoints=True))
    fences = matching_fences(name, client)
    decision = decide(name, client, status, family)
    if allowed_regions(name, client) and all(f.all_down == "fail-open" for f in fences):
        assert decision.outcome == "answer"
        assert decision.endpoints
    elif not allowed_regions(name, client):
        assert decision.outcome == "servfail"


@GENERATED
@given(data=st.data(), name=gslb_names(), client=clients(), family=st.sampled_from([4, 6]))
def test_same_input_same_decision(
    data: st.DataObject, name: GslbName, client: Client, family: int
) -> None:
    status = data.draw(statuses(name))
    first = decide(name, client, status, family, explain=True)
    # an equal but distinct name object: no per-object state may change the result
    twin = dataclasses.replace(name)
    assert twin is not name
    assert decide(twin, client, status, family, explain=True) == first
    assert decide(name, client, status, family) == dataclasses.replace(first, trace=())
    # another host of the same client network gets the same answer
    neighbour = dataclasses.replace(client, address=_neighbour(client))
    assert dataclasses.replace(decide(name, neighbour, status, family), trace=()) == (
        dataclasses.replace(first, trace=())
    )


@GENERATED
@given(name=gslb_names(dual_stack=True), client=clients(), family=st.sampled_from([4, 6]))
def test_everything_down_still_inside_the_fence(
    name: GslbName, client: Client, family: int
) -> None:
    """The all-down fallback is where a fence is easiest to leak: aim straight at it."""
    if name.fences and client.lookup.location is not None:
        country = min(name.fences[0].match.countries)
        client = dataclasses.replace(
            client,
            lookup=dataclasses.replace(
                client.lookup, location=dataclasses.replace(client.lookup.location, country=country)
            ),
        )
    status = state_for(name, [r.name for r in name.regions])
    decision = decide(name, client, status, family)
    allowed = allowed_regions(name, client)
    assert set(decision.regions) <= allowed
    behaviours = {f.all_down for f in matching_fences(name, client)}
    if not allowed or "servfail" in behaviours:
        assert decision.outcome == "servfail"
    elif "nodata" in behaviours:
        assert decision.outcome == "nodata"
    else:
        assert decision.outcome == "answer" and decision.degraded


@GENERATED
@given(
    name=gslb_names(dual_stack=True),
    origin=st.tuples(lats, lons),
    nearby=st.lists(st.tuples(st.floats(-0.01, 0.01), st.floats(-0.01, 0.01)), max_size=3),
)
def test_nearest_order_is_haversine_order(
    name: GslbName, origin: tuple[float, float], nearby: list[tuple[float, float]]
) -> None:
    """The fast ordering (unit-vector chords) agrees with ``gslb.geo.haversine_km``,
    ties in declaration order, down to regions a few hundred metres from the client."""
    extra = tuple(
        Region(f"near{i}", origin[0] + dlat, origin[1] + dlon, name.regions[0].endpoints)
        for i, (dlat, dlon) in enumerate(nearby)
        if -90 <= origin[0] + dlat <= 90
    )
    name = all_up(dataclasses.replace(name, regions=name.regions + extra, fences=(), rules=()))
    who = Client(
        ip_address("192.0.2.1"),
        "ecs",
        24,
        Lookup(Location(None, None, None, *origin), ip_network("192.0.2.0/24")),
    )
    decision = decide(name, who, LiveState(), 4, explain=True)
    (nearest,) = [s for s in decision.trace if s.name == "nearest"]
    km = {r.name: haversine_km(*origin, r.lat, r.lon) for r in name.regions}
    position = {r.name: i for i, r in enumerate(name.regions)}
    order = list(nearest.kept)
    assert sorted(order) == sorted(km)
    for a, b in zip(order, order[1:], strict=False):
        if abs(km[a] - km[b]) > 1e-6:  # a real difference: nearer first
            assert km[a] < km[b]
        elif km[a] == km[b]:  # an exact tie: declaration order
            assert position[a] < position[b]


def _neighbour(client: Client) -> IPAddress:
    """Another host in the client's /24 or /48 (flip the last bit)."""
    other = type(client.address)(int(client.address) ^ 1)
    assert other in client.lookup.network
    return other


def _random_clients(seed: int, count: int, lat: float, lon: float) -> list[Client]:
    rng = random.Random(seed)
    nets = rng.sample(range(1 << 24), count)  # distinct /24s
    location = Location("GB", "EU", None, lat, lon)
    out = []
    for n in nets:
        address = IPv4Address(n << 8 | 1)
        out.append(Client(address, "ecs", 24, Lookup(location, ip_network(f"{address}/24", False))))
    return out


@STATISTICAL
@given(load=st.floats(0.81, 0.94), seed=st.integers(0, 2**32))
def test_spill_share_matches_watermarks(load: float, seed: int) -> None:
    """London's first choice is eu-west; between the watermarks that share of networks leave."""
    status = state_for(API, load={"eu-west": load})
    crowd = _random_clients(seed, 5000, 51.51, -0.13)
    moved = sum(decide(API, c, status, 4).regions != ("eu-west",) for c in crowd)
    expected = (load - API.spill.low) / (API.spill.high - API.spill.low)
    assert abs(moved / len(crowd) - expected) < 0.03
    # and the same networks spill first as load rises
    higher = state_for(API, load={"eu-west": min(0.949, load + 0.05)})
    for c in crowd[:300]:
        if decide(API, c, status, 4).regions != ("eu-west",):
            assert decide(API, c, higher, 4).regions != ("eu-west",)


@st.composite
def one_region_names(draw: st.DrawFn) -> GslbName:
    n = draw(st.integers(3, 8))
    eps = tuple(
        Endpoint(ip_address(f"192.0.2.{i + 1}"), weight=draw(st.integers(1, 5))) for i in range(n)
    )
    return GslbName(
        name="rdv.example.",
        ttl=60,
        degraded_ttl=5,
        regions=(Region("only", 0.0, 0.0, eps),),
        pick=Pick(draw(st.integers(1, n - 1)), False),
    )


@settings(max_examples=25, deadline=None)
@given(name=one_region_names(), removed_index=st.integers(0, 7), seed=st.integers(0, 2**32))
def test_rendezvous_only_moves_clients_of_a_removed_endpoint(
    name: GslbName, removed_index: int, seed: int
) -> None:
    region = name.regions[0]
    gone = region.endpoints[removed_index % len(region.endpoints)]
    failing = state_for(name, down_endpoints=[("only", str(gone.address))])
    dropped = dataclasses.replace(
        name,
        regions=(
            dataclasses.replace(region, endpoints=tuple(e for e in region.endpoints if e != gone)),
        ),
    )
    count = name.pick.count
    for c in _random_clients(seed, 200, 0.0, 0.0):
        before = decide(name, c, LiveState(), 4).endpoints
        assert len(before) == count
        for d in (decide(name, c, failing, 4), decide(dropped, c, LiveState(), 4)):
            after = d.endpoints
            if gone not in before:
                assert set(after) == set(before)
                if d.hashed:  # still a strict subset: the same rendezvous order too
                    assert after == before
            else:
                assert set(before) - {gone} <= set(after)
                assert gone not in after
                assert len(after) == min(count, len(region.endpoints) - 1)
