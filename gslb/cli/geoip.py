"""`gslb geoip`: ask the geo database where an address is, as the server would."""

from __future__ import annotations

import argparse
import json
from ipaddress import ip_address
from typing import Any

from gslb import defaults
from gslb.errors import GslbError
from gslb.geo.database import GeoDatabase


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "geoip", help="look addresses up in the geo database"
    )
    cmds = p.add_subparsers(dest="geoip_command", metavar="{lookup}")
    cmds.required = True
    lk = cmds.add_parser(
        "lookup",
        help="where the server places an address (special blocks first, then the database)",
    )
    lk.add_argument("addresses", nargs="+", metavar="IP")
    lk.add_argument(
        "--geoip",
        default=defaults.GEOIP,
        metavar="PATH",
        help=f"MaxMind-format City or Country database (default {defaults.GEOIP}; "
        "its .xz beside it is unpacked on first use)",
    )
    lk.add_argument("--json", action="store_true", help="one JSON object per address")
    lk.set_defaults(func=run)


def _coords(info: dict[str, object]) -> str:
    lat, lon = info["latitude"], info["longitude"]
    if lat is None or lon is None:
        return "-"
    return f"{lat}, {lon}"


def run(args: argparse.Namespace) -> int:
    try:
        addresses = [ip_address(a) for a in args.addresses]
    except ValueError as e:
        print(f"gslb geoip: {e}")
        return 2
    try:
        db = GeoDatabase.open(args.geoip)
    except GslbError as e:
        print(f"gslb geoip: {e}")
        return 1
    try:
        for i, address in enumerate(addresses):
            info = db.describe(address)
            if args.json:
                print(json.dumps(info, sort_keys=True))
                continue
            if i:
                print()
            rows = (
                ("address", info["address"]),
                ("network", info["network"]),
                ("country", info["country"] or "-"),
                ("continent", info["continent"] or "-"),
                ("subdivision", info["subdivision"] or "-"),
                ("coordinates", _coords(info)),
                ("reason", info["reason"] or "-"),
                (
                    "database",
                    f"{info['database']} ({info['database_type']}, built {info['build_date']})",
                ),
            )
            for label, value in rows:
                print(f"{label:<12} {value}")
    finally:
        db.close()
    return 0
