"""The HTTP status endpoint over a real socket."""

from __future__ import annotations

import json
import urllib.request

import pytest

from gslb.model import HostPort

pytestmark = pytest.mark.integration


def test_status_endpoints(settings, live_factory) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(settings, http=HostPort("127.0.0.1", 0))
    host, port = live.runtime._http.addresses[0][:2]
    assert host == "127.0.0.1"
    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/healthz", timeout=5) as r:
        assert r.status == 200 and r.read() == b"ok\n"
    with urllib.request.urlopen(f"{base}/api/v1/status", timeout=5) as r:
        status = json.loads(r.read())
    assert {"origin": "example.com.", "serial": 2026112701} in status["zones"]
    assert status["down_regions"] == []
