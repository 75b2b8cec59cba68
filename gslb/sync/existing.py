"""What a hosted zone holds, sorted into ours and not ours. Pure.

:mod:`gslb.sync.route53` reads the raw record sets and health checks; this module
decides, from our marks alone (:mod:`gslb.sync.records`), which are ours under one
owner id. Everything else is *foreign*: it never appears in a plan, and a desired
record that would collide with it is a conflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gslb.sync.records import CheckSpec, RecordSet, owner_prefix, parse_claim
from gslb.sync.shapes import check_from_api, record_from_api

__all__ = ["Existing", "ExistingCheck", "Observed", "observe"]

#: Tags on our health checks (the CallerReference prefix says whose they are).
TAG_OWNER = "gslb-owner"
TAG_ZONE = "gslb-zone"
TAG_KEY = "gslb-key"


@dataclass(frozen=True, slots=True)
class Observed:
    """One of our record sets: normalised, and exactly as read (DELETE must match it)."""

    record: RecordSet
    raw: Mapping[str, Any] = field(compare=False, hash=False)


@dataclass(frozen=True, slots=True)
class ExistingCheck:
    id: str
    spec: CheckSpec  # key "" when the check lost its tags (never planned as kept)


@dataclass(frozen=True, slots=True)
class Existing:
    """Our part of one hosted zone (and our health checks for that zone)."""

    hosted_zone_id: str
    records: tuple[Observed, ...]  # ours: routed, claims and claimed plain record sets
    #: every gslb claim in the zone: claimed name -> (owner, plain types)
    claims: Mapping[str, tuple[str, frozenset[str]]]
    #: (name, type) of every record set that is not ours
    foreign: frozenset[tuple[str, str]]
    checks: tuple[ExistingCheck, ...]

    @property
    def check_keys(self) -> dict[str, str]:
        return {c.id: c.spec.key for c in self.checks if c.spec.key}


def our_checks(
    raw_checks: Iterable[Mapping[str, Any]], owner: str, zone: str
) -> list[ExistingCheck]:
    """Our health checks for ``zone``: CallerReference prefix, then the zone tag.

    Each raw check is Route 53's ``HealthCheck`` with a ``Tags`` mapping added. One of
    ours that lost its tags (a create whose tagging failed) belongs to no zone: every
    zone's plan deletes it.
    """
    mine = [
        c for c in raw_checks if str(c.get("CallerReference", "")).startswith(owner_prefix(owner))
    ]
    wanted = [c for c in mine if c.get("Tags", {}).get(TAG_ZONE, zone) == zone]
    keys = {str(c["Id"]): str(c.get("Tags", {}).get(TAG_KEY, "")) for c in wanted}
    found = [
        ExistingCheck(
            str(c["Id"]), check_from_api(c["HealthCheckConfig"], keys[str(c["Id"])], zone, keys)
        )
        for c in wanted
    ]
    return sorted(found, key=lambda c: (c.spec.key, c.id))


def observe(
    hosted_zone_id: str,
    raw_records: Iterable[Mapping[str, Any]],
    raw_checks: Iterable[Mapping[str, Any]],
    owner: str,
    zone: str,
) -> Existing:
    """Sort a hosted zone's record sets and the account's health checks by ownership."""
    checks = our_checks(raw_checks, owner, zone)
    keys = {c.id: c.spec.key for c in checks if c.spec.key}
    records = [(record_from_api(raw, keys), raw) for raw in raw_records]
    claims: dict[str, tuple[str, frozenset[str]]] = {}
    for record, _ in records:
        claim = parse_claim(record)
        if claim is not None:
            claims[claim[0]] = (claim[1], claim[2])
    prefix = owner_prefix(owner)
    ours: list[Observed] = []
    foreign: set[tuple[str, str]] = set()
    for record, raw in records:
        if record.set_id:
            mine = record.set_id.startswith(prefix)
        else:
            claim = parse_claim(record)
            if claim is not None:
                mine = claim[1] == owner
            else:
                holder = claims.get(record.name)
                mine = holder is not None and holder[0] == owner and record.rtype in holder[1]
        if mine:
            ours.append(Observed(record, raw))
        else:
            foreign.add((record.name, record.rtype))
    return Existing(
        hosted_zone_id=hosted_zone_id,
        records=tuple(sorted(ours, key=lambda o: o.record.key)),
        claims=claims,
        foreign=frozenset(foreign),
        checks=tuple(checks),
    )
