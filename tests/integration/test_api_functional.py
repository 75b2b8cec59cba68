"""The HTTP API of `gslb serve --http`, as a process, over real connections."""

from __future__ import annotations

import re
import shutil
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from gslb.geo import tree
from tests.conftest import EXAMPLE, GEOIP
from tests.serving import serve, wait_for

pytestmark = pytest.mark.integration


def test_status_map_readiness_and_reload(tmp_path: Path) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    zone = zones / "example.com.yaml"
    shutil.copy(EXAMPLE, zone)
    with serve(tmp_path, "--state", "", zones=zones, geoip=GEOIP) as server:
        assert server.http("GET", "/healthz") == "ok\n"
        assert server.http("GET", "/readyz").startswith("ready")
        status = server.http("GET", "/api/v1/status")
        assert [z["origin"] for z in status["zones"]] == ["example.com."]
        assert status["zones"][0]["serial"] == 2026112701 and status["zones"][0]["loaded"]
        assert status["geo"]["type"] and status["geo"]["nodes"] > 1_000_000
        assert status["geo"]["c_tree"] is tree.BUILT  # new networks answered in C
        regions = {r["name"]: r for r in status["regions"]}
        assert set(regions) == {"us-east", "us-west", "eu-west", "eu-central",
                                "ap-northeast", "sa-east"}  # fmt: skip
        assert regions["eu-west"]["state"] == "up" and regions["eu-west"]["since"]
        assert regions["eu-west"]["endpoints"][0]["address"] == "192.0.2.10"
        # the map comes from the server's own tables and live state
        world = server.http("GET", "/api/v1/map")
        assert world["name"] == "api.example.com."
        assert world["countries"]["DE"] == {"region": "eu-central", "outcome": "answer"}
        assert world["countries"]["JP"]["region"] == "ap-northeast"  # the JP/KR rule
        # a broken file: refused with file:line, the old zone keeps serving
        zone.write_text(EXAMPLE.read_text().replace("serial: 2026112701", "serial: -1"))
        assert server.status_code("POST", "/api/v1/reload") == 422
        status = server.http("GET", "/api/v1/status")
        assert not status["reload"]["ok"]
        assert any("example.com.yaml:" in e and "serial" in e for e in status["reload"]["errors"])
        assert server.ask("85.214.132.0/24") == ["192.0.2.20"]
        zone.write_text(EXAMPLE.read_text().replace("2026112701", "2026112702"))
        reloaded = server.http("POST", "/api/v1/reload")
        assert reloaded["ok"] and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", reloaded["at"])
        assert server.http("GET", "/api/v1/status")["reload"]["at"] == reloaded["at"]  # as ISO
        assert server.http("GET", "/api/v1/status")["zones"][0]["serial"] == 2026112702
        with urllib.request.urlopen(server.api + "/metrics") as response:
            assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            assert response.headers["Server"] == "gslb"  # no versions
            text = response.read().decode()
        assert 'gslb_reloads_total{result="error"} 1.0' in text
        # aiohttp's own replies (404, 405) name no software either, and say JSON is JSON
        for method, path in (("GET", "/nope"), ("PATCH", "/api/v1/status")):
            request = urllib.request.Request(server.api + path, method=method)
            with pytest.raises(urllib.error.HTTPError) as failed:
                urllib.request.urlopen(request)
            failed.value.close()  # its socket, else a ResourceWarning in a later test
            assert failed.value.headers["Server"] == "gslb", path
        assert 'gslb_zone_serial{zone="example.com."} 2.026112702e+09' in text


def test_slow_headers_are_cut_off_and_connections_capped(tmp_path: Path) -> None:
    """Half-sent requests do not keep connections (or file descriptors) forever."""
    with serve(tmp_path, "--state", "", zones=EXAMPLE.parent, geoip=GEOIP) as server:
        slow = socket.create_connection(("127.0.0.1", server.http_port))
        slow.sendall(b"GET /api/v1/status HTTP/1.1\r\nHost: x\r\n")  # never finished
        started = time.monotonic()
        slow.settimeout(30)
        assert slow.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 20
        slow.close()
        crowd = []
        for _ in range(300):  # past the cap: the extra ones are closed at once
            crowd.append(socket.create_connection(("127.0.0.1", server.http_port)))
        closed = 0
        for conn in crowd:
            conn.settimeout(0.5)
            try:
                if conn.recv(1) == b"":
                    closed += 1
            except TimeoutError:
                pass
        assert closed >= 300 - 256
        for conn in crowd:
            conn.close()
        wait_for(lambda: server.status_code("GET", "/healthz") == 200)
