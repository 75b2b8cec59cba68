"""Desired vs existing → a plan: sorted Create/Update/Delete values. Pure.

A plan is a value: the dry run prints it, ``--json`` serialises it, ``--apply`` runs
:func:`steps` of it. Only what carries our mark is compared (:mod:`gslb.sync.existing`);
foreign record sets never appear, and a desired record that would collide with one is a
conflict (an error for GSLB names, a warning and a skip for ``--static`` records).

Without ``--static``, plain record sets are out of scope: what an earlier ``--static``
run wrote is neither kept up to date nor deleted, and its claims keep their types.

Apply order (:func:`steps`): health checks are created and updated first (endpoint
checks before the CALCULATED checks over them), then record changes in as few
``ChangeBatch`` requests as the limits allow, then stale health checks are deleted
(CALCULATED first). Record changes are grouped by name and type (a group stays in one
batch when it fits, so a name never shows half a routing policy); groups that create
or update go first, targets before the aliases that point at them, then delete-only
groups, aliases before their targets. Claims are created first and deleted last.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gslb.sync.desired import Desired
from gslb.sync.existing import Existing
from gslb.sync.records import (
    CLAIM_LABEL,
    CheckSpec,
    Notice,
    RecordSet,
    claim_name,
    claim_record,
)

__all__ = ["Change", "Limits", "Plan", "Step", "make_plan", "record_batches", "steps"]

Action = Literal["create", "update", "delete"]
_ACTIONS = {"delete": 0, "create": 1, "update": 2}


@dataclass(frozen=True, slots=True)
class Change:
    action: Action
    old: RecordSet | CheckSpec | None = None
    new: RecordSet | CheckSpec | None = None
    check_id: str = ""  # the existing health check updated or deleted
    raw: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    note: str = ""

    @property
    def item(self) -> RecordSet | CheckSpec:
        found = self.new if self.new is not None else self.old
        assert found is not None
        return found

    @property
    def kind(self) -> str:
        return "check" if isinstance(self.item, CheckSpec) else "record"

    @property
    def sort_key(self) -> tuple[object, ...]:
        item = self.item
        if isinstance(item, CheckSpec):
            return (0, item.key, "", "", _ACTIONS[self.action], self.check_id)
        return (1, item.name, item.rtype, item.set_id, _ACTIONS[self.action], "")

    def as_dict(self, zone: str) -> dict[str, Any]:
        out: dict[str, Any] = {"zone": zone, "action": self.action, "kind": self.kind}
        item = self.item
        if isinstance(item, RecordSet):
            out.update(name=item.name, type=item.rtype, set_id=item.set_id or None)
        else:
            out.update(key=item.key, id=self.check_id or None)
        out["old"] = None if self.old is None else self.old.as_dict()
        out["new"] = None if self.new is None else self.new.as_dict()
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True, slots=True)
class Plan:
    zone: str
    hosted_zone_id: str
    owner: str
    changes: tuple[Change, ...]
    warnings: tuple[Notice, ...]
    errors: tuple[Notice, ...]
    owned: int  # our record sets in scope before the plan
    depth: Mapping[tuple[str, str], int] = field(default_factory=dict, compare=False)
    #: our existing checks by key: what unchanged records and CALCULATED checks point at
    check_ids: Mapping[str, str] = field(default_factory=dict, compare=False)

    def count(self, action: Action, kind: str = "record") -> int:
        return sum(1 for c in self.changes if c.action == action and c.kind == kind)

    def over_threshold(self, percent: float) -> str | None:
        """Why the plan must not run without --force, or None: it updates or deletes more
        than ``percent`` % of the record sets we own here."""
        touched = self.count("update") + self.count("delete")
        if not self.owned or touched * 100 <= percent * self.owned:
            return None
        share = touched * 100 / self.owned
        return (
            f"{self.zone}: the plan updates or deletes {touched} of our {self.owned} record sets "
            f"({share:.0f}% > {percent:g}%); check it, then run again with --force "
            "(or raise --max-change)"
        )


def make_plan(desired: Desired, existing: Existing) -> Plan:
    """Everything that must change so the hosted zone holds ``desired`` (and no more of ours)."""
    warnings = set(desired.warnings)
    errors = set(desired.errors)
    changes, replaced = _check_changes(desired, existing)

    # claims: who else claims our names, and what a run without --static keeps
    ours = {n: types for n, (who, types) in existing.claims.items() if who == desired.owner}
    wanted: dict[str, frozenset[str]] = dict(desired.claims)
    if not desired.static:
        wanted = {n: ours.get(n, frozenset()) for n in wanted}
        wanted.update((n, t) for n, t in ours.items() if t and n not in wanted)
    foreign_names = {n for n, _ in existing.foreign}
    for name in sorted(wanted):
        holder = existing.claims.get(name)
        if holder is not None and holder[0] != desired.owner:
            errors.add(
                Notice(
                    "conflict",
                    name,
                    f"claimed by gslb owner '{holder[0]}' (its TXT at {claim_name(name)}): "
                    "not ours to change",
                )
            )
        elif holder is None and (claim_name(name), "TXT") in existing.foreign:
            errors.add(
                Notice(
                    "conflict",
                    claim_name(name),
                    "a TXT record set gslb sync needs for its claim exists and is not ours",
                )
            )

    def collides(record: RecordSet) -> bool:
        n, t = record.name, record.rtype
        return (
            (n, t) in existing.foreign
            or (n, "CNAME") in existing.foreign
            or (t == "CNAME" and n in foreign_names)
        )

    records: list[RecordSet] = []
    for record in desired.records:
        if not collides(record):
            records.append(record)
        elif record.set_id:
            errors.add(
                Notice(
                    "conflict",
                    record.name,
                    f"a {record.rtype} or CNAME record set that is not ours exists here; "
                    "delete it or pick another name",
                )
            )
        else:
            warnings.add(
                Notice(
                    "conflict",
                    record.name,
                    f"{record.rtype}: a record set that is not ours exists here: left alone",
                )
            )
            wanted[record.name] = wanted.get(record.name, frozenset()) - {record.rtype}
    records += [claim_record(n, desired.owner, t) for n, t in wanted.items()]

    def in_scope(record: RecordSet) -> bool:
        return bool(record.set_id) or desired.static or record.name.startswith(CLAIM_LABEL + ".")

    want = {r.key: r for r in records}
    have = {o.record.key: o for o in existing.records if in_scope(o.record)}
    owned = len(have)
    for key, record in want.items():
        found = have.pop(key, None)
        if found is None:
            changes.append(Change("create", new=record))
        elif found.record != record:
            changes.append(Change("update", old=found.record, new=record, raw=found.raw))
        elif record.health in replaced:
            changes.append(
                Change(
                    "update",
                    old=found.record,
                    new=record,
                    raw=found.raw,
                    note="health check replaced",
                )
            )
    for found in have.values():
        changes.append(Change("delete", old=found.record, raw=found.raw))
    return Plan(
        zone=desired.zone,
        hosted_zone_id=existing.hosted_zone_id,
        owner=desired.owner,
        changes=tuple(sorted(changes, key=lambda c: c.sort_key)),
        warnings=tuple(sorted(warnings)),
        errors=tuple(sorted(errors)),
        owned=owned,
        depth=_depths([*want.values(), *(o.record for o in existing.records)]),
        check_ids={k: i for i, k in reversed(list(existing.check_keys.items()))},
    )


def _check_changes(desired: Desired, existing: Existing) -> tuple[list[Change], set[str]]:
    """Health check changes, and the keys whose check is replaced (a new id)."""
    changes: list[Change] = []
    have: dict[str, Any] = {}
    stale = []
    for check in existing.checks:
        if check.spec.key and check.spec.key not in have:
            have[check.spec.key] = check
        else:
            stale.append(check)
    replaced: set[str] = set()
    kept: list[CheckSpec] = []
    for spec in desired.checks:
        old = have.pop(spec.key, None)
        if old is None:
            changes.append(Change("create", new=spec))
        elif old.spec == spec:
            kept.append(spec)
        elif spec.replaces(old.spec):
            replaced.add(spec.key)
            changes.append(Change("create", new=spec, note=f"replaces {old.id}"))
            changes.append(Change("delete", old=old.spec, check_id=old.id, note="replaced"))
        else:
            changes.append(Change("update", old=old.spec, new=spec, check_id=old.id))
    for spec in kept:  # a CALCULATED check whose child gets a new id must follow it
        if replaced & set(spec.children):
            old_id = next(c.id for c in existing.checks if c.spec.key == spec.key)
            changes.append(
                Change("update", old=spec, new=spec, check_id=old_id, note="child check replaced")
            )
    for check in [*have.values(), *stale]:
        changes.append(Change("delete", old=check.spec, check_id=check.id))
    return changes, replaced


def _depths(records: Iterable[RecordSet]) -> dict[tuple[str, str], int]:
    """How many alias hops below each (name, type) lie: targets 0, claims -1."""
    targets: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for r in records:
        targets[(r.name, r.rtype)]
        if r.alias is not None:
            targets[(r.name, r.rtype)].add((r.alias, r.rtype))
    out: dict[tuple[str, str], int] = {}

    def depth(key: tuple[str, str], seen: frozenset[tuple[str, str]]) -> int:
        if key in out:
            return out[key]
        below = [depth(t, seen | {key}) for t in targets.get(key, ()) if t not in seen]
        out[key] = 1 + max(below) if below else 0
        return out[key]

    for key in targets:
        depth(key, frozenset())
        if key[0].startswith(CLAIM_LABEL + ".") and key[1] == "TXT":
            out[key] = -1
    return out


# --------------------------------------------------------------------------- apply order


@dataclass(frozen=True, slots=True)
class Limits:
    """Route 53's ChangeResourceRecordSets limits (an UPSERT counts twice)."""

    records: int = 1000
    chars: int = 32000


@dataclass(frozen=True, slots=True)
class Step:
    what: Literal["create-check", "update-check", "delete-check", "records"]
    changes: tuple[Change, ...]

    def describe(self) -> str:
        if self.what == "records":
            counts = {a: sum(1 for c in self.changes if c.action == a) for a in _ACTIONS}
            shown = ", ".join(f"{n} {a}" for a, n in counts.items() if n)
            return f"record batch of {len(self.changes)} changes ({shown})"
        spec = self.changes[0].item
        assert isinstance(spec, CheckSpec)
        verb = self.what.split("-")[0]
        ident = f" {self.changes[0].check_id}" if self.changes[0].check_id else ""
        return f"{verb} health check {spec.key}{ident}"


def _cost(change: Change) -> tuple[int, int]:
    """(resource records, characters of values) one change counts against the limits."""
    if change.action == "delete" and change.raw is not None:
        values = [str(v.get("Value", "")) for v in change.raw.get("ResourceRecords", ())]
    else:
        item = change.item
        assert isinstance(item, RecordSet)
        values = list(item.values)
    weight = 2 if change.action == "update" else 1
    return weight * max(1, len(values)), weight * sum(len(v) for v in values)


def record_batches(
    changes: Sequence[Change], depth: Mapping[tuple[str, str], int], limits: Limits = Limits()
) -> list[tuple[Change, ...]]:
    """Record changes in apply order, packed into as few batches as the limits allow."""
    groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
    for change in changes:
        item = change.item
        if isinstance(item, RecordSet):
            groups[(item.name, item.rtype)].append(change)
    first = sorted(
        (g for g, cs in groups.items() if any(c.action != "delete" for c in cs)),
        key=lambda g: (depth.get(g, 0), g),
    )
    last = sorted(
        (g for g, cs in groups.items() if all(c.action == "delete" for c in cs)),
        key=lambda g: (-depth.get(g, 0), g),
    )
    batches: list[tuple[Change, ...]] = []
    current: list[Change] = []
    used = [0, 0]

    def flush() -> None:
        if current:
            batches.append(tuple(current))
            current.clear()
            used[:] = [0, 0]

    for group in [*first, *last]:
        ordered = sorted(groups[group], key=lambda c: (_ACTIONS[c.action], c.sort_key))
        costs = [_cost(c) for c in ordered]
        size = (sum(n for n, _ in costs), sum(ch for _, ch in costs))
        if used[0] + size[0] > limits.records or used[1] + size[1] > limits.chars:
            flush()
        for change, (n, ch) in zip(ordered, costs, strict=True):
            if used[0] + n > limits.records or used[1] + ch > limits.chars:
                flush()
            current.append(change)
            used[0] += n
            used[1] += ch
    flush()
    return batches


def steps(plan: Plan, limits: Limits = Limits()) -> tuple[Step, ...]:
    """The plan in the order it is applied."""
    checks = [c for c in plan.changes if c.kind == "check"]

    def calculated(c: Change) -> bool:
        item = c.item
        return isinstance(item, CheckSpec) and item.type == "CALCULATED"

    out: list[Step] = []
    out += [
        Step("create-check", (c,)) for c in sorted(checks, key=calculated) if c.action == "create"
    ]
    out += [Step("update-check", (c,)) for c in checks if c.action == "update"]
    out += [Step("records", b) for b in record_batches(plan.changes, plan.depth, limits)]
    deletes = [c for c in checks if c.action == "delete"]
    out += [Step("delete-check", (c,)) for c in sorted(deletes, key=lambda c: not calculated(c))]
    return tuple(out)
