"""`gslb serve` and `gslb demo-backend` as real processes, for end-to-end tests.

Every address is on loopback and every port is picked free by the test.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dns.edns
import dns.message
import dns.query


def free_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (as gslb binds both)."""
    while True:
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = int(t.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                try:
                    u.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port


def wait_for(predicate: Any, timeout: float = 20.0, every: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something true; fail with its last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s (last: {last!r})")


class Server:
    """A `gslb serve` process and helpers to ask it things."""

    def __init__(self, proc: subprocess.Popen[str], dns_port: int, http_port: int, log: Path):
        self.proc, self.dns_port, self.http_port, self.log = proc, dns_port, http_port, log

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def logged(self) -> str:
        return self.log.read_text()

    def ask(self, subnet: str, qtype: str = "A", name: str = "api.example.com") -> list[str]:
        """The addresses answered to a resolver sending this client subnet."""
        addr, _, plen = subnet.partition("/")
        ecs = dns.edns.ECSOption(addr, int(plen))
        q = dns.message.make_query(name, qtype, use_edns=0, options=[ecs])
        r = dns.query.udp(q, "127.0.0.1", port=self.dns_port, timeout=3)
        return sorted(item.to_text() for rrset in r.answer for item in rrset)

    def ttl(self, subnet: str) -> int:
        addr, _, plen = subnet.partition("/")
        q = dns.message.make_query("api.example.com", "A", use_edns=0,
                                   options=[dns.edns.ECSOption(addr, int(plen))])  # fmt: skip
        return int(dns.query.udp(q, "127.0.0.1", port=self.dns_port, timeout=3).answer[0].ttl)

    def http(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        request = urllib.request.Request(
            self.api + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
        )  # fmt: skip
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            if response.headers.get_content_type() == "application/json":
                return json.loads(raw)
            return raw.decode()

    def status_code(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> int:
        try:
            self.http(method, path, body, token)
        except urllib.error.HTTPError as e:
            return e.code
        return 200

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return int(self.proc.wait())


@contextmanager
def serve(tmp: Path, *args: str, zones: str | Path, geoip: str | Path,
          http: bool = True, ready: str = "gslb serving with") -> Iterator[Server]:  # fmt: skip
    dns_port, http_port = free_port(), free_port()
    log = tmp / f"serve-{dns_port}.log"
    cmd = [sys.executable, "-m", "gslb", "serve", "--zones", str(zones), "--geoip", str(geoip),
           "--dns", f"127.0.0.1:{dns_port}", *args]  # fmt: skip
    if http:
        cmd += ["--http", f"127.0.0.1:{http_port}"]
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    server = Server(proc, dns_port, http_port, log)
    try:
        wait_for(lambda: ready in server.logged() or proc.poll() is not None, timeout=60)
        assert proc.poll() is None, server.logged()
        yield server
    finally:
        server.stop()


class Backends:
    """`gslb demo-backend` with one backend per port, switched through /control."""

    def __init__(self, tmp: Path, count: int) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.control = free_port()
        cmd = [sys.executable, "-m", "gslb", "demo-backend", "--control",
               f"127.0.0.1:{self.control}"]  # fmt: skip
        for port in self.ports:
            cmd += ["--listen", f"127.0.0.1:{port}"]
        self.log = tmp / "backends.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._up)

    def _up(self) -> bool:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.control}/control", timeout=1)
        except OSError:
            return False
        return True

    def set(self, port: int, mode: str, **extra: object) -> None:
        body = json.dumps({"listen": f"127.0.0.1:{port}", "mode": mode, **extra}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{self.control}/control",
                                         data=body, method="POST")  # fmt: skip
        urllib.request.urlopen(request, timeout=5).read()

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
