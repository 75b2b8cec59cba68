"""Response rate limiting as pure logic: classes from reply bytes, credit, slip, bounds."""

from __future__ import annotations

import struct
from ipaddress import IPv6Address

import dns.flags
import dns.message
import dns.rcode
import pytest

from gslb.dns import ratelimit
from gslb.dns.ratelimit import (
    ANSWER,
    DROP,
    ERROR,
    NODATA,
    NXDOMAIN,
    REFERRAL,
    SEND,
    SLIP,
    RateLimiter,
    classify,
    network_of,
    truncated,
)


def reply(rcode: int = 0, an: int = 0, ns: int = 0, aa: bool = True, tc: bool = False) -> bytes:
    flags = 0x8000 | (0x0400 if aa else 0) | (0x0200 if tc else 0) | rcode
    question = b"\x03api\x07example\x03com\x00\x00\x01\x00\x01"
    return struct.pack("!HHHHHH", 7, flags, 1, an, ns, 0) + question + b"\xff" * (an + ns)


@pytest.mark.parametrize(
    ("data", "cls"),
    [
        (reply(an=2), ANSWER),
        (reply(tc=True), ANSWER),  # a truncated answer stands for the answer
        (reply(ns=1), NODATA),  # AA with only the SOA
        (reply(rcode=3, ns=1), NXDOMAIN),
        (reply(ns=2, aa=False), REFERRAL),  # delegation: NS, not authoritative
        (reply(rcode=5, aa=False), ERROR),  # REFUSED
        (reply(rcode=1, aa=False), ERROR),
        (reply(rcode=2, aa=False), ERROR),
        (struct.pack("!HHHHHH", 1, 0x8000 | (15 << 11) | 4, 0, 0, 0, 0), ERROR),  # NOTIMP
    ],
)
def test_classes_come_from_the_reply_bytes(data: bytes, cls: int) -> None:
    assert classify(data) == cls


def test_a_burst_is_cut_to_the_rate_and_every_second_excess_reply_slips() -> None:
    rrl = RateLimiter(rate=10, window=5, slip=2)
    verdicts = [rrl.check(1, reply(an=1), 100.0) for _ in range(30)]
    assert verdicts[:10] == [SEND] * 10
    assert verdicts[10:] == [DROP, SLIP] * 10
    assert (rrl.dropped, rrl.slipped) == (10, 10)


def test_credit_comes_back_at_the_rate_and_debt_is_bounded_by_the_window() -> None:
    rrl = RateLimiter(rate=10, window=2, slip=0)
    for _ in range(1000):  # a long flood: debt stops at rate * window
        rrl.check(1, reply(an=1), 0.0)
    assert rrl.check(1, reply(an=1), 1.0) == DROP  # 1 s of credit pays only half the debt
    assert rrl.check(1, reply(an=1), 2.2) == SEND  # the window is over
    assert rrl.slipped == 0 and rrl.dropped == 1000 - 10 + 1


def test_networks_and_classes_are_limited_apart() -> None:
    rrl = RateLimiter(rate=5, window=1, slip=0)
    for _ in range(20):
        rrl.check(1, reply(an=1), 0.0)
    assert rrl.check(1, reply(an=1), 0.0) == DROP
    assert rrl.check(1, reply(rcode=3), 0.0) == SEND  # same network, NXDOMAIN class
    assert rrl.check(2, reply(an=1), 0.0) == SEND  # another network


def test_slip_one_slips_everything_over_the_limit() -> None:
    rrl = RateLimiter(rate=1, window=1, slip=1)
    assert [rrl.check(9, reply(), 0.0) for _ in range(4)] == [SEND, SLIP, SLIP, SLIP]


def test_the_table_is_bounded() -> None:
    rrl = RateLimiter(rate=5, window=1, slip=2, size=100)
    verdicts = [rrl.check(network, reply(an=1), 0.0) for network in range(10_000)]
    assert len(rrl.counts) == 100 and len(rrl.penalty) <= 100
    assert verdicts[:100] == [SEND] * 100 and SEND not in verdicts[100:]  # full: limited
    assert rrl.check(123_456, reply(an=1), 1.0) == SEND  # a new second starts afresh


def test_truncated_reply_keeps_id_question_and_rd_and_sets_tc() -> None:
    query = dns.message.make_query("api.example.com.", "A", use_edns=0)
    query.flags |= dns.flags.RD
    full = dns.message.make_response(query)
    full.flags |= dns.flags.AA
    full.answer.append(dns.rrset.from_text("api.example.com.", 30, "IN", "A", "192.0.2.1"))
    out = truncated(full.to_wire())
    got = dns.message.from_wire(out)
    assert got.id == query.id and got.flags & dns.flags.TC and got.flags & dns.flags.RD
    assert got.question == query.question and not got.answer and not got.additional
    assert got.edns == -1
    header_only = struct.pack("!HHHHHH", 3, 0x8000 | 1, 0, 0, 0, 0)
    assert truncated(header_only) == struct.pack("!HHHHHH", 3, 0x8000 | 0x0200 | 1, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("192.0.2.1", "192.0.2.254", True),
        ("192.0.2.1", "192.0.3.1", False),
        ("2001:db8:0:ff::1", "2001:db8:0:1::1", True),  # one /56
        ("2001:db8:0:100::1", "2001:db8:0:1::1", False),
        ("::ffff:192.0.2.1", "192.0.2.9", True),  # IPv4-mapped: its /24
        ("fe80::1%lo", "fe80::2", True),
    ],
)
def test_networks_are_ipv4_24_and_ipv6_56(a: str, b: str, same: bool) -> None:
    assert (network_of(a) == network_of(b)) is same


def test_ipv4_and_ipv6_networks_never_collide() -> None:
    v4 = {network_of(f"10.{i}.{j}.1") for i in range(4) for j in range(4)}
    v6 = {network_of(str(IPv6Address(i << 72))) for i in range(16)} | {network_of("::")}
    v4 |= {network_of("0.0.0.0")}
    assert not v4 & v6


def test_defaults_are_documented_numbers() -> None:
    assert (ratelimit.DEFAULT_RATE, ratelimit.DEFAULT_WINDOW, ratelimit.DEFAULT_SLIP) == (
        1000,
        5.0,
        2,
    )
    assert dns.rcode.NXDOMAIN == 3  # the byte classify reads
