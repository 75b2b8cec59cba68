"""DNS messages as bytes: a strict query parser, the OPT record, header flags.

The parser is hand-written because it is on every query's path and because it must
be stricter than dnslib about what a *query* may contain (RFC 1035, 6891, 7871).
Rendering answers is :mod:`gslb.dns.render`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from gslb.model import IPAddress

# Header flag bits
QR = 0x8000
AA = 0x0400
TC = 0x0200
RD = 0x0100
OPCODE_MASK = 0x7800

# RCODEs
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
BADVERS = 16

OPT = 41
ECS_OPTION = 8
ECS_ADDRESS_BYTES = {1: 4, 2: 16}  # client subnet family -> full address length
CLASS_IN, CLASS_CH = 1, 3

#: Our advertised EDNS UDP payload size (DNS flag day 2020).
EDNS_UDP_SIZE = 1232

_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_OPTION = struct.Struct("!HH")


class Drop(Exception):
    """Input that deserves no answer at all (no parsable header, or not a query)."""


class FormErr(Exception):
    """A query with a parsable header that is malformed: answer FORMERR."""

    def __init__(self, reason: str, qid: int, flags: int) -> None:
        super().__init__(reason)
        self.qid = qid
        self.flags = flags


class NotImp(Exception):
    """An opcode we do not implement: answer NOTIMP."""

    def __init__(self, qid: int, flags: int) -> None:
        super().__init__("opcode not implemented")
        self.qid = qid
        self.flags = flags


@dataclass(frozen=True, slots=True)
class Ecs:
    """The EDNS Client Subnet option of a query (RFC 7871 section 6)."""

    family: int  # 1 = IPv4, 2 = IPv6
    source: int  # SOURCE PREFIX-LENGTH
    address: bytes  # exactly ceil(source / 8) bytes, as sent

    def ip(self) -> IPAddress:
        if self.family == 1:
            return IPv4Address(self.address.ljust(4, b"\0"))
        return IPv6Address(self.address.ljust(16, b"\0"))


@dataclass(frozen=True, slots=True)
class Edns:
    udp_size: int
    version: int
    do: bool
    ecs: Ecs | None


@dataclass(frozen=True, slots=True)
class Query:
    qid: int
    flags: int  # the query's raw header flags
    labels: tuple[bytes, ...]  # lower-cased labels, root excluded
    question: bytes  # the question section exactly as sent (qname + qtype + qclass)
    qtype: int
    qclass: int
    edns: Edns | None

    @property
    def name(self) -> str:
        """Lower-case absolute presentation name, as zone names are stored."""
        return labels_to_text(self.labels)

    @property
    def udp_limit(self) -> int:
        """How large a UDP answer this client accepts (RFC 6891 section 6.2.5)."""
        return udp_limit(None if self.edns is None else self.edns.udp_size)


def labels_to_text(labels: tuple[bytes, ...]) -> str:
    if not labels:
        return "."
    out = []
    for label in labels:
        if all(0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) for b in label):
            out.append(label.decode("ascii"))
        else:
            out.append(
                "".join(
                    chr(b) if 0x21 <= b <= 0x7E and b not in (0x2E, 0x5C) else f"\\{b:03d}"
                    for b in label
                )
            )
    return ".".join(out) + "."


def _skip_name(data: bytes, pos: int, qid: int, flags: int) -> int:
    """Skip a possibly compressed name in a record; returns the offset after it."""
    end = len(data)
    jumps = 0
    after = -1
    total = 0
    while True:
        if pos >= end:
            raise FormErr("name runs past the end of the message", qid, flags)
        length = data[pos]
        if length == 0:
            return after if after >= 0 else pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 1 >= end:
                raise FormErr("truncated compression pointer", qid, flags)
            target = ((length & 0x3F) << 8) | data[pos + 1]
            if after < 0:
                after = pos + 2
            jumps += 1
            if jumps > 64 or target >= pos:
                raise FormErr("compression pointer loop", qid, flags)
            pos = target
            continue
        if length & 0xC0:
            raise FormErr("unknown label type", qid, flags)
        total += length + 1
        if total > 255:
            raise FormErr("name longer than 255 octets", qid, flags)
        pos += length + 1


def parse_query(data: bytes) -> Query:
    """Parse a query strictly. Raises Drop, FormErr or NotImp."""
    if len(data) < 12:
        raise Drop("shorter than a DNS header")
    qid, flags, qdcount, ancount, nscount, arcount = _HEADER.unpack_from(data)
    if flags & QR:
        raise Drop("a response, not a query")
    if flags & OPCODE_MASK:
        raise NotImp(qid, flags)
    if qdcount != 1:
        raise FormErr(f"QDCOUNT is {qdcount}, expected 1", qid, flags)
    if ancount or nscount:
        raise FormErr("query carries answer or authority records", qid, flags)
    end = len(data)
    pos = 12
    labels: list[bytes] = []
    total = 1
    while True:
        if pos >= end:
            raise FormErr("question name runs past the end", qid, flags)
        length = data[pos]
        if length == 0:
            pos += 1
            break
        if length > 63:
            raise FormErr("compressed or over-long label in question", qid, flags)
        total += length + 1
        if total > 255:
            raise FormErr("question name longer than 255 octets", qid, flags)
        if pos + 1 + length > end:
            raise FormErr("question label runs past the end", qid, flags)
        labels.append(data[pos + 1 : pos + 1 + length].lower())
        pos += 1 + length
    if pos + 4 > end:
        raise FormErr("question type/class missing", qid, flags)
    qtype, qclass = struct.unpack_from("!HH", data, pos)
    if qtype == OPT:  # RFC 6891 6.1.1: OPT is a pseudo-RR, never a question
        raise FormErr("question of type OPT", qid, flags)
    pos += 4
    question = data[12:pos]
    edns: Edns | None = None
    for _ in range(arcount):
        name_at = pos
        pos = _skip_name(data, pos, qid, flags)
        if pos + 10 > end:
            raise FormErr("additional record header truncated", qid, flags)
        rtype, rclass, ttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        if pos + rdlen > end:
            raise FormErr("additional record data truncated", qid, flags)
        if rtype == OPT:
            if edns is not None:
                raise FormErr("more than one OPT record", qid, flags)
            if data[name_at] != 0:
                raise FormErr("OPT owner is not the root", qid, flags)
            edns = _parse_opt(data[pos : pos + rdlen], rclass, ttl, qid, flags)
        pos += rdlen
    if pos != end:
        raise FormErr("trailing bytes after the last record", qid, flags)
    return Query(qid, flags, tuple(labels), question, qtype, qclass, edns)


def _parse_opt(rdata: bytes, rclass: int, ttl: int, qid: int, flags: int) -> Edns:
    version = (ttl >> 16) & 0xFF
    do = bool(ttl & 0x8000)
    ecs: Ecs | None = None
    pos, end = 0, len(rdata)
    while pos < end:
        if pos + 4 > end:
            raise FormErr("EDNS option header truncated", qid, flags)
        code, length = _OPTION.unpack_from(rdata, pos)
        pos += 4
        if pos + length > end:
            raise FormErr("EDNS option data truncated", qid, flags)
        if code == ECS_OPTION and version == 0:
            if ecs is not None:
                raise FormErr("more than one client subnet option", qid, flags)
            ecs = _parse_ecs(rdata[pos : pos + length], qid, flags)
        pos += length
    return Edns(udp_size=rclass, version=version, do=do, ecs=ecs)


def ecs_problem(opt: bytes) -> str | None:
    """What is wrong with a client subnet option's payload (RFC 7871 section 6), if
    anything: what a correct resolver never sends. The fast path asks the same question."""
    if len(opt) < 4:
        return "client subnet option shorter than 4 bytes"
    family, source, scope = opt[0] << 8 | opt[1], opt[2], opt[3]
    if family not in (1, 2):
        return f"client subnet family {family} is not 1 or 2"
    max_bits = 32 if family == 1 else 128
    if source > max_bits:
        return f"client subnet source prefix {source} > {max_bits}"
    if scope != 0:
        return "client subnet scope must be 0 in queries"
    if len(opt) != 4 + (source + 7) // 8:
        return "client subnet address length does not match its prefix"
    if source % 8 and opt[-1] & (0xFF >> (source % 8)):
        return "client subnet address has bits beyond its prefix"
    return None


def udp_limit(advertised: int | None) -> int:
    """How large a UDP reply a client accepts (RFC 6891 6.2.5): 512 without EDNS, else
    its advertised size within [512, our own EDNS_UDP_SIZE]."""
    if advertised is None:
        return 512
    return max(512, min(advertised, EDNS_UDP_SIZE))


def _parse_ecs(opt: bytes, qid: int, flags: int) -> Ecs:
    problem = ecs_problem(opt)
    if problem is not None:
        raise FormErr(problem, qid, flags)
    return Ecs(opt[1], opt[2], bytes(opt[4:]))


# --------------------------------------------------------------------------- rendering


def opt_record(edns: Edns | None, scope: int, ext_rcode: int = 0) -> bytes:
    """Our OPT RR for a reply to ``edns`` (empty when the query had none)."""
    if edns is None:
        return b""
    ecs = None
    if edns.ecs is not None and ext_rcode == 0:
        e = edns.ecs
        ecs = struct.pack("!HBB", e.family, e.source, 0) + e.address
    return opt_bytes(edns.do, ecs, scope, ext_rcode)


def opt_bytes(do: bool, ecs: bytes | None, scope: int, ext_rcode: int = 0) -> bytes:
    """OPT RR bytes: our UDP size, DO copied, ECS echoed with ``scope`` (RFC 7871 7.2.1).

    ``ecs`` is the client's option payload as sent (family, source, 0, address).
    Built by hand because the fast path appends it to cached answers; the general
    path uses the same function, so the two can never disagree on EDNS.
    """
    ttl = (ext_rcode << 24) | (0x8000 if do else 0)
    if ecs is None:
        return _OPT_PREFIX + struct.pack("!IH", ttl, 0)
    option = ecs[:3] + bytes([scope]) + ecs[4:]
    return (
        _OPT_PREFIX + struct.pack("!IHHH", ttl, 4 + len(option), ECS_OPTION, len(option)) + option
    )


_OPT_PREFIX = b"\x00" + struct.pack("!HH", OPT, EDNS_UDP_SIZE)


def header_only(qid: int, flags: int, rcode: int) -> bytes:
    """A bare reply (FORMERR, NOTIMP): QR set, opcode and RD copied, no sections."""
    return _HEADER.pack(qid, QR | (flags & (OPCODE_MASK | RD)) | rcode, 0, 0, 0, 0)


def reply_flags(query: Query, rcode: int, aa: bool) -> int:
    return QR | (AA if aa else 0) | (query.flags & RD) | (rcode & 0xF)


def assemble(
    query: Query, flags: int, counts: tuple[int, int, int], body: bytes, opt: bytes
) -> bytes:
    """Header + the client's own question + a rendered body + OPT."""
    an, ns, ar = counts
    header = _HEADER.pack(query.qid, flags, 1, an, ns, ar + (1 if opt else 0))
    return header + query.question + body + opt
