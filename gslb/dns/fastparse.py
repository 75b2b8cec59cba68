"""The common query shape parsed into plain values, without dnslib.

:func:`fast_parse` reads a QUERY with one uncompressed question and at most an OPT
(version 0) holding at most one well-formed client-subnet option; anything else raises
:class:`Unusual` and goes to the strict parser. A busy name's queries from new client
networks differ only in ID and address, so :func:`shaped` reuses the parse of an
earlier query of the same bytes (:func:`learn_shape` keeps it, :func:`match_shape`
finds it; :mod:`gslb.dns.place_answers` keys its replies by the same bytes).
"""

from __future__ import annotations

import struct

from gslb.dns.view import ConfigView, Shape
from gslb.dns.wire import ECS_OPTION, OPT, ecs_problem, udp_limit

__all__ = [
    "CANONICAL_MAX", "MAX_TAILS", "Parsed", "Unusual", "fast_parse", "learn_shape", "match_shape",
    "shaped",
]  # fmt: skip

CANONICAL_MAX = 320  # bytes: header, a 255-octet question, OPT with a client subnet
_CANONICAL_FLAGS = 0x0100 | 0x0020 | 0x0010  # RD, AD, CD: may vary, never change a reply
_Q_NO_AR = b"\x00\x01\x00\x00\x00\x00\x00\x00"  # QD=1 AN=0 NS=0 AR=0
_Q_ONE_AR = b"\x00\x01\x00\x00\x00\x00\x00\x01"
_OPT_FIXED = struct.Struct("!HHBBHH")  # type, udp size, ext rcode, version, flags, rdlen
_OPTION = struct.Struct("!HH")


class Unusual(Exception):
    """The fast parser declines; the strict general path takes the query."""


Parsed = tuple[int, int, bytes, bytes, int, int, bytes | None, bool]


def fast_parse(data: bytes) -> Parsed:
    """Parse the common query shape only, into plain values.

    QUERY opcode, one question without compression, no answer/authority, at most an
    OPT (version 0) with at most one well-formed ECS option among its options.
    Everything else raises :class:`Unusual` and goes through ``parse_query``, which is
    strict and answers FORMERR/NOTIMP/BADVERS; the differential test holds the two
    together. Returns (id, flags, question, cache key, udp limit or 0 without EDNS,
    DO bit, ECS payload, canonical).
    """
    end = len(data)
    if end < 17 or data[2] & 0xF8:  # QR or a non-QUERY opcode
        raise Unusual
    counts = data[4:12]
    if counts == _Q_NO_AR:
        has_opt = False
    elif counts == _Q_ONE_AR:
        has_opt = True
    else:
        raise Unusual
    pos = 12
    length = data[pos]
    while length:
        if length > 63:
            raise Unusual
        pos += length + 1
        length = data[pos]
    if pos > 266:  # name over 255 octets
        raise Unusual
    qend = pos + 5
    if qend > end:
        raise Unusual
    question = data[12:qend]
    key = data[12:pos].lower() + data[pos:qend]
    qid, flags = data[0] << 8 | data[1], data[2] << 8 | data[3]
    canonical = not flags & ~_CANONICAL_FLAGS and end <= CANONICAL_MAX
    if not has_opt:
        if qend != end:
            raise Unusual
        return qid, flags, question, key, 0, 0, None, canonical
    if data[qend] != 0 or qend + 11 > end:
        raise Unusual
    rtype, udp, ext, version, zflags, rdlen = _OPT_FIXED.unpack_from(data, qend + 1)
    if rtype != OPT or version != 0 or qend + 11 + rdlen != end:
        raise Unusual
    if ext or zflags & 0x7FFF:
        canonical = False
    ecs = None
    pos = qend + 11
    while pos < end:
        if pos + 4 > end:
            raise Unusual
        code, olen = _OPTION.unpack_from(data, pos)
        pos += 4
        if code == ECS_OPTION:
            if ecs is not None or pos + olen > end:
                raise Unusual
            ecs = data[pos : pos + olen]
        else:
            canonical = False
        pos += olen
    if pos != end or (ecs is not None and ecs_problem(ecs) is not None):
        raise Unusual
    return qid, flags, question, key, udp_limit(udp), zflags & 0x8000, ecs, canonical


MAX_TAILS = 4  # client address lengths tried per query (a /24 is 3 bytes, a /48 6)


def match_shape(data: bytes, config: ConfigView) -> tuple[Shape, bytes, int] | None:
    """The learned shape of ``data`` (a canonical ECS query with these bytes but for
    the ID and the client address), its key (the bytes without ID and address) and the
    address length; None when none matches or the address sets bits past its source
    prefix (RFC 7871 6: :func:`fast_parse` refuses that too).

    The bytes before the address fix its length and the source prefix, so a match is
    one slice and one dict lookup per address length traffic uses.
    """
    shapes = config.shapes.data
    for n in config.tails:
        prefix = data[2:-n]
        shape = shapes.get(prefix)
        if shape is not None and len(data) == shape[6]:  # else another length's prefix
            bits = shape[5][2] & 7
            if bits and data[-1] & (0xFF >> bits):
                return None
            return shape, prefix, n
    return None


def shaped(data: bytes, config: ConfigView) -> Parsed | None:
    """What :func:`fast_parse` returned for an earlier query of ``data``'s shape
    (:func:`match_shape`), with this one's ID and client address; None when none."""
    found = match_shape(data, config)
    if found is None:
        return None
    (flags, question, key, udp, do, head, _), _, n = found
    return data[0] << 8 | data[1], flags, question, key, udp, do, head + data[-n:], True


def learn_shape(data: bytes, parsed: Parsed, config: ConfigView) -> None:
    """Keep a canonical ECS query's parse for :func:`shaped`."""
    _, flags, question, key, udp, do, ecs, _ = parsed
    assert ecs is not None
    n = len(ecs) - 4
    if not n:
        return
    if n not in config.tails:  # the newest first: a length traffic uses comes back
        config.tails = (n, *config.tails[: MAX_TAILS - 1])
    prefix = data[2:-n]
    shape = (flags, question, key, udp, do, ecs[:4], len(data))
    config.shapes.put(prefix, shape, 2 * len(prefix))
