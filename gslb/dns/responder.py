"""Query bytes in, reply bytes out: the general path and the fast path.

``respond`` is the general path: parse, ``engine.answer``, render with dnslib. It is
the reference. ``Responder`` is the fast path used by the server: it caches the
rendered sections of replies and splices them behind the client's own header and
question, so the common query costs a parse, two dict look-ups and a join.

What is cached, per ``Responder`` (one per ``View``; a new view means new caches, so
a health or config change affects the very next query):

* static replies (no GSLB name involved) per lower-cased question;
* GSLB replies per (question, client network as sent: ECS subnet or resolver);
* rendered sections per distinct reply, shared by every client with that reply.

The cached bytes are cut from the general path's own rendering, so the two paths
agree byte for byte by construction; ``tests/unit/test_fastpath.py`` checks it.
"""

from __future__ import annotations

import logging
import struct
from ipaddress import ip_address
from typing import Any

from gslb.dns import engine
from gslb.dns.engine import Reply, Route, View
from gslb.dns.wire import (
    BADVERS,
    ECS_OPTION,
    EDNS_UDP_SIZE,
    FORMERR,
    NOTIMP,
    OPT,
    RD,
    SERVFAIL,
    TC,
    Drop,
    Ecs,
    FormErr,
    NotImp,
    Query,
    assemble,
    header_only,
    opt_bytes,
    opt_record,
    parse_query,
    render_body,
    reply_flags,
)
from gslb.model import Decision, IPAddress

log = logging.getLogger(__name__)

CACHE_LIMIT = 200_000
NOT_REUSABLE, BY_BYTES, BY_RESOLVER = 0, 1, 2  # may a UDP reply be kept whole, and by what
TCP_LIMIT = 65535

Rendered = tuple[int, int, int, int, bytes, int]  # flags sans RD, AN, NS, AR, body, scope


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
    return flags, an, ns, ar, body, reply.scope


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


_Q_NO_AR = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QD=1 AN=0 NS=0 AR=0
_Q_ONE_AR = b"\x00\x01\x00\x00\x00\x00\x00\x01"
_HEADER = struct.Struct("!HHHHHH")
_OPT_FIXED = struct.Struct("!HHBBHH")  # type, udp size, ext rcode, version, flags, rdlen
_OPTION = struct.Struct("!HH")


class _Unusual(Exception):
    """The fast parser declines; the strict general path takes the query."""


def _fast_parse(data: bytes) -> tuple[int, int, bytes, bytes, int, int, bytes | None]:
    """Parse the common query shape only, into plain values.

    QUERY opcode, one question without compression, no answer/authority, at most an
    OPT (version 0) whose only interesting option is a well-formed ECS. Everything
    else raises ``_Unusual`` and goes through ``parse_query``, which is strict and
    answers FORMERR/NOTIMP/BADVERS; the differential test holds the two together.
    Returns (id, flags, question, cache key, udp size or 0, DO bit, ECS payload).
    """
    end = len(data)
    if end < 17 or data[2] & 0xF8:  # QR or a non-QUERY opcode
        raise _Unusual
    counts = data[4:12]
    if counts == _Q_NO_AR:
        has_opt = False
    elif counts == _Q_ONE_AR:
        has_opt = True
    else:
        raise _Unusual
    pos = 12
    length = data[pos]
    while length:
        if length > 63:
            raise _Unusual
        pos += length + 1
        length = data[pos]
    if pos > 266:  # name over 255 octets
        raise _Unusual
    qend = pos + 5
    if qend > end:
        raise _Unusual
    question = data[12:qend]
    key = data[12:pos].lower() + data[pos:qend]
    qid, flags = data[0] << 8 | data[1], data[2] << 8 | data[3]
    if not has_opt:
        if qend != end:
            raise _Unusual
        return qid, flags, question, key, 0, 0, None
    if data[qend] != 0 or qend + 11 > end:
        raise _Unusual
    rtype, udp, _ext, version, zflags, rdlen = _OPT_FIXED.unpack_from(data, qend + 1)
    if rtype != OPT or version != 0 or qend + 11 + rdlen != end:
        raise _Unusual
    ecs = None
    pos = qend + 11
    while pos < end:
        if pos + 4 > end:
            raise _Unusual
        code, olen = _OPTION.unpack_from(data, pos)
        pos += 4
        if code == ECS_OPTION:
            if ecs is not None or pos + olen > end:
                raise _Unusual
            ecs = data[pos : pos + olen]
        pos += olen
    if pos != end:
        raise _Unusual
    if ecs is not None:
        if len(ecs) < 4 or ecs[3] or ecs[0] or ecs[1] not in (1, 2):
            raise _Unusual
        source = ecs[2]
        if source > (32 if ecs[1] == 1 else 128) or len(ecs) != 4 + (source + 7) // 8:
            raise _Unusual
        if source % 8 and ecs[-1] & (0xFF >> (source % 8)):
            raise _Unusual
    return qid, flags, question, key, max(512, min(udp, EDNS_UDP_SIZE)), zflags & 0x8000, ecs


class _Dynamic:
    """Per question: the route to a GSLB name and the replies per client network."""

    __slots__ = ("route", "clients")

    def __init__(self, route: Route) -> None:
        self.route = route
        self.clients: dict[object, Rendered] = {}


class Responder:
    """The fast path for one view (see module docstring)."""

    __slots__ = ("view", "replies", "by_resolver", "static", "dynamic", "bodies", "resolvers")

    def __init__(self, view: View) -> None:
        self.view = view
        self.replies: dict[bytes, bytes] = {}
        self.by_resolver: dict[tuple[str, bytes], bytes] = {}
        self.static: dict[bytes, Rendered] = {}
        self.dynamic: dict[bytes, _Dynamic] = {}
        self.bodies: dict[tuple[object, ...], Rendered] = {}
        self.resolvers: dict[str, IPAddress] = {}

    def respond(self, data: bytes, resolver: str, tcp: bool = False) -> bytes | None:
        """Answer one message; ``resolver`` is the peer address as the socket gave it.

        A UDP reply that depends only on the query's bytes (static data, or a GSLB
        answer for an ECS subnet) is kept whole, keyed by everything after the ID: a
        repeat of the same question from the same network is a dict hit plus the ID.
        A GSLB answer located by the resolver's address (no ECS) is kept the same
        way, keyed by resolver and bytes.
        """
        if tcp:
            return self._respond(data, resolver, tcp)[0]
        key = data[2:]
        whole = self.replies.get(key)
        if whole is None:
            whole = self.by_resolver.get((resolver, key))
        if whole is not None:
            return data[:2] + whole
        out, reuse = self._respond(data, resolver, tcp)
        if reuse and out is not None:
            if reuse == BY_BYTES:
                table: dict[Any, bytes] = self.replies
                index: object = key
            else:
                table, index = self.by_resolver, (resolver, key)
            if len(table) >= CACHE_LIMIT:
                table.clear()
            table[index] = out[2:]
        return out

    def _respond(self, data: bytes, resolver: str, tcp: bool) -> tuple[bytes | None, int]:
        try:
            qid, flags, question, key, udp, do, ecs = _fast_parse(data)
        except (_Unusual, IndexError, struct.error):
            return self._general(data, resolver, tcp), NOT_REUSABLE
        reusable = BY_BYTES
        hit = self.static.get(key)
        if hit is None:
            entry = self.dynamic.get(key)
            if entry is None:
                return self._general(data, resolver, tcp), NOT_REUSABLE
            ckey: object = resolver
            if ecs is not None and ecs[2]:
                ckey = ecs
            else:
                reusable = BY_RESOLVER
            hit = entry.clients.get(ckey)
            if hit is None:
                try:
                    hit = self._new_client(entry, key, ecs, resolver)
                except Exception:
                    log.exception("answering %r failed", question)
                    return self._general(data, resolver, tcp), NOT_REUSABLE
                if len(entry.clients) >= CACHE_LIMIT:
                    entry.clients.clear()
                entry.clients[ckey] = hit
        rflags, an, ns, ar, body, scope = hit
        opt = b"" if not udp else opt_bytes(bool(do), ecs, scope)
        out = b"".join(
            (
                _HEADER.pack(qid, rflags | (flags & RD), 1, an, ns, ar + (1 if udp else 0)),
                question,
                body,
                opt,
            )
        )
        if len(out) > (TCP_LIMIT if tcp else udp or 512):
            return self._general(data, resolver, tcp), NOT_REUSABLE  # it sets TC
        return out, reusable

    def _address(self, resolver: str) -> IPAddress:
        address = self.resolvers.get(resolver)
        if address is None:
            if len(self.resolvers) >= CACHE_LIMIT:
                self.resolvers.clear()
            address = ip_address(resolver.partition("%")[0])  # drop an IPv6 zone index
            if address.version == 6 and address.ipv4_mapped is not None:
                address = address.ipv4_mapped  # a dual-stack socket's IPv4 client
            self.resolvers[resolver] = address
        return address

    def _new_client(
        self, entry: _Dynamic, key: bytes, ecs: bytes | None, resolver: str
    ) -> Rendered:
        """A client network not seen for this question: locate, decide, reuse bytes."""
        view = self.view
        route = entry.route
        parsed = Ecs(ecs[1], ecs[2], ecs[4:]) if ecs is not None else None
        client = engine.client_for(parsed, self._address(resolver), view.locator)
        decision = engine.decide(view, route.name, client, route.family)
        scope = engine.ecs_scope(client, decision, route.networks)
        memo = _decision_memo(key, decision)
        rendered = self.bodies.get(memo)
        if rendered is None:
            reply = engine.route_reply(route, client, decision)
            rendered = self._remember(memo, key, reply)
        if rendered[5] != scope:
            rendered = (*rendered[:5], scope)
        return rendered

    def _remember(self, memo: tuple[object, ...], key: bytes, reply: Reply) -> Rendered:
        labels = _labels(key)
        qtype, qclass = struct.unpack_from("!HH", key, len(key) - 4)
        query = Query(0, 0, labels, key, qtype, qclass, None)
        rendered = _render(query, reply)
        if len(self.bodies) >= CACHE_LIMIT:
            self.bodies.clear()
        self.bodies[memo] = rendered
        return rendered

    def _general(self, data: bytes, resolver: str, tcp: bool) -> bytes | None:
        """Strict parse and engine; remember what later queries can reuse."""
        parsed = _special(data)
        if not isinstance(parsed, Query):
            return parsed
        query = parsed
        try:
            reply = engine.answer(self.view, query, self._address(resolver))
            q = query.question
            key = q[:-4].lower() + q[-4:]
            if reply.route is None:
                memo: tuple[object, ...] = (key, reply.rcode, reply.aa, reply.rclass)
                memo += (reply.answer, reply.authority, reply.additional)
                rendered = self.bodies.get(memo) or self._remember(memo, key, reply)
                if len(self.static) >= CACHE_LIMIT:
                    self.static.clear()
                self.static[key] = rendered
            else:
                assert reply.decision is not None
                memo = _decision_memo(key, reply.decision)
                rendered = self.bodies.get(memo) or self._remember(memo, key, reply)
                rendered = (*rendered[:5], reply.scope)
                if key not in self.dynamic:
                    if len(self.dynamic) >= CACHE_LIMIT:
                        self.dynamic.clear()
                    self.dynamic[key] = _Dynamic(reply.route)
            return _finish(query, rendered, TCP_LIMIT if tcp else query.udp_limit)
        except Exception:
            log.exception("answering %s failed", query.name)
            return _servfail(query)


def _decision_memo(key: bytes, decision: Decision) -> tuple[object, ...]:
    """What a GSLB reply's rendered sections depend on, besides the question."""
    return (key, decision.outcome, decision.endpoints, decision.ttl)


def _labels(key: bytes) -> tuple[bytes, ...]:
    labels = []
    pos = 0
    while key[pos]:
        labels.append(key[pos + 1 : pos + 1 + key[pos]])
        pos += 1 + key[pos]
    return tuple(labels)
