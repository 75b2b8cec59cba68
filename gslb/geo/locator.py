"""The Locator protocol, and a static table locator for tests and examples. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import IPv4Network, IPv6Network, ip_network
from typing import Protocol

from gslb.geo.special import overlaps_special, special_lookup
from gslb.model import IPAddress, IPNetwork, Location, Lookup

__all__ = ["Locator", "StaticLocator"]


class Locator(Protocol):
    """Anything that can say where an address is (GeoDatabase, StaticLocator)."""

    def lookup(self, address: IPAddress) -> Lookup: ...




def _supernet(address: IPAddress, prefixlen: int) -> IPNetwork:
    bits = address.max_prefixlen
    base = (int(address) >> (bits - prefixlen)) << (bits - prefixlen) if prefixlen else 0
    if address.version == 4:
        return IPv4Network((base, prefixlen))
    return IPv6Network((base, prefixlen))


class StaticLocator:
    """A Locator from a fixed table of CIDR -> Location, for tests and examples.

    Longest prefix wins. Configured entries win over special-purpose blocks, so tests
    may place documentation addresses anywhere; unconfigured special addresses get
    :func:`special_lookup`'s reason. For any other address ``network`` is the widest
    network around it that overlaps neither a configured entry nor a special block
    (so every address in it gets the same answer), reason "not in static table".
    """

    __slots__ = ("_entries",)

    def __init__(self, table: Mapping[str, Location]) -> None:
        entries = [(ip_network(cidr, strict=True), loc) for cidr, loc in table.items()]
        entries.sort(key=lambda e: e[0].prefixlen, reverse=True)
        self._entries: tuple[tuple[IPNetwork, Location], ...] = tuple(entries)

    def lookup(self, address: IPAddress) -> Lookup:
        for net, loc in self._entries:
            if net.version == address.version and address in net:
                return Lookup(loc, net)
        special = special_lookup(address)
        floor = special.network.prefixlen if special is not None else 0
        for plen in range(floor, address.max_prefixlen + 1):
            candidate = _supernet(address, plen)
            first, last = int(candidate.network_address), int(candidate.broadcast_address)
            if special is None and overlaps_special(address.version, first, last):
                continue  # would cover special blocks, which answer differently
            if not any(
                n.version == candidate.version and n.overlaps(candidate) for n, _ in self._entries
            ):
                reason = special.reason if special is not None else "not in static table"
                return Lookup(None, candidate, reason)
        raise AssertionError("unreachable: a host network overlaps only a matching entry")
