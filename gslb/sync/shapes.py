"""Record sets and health checks in Route 53's own shapes, both ways. Pure.

What :func:`record_to_api` and :func:`check_to_api` send, :func:`record_from_api` and
:func:`check_from_api` read back into the same normalised value (Route 53 and moto
escape ``*`` as ``\\052``, fill in defaults, drop TTLs on aliases, reorder values):
equal values mean nothing to do.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_address
from typing import Any

from gslb.sync.records import CheckSpec, RecordSet, norm_name, norm_values

__all__ = ["check_from_api", "check_to_api", "record_from_api", "record_to_api"]


def record_to_api(record: RecordSet, zone_id: str, check_ids: Mapping[str, str]) -> dict[str, Any]:
    """The ``ResourceRecordSet`` to send; health check keys become ids."""
    out: dict[str, Any] = {"Name": record.name, "Type": record.rtype}
    if record.set_id:
        out["SetIdentifier"] = record.set_id
    if record.region is not None:
        out["Region"] = record.region
    if record.geo is not None:
        kind, code = record.geo
        if kind == "default":
            out["GeoLocation"] = {"CountryCode": "*"}
        elif kind == "continent":
            out["GeoLocation"] = {"ContinentCode": code}
        elif kind == "country":
            out["GeoLocation"] = {"CountryCode": code}
        else:
            country, _, sub = code.partition("-")
            out["GeoLocation"] = {"CountryCode": country, "SubdivisionCode": sub}
    if record.failover is not None:
        out["Failover"] = record.failover
    if record.alias is not None:
        out["AliasTarget"] = {
            "HostedZoneId": zone_id.rsplit("/", 1)[-1],
            "DNSName": record.alias,
            "EvaluateTargetHealth": record.evaluate,
        }
    else:
        out["TTL"] = record.ttl
        out["ResourceRecords"] = [{"Value": v} for v in record.values]
    if record.health is not None:
        out["HealthCheckId"] = check_ids.get(record.health, record.health.removeprefix("id:"))
    return out


def _geo_from_api(geo: Mapping[str, Any]) -> tuple[str, str]:
    country, sub = geo.get("CountryCode"), geo.get("SubdivisionCode")
    if country == "*":
        return ("default", "*")
    if sub:
        return ("subdivision", f"{country}-{sub}")
    if country:
        return ("country", str(country))
    return ("continent", str(geo.get("ContinentCode", "")))


def record_from_api(raw: Mapping[str, Any], check_keys: Mapping[str, str]) -> RecordSet:
    """A record set as ListResourceRecordSets gives it, normalised; check ids → our keys."""
    rtype = str(raw["Type"])
    alias = raw.get("AliasTarget")
    geo = raw.get("GeoLocation")
    check = raw.get("HealthCheckId")
    set_id = str(raw.get("SetIdentifier") or "")
    return RecordSet(
        name=norm_name(str(raw["Name"])),
        rtype=rtype,
        set_id=set_id,
        ttl=None if alias else int(raw.get("TTL", 0)),
        values=()
        if alias
        else norm_values(rtype, (r["Value"] for r in raw.get("ResourceRecords", ()))),
        alias=norm_name(str(alias["DNSName"])) if alias else None,
        evaluate=bool(alias.get("EvaluateTargetHealth")) if alias else False,
        region=raw.get("Region"),
        geo=_geo_from_api(geo) if geo else None,
        failover=raw.get("Failover"),
        health=None if not check else check_keys.get(str(check), f"id:{check}"),
        origin=_origin(set_id),
    )


def _origin(set_id: str) -> str:
    """The gslb region our latency and failover identifiers name (for display only)."""
    parts = set_id.split(":")
    if len(parts) != 4 or parts[0] != "gslb":
        return ""
    detail = parts[2]
    for prefix in ("primary-", "secondary-", "region-"):
        if detail.startswith(prefix):
            return detail[len(prefix) :]
    return ""


def check_to_api(spec: CheckSpec, check_ids: Mapping[str, str]) -> dict[str, Any]:
    """The ``HealthCheckConfig`` to send; child keys become ids."""
    if spec.type == "CALCULATED":
        return {
            "Type": "CALCULATED",
            "ChildHealthChecks": [check_ids[k] for k in spec.children],
            "HealthThreshold": spec.threshold,
            "Inverted": spec.inverted,
            "Disabled": spec.disabled,
        }
    out: dict[str, Any] = {
        "Type": spec.type,
        "Port": spec.port,
        "RequestInterval": spec.interval,
        "FailureThreshold": spec.failures,
        "Inverted": spec.inverted,
        "Disabled": spec.disabled,
        "EnableSNI": spec.sni,
    }
    for key, value in (
        ("IPAddress", spec.ip),
        ("FullyQualifiedDomainName", spec.fqdn),
        ("ResourcePath", spec.path),
        ("SearchString", spec.search),
    ):
        if value is not None:
            out[key] = value
    return out


def check_from_api(
    config: Mapping[str, Any], key: str, zone: str, check_keys: Mapping[str, str]
) -> CheckSpec:
    """A health check as Route 53 gives it back, normalised like :func:`check_to_api`."""
    ctype = str(config.get("Type", ""))
    inverted, disabled = bool(config.get("Inverted")), bool(config.get("Disabled"))
    if ctype == "CALCULATED":
        children = tuple(
            sorted(check_keys.get(str(c), f"id:{c}") for c in config.get("ChildHealthChecks") or ())
        )
        threshold = config.get("HealthThreshold")
        return CheckSpec(
            key,
            zone,
            ctype,
            children=children,
            threshold=None if threshold is None else int(threshold),
            inverted=inverted,
            disabled=disabled,
        )
    ip = config.get("IPAddress")
    fqdn = config.get("FullyQualifiedDomainName")
    return CheckSpec(
        key,
        zone,
        ctype,
        ip=str(ip_address(ip)) if ip else None,
        port=int(config.get("Port") or (443 if ctype.startswith("HTTPS") else 80)),
        path=None if ctype.startswith("TCP") else (config.get("ResourcePath") or None),
        fqdn=str(fqdn).lower().rstrip(".") if fqdn else None,
        search=config.get("SearchString") or None,
        interval=int(config.get("RequestInterval") or 30),
        failures=int(config.get("FailureThreshold") or 3),
        sni=bool(config.get("EnableSNI")) if ctype.startswith("HTTPS") else False,
        inverted=inverted,
        disabled=disabled,
    )
