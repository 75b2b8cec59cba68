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
        """The client network used for deterministic hashing (spill, affinity)."""
        return client_key(self.address.version, int(self.address))

    @property
    def key_prefix(self) -> int:
        return CLIENT_PREFIX[self.address.version]


#: Hashing granularity (spill, affinity, ECS scope of hashed answers): the usual ECS
#: source prefixes, so every host behind one resolver-visible network is answered alike.
CLIENT_PREFIX: Mapping[int, int] = MappingProxyType({4: 24, 6: 48})
_BITS: Mapping[int, int] = MappingProxyType({4: 32, 6: 128})


def client_network(version: int, value: int) -> int:
    """The address folded to its /24 (IPv4) or /48 (IPv6), as an integer."""
    return value >> (_BITS[version] - CLIENT_PREFIX[version])


def client_key(version: int, value: int) -> bytes:
    """The bytes hashed for a client: its folded network and the IP version."""
    return client_network(version, value).to_bytes(8, "big") + bytes([version])


# --------------------------------------------------------------------------- policy config


@dataclass(frozen=True, slots=True)
class ClientMatch:
    """Which clients a fence or rule applies to. Empty match never matches."""

    countries: frozenset[str] = frozenset()
    continents: frozenset[str] = frozenset()
    subdivisions: frozenset[str] = frozenset()
    networks: tuple[IPNetwork, ...] = ()

    def matches(self, address: IPAddress | None, location: Location | None) -> bool:
        """Whether a client at ``address`` (None: a place, no address) located at
        ``location`` is one of these clients."""
        if location is not None:
            if location.country is not None and location.country in self.countries:
                return True
            if location.continent is not None and location.continent in self.continents:
                return True
            if location.subdivision is not None and location.subdivision in self.subdivisions:
                return True
        if address is None:
            return False
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


#: A region's identity: (zone origin, region name). Health, load, overrides, metrics and
#: status all key regions by it, so two zones may each define their own ``eu-west``.
RegionKey = tuple[str, str]
#: An endpoint's identity: (zone origin, region name, address as text).
EndpointKey = tuple[str, str, str]

Check = Literal["http", "https", "tcp"]
DEFAULT_PORTS: Mapping[str, int] = MappingProxyType({"http": 80, "https": 443})


@dataclass(frozen=True, slots=True)
class LoadFeed:
    """Where a probe response reports the region's load (a number 0..1)."""

    source: Literal["json", "header"]
    field: str  # JSON field (dotted path) or header name


@dataclass(frozen=True, slots=True)
class HealthCheck:
    """How one endpoint is probed: the zone file's ``health:`` (region, then endpoint)."""

    check: Check
    target: HostPort | None = None  # probed instead of the endpoint address
    port: int | None = None  # without target: the endpoint address on this port
    path: str = "/"
    host: str | None = None  # Host header and TLS SNI
    expect: tuple[int, ...] = ()  # HTTP status codes; empty: any 2xx or 3xx
    match: str | None = None  # a substring the body must contain
    json: str | None = None  # a JSON field (dotted path) that must be true
    interval: float = 10.0
    timeout: float = 4.0
    fall: int = 3
    rise: int = 2
    tls_verify: bool = True
    assume: Literal["up", "down"] = "up"  # the state until the first verdict
    load: LoadFeed | None = None

    def target_for(self, address: IPAddress) -> HostPort:
        """Where to connect to probe the endpoint ``address``."""
        if self.target is not None:
            return self.target
        port = self.port if self.port is not None else DEFAULT_PORTS.get(self.check, 0)
        return HostPort(str(address), port)

    def status_ok(self, code: int) -> bool:
        return code in self.expect if self.expect else 200 <= code < 400


@dataclass(frozen=True, slots=True)
class Endpoint:
    address: IPAddress
    weight: int = 1
    down: bool = False  # administratively down in config
    health: HealthCheck | None = None  # the region's check with this endpoint's overrides
    text: str = field(init=False, repr=False, compare=False)  # str(address), made once

    def __post_init__(self) -> None:
        object.__setattr__(self, "text", str(self.address))

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
    zone: str = ""  # origin of the zone that defines it: part of its identity
    min_up: int = 1  # endpoints that must be up for the region to be up
    health: HealthCheck | None = None  # the region-level check, as written

    @property
    def key(self) -> RegionKey:
        return (self.zone, self.name)

    def endpoint_key(self, endpoint: Endpoint) -> EndpointKey:
        return (self.zone, self.name, endpoint.text)


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
class LiveState:
    """What the policy reads of the running world: health, load and operator overrides.

    Built by the live layer (probes, overrides, load feeds) or by ``gslb resolve
    --down/--load``; replaced whole, never mutated, and compared by value, so
    publishing an identical state changes nothing. ``down_endpoints`` already folds
    probes and endpoint overrides (force-up, force-down); ``down_regions`` holds
    regions forced down. A region is down when it is in ``down_regions`` or fewer than
    its ``min_up`` endpoints are up. Drained regions and endpoints are healthy but get
    no new answers. ``load`` holds fresh readings only (stale ones are left out).
    """

    down_regions: frozenset[RegionKey] = frozenset()
    down_endpoints: frozenset[EndpointKey] = frozenset()
    drained_regions: frozenset[RegionKey] = frozenset()
    drained_endpoints: frozenset[EndpointKey] = frozenset()
    load: Mapping[RegionKey, float] = field(default_factory=lambda: MappingProxyType({}))


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
    #: why this answer, for metrics: nearest, rule, fenced, failover, spill, fail-open,
    #: all-down (see gslb.policy.steps)
    reason: str = "nearest"
