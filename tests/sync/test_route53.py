"""gslb sync against moto's Route 53: create, converge, change, share, split, fail, resume."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

import pytest

from gslb.model import Zone
from gslb.sync.desired import Options, build
from gslb.sync.plan import Limits, make_plan, steps
from gslb.sync.records import CLAIM_LABEL, norm_name
from gslb.sync.route53 import ApplyError, Route53, SyncError
from tests.sync.conftest import EXAMPLE_TEXT, Counting, actions, edit, record_sets, sync

ZoneFrom = Callable[[str], Zone]


def by_name(client: Any, zone_id: str) -> dict[tuple[str, str, str], dict[str, Any]]:
    return {
        (norm_name(r["Name"]), r["Type"], r.get("SetIdentifier", "")): r
        for r in record_sets(client, zone_id)
    }


def geo(
    records: dict[tuple[str, str, str], dict[str, Any]], name: str, rtype: str, code: str
) -> dict[str, Any]:
    found = [
        r
        for (n, t, _), r in records.items()
        if n == name and t == rtype and r.get("GeoLocation", {}).get("CountryCode") == code
    ]
    assert len(found) == 1, (name, rtype, code)
    return found[0]


def test_create_from_empty_then_nothing(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    zone = zone_from(EXAMPLE_TEXT)
    plan = sync(route53, zone)
    assert actions(plan) == {"create": 87, "update": 0, "delete": 0}
    assert plan.owned == 0
    records = by_name(route53, hosted)
    de = geo(records, "api.example.com.", "A", "DE")
    assert de["AliasTarget"]["DNSName"] == "_gslb-eu-eea.api.example.com."
    assert de["AliasTarget"]["EvaluateTargetHealth"] is False  # never fall out of the fence
    assert geo(records, "api.example.com.", "AAAA", "JP")["AliasTarget"]["DNSName"] == (
        "_gslb-rule1.api.example.com."
    )
    assert geo(records, "api.example.com.", "A", "*")["AliasTarget"]["DNSName"] == (
        "_gslb-all.api.example.com."
    )
    fence = [
        r for (n, t, _), r in records.items() if n == "_gslb-eu-eea.api.example.com." and t == "A"
    ]
    assert sorted(r["Region"] for r in fence) == ["eu-central-1", "eu-west-1"]
    chain = {
        r["Failover"]: r
        for (n, t, _), r in records.items()
        if n == "_gslb-rule1.api.example.com." and t == "A"
    }
    assert chain["PRIMARY"]["ResourceRecords"] == [{"Value": "203.0.113.10"}]
    assert chain["SECONDARY"]["ResourceRecords"] == [{"Value": "198.51.100.20"}]
    claim = records[(f"{CLAIM_LABEL}.api.example.com.", "TXT", "")]
    assert "gslb/owner=default" in claim["ResourceRecords"][0]["Value"]
    # the run right after an apply plans nothing
    assert sync(route53, zone).changes == ()


def test_static_records_round_trip(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    zone = zone_from(EXAMPLE_TEXT)
    plan = sync(route53, zone, static=True)
    created = {(c.item.name, c.item.rtype) for c in plan.changes}  # type: ignore[union-attr]
    assert ("*.dev.example.com.", "A") in created and ("big.example.com.", "TXT") in created
    assert ("lab.example.com.", "NS") in created and ("example.com.", "MX") in created
    assert ("example.com.", "SOA") not in created and ("example.com.", "NS") not in created
    assert sync(route53, zone, static=True).changes == ()
    # without --static, what an earlier --static run wrote is left alone
    assert sync(route53, zone).changes == ()


def test_region_addresses_change(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    sync(route53, zone_from(EXAMPLE_TEXT))
    moved = edit(
        EXAMPLE_TEXT, "endpoints: [198.51.100.10, 198.51.100.11,", "endpoints: [198.51.100.12,"
    )
    plan = sync(route53, zone_from(moved))
    assert actions(plan) == {"create": 0, "update": 1, "delete": 0}
    (change,) = plan.changes
    assert change.old.values == ("198.51.100.10", "198.51.100.11")  # type: ignore[union-attr]
    assert change.new.values == ("198.51.100.12",)  # type: ignore[union-attr]
    assert by_name(route53, hosted)[change.item.key]["ResourceRecords"] == [
        {"Value": "198.51.100.12"}
    ]  # type: ignore[union-attr]
    assert sync(route53, zone_from(moved)).changes == ()


NEW_REGION = (
    "  ap-south: {location: [19.08, 72.88], aws-region: ap-south-1, "
    'endpoints: [203.0.113.30, "2001:db8:70::30"]}\n'
)
ALL = "regions: [us-east, us-west, eu-west, eu-central, ap-northeast, sa-east]\n    rules:"


def test_region_added_then_removed(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    sync(route53, zone_from(EXAMPLE_TEXT))
    added = edit(EXAMPLE_TEXT, "regions:\n  us-east:", "regions:\n" + NEW_REGION + "  us-east:")
    added = edit(added, ALL, ALL.replace("sa-east]", "sa-east, ap-south]"))
    plan = sync(route53, zone_from(added))
    assert actions(plan) == {"create": 2, "update": 0, "delete": 0}
    assert {c.item.name for c in plan.changes} == {"_gslb-all.api.example.com."}  # type: ignore[union-attr]
    assert {c.item.region for c in plan.changes} == {"ap-south-1"}  # type: ignore[union-attr]
    plan = sync(route53, zone_from(EXAMPLE_TEXT))
    assert actions(plan) == {"create": 0, "update": 0, "delete": 2}
    assert sync(route53, zone_from(EXAMPLE_TEXT)).changes == ()


def test_fence_added(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    sync(route53, zone_from(EXAMPLE_TEXT))
    fenced = edit(
        EXAMPLE_TEXT,
        "# Names answered per query",
        "  apac: {clients: {countries: [AU, NZ]}, regions: [ap-northeast]}\n"
        "# Names answered per query",
    )
    plan = sync(route53, zone_from(fenced))
    assert actions(plan) == {"create": 6, "update": 0, "delete": 0}
    names = {(c.item.name, c.item.rtype) for c in plan.changes}  # type: ignore[union-attr]
    assert names == {
        (n, t) for n in ("_gslb-apac.api.example.com.", "api.example.com.") for t in ("A", "AAAA")
    }
    records = by_name(route53, hosted)
    assert (
        geo(records, "api.example.com.", "A", "AU")["AliasTarget"]["DNSName"]
        == "_gslb-apac.api.example.com."
    )
    assert sync(route53, zone_from(fenced)).changes == ()


def test_foreign_records_and_checks_are_untouched(
    route53: Any, hosted: str, zone_from: ZoneFrom
) -> None:
    def plain(name: str, rtype: str, value: str, **more: Any) -> dict[str, Any]:
        return {
            "Name": name,
            "Type": rtype,
            "TTL": 60,
            "ResourceRecords": [{"Value": value}],
            **more,
        }

    foreign = [
        plain("www.example.com.", "CNAME", "elsewhere.example.net."),
        plain("legacy.example.com.", "A", "192.0.2.99", SetIdentifier="blue", Weight=10),
        plain("_gslb-all.api.example.com.", "TXT", '"mine"'),
        plain("example.com.", "TXT", '"v=spf1 -all"'),
    ]
    route53.change_resource_record_sets(
        HostedZoneId=hosted,
        ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": r} for r in foreign]},
    )
    theirs = route53.create_health_check(
        CallerReference="someone-else",
        HealthCheckConfig={"Type": "TCP", "IPAddress": "192.0.2.1", "Port": 22},
    )["HealthCheck"]["Id"]
    other = route53.create_health_check(
        CallerReference="gslb:other:1",
        HealthCheckConfig={"Type": "TCP", "IPAddress": "192.0.2.2", "Port": 22},
    )["HealthCheck"]["Id"]
    before = {k: r for k, r in by_name(route53, hosted).items()}
    plan = sync(route53, zone_from(EXAMPLE_TEXT))
    touched = {c.item.key for c in plan.changes}  # type: ignore[union-attr]
    assert not touched & set(before)
    # a zone without the GSLB name: every record of ours goes, nothing else
    empty = EXAMPLE_TEXT.split("# Names answered per query")[0]
    plan = sync(route53, zone_from(empty))
    assert actions(plan) == {"create": 0, "update": 0, "delete": 87}
    after = by_name(route53, hosted)
    assert {k: after[k] for k in before} == before
    assert set(after) == set(before)
    ids = {c["Id"] for c in route53.list_health_checks()["HealthChecks"]}
    assert {theirs, other} <= ids


def test_two_owner_ids_share_a_zone(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    api = zone_from(EXAMPLE_TEXT)
    web = zone_from(EXAMPLE_TEXT.replace("gslb:\n  api:", "gslb:\n  web:"))
    assert actions(sync(route53, api, owner="blue"))["create"] == 87
    assert actions(sync(route53, web, owner="green"))["create"] == 87
    assert sync(route53, api, owner="blue").changes == ()
    assert sync(route53, web, owner="green").changes == ()
    # each owner removing its name leaves the other's alone
    empty = zone_from(EXAMPLE_TEXT.split("# Names answered per query")[0])
    assert actions(sync(route53, empty, owner="green"))["delete"] == 87
    assert sync(route53, api, owner="blue").changes == ()
    # a name another owner claims is a conflict, not a takeover
    assert actions(sync(route53, api, owner="green", apply=False))["delete"] == 0
    plan = sync(route53, api, owner="green", apply=False)
    assert any(e.code == "conflict" and "blue" in e.message for e in plan.errors)


def big_zone(zone: Zone, names: int) -> Zone:
    """``zone`` with ``names`` copies of its GSLB name over one IPv4-only region: three
    record sets each (built directly: the loader checks every name against the tree)."""
    api = zone.gslb["api.example.com."]
    region = dataclasses.replace(
        api.region("us-east"), endpoints=api.region("us-east").endpoints[:1]
    )
    one = dataclasses.replace(
        api, regions=(region,), fences=(), rules=(), default_order=("us-east",)
    )
    gslb = {
        f"n{i:04d}.example.com.": dataclasses.replace(one, name=f"n{i:04d}.example.com.")
        for i in range(names)
    }
    return dataclasses.replace(zone, gslb=MappingProxyType(gslb), fences=())


def test_batches_split_a_zone_of_2000_names(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    zone = big_zone(zone_from(EXAMPLE_TEXT), 2000)
    counting = Counting(route53)
    plan = sync(counting, zone)
    assert actions(plan)["create"] == 2000 * 3  # geolocation default, latency, claim
    # 6,000 records at most 1,000 a batch, and the claims' 100,000 characters of TXT at
    # most 32,000 a batch: 7 requests
    assert len(counting.batches) == len(steps(plan)) == 7
    position: dict[tuple[str, str], int] = {}
    for number, batch in enumerate(counting.batches):
        values = [
            v["Value"] for c in batch for v in c["ResourceRecordSet"].get("ResourceRecords", ())
        ]
        assert len(batch) <= 1000 and sum(len(v) for v in values) <= 32000
        for change in batch:
            record = change["ResourceRecordSet"]
            position.setdefault((norm_name(record["Name"]), record["Type"]), number)
    for (name, rtype), number in position.items():  # targets never after their aliases
        if name.startswith("n"):
            assert position[(f"_gslb-all.{name}", rtype)] <= number
            assert position[(f"_gslb.{name}", "TXT")] <= number


def test_failure_in_second_batch_then_converges(
    route53: Any, hosted: str, zone_from: ZoneFrom
) -> None:
    zone = zone_from(EXAMPLE_TEXT)
    r53 = Route53(Counting(route53, fail_on=2), sleep=lambda _: None)
    plan = make_plan(build(zone, Options()), r53.read(r53.find_zone(zone.origin), "default"))
    limits = Limits(records=30)
    with pytest.raises(ApplyError) as failed:
        r53.apply(plan, limits)
    assert failed.value.applied == (steps(plan, limits)[0].describe(),)
    assert "injected" in failed.value.cause and failed.value.pending
    first = steps(plan, limits)[0].changes
    # the first batch were targets only: no alias can point at a missing name
    assert all(c.item.alias is None for c in first)  # type: ignore[union-attr]
    assert len(record_sets(route53, hosted)) == 2 + len(first)  # apex SOA/NS + batch 1
    again = sync(route53, zone)
    assert actions(again) == {"create": 87 - len(first), "update": 0, "delete": 0}
    assert sync(route53, zone).changes == ()


def test_throttling_is_retried_with_backoff(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    slept: list[float] = []
    client = Counting(route53, fail_on=1, code="PriorRequestNotComplete", times=2)
    r53 = Route53(client, sleep=slept.append)
    zone = zone_from(EXAMPLE_TEXT)
    r53.apply(make_plan(build(zone, Options()), r53.read(r53.find_zone(zone.origin), "default")))
    assert len(slept) == 2 and slept[1] > slept[0] / 2
    assert client.calls == 3 and sync(route53, zone).changes == ()


def test_hosted_zone_missing_or_ambiguous(route53: Any, aws_env: dict[str, str]) -> None:
    r53 = Route53(route53)
    with pytest.raises(SyncError, match="no hosted zone named example.com."):
        r53.find_zone("example.com.")
    private = route53.create_hosted_zone(
        Name="example.com.",
        CallerReference="private",
        HostedZoneConfig={"PrivateZone": True},
        VPC={"VPCRegion": "us-east-1", "VPCId": "vpc-1"},
    )["HostedZone"]["Id"].rsplit("/", 1)[-1]
    with pytest.raises(SyncError, match=f"no public hosted zone.*{private}.*private"):
        r53.find_zone("example.com.")
    public = route53.create_hosted_zone(Name="example.com.", CallerReference="public")[
        "HostedZone"
    ]["Id"]
    public = public.rsplit("/", 1)[-1]
    with pytest.raises(SyncError, match=f"2 hosted zones.*({public}|{private}).*--hosted-zone-id"):
        r53.find_zone("example.com.")
    assert r53.find_zone("example.com.", public).id == public
    with pytest.raises(SyncError, match="is not example.org."):
        r53.find_zone("example.org.", public)
