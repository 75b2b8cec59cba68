"""The authoritative server over real UDP and TCP sockets, asked by real clients."""

from __future__ import annotations

import socket
import struct
import subprocess
import time
from collections.abc import Iterator

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from gslb.model import LiveState
from tests.conftest import LiveServer, need_tool, start_live, stop_live

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["batch", "asyncio"])
def live(request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """One server per UDP path for the read-only tests of this module: the recvmmsg
    batch thread (Linux) and the asyncio fallback (every other platform) answer alike."""
    from dataclasses import replace

    from tests.conftest import base_settings

    server = start_live(replace(base_settings(), udp_io=request.param))
    yield server
    stop_live(server)


Q = dns.message.make_query


def udp(live: LiveServer, msg: dns.message.Message, v6: bool = False) -> dns.message.Message:
    host, port = ("::1", live.port6) if v6 else ("127.0.0.1", live.port4)
    return dns.query.udp(msg, host, port=port, timeout=3, ignore_trailing=False)


def tcp(live: LiveServer, msg: dns.message.Message) -> dns.message.Message:
    return dns.query.tcp(msg, "127.0.0.1", port=live.port4, timeout=3)


def raw_udp(live: LiveServer, data: bytes, timeout: float = 1.0) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(data, ("127.0.0.1", live.port4))
        try:
            return s.recv(65535)
        except TimeoutError:
            return None


def rrs(resp: dns.message.Message, section: str = "answer") -> list[str]:
    return sorted(
        f"{rr.name} {dns.rdatatype.to_text(rr.rdtype)} {item.to_text()}"
        for rr in getattr(resp, section)
        for item in rr
    )


def test_apex_soa_and_ns_with_glue(live: LiveServer) -> None:
    q = Q("example.com.", "NS")
    q.flags |= dns.flags.RD
    r = udp(live, q)
    assert r.id == q.id
    assert r.flags & dns.flags.AA and not r.flags & dns.flags.RA and r.flags & dns.flags.RD
    assert rrs(r) == ["example.com. NS ns1.example.com.", "example.com. NS ns2.example.com."]
    assert "ns1.example.com. A 192.0.2.53" in rrs(r, "additional")
    soa = udp(live, Q("example.com.", "SOA"))
    assert soa.answer[0][0].serial == 2026112701
    norec = Q("example.com.", "SOA")
    norec.flags &= ~dns.flags.RD
    assert not udp(live, norec).flags & dns.flags.RD  # RD is copied, never invented


def test_case_is_preserved_0x20(live: LiveServer) -> None:
    r = udp(live, Q("MaIl.ExAmPlE.cOm.", "A"))
    assert r.question[0].name.to_text() == "MaIl.ExAmPlE.cOm."
    assert rrs(r) == ["MaIl.ExAmPlE.cOm. A 192.0.2.25"]


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("example.com.", "MX", ["example.com. MX 10 mail.example.com."]),
        ("example.com.", "TXT", ['example.com. TXT "v=spf1 mx -all"']),
        ("example.com.", "CAA", ['example.com. CAA 0 issue "letsencrypt.org"']),
        (
            "_sip._tcp.example.com.",
            "SRV",
            ["_sip._tcp.example.com. SRV 10 5 5060 sip.example.com."],
        ),
        ("ns1.example.com.", "AAAA", ["ns1.example.com. AAAA 2001:db8::53"]),
        ("10.2.0.192.in-addr.arpa.", "PTR", ["10.2.0.192.in-addr.arpa. PTR api.example.com."]),
        (
            "status.example.com.",
            "A",
            ["status.example.com. A 192.0.2.70", "status.example.com. A 192.0.2.71"],
        ),
    ],
)
def test_static_records(live: LiveServer, name: str, rdtype: str, expected: list[str]) -> None:
    r = udp(live, Q(name, rdtype))
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert rrs(r) == expected


def test_mx_and_srv_targets_get_additional_addresses(live: LiveServer) -> None:
    assert "mail.example.com. A 192.0.2.25" in rrs(udp(live, Q("example.com.", "MX")), "additional")
    srv = udp(live, Q("_sip._tcp.example.com.", "SRV"))
    assert "sip.example.com. A 192.0.2.60" in rrs(srv, "additional")


def test_per_record_ttl(live: LiveServer) -> None:
    assert udp(live, Q("status.example.com.", "A")).answer[0].ttl == 60
    assert udp(live, Q("mail.example.com.", "A")).answer[0].ttl == 3600


def test_cname_chain_into_gslb_name(live: LiveServer) -> None:
    r = udp(live, Q("www.example.com.", "A"))
    assert r.answer[0].rdtype == dns.rdatatype.CNAME
    assert r.answer[0][0].target.to_text() == "api.example.com."
    assert r.answer[1].name.to_text() == "api.example.com." and r.answer[1].ttl == 30
    assert len(r.answer[1]) >= 1


def test_wildcard_synthesis_rfc4592(live: LiveServer) -> None:
    r = udp(live, Q("Build-42.dev.example.com.", "A"))
    assert rrs(r) == ["Build-42.dev.example.com. A 192.0.2.80"]
    deep = udp(live, Q("a.b.dev.example.com.", "A"))
    assert rrs(deep) == ["a.b.dev.example.com. A 192.0.2.80"]
    ent = udp(live, Q("dev.example.com.", "A"))  # empty non-terminal: NODATA, not wildcard
    assert ent.rcode() == dns.rcode.NOERROR and not ent.answer
    nodata = udp(live, Q("x.dev.example.com.", "AAAA"))
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer and nodata.authority


def test_nxdomain_and_nodata_carry_soa_with_negative_ttl(live: LiveServer) -> None:
    nx = udp(live, Q("nope.example.com.", "A"))
    assert nx.rcode() == dns.rcode.NXDOMAIN and nx.flags & dns.flags.AA
    assert nx.authority[0].rdtype == dns.rdatatype.SOA
    assert nx.authority[0].ttl == 300  # min(SOA TTL 3600, minimum 300), RFC 2308
    nodata = udp(live, Q("mail.example.com.", "AAAA"))
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA and nodata.authority[0].ttl == 300


def test_out_of_zone_is_refused(live: LiveServer) -> None:
    q = Q("www.example.org.", "A")
    q.flags |= dns.flags.RD
    r = udp(live, q)
    assert r.rcode() == dns.rcode.REFUSED
    assert not r.flags & dns.flags.AA and not r.flags & dns.flags.RA and not r.answer


def test_delegation_gives_referral_with_glue(live: LiveServer) -> None:
    for name in ("lab.example.com.", "host.lab.example.com."):
        r = udp(live, Q(name, "A"))
        assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.AA and not r.answer
        assert rrs(r, "authority") == [
            "lab.example.com. NS ns1.lab.example.com.",
            "lab.example.com. NS ns2.lab.example.com.",
        ]
        assert rrs(r, "additional") == [
            "ns1.lab.example.com. A 192.0.2.101",
            "ns2.lab.example.com. AAAA 2001:db8::102",
        ]


def test_edns_opt_echoed_with_our_size(live: LiveServer) -> None:
    r = udp(live, Q("mail.example.com.", "A", use_edns=0, payload=4096))
    assert r.edns == 0 and r.payload == 1232
    r = udp(live, Q("mail.example.com.", "A"))
    assert r.edns == -1  # no OPT when the query had none


def test_edns_version_1_gets_badvers(live: LiveServer) -> None:
    r = udp(live, Q("mail.example.com.", "A", use_edns=1))
    assert r.rcode() == dns.rcode.BADVERS and not r.answer


def test_unknown_edns_options_are_ignored(live: LiveServer) -> None:
    opt = dns.edns.GenericOption(65001, b"hello")
    r = udp(live, Q("mail.example.com.", "A", use_edns=0, options=[opt]))
    assert rrs(r) == ["mail.example.com. A 192.0.2.25"]
    assert all(o.otype != 65001 for o in r.options)


def test_truncation_over_udp_and_full_answer_over_tcp(live: LiveServer) -> None:
    plain = udp(live, Q("big.example.com.", "TXT"))
    assert plain.flags & dns.flags.TC and not plain.answer
    edns = udp(live, Q("big.example.com.", "TXT", use_edns=0, payload=1232))
    assert edns.flags & dns.flags.TC and edns.edns == 0
    full = tcp(live, Q("big.example.com.", "TXT"))
    assert not full.flags & dns.flags.TC and len(full.answer[0]) == 30


def test_tcp_pipelined_queries_on_one_connection(live: LiveServer) -> None:
    names = ["mail.example.com.", "ns1.example.com.", "nope.example.com.", "big.example.com."]
    msgs = [Q(n, "TXT" if n.startswith("big") else "A") for n in names]
    wire = b"".join(struct.pack("!H", len(w)) + w for w in (m.to_wire() for m in msgs))
    with socket.create_connection(("127.0.0.1", live.port4), timeout=3) as s:
        s.sendall(wire)
        got = {}
        buf = b""
        while len(got) < len(msgs):
            buf += s.recv(65535)
            while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                n = struct.unpack("!H", buf[:2])[0]
                resp = dns.message.from_wire(buf[2 : 2 + n])
                got[resp.id] = resp
                buf = buf[2 + n :]
    assert {m.id for m in msgs} == set(got)
    assert got[msgs[2].id].rcode() == dns.rcode.NXDOMAIN
    assert len(got[msgs[3].id].answer[0]) == 30


def test_tcp_idle_timeout_and_connection_limit(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    from gslb.dns.server import Limits

    live = live_factory(settings, limits=Limits(tcp_idle=0.5, tcp_connections=2))
    idle = socket.create_connection(("127.0.0.1", live.port4), timeout=5)
    start = time.monotonic()
    assert idle.recv(10) == b""  # closed by the server after the idle timeout
    assert time.monotonic() - start < 4
    idle.close()
    a = socket.create_connection(("127.0.0.1", live.port4), timeout=3)
    b = socket.create_connection(("127.0.0.1", live.port4), timeout=3)
    time.sleep(0.1)  # the cap is full with a and b: c is taken, a (oldest idle) goes
    c = socket.create_connection(("127.0.0.1", live.port4), timeout=3)
    assert a.recv(10) == b""
    wire = Q("mail.example.com.", "A").to_wire()
    c.sendall(struct.pack("!H", len(wire)) + wire)
    assert len(c.recv(65535)) > 2
    for s in (a, b, c):
        s.close()


def test_any_gets_a_minimal_answer_rfc8482(live: LiveServer) -> None:
    r = udp(live, Q("example.com.", "ANY"))
    assert r.rcode() == dns.rcode.NOERROR and len(r.answer) == 1


def test_other_opcodes_get_notimp(live: LiveServer) -> None:
    q = Q("example.com.", "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    r = udp(live, q)
    assert r.rcode() == dns.rcode.NOTIMP and r.id == q.id


def test_zone_transfer_refused_over_tcp_and_udp(live: LiveServer) -> None:
    """No transfer ACL exists, so AXFR/IXFR are refused, never answered with the SOA."""
    for qtype in ("AXFR", "IXFR"):
        assert tcp(live, Q("example.com.", qtype)).rcode() == dns.rcode.REFUSED
        assert udp(live, Q("example.com.", qtype)).rcode() == dns.rcode.REFUSED


def test_notimp_copies_rd_like_the_isc_opcodeflg_probe(live: LiveServer) -> None:
    every_flag = (15 << 11) | 0x0200 | 0x0100 | 0x0080 | 0x0040 | 0x0020 | 0x0010 | 0x0400
    out = raw_udp(live, struct.pack("!HHHHHH", 77, every_flag, 0, 0, 0, 0))
    assert out == struct.pack("!HHHHHH", 77, 0x8000 | (15 << 11) | 0x0100 | 4, 0, 0, 0, 0)


def test_chaos_identity_from_config_or_refused(live: LiveServer) -> None:
    r = udp(live, Q("id.server.", "TXT", rdclass="CH"))
    assert rrs(r) == ['id.server. TXT "gslb-test-1"']
    assert rrs(udp(live, Q("version.bind.", "TXT", rdclass="CH"))) == [
        'version.bind. TXT "gslb test"'
    ]
    assert udp(live, Q("hostname.bind.", "TXT", rdclass="CH")).rcode() == dns.rcode.REFUSED


def _header(qid: int, qd: int = 1, ar: int = 0) -> bytes:
    return struct.pack("!HHHHHH", qid, 0, qd, 0, 0, ar)


QUESTION = b"\x04mail\x07example\x03com\x00\x00\x01\x00\x01"

MALFORMED: list[tuple[str, bytes, int | None]] = [
    ("truncated header", b"\x12\x34\x00", None),
    ("empty", b"", None),
    ("qdcount 0", _header(1), dns.rcode.FORMERR),
    ("qdcount 2", _header(2, qd=2) + QUESTION + QUESTION, dns.rcode.FORMERR),
    ("compression loop", _header(3) + b"\xc0\x0c\x00\x01\x00\x01", dns.rcode.FORMERR),
    (
        "label over 63",
        _header(4) + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01",
        dns.rcode.FORMERR,
    ),
    (
        "name over 255",
        _header(5) + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01",
        dns.rcode.FORMERR,
    ),
    ("question cut", _header(6) + b"\x04mail\x07exa", dns.rcode.FORMERR),
    (
        "bad ecs family",
        _header(7, ar=1)
        + QUESTION
        + b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x09\x00\x08\x00\x05\x00\x07\x08\x00\x0a",
        dns.rcode.FORMERR,
    ),
]


@pytest.mark.parametrize(("label", "data", "rcode"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_input_never_kills_the_server(
    live: LiveServer, label: str, data: bytes, rcode: int | None
) -> None:
    out = raw_udp(live, data, timeout=0.5 if rcode is None else 2)
    if rcode is None:
        assert out is None
    else:
        assert out is not None
        resp = dns.message.from_wire(out, question_only=True) if len(out) > 12 else None
        assert struct.unpack("!H", out[:2])[0] == struct.unpack("!H", data[:2])[0]
        assert out[3] & 0x0F == rcode, label
        assert resp is None or resp.rcode() == rcode
    # the server is still there and answers normally, over UDP and TCP
    assert rrs(udp(live, Q("mail.example.com.", "A"))) == ["mail.example.com. A 192.0.2.25"]
    assert rrs(tcp(live, Q("mail.example.com.", "A"))) == ["mail.example.com. A 192.0.2.25"]


def test_garbage_over_tcp_closes_only_that_connection(live: LiveServer) -> None:
    with socket.create_connection(("127.0.0.1", live.port4), timeout=3) as s:
        s.sendall(b"\x00\x03abc")
        assert s.recv(10) == b""
    assert rrs(tcp(live, Q("mail.example.com.", "A"))) == ["mail.example.com. A 192.0.2.25"]


def test_ipv6_listener(live: LiveServer) -> None:
    assert rrs(udp(live, Q("mail.example.com.", "A"), v6=True)) == [
        "mail.example.com. A 192.0.2.25"
    ]


def test_static_names_return_ecs_scope_zero(live: LiveServer) -> None:
    ecs = dns.edns.ECSOption("81.2.69.0", 24)
    r = udp(live, Q("mail.example.com.", "A", use_edns=0, options=[ecs]))
    (echo,) = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert (echo.address, echo.srclen, echo.scopelen) == ("81.2.69.0", 24, 0)


@pytest.mark.parametrize("tool", ["dig", "kdig"])
def test_real_clients_dig_and_kdig(live: LiveServer, tool: str) -> None:
    exe = need_tool(tool, "bind9-dnsutils" if tool == "dig" else "knot-dnsutils")
    for transport in ("+notcp", "+tcp"):
        out = subprocess.run(
            [exe, "@127.0.0.1", "-p", str(live.port4), transport, "+norec", "+short",
             "mail.example.com", "A"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout  # fmt: skip
        assert out.strip() == "192.0.2.25", (tool, transport, out)
    full = subprocess.run(
        [exe, "@127.0.0.1", "-p", str(live.port4), "+norec", "example.com", "SOA"],
        capture_output=True, text=True, timeout=10, check=True,
    ).stdout  # fmt: skip
    assert "aa" in full.lower().split("flags:")[1].split(";")[0].split()
    assert "2026112701" in full


def test_reload_swaps_valid_config_and_keeps_old_on_error(settings, live_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import EXAMPLE

    zone = tmp_path / "example.com.yaml"
    zone.write_text(EXAMPLE.read_text())
    live = live_factory(settings, zones=(str(tmp_path),))
    assert udp(live, Q("example.com.", "SOA")).answer[0][0].serial == 2026112701
    zone.write_text(EXAMPLE.read_text().replace("2026112701", "2026112702"))
    assert live.call(live.runtime.reload_zones).ok
    assert udp(live, Q("example.com.", "SOA")).answer[0][0].serial == 2026112702
    zone.write_text(EXAMPLE.read_text().replace("serial: 2026112701", "serial: -1"))
    assert not live.call(live.runtime.reload_zones).ok
    assert udp(live, Q("example.com.", "SOA")).answer[0][0].serial == 2026112702


def test_health_change_affects_the_very_next_udp_answer(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    """Cached answers die with the live state they belong to: no waiting for an expiry,
    while static answers (which no state can change) stay cached."""
    live = live_factory(settings)
    ecs = dns.edns.ECSOption("81.2.69.0", 24)  # London: eu-west (Dublin) is nearest
    q = Q("api.example.com.", "A", use_edns=0, options=[ecs])
    for _ in range(3):  # fill every cache layer
        assert rrs(udp(live, q)) == ["api.example.com. A 192.0.2.10"]
    for _ in range(2):  # the second answer is kept whole
        assert rrs(udp(live, Q("mail.example.com.", "A"))) == ["mail.example.com. A 192.0.2.25"]
    static = live.runtime.view.config
    eu_west_down = LiveState(frozenset({("example.com.", "eu-west")}))
    assert live.call(live.runtime.publish_state, eu_west_down) is True
    assert rrs(udp(live, q)) == ["api.example.com. A 192.0.2.20"]  # eu-central, at once
    assert udp(live, q).answer[0].ttl == 10  # degraded TTL while failing over
    assert live.runtime.view.config is static and len(static.replies) == 1  # kept warm
    assert live.call(live.runtime.publish_state, eu_west_down) is False  # equal: no change
    assert live.call(live.runtime.publish_state, LiveState()) is True
    assert rrs(udp(live, q)) == ["api.example.com. A 192.0.2.10"]


def test_reload_keeps_the_health_state(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    """A SIGHUP reload replaces zones, not what is known about region health."""
    live = live_factory(settings)
    down = LiveState(frozenset({("example.com.", "eu-west")}))
    live.call(live.runtime.publish_state, down)
    assert live.call(live.runtime.reload_zones).ok
    assert live.runtime.view.state == down
    ecs = dns.edns.ECSOption("81.2.69.0", 24)  # London: eu-west would be nearest
    q = Q("api.example.com.", "A", use_edns=0, options=[ecs])
    assert rrs(udp(live, q)) == ["api.example.com. A 192.0.2.20"]
