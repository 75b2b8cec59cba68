"""Response rate limiting on loopback: a one-source burst is limited (dropped or slipped
as TC) while another network keeps getting every answer; TCP is never limited."""

from __future__ import annotations

import socket
import struct
import time

import dns.flags
import dns.message
import dns.query
import pytest

from gslb.dns.server import Limits
from tests.conftest import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("inner_loop")]

RATE = 20


def burst(port: int, source: str, count: int) -> list[dns.message.Message]:
    """``count`` queries sent as fast as possible, then every reply that comes."""
    replies = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source, 0))
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        for i in range(count):
            q = dns.message.make_query("mail.example.com.", "A", id=i)
            s.sendto(q.to_wire(), ("127.0.0.1", port))
        s.settimeout(1.0)
        while True:
            try:
                replies.append(dns.message.from_wire(s.recv(65535)))
            except TimeoutError:
                return replies


@pytest.mark.parametrize("udp_io", ["batch", "asyncio"])
def test_burst_from_one_network_is_limited_another_network_is_not(  # type: ignore[no-untyped-def]
    settings, live_factory, udp_io: str
) -> None:
    live: LiveServer = live_factory(
        settings, udp_io=udp_io, limits=Limits(rrl_rate=RATE, rrl_window=2, rrl_slip=2)
    )
    steady_answers = 0
    replies = burst(live.port4, "127.0.1.1", 400)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.2.1", 0))  # another /24, well under the rate: every answer
        for i in range(10):
            q = dns.message.make_query("mail.example.com.", "A", id=1000 + i)
            r = dns.query.udp(q, "127.0.0.1", port=live.port4, timeout=3, sock=s)
            steady_answers += bool(r.answer) and not r.flags & dns.flags.TC
            time.sleep(0.1)
    full = [r for r in replies if r.answer]
    slipped = [r for r in replies if r.flags & dns.flags.TC]
    assert steady_answers == 10
    assert RATE <= len(full) <= 3 * RATE  # the burst's credit, plus what refills meanwhile
    assert slipped and all(not r.answer and r.question for r in slipped)
    assert len(full) + len(slipped) < 400
    (limiter,) = [r for r in live.runtime.server.rate_limiters() if r.dropped or r.slipped]
    assert limiter.slipped == len(slipped) and limiter.dropped >= len(slipped) - 1
    # the limited network's TC retry over TCP is answered (TCP is never limited)
    with socket.create_connection(("127.0.0.1", live.port4), source_address=("127.0.1.1", 0),
                                  timeout=3) as t:  # fmt: skip
        for i in range(30):
            wire = dns.message.make_query("mail.example.com.", "A", id=i).to_wire()
            t.sendall(struct.pack("!H", len(wire)) + wire)
            size = struct.unpack("!H", t.recv(2))[0]
            data = b""
            while len(data) < size:
                data += t.recv(size - len(data))
            assert dns.message.from_wire(data).answer


def test_rrl_is_on_by_default_and_zero_turns_it_off(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    assert Limits().rrl_rate == 1000
    on: LiveServer = live_factory(settings)
    assert len(on.runtime.server.rate_limiters()) == 2  # one per UDP socket
    off: LiveServer = live_factory(settings, limits=Limits(rrl_rate=0))
    assert off.runtime.server.rate_limiters() == []
    replies = burst(off.port4, "127.0.1.1", 200)
    assert len(replies) == 200 and all(r.answer for r in replies)
