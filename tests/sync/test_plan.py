"""Plans as values: read-back normalisation, the diff, ownership, threshold, order, batches."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from gslb.model import Zone
from gslb.sync.desired import Desired, Options, build
from gslb.sync.existing import Existing, observe
from gslb.sync.plan import Change, Limits, Plan, make_plan, record_batches, steps
from gslb.sync.records import CheckSpec, RecordSet, claim_record
from gslb.sync.shapes import record_from_api, record_to_api
from tests.sync.conftest import EXAMPLE_TEXT

ZONE_ID = "Z1"


def route53_like(raw: dict[str, Any]) -> dict[str, Any]:
    """What Route 53 gives back for what we sent: ``*`` escaped, no TTL on aliases,
    values in its own order, the alias zone id bare."""
    out = dict(raw)
    out["Name"] = out["Name"].replace("*", "\\052")
    if "ResourceRecords" in out:
        out["ResourceRecords"] = list(reversed(out["ResourceRecords"]))
    return out


def existing(
    records: Iterable[dict[str, Any]] = (), checks: Iterable[dict[str, Any]] = ()
) -> Existing:
    return observe(ZONE_ID, list(records), list(checks), "default", "example.com.")


def wrote(desired: Desired) -> list[dict[str, Any]]:
    """The zone after an apply of ``desired`` into an empty hosted zone."""
    plan = make_plan(desired, existing())
    return [route53_like(record_to_api(c.new, ZONE_ID, {})) for c in plan.changes]  # type: ignore[arg-type]


@pytest.fixture
def example(zone_from: Callable[[str], Zone]) -> Zone:
    return zone_from(EXAMPLE_TEXT)


#: (id, a record set as Route 53 lists it, what it must read as)
READ_BACK = [
    (
        "escaped wildcard, upper case, no dot",
        {
            "Name": "\\052.Dev.Example.COM",
            "Type": "A",
            "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.80"}],
        },
        RecordSet("*.dev.example.com.", "A", ttl=60, values=("192.0.2.80",)),
    ),
    (
        "values in any order, IPv6 in any spelling",
        {
            "Name": "a.example.com.",
            "Type": "AAAA",
            "TTL": 5,
            "ResourceRecords": [{"Value": "2001:DB8:0::2"}, {"Value": "2001:db8::1"}],
        },
        RecordSet("a.example.com.", "AAAA", ttl=5, values=("2001:db8::1", "2001:db8::2")),
    ),
    (
        "names inside values",
        {
            "Name": "x.example.com.",
            "Type": "MX",
            "TTL": 5,
            "ResourceRecords": [{"Value": "10 Mail.Example.com"}],
        },
        RecordSet("x.example.com.", "MX", ttl=5, values=("10 mail.example.com.",)),
    ),
    (
        "an alias has no TTL",
        {
            "Name": "api.example.com.",
            "Type": "A",
            "SetIdentifier": "gslb:default:geo-default:1",
            "GeoLocation": {"CountryCode": "*"},
            "AliasTarget": {
                "HostedZoneId": ZONE_ID,
                "DNSName": "_GSLB-all.api.example.com",
                "EvaluateTargetHealth": False,
            },
        },
        RecordSet(
            "api.example.com.",
            "A",
            "gslb:default:geo-default:1",
            alias="_gslb-all.api.example.com.",
            geo=("default", "*"),
        ),
    ),
    (
        "continent and subdivision",
        {
            "Name": "a.example.com.",
            "Type": "A",
            "SetIdentifier": "s",
            "GeoLocation": {"CountryCode": "US", "SubdivisionCode": "CA"},
            "AliasTarget": {
                "HostedZoneId": ZONE_ID,
                "DNSName": "b.example.com.",
                "EvaluateTargetHealth": True,
            },
        },
        RecordSet(
            "a.example.com.",
            "A",
            "s",
            alias="b.example.com.",
            evaluate=True,
            geo=("subdivision", "US-CA"),
        ),
    ),
    (
        "a check that is not ours keeps its id",
        {
            "Name": "a.example.com.",
            "Type": "A",
            "SetIdentifier": "s",
            "Region": "eu-west-1",
            "TTL": 5,
            "ResourceRecords": [{"Value": "192.0.2.1"}],
            "HealthCheckId": "abc",
        },
        RecordSet(
            "a.example.com.",
            "A",
            "s",
            ttl=5,
            values=("192.0.2.1",),
            region="eu-west-1",
            health="id:abc",
        ),
    ),
]


@pytest.mark.parametrize(
    ("raw", "expected"), [c[1:] for c in READ_BACK], ids=[c[0] for c in READ_BACK]
)
def test_read_back_normalises(raw: dict[str, Any], expected: RecordSet) -> None:
    assert record_from_api(raw, {}) == expected


def test_what_we_write_reads_back_equal(example: Zone) -> None:
    for static in (False, True):
        desired = build(example, Options(static=static))
        assert make_plan(desired, existing(wrote(desired))).changes == ()


def test_ownership_and_conflicts(example: Zone) -> None:
    desired = build(example, Options())
    theirs = [
        {
            "Name": "api.example.com.",
            "Type": "A",
            "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.1"}],
        },
        {
            "Name": "other.example.com.",
            "Type": "A",
            "SetIdentifier": "gslb:blue:x:1",
            "Region": "eu-west-1",
            "TTL": 60,
            "ResourceRecords": [{"Value": "192.0.2.1"}],
        },
    ]
    plan = make_plan(desired, existing(theirs))
    assert [e.code for e in plan.errors] == ["conflict"] and "api.example.com." == plan.errors[
        0
    ].subject
    assert all(c.action == "create" for c in plan.changes)
    assert "other.example.com." not in {c.item.name for c in plan.changes}  # type: ignore[union-attr]
    # a name another owner claims
    blue = record_to_api(claim_record("api.example.com.", "blue", set()), ZONE_ID, {})
    plan = make_plan(desired, existing([blue]))
    assert any(e.code == "conflict" and "'blue'" in e.message for e in plan.errors)
    # a static record set that is not ours: left alone, a warning
    static = build(example, Options(static=True))
    mail = {
        "Name": "mail.example.com.",
        "Type": "A",
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.9"}],
    }
    plan = make_plan(static, existing([mail]))
    assert not plan.errors and ("conflict", "mail.example.com.") in {
        (w.code, w.subject) for w in plan.warnings
    }
    assert ("mail.example.com.", "A") not in {(c.item.name, c.item.rtype) for c in plan.changes}  # type: ignore[union-attr]
    claim = next(c.item for c in plan.changes if c.item.name == "_gslb.mail.example.com.")  # type: ignore[union-attr]
    assert "gslb/types=" + '"' in claim.values[0]  # type: ignore[union-attr]


def test_without_static_our_static_records_stay(example: Zone) -> None:
    after_static = wrote(build(example, Options(static=True)))
    plan = make_plan(build(example, Options()), existing(after_static))
    assert plan.changes == ()
    # in scope: 86 routed record sets and the 14 claims; the static record sets are not
    assert plan.owned == 100


def test_stale_records_are_deleted_exactly_as_read(example: Zone) -> None:
    desired = build(example, Options())
    stale = {
        "Name": "_gslb-old.api.example.com.",
        "Type": "A",
        "SetIdentifier": "gslb:default:region-x:1",
        "Region": "eu-west-1",
        "TTL": 60,
        "ResourceRecords": [{"Value": "192.0.2.1"}],
    }
    plan = make_plan(desired, existing([*wrote(desired), stale]))
    (change,) = plan.changes
    assert change.action == "delete" and change.raw == stale


def test_threshold() -> None:
    def plan(owned: int, touched: int) -> Plan:
        record = RecordSet("a.example.com.", "A", ttl=1, values=("192.0.2.1",))
        changes = tuple(Change("delete", old=record) for _ in range(touched))
        return Plan("example.com.", ZONE_ID, "default", changes, (), (), owned)

    assert plan(10, 3).over_threshold(30) is None
    assert "4 of our 10 record sets (40% > 30%)" in (plan(10, 4).over_threshold(30) or "")
    assert plan(10, 4).over_threshold(50) is None
    assert plan(0, 0).over_threshold(30) is None


def test_replaced_check_repoints_records(example: Zone) -> None:
    spec = CheckSpec(
        "us-east", "example.com.", "TCP", ip="52.0.0.1", port=1, interval=30, failures=3
    )
    us = dataclasses.replace(example.regions["us-east"])
    desired = build(example, Options())
    record = next(r for r in desired.records if r.origin == "us-east")
    with_check = dataclasses.replace(record, health="us-east")
    desired = dataclasses.replace(
        desired,
        records=(with_check,),
        checks=(dataclasses.replace(spec, type="HTTP", path="/"),),
        names=frozenset(),
    )
    raw_check = {
        "Id": "hc1",
        "CallerReference": "gslb:default:1",
        "HealthCheckConfig": {
            "Type": "TCP",
            "IPAddress": "52.0.0.1",
            "Port": 1,
            "RequestInterval": 30,
            "FailureThreshold": 3,
        },
        "Tags": {"gslb-key": "us-east", "gslb-zone": "example.com."},
    }
    raw = record_to_api(with_check, ZONE_ID, {"us-east": "hc1"})
    claim = record_to_api(claim_record("api.example.com.", "default", set()), ZONE_ID, {})
    plan = make_plan(desired, existing([raw, claim], [raw_check]))
    assert us.name == "us-east"
    assert [(c.action, c.kind, c.note) for c in plan.changes] == [
        ("delete", "check", "replaced"),
        ("create", "check", "replaces hc1"),
        ("update", "record", "health check replaced"),
    ]
    assert [s.what for s in steps(plan)] == ["create-check", "records", "delete-check"]


def records(n: int, name: str = "x", values: int = 1, **kw: Any) -> list[RecordSet]:
    return [
        RecordSet(
            f"{name}{i}.example.com.",
            "A",
            f"s{i}",
            ttl=1,
            values=tuple(f"192.0.2.{v}" for v in range(values)),
            **kw,
        )
        for i in range(n)
    ]


#: (id, changes, limits, expected batch sizes)
BATCHES = [
    ("fits in one", [Change("create", new=r) for r in records(900)], Limits(), [900]),
    (
        "1,000 records a batch",
        [Change("create", new=r) for r in records(2500)],
        Limits(),
        [1000, 1000, 500],
    ),
    (
        "an UPSERT counts twice",
        [Change("update", old=r, new=r) for r in records(600)],
        Limits(),
        [500, 100],
    ),
    (
        "values count, not record sets",
        [Change("create", new=r) for r in records(30, values=40)],
        Limits(),
        [25, 5],
    ),
    (
        "characters count",
        [Change("create", new=r) for r in records(10, values=2)],
        Limits(chars=110),
        [6, 4],
    ),
]


@pytest.mark.parametrize(
    ("changes", "limits", "sizes"), [c[1:] for c in BATCHES], ids=[c[0] for c in BATCHES]
)
def test_batch_sizes(changes: list[Change], limits: Limits, sizes: list[int]) -> None:
    assert [len(b) for b in record_batches(changes, {}, limits)] == sizes


def test_batch_order(example: Zone) -> None:
    """Claims, then targets, then aliases on the way in; the reverse on the way out."""
    desired = build(example, Options())
    plan = make_plan(desired, existing())
    order = [
        c.item.name for b in record_batches(plan.changes, plan.depth, Limits(records=20)) for c in b
    ]  # type: ignore[union-attr]
    assert order[0] == "_gslb.api.example.com."
    assert max(i for i, n in enumerate(order) if n.startswith("_gslb-")) < order.index(
        "api.example.com."
    )
    gone = make_plan(dataclasses.replace(desired, records=(), claims={}), existing(wrote(desired)))
    order = [
        c.item.name for b in record_batches(gone.changes, gone.depth, Limits(records=20)) for c in b
    ]  # type: ignore[union-attr]
    assert order[-1] == "_gslb.api.example.com."
    assert max(i for i, n in enumerate(order) if n == "api.example.com.") < min(
        i for i, n in enumerate(order) if n.startswith("_gslb-")
    )


def test_check_steps_order() -> None:
    def check(key: str, ctype: str = "TCP") -> CheckSpec:
        return CheckSpec(key, "example.com.", ctype)

    changes = (
        Change("create", new=check("r", "CALCULATED")),
        Change("create", new=check("r/1")),
        Change("delete", old=check("q", "CALCULATED"), check_id="1"),
        Change("delete", old=check("q/1"), check_id="2"),
    )
    plan = Plan("example.com.", ZONE_ID, "default", changes, (), (), 0)
    assert [(s.what, s.changes[0].item.key) for s in steps(plan)] == [  # type: ignore[union-attr]
        ("create-check", "r/1"),
        ("create-check", "r"),
        ("delete-check", "q"),
        ("delete-check", "q/1"),
    ]
