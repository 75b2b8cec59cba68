"""The compiled decision table against deciding each client from scratch.

The server looks a client's place up in a per-name table compiled when config loads
(fence, rules and nearest, once per place) and memoises the live steps per state. The
reference here classifies and orders every client afresh (no table, no memo, no shared
choices) and locates it through ``GeoDatabase.lookup`` rather than the query path's
``find``: both must give the same answer and the same ECS scope, everywhere.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address

import pytest

from gslb.config import load_zones
from gslb.dns import routing
from gslb.dns.routing import Route
from gslb.dns.view import ConfigView, View
from gslb.geo.database import GeoDatabase
from gslb.geo.locator import FAILED
from gslb.geo.special import special_lookup_int
from gslb.model import CLIENT_PREFIX, Decision, GslbName
from gslb.policy.classes import classify
from gslb.policy.nearest import order
from gslb.policy.steps import Decider, decision_of
from gslb.policy.table import Choice
from tests.conftest import GEOIP, ZONES
from tests.states import state_for

NAME = "api.example.com."
PER_FAMILY = 100_000


@pytest.fixture(scope="module")
def geo() -> Iterator[GeoDatabase]:
    db = GeoDatabase.open(GEOIP)
    yield db
    db.close()


@pytest.fixture(scope="module")
def config(geo: GeoDatabase) -> ConfigView:
    return ConfigView(load_zones([ZONES]), geo)  # every place compiled, as the server


def located(geo: GeoDatabase, family: int, count: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < count:
        value = rng.getrandbits(32) if family == 4 else (0x2 << 124) | rng.getrandbits(124)
        if special_lookup_int(family, value) is not None:
            continue
        if geo.find(family, value)[0] > 0:
            out.append(value)
    return out


def reference(
    name: GslbName, geo: GeoDatabase, decider: Decider, family: int, value: int
) -> tuple[Decision, int]:
    """Classify and order this one client from its Lookup; the live steps as written."""
    address = IPv4Address(value) if family == 4 else IPv6Address(value)
    lookup = geo.lookup(address)
    cls = classify(name, lookup.location, address)
    choice = Choice(0, cls, order(name, cls, lookup.location))
    decision = decision_of(decider.run(name, choice, family, family, value, explain=False))
    scope = lookup.network.prefixlen
    if decision.hashed:
        scope = max(scope, CLIENT_PREFIX[family])
    return decision, max(scope, CLIENT_PREFIX[family])


STATES = {"all-up": [], **{f"{r}-down": [r] for r in (
    "us-east", "us-west", "eu-west", "eu-central", "ap-northeast", "sa-east")}}  # fmt: skip


@pytest.mark.parametrize("down", STATES.values(), ids=STATES.keys())
def test_compiled_table_agrees_with_classifying_each_client(
    geo: GeoDatabase, config: ConfigView, down: list[str]
) -> None:
    name = config.zones["example.com."].zone.gslb[NAME]
    state = state_for(name, down)
    view = View(config, state)
    decider = Decider(state)
    per_family = PER_FAMILY if not down else PER_FAMILY // 10
    for family in (4, 6):
        route = Route(name, NAME, (), family, config.zones["example.com."].negative,
                      config.tables[NAME])  # fmt: skip
        prefix = CLIENT_PREFIX[family]
        for value in located(geo, family, per_family, seed=family * 100 + len(down)):
            got = routing.decide(view, route, family, value, prefix)
            want = reference(name, geo, decider, family, value)
            assert (got[0].endpoints, got[0].ttl, got[1]) == (
                want[0].endpoints,
                want[0].ttl,
                want[1],
            ), (family, value)


class Broken:
    """A locator whose every lookup fails (a database that broke under us)."""

    places = (None,)

    def find(self, version: int, value: int) -> tuple[int, int]:
        return FAILED, 32 if version == 4 else 128

    def lookup(self, address: object) -> object:
        raise AssertionError("not reached")


def test_a_failed_lookup_never_leaves_a_fence() -> None:
    """The documented rule: a client whose lookup failed is treated as inside every fence
    that could apply, so the EU fence's regions answer (and nothing outside them)."""
    config = ConfigView(load_zones([ZONES]), Broken())  # type: ignore[arg-type]
    zone = config.zones["example.com."]
    name = zone.zone.gslb[NAME]
    route = Route(name, NAME, (), 4, zone.negative, config.tables[NAME])
    decision, _ = routing.decide(View(config), route, 4, int(IPv4Address("8.8.8.8")), 24)
    assert decision.regions == ("eu-west",)  # the fence's default order: eu-west first
    down = state_for(name, ["eu-west", "eu-central"])
    decision, _ = routing.decide(View(config, down), route, 4, int(IPv4Address("8.8.8.8")), 24)
    assert decision.regions in (("eu-west",), ("eu-central",))  # fail-open, in the fence


def test_every_place_of_the_bundled_database_is_compiled(config: ConfigView) -> None:
    table = config.tables[NAME]
    assert len(table.by_place) == len(config.locator.places)
    assert -1 not in table.by_place
    assert len(table.choices) < 200  # few distinct orders: what sync lists and memo keys
