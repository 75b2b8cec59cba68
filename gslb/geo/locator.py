"""The Locator protocol, and a static table locator for tests and examples. Pure."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network
from typing import Protocol

from gslb.geo.special import overlaps_special, special_lookup
from gslb.model import IPAddress, IPNetwork, Location, Lookup

__all__ = ["FAILED", "NOWHERE", "Locator", "StaticLocator"]


#: The place id of every address without a location (special, unknown, no record).
NOWHERE = 0
#: The place id of an address whose lookup failed at query time. The policy answers it
#: as if the client were inside every fence that could apply (gslb.policy.table), so a
#: database failure can never carry a fenced client out of its fence.
FAILED = -1


class Locator(Protocol):
    """Anything that can say where an address is (GeoDatabase, StaticLocator).

    The query path asks :meth:`find` with plain integers and gets a *place id* (an
    index into ``places``, the same for every address with the same location) and
    the prefix length of the widest network around the address with that answer (the
    ECS scope starts from it). Explanations ask :meth:`lookup`, which also says why
    an address has no location.
    """

    @property
    def places(self) -> Sequence[Location | None]: ...

    def find(self, version: int, value: int) -> tuple[int, int]: ...

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

    __slots__ = ("_entries", "_ids", "places")

    def __init__(self, table: Mapping[str, Location]) -> None:
        entries = [(ip_network(cidr, strict=True), loc) for cidr, loc in table.items()]
        entries.sort(key=lambda e: e[0].prefixlen, reverse=True)
        self._entries: tuple[tuple[IPNetwork, Location], ...] = tuple(entries)
        self.places: list[Location | None] = [None]
        self._ids: dict[Location, int] = {}
        for _, loc in entries:
            if loc not in self._ids:
                self._ids[loc] = len(self.places)
                self.places.append(loc)

    def find(self, version: int, value: int) -> tuple[int, int]:
        address = IPv4Address(value) if version == 4 else IPv6Address(value)
        found = self.lookup(address)
        place = NOWHERE if found.location is None else self._ids[found.location]
        return place, found.network.prefixlen

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
