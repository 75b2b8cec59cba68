"""The strict query parser and the hand-built OPT record."""

from __future__ import annotations

import struct

import dns.edns
import dns.message
import dns.rdatatype
import pytest
from dnslib import EDNS0, DNSRecord, EDNSOption

from gslb.dns.render import text_to_labels
from gslb.dns.wire import Drop, Ecs, Edns, FormErr, NotImp, opt_record, parse_query


def _q(name: str = "ApI.Example.COM.", rdtype: str = "A", **kw: object) -> bytes:
    msg = dns.message.make_query(name, rdtype, **kw)  # type: ignore[arg-type]
    msg.id = 0x1234
    return msg.to_wire()


def _header(qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, flags: int = 0) -> bytes:
    return struct.pack("!HHHHHH", 7, flags, qd, an, ns, ar)


QNAME = b"\x03api\x07example\x03com\x00"


def test_plain_query_keeps_case_in_question_and_lowers_labels() -> None:
    q = parse_query(_q())
    assert q.qid == 0x1234
    assert q.labels == (b"api", b"example", b"com")
    assert q.name == "api.example.com."
    assert q.question[:4] == b"\x03ApI"
    assert (q.qtype, q.qclass) == (1, 1)
    assert q.edns is None
    assert q.udp_limit == 512


def test_edns_and_ecs_v4() -> None:
    ecs = dns.edns.ECSOption("198.51.100.0", 24)
    q = parse_query(_q(use_edns=0, payload=4096, want_dnssec=True, options=[ecs]))
    assert q.edns == Edns(4096, 0, True, Ecs(1, 24, bytes([198, 51, 100])))
    assert str(q.edns.ecs.ip()) == "198.51.100.0"  # type: ignore[union-attr]
    assert q.udp_limit == 1232  # we never promise more than our own EDNS size


def test_ecs_v6_and_zero_source() -> None:
    q = parse_query(_q(use_edns=0, options=[dns.edns.ECSOption("2001:db8:1::", 48)]))
    assert q.edns is not None and q.edns.ecs == Ecs(2, 48, bytes.fromhex("20010db80001"))
    q0 = parse_query(_q(use_edns=0, options=[dns.edns.ECSOption("0.0.0.0", 0)]))
    assert q0.edns is not None and q0.edns.ecs == Ecs(1, 0, b"")


def _with_ecs(payload: bytes) -> bytes:
    opt = b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 4 + len(payload))
    opt += struct.pack("!HH", 8, len(payload)) + payload
    return _header(ar=1) + QNAME + b"\x00\x01\x00\x01" + opt


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (struct.pack("!HBB", 3, 8, 0) + b"\x0a", "family 3"),
        (struct.pack("!HBB", 1, 33, 0) + b"\0" * 5, "source prefix 33 > 32"),
        (struct.pack("!HBB", 2, 129, 0) + b"\0" * 17, "source prefix 129 > 128"),
        (struct.pack("!HBB", 1, 24, 8) + b"\x0a\x00\x00", "scope must be 0"),
        (struct.pack("!HBB", 1, 24, 0) + b"\x0a\x00", "length does not match"),
        (struct.pack("!HBB", 1, 20, 0) + b"\x0a\x00\x01", "bits beyond its prefix"),
        (b"\x00\x01\x18", "shorter than 4 bytes"),
    ],
)
def test_malformed_ecs_is_formerr(payload: bytes, reason: str) -> None:
    with pytest.raises(FormErr, match=reason) as e:
        parse_query(_with_ecs(payload))
    assert e.value.qid == 7


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_header(qd=0), "QDCOUNT is 0"),
        (_header(qd=2) + QNAME + b"\0\1\0\1" + QNAME + b"\0\1\0\1", "QDCOUNT is 2"),
        (_header(an=1) + QNAME + b"\0\1\0\1", "answer or authority"),
        (_header() + b"\x03api\xc0\x0c\0\1\0\1", "compressed or over-long"),
        (_header() + b"\x40" + b"a" * 64 + b"\0\0\1\0\1", "compressed or over-long"),
        (_header() + (b"\x3f" + b"a" * 63) * 4 + b"\0\0\1\0\1", "longer than 255"),
        (_header() + b"\x03api\x07exa", "runs past the end"),
        (_header() + QNAME + b"\0\1", "type/class missing"),
        (_header() + QNAME + b"\0\1\0\1junk", "trailing bytes"),
        (_header(ar=1) + QNAME + b"\0\1\0\1" + b"\xc0\x21" + b"\0" * 10, "pointer loop"),
        (
            _header(ar=2)
            + QNAME
            + b"\0\1\0\1"
            + (b"\x00" + struct.pack("!HHIH", 41, 1232, 0, 0)) * 2,
            "more than one OPT",
        ),
        (
            _header(ar=1)
            + QNAME
            + b"\0\1\0\1"
            + b"\x01x\x00"
            + struct.pack("!HHIH", 41, 512, 0, 0),
            "OPT owner",
        ),
        (
            _header(ar=1) + QNAME + b"\0\1\0\1" + b"\x00" + struct.pack("!HHIH", 41, 512, 0, 6),
            "data truncated",
        ),
    ],
)
def test_malformed_queries_are_formerr(data: bytes, reason: str) -> None:
    with pytest.raises(FormErr, match=reason):
        parse_query(data)


def test_short_header_and_responses_are_dropped() -> None:
    with pytest.raises(Drop):
        parse_query(b"\x00\x01\x00")
    with pytest.raises(Drop):
        parse_query(_header(flags=0x8000) + QNAME + b"\0\1\0\1")


def test_other_opcodes_are_notimp() -> None:
    with pytest.raises(NotImp):
        parse_query(_header(flags=4 << 11) + QNAME + b"\0\6\0\1")  # NOTIFY


def test_opt_record_matches_dnslib() -> None:
    """Our hand-built OPT must be byte-identical to dnslib's, with and without ECS."""
    ecs = Ecs(1, 24, bytes([198, 51, 100]))
    for edns, scope in ((Edns(4096, 0, True, ecs), 16), (Edns(512, 0, False, None), 0)):
        opts = []
        if edns.ecs is not None:
            opts.append(EDNSOption(8, struct.pack("!HBB", 1, 24, scope) + ecs.address))
        ref = DNSRecord()
        ref.add_ar(EDNS0(udp_len=1232, flags="do" if edns.do else "", opts=opts))
        assert opt_record(edns, scope) == ref.pack()[12:]
    assert opt_record(None, 0) == b""


def test_text_to_labels_handles_escapes() -> None:
    assert text_to_labels("a\\.b.example.com.") == (b"a.b", b"example", b"com")
    assert text_to_labels("\\065x.") == (b"Ax",)
    assert text_to_labels(".") == ()
