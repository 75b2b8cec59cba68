"""Answers rendered to wire bytes with dnslib: the general path, and the reference.

The fast path (:mod:`gslb.dns.responder`) only ever stores bytes cut from what this
module renders, and a differential test holds the two together byte for byte.

Rendering is done with the question name lower-cased, then the client's original
question bytes are patched back in (same length). dnslib compresses names
case-sensitively, so this keeps compression identical whatever case the client used
(0x20), and answer owners compressed to the question show the client's own case.
"""

from __future__ import annotations

from functools import lru_cache

from dnslib import AAAA, QTYPE, RR, A, DNSHeader, DNSLabel, DNSQuestion, DNSRecord

from gslb.dns.wire import CLASS_IN, Query
from gslb.model import RRset

__all__ = ["render_body", "rrset_records", "text_to_labels"]


def text_to_labels(name: str) -> tuple[bytes, ...]:
    """Presentation name (with \\DDD / \\X escapes) to wire labels, root excluded."""
    if name in (".", ""):
        return ()
    if "\\" not in name:
        return tuple(p.encode("ascii") for p in name.rstrip(".").split("."))
    labels: list[bytes] = []
    cur = bytearray()
    i = 0
    while i < len(name):
        c = name[i]
        if c == "\\":
            if name[i + 1 : i + 4].isdigit():
                cur.append(int(name[i + 1 : i + 4]))
                i += 4
                continue
            cur += name[i + 1].encode("latin-1")
            i += 2
            continue
        if c == ".":
            labels.append(bytes(cur))
            cur = bytearray()
        else:
            cur += c.encode("latin-1")
        i += 1
    if cur:
        labels.append(bytes(cur))
    return tuple(labels)


@lru_cache(maxsize=65536)
def rrset_records(rrset: RRset, rclass: int = CLASS_IN) -> tuple[RR, ...]:
    """dnslib records for an RRset; memoised since zone data and answers repeat."""
    owner = DNSLabel(text_to_labels(rrset.name))
    if rrset.rtype == "A":
        return tuple(RR(owner, QTYPE.A, rclass, rrset.ttl, A(r)) for r in rrset.rdatas)
    if rrset.rtype == "AAAA":
        return tuple(RR(owner, QTYPE.AAAA, rclass, rrset.ttl, AAAA(r)) for r in rrset.rdatas)
    out = []
    for rdata in rrset.rdatas:
        (rr,) = RR.fromZone(f"x. {rrset.ttl} IN {rrset.rtype} {rdata}")
        rr.rname = owner
        rr.rclass = rclass
        out.append(rr)
    return tuple(out)


def render_body(
    query: Query, sections: tuple[tuple[RRset, ...], ...], rclass: int = CLASS_IN
) -> tuple[bytes, tuple[int, int, int]]:
    """Render answer/authority/additional with dnslib, compressed against the question.

    Returns the bytes after the question and the section counts, so the caller can
    splice them behind any question with the same lower-cased bytes (the fast path).
    """
    msg = DNSRecord(
        DNSHeader(id=0, qr=1, rd=0),
        q=DNSQuestion(DNSLabel(query.labels), query.qtype, query.qclass),
    )
    counts = []
    for section, add in zip(sections, (msg.add_answer, msg.add_auth, msg.add_ar), strict=True):
        n = 0
        for rrset in section:
            records = rrset_records(rrset, rclass)
            if rrset.name == query.name:  # keep the client's exact labels (escapes)
                records = tuple(_relabel(rr, query.labels) for rr in records)
            add(*records)
            n += len(records)
        counts.append(n)
    packed: bytes = msg.pack()
    return packed[12 + len(query.question) :], (counts[0], counts[1], counts[2])


def _relabel(rr: RR, labels: tuple[bytes, ...]) -> RR:
    if rr.rname.label == labels:
        return rr
    return RR(DNSLabel(labels), rr.rtype, rr.rclass, rr.ttl, rr.rdata)
