"""Shared fixtures: the repository's own zones and database, and a live server."""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gslb.model import HostPort

if TYPE_CHECKING:
    from gslb.live.runtime import Runtime
    from gslb.live.settings import Settings

REPO = Path(__file__).resolve().parents[1]
ZONES = REPO / "zones"
FIXTURES = REPO / "tests" / "fixtures"
EXAMPLE = ZONES / "example.com.yaml"
# GSLB_TEST_GEOIP runs the suite against another MaxMind-format database.
GEOIP = Path(os.environ.get("GSLB_TEST_GEOIP", REPO / "data" / "dbip-city-lite.mmdb"))


def need_tool(name: str, package: str) -> str:
    """Path of a Debian tool the tests use; CI must have it (.ci/run installs it)."""
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is missing in CI: .ci/run should install {package}")
        pytest.skip(f"{name} not installed (apt-get install {package})")
    return path


@dataclass
class LiveServer:
    runtime: Runtime
    loop: asyncio.AbstractEventLoop
    port4: int
    port6: int
    thread: threading.Thread

    def call(self, fn: object, *args: object) -> object:
        """Run ``fn(*args)`` on the server's loop thread and return its result (awaited
        when it is a coroutine)."""

        async def go() -> object:
            result = fn(*args)  # type: ignore[operator]
            return await result if asyncio.iscoroutine(result) else result

        return asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)


def start_live(settings: Settings) -> LiveServer:
    from gslb.live.runtime import Runtime

    loop = asyncio.new_event_loop()
    runtime = Runtime(settings)
    ready = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runtime.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(10), "server did not start"
    ports = {h: p for proto, h, p in runtime.server.bound if proto == "udp"}
    return LiveServer(runtime, loop, ports.get("127.0.0.1", 0), ports.get("::1", 0), thread)


def stop_live(live: LiveServer) -> None:
    asyncio.run_coroutine_threadsafe(live.runtime.stop(), live.loop).result(10)
    live.loop.call_soon_threadsafe(live.loop.stop)
    live.thread.join(10)
    live.loop.close()
    live.runtime.geo.close()


def base_settings() -> Settings:
    """The repository's zones and database on ephemeral loopback ports."""
    from gslb.live.settings import Settings

    return Settings(
        zones=(str(ZONES),),
        geoip=str(GEOIP),
        listeners=(HostPort("127.0.0.1", 0), HostPort("::1", 0)),
        chaos={"id.server.": "gslb-test-1", "version.bind.": "gslb test"},
    )


@pytest.fixture
def settings() -> Settings:
    return base_settings()


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    server = start_live(settings)
    yield server
    stop_live(server)


@pytest.fixture
def live_factory() -> Iterator[object]:
    started: list[LiveServer] = []

    def make(settings: Settings, **changes: object) -> LiveServer:
        server = start_live(replace(settings, **changes))  # type: ignore[arg-type]
        started.append(server)
        return server

    yield make
    for server in started:
        stop_live(server)


@pytest.fixture(params=["C", "Python"])
def inner_loop(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The UDP batch loop's inner loop: C (gslb/dns/_batch.c) or Python."""
    from gslb.dns import udpbatch

    if request.param == "Python":
        monkeypatch.setenv("GSLB_PURE_PYTHON", "1")
    elif udpbatch.native() is None:
        if os.environ.get("CI"):
            pytest.fail("CI must build gslb/dns/_batch.c")
        pytest.skip("the C module was not built here")
    return str(request.param)
