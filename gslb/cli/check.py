"""`gslb check`: validate zone files the way the server will load them, without serving."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gslb import defaults
from gslb.config import load_zones
from gslb.errors import ConfigError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "check",
        help="validate zone files and report every problem",
        description="Load zone files (or directories of *.yaml) exactly as `gslb serve` does; "
        "print one line per zone, or every problem as file:line:col: reason.",
    )
    p.add_argument(
        "paths",
        nargs="*",
        default=[defaults.ZONES],
        metavar="PATH",
        help=f"zone file or directory (default: {defaults.ZONES})",
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
    for zone in zones:
        records = sum(len(rr.rdatas) for sets in zone.rrsets.values() for rr in sets.values())
        print(
            f"ok: {zone.origin} serial {zone.soa.serial}, {plural(records, 'record')}, "
            f"{plural(len(zone.gslb), 'gslb name')}"
        )
    return 0
