"""`gslb check`: validate zone files the way the server will load them, without serving."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gslb import defaults
from gslb.config import load_zones
from gslb.errors import ConfigError, GslbError
from gslb.geo.coverage import unmatchable
from gslb.geo.database import GeoDatabase


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="validate zone files and report every problem",
        description="Load zone files (or directories of *.yaml) exactly as `gslb serve` does; "
        "print one line per zone, or every problem as file:line:col: reason. With the geo "
        "database, also report fences and rules that name data it does not have "
        "(subdivisions).",
    )
    p.add_argument(
        "paths",
        nargs="*",
        default=[defaults.ZONES],
        metavar="PATH",
        help=f"zone file or directory (default: {defaults.ZONES})",
    )
    p.add_argument(
        "--geoip",
        metavar="PATH",
        help="the geo database the server will use (default: the bundled one, if it opens)",
    )
    p.set_defaults(func=run)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def run(args: argparse.Namespace) -> int:
    try:
        zones = load_zones(args.paths)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        geo = GeoDatabase.open(args.geoip or defaults.GEOIP)
    except GslbError as exc:
        if args.geoip:
            print(f"gslb check: {exc}", file=sys.stderr)
            return 1
        print(f"gslb check: not checked against a geo database: {exc}", file=sys.stderr)
        missing: list[str] = []
    else:
        missing = unmatchable(zones, subdivisions=geo.subdivisions, database=str(geo.path))
        geo.close()
    for message in missing:
        print(message, file=sys.stderr)
    if missing:
        return 1
    for zone in zones:
        records = sum(len(rr.rdatas) for sets in zone.rrsets.values() for rr in sets.values())
        print(
            f"ok: {zone.origin} serial {zone.soa.serial}, {plural(records, 'record')}, "
            f"{plural(len(zone.gslb), 'gslb name')}"
        )
    return 0
