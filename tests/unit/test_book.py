"""The live book with an explicit clock: health, load, overrides, reload, persistence,
status, and that what it publishes is what the policy and status agree on."""

from __future__ import annotations

import json
import logging
import os
import stat
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck as Hc
from hypothesis import given, settings
from hypothesis import strategies as st

from gslb.live import statefile
from gslb.live.book import LiveBook
from gslb.live.health import Event, ProbeResult
from gslb.live.status import region_view
from gslb.model import Client, LiveState, Location, Lookup, Zone
from gslb.policy.pipeline import decide
from gslb.policy.steps import RegionLive
from tests.livezones import zone

Z = "example.com."
WEST, CENTRAL, EAST = (Z, "eu-west"), (Z, "eu-central"), (Z, "us-east")
W1, W2 = (Z, "eu-west", "192.0.2.10"), (Z, "eu-west", "192.0.2.11")
C1, C2 = (Z, "eu-central", "192.0.2.20"), (Z, "eu-central", "2001:db8::20")
E1, E2 = (Z, "us-east", "198.51.100.10"), (Z, "us-east", "198.51.100.11")
REGIONS: dict[str, dict[str, Any]] = {
    # each address probed on its port; load reported in the JSON body
    "eu-west": {
        "endpoints": ["192.0.2.10", "192.0.2.11"],
        "health": {"check": "http", "port": 8080, "path": "/healthz", "interval": 10,
                   "load": {"json": "load"}},
    },
    # one probe (a shared target) for both endpoints, down until it passes twice
    "eu-central": {
        "endpoints": ["192.0.2.20", "2001:db8::20"],
        "health": {"check": "https", "target": "127.0.0.1:8443", "assume": "down", "rise": 2},
    },
    # not probed; one endpoint down in the zone file
    "us-east": {"endpoints": ["198.51.100.10", {"address": "198.51.100.11", "down": True}]},
}  # fmt: skip

OK = ProbeResult(True, 0.004, status=200)
FAIL = ProbeResult(False, 0.008, "HTTP 500", status=500)


def loaded(ok: bool, load: float) -> ProbeResult:
    return ProbeResult(ok, 0.004, "" if ok else "HTTP 500", status=200 if ok else 500, load=load)


@pytest.fixture
def zones(tmp_path: Path) -> list[Zone]:
    return [zone(tmp_path, REGIONS)]


@pytest.fixture
def book(zones: list[Zone]) -> LiveBook:
    return LiveBook(zones, 0.0)


def target(book: LiveBook, key: tuple[str, ...]) -> str:
    return next(t.id for t in book.probe_targets() if key in t.endpoints)


def states(events: list[Event]) -> list[tuple[str, str, str]]:
    return [("/".join(e.key[1:]), e.old, e.new) for e in events if e.what == "state"]


# --------------------------------------------------------------------------- targets


def test_probe_targets_one_per_address_or_shared_target(book: LiveBook) -> None:
    targets = {t.id: t.endpoints for t in book.probe_targets()}
    assert len(targets) == 3
    assert targets[target(book, W1)] == (W1,)
    assert target(book, W1).startswith("http://192.0.2.10:8080/healthz#")
    assert targets[target(book, C1)] == (C1, C2)  # one probe for the region's target
    assert target(book, C1).startswith("https://127.0.0.1:8443/#")
    assert [t.id for t in book.probe_targets()] == sorted(targets)


def test_equal_probes_in_two_zones_are_made_once(tmp_path: Path) -> None:
    a = zone(tmp_path, {"eu-central": REGIONS["eu-central"]}, "a.example")
    b = zone(tmp_path, {"eu-central": REGIONS["eu-central"]}, "b.example")
    (probe,) = LiveBook([a, b], 0.0).probe_targets()
    assert {k[0] for k in probe.endpoints} == {"a.example.", "b.example."}


# --------------------------------------------------------------------------- fall / rise


def test_fall_and_rise_step_by_step(book: LiveBook) -> None:
    w1 = target(book, W1)
    assert book.record(w1, FAIL, 1.0) == []  # 1 of 3
    assert book.record(w1, FAIL, 2.0) == []  # 2 of 3
    assert book.status(2.0)["regions"][0]["endpoints"][0]["reason"] == (
        "probe HTTP 500 (8 ms); 2 of 3 failures"
    )
    events = book.record(w1, FAIL, 3.0)
    assert states(events) == [("eu-west/192.0.2.10", "up", "down"), ("eu-west", "up", "degraded")]
    assert all(e.cause == "probe" and e.at == 3.0 for e in events)
    line = "example.com./eu-west/192.0.2.10 state up -> down: probe HTTP 500 (8 ms)"
    assert str(events[0]) == line
    assert book.snapshot(3.0).down_endpoints == {W1, C1, C2}
    events = [e for t in (4.0, 5.0, 6.0) for e in book.record(target(book, W2), FAIL, t)]
    assert states(events) == [("eu-west/192.0.2.11", "up", "down"), ("eu-west", "degraded", "down")]
    assert book.record(w1, OK, 7.0) == []  # 1 of 2
    events = book.record(w1, OK, 8.0)
    assert states(events) == [("eu-west/192.0.2.10", "down", "up"), ("eu-west", "down", "degraded")]
    assert book.shown(W1) == ("up", 8.0) and book.shown(WEST) == ("degraded", 8.0)


def test_assume_down_until_rise_successes_of_the_shared_probe(book: LiveBook) -> None:
    assert {C1, C2} <= book.snapshot(0.0).down_endpoints
    assert book.shown(CENTRAL)[0] == "down"
    central = target(book, C1)
    assert book.record(central, OK, 1.0) == []
    events = book.record(central, OK, 2.0)
    assert states(events) == [
        ("eu-central/192.0.2.20", "down", "up"),
        ("eu-central/2001:db8::20", "down", "up"),
        ("eu-central", "down", "up"),
    ]
    assert book.snapshot(2.0).down_endpoints == frozenset()


def test_a_result_for_a_target_no_longer_probed_is_ignored(book: LiveBook) -> None:
    assert book.record("http://192.0.2.99:80/#00000000", FAIL, 1.0) == []


def test_unprobed_and_configured_down_endpoints(book: LiveBook) -> None:
    east = next(r for r in book.status(0.0)["regions"] if r["name"] == "us-east")
    assert east["state"] == "up" and east["reason"] == "1 of 1 endpoints up"
    assert [(e["state"], e["reason"], e["probe"]) for e in east["endpoints"]] == [
        ("up", "not probed (no health check)", None),
        ("down", "zone file: down: true", None),
    ]
    assert E2 not in book.snapshot(0.0).down_endpoints  # the model says so already


# --------------------------------------------------------------------------- overrides


def fail_w1(book: LiveBook) -> None:
    for t in (1.0, 2.0, 3.0):
        book.record(target(book, W1), FAIL, t)


@pytest.mark.parametrize(
    ("key", "state", "field", "expected"),
    [
        (WEST, "drain", "drained_regions", {WEST}),
        (W2, "drain", "drained_endpoints", {W2}),
        (WEST, "force-down", "down_regions", {WEST}),
        (W2, "force-down", "down_endpoints", {W1, W2, C1, C2}),
        (W1, "force-up", "down_endpoints", {C1, C2}),  # probes say down: ignored
        (WEST, "force-up", "down_endpoints", {C1, C2}),  # the region's probes ignored
        (CENTRAL, "force-up", "down_endpoints", {W1}),  # assume down ignored too
    ],
)
def test_overrides_in_the_snapshot(
    book: LiveBook, key: Any, state: str, field: str, expected: set[Any]
) -> None:
    fail_w1(book)
    events = book.set_override(key, state, 4.0)
    assert (events[0].what, events[0].old, events[0].new, events[0].cause) == (
        "override", "auto", state, "override")  # fmt: skip
    assert getattr(book.snapshot(4.0), field) == expected
    assert book.set_override(key, state, 5.0) == []  # no change, no event
    book.set_override(key, "auto", 6.0)
    assert book.snapshot(6.0) == LiveBook.snapshot(book, 6.0)
    assert book.snapshot(6.0).down_endpoints == {W1, C1, C2}
    assert book.override(key) is None


def test_endpoint_force_down_beats_region_force_up(book: LiveBook) -> None:
    book.set_override(WEST, "force-up", 1.0)
    book.set_override(W2, "force-down", 1.0)
    assert W2 in book.snapshot(1.0).down_endpoints


def test_drain_keeps_probing_and_reports(book: LiveBook) -> None:
    events = book.set_override(WEST, "drain", 1.0)
    assert states(events) == [("eu-west", "up", "drained")]
    assert target(book, W1)  # still probed
    events = [e for t in (2.0, 3.0, 4.0) for e in book.record(target(book, W1), FAIL, t)]
    assert states(events) == [("eu-west/192.0.2.10", "up", "down")]  # the region stays drained


def test_override_errors(book: LiveBook) -> None:
    with pytest.raises(KeyError):
        book.set_override((Z, "nowhere"), "drain", 1.0)
    with pytest.raises(KeyError):
        book.set_override((Z, "eu-west", "192.0.2.99"), "drain", 1.0)
    with pytest.raises(ValueError, match="override must be one of"):
        book.set_override(WEST, "up", 1.0)


def test_resolve_key(tmp_path: Path, book: LiveBook) -> None:
    assert book.resolve_key("eu-west") == WEST
    assert book.resolve_key("eu-central", "2001:DB8:0::20") == C2
    for args, message in [
        (("nowhere",), "no region 'nowhere'"),
        (("eu-west", "192.0.2.99"), "has no endpoint 192.0.2.99"),
        (("eu-west", "not-an-ip"), "not an IP address"),
    ]:
        with pytest.raises(KeyError, match=message):
            book.resolve_key(*args)
    two = LiveBook([zone(tmp_path, REGIONS, "a.example"), zone(tmp_path, REGIONS, "b.example")], 0)
    with pytest.raises(KeyError, match="several zones"):
        two.resolve_key("eu-west")
    assert two.resolve_key("eu-west", zone="b.example.") == ("b.example.", "eu-west")
    # as operators write zones: without the root dot, in any case
    assert two.resolve_key("eu-west", zone="B.Example") == ("b.example.", "eu-west")


# --------------------------------------------------------------------------- snapshot


def test_equal_inputs_give_an_equal_state(zones: list[Zone]) -> None:
    def play(book: LiveBook) -> LiveState:
        fail_w1(book)
        book.record(target(book, W2), loaded(True, 0.4), 4.0)
        book.set_override(CENTRAL, "drain", 5.0)
        return book.snapshot(6.0)

    a, b = play(LiveBook(zones, 0.0)), play(LiveBook(zones, 0.0))
    assert a == b and hash(a.down_endpoints) == hash(b.down_endpoints)
    assert a != LiveBook(zones, 0.0).snapshot(6.0)


# --------------------------------------------------------------------------- load


def test_probe_load_is_smoothed_averaged_and_goes_stale(book: LiveBook) -> None:
    w1, w2 = target(book, W1), target(book, W2)
    events = book.record(w2, loaded(True, 0.8), 1.0)
    assert [(e.what, e.old, e.new) for e in events] == [("load", "unknown", "0.80 (probes)")]
    book.record(w1, loaded(True, 0.2), 1.0)
    book.record(w1, loaded(True, 0.6), 2.0)  # EWMA 0.5: 0.4
    assert book.snapshot(2.0).load == {WEST: 0.6}  # mean of 0.4 and 0.8
    book.record(w2, loaded(False, 0.1), 3.0)  # a failed probe's load is not a reading
    assert book.snapshot(3.0).load == {WEST: 0.6}
    # stale after 3 intervals (30 s) without a reading: W2's goes first
    assert book.tick(31.5) == []  # still known: no event
    assert book.snapshot(31.5).load == {WEST: 0.4}
    events = book.tick(33.0)
    assert book.snapshot(33.0).load == {}
    assert [(e.key, e.old, e.new, e.why) for e in events] == [
        (WEST, "0.80 (probes)", "unknown", "stale: latest reading 31 s old")
    ]
    region = book.status(40.0)["regions"][0]
    assert (region["load"], region["load_source"], region["load_age"], region["load_stale"]) == (
        0.4, "probes", 38.0, True)  # fmt: skip


def test_load_of_down_endpoints_is_not_used(book: LiveBook) -> None:
    w1, w2 = target(book, W1), target(book, W2)
    book.record(w1, loaded(True, 0.9), 1.0)
    book.record(w2, loaded(True, 0.1), 1.0)
    book.set_override(W1, "force-down", 2.0)
    assert book.snapshot(2.0).load == {WEST: 0.1}


def test_pushed_load_wins_while_fresh(book: LiveBook) -> None:
    book.record(target(book, W1), loaded(True, 0.2), 1.0)
    events = book.push_load(WEST, 0.9, 2.0)
    assert [(e.old, e.new, e.why) for e in events] == [
        ("0.20 (probes)", "0.90 (pushed)", "pushed 0.90")
    ]
    book.record(target(book, W1), loaded(True, 0.2), 3.0)
    assert book.snapshot(3.0).load == {WEST: 0.9}
    events = book.push_load(WEST, 0.5, 4.0)
    assert events[0].why == "pushed 0.50, smoothed 0.70"
    assert book.snapshot(4.0).load == {WEST: 0.7}
    # stale after push_max_age (300 s): probe load takes over if fresh, else unknown
    assert book.snapshot(304.5).load == {}
    book.record(target(book, W1), loaded(True, 0.3), 305.0)
    assert book.snapshot(305.0).load == {WEST: 0.3}
    assert book.push_load(WEST, 0.6, 306.0)[0].why == "pushed 0.60"  # a stale one starts afresh
    events = book.clear_load(WEST, 307.0)
    assert [(e.old, e.new) for e in events] == [("0.60 (pushed)", "0.30 (probes)")]
    assert book.clear_load(WEST, 308.0) == []


def test_push_load_errors_and_max_age(zones: list[Zone]) -> None:
    book = LiveBook(zones, 0.0, push_max_age=10.0)
    with pytest.raises(ValueError, match="0..1"):
        book.push_load(EAST, 1.5, 0.0)
    with pytest.raises(KeyError):
        book.push_load((Z, "nowhere"), 0.5, 0.0)
    book.push_load(EAST, 0.5, 0.0)
    assert book.snapshot(10.0).load == {EAST: 0.5}
    assert book.snapshot(10.5).load == {}
    assert [(e.old, e.new) for e in book.tick(11.0)] == [("0.50 (pushed)", "unknown")]


# --------------------------------------------------------------------------- reload


def test_reconcile_keeps_survivors_starts_new_and_forgets_removed(tmp_path: Path) -> None:
    book = LiveBook([zone(tmp_path, REGIONS)], 0.0)
    fail_w1(book)
    book.set_override(W2, "drain", 4.0)
    book.set_override(EAST, "force-down", 4.0)
    book.push_load(EAST, 0.5, 4.0)
    changed = dict(REGIONS)
    del changed["us-east"]
    three = ["192.0.2.10", "192.0.2.11", "192.0.2.12"]
    changed["eu-west"] = {**REGIONS["eu-west"], "endpoints": three}
    events = book.reconcile([zone(tmp_path, changed)], 5.0)
    assert book.snapshot(5.0).down_endpoints == {W1, C1, C2}  # W1's health carried over
    assert book.override(W2) == ("drain", 4.0)
    assert book.shown(W1) == ("down", 3.0)
    assert any((Z, "eu-west", "192.0.2.12") in t.endpoints for t in book.probe_targets())
    lines = sorted(str(e) for e in events)
    assert lines == [
        "example.com./eu-west state drained -> degraded: 2 of 3 endpoints up; "
        "192.0.2.10: probe HTTP 500 (8 ms)",
        "example.com./eu-west/192.0.2.12 state - -> up: no probe result yet (assume: up)",
        "example.com./us-east load 0.50 (pushed) -> -: region removed",
        "example.com./us-east override force-down -> auto: no longer in the zones",
        "example.com./us-east state down -> -: no longer in the zones",
        "example.com./us-east/198.51.100.10 state up -> -: no longer in the zones",
        "example.com./us-east/198.51.100.11 state down -> -: no longer in the zones",
    ]
    assert all(e.cause == "reload" for e in events)
    assert book.reconcile([zone(tmp_path, changed)], 6.0) == []  # nothing changed


def test_reconcile_when_a_check_comes_and_goes(tmp_path: Path) -> None:
    book = LiveBook([zone(tmp_path, REGIONS)], 0.0)
    fail_w1(book)
    unprobed = {**REGIONS, "eu-west": {"endpoints": REGIONS["eu-west"]["endpoints"]}}
    events = book.reconcile([zone(tmp_path, unprobed)], 4.0)
    assert states(events) == [("eu-west/192.0.2.10", "down", "up"), ("eu-west", "degraded", "up")]
    assert book.breaker(W1) is None and W1 not in book.snapshot(4.0).down_endpoints
    book.reconcile([zone(tmp_path, REGIONS)], 5.0)
    breaker = book.breaker(W1)
    assert breaker is not None and breaker.up and breaker.since == 5.0  # from assume


# --------------------------------------------------------------------------- persistence


def test_overrides_and_pushed_load_survive_a_restart(
    book: LiveBook, zones: list[Zone], tmp_path: Path
) -> None:
    book.set_override(WEST, "drain", 1.0)
    book.set_override(C2, "force-up", 2.0)
    book.push_load(EAST, 0.25, 3.0)
    path = tmp_path / "state.json"
    statefile.save(path, book.to_dict())
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
    again = LiveBook(zones, 10.0)
    assert again.load_dict(statefile.load(path), 10.0) == []
    assert again.to_dict() == book.to_dict()
    assert again.snapshot(10.0) == book.snapshot(10.0)
    assert again.status(10.0)["regions"][0]["state"] == "drained"
    assert again.snapshot(304.0).load == {}  # the push keeps its age across the restart


def test_unusable_saved_entries_are_skipped_with_reasons(book: LiveBook) -> None:
    data = {
        "version": 1,
        "overrides": [
            {"zone": Z, "region": "gone", "state": "drain", "since": 1.0},
            {"zone": Z, "region": "eu-west", "state": "sideways", "since": 1.0},
            {"zone": Z, "region": "eu-west", "endpoint": "192.0.2.10", "state": "force-up",
             "since": 1.0},
            "junk",
        ],
        "load": [{"zone": Z, "region": "eu-west", "value": 7, "at": 1.0},
                 {"zone": Z, "region": "us-east", "value": 0.5, "at": "yesterday"}],
    }  # fmt: skip
    assert book.load_dict(data, 5.0) == [
        "state file: 1 'overrides' entries are not objects",
        "state file: override example.com./eu-west: bad key, state or time",
        "state file: load example.com./eu-west: 7 is not 0..1",
        "state file: load example.com./us-east: bad key, value or time",
        "state file: override example.com./gone: no such region or endpoint",
    ]
    assert book.override(W1) == ("force-up", 1.0)
    not_mine = ["state file: not a version 1 gslb state: ignored"]
    assert book.load_dict({"version": 2}, 5.0) == not_mine
    assert book.load_dict(None, 5.0) == not_mine
    not_a_list = ["state file: 'load' is not a list: ignored"]
    assert book.load_dict({"version": 1, "load": {}}, 5.0) == not_a_list


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b""])
def test_a_corrupt_state_file_is_reported_and_ignored(
    tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.json"
    path.write_bytes(content)
    with caplog.at_level(logging.ERROR, logger="gslb.live.statefile"):
        assert statefile.load(path) is None
    assert f"state file {path}" in caplog.text and "starting without it" in caplog.text
    # set aside, not overwritten by the next save: the operator can still read it
    kept = tmp_path / "state.json.corrupt"
    assert not path.exists() and kept.read_bytes() == content
    assert f"kept as {kept}" in caplog.text


def test_a_missing_state_file_is_no_error(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert statefile.load(tmp_path / "none.json") is None
    assert caplog.text == ""


def test_save_replaces_whole(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    statefile.save(path, {"version": 1, "overrides": [1] * 1000})
    statefile.save(path, {"version": 1})
    assert json.loads(path.read_text()) == {"version": 1}
    with pytest.raises(OSError):
        statefile.save(tmp_path / "missing" / "state.json", {})


# --------------------------------------------------------------------------- status


def test_status_shape(book: LiveBook) -> None:
    fail_w1(book)
    book.record(target(book, W2), loaded(True, 0.4), 3.0)
    book.set_override(W2, "drain", 3.5)
    status = book.status(4.0)
    json.dumps(status)  # JSON-able
    assert status["load_smoothing"] == 0.5 and status["push_max_age"] == 300.0
    west, central, east = status["regions"]
    assert (west["zone"], west["name"], west["min_up"]) == (Z, "eu-west", 1)
    assert west["state"] == "drained" and west["reason"] == "every endpoint that is up is drained"
    assert west["since"] == 3.5 and west["override"] is None
    assert (west["load"], west["load_source"], west["load_stale"]) == (0.4, "probes", False)
    assert west["endpoints"][0] == {
        "address": "192.0.2.10",
        "state": "down",
        "since": 3.0,
        "reason": "probe HTTP 500 (8 ms)",
        "override": None,
        "probe": target(book, W1),
        "last": {"ok": False, "latency_ms": 8.0, "error": "HTTP 500", "at": 0.0, "status": 500,
                 "load": None, "note": ""},
    }  # fmt: skip
    assert west["endpoints"][1]["state"] == "drained"
    assert west["endpoints"][1]["reason"] == "override drain; probe ok (HTTP 200, 4 ms)"
    assert central["state"] == "down"
    assert central["reason"] == (
        "0 of 2 endpoints up, min-up 1; 192.0.2.20: no probe result yet (assume: down); "
        "2001:db8::20: no probe result yet (assume: down)"
    )
    assert east["load"] is None and east["load_stale"] is False


def test_min_up(tmp_path: Path) -> None:
    regions = {"eu-west": {**REGIONS["eu-west"], "min-up": 2}}
    book = LiveBook([zone(tmp_path, regions)], 0.0)
    fail_w1(book)
    assert book.status(3.0)["regions"][0]["state"] == "down"
    assert book.status(3.0)["regions"][0]["reason"].startswith("1 of 2 endpoints up, min-up 2")


# --------------------------------------------------------------------------- agreement

KEYS = [WEST, CENTRAL, EAST, W1, W2, C1, C2, E1]
OPS = st.one_of(
    st.tuples(st.just("probe"), st.sampled_from([W1, W2, C1]), st.booleans()),
    st.tuples(st.just("override"), st.sampled_from(KEYS),
              st.sampled_from(["drain", "force-up", "force-down", "auto"])),
)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[Hc.function_scoped_fixture])
@given(ops=st.lists(OPS, max_size=30))
def test_status_agrees_with_the_policy(zones: list[Zone], ops: list[tuple[Any, ...]]) -> None:
    """Whatever happens, a region status calls up or degraded is one the policy's
    health step keeps, and one it calls down or drained is one it removes."""
    book = LiveBook(zones, 0.0)
    for t, (kind, key, arg) in enumerate(ops, start=1):
        if kind == "probe":
            book.record(target(book, key), OK if arg else FAIL, float(t))
        else:
            book.set_override(key, arg, float(t))
    state = book.snapshot(100.0)
    for region in book.regions():
        shown, _ = region_view(book, region.key)
        assert book.shown(region.key)[0] == shown
        live = RegionLive(region, state)
        assert live.up == (shown in ("up", "degraded")), (shown, live.why)
        if not live.up:
            assert live.why.split(":")[0] == shown


def test_the_snapshot_drives_the_policy(zones: list[Zone]) -> None:
    """Probes failing in eu-west move a Dublin client to eu-central, then back."""
    (z,) = zones
    name = z.gslb["api.example.com."]
    dublin = Client(
        ip_address("192.0.2.1"),
        "ecs",
        24,
        Lookup(Location("IE", "EU", None, 53.35, -6.26), ip_network("192.0.2.0/24")),
    )
    book = LiveBook(zones, 0.0)
    book.set_override(CENTRAL, "force-up", 0.0)
    assert decide(name, dublin, book.snapshot(0.0), 4).regions == ("eu-west",)
    for t in (1.0, 2.0, 3.0):
        book.record(target(book, W1), FAIL, t)
        book.record(target(book, W2), FAIL, t)
    assert decide(name, dublin, book.snapshot(3.0), 4).regions == ("eu-central",)
    book.set_override(W1, "force-up", 4.0)
    assert decide(name, dublin, book.snapshot(4.0), 4).regions == ("eu-west",)


def test_a_reload_into_an_empty_book_reports_what_came(tmp_path: Path) -> None:
    book = LiveBook([], 0.0)
    assert book.snapshot(0.0) == LiveState() and book.status(0.0)["regions"] == []
    events = book.reconcile([zone(tmp_path, {"us-east": REGIONS["us-east"]})], 1.0)
    assert states(events) == [
        ("us-east/198.51.100.10", "-", "up"),
        ("us-east/198.51.100.11", "-", "down"),
        ("us-east", "-", "up"),
    ]
