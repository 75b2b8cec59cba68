"""Query bytes in, reply bytes out: the general path and the fast path.

:func:`respond` is the general path: parse, :func:`gslb.dns.engine.answer`, render
with dnslib. It is the reference. :class:`Responder` is the fast path the server uses:
it keeps rendered sections of replies and splices them behind the client's own header
and question, so the common query costs a parse (:mod:`gslb.dns.fastparse`), two dict
look-ups and a join.

Everything cached hangs off the :class:`~gslb.dns.view.View` the responder holds (see
that module for which cache survives what). ``respond`` reads ``self.view`` once, so a
published view takes effect at the next query, with no locks. The cached bytes are cut
from the general path's own rendering, so the two paths agree byte for byte by
construction; ``tests/unit/test_fastpath.py`` checks it.

A query from a network never seen before mostly repeats an earlier query's bytes but
for the ID and the client address; when its answer depends only on where the client
is, the reply kept for the same query bytes and the same compiled choice of place is
reused with this client's ID, scope and address (:mod:`gslb.dns.place_answers`): a tree
lookup, two indexes and a join, without the decision path.

Whole replies are kept by the query's bytes after the ID only for *canonical* queries:
header flags among RD/AD/CD, at most an OPT of version 0 with only the DO flag and at
most a client-subnet option. Anything else (padding, cookies, unknown options) is
answered but never keys a cache, so an attacker cannot choose what the cache holds
beyond a question and a client network (and every cache is bounded in bytes too).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable
from ipaddress import ip_address
from typing import Any, Protocol

from gslb.dns import engine, place_answers, routing
from gslb.dns.counters import LABELS, Counts, Label, qtype_name, rcode_name
from gslb.dns.fastparse import Unusual, fast_parse, learn_shape, shaped
from gslb.dns.render import render_body
from gslb.dns.routing import Reply, Route
from gslb.dns.view import Known, Rendered, View
from gslb.dns.wire import (
    BADVERS,
    ECS_ADDRESS_BYTES,
    FORMERR,
    NOTIMP,
    RD,
    SERVFAIL,
    TC,
    Drop,
    FormErr,
    NotImp,
    Query,
    assemble,
    header_only,
    opt_bytes,
    opt_record,
    parse_query,
    reply_flags,
)
from gslb.model import Decision, IPAddress

log = logging.getLogger(__name__)

TCP_LIMIT = 65535
ANSWERS_LIMIT = 8192  # decisions remembered per view with their rendering and labels
_HEADER = struct.Struct("!HHHHHH")


def _special(data: bytes) -> Query | bytes | None:
    """Parse; return the Query, or the final reply for errors/BADVERS, or None to drop."""
    try:
        query = parse_query(data)
    except Drop:
        return None
    except FormErr as e:
        return header_only(e.qid, e.flags, FORMERR)
    except NotImp as e:
        return header_only(e.qid, e.flags, NOTIMP)
    if query.edns is not None and query.edns.version > 0:
        flags = reply_flags(query, BADVERS & 0xF, aa=False)
        return assemble(query, flags, (0, 0, 0), b"", opt_record(query.edns, 0, BADVERS >> 4))
    return query


def _render(query: Query, reply: Reply) -> Rendered:
    sections = (reply.answer, reply.authority, reply.additional)
    body, (an, ns, ar) = render_body(query, sections, reply.rclass)
    flags = reply_flags(query, reply.rcode, reply.aa) & ~RD  # RD is per query
    return Rendered(flags, an, ns, ar, body, reply.scope)


def _finish(query: Query, rendered: Rendered, limit: int) -> bytes:
    flags, an, ns, ar, body, scope = rendered
    flags |= query.flags & RD
    opt = opt_record(query.edns, scope)
    out = assemble(query, flags, (an, ns, ar), body, opt)
    if len(out) > limit:  # RFC 2181 9 / RFC 6891 7: header, question, OPT, and TC
        out = assemble(query, flags | TC, (0, 0, 0), b"", opt)
    return out


def _servfail(query: Query) -> bytes:
    flags = reply_flags(query, SERVFAIL, aa=False)
    return assemble(query, flags, (0, 0, 0), b"", opt_record(query.edns, 0))


def respond(view: View, data: bytes, resolver: IPAddress, tcp: bool = False) -> bytes | None:
    """The general path: no caches. The reference the fast path must match."""
    parsed = _special(data)
    if not isinstance(parsed, Query):
        return parsed
    try:
        reply = engine.answer(view, parsed, resolver)
        return _finish(parsed, _render(parsed, reply), TCP_LIMIT if tcp else parsed.udp_limit)
    except Exception:
        log.exception("answering %s failed", parsed.name)
        return _servfail(parsed)


#: (Tree.reply or None, its tails, its placed shapes, the whole-reply dicts)
BatchPath = tuple[
    Callable[..., Any] | None, tuple[int, ...], dict[Any, Any], tuple[dict[Any, Any], ...]
]


class ResponderSource(Protocol):
    """Whatever the listeners read the current responder from (the runtime)."""

    responder: Responder


class Responder:
    """The fast path over one :class:`View` at a time (see the module docstring).

    ``counts`` (one :class:`~gslb.dns.counters.Counts` per thread and transport, or
    None) is incremented once per answered query by a label id cached with each reply,
    so counting is a list increment on every path.
    """

    __slots__ = ("view", "resolvers")

    def __init__(self, view: View) -> None:
        self.view = view
        self.resolvers: dict[str, IPAddress] = {}

    def respond(
        self, data: bytes, resolver: str, tcp: bool = False, counts: Counts | None = None
    ) -> bytes | None:
        """Answer one message; ``resolver`` is the peer address as the socket gave it.

        A canonical UDP query whose reply depends only on its bytes (static data, or a
        GSLB answer for an ECS subnet) is answered from a whole kept reply: a dict hit
        plus the ID. A GSLB answer located by the resolver's address (no ECS) is kept
        the same way, keyed by resolver and bytes.
        """
        view = self.view
        if not tcp:
            config = view.config
            tree = config.tree
            if tree is not None and view.placed.data:
                # The C place path (gslb/geo/_tree.c) answers any network of a learned
                # shape and place in one call, so it goes first, and no whole reply is
                # kept for what it answers (_respond): memory stays flat however many
                # networks ask. NotImplemented: the general path answers.
                placed = tree.reply(data, config.tails, view.placed.data)
                if placed is not None and placed is not NotImplemented:
                    if counts is not None:
                        counts[placed[1]] += 1
                    return placed[0]  # type: ignore[no-any-return]
            key = data[2:]
            whole = view.replies.data.get(key) or config.replies.data.get(key)
            if whole is not None:
                if counts is not None:
                    counts[whole[1]] += 1
                return data[:2] + whole[0]
            return self._rest(view, data, resolver, counts)
        out, tag = self._respond(view, data, resolver, tcp)
        if counts is not None:
            counts[tag] += 1
        return out

    def respond_rest(
        self, data: bytes, resolver: str, counts: Counts | None = None
    ) -> bytes | None:
        """Answer a UDP message that what :meth:`batch_path` offers (the C place path,
        the whole replies kept by query bytes) did not: the C batch loop's way into
        Python, so those are not looked up twice."""
        return self._rest(self.view, data, resolver, counts)

    def _rest(self, view: View, data: bytes, resolver: str, counts: Counts | None) -> bytes | None:
        """A UDP query after the C place path and the kept whole replies."""
        key = data[2:]
        if view.by_resolver.data:  # empty when every query has ECS
            whole = view.by_resolver.data.get((resolver, key))
            if whole is not None:
                if counts is not None:
                    counts[whole[1]] += 1
                return data[:2] + whole[0]
        if view.placed.data and view.config.tree is None:
            placed = place_answers.reply(view, data)
            if placed is not None:
                reply, label = placed
                if counts is not None:
                    counts[label] += 1
                if view.seen.admit(hash(key)):  # kept from a second query, as below
                    view.replies.put(key, (reply[2:], label), 2 * len(reply))
                return reply
        out, tag = self._respond(view, data, resolver, False)
        if counts is not None:
            counts[tag] += 1
        return out

    def batch_path(self) -> BatchPath:
        """What the C batch loop (``gslb/dns/_batch.c``) may answer without Python, in
        :meth:`respond`'s order: the C place path when it is on and has learned, then
        the whole replies kept by query bytes. Read once per received batch."""
        view = self.view
        config = view.config
        tree, placed = config.tree, view.placed.data
        place = tree.reply if tree is not None and placed else None
        return place, config.tails, placed, (view.replies.data, config.replies.data)

    def _respond(
        self, view: View, data: bytes, resolver: str, tcp: bool
    ) -> tuple[bytes | None, int]:
        config = view.config
        parsed = None if tcp else shaped(data, config)
        if parsed is None:
            try:
                parsed = fast_parse(data)
            except (Unusual, IndexError, struct.error):
                return self._general(view, data, resolver, tcp)
            if parsed[7] and parsed[6] is not None and not tcp:
                learn_shape(data, parsed, config)
        qid, flags, question, key, udp, do, ecs, canonical = parsed
        static = config.static.data.get(key)
        keep = config.replies
        by_resolver = placeable = False
        if static is not None:
            hit = static[0]
            tag = static[2] if ecs is not None else static[1]
            scope = hit.scope
        else:
            route = config.routes.data.get(key)
            if route is None:
                return self._general(view, data, resolver, tcp)
            assert isinstance(route, Route)
            keep = view.replies
            ckey: object = resolver
            if ecs is not None and ecs[2]:
                ckey = ecs
            else:
                by_resolver = True
                if ecs is not None:  # source 0: located by resolver, counted as ECS
                    ckey = (resolver, ecs)
            # one bytes key when the client is a subnet (the question is self-delimiting)
            ck = key + ckey if type(ckey) is bytes else (key, ckey)
            client = view.clients.data.get(ck)
            if client is None:
                placeable = canonical and not by_resolver and not tcp
                try:
                    client = self._new_client(view, route, key, ecs, resolver)
                except Exception:
                    log.exception("answering %r failed", question)
                    return self._general(view, data, resolver, tcp)
                # Kept from its second query on: a network seen once (most of them, for
                # a busy name) costs the caches neither time nor memory.
                # A canonical UDP query by subnet is marked by the key its whole reply
                # is kept under, as on the place path (respond).
                if not view.seen.admit(hash(data[2:] if placeable else ck)):
                    canonical = False
                elif tcp or by_resolver or not canonical:
                    # a canonical UDP query by subnet is kept below as a whole reply
                    view.clients.put(ck, client, len(key) + 16)
            known, scope = client
            hit = known[1]
            tag = known[3] if ecs is not None else known[2]
            if placeable and known[0].hashed:  # type: ignore[attr-defined]
                placeable = False
        rflags, an, ns, ar, body, _ = hit
        opt = b"" if not udp else opt_bytes(bool(do), ecs, scope)
        out = b"".join(
            (
                _HEADER.pack(qid, rflags | (flags & RD), 1, an, ns, ar + (1 if udp else 0)),
                question,
                body,
                opt,
            )
        )
        if tcp:
            if len(out) > TCP_LIMIT:
                return self._general(view, data, resolver, tcp)
            return out, tag
        if len(out) > (udp or 512):
            return self._general(view, data, resolver, tcp)  # it sets TC
        if placeable:
            assert ecs is not None and isinstance(route, Route)
            if place_answers.learn(view, data, route, ecs, out, tag) and config.tree is not None:
                return out, tag  # the C place path answers this network's next queries
        if canonical:
            if by_resolver:
                view.by_resolver.put((resolver, data[2:]), (out[2:], tag), 2 * len(out))
            else:
                keep.put(data[2:], (out[2:], tag), 2 * len(out))
        return out, tag

    def _address(self, resolver: str) -> IPAddress:
        address = self.resolvers.get(resolver)
        if address is None:
            if len(self.resolvers) >= 65536:
                self.resolvers.clear()
            address = ip_address(resolver.partition("%")[0])  # drop an IPv6 zone index
            if address.version == 6 and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # a dual-stack socket's IPv4 client
            self.resolvers[resolver] = address
        return address

    def _new_client(
        self, view: View, route: Route, key: bytes, ecs: bytes | None, resolver: str
    ) -> tuple[Known, int]:
        """A client network not seen for this question: the one decision path, then
        the rendered sections of that decision (shared by every client with it) and
        this client's ECS scope. Kept per client as is: two references, no copies."""
        if ecs is not None and ecs[2]:
            size = ECS_ADDRESS_BYTES[ecs[1]]
            version = 4 if size == 4 else 6
            value = int.from_bytes(ecs[4:], "big") << (8 * (size - len(ecs) + 4))
            decision, scope = routing.decide(view, route, version, value, ecs[2])
        else:
            address = self._address(resolver)
            decision, scope = routing.decide(view, route, address.version, int(address), 0)
        known = view.answers.get((key, id(decision)))
        if known is None or known[0] is not decision:  # not a memoised decision seen before
            memo = _decision_memo(key, decision)
            bodies = view.config.bodies
            body = bodies.data.get(memo)
            if body is None:
                body = _render(_bare_query(key), routing.route_reply(route, decision, scope))
                bodies.put(memo, body, len(key) + len(body.body))
            qtype, rcode = key[-4] << 8 | key[-3], body.flags & 0xF
            absent = LABELS.id(_gslb_label(route, decision, qtype, rcode, False))
            present = LABELS.id(_gslb_label(route, decision, qtype, rcode, True))
            if len(view.answers) >= ANSWERS_LIMIT:
                view.answers.clear()
            known = view.answers[(key, id(decision))] = (decision, body, absent, present)
        return known, scope

    def _general(
        self, view: View, data: bytes, resolver: str, tcp: bool
    ) -> tuple[bytes | None, int]:
        """Strict parse and engine; remember what later queries can reuse."""
        parsed = _special(data)
        if not isinstance(parsed, Query):
            if parsed is None:
                return None, LABELS.id(_DROPPED)
            return parsed, LABELS.id(Label("-", rcode_name(parsed[3] & 0xF), False))
        query = parsed
        config = view.config
        ecs = query.edns is not None and query.edns.ecs is not None
        try:
            reply = engine.answer(view, query, self._address(resolver))
            q = query.question
            key = q[:-4].lower() + q[-4:]
            if reply.route is None:
                rendered = _render(query, reply)
                qtype, rcode = qtype_name(query.qtype), rcode_name(reply.rcode)
                tags = (LABELS.id(Label(qtype, rcode, False)), LABELS.id(Label(qtype, rcode, True)))
                config.static.put(key, (rendered, *tags), len(key) + len(rendered.body))
                label = Label(qtype, rcode, ecs)
            else:
                assert reply.decision is not None
                memo = _decision_memo(key, reply.decision)
                found = config.bodies.data.get(memo)
                if found is None:
                    found = _render(query, reply)
                    config.bodies.put(memo, found, len(key) + len(found.body))
                rendered = found._replace(scope=reply.scope)
                if key not in config.routes.data:
                    config.routes.put(key, reply.route, len(key))
                label = _gslb_label(reply.route, reply.decision, query.qtype, reply.rcode, ecs)
            out = _finish(query, rendered, TCP_LIMIT if tcp else query.udp_limit)
            if out[2] & (TC >> 8):
                label = label._replace(truncated=True)
            return out, LABELS.id(label)
        except Exception:
            log.exception("answering %s failed", query.name)
            return _servfail(query), LABELS.id(Label(qtype_name(query.qtype), "SERVFAIL", ecs))


_DROPPED = Label("-", "dropped", False)


def _gslb_label(route: Route, decision: Decision, qtype: int, rcode: int, ecs: bool) -> Label:
    region = decision.regions[0] if decision.regions else "-"
    return Label(
        qtype_name(qtype), rcode_name(rcode), ecs, False, route.name.name, region, decision.reason
    )


def _decision_memo(key: bytes, decision: Decision) -> tuple[object, ...]:
    """What a GSLB reply's rendered sections depend on, besides the question."""
    return (key, decision.outcome, decision.ttl, *(e.text for e in decision.endpoints))


def _bare_query(key: bytes) -> Query:
    """A query for a lower-cased question key, to render sections behind it."""
    labels = []
    pos = 0
    while key[pos]:
        labels.append(key[pos + 1 : pos + 1 + key[pos]])
        pos += 1 + key[pos]
    qtype, qclass = struct.unpack_from("!HH", key, len(key) - 4)
    return Query(0, 0, tuple(labels), key, qtype, qclass, None)
