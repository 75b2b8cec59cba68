"""The pure pieces of live health: the breaker (hysteresis), load smoothing, probe
identity, with an explicit clock."""

from __future__ import annotations

from ipaddress import ip_address

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gslb.live.health import (
    LOAD_ALPHA,
    Breaker,
    Event,
    ProbeResult,
    Reading,
    check_load,
    probe_spec,
    smooth,
    target_id,
)
from gslb.model import Endpoint, HealthCheck, HostPort

OK = ProbeResult(True, 0.003, at=1.0, status=200)
FAIL = ProbeResult(False, 0.008, "HTTP 500", at=1.0, status=500)
UP = Breaker.initial("up", 0.0)
DOWN = Breaker.initial("down", 0.0)


def run(state: Breaker, results: str, fall: int = 3, rise: int = 2) -> Breaker:
    """Feed results written as a string ("x" failure, "." success), one per second."""
    for t, r in enumerate(results, start=1):
        state = state.advance(OK if r == "." else FAIL, fall, rise, float(t))
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
        (DOWN, ".", False, 1, 0.0),  # assume down: down until rise successes
        (DOWN, "..", True, 0, 2.0),
        (DOWN, "x..", True, 0, 3.0),
    ],
)
def test_hysteresis_step_by_step(
    start: Breaker, results: str, up: bool, streak: int, since: float
) -> None:
    after = run(start, results)
    assert (after.up, after.streak, after.since) == (up, streak, since)
    if results:
        assert after.last == (OK if results[-1] == "." else FAIL)


def test_thresholds_of_one_flip_immediately() -> None:
    assert not run(UP, "x", fall=1, rise=1).up
    assert run(UP, "x.", fall=1, rise=1) == Breaker(True, 0, 2.0, OK)


def test_progress_says_how_far_from_flipping() -> None:
    assert run(UP, "xx").progress(3, 2) == "2 of 3 failures"
    assert run(UP, "xxx.").progress(3, 2) == "1 of 2 successes"
    assert run(UP, "..").progress(3, 2) == ""


@settings(max_examples=200, deadline=None)
@given(results=st.lists(st.booleans(), max_size=40), fall=st.integers(1, 5), rise=st.integers(1, 5))
def test_state_changes_only_after_enough_agreeing_results(
    results: list[bool], fall: int, rise: int
) -> None:
    """Reference model: a flip happens exactly when the last results are a run of
    ``fall`` failures (when up) or ``rise`` successes (when down) since the last flip."""
    state = UP
    up, run_length = True, 0
    for t, ok in enumerate(results, start=1):
        before = state
        state = state.advance(OK if ok else FAIL, fall, rise, float(t))
        run_length = 0 if ok == up else run_length + 1
        if run_length == (fall if up else rise):
            up, run_length = not up, 0
            assert state.since == float(t)
        else:
            assert state.since == before.since
        assert (state.up, state.streak) == (up, run_length)


def test_probe_result_describes_itself() -> None:
    assert OK.describe() == "ok (HTTP 200, 3 ms)"
    assert FAIL.describe() == "HTTP 500 (8 ms)"
    timeout = ProbeResult(False, 4.0012, "timeout after 4 s")
    assert timeout.describe() == "timeout after 4 s (4001 ms)"
    body = ProbeResult(False, 0.005, "body does not contain 'ok'", status=200)
    assert body.describe() == "body does not contain 'ok' (HTTP 200, 5 ms)"
    noted = ProbeResult(True, 0.001, note="load: JSON field 'load' missing")
    assert noted.describe() == "ok (1 ms); load: JSON field 'load' missing"


# --------------------------------------------------------------------------- load


def test_ewma_halves_the_distance_per_reading() -> None:
    assert LOAD_ALPHA == 0.5
    r = smooth(None, 0.2, 0.0, 30.0)
    assert r == Reading(0.2, 0.0)
    r = smooth(r, 1.0, 10.0, 30.0)
    assert r == Reading(0.6, 10.0)
    r = smooth(r, 1.0, 20.0, 30.0)
    assert r == Reading(0.8, 20.0)


def test_a_stale_reading_does_not_count() -> None:
    old = Reading(0.9, 0.0)
    assert old.fresh(30.0, 30.0) and not old.fresh(30.5, 30.0)
    assert smooth(old, 0.1, 31.0, 30.0) == Reading(0.1, 31.0)  # starts afresh
    assert old.age(-5.0) == 0.0  # a clock that went back is not a negative age


@pytest.mark.parametrize("value", [0, 0.0, 0.73, 1])
def test_pushed_load_in_range(value: float) -> None:
    assert check_load(value) == float(value)


@pytest.mark.parametrize("value", [-0.1, 1.01, float("nan"), float("inf"), True, "0.5", None])
def test_pushed_load_out_of_range(value: object) -> None:
    with pytest.raises(ValueError, match="load must be"):
        check_load(value)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- probes


def test_probe_spec_aims_at_the_target_and_drops_breaker_settings() -> None:
    ep = Endpoint(ip_address("2001:db8::10"))
    check = HealthCheck("https", port=8443, fall=5, rise=4, assume="down")
    spec = probe_spec(check, ep)
    assert spec.target == HostPort("2001:db8::10", 8443) and spec.port is None
    assert spec == probe_spec(HealthCheck("https", port=8443), ep)  # same probe
    assert target_id(spec).startswith("https://[2001:db8::10]:8443/#")
    shared = HealthCheck("tcp", target=HostPort("10.0.0.1", 22))
    assert probe_spec(shared, ep).target == HostPort("10.0.0.1", 22)
    assert target_id(probe_spec(shared, ep)).startswith("tcp://10.0.0.1:22#")


def test_target_id_is_stable_and_tells_settings_apart() -> None:
    at = HostPort("127.0.0.1", 80)
    a = HealthCheck("http", target=at, path="/h")
    assert target_id(a) == target_id(HealthCheck("http", target=at, path="/h"))
    assert target_id(a) != target_id(HealthCheck("http", target=at, path="/h", match="ok"))
    assert len(target_id(a).split("#")[1]) == 8


def test_event_is_one_line() -> None:
    e = Event(("example.com.", "eu-west", "192.0.2.10"), "state", "up", "down", "probe",
              "probe HTTP 500 (8 ms)", 5.0)  # fmt: skip
    assert str(e) == "example.com./eu-west/192.0.2.10 state up -> down: probe HTTP 500 (8 ms)"
