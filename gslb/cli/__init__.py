"""The ``gslb`` command line: the only place that prints.

Each sub-command lives in its own module exposing ``register(subparsers)``; the
order below is the order ``gslb --help`` lists them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from gslb import __version__
from gslb.cli.options import add_common

COMMANDS = ("serve", "check", "resolve", "admin", "geoip", "geodb", "sync", "demo-backend")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gslb", description="Global server load balancer: an authoritative Geo-DNS server."
    )
    parser.add_argument("--version", action="version", version=f"gslb {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="{" + ",".join(COMMANDS) + "}")
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(f"gslb.cli.{name.replace('-', '_')}").register(sub)
    add_common(parser)  # -v and friends before or after any sub-command
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    rc: int = args.func(args)
    return rc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
