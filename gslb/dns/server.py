"""UDP and TCP listeners (RFC 1035, RFC 7766).

Transport only: every datagram or TCP message goes to ``source.responder.respond``,
read once per message, so a reload that swaps the responder affects the next query
with no locks. Nothing raised by a query reaches the event loop. TCP is asyncio
(``gslb.dns.tcp``: timeouts and connection caps); UDP is
answered in recvmmsg/sendmmsg batches by a thread per socket (``gslb.dns.udpbatch``: two
system calls per batch instead of two per query) where Linux allows it, else by an
asyncio DatagramProtocol (``udp_io="asyncio"`` asks for that path).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from dataclasses import dataclass
from typing import Literal

from gslb.dns import ratelimit, udpbatch
from gslb.dns.counters import Counts
from gslb.dns.ratelimit import DROP, RateLimiter, network_of, truncated
from gslb.dns.responder import ResponderSource
from gslb.dns.tcp import TcpConnection, TcpService
from gslb.model import HostPort

log = logging.getLogger(__name__)


UdpIo = Literal["asyncio", "batch"]  # batch falls back to asyncio where it cannot work
UDP_WRITE_BUFFER = 256 * 1024  # asyncio path: replies waiting for the socket past this are shed


@dataclass(frozen=True, slots=True)
class Limits:
    """Transport limits (see ``gslb.dns.tcp`` for how TCP applies them)."""

    tcp_idle: float = 10.0  # seconds between messages before we close (RFC 7766 6.2.3)
    tcp_message: float = 3.0  # seconds from a message's first byte to its last
    tcp_connections: int = 512  # concurrent TCP connections, all clients
    tcp_per_client: int = 64  # concurrent TCP connections per IPv4 address or IPv6 /64
    tcp_queries: int = 1000  # queries per TCP connection before we close it
    tcp_write_buffer: int = 256 * 1024  # a client that stops reading is disconnected
    # UDP response rate limiting (gslb.dns.ratelimit), per /24 or /56 and answer class:
    rrl_rate: int = ratelimit.DEFAULT_RATE  # replies per second; 0 turns it off
    rrl_window: float = ratelimit.DEFAULT_WINDOW  # seconds of debt a flood runs up
    rrl_slip: int = ratelimit.DEFAULT_SLIP  # every Nth limited reply sent truncated; 0 none
    rrl_entries: int = ratelimit.DEFAULT_SIZE  # per UDP socket

    def rate_limiter(self) -> RateLimiter | None:
        if self.rrl_rate <= 0:
            return None
        return RateLimiter(self.rrl_rate, self.rrl_window, self.rrl_slip, self.rrl_entries)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, source: ResponderSource, limiter: RateLimiter | None) -> None:
        self.source = source
        self.limiter = limiter
        self.counts = Counts("udp")  # the event loop's thread counts these
        self.networks: dict[str, int] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.unsent = 0  # replies shed because the socket's queue was full

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            out = self.source.responder.respond(data, addr[0], False, self.counts)
        except Exception:  # a bug must cost one answer, never the listener
            log.exception("UDP query from %s failed", addr[0])
            return
        if out is None or self.transport is None:
            return
        if self.limiter is not None:
            verdict = self.limiter.check(self._network(addr[0]), out, time.monotonic())
            if verdict:
                if verdict == DROP:
                    return
                out = truncated(out)
        if self.transport.get_write_buffer_size() > UDP_WRITE_BUFFER:  # type: ignore[attr-defined]
            self.unsent += 1  # asyncio would buffer every reply without bound
            return
        self.transport.sendto(out, addr)

    def _network(self, peer: str) -> int:
        network = self.networks.get(peer)
        if network is None:
            if len(self.networks) >= 65536:
                self.networks.clear()
            network = self.networks[peer] = network_of(peer)
        return network

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP socket error: %s", exc)


@dataclass(frozen=True, slots=True)
class ListenerHealth:
    proto: str  # "udp" | "tcp"
    host: str
    port: int
    io: str  # "batch-c" (recvmmsg thread, C inner loop) | "batch" (Python's) | "asyncio"
    alive: bool  # bound and answering: the batch thread runs and is not failing
    restarts: int  # times the batch loop failed and was started again
    drops: int | None = None  # UDP: queries the kernel dropped, receive queue full
    unsent: int = 0  # UDP: replies shed because the send queue was full


@dataclass(frozen=True, slots=True)
class ServerHealth:
    listeners: tuple[ListenerHealth, ...]

    @property
    def ok(self) -> bool:
        """Every listener bound and alive (what ``/readyz`` wants)."""
        return bool(self.listeners) and all(h.alive for h in self.listeners)

    @property
    def restarts(self) -> int:
        return sum(h.restarts for h in self.listeners)


class DnsServer:
    """UDP and TCP on each listener; ``start`` binds, ``stop`` drains and closes."""

    def __init__(
        self,
        source: ResponderSource,
        listeners: list[HostPort],
        limits: Limits | None = None,
        reuse_port: bool = False,
        udp_io: UdpIo = "batch",
    ) -> None:
        self.source = source
        self.listeners = listeners
        self.limits = limits or Limits()
        self.reuse_port = reuse_port
        self.udp_io = udp_io
        self.tcp = TcpService(source, self.limits)
        self._udp: list[asyncio.DatagramTransport] = []
        self._batches: list[udpbatch.UdpBatch] = []
        self._calls: udpbatch.Calls | None = None
        self._tcp: list[asyncio.Server] = []
        self.bound: list[tuple[str, str, int]] = []  # (proto, host, port) actually bound

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._calls = udpbatch.load() if self.udp_io == "batch" else None
        try:
            await self._listen(loop)
        except BaseException:
            for batch in self._batches:  # a later bind failed: no thread may be left behind
                batch.stop()
            self._batches.clear()
            raise

    async def _listen(self, loop: asyncio.AbstractEventLoop) -> None:
        for listener in self.listeners:
            family = socket.AF_INET6 if ":" in listener.host else socket.AF_INET
            tcp = await loop.create_server(
                lambda: TcpConnection(self.tcp),
                listener.host,
                listener.port,
                family=family,
                reuse_address=True,
                reuse_port=self.reuse_port or None,
            )
            self._tcp.append(tcp)
            port = tcp.sockets[0].getsockname()[1]  # the TCP port decides for port 0
            batch = self._batch(listener.host, port, family) if self._calls else None
            if batch is not None:
                batch.start()
                self._batches.append(batch)
            else:
                udp, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self.source, self.limits.rate_limiter()),
                    sock=self._udp_socket(listener.host, port, family),
                )
                self._udp.append(udp)
            self.bound += [("udp", listener.host, port), ("tcp", listener.host, port)]

    def _udp_socket(self, host: str, port: int, family: socket.AddressFamily) -> socket.socket:
        """A bound UDP socket. IPv6 sockets are IPv6-only, as asyncio makes the TCP ones,
        so ``--dns 0.0.0.0:53 --dns [::]:53`` binds both families on UDP and TCP alike.

        No SO_REUSEADDR: on UDP it would let another socket bind the same port and take
        our queries (asyncio refuses it for that reason); SO_REUSEPORT only for workers.
        """
        addr = socket.getaddrinfo(host, port, family, socket.SOCK_DGRAM)[0][4]
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if self.reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(addr)
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        return sock

    def _batch(
        self, host: str, port: int, family: socket.AddressFamily
    ) -> udpbatch.UdpBatch | None:
        """A bound socket and its batch loop, or None when ctypes setup fails (use asyncio)."""
        assert self._calls is not None
        sock = self._udp_socket(host, port, family)
        try:
            return udpbatch.UdpBatch(sock, self.source, self._calls, self.limits.rate_limiter())
        except Exception:
            log.exception("UDP batch setup failed on %s:%d; using asyncio", host, port)
            sock.close()
            return None

    def describe_udp(self) -> str:
        """For the start-up line: how UDP datagrams are answered."""
        if not self._batches:
            return "UDP through asyncio"
        if all(b.native is not None for b in self._batches):
            return "UDP batches in C"
        return f"UDP batches in Python: {udpbatch.why_not()}"

    def rate_limiters(self) -> list[RateLimiter]:
        """One per UDP socket (none when RRL is off): ``dropped`` and ``slipped`` there."""
        found = [b.limiter for b in self._batches]
        found += [p.limiter for u in self._udp if isinstance(p := u.get_protocol(), _Udp)]
        return [r for r in found if r is not None]

    def health(self) -> ServerHealth:
        """Each bound listener: alive or not, and how often its UDP loop restarted."""
        out = [
            ListenerHealth("tcp", *_where(t.sockets[0]), "asyncio", t.is_serving(), 0)
            for t in self._tcp
            if t.sockets
        ]
        out += [
            ListenerHealth("udp", *_where(b.sock), "batch" if b.native is None else "batch-c",
                           b.serving, b.restarts,
                           udpbatch.kernel_drops(b.sock), b.unsent)
            for b in self._batches
        ]  # fmt: skip
        for u in self._udp:
            sock, protocol = u.get_extra_info("socket"), u.get_protocol()
            assert isinstance(protocol, _Udp)
            drops = udpbatch.kernel_drops(sock) if sock is not None else None
            out.append(ListenerHealth("udp", *_where(sock), "asyncio", not u.is_closing(), 0,
                                      drops, protocol.unsent))  # fmt: skip
        return ServerHealth(tuple(out))

    async def stop(self) -> None:
        """Stop accepting, let written TCP answers flush, then close everything."""
        for tcp in self._tcp:
            tcp.close()
        for udp in self._udp:
            udp.close()
        for batch in self._batches:
            batch.stop()  # wakes the thread at once and joins it: none outlives stop()
        self.tcp.close_all()  # transport.close() flushes what is already written
        for tcp in self._tcp:
            await tcp.wait_closed()
        self._tcp.clear()
        self._udp.clear()
        self._batches.clear()


def _where(sock: socket.socket | None) -> tuple[str, int]:
    if sock is None or sock.fileno() < 0:
        return "?", 0
    host, port = sock.getsockname()[:2]
    return str(host), int(port)
