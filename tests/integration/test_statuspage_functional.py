"""The status page in a real headless Chromium, against a fake API the test controls.

A real aiohttp server on 127.0.0.1 serves the page and its map from
:mod:`gslb.live.statuspage` plus a fake ``api/v1/map`` and ``api/v1/status``; Chromium
loads it, runs its script (``--virtual-time-budget`` lets fetches and timers finish)
and dumps the DOM, which is read back with :mod:`html.parser`. Chromium is kept off
the network: every host name fails to resolve, and only loopback is ever contacted.

``GSLB_STATUS_SCREENSHOT=docs/status-page.png`` makes the screenshot test keep its PNG.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import shutil
import struct
import subprocess
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gslb.geo.centroids import CENTROIDS
from gslb.geo.distance import haversine_km
from gslb.live import statuspage
from tests.conftest import need_tool

pytestmark = pytest.mark.integration

WORLD = json.loads(statuspage.static_file("world.json"))
ZONE = "example.com."
NAME = "api.example.com."
#: The example zone's regions: name -> (lat, lon, endpoints).
REGIONS = {
    "us-east": (38.95, -77.45, ["198.51.100.10", "198.51.100.11", "2001:db8:10::10"]),
    "us-west": (45.84, -119.70, ["198.51.100.20", "2001:db8:20::20"]),
    "eu-west": (53.35, -6.26, ["192.0.2.10", "2001:db8:30::10"]),
    "eu-central": (50.11, 8.68, ["192.0.2.20", "2001:db8:40::20"]),
    "ap-northeast": (35.68, 139.69, ["203.0.113.10", "2001:db8:50::10"]),
    "sa-east": (-23.55, -46.63, ["203.0.113.20", "2001:db8:60::20"]),
}
SERVFAIL, NODATA = "CN", "KP"
NOW = "2026-11-27T12:00:00Z"


def state(region: str, down: frozenset[str]) -> str:
    return "down" if region in down else "up"


def fake_map(down: frozenset[str] = frozenset(), name: str = NAME) -> dict[str, Any]:
    """Every country answered from its nearest region that is up, as the server would."""
    up = [r for r in REGIONS if r not in down]
    countries: dict[str, Any] = {}
    for cc, (lat, lon) in CENTROIDS.items():
        best = min(up, key=lambda r: haversine_km(lat, lon, *REGIONS[r][:2]))
        countries[cc] = {"region": best, "outcome": "answer"}
    countries[SERVFAIL] = {"region": None, "outcome": "servfail"}
    countries[NODATA] = {"region": None, "outcome": "nodata"}
    return {
        "name": name,
        "names": [NAME, "www.example.com."],
        "regions": [
            {"name": r, "zone": ZONE, "lat": at[0], "lon": at[1], "state": state(r, down)}
            for r, at in REGIONS.items()
        ],
        "countries": countries,
    }


def fake_status(down: frozenset[str] = frozenset()) -> dict[str, Any]:
    regions = []
    for i, (r, (_, _, addresses)) in enumerate(REGIONS.items()):
        health = state(r, down)
        endpoints = [
            {
                "address": a,
                "state": health,
                "since": "2026-11-27T11:58:00Z",
                "reason": "3 of 3 probes failed" if health == "down" else "probe ok",
                "override": None,
                "last": {
                    "ok": health == "up",
                    "latency_ms": 3.1 + i,
                    "at": NOW,
                    "error": "" if health == "up" else "connect timeout",
                },
            }
            for a in addresses
        ]
        endpoints[-1].pop("last")  # optional: never probed yet
        regions.append(
            {
                "zone": ZONE,
                "name": r,
                "state": health,
                "since": "2026-11-27T11:58:00Z" if r in down else None,
                "reason": "all endpoints down" if r in down else "endpoints healthy",
                "override": None,
                "load": None if r == "sa-east" else round(0.2 + 0.1 * i, 2),
                "load_age": 4.0,
                "load_stale": r == "ap-northeast",
                "share": None if r in down else round(1 / (len(REGIONS) - len(down)), 3),
                "endpoints": endpoints,
                "weight": 7,  # a field the page does not know
            }
        )
    zone = {"origin": ZONE, "serial": 2026112701, "file": "zones/example.com.yaml", "loaded": NOW}
    return {"zones": [zone], "regions": regions, "generated": NOW}


@dataclass
class FakeApi:
    down: frozenset[str] = frozenset()
    ok_requests: int | None = None  # answer this many map requests, then fail with 503
    names_asked: list[str | None] = field(default_factory=list)

    def app(self) -> web.Application:
        async def map_(request: web.Request) -> web.Response:
            name = request.query.get("name")
            self.names_asked.append(name)
            if self.ok_requests is not None and len(self.names_asked) > self.ok_requests:
                raise web.HTTPServiceUnavailable()
            return web.json_response(fake_map(self.down, name or NAME))

        async def status(_: web.Request) -> web.Response:
            if self.ok_requests is not None and len(self.names_asked) > self.ok_requests:
                raise web.HTTPServiceUnavailable()
            return web.json_response(fake_status(self.down))

        app = web.Application()
        app.add_routes(statuspage.routes())
        app.router.add_get("/api/v1/map", map_)
        app.router.add_get("/api/v1/status", status)
        return app


@dataclass
class PageServer:
    base: str
    api: FakeApi


@pytest.fixture
def server() -> Iterator[PageServer]:
    api = FakeApi()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(api.app(), access_log=None)
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
    host, port = runner.addresses[0][:2]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield PageServer(f"http://{host}:{port}/", api)
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def chromium(url: str, *args: str, budget_ms: int = 3000) -> str:
    """Chromium's stdout after loading ``url`` headless, kept off every network but loopback."""
    exe = need_tool("chromium", "chromium")
    with tempfile.TemporaryDirectory() as profile:
        command = [
            exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-extensions",
            "--disable-default-apps", "--disable-breakpad", "--no-proxy-server",
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
            f"--user-data-dir={profile}", f"--virtual-time-budget={budget_ms}", *args, url,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def content(self) -> str:
        return "".join(self.text).strip()


class Dom(HTMLParser):
    """Every element of a dumped page, with its attributes and text."""

    VOID = frozenset({"meta", "link", "br", "hr", "img", "input", "col", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.elements.append(element)
        if tag not in self.VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text.append(data)

    def all(self, tag: str, **attrs: str) -> list[Element]:
        want = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k) == v for k, v in want.items())
        ]

    def one(self, tag: str, **attrs: str) -> Element:
        found = self.all(tag, **attrs)
        assert len(found) == 1, f"{len(found)} <{tag}> with {attrs}"
        return found[0]

    def paths(self) -> dict[str, Element]:
        return {e.attrs["data-cc"]: e for e in self.all("path") if "data-cc" in e.attrs}


def load(url: str, budget_ms: int = 3000) -> Dom:
    return Dom(chromium(url, "--dump-dom", budget_ms=budget_ms))


def test_page_shows_regions_endpoints_and_the_map(server: PageServer) -> None:
    dom = load(server.base)
    assert dom.one("span", id="gslb-name").content == NAME
    assert "updated" in dom.one("span", id="updated").content
    assert "hidden" in dom.one("p", id="error").attrs
    # the table: every region, every endpoint, unknown fields ignored, missing ones "-"
    for region, (_, _, addresses) in REGIONS.items():
        row = dom.one("tr", data_region=region, **{"class": "region"})
        assert region in row.content and "up" in row.content
        for address in addresses:
            assert address in dom.one("tr", data_endpoint=address, data_region=region).content
    sa_east = dom.one("tr", data_region="sa-east", **{"class": "region"}).content
    assert "-" in sa_east and "weight" not in sa_east
    assert "stale" in dom.one("tr", data_region="ap-northeast", **{"class": "region"}).content
    # the map: one path per country shape, coloured by the region answering it
    paths = dom.paths()
    assert set(paths) == set(WORLD["countries"])
    countries = fake_map()["countries"]
    for cc, path in paths.items():
        assert path.attrs.get("data-region") == (countries.get(cc) or {}).get("region"), cc
    assert paths["DE"].attrs["data-region"] == "eu-central"
    assert paths["IE"].attrs["data-region"] == "eu-west"
    assert paths["DE"].attrs["fill"] != paths["IE"].attrs["fill"]
    assert paths["FR"].attrs["fill"] == paths["DE"].attrs["fill"]
    fills = {paths[cc].attrs["fill"] for cc in ("DE", "IE", "US", "BR", "JP", SERVFAIL, NODATA)}
    assert len(fills) == 7, "each region, SERVFAIL and NODATA have their own colour"
    assert paths[SERVFAIL].attrs["data-outcome"] == "servfail"
    # markers and legend: one per region
    assert {c.attrs["data-region"] for c in dom.all("circle")} == set(REGIONS)
    assert {li.attrs["data-region"] for li in dom.all("li") if "data-region" in li.attrs} == set(
        REGIONS
    )
    assert dom.one("label", id="name-picker") and len(dom.all("option")) == 2


def test_the_map_follows_a_region_going_down(server: PageServer) -> None:
    before = load(server.base).paths()
    assert before["DE"].attrs["data-region"] == "eu-central"
    server.api.down = frozenset({"eu-central"})
    dom = load(server.base)
    after = dom.paths()
    assert after["DE"].attrs["data-region"] == "eu-west"
    assert after["DE"].attrs["fill"] == before["IE"].attrs["fill"]
    assert not any(p.attrs.get("data-region") == "eu-central" for p in after.values())
    marker = dom.one("circle", data_region="eu-central")
    assert "state-down" in marker.attrs["class"]
    assert "down" in dom.one("tr", data_region="eu-central", **{"class": "region"}).content


def test_refresh_without_reload_and_a_banner_when_the_api_fails(server: PageServer) -> None:
    server.api.ok_requests = 1
    dom = load(server.base + "?refresh=1", budget_ms=3500)
    assert len(server.api.names_asked) >= 3, "refreshes every second"
    banner = dom.one("p", id="error")
    assert "hidden" not in banner.attrs
    assert "HTTP 503" in banner.content and "Showing data from" in banner.content
    assert dom.paths()["DE"].attrs["data-region"] == "eu-central", "the last data stays"
    assert len(dom.all("tr", **{"class": "endpoint"})) == sum(len(r[2]) for r in REGIONS.values())


def test_unreachable_api_from_the_start(server: PageServer) -> None:
    server.api.ok_requests = 0
    dom = load(server.base)
    assert "No data yet" in dom.one("p", id="error").content
    assert dom.all("tr", **{"class": "region"}) == []


def test_a_name_is_picked_from_the_url(server: PageServer) -> None:
    dom = load(server.base + "?name=www.example.com.")
    assert server.api.names_asked[0] == "www.example.com."
    assert dom.one("span", id="gslb-name").content == "www.example.com."
    assert "hidden" not in dom.one("label", id="name-picker").attrs


def fetch(url: str, **headers: str) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=5) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_headers_and_caching(server: PageServer) -> None:
    status, headers, body = fetch(server.base)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-cache"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert body == statuspage.static_file("status.html")
    status, headers, body = fetch(server.base + "static/world.json", **{"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    assert "max-age=86400" in headers["Cache-Control"]
    assert headers["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(body)) == WORLD
    status, _, body = fetch(server.base + "static/world.json", **{"If-None-Match": headers["ETag"]})
    assert status == 304 and body == b""


def test_screenshot(server: PageServer, tmp_path: Path) -> None:
    """A PNG to look at (and, with GSLB_STATUS_SCREENSHOT, to keep for the README)."""
    server.api.down = frozenset({"us-east"})
    png = tmp_path / "status-page.png"
    chromium(
        server.base,
        f"--screenshot={png}",
        "--window-size=1400,900",
        "--hide-scrollbars",
    )
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1400, 900)
    if keep := os.environ.get("GSLB_STATUS_SCREENSHOT"):
        shutil.copyfile(png, keep)


def test_the_dom_reader() -> None:
    """The DOM reader nests text and keeps attributes as Chromium serialises them."""
    dom = Dom('<p id="x" hidden>a<b>b</b></p><svg><path data-cc="DE" fill="#fff"></path></svg>')
    assert dom.one("p", id="x").content == "ab" and dom.paths()["DE"].attrs["fill"] == "#fff"


def test_fake_data_is_consistent() -> None:
    """DE is answered from eu-central while it is up, from eu-west when it is down."""
    assert fake_map()["countries"]["DE"]["region"] == "eu-central"
    changed = fake_map(frozenset({"eu-central"}))
    assert changed["countries"]["DE"]["region"] == "eu-west"


def test_the_real_server_page_follows_gslb_admin_drain(tmp_path: Path) -> None:
    """The page of a real `gslb serve`, its map computed from the server's own compiled
    policy: after `gslb admin drain eu-central`, German clients are shown on eu-west."""
    import sys

    from tests.conftest import EXAMPLE, GEOIP
    from tests.serving import serve

    with serve(tmp_path, "--state", "", zones=EXAMPLE.parent, geoip=GEOIP) as real:
        dom = load(real.api + "/")
        paths = dom.paths()
        assert paths["DE"].attrs["data-region"] == "eu-central"
        assert paths["US"].attrs["data-region"] in ("us-east", "us-west")
        for region in REGIONS:
            assert dom.one("tr", data_region=region, **{"class": "region"})
        drained = subprocess.run(
            [sys.executable, "-m", "gslb", "admin", "--server", real.api, "drain", "eu-central"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert drained.returncode == 0, drained.stderr
        dom = load(real.api + "/")
        assert dom.paths()["DE"].attrs["data-region"] == "eu-west"
        assert "drained" in dom.one("tr", data_region="eu-central", **{"class": "region"}).content
