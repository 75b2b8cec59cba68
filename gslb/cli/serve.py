"""``gslb serve``: run the authoritative server."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gslb.dns.server import Limits, Listener
from gslb.errors import GslbError


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help="serve the zones over UDP and TCP", description=__doc__
    )
    p.add_argument(
        "--zones",
        action="append",
        metavar="PATH",
        help="zone file or directory of *.yaml (repeatable; default: zones)",
    )
    p.add_argument(
        "--dns",
        action="append",
        metavar="HOST:PORT",
        help="UDP+TCP listener (repeatable; default: 127.0.0.1:5353 and [::1]:5353)",
    )
    p.add_argument("--http", metavar="HOST:PORT", help="status API (off unless given)")
    p.add_argument(
        "--geoip",
        default="data/dbip-city-lite.mmdb",
        metavar="PATH",
        help="MaxMind-format City or Country database (default: the bundled DB-IP Lite)",
    )
    p.add_argument("--workers", type=int, default=1, help="SO_REUSEPORT processes (default 1)")
    p.add_argument("--server-id", metavar="TEXT", help="answer CHAOS id.server/hostname.bind")
    p.add_argument("--server-version", metavar="TEXT", help="answer CHAOS version.bind")
    p.add_argument("--tcp-idle", type=float, default=10.0, help="TCP idle timeout, seconds")
    p.add_argument("--tcp-connections", type=int, default=512, help="TCP connection limit")
    p.add_argument(
        "--udp-io",
        choices=("batch", "asyncio"),
        default="batch",
        help="UDP I/O: batch = recvmmsg/sendmmsg thread per socket, Linux only, asyncio "
        "elsewhere; asyncio = one datagram per event (default batch)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gslb.live.runtime import Settings, serve

    try:
        listeners = tuple(Listener.parse(d) for d in args.dns or ["127.0.0.1:5353", "[::1]:5353"])
        http = Listener.parse(args.http) if args.http else None
    except ValueError as e:
        print(f"gslb serve: {e}", file=sys.stderr)
        return 2
    chaos: dict[str, str] = {}
    if args.server_id:
        chaos["id.server."] = chaos["hostname.bind."] = args.server_id
    if args.server_version:
        chaos["version.bind."] = chaos["version.server."] = args.server_version
    settings = Settings(
        zones=tuple(args.zones or ["zones"]),
        geoip=args.geoip,
        listeners=listeners,
        http=http,
        chaos=chaos,
        limits=Limits(tcp_idle=args.tcp_idle, tcp_connections=args.tcp_connections),
        workers=args.workers,
        udp_io=args.udp_io,
    )
    try:
        return serve(settings)
    except GslbError as e:
        print(f"gslb serve: refusing to start:\n{e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"gslb serve: cannot listen: {e}", file=sys.stderr)
        return 1
