"""Health checks in moto: created with their tags before the records that use them,
updated in place where Route 53 allows it, replaced where it does not, deleted last."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from gslb.model import Zone
from gslb.sync.plan import steps
from tests.sync.conftest import actions, edit, record_sets, sync

TEXT = (Path(__file__).parent / "health.example.com.yaml").read_text()
ZoneFrom = Callable[[str], Zone]


def checks(client: Any) -> dict[str, dict[str, Any]]:
    """Our checks by their key tag."""
    out = {}
    for check in client.list_health_checks()["HealthChecks"]:
        tags = client.list_tags_for_resource(ResourceType="healthcheck", ResourceId=check["Id"])
        found = {t["Key"]: t["Value"] for t in tags["ResourceTagSet"]["Tags"]}
        if "gslb-key" in found:
            out[found["gslb-key"]] = check | {"Tags": found}
    return out


def test_checks_created_first_then_records_use_them(
    route53: Any, hosted: str, zone_from: ZoneFrom
) -> None:
    zone = zone_from(TEXT)
    plan = sync(route53, zone, apply=False)
    order = [s.what for s in steps(plan)]
    assert order[:5] == ["create-check"] * 5 and order[5:] == ["records"]
    calculated = [s for s in steps(plan)[:5] if s.changes[0].item.type == "CALCULATED"]  # type: ignore[union-attr]
    assert steps(plan).index(calculated[0]) == 4  # after its children
    sync(route53, zone)
    found = checks(route53)
    assert set(found) == {
        "eu-west",
        "us-east",
        "us-east/52.0.0.10",
        "us-east/52.0.0.11",
        "us-east/2600:1f18::10",
    }
    https = found["us-east/52.0.0.10"]
    assert https["CallerReference"].startswith("gslb:default:")
    assert https["Tags"]["gslb-zone"] == "example.com." and https["Tags"]["gslb-owner"] == "default"
    config = https["HealthCheckConfig"]
    assert config["Type"] == "HTTPS_STR_MATCH" and config["SearchString"] == "ok"
    assert config["IPAddress"] == "52.0.0.10" and config["Port"] == 443
    assert config["ResourcePath"] == "/healthz"
    assert config["FullyQualifiedDomainName"] == "api.example.com" and config["EnableSNI"]
    assert config["RequestInterval"] == 10 and config["FailureThreshold"] == 3
    region = found["us-east"]["HealthCheckConfig"]
    assert region["Type"] == "CALCULATED" and region["HealthThreshold"] == 1
    assert sorted(region["ChildHealthChecks"]) == sorted(
        found[k]["Id"] for k in ("us-east/52.0.0.10", "us-east/52.0.0.11", "us-east/2600:1f18::10")
    )
    tcp = found["eu-west"]["HealthCheckConfig"]
    assert (tcp["Type"], tcp["Port"], tcp["RequestInterval"], tcp["FailureThreshold"]) == (
        "TCP",
        443,
        30,
        2,
    )
    latency = {
        r["Region"]: r.get("HealthCheckId")
        for r in record_sets(route53, hosted)
        if r.get("Region") and r["Type"] == "A"
    }
    assert latency == {
        "us-east-1": found["us-east"]["Id"],
        "eu-west-1": found["eu-west"]["Id"],
        "ap-northeast-1": None,  # an endpoint Route 53 cannot reach counts as up: no check
    }
    assert sync(route53, zone).changes == ()


def test_check_updated_in_place_or_replaced(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    sync(route53, zone_from(TEXT))
    before = checks(route53)
    moved = edit(TEXT, "path: /healthz", "path: /ready")
    plan = sync(route53, zone_from(moved))
    assert actions(plan) == {"create": 0, "update": 3, "delete": 0}
    assert {c.kind for c in plan.changes} == {"check"}
    after = checks(route53)
    assert after["us-east/52.0.0.10"]["Id"] == before["us-east/52.0.0.10"]["Id"]
    assert after["us-east/52.0.0.10"]["HealthCheckConfig"]["ResourcePath"] == "/ready"
    assert sync(route53, zone_from(moved)).changes == ()
    # TCP → HTTP cannot be updated: a new check, the records repointed, the old one deleted
    http = edit(moved, "check: tcp, port: 443", "check: http, port: 80")
    plan = sync(route53, zone_from(http))
    assert actions(plan) == {"create": 1, "update": 1, "delete": 1}
    after = checks(route53)
    assert after["eu-west"]["Id"] != before["eu-west"]["Id"]
    assert after["eu-west"]["HealthCheckConfig"]["Type"] == "HTTP"
    ids = {c["Id"] for c in route53.list_health_checks()["HealthChecks"]}
    assert before["eu-west"]["Id"] not in ids
    record = next(r for r in record_sets(route53, hosted) if r.get("Region") == "eu-west-1")
    assert record["HealthCheckId"] == after["eu-west"]["Id"]
    assert sync(route53, zone_from(http)).changes == ()


def test_stale_checks_deleted_after_records(route53: Any, hosted: str, zone_from: ZoneFrom) -> None:
    sync(route53, zone_from(TEXT))
    plain = edit(TEXT, "    health: {check: tcp, port: 443, fall: 2, rise: 2, interval: 30}\n", "")
    plan = sync(route53, zone_from(plain), apply=False)
    assert [s.what for s in steps(plan)] == ["records", "delete-check"]
    sync(route53, zone_from(plain))
    assert "eu-west" not in checks(route53)
    assert sync(route53, zone_from(plain)).changes == ()
