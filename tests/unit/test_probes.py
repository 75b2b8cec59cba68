"""The prober's pure helpers: JSON paths, load readings, error texts."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp
import pytest

from gslb.cli.demo_backend import _loopback
from gslb.live.probes import _describe, _load, dotted

DOC = {"healthy": True, "capacity": {"used": 0.4}, "nodes": [{"ok": False}], "n": None}


@pytest.mark.parametrize(
    ("path", "found"),
    [("healthy", True), ("capacity.used", 0.4), ("nodes.0.ok", False), ("n", None)],
)
def test_dotted_finds(path: str, found: Any) -> None:
    assert dotted(DOC, path) == found


@pytest.mark.parametrize("path", ["missing", "capacity.free", "nodes.1.ok", "nodes.x", "healthy.x"])
def test_dotted_misses(path: str) -> None:
    assert dotted(DOC, path) is dotted({}, "x")


@pytest.mark.parametrize(
    ("raw", "load", "note"),
    [
        (0.25, 0.25, ""),
        (1, 1.0, ""),
        (" 0.5 ", 0.5, ""),
        (-0.2, 0.0, "load: F -0.2 counted as 0"),
        ("2", 1.0, "load: F 2 counted as 1"),
        (True, None, "load: F is true, not a number"),
        ("high", None, 'load: F is "high", not a number'),
        ("nan", None, 'load: F is "nan", not a number'),
        ({"a": 1}, None, 'load: F is {"a": 1}, not a number'),
    ],
)
def test_load_readings(raw: object, load: float | None, note: str) -> None:
    assert _load(raw, "F") == (load, note)


def test_error_texts() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("h", 1, False, False, None, None, None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "Connection refused"))
    assert _describe(refused) == "connection refused"
    unreachable = aiohttp.ClientConnectorError(key, OSError(113, "No route to host"))
    assert _describe(unreachable) == "no route to host"
    cert = ssl.SSLCertVerificationError(1, "verify failed")
    cert.verify_message = "self-signed certificate"
    bad = aiohttp.ClientConnectorCertificateError(key, cert)
    assert _describe(bad) == "TLS certificate not accepted: self-signed certificate"
    assert _describe(aiohttp.ServerDisconnectedError()) == (
        "server closed the connection without answering"
    )
    assert _describe(ConnectionRefusedError()) == "connection refused"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("localhost", True),
     ("0.0.0.0", False), ("192.0.2.1", False), ("example.com", False)],
)  # fmt: skip
def test_demo_backend_warns_beyond_loopback(host: str, loopback: bool) -> None:
    assert _loopback(host) is loopback
