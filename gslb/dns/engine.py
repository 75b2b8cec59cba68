"""Answering one question from one client: zone lookup, client location, policy.

No transport here: ``answer`` takes a parsed query and the resolver's address and
returns a ``Reply`` value. The server, ``gslb resolve`` and the tests all call it.

A ``View`` is everything one query reads, built once per config/health/database
change and swapped whole by the runtime; the query path reads it once. The memo
dicts it carries are only caches of pure functions of the view, so replacing the
view is what invalidates them (no generation checks on the hot path).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gslb.dns.wire import CLASS_CH, CLASS_IN, NOERROR, NXDOMAIN, REFUSED, SERVFAIL, Ecs, Query
from gslb.geo.locator import Locator
from gslb.model import (
    Client,
    Decision,
    GslbName,
    IPAddress,
    IPNetwork,
    RRset,
    Status,
    Zone,
)
from gslb.policy import pipeline as policy

QTYPE_A, QTYPE_CNAME, QTYPE_TXT, QTYPE_AAAA, QTYPE_DS, QTYPE_ANY = 1, 5, 16, 28, 43, 255
TYPE_NUMBERS: Mapping[str, int] = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
    "AAAA": 28, "SRV": 33, "CAA": 257,
}  # fmt: skip
TYPE_NAMES: Mapping[int, str] = {v: k for k, v in TYPE_NUMBERS.items()}
MAX_CNAME_CHAIN = 8
MEMO_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class Reply:
    """An answer before it becomes bytes."""

    rcode: int
    aa: bool = True
    answer: tuple[RRset, ...] = ()
    authority: tuple[RRset, ...] = ()
    additional: tuple[RRset, ...] = ()
    rclass: int = CLASS_IN
    scope: int = 0  # ECS scope prefix length to return
    route: Route | None = None  # set when the answer depends on the client
    client: Client | None = None
    decision: Decision | None = None

    @property
    def gslb(self) -> GslbName | None:
        return self.route.name if self.route is not None else None


@dataclass(frozen=True, slots=True)
class Route:
    """How a question reaches a GSLB name: what the answer depends on besides the client.

    The fast path keeps one per question so a new client network costs a location
    lookup and a (memoised) decision, not a zone walk.
    """

    name: GslbName
    owner: str  # the queried owner (the GSLB name, or where a CNAME chain ended)
    chain: tuple[RRset, ...]  # CNAMEs that led here
    family: int
    negative: RRset  # the zone's SOA for NODATA
    networks: tuple[IPNetwork, ...]  # fence/rule CIDRs that bound the ECS scope


@dataclass(frozen=True, slots=True)
class CompiledZone:
    """A zone plus the indexes lookups need (existing names, delegation points)."""

    zone: Zone
    names: frozenset[str]  # every owner and empty non-terminal, apex included
    delegations: frozenset[str]
    negative: RRset  # the SOA to put in authority of negative answers

    @classmethod
    def build(cls, zone: Zone) -> CompiledZone:
        names: set[str] = set()
        owners = set(zone.rrsets) | set(zone.gslb)
        for owner in owners:
            name = owner
            while True:
                names.add(name)
                if name == zone.origin:
                    break
                name = name.split(".", 1)[1]
        delegations = frozenset(
            o for o, sets in zone.rrsets.items() if o != zone.origin and "NS" in sets
        )
        soa = zone.rrsets[zone.origin]["SOA"]
        negative = RRset(soa.name, "SOA", min(soa.ttl, zone.soa.minimum), soa.rdatas)
        return cls(zone, frozenset(names), delegations, negative)


@dataclass(frozen=True, slots=True)
class View:
    """One consistent snapshot of config, health and database."""

    zones: Mapping[str, CompiledZone]
    locator: Locator
    status: Status = field(default_factory=Status)
    chaos: Mapping[str, str] = field(default_factory=dict)  # "id.server." -> text
    decisions: dict[tuple[object, ...], Decision] = field(default_factory=dict)
    networks: Mapping[str, tuple[IPNetwork, ...]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        zones: Iterable[Zone],
        locator: Locator,
        status: Status | None = None,
        chaos: Mapping[str, str] | None = None,
    ) -> View:
        compiled = {z.origin: CompiledZone.build(z) for z in zones}
        networks: dict[str, tuple[IPNetwork, ...]] = {}
        for cz in compiled.values():
            for owner, name in cz.zone.gslb.items():
                nets = [n for f in name.fences for n in f.match.networks]
                nets += [n for r in name.rules for n in r.match.networks]
                networks[owner] = tuple(nets)
        return cls(compiled, locator, status or Status(), dict(chaos or {}), {}, networks)

    def with_status(self, status: Status) -> View:
        return View(self.zones, self.locator, status, self.chaos, {}, self.networks)

    def find_zone(self, labels: tuple[bytes, ...]) -> CompiledZone | None:
        for i in range(len(labels) + 1):
            name = _join(labels[i:])
            cz = self.zones.get(name)
            if cz is not None:
                return cz
        return None


def _join(labels: tuple[bytes, ...]) -> str:
    if not labels:
        return "."
    return b".".join(labels).decode("latin-1") + "."


def _parent(name: str) -> str:
    return name.split(".", 1)[1] if name.count(".") > 1 else "."


# --------------------------------------------------------------------------- clients


def client_for(ecs: Ecs | None, resolver: IPAddress, locator: Locator) -> Client:
    """Locate the ECS subnet when the query has one (source > 0), else the resolver."""
    if ecs is not None and ecs.source > 0:
        address = ecs.ip()
        return Client(address, "ecs", ecs.source, locator.lookup(address))
    return Client(resolver, "resolver", resolver.max_prefixlen, locator.lookup(resolver))


def decide(view: View, name: GslbName, client: Client, family: int) -> Decision:
    """The policy decision, memoised per location while it does not hash the client."""
    if view.networks.get(name.name):
        return policy.decide(name, client, view.status, family)
    key = (name.name, family, client.lookup.location)
    hit = view.decisions.get(key)
    if hit is not None:
        return hit
    decision = policy.decide(name, client, view.status, family)
    if not decision.hashed:
        if len(view.decisions) >= MEMO_LIMIT:
            view.decisions.clear()
        view.decisions[key] = decision
    return decision


def ecs_scope(client: Client, decision: Decision | None, networks: tuple[IPNetwork, ...]) -> int:
    """The ECS scope: the widest prefix around the client with this same answer.

    Starts from the locator's network (same location), narrows to the hashing
    granularity when the decision hashed the client network, and narrows further so
    no configured fence/rule CIDR straddles the scope. It is never wider than the
    query's source prefix either: we only vouch for what the resolver told us, so a
    /24 source inside a /16 database network gets scope /24, while a /16 source
    over several /24 networks gets the /24 its address fell in (RFC 7871 7.2.1
    allows a scope longer than the source; it tells the resolver to ask again for
    other /24s rather than reuse this answer for all of its /16).
    """
    if client.source != "ecs":
        return 0
    scope = client.lookup.network.prefixlen
    if decision is not None and decision.hashed:
        scope = max(scope, client.key_prefix)
    address = int(client.address)
    bits = client.address.max_prefixlen
    for net in networks:
        if net.version != client.address.version or net.prefixlen <= scope:
            continue
        start = int(net.network_address)
        if client.address in net:
            scope = max(scope, net.prefixlen)
        elif (start >> (bits - scope)) == (address >> (bits - scope)):
            common = bits - (start ^ address).bit_length()
            scope = max(scope, common + 1)
    return max(scope, client.source_prefix)


# --------------------------------------------------------------------------- lookup


def answer(view: View, query: Query, resolver: IPAddress, explain: bool = False) -> Reply:
    """Answer one query as an authoritative server (RFC 1034 4.3.2, 2308, 4592, 8482)."""
    if query.qclass == CLASS_CH:
        return _chaos(view, query)
    if query.qclass != CLASS_IN:
        return Reply(REFUSED, aa=False)
    cz = view.find_zone(query.labels)
    if cz is None:
        return Reply(REFUSED, aa=False)
    return _lookup(view, cz, query.name, query, resolver, explain)


def _chaos(view: View, query: Query) -> Reply:
    name = query.name
    text = view.chaos.get(name)
    if text is None or query.qtype not in (QTYPE_TXT, QTYPE_ANY):
        return Reply(REFUSED, aa=False)
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return Reply(NOERROR, answer=(RRset(name, "TXT", 0, (f'"{escaped}"',)),), rclass=CLASS_CH)


def _lookup(
    view: View, cz: CompiledZone, qname: str, query: Query, resolver: IPAddress, explain: bool
) -> Reply:
    zone = cz.zone
    qtype = query.qtype
    chain: list[RRset] = []
    name = qname
    for _ in range(MAX_CNAME_CHAIN + 1):
        cut = _delegation(cz, name)
        if cut is not None and not (cut == name and qtype == QTYPE_DS):
            if chain:  # a CNAME led below a zone cut: answer with what we have
                return Reply(NOERROR, answer=tuple(chain))
            ns = zone.rrsets[cut]["NS"]
            return Reply(NOERROR, aa=False, authority=(ns,), additional=_glue(zone, ns))
        owner, synthesized = _find_owner(cz, name)
        if owner is None:
            if name in cz.names:  # empty non-terminal: NODATA
                return Reply(NOERROR, answer=tuple(chain), authority=(cz.negative,))
            rcode = NOERROR if chain else NXDOMAIN
            return Reply(rcode, answer=tuple(chain), authority=(cz.negative,))
        sets = zone.rrsets.get(owner, {})
        cname = sets.get("CNAME")
        if cname is not None and qtype != QTYPE_CNAME:
            rr = _own(cname, name) if synthesized else cname
            chain.append(rr)
            target = cname.rdatas[0].lower()
            if not zone.contains(target) or len(chain) > MAX_CNAME_CHAIN:
                return Reply(NOERROR, answer=tuple(chain))
            name = target
            continue
        gslb = zone.gslb.get(owner)
        if gslb is not None and qtype in (QTYPE_A, QTYPE_AAAA, QTYPE_ANY):
            return _gslb_answer(view, cz, gslb, name, query, resolver, chain, explain)
        if qtype == QTYPE_ANY:  # RFC 8482: one RRset is enough
            if sets:
                first = next(iter(sets.values()))
                rrset = _own(first, name) if synthesized else first
                return Reply(NOERROR, answer=(*chain, rrset))
            return Reply(NOERROR, answer=tuple(chain), authority=(cz.negative,))
        found = sets.get(TYPE_NAMES.get(qtype, ""))
        if found is None:
            return Reply(NOERROR, answer=tuple(chain), authority=(cz.negative,))
        if synthesized:
            found = _own(found, name)
        return Reply(NOERROR, answer=(*chain, found), additional=_additional(zone, found))
    return Reply(SERVFAIL)  # pragma: no cover - loop bound is validated in config


def _delegation(cz: CompiledZone, name: str) -> str | None:
    """The highest zone cut at or above ``name`` (below the apex), if any."""
    if not cz.delegations:
        return None
    origin = cz.zone.origin
    found = None
    while name != origin and name != ".":
        if name in cz.delegations:
            found = name
        name = _parent(name)
    return found


def _find_owner(cz: CompiledZone, name: str) -> tuple[str | None, bool]:
    """The owner whose data answers ``name``: itself, or a wildcard (RFC 4592)."""
    zone = cz.zone
    if name in zone.rrsets or name in zone.gslb:
        return name, False
    if name in cz.names:
        return None, False
    encloser = _parent(name)
    while encloser not in cz.names:
        if encloser == zone.origin or encloser == ".":
            break
        encloser = _parent(encloser)
    wildcard = "*." + encloser
    if wildcard in zone.rrsets or wildcard in zone.gslb:
        return wildcard, True
    return None, False


def _own(rrset: RRset, owner: str) -> RRset:
    return RRset(owner, rrset.rtype, rrset.ttl, rrset.rdatas)


def _glue(zone: Zone, ns: RRset) -> tuple[RRset, ...]:
    return _addresses(zone, (r.lower() for r in ns.rdatas))


def _additional(zone: Zone, rrset: RRset) -> tuple[RRset, ...]:
    """Addresses of in-zone targets of NS, MX and SRV answers (RFC 1034 3.7)."""
    if rrset.rtype == "NS":
        targets = [r.lower() for r in rrset.rdatas]
    elif rrset.rtype == "MX":
        targets = [r.split()[1].lower() for r in rrset.rdatas]
    elif rrset.rtype == "SRV":
        targets = [r.split()[3].lower() for r in rrset.rdatas]
    else:
        return ()
    return _addresses(zone, targets)


def _addresses(zone: Zone, targets: Iterable[str]) -> tuple[RRset, ...]:
    out: list[RRset] = []
    seen: set[str] = set()
    for target in targets:
        if target in seen or not zone.contains(target):
            continue
        seen.add(target)
        sets = zone.rrsets.get(target, {})
        out.extend(sets[t] for t in ("A", "AAAA") if t in sets)
    return tuple(out)


def _gslb_answer(
    view: View,
    cz: CompiledZone,
    gslb: GslbName,
    owner: str,
    query: Query,
    resolver: IPAddress,
    chain: list[RRset],
    explain: bool,
) -> Reply:
    family = 6 if query.qtype == QTYPE_AAAA else 4
    route = Route(gslb, owner, tuple(chain), family, cz.negative, view.networks.get(gslb.name, ()))
    client = client_for(query.edns.ecs if query.edns else None, resolver, view.locator)
    if explain:
        decision = policy.decide(gslb, client, view.status, family, explain=True)
    else:
        decision = decide(view, gslb, client, family)
    return route_reply(route, client, decision)


def route_reply(route: Route, client: Client, decision: Decision) -> Reply:
    """The reply for one client at the end of a route (shared with the fast path)."""
    scope = ecs_scope(client, decision, route.networks)
    answered = route.chain
    authority: tuple[RRset, ...] = ()
    rcode = NOERROR
    if decision.outcome == "servfail":
        rcode = SERVFAIL
    elif decision.outcome == "nodata" or not decision.endpoints:
        neg = route.negative
        authority = (RRset(neg.name, "SOA", min(neg.ttl, decision.ttl), neg.rdatas),)
    else:
        rtype = "AAAA" if route.family == 6 else "A"
        addresses = tuple(str(e.address) for e in decision.endpoints)
        answered += (RRset(route.owner, rtype, decision.ttl, addresses),)
    return Reply(
        rcode,
        answer=answered,
        authority=authority,
        scope=scope,
        route=route,
        client=client,
        decision=decision,
    )
