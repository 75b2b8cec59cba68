"""The endpoint breaker (hysteresis) and the live state it feeds, with an explicit clock."""

from __future__ import annotations

import math
from ipaddress import ip_address, ip_network
from pathlib import Path
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gslb.config import load_zone
from gslb.live.health import (
    EndpointHealth,
    Thresholds,
    advance,
    endpoint_keys,
    initial,
    reconcile,
    record,
    snapshot,
)
from gslb.model import Client, LiveState, Location, Lookup
from gslb.policy.pipeline import decide

T = Thresholds(fall=3, rise=2)
UP = initial(0.0)
DOWN = initial(0.0, up=False)
EXAMPLE = Path(__file__).resolve().parents[2] / "zones" / "example.com.yaml"


def run(state: EndpointHealth, results: str, thresholds: Thresholds = T) -> EndpointHealth:
    """Feed results written as a string ("x" failure, "." success), one per second."""
    for i, r in enumerate(results, start=1):
        state = advance(state, r == ".", thresholds, float(i))
    return state


@pytest.mark.parametrize(
    ("start", "results", "up", "streak", "since"),
    [
        (UP, "", True, 0, 0.0),
        (UP, "...", True, 0, 0.0),
        (UP, "x", True, 1, 0.0),
        (UP, "xx", True, 2, 0.0),
        (UP, "xxx", False, 0, 3.0),  # fall=3: down on the third failure, at t=3
        (UP, "xx.xx", True, 2, 0.0),  # a success resets the count
        (UP, "xx.xxx", False, 0, 6.0),
        (UP, "xxxxxx", False, 0, 3.0),  # further failures change nothing
        (UP, "xxx.", False, 1, 3.0),  # still down: one success is not enough
        (UP, "xxx..", True, 0, 5.0),  # rise=2: up again on the second success
        (UP, "xxx.x.", False, 1, 3.0),  # a failure while recovering resets the count
        (DOWN, ".", False, 1, 0.0),
        (DOWN, "..", True, 0, 2.0),
    ],
)
def test_hysteresis(
    start: EndpointHealth, results: str, up: bool, streak: int, since: float
) -> None:
    assert run(start, results) == EndpointHealth(up, streak, since)


def test_unchanged_state_is_returned_as_is() -> None:
    assert advance(UP, True, T, 5.0) is UP


def test_thresholds_of_one_flip_immediately() -> None:
    quick = Thresholds(fall=1, rise=1)
    assert run(UP, "x", quick) == EndpointHealth(False, 0, 1.0)
    assert run(UP, "x.", quick) == EndpointHealth(True, 0, 2.0)


@pytest.mark.parametrize(("fall", "rise"), [(0, 1), (1, 0), (-1, 3)])
def test_thresholds_must_be_positive(fall: int, rise: int) -> None:
    with pytest.raises(ValueError, match="fall and rise"):
        Thresholds(fall, rise)


@settings(max_examples=200, deadline=None)
@given(results=st.lists(st.booleans(), max_size=40), fall=st.integers(1, 5), rise=st.integers(1, 5))
def test_state_changes_only_after_enough_agreeing_results(
    results: list[bool], fall: int, rise: int
) -> None:
    """Reference model: a flip happens exactly when the last results are a run of
    ``fall`` failures (when up) or ``rise`` successes (when down) since the last flip."""
    thresholds = Thresholds(fall, rise)
    state = UP
    up, run_length = True, 0
    for t, ok in enumerate(results, start=1):
        before = state
        state = advance(state, ok, thresholds, float(t))
        run_length = 0 if ok == up else run_length + 1
        if run_length == (fall if up else rise):
            up, run_length = not up, 0
            assert state.since == float(t)
        else:
            assert state.since == before.since
        assert (state.up, state.streak) == (up, run_length)


# --------------------------------------------------------------------------- snapshot

Z = "example.com."
A = (Z, "eu-west", "192.0.2.10")
B = (Z, "eu-central", "192.0.2.20")
C = (Z, "eu-central", "2001:db8:40::20")


def test_snapshot_lists_down_endpoints_and_load() -> None:
    status = snapshot({A: UP, B: DOWN, C: UP}, {(Z, "eu-west"): 0.5})
    assert status.down_endpoints == frozenset({B})
    assert status.down_regions == frozenset()
    assert dict(status.load) == {(Z, "eu-west"): 0.5}
    assert isinstance(status.load, MappingProxyType)


def test_snapshot_is_equal_when_nothing_changed() -> None:
    """Publishing an equal state is a no-op for the runtime, so equality is what matters."""
    assert snapshot({A: UP, B: DOWN}) == snapshot({A: UP, B: DOWN})
    assert snapshot({A: DOWN, B: DOWN}) != snapshot({A: UP, B: DOWN})
    assert snapshot({A: UP}, {(Z, "eu-west"): 0.9}) != snapshot({A: UP})


def test_snapshot_overrides() -> None:
    status = snapshot(
        {A: DOWN, B: DOWN, C: UP},
        regions={(Z, "eu-west"): "up", (Z, "us-east"): "down", (Z, "sa-east"): "auto"},
        overrides={C: "down", B: "up"},
    )
    assert status.down_regions == frozenset({(Z, "us-east")})
    # A's region is forced up (probes ignored); B is forced up; C is forced down
    assert status.down_endpoints == frozenset({C})


def test_snapshot_sanitises_load() -> None:
    status = snapshot({}, {"a": -0.2, "b": math.nan, "c": 1.3})
    assert dict(status.load) == {"a": 0.0, "c": 1.3}


def test_reconcile_keeps_survivors_and_starts_new_endpoints_up() -> None:
    old = {A: DOWN, B: run(UP, "x")}
    table = reconcile(old, [A, C], now=9.0)
    assert table == {A: DOWN, C: EndpointHealth(True, 0, 9.0)}
    assert old == {A: DOWN, B: run(UP, "x")}  # not mutated


def test_record_applies_one_round() -> None:
    table = {A: UP, B: run(UP, "xx")}
    after = record(table, {A: False, B: False, C: True}, T, now=7.0)
    assert after[A] == EndpointHealth(True, 1, 0.0)
    assert after[B] == EndpointHealth(False, 0, 7.0)
    assert after[C] == EndpointHealth(True, 0, 7.0)
    assert table[B] == run(UP, "xx")  # not mutated


def test_snapshot_drives_the_policy() -> None:
    """Probes failing in eu-central move a Paris client to eu-west, then back on recovery."""
    name = load_zone(EXAMPLE).gslb["api.example.com."]
    keys = endpoint_keys([name])
    assert B in keys and C in keys and len(keys) == 13
    paris = Client(
        ip_address("192.0.2.1"),
        "ecs",
        24,
        Lookup(Location("FR", "EU", None, 48.86, 2.35), ip_network("192.0.2.0/24")),
    )
    table = reconcile({}, keys, now=0.0)
    status: LiveState = snapshot(table)
    assert decide(name, paris, status, 4).regions == ("eu-central",)
    for t in (1.0, 2.0, 3.0):
        table = record(table, {B: False, C: False}, T, now=t)
        status = snapshot(table)
    assert decide(name, paris, status, 4).regions == ("eu-west",)
    for t in (4.0, 5.0):
        table = record(table, {B: True, C: True}, T, now=t)
        status = snapshot(table)
    assert decide(name, paris, status, 4).regions == ("eu-central",)
