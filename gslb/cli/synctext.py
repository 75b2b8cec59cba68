"""How ``gslb sync``'s plans, notices and ``--verify`` reports look as text.

Pure formatting (lists of lines); :mod:`gslb.cli.sync` prints them.
"""

from __future__ import annotations

from gslb.sync.plan import Change, Plan
from gslb.sync.records import CheckSpec, Notice, RecordSet
from gslb.sync.verify import Report

__all__ = ["notices_text", "plan_text", "verify_text"]


def notices_text(title: str, items: list[tuple[str, Notice]]) -> list[str]:
    """One line per distinct reason; the subjects it applies to share it."""
    if not items:
        return []
    subjects: dict[tuple[str, str], list[str]] = {}
    for _, n in items:
        subjects.setdefault((n.code, n.message), []).append(n.subject)
    width = max(len(code) for code, _ in subjects)
    lines = [f"{title} ({len(subjects)}):"]
    lines += [
        f"  {code:<{width}}  {', '.join(who)}: {why}" for (code, why), who in subjects.items()
    ]
    return lines


# --------------------------------------------------------------------------- the plan table


def _short_id(set_id: str) -> str:
    parts = set_id.split(":")
    return parts[2] if len(parts) == 4 else set_id


def _diff(old: RecordSet | CheckSpec, new: RecordSet | CheckSpec) -> str:
    """Only what changes, old → new."""
    if (
        isinstance(old, CheckSpec)
        or isinstance(new, CheckSpec)
        or old.alias is not None
        or new.alias is not None
    ):
        return f"{old.describe()} → {new.describe()}"
    parts = []
    if old.values != new.values:
        parts.append(f"{' '.join(old.values)} → {' '.join(new.values)}")
    for label, a, b in (
        ("ttl", old.ttl, new.ttl),
        ("region", old.region, new.region),
        ("geo", old.geo, new.geo),
        ("failover", old.failover, new.failover),
        ("check", old.health, new.health),
    ):
        if a != b:
            parts.append(f"{label} {a} → {b}")
    return "; ".join(parts) or new.describe()


def _row(change: Change) -> tuple[str, str, str, str, str]:
    item = change.item
    if change.action == "update" and change.old is not None and change.new is not None:
        text = _diff(change.old, change.new)
    else:
        text = item.describe()
    if change.note:
        text += f" ({change.note})"
    if isinstance(item, CheckSpec):
        ident = change.check_id or "(new)"
        return (change.action, "check", item.key, "", f"{ident} {text}")
    return (
        change.action,
        "record",
        item.name,
        item.rtype,
        f"[{_short_id(item.set_id)}] {text}" if item.set_id else text,
    )


def _rows(changes: tuple[Change, ...]) -> list[tuple[str, str, str, str, str]]:
    """One row per change; geolocation aliases created or deleted together, to the same
    target, share one row listing their codes."""
    rows: list[tuple[str, str, str, str, str]] = []
    grouped: dict[tuple[str, str, str, str], list[str]] = {}
    for change in changes:
        item = change.item
        if (
            isinstance(item, RecordSet)
            and change.action != "update"
            and item.geo is not None
            and item.alias is not None
            and item.geo[0] != "default"
        ):
            key = (change.action, item.name, item.rtype, item.alias)
            if key not in grouped:
                grouped[key] = []
                rows.append(("", *key))  # placeholder, filled below
            grouped[key].append(item.geo[1])
        else:
            rows.append(_row(change))
    out = []
    for row in rows:
        if row[0]:
            out.append(row)
            continue
        action, name, rtype, alias = row[1:]
        codes = grouped[(action, name, rtype, alias)]
        out.append(
            (action, "record", name, rtype, f"[geo ×{len(codes)}] {' '.join(codes)}; alias {alias}")
        )
    return out


def plan_text(plan: Plan, where: str) -> list[str]:
    counts = ", ".join(
        f"{plan.count(a, 'record') + plan.count(a, 'check')} to {a}"
        for a in ("create", "update", "delete")
    )
    lines = [
        f"{plan.zone} → hosted zone {where}, owner {plan.owner}: {counts} "
        f"(we own {plan.owned} record sets here)"
    ]
    if not plan.changes:
        return [*lines, "  nothing to do"]
    rows = _rows(plan.changes)
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    lines += [
        f"  {a:<{w[0]}}  {k:<{w[1]}}  {n:<{w[2]}}  {t:<{w[3]}}  {x}" for a, k, n, t, x in rows
    ]
    return lines


# --------------------------------------------------------------------------- verify


def verify_text(report: Report, database: str) -> list[str]:
    continents = ", ".join(f"{c} {n}" for c, n in report.continents().items())
    lines = [
        f"verify: {len(report.samples)} located clients ({continents}), from {database}",
        "Route 53 simulated: geolocation, then latency as great-circle distance to each AWS",
        "region; a region that is down fails its health check",
    ]
    if report.unchecked:
        lines.append(
            f"  (no Route 53 health check yet for {', '.join(report.unchecked)}: "
            "Route 53 would keep answering them)"
        )
    if report.missing:
        lines.append(f"  (no client found in {', '.join(report.missing)}: not checked there)")
    if report.unknown_regions:
        lines.append(
            f"  (no coordinates for {', '.join(report.unknown_regions)}: "
            "located at the gslb region)"
        )
    lines.append("")
    width = max((len(o.name) for o in report.outcomes), default=4)
    swidth = max((len(o.scenario) for o in report.outcomes), default=8)
    lines.append(f"  {'name':<{width}}  {'scenario':<{swidth}}  agreement")
    for o in report.outcomes:
        share = 100.0 * o.agree / o.total if o.total else 100.0
        leaks = f", {o.leaks} FENCE LEAKS" if o.leaks else ""
        lines.append(
            f"  {o.name:<{width}}  {o.scenario:<{swidth}}  "
            f"{share:5.1f}% ({o.agree}/{o.total}){leaks}"
        )
    total = sum(o.total for o in report.outcomes)
    agree = sum(o.agree for o in report.outcomes)
    share = 100.0 * agree / total if total else 100.0
    lines.append(
        f"  overall: {share:.1f}% ({agree}/{total}); "
        f"fenced clients answered outside their fence: {report.leaks}"
    )
    causes = report.by_cause()
    if causes:
        lines.append("disagreements by cause:")
        for cause, items in causes.items():
            lines.append(f"  {cause}: {len(items)}")
            for d in items:
                lines.append(
                    f"    {d.scenario}: {d.name} {d.rtype} from {d.address} ({d.where}): "
                    f"gslb {d.gslb}, Route 53 {d.route53}"
                )
    return lines
