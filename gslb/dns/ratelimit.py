"""Response rate limiting (RRL) for UDP, as BIND, Knot and NSD do it.

A spoofed query makes us answer its victim; an answer is larger than the query, so an
open authoritative server amplifies. RRL caps how many replies of one *class* go to one
*client network* per second: the victim of a spoofed flood gets at most ``rate``
replies per second per class, and a real client that shares its network with a flood
still gets every ``slip``-th reply as a bare truncated one (TC=1, the question, no
sections), so it retries over TCP, which a spoofer cannot do. TCP is never limited.

- network: the IPv4 /24, the IPv6 /56 (an IPv4-mapped address counts as IPv4);
- class, read from the reply bytes: answer (answer records, or TC), NODATA, NXDOMAIN,
  referral (not authoritative, authority records only), error (any other RCODE);
- rate and window: replies are counted per (network, class) and second; past ``rate``
  in a second they are dropped or slipped, and, as with BIND's debt, that (network,
  class) stays limited until ``window`` seconds after the last second it went over: a
  steady flood gets nothing but slips, not ``rate`` replies a second;
- memory: counts hold at most ``size`` keys and start afresh each second; a new key
  beyond that is limited (never let through), and penalties expire after ``window``,
  so memory stays under ``size * (window + 1)`` small entries under any flood.

Defaults: 1,000 replies per second per network and class, window 5 s, slip 2. A resolver
sending that much from one /24 would be a large share of one server's capacity (~150k
queries/s), so real resolvers never meet the limit; a reflection flood toward one
network is cut to at most 1,000 replies per second per class, then to slips only.
Cost: ~0.4 µs per UDP reply (two dict operations). Pure: time is passed in.
One limiter per socket, so batch threads never share one.
"""

from __future__ import annotations

import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

SEND, DROP, SLIP = 0, 1, 2
ANSWER, NODATA, NXDOMAIN, REFERRAL, ERROR = range(5)
CLASS_NAMES = ("answer", "nodata", "nxdomain", "referral", "error")

DEFAULT_RATE = 1000  # replies per second per network and class; 0 turns RRL off
DEFAULT_WINDOW = 5.0  # seconds of debt a flood can run up
DEFAULT_SLIP = 2  # every 2nd limited reply goes out truncated; 0 = drop them all
DEFAULT_SIZE = 65536  # entries (~150 bytes each)

_IPV6 = 1 << 56  # a flag above every IPv6 /56 (56 bits) and IPv4 /24 (24 bits)
_TC = 0x02  # in the flags' first byte


def classify(reply: bytes) -> int:
    """The RRL class of one of our replies, from its header."""
    rcode = reply[3] & 0x0F
    if rcode == 3:
        return NXDOMAIN
    if rcode:
        return ERROR
    if reply[6] or reply[7] or reply[2] & _TC:
        return ANSWER
    if reply[2] & 0x04 or not (reply[8] or reply[9]):
        return NODATA
    return REFERRAL


def network_of(peer: str) -> int:
    """The client network a peer address (as the socket module gives it) counts in."""
    address = ip_address(peer.partition("%")[0])
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if isinstance(address, IPv4Address):
        return int(address) >> 8
    return _IPV6 | int(address) >> 72


def ipv6_network(packed: bytes) -> int:
    """``network_of`` for the 16 raw bytes of an IPv6 address (the batch loop's key)."""
    if packed[:12] == b"\0" * 10 + b"\xff\xff":
        return int.from_bytes(packed[12:15], "big")
    return _IPV6 | int.from_bytes(packed[:7], "big")


def truncated(reply: bytes) -> bytes:
    """The slipped form of a reply: same ID, flags with TC, the question, no sections."""
    flags = reply[2] | _TC
    qdcount = reply[4] << 8 | reply[5]
    end = 12
    if qdcount:
        while reply[end]:
            end += reply[end] + 1
        end += 5
    return (
        reply[:2]
        + bytes((flags, reply[3]))
        + struct.pack("!HHHH", qdcount, 0, 0, 0)
        + (reply[12:end])
    )


class RateLimiter:
    """Replies per (network, class) per second; plain counters ``dropped``, ``slipped``.

    Counting is per whole second (cheaper than a float balance per reply: two dict
    operations on the common path). A key that goes over ``rate`` in a second is limited
    for the rest of it and, BIND-style, stays limited until ``window`` seconds after the
    last second it went over. The counts start afresh every second and hold at most
    ``size`` keys: a new key beyond that (a flood from more networks than that in one
    second) is treated as limited, so the bound can never open a gap.
    """

    __slots__ = ("rate", "window", "slip", "size", "counts", "penalty", "epoch", "next_epoch",
                 "limited", "dropped", "slipped")  # fmt: skip

    def __init__(
        self,
        rate: int = DEFAULT_RATE,
        window: float = DEFAULT_WINDOW,
        slip: int = DEFAULT_SLIP,
        size: int = DEFAULT_SIZE,
    ) -> None:
        if rate <= 0 or window <= 0 or slip < 0 or size <= 0:
            raise ValueError("rate, window and size must be positive, slip not negative")
        self.rate = rate
        self.window = window
        self.slip = slip
        self.size = size
        self.counts: dict[int, int] = {}  # key -> replies this second
        self.penalty: dict[int, float] = {}  # key -> limited until this time
        self.epoch = float("-inf")  # the start of the current second
        self.next_epoch = float("-inf")
        self.limited = 0
        self.dropped = 0
        self.slipped = 0

    def check(self, network: int, reply: bytes, now: float) -> int:
        """SEND, DROP or SLIP (send :func:`truncated` instead) for this reply."""
        if now >= self.next_epoch:
            self._next_second(now)
        flags = reply[2]  # classify(), inlined: this runs for every UDP reply
        rcode = reply[3] & 0x0F
        if rcode:
            cls = NXDOMAIN if rcode == 3 else ERROR
        elif reply[7] or reply[6] or flags & _TC:
            cls = ANSWER
        elif flags & 0x04 or not (reply[9] or reply[8]):
            cls = NODATA
        else:
            cls = REFERRAL
        key = network << 3 | cls
        counts = self.counts
        count = counts.get(key, 0) + 1
        if count == 1 and len(counts) >= self.size:
            return self._limit(-1, 0)
        counts[key] = count
        if count <= self.rate:
            penalty = self.penalty
            if not penalty or key not in penalty:
                return SEND
        return self._limit(key, count)

    def _limit(self, key: int, count: int) -> int:
        if count > self.rate:
            self.penalty[key] = self.epoch + self.window
        self.limited += 1
        if self.slip and self.limited % self.slip == 0:
            self.slipped += 1
            return SLIP
        self.dropped += 1
        return DROP

    def _next_second(self, now: float) -> None:
        self.epoch = float(int(now))
        self.next_epoch = self.epoch + 1.0
        self.counts = {}
        if self.penalty:
            self.penalty = {k: t for k, t in self.penalty.items() if t > self.epoch}
