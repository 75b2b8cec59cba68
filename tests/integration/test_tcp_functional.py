"""TCP limits on loopback: slowloris, per-client caps, a message clock partial bytes
cannot reset. Attack traffic comes from 127.0.1.x, the honest client from 127.0.0.1."""

from __future__ import annotations

import json
import logging
import resource
import socket
import struct
import subprocess
import sys
import time

import dns.message
import pytest

from gslb.dns.server import Limits
from tests.conftest import REPO, LiveServer

pytestmark = pytest.mark.integration

WIRE = dns.message.make_query("mail.example.com.", "A").to_wire()
FRAMED = struct.pack("!H", len(WIRE)) + WIRE


def connect(live: LiveServer, source: str = "127.0.0.1") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", live.port4), timeout=5, source_address=(source, 0))
    return s


def answered(s: socket.socket) -> bool:
    s.sendall(FRAMED)
    try:
        return len(s.recv(65535)) > 2
    except OSError:
        return False


def closed_by_server(s: socket.socket) -> bool:
    try:
        return s.recv(10) == b""
    except ConnectionResetError:
        return True


def test_slowloris_500_idle_500_slow_while_fresh_clients_are_answered(  # type: ignore[no-untyped-def]
    settings, live_factory, caplog
) -> None:
    """Before: 2 of 40 fresh TCP queries answered in 20 s and a WARNING per refused
    connection (44,160 lines). Now every one is answered and the log stays short."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    live = live_factory(settings)
    seconds = 15
    with caplog.at_level(logging.WARNING, logger="gslb.dns.tcp"):
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.slowloris", "--port", str(live.port4),
             "--idle", "500", "--slow", "500", "--seconds", str(seconds), "--timeout", "5"],
            cwd=REPO, capture_output=True, text=True, timeout=seconds + 60, check=True,
        ).stdout  # fmt: skip
    figures = json.loads(out)
    assert figures["tcp_asked"] >= 10 and figures["udp_asked"] >= 10
    assert figures["tcp_answered"] == figures["tcp_asked"], figures
    assert figures["udp_answered"] == figures["udp_asked"], figures
    stats = live.runtime.server.tcp.stats
    assert stats.evicted_idle > 0  # the attack did fill the table
    assert len(live.runtime.server.tcp) <= Limits().tcp_connections
    lines = [r for r in caplog.records if r.name == "gslb.dns.tcp"]
    assert 1 <= len(lines) <= seconds / 10 + 2  # throttled: one line per 10 s, with a count


def test_partial_bytes_do_not_reset_the_message_clock(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(settings, limits=Limits(tcp_idle=60, tcp_message=1.0))
    with connect(live) as s:
        for i in range(len(FRAMED) - 1):  # never completes; ~0.25 s per byte
            try:
                s.sendall(FRAMED[i : i + 1])
            except OSError:
                break
            time.sleep(0.25)
            s.settimeout(0.01)
            try:
                if s.recv(10) == b"":
                    break
            except TimeoutError:
                continue
            except ConnectionResetError:
                break
        else:
            pytest.fail("a trickled message held the connection open")
    assert live.runtime.server.tcp.stats.message_timeouts == 1
    with connect(live) as fresh:
        assert answered(fresh)


def test_per_client_cap_spares_other_clients(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(settings, limits=Limits(tcp_per_client=3, tcp_connections=100))
    first = [connect(live, "127.0.1.1") for _ in range(3)]
    time.sleep(0.1)
    fourth = connect(live, "127.0.1.1")  # at its cap: its own oldest idle one goes
    assert closed_by_server(first[0])
    assert answered(fourth)
    for s in first[1:]:
        s.sendall(FRAMED[:1])  # busy now: nothing of this client's is idle
    fourth.sendall(FRAMED[:1])
    time.sleep(0.1)
    fifth = connect(live, "127.0.1.1")
    assert closed_by_server(fifth)  # refused
    with connect(live, "127.0.1.2") as other:
        assert answered(other)
    stats = live.runtime.server.tcp.stats
    assert (stats.closed_per_client, stats.refused_per_client) == (1, 1)
    for s in [*first, fourth, fifth]:
        s.close()


def test_query_limit_per_connection(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(settings, limits=Limits(tcp_queries=3))
    with connect(live) as s:
        s.sendall(FRAMED * 5)
        got = b""
        while True:
            chunk = s.recv(65535)
            if not chunk:
                break
            got += chunk
    count = 0
    while got:
        count += 1
        got = got[2 + struct.unpack("!H", got[:2])[0] :]
    assert count == 3 and live.runtime.server.tcp.stats.query_limit == 1
