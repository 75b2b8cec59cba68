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
from ipaddress import ip_address

from gslb import engine
from gslb.engine import Reply, View
from gslb.model import IPAddress
from gslb.wire import (
    BADVERS,
    FORMERR,
    NOTIMP,
    SERVFAIL,
    TC,
    Drop,
    FormErr,
    NotImp,
    Query,
    assemble,
    header_only,
    opt_record,
    parse_query,
    render_body,
    reply_flags,
)

log = logging.getLogger(__name__)

CACHE_LIMIT = 200_000
TCP_LIMIT = 65535

Rendered = tuple[int, tuple[int, int, int], bytes, int]  # flags sans RD, counts, body, scope


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
    body, counts = render_body(
        query, (reply.answer, reply.authority, reply.additional), reply.rclass
    )
    flags = reply_flags(query, reply.rcode, reply.aa) & ~0x0100  # RD is per query
    return flags, counts, body, reply.scope


def _finish(query: Query, rendered: Rendered, limit: int) -> bytes:
    flags, counts, body, scope = rendered
    flags |= query.flags & 0x0100
    opt = opt_record(query.edns, scope)
    out = assemble(query, flags, counts, body, opt)
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


class Responder:
    """The fast path for one view (see module docstring)."""

    __slots__ = ("view", "static", "dynamic", "bodies")

    def __init__(self, view: View) -> None:
        self.view = view
        self.static: dict[bytes, Rendered] = {}
        self.dynamic: dict[bytes, dict[object, Rendered]] = {}
        self.bodies: dict[tuple[object, ...], Rendered] = {}

    def respond(self, data: bytes, resolver: str, tcp: bool = False) -> bytes | None:
        parsed = _special(data)
        if not isinstance(parsed, Query):
            return parsed
        query = parsed
        question = query.question
        key = question[:-4].lower() + question[-4:]
        limit = TCP_LIMIT if tcp else query.udp_limit
        hit = self.static.get(key)
        if hit is not None:
            return _finish(query, hit, limit)
        clients = self.dynamic.get(key)
        ckey: object = resolver
        if clients is not None:
            ecs = query.edns.ecs if query.edns is not None else None
            if ecs is not None and ecs.source > 0:
                ckey = (ecs.family, ecs.source, ecs.address)
            hit = clients.get(ckey)
            if hit is not None:
                return _finish(query, hit, limit)
        try:
            rendered = self._miss(query, key, ckey, resolver)
        except Exception:
            log.exception("answering %s failed", query.name)
            return _servfail(query)
        return _finish(query, rendered, limit)

    def _miss(self, query: Query, key: bytes, ckey: object, resolver: str) -> Rendered:
        reply = engine.answer(self.view, query, ip_address(resolver))
        memo = (
            key,
            reply.rcode,
            reply.aa,
            reply.rclass,
            reply.answer,
            reply.authority,
            reply.additional,
        )
        rendered = self.bodies.get(memo)
        if rendered is None:
            rendered = _render(query, reply)
            if len(self.bodies) >= CACHE_LIMIT:
                self.bodies.clear()
            self.bodies[memo] = rendered
        if reply.scope != rendered[3]:
            rendered = (rendered[0], rendered[1], rendered[2], reply.scope)
        if reply.gslb is None:
            if len(self.static) >= CACHE_LIMIT:
                self.static.clear()
            self.static[key] = rendered
            return rendered
        clients = self.dynamic.get(key)
        if clients is None:
            if len(self.dynamic) >= CACHE_LIMIT:
                self.dynamic.clear()
            clients = self.dynamic[key] = {}
            ecs = query.edns.ecs if query.edns is not None else None
            if ecs is not None and ecs.source > 0:
                ckey = (ecs.family, ecs.source, ecs.address)
        if len(clients) >= CACHE_LIMIT:
            clients.clear()
        clients[ckey] = rendered
        return rendered
