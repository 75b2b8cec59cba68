"""Overload: what the server sheds is bounded and counted, never buffered without end."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from typing import Any

import dns.message
import pytest

from gslb.dns import udpbatch
from gslb.dns.server import UDP_WRITE_BUFFER, Limits, _Udp
from tests.conftest import REPO, LiveServer

pytestmark = pytest.mark.integration


def test_kernel_queue_overflow_is_counted() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        server.bind(("127.0.0.1", 0))
        assert udpbatch.kernel_drops(server) == 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            for _ in range(300):  # nobody reads: the small queue overflows
                client.sendto(b"x" * 100, server.getsockname())
        drops = udpbatch.kernel_drops(server)
    assert drops is not None and 0 < drops < 300


class _Source:
    class responder:  # noqa: N801 - what ResponderSource.responder looks like
        @staticmethod
        def respond(data: bytes, peer: str, tcp: bool = False, counts: object = None) -> bytes:
            return b"reply"


class _FullTransport:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    def get_write_buffer_size(self) -> int:
        return UDP_WRITE_BUFFER + 1

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)


def test_asyncio_path_sheds_replies_instead_of_buffering_them() -> None:
    protocol = _Udp(_Source(), None)  # type: ignore[arg-type]
    transport = _FullTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]
    for _ in range(5):
        protocol.datagram_received(b"query", ("192.0.2.1", 53))
    assert transport.sent == [] and protocol.unsent == 5


@pytest.mark.parametrize("udp_io", ["batch", "asyncio"])
def test_flood_is_shed_memory_stays_bounded_and_answers_go_on(  # type: ignore[no-untyped-def]
    settings, live_factory, udp_io: str
) -> None:
    live: LiveServer = live_factory(settings, udp_io=udp_io, limits=Limits(rrl_rate=0))
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.flood", "--port", str(live.port4),
         "--senders", "2", "--seconds", "4", "--pid", "parent"],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    figures = json.loads(out)
    assert figures["sent"] > 10_000
    assert figures["rss_max_mb"] - figures["rss_start_mb"] < 100  # nothing grows with the flood
    health = live.runtime.server.health()
    udp4 = next(h for h in health.listeners if h.proto == "udp" and h.host == "127.0.0.1")
    assert udp4.drops is not None and health.ok
    q = dns.message.make_query("mail.example.com.", "A")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(q.to_wire(), ("127.0.0.1", live.port4))
        assert dns.message.from_wire(s.recv(65535)).id == q.id
