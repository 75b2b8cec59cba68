"""``gslb serve``: run the authoritative server."""

from __future__ import annotations

import argparse
import contextlib
import sys
from typing import Any

from gslb import defaults
from gslb.dns.server import Limits
from gslb.errors import GslbError
from gslb.model import HostPort


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help="serve the zones over UDP and TCP", description=__doc__
    )
    p.add_argument(
        "--zones",
        action="append",
        metavar="PATH",
        help=f"zone file or directory of *.yaml (repeatable; default: {defaults.ZONES})",
    )
    p.add_argument(
        "--dns",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="UDP+TCP listener (repeatable; default: "
        + " and ".join(str(h) for h in defaults.DNS_LISTENERS)
        + ")",
    )
    p.add_argument("--http", metavar="HOST:PORT", help="status API (off unless given)")
    p.add_argument(
        "--geoip",
        default=defaults.GEOIP,
        metavar="PATH",
        help="MaxMind-format City or Country database (default: the bundled DB-IP Lite)",
    )
    p.add_argument(
        "--geoip-poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how often to check the database file for a replacement (default 5)",
    )
    p.add_argument("--workers", type=int, default=1, help="SO_REUSEPORT processes (default 1)")
    p.add_argument("--server-id", metavar="TEXT", help="answer CHAOS id.server/hostname.bind")
    p.add_argument("--server-version", metavar="TEXT", help="answer CHAOS version.bind")
    d = Limits()
    for flag, kind, default, help_text in (
        ("--tcp-idle", float, d.tcp_idle, "seconds a TCP connection may wait between messages"),
        ("--tcp-message", float, d.tcp_message,
         "seconds from a TCP message's first byte to its last; partial bytes do not extend it"),
        ("--tcp-connections", int, d.tcp_connections,
         "TCP connections in total; when full the oldest idle one is closed"),
        ("--tcp-per-client", int, d.tcp_per_client, "TCP connections per IPv4 address or IPv6 /64"),
        ("--tcp-queries", int, d.tcp_queries, "queries per TCP connection before it is closed"),
        ("--rrl-rate", int, d.rrl_rate,
         "UDP replies per second per client /24 (IPv6 /56) and answer class; 0 = no RRL"),
        ("--rrl-window", float, d.rrl_window, "seconds of debt a flood runs up before credit"),
        ("--rrl-slip", int, d.rrl_slip,
         "every Nth rate-limited reply is sent truncated (TC) instead of dropped; 0 = none"),
    ):  # fmt: skip
        metavar = "SECONDS" if kind is float else "N"
        p.add_argument(flag, type=kind, default=default, metavar=metavar,
                       help=f"{help_text} (default {default:g})")  # fmt: skip
    p.add_argument(
        "--state",
        metavar="FILE",
        help="where operator overrides and pushed load persist across restarts (default: "
        ".gslb-state.json beside the zones; '' to keep nothing)",
    )
    p.add_argument(
        "--token-file",
        metavar="FILE",
        help="bearer token the HTTP API's write endpoints require (needed for them on a "
        "non-loopback --http address)",
    )
    p.add_argument(
        "--watch",
        type=float,
        nargs="?",
        const=2.0,
        default=0.0,
        metavar="SECONDS",
        help="reload when a zone file changes, checking every SECONDS (default 2)",
    )
    p.add_argument(
        "--log-format", choices=("text", "json"), default="text", help="log lines (default text)"
    )
    p.add_argument(
        "--query-log",
        type=float,
        default=0.0,
        metavar="RATE",
        help="log this share of queries (0..1; default 0); clients as their /24 or /48",
    )
    p.add_argument("--query-log-full-ip", action="store_true", help="log whole client addresses")
    p.add_argument(
        "--drop-removed-zones",
        action="store_true",
        help="on reload, stop serving a zone whose file is gone (default: keep serving it "
        "and log an error)",
    )
    p.add_argument(
        "--load-max-age",
        type=float,
        default=300.0,
        metavar="SECONDS",
        help="a pushed load reading older than this is stale and ignored (default 300)",
    )
    p.add_argument(
        "--udp-io",
        choices=("batch", "asyncio"),
        default="batch",
        help="UDP I/O: batch = recvmmsg/sendmmsg thread per socket, Linux only, asyncio "
        "elsewhere; asyncio = one datagram per event (default batch)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from gslb.live.logs import setup
    from gslb.live.settings import Settings
    from gslb.live.supervisor import serve

    try:
        listeners = tuple(HostPort.parse(d) for d in args.dns) or defaults.DNS_LISTENERS
        http = HostPort.parse(args.http) if args.http else None
        if args.rrl_rate < 0 or args.rrl_window <= 0 or args.rrl_slip < 0:
            raise ValueError("--rrl-rate and --rrl-slip must be >= 0, --rrl-window > 0")
        if not 0 <= args.query_log <= 1:
            raise ValueError("--query-log must be a share between 0 and 1")
        if args.workers < 1:
            raise ValueError("--workers must be at least 1")
    except ValueError as e:
        print(f"gslb serve: {e}", file=sys.stderr)
        return 2
    chaos: dict[str, str] = {}
    if args.server_id:
        chaos["id.server."] = chaos["hostname.bind."] = args.server_id
    if args.server_version:
        chaos["version.bind."] = chaos["version.server."] = args.server_version
    zones = tuple(args.zones or [defaults.ZONES])
    state = args.state
    if state is None:
        default = defaults.state_file(zones)
        with contextlib.suppress(OSError):  # a cache directory not made yet; else said later
            default.parent.mkdir(parents=True, exist_ok=True)
        state = str(default)
    setup(args.log_format, verbose=args.verbose)
    settings = Settings(
        zones=zones,
        geoip=args.geoip,
        listeners=listeners,
        http=http,
        chaos=chaos,
        limits=Limits(
            tcp_idle=args.tcp_idle,
            tcp_message=args.tcp_message,
            tcp_connections=args.tcp_connections,
            tcp_per_client=args.tcp_per_client,
            tcp_queries=args.tcp_queries,
            rrl_rate=args.rrl_rate,
            rrl_window=args.rrl_window,
            rrl_slip=args.rrl_slip,
        ),
        workers=args.workers,
        geoip_poll=args.geoip_poll,
        udp_io=args.udp_io,
        state=state or None,
        token_file=args.token_file,
        watch=args.watch,
        log_format=args.log_format,
        query_log=args.query_log,
        query_log_full_ip=args.query_log_full_ip,
        keep_removed_zones=not args.drop_removed_zones,
        load_max_age=args.load_max_age,
    )
    try:
        return serve(settings)
    except GslbError as e:
        print(f"gslb serve: refusing to start:\n{e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"gslb serve: cannot listen: {e}", file=sys.stderr)
        return 1
