"""``gslb sync``: mirror the zones' policy into Route 53, planned first, applied on request.

A dry run (the default) prints the plan: every record set and health check to create,
update or delete, old → new. ``--apply`` runs it: health checks first, record changes
in as few batches as Route 53 allows, stale health checks last, progress on stderr.
Only what carries this owner's mark is read, changed or deleted. ``--verify`` compares,
offline, how Route 53 would answer the records with gslb's own answers.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

from gslb import defaults
from gslb.config import load_zones
from gslb.errors import ConfigError, GslbError
from gslb.geo.database import GeoDatabase
from gslb.model import Zone
from gslb.sync.desired import Desired, Options, build
from gslb.sync.plan import Change, Plan, make_plan
from gslb.sync.records import CheckSpec, Notice, RecordSet, norm_name, valid_owner
from gslb.sync.route53 import ApplyError, Route53, SyncError, connect
from gslb.sync.verify import Report, sample_clients, verify

PROG = "gslb sync"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "sync",
        help="mirror the policy into AWS Route 53 (dry run unless --apply)",
        description=__doc__,
    )
    p.add_argument(
        "--zones",
        action="append",
        metavar="PATH",
        help=f"zone file or directory (default {defaults.ZONES})",
    )
    p.add_argument(
        "--zone", metavar="NAME", help="only this zone (default: every zone with something to sync)"
    )
    p.add_argument(
        "--hosted-zone-id",
        metavar="ID",
        help="the hosted zone to write (default: the public one named like the zone)",
    )
    p.add_argument("--apply", action="store_true", help="apply the plan (default: print it only)")
    p.add_argument("--force", action="store_true", help="apply even above --max-change")
    p.add_argument(
        "--max-change", type=float, default=30.0, metavar="PERCENT",
        help="refuse to update or delete more than this share of our records (default 30)",
    )  # fmt: skip
    p.add_argument(
        "--strict", action="store_true", help="treat what Route 53 cannot express as errors"
    )
    p.add_argument(
        "--static", action="store_true", help="the zone's static records too (apex SOA/NS excepted)"
    )
    p.add_argument(
        "--skip-unmapped",
        action="store_true",
        help="leave out regions without aws-region (else an error)",
    )
    p.add_argument(
        "--owner-id", default="default", metavar="ID",
        help="whose records these are; deployments can share a hosted zone (default 'default')",
    )  # fmt: skip
    p.add_argument(
        "--profile", metavar="NAME", help="AWS profile (default: the standard credential chain)"
    )
    p.add_argument(
        "--endpoint-url", metavar="URL", help="Route 53 endpoint (for testing against moto)"
    )
    p.add_argument(
        "--json", action="store_true", help='print {"changes": [...], "warnings": [...]}'
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="simulate Route 53's answers and compare with gslb (offline)",
    )
    p.add_argument(
        "--geoip", default=defaults.GEOIP, metavar="PATH", help="geo database for --verify"
    )
    p.add_argument(
        "--samples",
        type=int,
        default=50,
        metavar="N",
        help="--verify clients per continent (default 50)",
    )
    p.add_argument("--seed", type=int, default=1, help="--verify sampling seed (default 1)")
    p.set_defaults(func=run)


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def _notices(title: str, items: list[tuple[str, Notice]]) -> list[str]:
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


def _verify(args: argparse.Namespace, zones: list[Zone], wanted: list[Desired]) -> int:
    try:
        geo = GeoDatabase.open(args.geoip)
    except GslbError as exc:
        _err(str(exc))
        return 1
    names = [n for d in wanted for z in zones if z.origin == d.zone for n in z.gslb.values()]
    matches = [
        m for n in names for m in [*(f.match for f in n.fences), *(r.match for r in n.rules)]
    ]
    countries = sorted({c for m in matches for c in m.countries})
    try:
        samples = sample_clients(
            geo.lookup, per_continent=args.samples, countries=countries, seed=args.seed
        )
        report = verify(zones, wanted, geo, samples, countries)
    finally:
        geo.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print("\n".join(verify_text(report, str(geo.path))))
    return 1 if report.leaks else 0


# --------------------------------------------------------------------------- run


def _select(args: argparse.Namespace) -> list[Zone] | int:
    try:
        zones = list(load_zones(args.zones or [defaults.ZONES]))
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    if args.zone:
        origin = norm_name(args.zone)
        zones = [z for z in zones if z.origin == origin]
        if not zones:
            _err(f"no zone {origin} in {', '.join(args.zones or [defaults.ZONES])}")
            return 2
    elif args.hosted_zone_id and len(zones) > 1:
        _err("--hosted-zone-id names one hosted zone: choose its zone with --zone")
        return 2
    return zones


def run(args: argparse.Namespace) -> int:
    logging.getLogger("botocore").setLevel(logging.WARNING)  # "found credentials in ..."
    if not valid_owner(args.owner_id):
        _err(f"--owner-id '{args.owner_id}': use up to 24 of a-z, 0-9 and '-'")
        return 2
    selected = _select(args)
    if isinstance(selected, int):
        return selected
    options = Options(owner=args.owner_id, static=args.static, skip_unmapped=args.skip_unmapped)
    wanted = []
    for zone in selected:
        if not (zone.gslb or args.static or args.zone):
            print(
                f"{PROG}: {zone.origin}: no GSLB names, skipped (--static syncs its records)",
                file=sys.stderr,
            )
            continue
        wanted.append(build(zone, options))
    errors = [(d.zone, e) for d in wanted for e in d.errors]
    warnings = [(d.zone, w) for d in wanted for w in d.warnings]
    if errors or (args.strict and warnings):
        lines = _notices("errors", errors) + (
            _notices("errors (--strict)", warnings) if args.strict else []
        )
        print("\n".join(lines), file=sys.stderr)
        return 1
    if args.verify:
        return _verify(args, selected, wanted)
    try:
        r53 = Route53(
            connect(args.profile, args.endpoint_url), progress=lambda m: print(m, file=sys.stderr)
        )
        targets = []
        for desired in wanted:
            hosted = r53.find_zone(desired.zone, args.hosted_zone_id)
            targets.append((make_plan(desired, r53.read(hosted, args.owner_id)), hosted.describe()))
    except SyncError as exc:
        _err(str(exc))
        return 1
    return _report_and_apply(args, r53, targets)


def _report_and_apply(
    args: argparse.Namespace, r53: Route53, targets: list[tuple[Plan, str]]
) -> int:
    plans = [p for p, _ in targets]
    errors = [(p.zone, e) for p in plans for e in p.errors]
    warnings = [(p.zone, w) for p in plans for w in p.warnings]
    if args.json:
        out = {
            "changes": [c.as_dict(p.zone) for p in plans for c in p.changes],
            "warnings": [
                {"zone": z, "code": w.code, "subject": w.subject, "message": w.message}
                for z, w in warnings
            ],
        }
        if errors:
            out["errors"] = [
                {"zone": z, "code": e.code, "subject": e.subject, "message": e.message}
                for z, e in errors
            ]
        print(json.dumps(out, indent=2))
    else:
        lines = [line for p, where in targets for line in plan_text(p, where)]
        print("\n".join(lines + _notices("warnings", warnings) + _notices("errors", errors)))
    if errors or (args.strict and warnings):
        _err("not applied: " + ("errors above" if errors else "--strict and warnings above"))
        return 1
    if not args.apply:
        return 0
    refusals = [m for p in plans if (m := p.over_threshold(args.max_change)) is not None]
    if refusals and not args.force:
        for message in refusals:
            _err(f"refusing: {message}")
        return 1
    for plan in plans:
        if not plan.changes:
            continue
        try:
            applied = r53.apply(plan)
        except ApplyError as exc:
            lines = [f"{PROG}: {exc}", f"applied before the failure ({len(exc.applied)} steps):"]
            lines += [f"  {s}" for s in exc.applied] or ["  nothing"]
            lines += [f"not applied: {exc.failed}"] + [f"  {s}" for s in exc.pending]
            lines.append("run gslb sync again: it plans what is missing and converges")
            print("\n".join(lines), file=sys.stderr)
            return 1
        except SyncError as exc:
            _err(str(exc))
            return 1
        steps = "step" if len(applied) == 1 else "steps"
        print(f"{PROG}: {plan.zone}: applied {len(applied)} {steps}", file=sys.stderr)
    return 0
