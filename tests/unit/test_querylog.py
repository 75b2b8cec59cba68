"""The sampled query log: client subnets cut to /24 or /48 unless asked otherwise."""

from __future__ import annotations

import logging
import struct

import pytest

from gslb.config import load_zones
from gslb.dns.querylog import LoggingResponder, describe
from gslb.dns.view import ConfigView, View
from gslb.geo.database import GeoDatabase
from tests.conftest import GEOIP, ZONES


def query(ecs_address: bytes, bits: int, family: int = 1) -> bytes:
    ecs = struct.pack("!HBB", family, bits, 0) + ecs_address
    option = struct.pack("!HH", 8, len(ecs)) + ecs
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    header = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 1)
    return header + b"\x03api\x07example\x03com\x00\0\1\0\1" + opt


def test_client_subnets_are_cut_unless_asked() -> None:
    q = query(bytes([85, 214, 132, 77]), 32)
    line = describe(q, None, "198.51.100.1", False, full_ip=False)
    assert "client=85.214.132.0/24" in line and "85.214.132.77" not in line
    assert "client=85.214.132.77/32" in describe(q, None, "198.51.100.1", False, full_ip=True)
    v6 = query(bytes.fromhex("2a0102030405060708"), 72, family=2)
    assert "client=2a01:203:405::/48" in describe(v6, None, "::1", True, full_ip=False)
    plain = describe(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
                     None, "203.0.113.77", False, full_ip=False)  # fmt: skip
    assert "client=203.0.113.0/24" in plain and "rcode=dropped" in plain


def test_the_logging_responder_logs_a_share(caplog: pytest.LogCaptureFixture) -> None:
    view = View(ConfigView(load_zones([ZONES]), GeoDatabase.open(GEOIP)))
    everything = LoggingResponder(view, 1.0)
    nothing = LoggingResponder(view, 0.0)
    with caplog.at_level(logging.INFO, logger="gslb.queries"):
        assert nothing.respond(query(bytes([85, 214, 132]), 24), "127.0.0.1") is not None
        assert not caplog.records
        out = everything.respond(query(bytes([85, 214, 132]), 24), "127.0.0.1")
    assert out is not None
    (record,) = caplog.records
    text = record.getMessage()
    assert "name=api.example.com." in text and "answer=192.0.2.20" in text
    assert "client=85.214.132.0/24" in text
