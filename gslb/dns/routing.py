"""The one decision path for a GSLB name: locate → decide → ECS scope → reply.

The fast path (:mod:`gslb.dns.responder`), the general path (:mod:`gslb.dns.engine`)
and ``gslb resolve`` all reach a GSLB answer through :func:`decide` (or
:func:`explain`, which runs the same lookups and steps and also says why), so they
cannot disagree. Clients are plain integers here (IP version and value): the fast path
never builds address objects.
"""

from __future__ import annotations

from dataclasses import dataclass

from gslb.dns.view import View
from gslb.dns.wire import CLASS_IN, NOERROR, SERVFAIL
from gslb.model import CLIENT_PREFIX, Client, Decision, GslbName, RRset
from gslb.policy.pipeline import explain_decision
from gslb.policy.table import NameTable

__all__ = ["Reply", "Route", "decide", "ecs_scope", "explain", "route_reply"]

_BITS = {4: 32, 6: 128}


@dataclass(frozen=True, slots=True)
class Route:
    """How a question reaches a GSLB name: what its answer depends on besides the client.

    Kept per question, so a new client network costs a location lookup and a
    (memoised) decision, not a zone walk.
    """

    name: GslbName
    owner: str  # the queried owner (the GSLB name, or where a CNAME chain ended)
    chain: tuple[RRset, ...]  # CNAMEs that led here
    family: int
    negative: RRset  # the zone's SOA for NODATA
    table: NameTable


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
    client: Client | None = None  # set when explaining
    decision: Decision | None = None


def decide(view: View, route: Route, version: int, value: int, source: int) -> tuple[Decision, int]:
    """The decision and ECS scope for a client at ``value``; ``source`` is the ECS
    source prefix when the client came from ECS, else 0 (no scope is echoed)."""
    locator = view.config.locator
    place, plen = locator.find(version, value)
    table = route.table
    choice = table.lookup(place, locator.places, version, value)
    decision = view.decider.decide(route.name, choice, route.family, version, value)
    if not source:
        return decision, 0
    return decision, ecs_scope(version, value, plen, decision.hashed, table.networks, source)


def explain(view: View, route: Route, client: Client) -> tuple[Decision, int]:
    """:func:`decide` for ``client``, with the trace ``gslb resolve`` prints."""
    locator = view.config.locator
    version, value = client.address.version, int(client.address)
    place, plen = locator.find(version, value)
    table = route.table
    choice = table.lookup(place, locator.places, version, value)
    decision = explain_decision(
        route.name, choice, view.decider, client, route.family, failed=place < 0
    )
    if client.source != "ecs":
        return decision, 0
    scope = ecs_scope(version, value, plen, decision.hashed, table.networks, client.source_prefix)
    return decision, scope


def ecs_scope(
    version: int,
    value: int,
    plen: int,
    hashed: bool,
    networks: tuple[tuple[int, int, int], ...],
    source: int,
) -> int:
    """The widest prefix around the client in which every address gets this answer.

    Starts from the locator's network (``plen``: same place), narrows to the hashing
    granularity (/24, /48) when the decision hashed the client network, and narrows
    further so no fence or rule CIDR straddles it. It is never wider than the query's
    source prefix: a /24 source inside a /16 database network gets scope /24, while a
    /16 source over several /24 networks gets the /24 its address fell in (RFC 7871
    7.2.1 allows a scope longer than the source; the resolver then asks again for the
    other /24s rather than reuse this answer for all of its /16).
    """
    scope = plen
    if hashed and scope < CLIENT_PREFIX[version]:
        scope = CLIENT_PREFIX[version]
    bits = _BITS[version]
    for v, first, last in networks:
        if v != version:
            continue
        netplen = bits + 1 - (last - first + 1).bit_length()
        if netplen <= scope:
            continue
        if first <= value <= last:
            scope = netplen
        elif (first >> (bits - scope)) == (value >> (bits - scope)):
            scope = max(scope, bits - (first ^ value).bit_length() + 1)
    return max(scope, source)


def route_reply(
    route: Route, decision: Decision, scope: int, client: Client | None = None
) -> Reply:
    """The reply for one decision at the end of a route (shared with the fast path)."""
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
        addresses = tuple(e.text for e in decision.endpoints)
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
