"""Protocol corners a compliance tester probes, on both paths (fast and general).

Zone transfers are refused (there is no transfer ACL, so nobody may have one), a
question of the pseudo-type OPT is malformed (RFC 6891 6.1.1), and a NOTIMP reply to an
unknown opcode copies the ID, the opcode and RD and nothing else (RFC 1035 4.1.1; ISC's
EDNS compliance test ``opcodeflg`` sends opcode 15 with every flag set).
"""

from __future__ import annotations

import logging
import struct
from ipaddress import ip_address

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from gslb.config import load_zones
from gslb.dns.responder import Responder, respond
from gslb.dns.view import ConfigView, View
from gslb.geo.database import GeoDatabase
from tests.conftest import GEOIP, ZONES


@pytest.fixture(scope="module")
def view() -> View:
    return View(ConfigView(load_zones([ZONES]), GeoDatabase.open(str(GEOIP))))


def both(view: View, data: bytes, tcp: bool = False) -> bytes | None:
    """The reply, after checking that both paths give it (on a miss and on a hit)."""
    expected = respond(view, data, ip_address("192.0.2.1"), tcp=tcp)
    fast = Responder(view)
    assert fast.respond(data, "192.0.2.1", tcp=tcp) == expected
    assert fast.respond(data, "192.0.2.1", tcp=tcp) == expected
    return expected


@pytest.mark.parametrize("qtype", ["AXFR", "IXFR"])
@pytest.mark.parametrize("name", ["example.com.", "api.example.com.", "example.org."])
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_zone_transfers_are_refused(view: View, qtype: str, name: str, tcp: bool) -> None:
    query = dns.message.make_query(name, qtype, use_edns=0)
    out = both(view, query.to_wire(), tcp)
    assert out is not None
    reply = dns.message.from_wire(out)
    assert reply.id == query.id and reply.rcode() == dns.rcode.REFUSED
    assert not reply.flags & dns.flags.AA
    assert not reply.answer and not reply.authority


@pytest.mark.parametrize("edns", [False, True])
def test_question_of_type_opt_is_formerr(view: View, edns: bool) -> None:
    query = dns.message.make_query("example.com.", 41, use_edns=0 if edns else False)
    out = both(view, query.to_wire())
    assert out is not None
    assert out[:2] == query.to_wire()[:2] and out[2] & 0x80 and out[3] & 0x0F == dns.rcode.FORMERR


ALL_FLAGS = 0x0200 | 0x0100 | 0x0080 | 0x0040 | 0x0020 | 0x0010 | 0x0400  # TC RD RA Z AD CD AA


@pytest.mark.parametrize("extra", [0, ALL_FLAGS], ids=["rd-only", "every-flag"])
@pytest.mark.parametrize("question", [False, True], ids=["header-only", "with-question"])
@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_unknown_opcode_notimp_copies_rd_and_only_rd(
    view: View, extra: int, question: bool, tcp: bool
) -> None:
    flags = (15 << 11) | 0x0100 | extra
    data = struct.pack("!HHHHHH", 0xBEEF, flags, int(question), 0, 0, 0)
    if question:
        data += b"\x07example\x03com\x00\x00\x06\x00\x01"
    out = both(view, data, tcp)
    assert out is not None and len(out) == 12
    qid, rflags = struct.unpack_from("!HH", out)
    assert qid == 0xBEEF
    assert rflags == 0x8000 | (15 << 11) | 0x0100 | dns.rcode.NOTIMP  # QR, opcode, RD, rcode
    for opcode in (dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.STATUS):
        norec = struct.pack("!HHHHHH", 1, opcode << 11, 0, 0, 0, 0)
        reply = both(view, norec, tcp)
        assert reply is not None and struct.unpack_from("!H", reply, 2)[0] == (
            0x8000 | opcode << 11 | dns.rcode.NOTIMP
        )


def test_no_client_subnet_reaches_the_log_even_when_answering_fails(
    view: View, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ECS privacy: a failure is logged with the name, never the client's subnet."""
    from gslb.dns import engine, routing

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(engine, "answer", broken)
    monkeypatch.setattr(routing, "decide", broken)
    ecs = dns.edns.ECSOption("81.2.69.0", 24)
    query = dns.message.make_query("api.example.com.", "A", use_edns=0, options=[ecs])
    with caplog.at_level(logging.DEBUG):
        out = both(view, query.to_wire())
    assert out is not None and dns.message.from_wire(out).rcode() == dns.rcode.SERVFAIL
    assert caplog.records and "api.example.com" in caplog.text
    assert "81.2.69" not in caplog.text and "81.2.69" not in repr(
        [r.exc_info for r in caplog.records]
    )
