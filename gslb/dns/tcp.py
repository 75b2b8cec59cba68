"""DNS over TCP (RFC 7766) that a slowloris cannot hold shut.

Each connection is, at any time, either *idle* (between messages: nothing of the next
one received yet) or *busy* (part of a message received). Two clocks, never re-armed by
partial bytes:

- idle: ``tcp_idle`` seconds without the first byte of a next message closes it
  (RFC 7766 6.2.3);
- message: ``tcp_message`` seconds from a message's first byte to its last closes it,
  however the bytes trickle in (a client sends a query in one segment; a few seconds
  allow for retransmissions).

Connections are capped in total and per client (an IPv4 address; an IPv6 /64, what one
host can hold). When the total is full, a new connection is taken and the *oldest idle*
one closed (else the one whose message has been arriving longest): a fresh client (the
TCP retry after a truncated UDP answer) is never turned away by connections that are
doing nothing. A client at its own cap loses its own oldest idle connection, or the new
one is refused. Every close for a limit is counted in :class:`TcpStats` and logged at
most once per ``LOG_EVERY`` seconds with a count.

:class:`Table` is the pure bookkeeping (which connection to close), tested without
sockets; :class:`TcpService` and :class:`TcpConnection` are the asyncio shell.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address
from typing import TYPE_CHECKING, Generic, TypeVar

from gslb.dns.counters import Counts
from gslb.dns.throttle import Throttle

if TYPE_CHECKING:
    from gslb.dns.responder import ResponderSource
    from gslb.dns.server import Limits

log = logging.getLogger(__name__)

LOG_EVERY = 10.0  # seconds between two log lines about TCP limits

C = TypeVar("C")


def client_key(peer: str) -> str:
    """What the per-client cap counts by: the IPv4 address (an IPv4-mapped one too), or
    the IPv6 /64."""
    try:
        address = ip_address(peer.partition("%")[0])
    except ValueError:
        return peer
    if isinstance(address, IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(IPv6Address(int(address) >> 64 << 64)) + "/64"
    return str(address)


class Table(Generic[C]):
    """Which connections are open, idle or busy, per client; who goes when full.

    Dicts keep insertion order, so the first idle (busy) entry is the one idle (busy)
    longest; every operation is O(1) but a per-client scan bounded by that cap.
    """

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self.idle: dict[C, None] = {}
        self.busy: dict[C, None] = {}
        self.client: dict[C, str] = {}
        self.clients: dict[str, dict[C, None]] = {}

    def __len__(self) -> int:
        return len(self.client)

    def admit(self, conn: C, client: str) -> tuple[bool, list[C], str]:
        """Take ``conn`` (idle) if the limits allow; returns (admitted, connections to
        close now, why: "" or "per-client", "evict-idle", "evict-busy")."""
        mine = self.clients.get(client)
        if mine is not None and len(mine) >= self.per_client:
            victim = next((c for c in mine if c in self.idle), None)
            if victim is None:
                return False, [], "per-client"
            self.remove(victim)
            self._add(conn, client)
            return True, [victim], "per-client"
        victims: list[C] = []
        why = ""
        if len(self.client) >= self.total:
            queue = self.idle or self.busy
            why = "evict-idle" if self.idle else "evict-busy"
            victim = next(iter(queue))
            self.remove(victim)
            victims.append(victim)
        self._add(conn, client)
        return True, victims, why

    def _add(self, conn: C, client: str) -> None:
        self.client[conn] = client
        self.clients.setdefault(client, {})[conn] = None
        self.idle[conn] = None

    def set_idle(self, conn: C) -> None:
        """Between messages: to the back of the idle queue."""
        if conn in self.client:
            self.busy.pop(conn, None)
            self.idle.pop(conn, None)
            self.idle[conn] = None

    def set_busy(self, conn: C) -> None:
        """A message has begun: to the back of the busy queue."""
        if conn in self.client:
            self.idle.pop(conn, None)
            self.busy.pop(conn, None)
            self.busy[conn] = None

    def remove(self, conn: C) -> None:
        client = self.client.pop(conn, None)
        if client is None:
            return
        self.idle.pop(conn, None)
        self.busy.pop(conn, None)
        mine = self.clients[client]
        del mine[conn]
        if not mine:
            del self.clients[client]


@dataclass(slots=True)
class TcpStats:
    """Plain counters (for metrics): connections taken and closed, and why."""

    accepted: int = 0
    refused_per_client: int = 0  # a client at its cap with no idle connection to give up
    closed_per_client: int = 0  # a client's own oldest idle one, for its new one
    evicted_idle: int = 0  # total cap: the oldest idle connection made room
    evicted_busy: int = 0  # total cap, nothing idle: the oldest unfinished message
    idle_timeouts: int = 0
    message_timeouts: int = 0  # a message not complete within tcp_message seconds
    query_limit: int = 0  # tcp_queries answered on one connection
    slow_readers: int = 0  # replies piling up unread

    @property
    def closed_for_limits(self) -> int:
        return (
            self.refused_per_client + self.closed_per_client + self.evicted_idle
            + self.evicted_busy + self.message_timeouts + self.slow_readers
        )  # fmt: skip


class TcpService:
    """What every TCP connection of one server shares: limits, table, counters."""

    def __init__(self, source: ResponderSource, limits: Limits) -> None:
        self.source = source
        self.limits = limits
        self.table: Table[TcpConnection] = Table(limits.tcp_connections, limits.tcp_per_client)
        self.stats = TcpStats()
        self.counts = Counts("tcp")  # queries, counted on the event loop's thread
        self._throttle = Throttle(LOG_EVERY)

    def __len__(self) -> int:
        return len(self.table)

    def connections(self) -> list[TcpConnection]:
        return list(self.table.client)

    def limited(self, counter: str) -> None:
        """Count a close for a limit; log (throttled) how many since the last line."""
        setattr(self.stats, counter, getattr(self.stats, counter) + 1)
        count = self._throttle.note(time.monotonic())
        if count:
            s = self.stats
            log.warning(
                "TCP limits closed or refused %d connection(s) since the last report "
                "(open %d/%d; totals: evicted idle %d, evicted busy %d, per-client %d+%d, "
                "message timeouts %d, slow readers %d)",
                count, len(self.table), self.limits.tcp_connections, s.evicted_idle,
                s.evicted_busy, s.refused_per_client, s.closed_per_client,
                s.message_timeouts, s.slow_readers,
            )  # fmt: skip

    def close_all(self) -> None:
        for conn in self.connections():
            conn.close()


class TcpConnection(asyncio.Protocol):
    """One client connection: length-prefixed messages in, answers out."""

    def __init__(self, service: TcpService) -> None:
        self.service = service
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.queries = 0
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if peer else "?"
        service = self.service
        admitted, victims, why = service.table.admit(self, client_key(self.peer))
        for victim in victims:
            victim.close()
            service.limited("closed_per_client" if why == "per-client" else
                            "evicted_idle" if why == "evict-idle" else "evicted_busy")  # fmt: skip
        if not admitted:
            service.limited("refused_per_client")
            transport.close()
            return
        service.stats.accepted += 1
        self._arm(service.limits.tcp_idle, "idle_timeouts")

    def _arm(self, seconds: float, counter: str) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(seconds, self._expire, counter)

    def _expire(self, counter: str) -> None:
        if counter == "idle_timeouts":
            self.service.stats.idle_timeouts += 1  # normal life: counted, never logged
        else:
            self.service.limited(counter)
        self.close()

    def close(self) -> None:
        """Leave the table at once (the slot is free now) and close the transport."""
        self.service.table.remove(self)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        began = not self.buffer  # the first bytes of a message
        self.buffer += data
        answered = self._answer_complete(transport)
        if answered is None or transport.is_closing():
            return
        limits = self.service.limits
        if not self.buffer:
            if answered:
                self.service.table.set_idle(self)
                self._arm(limits.tcp_idle, "idle_timeouts")
        elif began or answered:  # a new message has begun: its clock starts now, once
            self.service.table.set_busy(self)
            self._arm(limits.tcp_message, "message_timeouts")

    def _answer_complete(self, transport: asyncio.Transport) -> int | None:
        """Answer every complete message in the buffer; how many, or None if closed."""
        limits = self.service.limits
        answered = 0
        while len(self.buffer) >= 2:
            (size,) = struct.unpack_from("!H", self.buffer)
            if len(self.buffer) < 2 + size:
                break
            message = bytes(self.buffer[2 : 2 + size])
            del self.buffer[: 2 + size]
            self.queries += 1
            answered += 1
            try:
                out = self.service.source.responder.respond(
                    message, self.peer, True, self.service.counts
                )
            except Exception:
                log.exception("TCP query from %s failed", self.peer)
                out = None
            if out is None:  # unanswerable input: RFC 7766 lets us close
                self.close()
                return None
            transport.write(struct.pack("!H", len(out)) + out)
            if transport.get_write_buffer_size() > limits.tcp_write_buffer:
                self.service.limited("slow_readers")
                transport.abort()  # what is buffered would never be read
                self.close()
                return None
            if self.queries >= limits.tcp_queries:
                self.service.stats.query_limit += 1
                self.close()
                return None
        return answered

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.service.table.remove(self)
