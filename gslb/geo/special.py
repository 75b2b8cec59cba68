"""Special-purpose addresses: they say nothing about where a client is. Pure.

Private, loopback, documentation, CGNAT, multicast... addresses never reach the
database: their :class:`~gslb.model.Lookup` has no location, names the block as
``network`` (the ECS scope) and the RFC as ``reason``. The blocks are precomputed into
disjoint sorted integer ranges, so a check is one ``bisect`` rather than a chain of
``ipaddress.is_private``-style tests.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from ipaddress import collapse_addresses, ip_network
from typing import Any

from gslb.model import IPAddress, Lookup

__all__ = [
    "SPECIAL_BLOCKS",
    "overlaps_special",
    "special_lookup",
    "special_lookup_int",
    "special_ranges",
]


#: Special-purpose blocks (IANA registries, RFC 6890) with the reason shown to
#: operators. More specific entries win over the broad "not global unicast" ones.
SPECIAL_BLOCKS: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "'this network' address (RFC 791)"),
    ("0.0.0.0/32", "unspecified address (RFC 1122)"),
    ("10.0.0.0/8", "private address (RFC 1918)"),
    ("100.64.0.0/10", "shared CGNAT address (RFC 6598)"),
    ("127.0.0.0/8", "loopback address (RFC 1122)"),
    ("169.254.0.0/16", "link-local address (RFC 3927)"),
    ("172.16.0.0/12", "private address (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignment (RFC 6890)"),
    ("192.0.2.0/24", "documentation address (RFC 5737)"),
    ("192.88.99.0/24", "6to4 relay anycast, deprecated (RFC 7526)"),
    ("192.168.0.0/16", "private address (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking address (RFC 2544)"),
    ("198.51.100.0/24", "documentation address (RFC 5737)"),
    ("203.0.113.0/24", "documentation address (RFC 5737)"),
    ("224.0.0.0/4", "multicast address (RFC 5771)"),
    ("240.0.0.0/4", "reserved address (RFC 1112)"),
    ("255.255.255.255/32", "limited broadcast address (RFC 919)"),
    # IPv6: everything outside 2000::/3 is not global unicast; name the known blocks.
    ("::/3", "not a global unicast address (RFC 4291)"),
    ("4000::/2", "not a global unicast address (RFC 4291)"),
    ("8000::/1", "not a global unicast address (RFC 4291)"),
    ("::/128", "unspecified address (RFC 4291)"),
    ("::1/128", "loopback address (RFC 4291)"),
    ("::/96", "IPv4-compatible address, deprecated (RFC 4291)"),
    ("::ffff:0:0/96", "IPv4-mapped address (RFC 4291)"),
    ("64:ff9b::/96", "NAT64 well-known prefix (RFC 6052)"),
    ("64:ff9b:1::/48", "NAT64 local-use prefix (RFC 8215)"),
    ("100::/64", "discard-only address (RFC 6666)"),
    ("2001:2::/48", "benchmarking address (RFC 5180)"),
    ("2001:db8::/32", "documentation address (RFC 3849)"),
    ("3fff::/20", "documentation address (RFC 9637)"),
    ("fc00::/7", "unique local address (RFC 4193)"),
    ("fe80::/10", "link-local address (RFC 4291)"),
    ("fec0::/10", "site-local address, deprecated (RFC 3879)"),
    ("ff00::/8", "multicast address (RFC 4291)"),
)


@dataclass(frozen=True, slots=True)
class _Table:
    """Disjoint blocks of one family as sorted integer ranges."""

    starts: tuple[int, ...]
    ends: tuple[int, ...]
    lookups: tuple[Lookup, ...]

    def find(self, value: int) -> Lookup | None:
        i = bisect_right(self.starts, value) - 1
        if i >= 0 and value <= self.ends[i]:
            return self.lookups[i]
        return None

    def overlaps(self, first: int, last: int) -> bool:
        i = bisect_right(self.starts, last) - 1
        return i >= 0 and self.ends[i] >= first


def _disjoint(blocks: list[tuple[Any, str]]) -> list[tuple[Any, str]]:
    """Split broad blocks around the more specific ones inside them (one family)."""
    ordered = sorted(blocks, key=lambda b: b[0].prefixlen)
    out: list[tuple[Any, str]] = []
    for i, (net, reason) in enumerate(ordered):
        pieces = [net]
        for sub, _ in ordered[i + 1 :]:
            if sub.prefixlen == net.prefixlen or not sub.subnet_of(net):
                continue
            nxt = []
            for piece in pieces:
                if sub.subnet_of(piece):
                    nxt.extend(piece.address_exclude(sub))
                elif not piece.subnet_of(sub):
                    nxt.append(piece)
            pieces = nxt
        out.extend((p, reason) for p in collapse_addresses(pieces))
    return out


def _table(version: int) -> _Table:
    blocks: list[tuple[Any, str]] = [(ip_network(c), r) for c, r in SPECIAL_BLOCKS]
    rows = sorted(_disjoint([b for b in blocks if b[0].version == version]))
    return _Table(
        tuple(int(n.network_address) for n, _ in rows),
        tuple(int(n.broadcast_address) for n, _ in rows),
        tuple(Lookup(None, n, r) for n, r in rows),
    )


_TABLES: dict[int, _Table] = {4: _table(4), 6: _table(6)}


def special_ranges(family: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(starts, ends, prefix lengths) of the special blocks of one family, sorted: for a
    caller that checks millions of addresses with one ``bisect`` each."""
    t = _TABLES[family]
    return t.starts, t.ends, tuple(lk.network.prefixlen for lk in t.lookups)


def special_lookup_int(family: int, value: int) -> Lookup | None:
    """:func:`special_lookup` for an address given as family (4/6) and integer."""
    return _TABLES[family].find(value)


def special_lookup(address: IPAddress) -> Lookup | None:
    """The no-location answer for a special-purpose address, or None for a public one."""
    return _TABLES[address.version].find(int(address))


def overlaps_special(family: int, first: int, last: int) -> bool:
    """Whether the integer range [first, last] touches a special-purpose block."""
    return _TABLES[family].overlaps(first, last)
