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
from typing import TYPE_CHECKING, Any

from gslb import defaults
from gslb.cli.synctext import notices_text, plan_text, verify_text
from gslb.config import load_zones
from gslb.errors import ConfigError, GslbError
from gslb.geo.database import GeoDatabase
from gslb.model import Zone
from gslb.sync.desired import Desired, Options, build
from gslb.sync.plan import Plan, make_plan
from gslb.sync.records import norm_name, valid_owner
from gslb.sync.verify import sample_clients, verify

if TYPE_CHECKING:  # boto3 is loaded only when Route 53 is called (every command builds
    from gslb.sync.route53 import Route53  # this module's parser, `gslb serve` too)

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
        lines = notices_text("errors", errors) + (
            notices_text("errors (--strict)", warnings) if args.strict else []
        )
        print("\n".join(lines), file=sys.stderr)
        return 1
    if args.verify:
        return _verify(args, selected, wanted)
    from gslb.sync.route53 import Route53, SyncError, connect

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
    from gslb.sync.route53 import ApplyError, SyncError

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
        lines += notices_text("warnings", warnings) + notices_text("errors", errors)
        print("\n".join(lines))
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
