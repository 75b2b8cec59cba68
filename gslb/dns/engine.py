"""The answer engine: zone lookup, then the GSLB decision for names that have one.

No transport here: :func:`answer` takes a parsed query and the resolver's address and
returns a :class:`~gslb.dns.routing.Reply`. The general path of the server and
``gslb resolve`` call it; the fast path reuses what it returns. RFC 1034 4.3.2 with
RFC 2308 negative answers, RFC 4592 wildcards (the zone tree is
:class:`gslb.config.tree.ZoneTree`, shared with the config checks) and RFC 8482 ANY.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from gslb.dns import routing
from gslb.dns.routing import Reply, Route, route_reply
from gslb.dns.view import CompiledZone, View
from gslb.dns.wire import CLASS_CH, CLASS_IN, NOERROR, NXDOMAIN, REFUSED, SERVFAIL, Query
from gslb.model import Client, GslbName, IPAddress, RRset, Zone

QTYPE_A, QTYPE_CNAME, QTYPE_TXT, QTYPE_AAAA, QTYPE_DS, QTYPE_ANY = 1, 5, 16, 28, 43, 255
#: Zone transfers: there is no transfer ACL, so nobody is allowed one (REFUSED, as BIND,
#: Knot and NSD answer a client outside ``allow-transfer``). Secondaries are not needed:
#: every instance reads the same zone files.
QTYPE_IXFR, QTYPE_AXFR = 251, 252
TYPE_NUMBERS: Mapping[str, int] = {
    "A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16,
    "AAAA": 28, "SRV": 33, "CAA": 257,
}  # fmt: skip
TYPE_NAMES: Mapping[int, str] = {v: k for k, v in TYPE_NUMBERS.items()}
MAX_CNAME_CHAIN = 8


def answer(view: View, query: Query, resolver: IPAddress, explain: bool = False) -> Reply:
    """Answer one query as an authoritative server."""
    if query.qtype in (QTYPE_AXFR, QTYPE_IXFR):
        return Reply(REFUSED, aa=False)
    if query.qclass == CLASS_CH:
        return _chaos(view, query)
    if query.qclass != CLASS_IN:
        return Reply(REFUSED, aa=False)
    cz = view.config.find_zone(query.labels)
    if cz is None:
        return Reply(REFUSED, aa=False)
    return _lookup(view, cz, query.name, query, resolver, explain)


def _chaos(view: View, query: Query) -> Reply:
    name = query.name
    text = view.config.chaos.get(name)
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
        cut = cz.tree.cut(name)
        if cut is not None and not (cut == name and qtype == QTYPE_DS):
            if chain:  # a CNAME led below a zone cut: answer with what we have
                return Reply(NOERROR, answer=tuple(chain))
            ns = zone.rrsets[cut]["NS"]
            return Reply(NOERROR, aa=False, authority=(ns,), additional=_glue(zone, ns))
        owner, synthesized = cz.tree.find(name)
        if owner is None:
            if name in cz.tree.names:  # empty non-terminal: NODATA
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
    route = Route(gslb, owner, tuple(chain), family, cz.negative, view.config.tables[gslb.name])
    ecs = query.edns.ecs if query.edns else None
    address, source = resolver, 0  # a source prefix of 0 asks us to use the resolver's
    if ecs is not None and ecs.source > 0:
        address, source = ecs.ip(), ecs.source
    if not explain:
        decision, scope = routing.decide(view, route, address.version, int(address), source)
        return route_reply(route, decision, scope)
    lookup = view.config.locator.lookup(address)
    if source:
        client = Client(address, "ecs", source, lookup)
    else:
        client = Client(address, "resolver", address.max_prefixlen, lookup)
    decision, scope = routing.explain(view, route, client)
    return route_reply(route, decision, scope, client)
