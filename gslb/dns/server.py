"""UDP and TCP listeners (RFC 1035, RFC 7766).

Transport only: every datagram or TCP message goes to ``source.responder.respond``,
read once per message, so a reload that swaps the responder affects the next query
with no locks. Nothing raised by a query reaches the event loop. TCP is asyncio; UDP is
answered in recvmmsg/sendmmsg batches by a thread per socket (``gslb.dns.udpbatch``: two
system calls per batch instead of two per query) where Linux allows it, else by an
asyncio DatagramProtocol (``udp_io="asyncio"`` asks for that path).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import struct
from dataclasses import dataclass
from typing import Literal

from gslb.dns import udpbatch
from gslb.dns.responder import ResponderSource
from gslb.model import HostPort

log = logging.getLogger(__name__)


UdpIo = Literal["asyncio", "batch"]  # batch falls back to asyncio where it cannot work


@dataclass(frozen=True, slots=True)
class Limits:
    tcp_idle: float = 10.0  # seconds without a complete query before we close (RFC 7766 6.2.3)
    tcp_connections: int = 512  # concurrent TCP connections, all clients
    tcp_queries: int = 1000  # queries per TCP connection before we close it
    tcp_write_buffer: int = 256 * 1024  # a client that stops reading is disconnected


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, source: ResponderSource) -> None:
        self.source = source
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            out = self.source.responder.respond(data, addr[0])
        except Exception:  # a bug must cost one answer, never the listener
            log.exception("UDP query from %s failed", addr[0])
            return
        if out is not None and self.transport is not None:
            self.transport.sendto(out, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("UDP socket error: %s", exc)


class _Tcp(asyncio.Protocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.queries = 0
        self.idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"
        if len(self.server.connections) >= self.server.limits.tcp_connections:
            log.warning("TCP connection limit reached; closing connection from %s", self.peer)
            transport.close()
            return
        self.server.connections.add(self)
        self._arm()

    def _arm(self) -> None:
        if self.idle is not None:
            self.idle.cancel()
        loop = asyncio.get_running_loop()
        self.idle = loop.call_later(self.server.limits.tcp_idle, self._close)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        assert self.transport is not None
        while len(self.buffer) >= 2:
            (size,) = struct.unpack_from("!H", self.buffer)
            if len(self.buffer) < 2 + size:
                break
            message = bytes(self.buffer[2 : 2 + size])
            del self.buffer[: 2 + size]
            self.queries += 1
            try:
                out = self.server.source.responder.respond(message, self.peer, tcp=True)
            except Exception:
                log.exception("TCP query from %s failed", self.peer)
                out = None
            if out is None:  # unanswerable input: RFC 7766 lets us close
                self.transport.close()
                return
            self.transport.write(struct.pack("!H", len(out)) + out)
            if self.transport.get_write_buffer_size() > self.server.limits.tcp_write_buffer:
                log.warning("TCP client %s is not reading; closing", self.peer)
                self.transport.close()
                return
            if self.queries >= self.server.limits.tcp_queries:
                self.transport.close()
                return
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle is not None:
            self.idle.cancel()
        self.server.connections.discard(self)


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
        self.connections: set[_Tcp] = set()
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
                lambda: _Tcp(self),
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
                    lambda: _Udp(self.source), sock=self._udp_socket(listener.host, port, family)
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
            return udpbatch.UdpBatch(sock, self.source, self._calls)
        except Exception:
            log.exception("UDP batch setup failed on %s:%d; using asyncio", host, port)
            sock.close()
            return None

    async def stop(self) -> None:
        """Stop accepting, let written TCP answers flush, then close everything."""
        for tcp in self._tcp:
            tcp.close()
        for udp in self._udp:
            udp.close()
        for batch in self._batches:
            batch.stop()  # wakes the thread at once and joins it: none outlives stop()
        for conn in list(self.connections):
            conn._close()  # transport.close() flushes what is already written
        for tcp in self._tcp:
            await tcp.wait_closed()
        self._tcp.clear()
        self._udp.clear()
        self._batches.clear()
