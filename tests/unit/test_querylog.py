"""The sampled query log: client subnets cut to /24 or /48 unless asked otherwise."""

from __future__ import annotations

import json
import logging
import struct

import pytest

from gslb.config import load_zones
from gslb.dns.view import ConfigView, View
from gslb.geo.database import GeoDatabase
from gslb.live import logs
from gslb.live.querylog import LoggingResponder, describe
from tests.conftest import GEOIP, ZONES


def query(ecs_address: bytes, bits: int, family: int = 1) -> bytes:
    ecs = struct.pack("!HBB", family, bits, 0) + ecs_address
    option = struct.pack("!HH", 8, len(ecs)) + ecs
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    header = struct.pack("!HHHHHH", 7, 0, 1, 0, 0, 1)
    return header + b"\x03api\x07example\x03com\x00\0\1\0\1" + opt


def test_client_subnets_are_cut_unless_asked() -> None:
    q = query(bytes([85, 214, 132, 77]), 32)
    fields = describe(q, None, "198.51.100.1", False, full_ip=False)
    assert fields["client"] == "85.214.132.0/24" and "85.214.132.77" not in str(fields)
    assert describe(q, None, "198.51.100.1", False, full_ip=True)["client"] == "85.214.132.77/32"
    v6 = query(bytes.fromhex("2a0102030405060708"), 72, family=2)
    assert describe(v6, None, "::1", True, full_ip=False)["client"] == "2a01:203:405::/48"
    plain = describe(b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x01",
                     None, "203.0.113.77", False, full_ip=False)  # fmt: skip
    assert plain["client"] == "203.0.113.0/24" and plain["rcode"] == "dropped"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_logging_responder_logs_a_share(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """One event per logged query: key=value pairs in text logs, fields in JSON."""
    view = View(ConfigView(load_zones([ZONES]), GeoDatabase.open(GEOIP)))
    everything = LoggingResponder(view, 1.0)
    nothing = LoggingResponder(view, 0.0)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    logs.setup(fmt)
    try:
        assert nothing.respond(query(bytes([85, 214, 132]), 24), "127.0.0.1") is not None
        assert capsys.readouterr().err == ""
        out = everything.respond(query(bytes([85, 214, 132]), 24), "127.0.0.1")
        assert out is not None
        (line,) = capsys.readouterr().err.splitlines()
    finally:
        root.handlers[:], root.level = saved
    if fmt == "json":
        record = json.loads(line)
        assert record["logger"] == "gslb.queries" and record["event"] == "query"
        assert record["name"] == "api.example.com." and record["answer"] == "192.0.2.20"
        assert record["client"] == "85.214.132.0/24" and record["rcode"] == "NOERROR"
    else:
        assert line.endswith(
            "INFO gslb.queries: event=query transport=udp client=85.214.132.0/24 "
            "name=api.example.com. type=A rcode=NOERROR answer=192.0.2.20"
        )
