"""The boto3 edge of ``gslb sync``: find the hosted zone, read it, apply a plan.

The only module of the sync package that talks to AWS. Every request goes through
:meth:`Route53.call`, which retries throttling and ``PriorRequestNotComplete`` with
exponential backoff and jitter (botocore's own retries are off, so there is one retry
policy and tests can count attempts), and turns botocore's exceptions into
:class:`SyncError` messages an operator can act on. Credentials come from the standard
boto3 chain: ``--profile``, the environment, the shared files, an instance or task role.
"""

from __future__ import annotations

import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
)

from gslb.errors import GslbError
from gslb.sync.existing import TAG_KEY, TAG_OWNER, TAG_ZONE, Existing, observe
from gslb.sync.plan import Change, Limits, Plan, Step, steps
from gslb.sync.records import CheckSpec, RecordSet, norm_name
from gslb.sync.shapes import check_to_api, record_to_api

__all__ = ["ApplyError", "CredentialsError", "HostedZone", "Route53", "SyncError", "connect"]

log = logging.getLogger(__name__)

RETRYABLE: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "PriorRequestNotComplete",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "ServiceUnavailable",
    }
)
NO_CREDENTIALS: Final = (
    "no AWS credentials found. Provide them the usual boto3 way: --profile NAME (a profile "
    "in ~/.aws/credentials or ~/.aws/config), the environment (AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY, or AWS_PROFILE), or an instance or task role"
)
_CREDENTIAL_CODES: Final = frozenset(
    {"InvalidClientTokenId", "SignatureDoesNotMatch", "UnrecognizedClientException", "ExpiredToken"}
)


class SyncError(GslbError):
    """Route 53 said no, or could not be asked: the message says what to do."""


class CredentialsError(SyncError):
    """No usable AWS credentials."""


class ApplyError(SyncError):
    """A step failed: what was applied before it is listed; the next run converges."""

    def __init__(self, zone: str, applied: list[str], failed: str, pending: list[str], cause: str):
        self.zone = zone
        self.applied = tuple(applied)
        self.failed = failed
        self.pending = tuple(pending)
        self.cause = cause
        super().__init__(f"{zone}: {failed} failed: {cause}")


@dataclass(frozen=True, slots=True)
class HostedZone:
    id: str  # without the /hostedzone/ prefix
    name: str
    private: bool

    def describe(self) -> str:
        return f"{self.id} ({self.name}, {'private' if self.private else 'public'})"


def connect(profile: str | None = None, endpoint_url: str | None = None) -> Any:
    """A Route 53 client from the standard credential chain; CredentialsError without one."""
    try:
        session = boto3.Session(profile_name=profile)
        credentials = session.get_credentials()
    except ProfileNotFound as exc:
        raise CredentialsError(
            f"AWS profile '{profile}' not found ({exc}); {NO_CREDENTIALS}"
        ) from exc
    except BotoCoreError as exc:
        raise CredentialsError(f"cannot load AWS credentials: {exc}") from exc
    if credentials is None:
        raise CredentialsError(NO_CREDENTIALS)
    config = Config(
        retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=10, read_timeout=60
    )
    return session.client(
        "route53", endpoint_url=endpoint_url, region_name="us-east-1", config=config
    )


class Route53:
    """Route 53 requests with one retry policy; ``sleep`` and ``progress`` are injectable."""

    def __init__(
        self,
        client: Any,
        *,
        attempts: int = 8,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.client = client
        self.attempts = attempts
        self.sleep = sleep
        self.progress = progress

    # ------------------------------------------------------------------ requests

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One request, retried with backoff while Route 53 throttles or is busy."""
        for attempt in range(self.attempts):
            try:
                result: dict[str, Any] = getattr(self.client, operation)(**params)
                return result
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = str(error.get("Code", "")), str(error.get("Message", exc))
                if code in RETRYABLE and attempt + 1 < self.attempts:
                    delay = min(20.0, 0.5 * 2**attempt) * (0.5 + random.random() / 2)
                    log.info("%s: %s, retrying in %.1f s", operation, code, delay)
                    self.sleep(delay)
                    continue
                if code in _CREDENTIAL_CODES:
                    raise CredentialsError(
                        f"AWS rejected the credentials ({code}: {message})"
                    ) from exc
                raise SyncError(f"{operation}: {code}: {message}") from exc
            except (NoCredentialsError, PartialCredentialsError) as exc:
                raise CredentialsError(NO_CREDENTIALS) from exc
            except EndpointConnectionError as exc:
                raise SyncError(f"cannot reach Route 53: {exc}") from exc
            except BotoCoreError as exc:
                raise SyncError(f"{operation}: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------ reading

    def zones_named(self, origin: str) -> list[HostedZone]:
        found: list[HostedZone] = []
        params: dict[str, Any] = {"DNSName": origin, "MaxItems": "100"}
        while True:
            page = self.call("list_hosted_zones_by_name", **params)
            for hz in page.get("HostedZones", ()):
                if norm_name(hz["Name"]) == origin:
                    private = bool(hz.get("Config", {}).get("PrivateZone"))
                    found.append(HostedZone(str(hz["Id"]).rsplit("/", 1)[-1], origin, private))
            nxt = page.get("NextDNSName")
            if not page.get("IsTruncated") or nxt is None or norm_name(nxt) != origin:
                return found
            params = {"DNSName": nxt, "HostedZoneId": page["NextHostedZoneId"], "MaxItems": "100"}

    def find_zone(self, origin: str, zone_id: str | None = None) -> HostedZone:
        """The hosted zone to sync ``origin`` into: a clear error when missing or ambiguous."""
        if zone_id:
            hz = self.call("get_hosted_zone", Id=zone_id)["HostedZone"]
            zone = HostedZone(
                str(hz["Id"]).rsplit("/", 1)[-1],
                norm_name(hz["Name"]),
                bool(hz.get("Config", {}).get("PrivateZone")),
            )
            if zone.name != origin:
                raise SyncError(f"hosted zone {zone.describe()} is not {origin}")
            return zone
        found = self.zones_named(origin)
        if len(found) == 1 and not found[0].private:
            return found[0]
        choices = ", ".join(z.describe() for z in found)
        if not found:
            raise SyncError(
                f"no hosted zone named {origin}: create a public hosted zone for it, "
                "or pass --hosted-zone-id"
            )
        if all(z.private for z in found):
            raise SyncError(
                f"no public hosted zone named {origin}, only: {choices}; "
                "pass --hosted-zone-id to use one"
            )
        raise SyncError(
            f"{len(found)} hosted zones are named {origin}: {choices}; "
            "choose one with --hosted-zone-id"
        )

    def record_sets(self, zone_id: str) -> Iterator[dict[str, Any]]:
        """Every record set of the zone, once each (some servers repeat across pages)."""
        seen: set[tuple[str, str, str]] = set()
        params: dict[str, Any] = {"HostedZoneId": zone_id, "MaxItems": "300"}
        while True:
            page = self.call("list_resource_record_sets", **params)
            fresh = 0
            for raw in page.get("ResourceRecordSets", ()):
                key = (norm_name(raw["Name"]), raw["Type"], raw.get("SetIdentifier", ""))
                if key not in seen:
                    seen.add(key)
                    fresh += 1
                    yield raw
            if not page.get("IsTruncated") or not fresh:
                return
            params["StartRecordName"] = page["NextRecordName"]
            params["StartRecordType"] = page["NextRecordType"]
            params.pop("StartRecordIdentifier", None)
            if page.get("NextRecordIdentifier"):
                params["StartRecordIdentifier"] = page["NextRecordIdentifier"]

    def health_checks(self, caller_prefix: str) -> list[dict[str, Any]]:
        """Health checks whose CallerReference starts with ``caller_prefix``, with their tags."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"MaxItems": "1000"}
        while True:
            page = self.call("list_health_checks", **params)
            found += [
                c
                for c in page.get("HealthChecks", ())
                if str(c.get("CallerReference", "")).startswith(caller_prefix)
            ]
            if not page.get("IsTruncated") or not page.get("NextMarker"):
                break
            params["Marker"] = page["NextMarker"]
        for start in range(0, len(found), 10):
            chunk = found[start : start + 10]
            page = self.call(
                "list_tags_for_resources",
                ResourceType="healthcheck",
                ResourceIds=[c["Id"] for c in chunk],
            )
            tags = {
                t["ResourceId"]: {x["Key"]: x["Value"] for x in t.get("Tags", ())}
                for t in page.get("ResourceTagSets", ())
            }
            for check in chunk:
                check["Tags"] = tags.get(check["Id"], {})
        return found

    def read(self, zone: HostedZone, owner: str) -> Existing:
        """Our part of the hosted zone and our health checks for it."""
        records = list(self.record_sets(zone.id))
        checks = self.health_checks(f"gslb:{owner}:")
        return observe(zone.id, records, checks, owner, zone.name)

    # ------------------------------------------------------------------ applying

    def apply(self, plan: Plan, limits: Limits | None = None) -> list[str]:
        """Run the plan's steps in order; on a failure raise ApplyError saying what was done."""
        ids = dict(plan.check_ids)
        todo = steps(plan, limits or Limits())
        applied: list[str] = []
        for number, step in enumerate(todo, 1):
            self.progress(f"{plan.zone} step {number}/{len(todo)}: {step.describe()}")
            try:
                self._run(plan, step, ids)
            except SyncError as exc:
                pending = [s.describe() for s in todo[number:]]
                raise ApplyError(plan.zone, applied, step.describe(), pending, str(exc)) from exc
            applied.append(step.describe())
        return applied

    def _run(self, plan: Plan, step: Step, ids: dict[str, str]) -> None:
        if step.what == "records":
            batch = [self._change(c, plan.hosted_zone_id, ids) for c in step.changes]
            comment = f"gslb sync, owner {plan.owner}"
            self.call(
                "change_resource_record_sets",
                HostedZoneId=plan.hosted_zone_id,
                ChangeBatch={"Comment": comment, "Changes": batch},
            )
            return
        change = step.changes[0]
        spec = change.item
        assert isinstance(spec, CheckSpec)
        if step.what == "create-check":
            reference = f"gslb:{plan.owner}:{uuid.uuid4().hex}"
            created = self.call(
                "create_health_check",
                CallerReference=reference,
                HealthCheckConfig=check_to_api(spec, ids),
            )
            ids[spec.key] = str(created["HealthCheck"]["Id"])
            tags = {
                TAG_OWNER: plan.owner,
                TAG_ZONE: spec.zone,
                TAG_KEY: spec.key,
                "Name": f"gslb {spec.zone} {spec.key}",
            }
            self.call(
                "change_tags_for_resource",
                ResourceType="healthcheck",
                ResourceId=ids[spec.key],
                AddTags=[{"Key": k, "Value": v} for k, v in tags.items()],
            )
        elif step.what == "update-check":
            self.call("update_health_check", HealthCheckId=change.check_id, **_update(change, ids))
        else:
            try:
                self.call("delete_health_check", HealthCheckId=change.check_id)
            except SyncError as exc:
                if "NoSuchHealthCheck" not in str(exc):
                    raise

    @staticmethod
    def _change(change: Change, zone_id: str, ids: Mapping[str, str]) -> dict[str, Any]:
        if change.action == "delete":
            assert change.raw is not None
            return {"Action": "DELETE", "ResourceRecordSet": dict(change.raw)}
        record = change.new
        assert isinstance(record, RecordSet)
        action = "CREATE" if change.action == "create" else "UPSERT"
        return {"Action": action, "ResourceRecordSet": record_to_api(record, zone_id, ids)}


def _update(change: Change, ids: Mapping[str, str]) -> dict[str, Any]:
    """UpdateHealthCheck parameters: everything but Type and RequestInterval, which cannot
    change (the plan replaces the check instead); dropped fields are reset."""
    assert isinstance(change.new, CheckSpec) and isinstance(change.old, CheckSpec)
    params = {
        k: v
        for k, v in check_to_api(change.new, ids).items()
        if k not in ("Type", "RequestInterval")
    }
    reset = [
        field
        for field, new, old in (
            ("FullyQualifiedDomainName", change.new.fqdn, change.old.fqdn),
            ("ResourcePath", change.new.path, change.old.path),
        )
        if new is None and old is not None
    ]
    if reset:
        params["ResetElements"] = reset
    return params
