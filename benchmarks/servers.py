"""The servers under test: gslb and gdnsd as child processes on free high loopback ports.

Every server listens on 127.0.0.1 only, runs in its own session and dies with the
harness (``PR_SET_PDEATHSIG``). Stopping touches only the process we started and its
group. CPU time and peak RSS are read for the server's own processes (psutil, and
``VmHWM`` from ``/proc/PID/status``, reset before each run).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import gdnsd as gdnsd_config
from benchmarks import tools

log = logging.getLogger("bench")

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"


class BenchFailure(RuntimeError):
    """A target failed, exited or answered wrong: stop, keeping what was measured."""


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            port = int(u.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free port")


def die_with_parent() -> None:
    """In the child: SIGTERM when the harness dies, so no server outlives a killed run."""
    with contextlib.suppress(OSError, AttributeError):
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
            "starting %s (workers %d) on %s:%d: %s",
            self.name,
            self.workers,
            HOST,
            self.port,
            shlex.join(self.argv),
        )
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout: float) -> None:
        """Until the server answers an SOA query; BenchFailure if it exits or stays mute."""
        import dns.exception
        import dns.message
        import dns.query

        deadline = time.monotonic() + timeout
        q = dns.message.make_query("example.com.", "SOA")
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchFailure(f"{self.name} exited during startup:\n{self.tail()}")
            try:
                dns.query.udp(q, HOST, port=self.port, timeout=0.5)
                return
            except (OSError, dns.exception.Timeout):
                time.sleep(0.3)
        raise BenchFailure(f"{self.name} did not answer within {timeout:.0f}s:\n{self.tail()}")

    def tail(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def processes(self) -> list[Any]:
        """The server's process and every child (gslb's workers), as psutil processes."""
        import psutil

        if self.proc is None or not self.alive():
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

    def reset_peak_rss(self) -> None:
        """Start each process's peak RSS afresh from its current RSS (``clear_refs``
        5), so the next :meth:`peak_rss_mb` is the peak of what follows, not of start-up."""
        for p in self.processes():
            with contextlib.suppress(OSError):
                Path(f"/proc/{p.pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> list[float]:
        """Peak RSS (``VmHWM``) of each server process, in MB: since start, or since
        :meth:`reset_peak_rss`."""
        out = []
        for p in self.processes():
            with contextlib.suppress(OSError):
                status = Path(f"/proc/{p.pid}/status").read_text()
                m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.M)
                if m:
                    out.append(int(m.group(1)) / 1024)
        return out

    def stop(self) -> None:
        if self.proc is None or not self.alive():
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            log.warning("%s ignored SIGTERM; killing its process group", self.name)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def gdnsd_server(zone: Path, mmdb: Path, out: Path, workers: int) -> Server:
    """gdnsd with a generated config directory of its own: one loopback listener, private
    run and state directories, so a packaged gdnsd (``/etc/gdnsd``, port 53) never matters."""
    binary = tools.which("gdnsd")
    if binary is None:
        raise BenchFailure("gdnsd is not installed (rerun with --install)")
    port = free_port()
    directory = out / f"gdnsd-w{workers}"
    shutil.rmtree(directory, ignore_errors=True)
    gdnsd_config.write_config_dir(zone, mmdb, port, directory, threads=workers)
    check = subprocess.run(
        [binary, "-c", str(directory), "checkconf"], capture_output=True, text=True, timeout=120
    )
    if check.returncode != 0:
        raise BenchFailure(f"gdnsd checkconf failed for {directory}:\n{check.stderr}")
    argv = [binary, "-c", str(directory), "-f", "start"]
    return Server("gdnsd", workers, port, argv, out / f"gdnsd-w{workers}.log")


def gslb_server(zones: Path, mmdb: Path, out: Path, workers: int, cmd: str | None) -> Server:
    """``<cmd> serve`` on a free port; ``cmd`` defaults to ``python3 -m gslb`` from this tree."""
    port = free_port()
    # ``python3 -m gslb`` with this repository first on the path: the code measured is
    # the tree the table's commit names, never some other installed copy.
    base = shlex.split(cmd) if cmd else [sys.executable, "-m", "gslb"]
    argv = [
        *base,
        "serve",
        "--zones",
        str(zones),
        "--dns",
        f"{HOST}:{port}",
        "--workers",
        str(workers),
        "--geoip",
        str(mmdb),
        # dnsperf is one source at ~150k q/s: exactly what response rate limiting cuts
        # (on by default at 1,000/s per /24). gdnsd has none; compare like with like.
        "--rrl-rate",
        "0",
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return Server("gslb", workers, port, argv, out / f"gslb-w{workers}.log", env, REPO)


@contextlib.contextmanager
def running(servers: Sequence[Server], startup_timeout: float) -> Iterator[None]:
    """Start every server, wait until each answers, and stop them all on the way out."""
    try:
        for s in servers:
            s.start()
        for s in servers:
            s.wait_ready(startup_timeout)
        yield
    finally:
        for s in servers:
            s.stop()
