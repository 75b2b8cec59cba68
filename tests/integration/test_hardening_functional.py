"""The systemd unit's sandbox fits what ``gslb serve`` really does.

``MemoryDenyWriteExecute=yes`` is tried with the kernel's own form of it,
``prctl(PR_SET_MDWE)`` (Linux 6.3+), and ``SystemCallFilter=@system-service
~@privileged @resources`` against every system call ``strace -f`` sees while the
server answers UDP (the recvmmsg/sendmmsg batch path) and TCP over IPv4
and IPv6, serves its HTTP API and reloads (SIGHUP). Both skip where the tool is missing.
"""

from __future__ import annotations

import ctypes
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from tests.conftest import GEOIP, ZONES, need_tool
from tests.integration.test_cli_functional import free_port

pytestmark = pytest.mark.integration

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


class Server:
    """``gslb serve`` on loopback (IPv4 and IPv6, DNS and HTTP), optionally wrapped."""

    def __init__(self, tmp_path: Path, prefix: list[str], preexec: Callable[[], None] | None):
        self.port, self.http = free_port(), free_port()
        self.log = tmp_path / "serve.log"
        argv = [*prefix, sys.executable, "-m", "gslb", "serve", "--zones", str(ZONES),
                "--geoip", str(GEOIP), "--dns", f"127.0.0.1:{self.port}",
                "--dns", f"[::1]:{self.port}", "--http", f"127.0.0.1:{self.http}"]  # fmt: skip
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=preexec)  # fmt: skip
        deadline = time.monotonic() + 60
        while "listening on" not in self.log.read_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise AssertionError(self.log.read_text())
            time.sleep(0.1)
        #: the gslb process itself (strace runs it as its child)
        self.pid = _child(self.proc.pid) if prefix else self.proc.pid

    def workload(self) -> None:
        for i in range(16):
            subnet = dns.edns.ECSOption(f"85.214.{i}.0", 24)
            query = dns.message.make_query("api.example.com.", "A", use_edns=0, options=[subnet])
            for where in ("127.0.0.1", "::1"):
                assert dns.query.udp(query, where, port=self.port, timeout=5).answer
                assert dns.query.tcp(query, where, port=self.port, timeout=5).answer
        for path in ("/healthz", "/readyz", "/api/v1/status"):
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as r:
                assert r.status == 200, path
        os.kill(self.pid, signal.SIGHUP)
        deadline = time.monotonic() + 20
        while "reloaded" not in self.log.read_text():
            assert time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _child(pid: int) -> int:
    """The one child of ``pid``, once it has started."""
    for _ in range(100):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.05)
    raise AssertionError(f"{pid} has no child")


def _mdwe() -> None:  # runs in the child before exec
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        os._exit(97)


def test_serves_without_writable_executable_memory(tmp_path: Path) -> None:
    probe = subprocess.run([sys.executable, "-c", "pass"], preexec_fn=_mdwe)
    if probe.returncode == 97:
        pytest.skip("prctl(PR_SET_MDWE) needs Linux 6.3 or later")
    check = "import mmap; mmap.mmap(-1, 4096, prot=7)"  # W+X must now be refused
    refused = subprocess.run([sys.executable, "-c", check], preexec_fn=_mdwe, capture_output=True)
    assert refused.returncode != 0
    server = Server(tmp_path, [], _mdwe)
    try:
        server.workload()
    finally:
        server.close()
    assert server.proc.returncode == 0, server.log.read_text()


def _syscall_group(group: str, analyze: str) -> set[str]:
    out = subprocess.run([analyze, "syscall-filter", group], capture_output=True, text=True)
    names: set[str] = set()
    for line in out.stdout.splitlines()[1:]:
        item = line.strip()
        if item.startswith("@"):
            names |= _syscall_group(item, analyze)
        elif item and not item.startswith("#"):
            names.add(item)
    return names


def test_every_system_call_is_in_the_units_filter(tmp_path: Path) -> None:
    strace = need_tool("strace", "strace")
    analyze = need_tool("systemd-analyze", "systemd")
    allowed = _syscall_group("@system-service", analyze)
    denied = _syscall_group("@privileged", analyze) | _syscall_group("@resources", analyze)
    assert len(allowed) > 100 and "recvmmsg" in allowed
    trace = tmp_path / "strace.out"
    server = Server(tmp_path, [strace, "-f", "-qq", "-o", str(trace)], None)
    try:
        server.workload()
    finally:
        server.close()
    assert server.proc.returncode == 0, server.log.read_text()
    used = set(re.findall(r"^\d+\s+([a-z0-9_]+)\(", trace.read_text(), re.MULTILINE))
    assert {"recvmmsg", "sendmmsg", "accept4", "bind"} <= used  # the trace saw the work
    assert used - allowed == set()
    assert used & denied == set()


def test_unit_file_is_the_one_checked() -> None:
    """The unit names the filters this module checks (keep the two in step)."""
    unit = (Path(__file__).resolve().parents[2] / "deploy/systemd/gslb.service").read_text()
    assert "SystemCallFilter=@system-service\n" in unit
    assert "SystemCallFilter=~@privileged @resources\n" in unit
    assert "MemoryDenyWriteExecute=yes\n" in unit
