"""The recvmmsg/sendmmsg UDP loop on real sockets: bursts, bad input, faults, stop."""

from __future__ import annotations

import ctypes
import errno
import logging
import random
import socket
import threading
from collections.abc import Callable, Iterator
from ipaddress import ip_address, ip_network
from types import SimpleNamespace
from typing import Any

import dns.edns
import dns.message
import dns.rcode
import pytest

from gslb.dns import udpbatch
from gslb.dns.responder import Responder, respond
from gslb.dns.udpbatch import UdpBatch
from tests.conftest import LiveServer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("inner_loop")]

CALLS = udpbatch.load()
needs_batch = pytest.mark.skipif(CALLS is None, reason="recvmmsg/sendmmsg need Linux libc")


class Echo:
    """Answers ``peer|data``; raises for ``boom``; a 5000-byte reply for ``big``."""

    def __init__(self, tag: bytes = b"") -> None:
        self.tag = tag
        self.peers: list[str] = []

    def batch_path(self) -> tuple[None, tuple[int, ...], dict[object, object], tuple[()]]:
        return None, (), {}, ()  # nothing for the C loop to answer alone

    def respond_rest(self, data: bytes, peer: str, counts: object = None) -> bytes | None:
        return self.respond(data, peer)  # the C loop's way in: all of respond

    def respond(
        self, data: bytes, peer: str, tcp: bool = False, counts: object = None
    ) -> bytes | None:
        self.peers.append(peer)
        if data == b"boom":
            raise RuntimeError("injected fault")
        if data == b"silent":
            return None
        if data == b"big":
            return b"B" * 5000
        return self.tag + peer.encode() + b"|" + data


class Source:
    def __init__(self, responder: Any) -> None:
        self.responder = responder


Loop = Callable[..., tuple[UdpBatch, tuple[Any, ...]]]


@pytest.fixture
def loop() -> Iterator[Loop]:
    """Start a batch loop on a fresh socket; every one is stopped after the test."""
    started: list[UdpBatch] = []

    def make(
        source: Any, host: str = "127.0.0.1", calls: Any = None, start: bool = True
    ) -> tuple[UdpBatch, Any]:
        assert CALLS is not None
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        sock.bind((host, 0))
        batch = UdpBatch(sock, source, calls or CALLS)
        started.append(batch)
        if start:
            batch.start()
        return batch, sock.getsockname()

    yield make
    for batch in started:
        batch.stop()
        assert not batch.alive


def client(addr: tuple[Any, ...], timeout: float = 3.0) -> socket.socket:
    family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.settimeout(timeout)
    return sock


def silence(sock: socket.socket) -> bool:
    """True when nothing more arrives (used after the replies we do expect)."""
    sock.settimeout(0.3)
    try:
        sock.recv(65535)
    except TimeoutError:
        return True
    return False


@needs_batch
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_burst_of_real_queries_all_answered(settings, live_factory, host: str) -> None:  # type: ignore[no-untyped-def]
    live: LiveServer = live_factory(settings)
    assert any(t.name.startswith("gslb-udp") for t in threading.enumerate())
    port = live.port6 if ":" in host else live.port4
    names = ["mail.example.com.", "nope.example.com.", "ns1.example.com.", "www.example.org."]
    with client((host, port)) as sock:
        for burst in range(3):  # bigger than one batch, small enough for socket buffers
            queries = {}
            for i in range(100):
                q = dns.message.make_query(names[i % 4], "A", id=burst * 100 + i)
                queries[q.id] = q
                sock.sendto(q.to_wire(), (host, port))
            replies = [dns.message.from_wire(sock.recv(65535)) for _ in queries]
            assert {r.id for r in replies} == set(queries)
            for r in replies:
                name = queries[r.id].question[0].name.to_text()
                if name == "mail.example.com.":
                    assert [rr.to_text() for rr in r.answer[0]] == ["192.0.2.25"]
                elif name == "nope.example.com.":
                    assert r.rcode() == dns.rcode.NXDOMAIN
                elif name == "www.example.org.":
                    assert r.rcode() == dns.rcode.REFUSED
                else:
                    assert [rr.to_text() for rr in r.answer[0]] == ["192.0.2.53"]


@needs_batch
def test_malformed_datagram_then_valid_one(live: LiveServer) -> None:
    q = dns.message.make_query("mail.example.com.", "A")
    with client(("127.0.0.1", live.port4)) as sock:
        sock.sendto(b"\x12\x34\x00", ("127.0.0.1", live.port4))  # short header: dropped
        sock.sendto(q.to_wire(), ("127.0.0.1", live.port4))
        reply = dns.message.from_wire(sock.recv(65535))
        assert reply.id == q.id and reply.answer
        assert silence(sock)


@needs_batch
def test_exception_in_respond_costs_one_datagram(loop: Loop, caplog) -> None:  # type: ignore[no-untyped-def]
    batch, addr = loop(Source(Echo()))
    with caplog.at_level(logging.ERROR, logger="gslb.dns.udpbatch"), client(addr) as sock:
        for payload in (b"one", b"boom", b"silent", b"two"):
            sock.sendto(payload, addr)
        assert sock.recv(100) == b"127.0.0.1|one"
        assert sock.recv(100) == b"127.0.0.1|two"
        assert silence(sock)
    assert batch.alive
    assert any("injected fault" in str(r.exc_info[1]) for r in caplog.records if r.exc_info)


@needs_batch
def test_oversize_query_dropped_and_oversize_reply_sent(loop: Loop) -> None:
    _, addr = loop(Source(Echo()))
    with client(addr) as sock:
        sock.sendto(b"x" * (udpbatch.SLOT + 1), addr)  # truncated by the kernel: dropped
        sock.sendto(b"y" * (udpbatch.SLOT - 20), addr)  # fits with the peer tag
        sock.sendto(b"big", addr)
        assert sock.recv(65535) == b"127.0.0.1|" + b"y" * (udpbatch.SLOT - 20)
        assert sock.recv(65535) == b"B" * 5000
        assert silence(sock)
        sock.sendto(b"after", addr)  # slots reset after the oversize reply
        sock.settimeout(3)
        assert sock.recv(100) == b"127.0.0.1|after"


@needs_batch
@pytest.mark.parametrize(
    ("host", "peer"),
    [("127.0.0.1", "127.0.0.1"), ("::1", "::1"), ("::ffff:127.0.0.1", "::ffff:127.0.0.1")],
)
def test_peer_addresses_decoded_as_the_socket_module_would(
    loop: Loop, host: str, peer: str
) -> None:
    echo = Echo()
    _, addr = loop(Source(echo), host=host)
    target = ("127.0.0.1", addr[1]) if host.startswith("::ffff:") else addr
    with client(target) as sock:
        sock.sendto(b"hi", target)
        assert sock.recv(100) == peer.encode() + b"|hi"
        sock.sendto(b"again", target)  # second time from the address cache
        assert sock.recv(100) == peer.encode() + b"|again"
    assert echo.peers == [peer, peer]


@needs_batch
def test_ipv6_scope_id_is_appended_like_getnameinfo(loop: Loop) -> None:
    batch, _ = loop(Source(Echo()), host="::1")
    address = socket.inet_pton(socket.AF_INET6, "fe80::1")
    lo = socket.if_nametoindex("lo")
    assert batch._peer(address + lo.to_bytes(4, "little")) == "fe80::1%lo"
    assert batch._peer(address + (0x7FFFFFF0).to_bytes(4, "little")) == f"fe80::1%{0x7FFFFFF0}"
    assert batch._peer(address + bytes(4)) == "fe80::1"


@needs_batch
def test_responder_is_read_per_datagram(loop: Loop) -> None:
    source = Source(Echo(b"old:"))
    _, addr = loop(source)
    with client(addr) as sock:
        sock.sendto(b"a", addr)
        assert sock.recv(100) == b"old:127.0.0.1|a"
        source.responder = Echo(b"new:")  # what Runtime.publish does on reload
        sock.sendto(b"b", addr)
        assert sock.recv(100) == b"new:127.0.0.1|b"


@needs_batch
def test_failed_and_partial_sends_drop_only_that_reply(loop: Loop) -> None:
    assert CALLS is not None
    real, calls = CALLS.sendmmsg, SimpleNamespace(recvmmsg=CALLS.recvmmsg)
    failed: list[int] = []

    def sendmmsg(fd: int, at: int, count: int, flags: int) -> int:
        if not failed:  # the first reply ever fails as a per-datagram error would
            failed.append(count)
            ctypes.set_errno(errno.EPERM)
            return -1
        return int(real(fd, at, 1, flags))  # then one at a time: partial sends

    calls.sendmmsg = sendmmsg
    batch, addr = loop(Source(Echo()), calls=calls, start=False)
    with client(addr) as sock:
        for i in range(5):
            sock.sendto(b"q%d" % i, addr)
        batch.start()  # all five are queued: one recvmmsg, one batch of five replies
        got = [sock.recv(100) for _ in range(4)]
        assert silence(sock)
    assert got == [b"127.0.0.1|q%d" % i for i in range(1, 5)]
    assert failed == [5]


@needs_batch
def test_stop_joins_and_closes(loop: Loop) -> None:
    batch, addr = loop(Source(Echo()))
    batch.stop()
    assert not batch.alive
    assert batch.sock.fileno() == -1


@needs_batch
def test_no_thread_outlives_the_server(settings) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import start_live, stop_live

    live = start_live(settings)
    mine = [t for t in threading.enumerate() if t.name.startswith("gslb-udp")]
    stop_live(live)
    assert len(mine) == 2  # one per listener: 127.0.0.1 and ::1
    assert not any(t.is_alive() for t in mine)


class Faulty:
    """The real calls, but the first ``faults`` recvmmsg (``send_faults`` sendmmsg) calls
    raise, as a bug in the loop would."""

    def __init__(self, faults: int = 0, send_faults: int = 0) -> None:
        self.faults = faults
        self.send_faults = send_faults

    def recvmmsg(self, *args: object) -> int:
        assert CALLS is not None
        if self.faults:
            self.faults -= 1
            raise RuntimeError("injected loop fault")
        return int(CALLS.recvmmsg(*args))

    def sendmmsg(self, *args: object) -> int:
        assert CALLS is not None
        if self.send_faults:
            self.send_faults -= 1
            raise RuntimeError("injected loop fault")
        return int(CALLS.sendmmsg(*args))


@needs_batch
def test_a_dead_loop_is_restarted_counted_and_logged(loop: Loop, caplog) -> None:  # type: ignore[no-untyped-def]
    with caplog.at_level(logging.ERROR, logger="gslb.dns.udpbatch"):
        batch, addr = loop(Source(Echo()), calls=Faulty(faults=3))
        with client(addr) as sock:
            sock.sendto(b"after", addr)
            assert sock.recv(100) == b"127.0.0.1|after"  # the same socket answers again
    assert batch.alive and batch.restarts == 3 and batch.serving
    assert any("restart" in r.getMessage() and r.exc_info for r in caplog.records)


@needs_batch
def test_a_loop_that_keeps_failing_is_reported_not_serving(loop: Loop, caplog) -> None:  # type: ignore[no-untyped-def]
    def broken(*_: object) -> int:
        raise RuntimeError("libc went away")

    with caplog.at_level(logging.ERROR, logger="gslb.dns.udpbatch"):
        batch, _ = loop(Source(Echo()), calls=SimpleNamespace(recvmmsg=broken, sendmmsg=broken))
        for _ in range(100):
            if batch.restarts >= 4:
                break
            threading.Event().wait(0.1)
    assert batch.restarts >= 4 and batch.alive and not batch.serving
    lines = [r for r in caplog.records if r.name == "gslb.dns.udpbatch"]
    assert len(lines) <= 2  # the first failure with its traceback, then throttled


@needs_batch
def test_server_health_reports_listeners_threads_and_restarts(  # type: ignore[no-untyped-def]
    settings, live_factory, inner_loop: str
) -> None:
    live: LiveServer = live_factory(settings)
    health = live.runtime.server.health()
    assert health.ok
    kinds = sorted((h.proto, h.host, h.io) for h in health.listeners)
    io = "batch-c" if inner_loop == "C" else "batch"
    assert kinds == [("tcp", "127.0.0.1", "asyncio"), ("tcp", "::1", "asyncio"),
                     ("udp", "127.0.0.1", io), ("udp", "::1", io)]  # fmt: skip
    said = "UDP batches in C" if inner_loop == "C" else "UDP batches in Python: GSLB_PURE"
    assert said in live.runtime.describe()
    assert all(h.alive and h.restarts == 0 for h in health.listeners)
    batch = next(b for b in live.runtime.server._batches if b.sock.family == socket.AF_INET)
    batch.calls = Faulty(send_faults=1)  # type: ignore[assignment]  # the running loop dies
    q = dns.message.make_query("mail.example.com.", "A")
    with client(("127.0.0.1", live.port4), timeout=0.5) as sock:
        sock.sendto(q.to_wire(), ("127.0.0.1", live.port4))  # its reply is lost in the fault
        assert silence(sock)
    udp4 = next(h for h in live.runtime.server.health().listeners
                if h.proto == "udp" and h.host == "127.0.0.1")  # fmt: skip
    assert udp4.restarts == 1 and udp4.alive
    assert dns.message.from_wire(_ask(live.port4, q.to_wire())).id == q.id


def test_asyncio_path_still_serves(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    live: LiveServer = live_factory(settings, udp_io="asyncio")
    assert not any(t.name.startswith("gslb-udp") for t in threading.enumerate())
    q = dns.message.make_query("mail.example.com.", "A")
    reply = dns.message.from_wire(_ask(live.port4, q.to_wire()))
    assert reply.id == q.id and [rr.to_text() for rr in reply.answer[0]] == ["192.0.2.25"]


@pytest.mark.parametrize("failure", ["no libc calls", "setup raises"])
def test_batch_falls_back_to_asyncio(settings, live_factory, monkeypatch, failure: str) -> None:  # type: ignore[no-untyped-def]
    def broken(*_: object) -> None:
        raise OSError("no ctypes here")

    if failure == "no libc calls":
        monkeypatch.setattr(udpbatch, "load", lambda: None)
    else:
        monkeypatch.setattr(udpbatch, "UdpBatch", broken)
    live: LiveServer = live_factory(settings)  # udp_io="batch", the default
    assert not any(t.name.startswith("gslb-udp") for t in threading.enumerate())
    q = dns.message.make_query("mail.example.com.", "A")
    assert dns.message.from_wire(_ask(live.port4, q.to_wire())).id == q.id


def _ask(port: int, wire: bytes) -> bytes:
    with client(("127.0.0.1", port)) as sock:
        sock.sendto(wire, ("127.0.0.1", port))
        return sock.recv(65535)


@needs_batch
def test_busy_name_bursts_match_the_general_path(  # type: ignore[no-untyped-def]
    settings, live_factory, monkeypatch, inner_loop: str
) -> None:
    """Bursts of ECS queries from new and repeated networks, static names and no-ECS
    queries: every reply equals the general path's, and in C most never reach Python."""
    reached: list[bytes] = []
    entry = "respond_rest" if inner_loop == "C" else "respond"  # each loop's way into Python
    real = getattr(Responder, entry)

    def counted(self: Responder, data: bytes, *args: object, **kwargs: object) -> object:
        reached.append(data)
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(Responder, entry, counted)
    live: LiveServer = live_factory(settings)
    rng = random.Random(7)
    nets = [f"{rng.randrange(1, 223)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
            for _ in range(150)]  # fmt: skip
    nets += [f"2a00:{rng.randrange(1 << 16):x}:{rng.randrange(1 << 16):x}::/48" for _ in range(50)]
    wires: list[bytes] = []
    for i, cidr in enumerate(nets * 2):  # each network twice, in different bursts
        net = ip_network(cidr)
        ecs = dns.edns.ECSOption(str(net.network_address), net.prefixlen)
        rdtype = "A" if net.version == 4 else "AAAA"
        q = dns.message.make_query("api.example.com.", rdtype, use_edns=0, options=[ecs])
        q.id = i
        wires.append(q.to_wire())
    for name in ["mail.example.com.", "api.example.com.", "nope.example.com."]:
        for j in range(20):
            q = dns.message.make_query(name, "A", use_edns=0 if j % 2 else None)
            q.id = len(wires)
            wires.append(q.to_wire())
    with client(("127.0.0.1", live.port4)) as sock:
        got: dict[int, bytes] = {}
        for start in range(0, len(wires), 80):
            burst = wires[start : start + 80]
            for wire in burst:
                sock.sendto(wire, ("127.0.0.1", live.port4))
            for _ in burst:
                reply = sock.recv(65535)
                got[int.from_bytes(reply[:2])] = reply
    view = live.runtime.responder.view
    assert len(got) == len(wires)
    for i, wire in enumerate(wires):
        assert got[i] == respond(view, wire, ip_address("127.0.0.1")), dns.message.from_wire(wire)
    if inner_loop == "C":  # learned networks and kept replies never reached Python
        assert len(reached) < len(wires) * 3 // 4
    else:
        assert len(reached) == len(wires)


@needs_batch
def test_the_query_log_sees_what_the_c_loop_would_answer(  # type: ignore[no-untyped-def]
    settings, live_factory, caplog
) -> None:
    """--query-log samples every query, so no query may bypass the logging responder:
    repeats (kept replies, the C place path) are logged like the first."""
    live: LiveServer = live_factory(settings, query_log=1.0)
    ecs = dns.edns.ECSOption("85.214.132.0", 24)
    q = dns.message.make_query("api.example.com.", "A", use_edns=0, options=[ecs])
    static = dns.message.make_query("mail.example.com.", "A")
    with caplog.at_level(logging.INFO, logger="gslb.queries"):
        for _ in range(3):
            for query in (q, static):
                assert dns.message.from_wire(_ask(live.port4, query.to_wire())).id == query.id
    assert len([r for r in caplog.records if r.name == "gslb.queries"]) == 6
