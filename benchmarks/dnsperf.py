"""One dnsperf run against one server: the command per mix, its output, the server's CPU.

Every run is bounded: ``-l`` seconds for the looped mixes; ``-n 1`` (one pass over the
file) for ``new-networks``, with ``-l`` only as a safety cap; and a hard timeout.
"""

from __future__ import annotations

import logging
import re
import resource
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.servers import HOST, BenchFailure, Server, die_with_parent

log = logging.getLogger("bench")

MIXES = ("single", "world", "no-ecs", "new-networks")
#: Load shape of every run: 10 sockets, 100 outstanding queries, one thread.
LOAD = ("-c", "10", "-q", "100", "-T", "1")


@dataclass
class Run:
    """What one dnsperf run measured, and the server's CPU and peak RSS around it."""

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
    rss_mb: list[float] = field(default_factory=list)  # VmHWM per server process, after

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
    """Fill ``run`` from dnsperf's summary; ValueError when a required line is missing."""

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
    """The input of each mix; ``new_networks`` holds one file per run (never repeated)."""

    single: Path
    plain: Path
    world: Path
    single_ecs: str
    new_networks: tuple[Path, ...] = ()

    def args(self, mix: str, index: int, seconds: float, cap: float) -> list[str]:
        """dnsperf's input and length options for run ``index`` (0-based) of ``mix``."""
        if mix == "new-networks":
            return ["-B", "-d", str(self.new_networks[index]), "-n", "1", "-l", f"{cap:g}"]
        length = ["-l", f"{seconds:g}"]
        if mix == "single":
            return ["-d", str(self.single), "-E", f"8:{self.single_ecs}", *length]
        if mix == "world":
            return ["-B", "-d", str(self.world), *length]
        return ["-d", str(self.plain), *length]


def measure(
    server: Server,
    mixes: Mixes,
    mix: str,
    index: int,
    seconds: float,
    cap: float,
    rate: int | None = None,
    fraction: float | None = None,
) -> Run:
    """Run dnsperf once; ``cap`` bounds a ``new-networks`` pass, ``seconds`` the others."""
    argv = ["dnsperf", "-s", HOST, "-p", str(server.port), *LOAD]
    argv += mixes.args(mix, index, seconds, cap)
    if rate is not None:
        argv += ["-Q", str(rate)]
    run = Run(mix, server.name, server.workers, rate, fraction)
    if not server.alive():
        raise BenchFailure(f"{server.name} is no longer running:\n{server.tail()}")
    limit = cap if mix == "new-networks" else seconds
    server.reset_peak_rss()
    cpu0 = server.cpu_seconds()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=limit + 60, preexec_fn=die_with_parent
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchFailure(
            f"dnsperf did not finish in {limit + 60:g} s: {shlex.join(argv)}"
        ) from exc
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    run.server_cpu_s = server.cpu_seconds() - cpu0
    run.client_cpu_s = (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime)
    run.rss_mb = server.peak_rss_mb()
    if res.returncode != 0:
        raise BenchFailure(f"dnsperf failed ({res.returncode}): {shlex.join(argv)}\n{res.stderr}")
    parse_dnsperf(res.stdout, run)
    log.info(
        "%-12s %-5s w%d %-8s %9.0f q/s  %6.1f us/q  srv %5.1f%%  avg %.3f ms  max %.1f ms  "
        "lost %d  rss %s MB",
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
        "/".join(f"{x:.0f}" for x in run.rss_mb),
    )
    return run
