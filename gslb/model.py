"""The zone and policy model: immutable values that every other layer reads.

Objects here are only ever built by ``gslb.config`` (which validates first), so an
instance that exists is valid. Nothing here does I/O or knows about the wire format.
Names are absolute, lower-case and end with a dot ("api.example.com.").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from types import MappingProxyType
from typing import Literal

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network
AllDown = Literal["fail-open", "nodata", "servfail"]
Outcome = Literal["answer", "nodata", "servfail"]

#: Record types a zone file may hold as static data.
STATIC_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS", "PTR")


# --------------------------------------------------------------------------- addresses


@dataclass(frozen=True, slots=True)
class HostPort:
    """A host (address or name) and a port: listeners, probe targets, the HTTP API."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, default_port: int | None = None) -> HostPort:
        """``127.0.0.1:53``, ``[::1]:53``, ``name:80``; the port may be left out when
        ``default_port`` is given. Raises ValueError saying what is wrong."""
        if text.startswith("["):
            host, bracket, rest = text[1:].partition("]")
            if not bracket or (rest and not rest.startswith(":")):
                raise ValueError(f"'{text}' is not [IPv6]:PORT")
            port = rest[1:]
        elif text.count(":") > 1:  # a bare IPv6 address: no port possible
            host, port = text, ""
        else:
            host, _, port = text.partition(":")
        if not host:
            raise ValueError(f"'{text}' has no host (HOST:PORT, IPv6 as [ADDR]:PORT)")
        if not port:
            if default_port is None:
                raise ValueError(f"'{text}' has no port (HOST:PORT, IPv6 as [ADDR]:PORT)")
            return cls(host, default_port)
        if not port.isdigit():
            raise ValueError(f"port '{port}' in '{text}' is not a number")
        if not 0 <= int(port) <= 65535:
            raise ValueError(f"port {int(port)} in '{text}' is out of range 0..65535")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


# --------------------------------------------------------------------------- zone data


@dataclass(frozen=True, slots=True)
class Soa:
    mname: str
    rname: str
    serial: int
    refresh: int
    retry: int
    expire: int
    minimum: int
    ttl: int


@dataclass(frozen=True, slots=True)
class RRset:
    """One owner name and type; rdata in presentation format (as in a master file)."""

    name: str
    rtype: str
    ttl: int
    rdatas: tuple[str, ...]


# --------------------------------------------------------------------------- geography


@dataclass(frozen=True, slots=True)
class Location:
    """What the geo database says about a client. Any field may be unknown."""

    country: str | None = None  # ISO 3166-1 alpha-2, upper case
    continent: str | None = None  # AF AN AS EU NA OC SA
    subdivision: str | None = None  # "US-CA" when the database has ISO subdivision codes
    lat: float | None = None
    lon: float | None = None

    @property
    def has_coordinates(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of locating one address.

    ``network`` is the widest network around the address for which the locator's
    answer is identical (the database network, or the special-purpose block); the
    ECS scope is derived from it. ``reason`` explains a missing location.
    """

    location: Location | None
    network: IPNetwork
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Client:
    """Who is asking: the address we locate and where it came from."""

    address: IPAddress
    source: Literal["ecs", "resolver"]
    source_prefix: int  # ECS source prefix length, or the full address length
    lookup: Lookup

    @property
    def key(self) -> bytes:
        """The client network used for deterministic hashing (spill, affinity).

        Addresses are folded to /24 (IPv4) or /48 (IPv6): the usual ECS granularity, so
        every host behind one resolver-visible network gets the same answer.
        """
        bits = 24 if self.address.version == 4 else 48
        net = int(self.address) >> (self.address.max_prefixlen - bits)
        return net.to_bytes(8, "big") + bytes([self.address.version])

    @property
    def key_prefix(self) -> int:
        return 24 if self.address.version == 4 else 48


# --------------------------------------------------------------------------- policy config


@dataclass(frozen=True, slots=True)
class ClientMatch:
    """Which clients a fence or rule applies to. Empty match never matches."""

    countries: frozenset[str] = frozenset()
    continents: frozenset[str] = frozenset()
    subdivisions: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def matches(self, address: IPAddress, location: Location | None) -> bool:
        if location is not None:
            if location.country is not None and location.country in self.countries:
                return True
            if location.continent is not None and location.continent in self.continents:
                return True
            if location.subdivision is not None and location.subdivision in self.subdivisions:
                return True
        return any(address in net for net in self.networks if net.version == address.version)

    def describe(self) -> str:
        parts: list[str] = []
        if self.countries:
            parts.append("countries " + ",".join(sorted(self.countries)))
        if self.continents:
            parts.append("continents " + ",".join(sorted(self.continents)))
        if self.subdivisions:
            parts.append("subdivisions " + ",".join(sorted(self.subdivisions)))
        if self.networks:
            parts.append("networks " + ",".join(str(n) for n in self.networks))
        return "; ".join(parts) or "nobody"


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: IPAddress
    weight: int = 1
    down: bool = False  # administratively down in config

    @property
    def family(self) -> int:
        return self.address.version


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    lat: float
    lon: float
    endpoints: tuple[Endpoint, ...]
    aws_region: str | None = None
    down: bool = False  # administratively down in config


@dataclass(frozen=True, slots=True)
class Fence:
    """Data sovereignty: clients matched here may only be answered from ``regions``."""

    name: str
    match: ClientMatch
    regions: frozenset[str]
    all_down: AllDown = "fail-open"


@dataclass(frozen=True, slots=True)
class Rule:
    """Explicit routing: matched clients use exactly ``regions``, in this order."""

    match: ClientMatch
    regions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Spill:
    """Load watermarks (fractions of capacity, 0 < low < high <= 1)."""

    low: float = 0.8
    high: float = 0.95


@dataclass(frozen=True, slots=True)
class Pick:
    count: int = 0  # 0 = every healthy endpoint of the chosen region
    second_region: bool = False  # also answer with the next region's endpoints


@dataclass(frozen=True, slots=True)
class GslbName:
    """A name whose A/AAAA answers are chosen per query. Self-contained for the policy."""

    name: str
    ttl: int
    degraded_ttl: int
    regions: tuple[Region, ...]  # candidates, in declaration order
    fences: tuple[Fence, ...] = ()  # zone-level fences first, then the name's own
    rules: tuple[Rule, ...] = ()
    default_order: tuple[str, ...] = ()  # for clients with no location
    default_location: tuple[float, float] | None = None
    spill: Spill = field(default_factory=Spill)
    pick: Pick = field(default_factory=Pick)

    def region(self, name: str) -> Region:
        for r in self.regions:
            if r.name == name:
                return r
        raise KeyError(name)


@dataclass(frozen=True, slots=True)
class Zone:
    origin: str
    source: str  # file the zone came from, for messages
    ttl: int
    soa: Soa
    ns: tuple[str, ...]
    rrsets: Mapping[str, Mapping[str, RRset]]  # owner -> rtype -> RRset (apex SOA/NS included)
    gslb: Mapping[str, GslbName]  # owner -> policy
    regions: Mapping[str, Region]
    fences: tuple[Fence, ...] = ()

    def contains(self, name: str) -> bool:
        return name == self.origin or name.endswith("." + self.origin)


# --------------------------------------------------------------------------- live state


@dataclass(frozen=True, slots=True)
class Status:
    """Health and load as the policy sees them; replaced whole, never mutated.

    ``generation`` increases with every published change so caches keyed on it
    (decisions, rendered answers) are invalidated by the swap itself.
    """

    down_regions: frozenset[str] = frozenset()
    down_endpoints: frozenset[tuple[str, str]] = frozenset()  # (region, address)
    load: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    generation: int = 0


# --------------------------------------------------------------------------- decisions


@dataclass(frozen=True, slots=True)
class Step:
    """One policy step as ``gslb resolve`` explains it."""

    name: str
    kept: tuple[str, ...]
    removed: tuple[tuple[str, str], ...] = ()  # (region, why)
    note: str = ""


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    regions: tuple[str, ...]  # regions whose endpoints are in the answer
    endpoints: tuple[Endpoint, ...]  # of the queried family, in answer order
    ttl: int
    degraded: bool = False
    hashed: bool = False  # depends on the client network hash (spill, affinity)
    trace: tuple[Step, ...] = ()
