"""Fixtures for gslb sync: fake AWS credentials, moto's Route 53, zones edited from the example.

No test reaches AWS: every AWS_* variable of the environment is removed, the
credentials are fake, the instance metadata service is disabled, the shared config
files point nowhere, and Route 53 is moto (in process, or ``moto_server`` on loopback).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from gslb.config import load_zone
from gslb.model import Zone
from gslb.sync.desired import Options, build
from gslb.sync.plan import Limits, Plan, make_plan
from gslb.sync.route53 import Route53

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_TEXT = (REPO / "zones" / "example.com.yaml").read_text()


def edit(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` (which must be there) replaced once by ``new``."""
    assert old in text, old
    return text.replace(old, new, 1)


def fake_aws_env(home: Path) -> dict[str, str]:
    """This process's environment without AWS_* settings, plus fake credentials."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
    )
    return env


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    env = fake_aws_env(tmp_path)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    return env


@pytest.fixture
def route53(aws_env: dict[str, str]) -> Iterator[Any]:
    """moto's Route 53 (in process) and a client for it."""
    with mock_aws():
        yield boto3.client("route53", region_name="us-east-1")


@pytest.fixture
def hosted(route53: Any) -> str:
    """A public hosted zone example.com.; its id."""
    zone = route53.create_hosted_zone(Name="example.com.", CallerReference="test")
    return str(zone["HostedZone"]["Id"]).rsplit("/", 1)[-1]


@pytest.fixture
def zone_from(tmp_path: Path) -> Callable[[str], Zone]:
    """Zone YAML text → a Zone, through the real loader."""
    counter = iter(range(1_000_000))

    def make(text: str) -> Zone:
        path = tmp_path / f"zone-{next(counter)}.yaml"
        path.write_text(text)
        return load_zone(path)

    return make


def sync(
    client: Any,
    zone: Zone,
    *,
    owner: str = "default",
    static: bool = False,
    apply: bool = True,
    limits: Limits | None = None,
) -> Plan:
    """Build, read, plan and (by default) apply, as ``gslb sync --apply`` does."""
    r53 = Route53(client, sleep=lambda _: None)
    desired = build(zone, Options(owner=owner, static=static))
    hosted = r53.find_zone(zone.origin)
    plan = make_plan(desired, r53.read(hosted, owner))
    if apply and not plan.errors:
        r53.apply(plan, limits)
    return plan


def record_sets(client: Any, zone_id: str) -> list[dict[str, Any]]:
    return [
        r
        for page in client.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id)
        for r in page["ResourceRecordSets"]
    ]


def actions(plan: Plan) -> dict[str, int]:
    out = {"create": 0, "update": 0, "delete": 0}
    for change in plan.changes:
        out[change.action] += 1
    return out


class Counting:
    """A client that counts ChangeResourceRecordSets requests and can fail one."""

    def __init__(
        self, client: Any, fail_on: int = 0, code: str = "InvalidChangeBatch", times: int = 1
    ) -> None:
        self.client = client
        self.fail_on = fail_on
        self.code = code
        self.times = times
        self.batches: list[list[dict[str, Any]]] = []
        self.calls = 0

    def change_resource_record_sets(self, **params: Any) -> Any:
        self.calls += 1
        if self.calls >= self.fail_on > 0 and self.times > 0:
            self.times -= 1
            error = {"Error": {"Code": self.code, "Message": "injected"}}
            raise ClientError(error, "ChangeResourceRecordSets")  # type: ignore[arg-type]
        self.batches.append(params["ChangeBatch"]["Changes"])
        return self.client.change_resource_record_sets(**params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)
