"""Composition root: builds the views from files, runs the listeners, reloads safely.

Everything a query reads hangs off ``self.responder.view``: a config view (zones,
compiled tables, database) under a live state (health, load, overrides). Reloads
build a complete new config view first and publish it with a single assignment, so a
broken zone file or database never replaces a working one; a live-state change
publishes a new view of the same config, so static answers and compiled tables stay.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from gslb import defaults
from gslb.config import load_zones
from gslb.dns.responder import Responder
from gslb.dns.server import DnsServer, Limits, UdpIo
from gslb.dns.view import ConfigView, View
from gslb.errors import GeoDatabaseError, GslbError
from gslb.geo.coverage import unmatchable
from gslb.geo.database import GeoDatabase
from gslb.model import HostPort, LiveState, Zone

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    zones: tuple[str, ...] = (defaults.ZONES,)
    geoip: str = defaults.GEOIP
    listeners: tuple[HostPort, ...] = defaults.DNS_LISTENERS
    http: HostPort | None = None
    chaos: Mapping[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    geoip_poll: float = 5.0  # seconds between database change checks
    workers: int = 1
    udp_io: UdpIo = "batch"  # recvmmsg/sendmmsg thread per socket; "asyncio" for the old path


class Runtime:
    """One serving process: the current responder and the tasks around it."""

    def __init__(self, settings: Settings, reuse_port: bool = False) -> None:
        self.settings = settings
        zones = load_zones(list(settings.zones))  # config errors first: the usual mistake
        self.geo = GeoDatabase.open(settings.geoip)
        self.responder = Responder(View(self._config(zones, self.geo)))
        self.server = DnsServer(
            self, list(settings.listeners), settings.limits, reuse_port, settings.udp_io
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._http: object | None = None
        self._stopping: asyncio.Event | None = None

    def _config(self, zones: Iterable[Zone], geo: GeoDatabase) -> ConfigView:
        """The config view; refused when a fence or rule names data ``geo`` lacks."""
        zones = list(zones)
        problems = unmatchable(zones, subdivisions=geo.subdivisions, database=str(geo.path))
        if problems:
            raise GeoDatabaseError("\n".join(problems))
        return ConfigView(zones, geo, chaos=self.settings.chaos)

    @property
    def view(self) -> View:
        return self.responder.view

    def publish_config(self, config: ConfigView) -> None:
        """Serve a new config under the current live state (one assignment)."""
        self.responder.view = View(config, self.responder.view.state)

    def publish_state(self, state: LiveState) -> bool:
        """Serve the current config under a new live state; an equal state changes
        nothing (caches stay warm). Returns whether anything changed."""
        current = self.responder.view
        view = current.with_state(state)
        if view is current:
            return False
        self.responder.view = view
        return True

    def reload_zones(self) -> bool:
        """SIGHUP: a valid config replaces the running one; an invalid one changes nothing."""
        try:
            config = self._config(load_zones(list(self.settings.zones)), self.geo)
        except GslbError as e:
            log.error("reload rejected, still serving the previous zones:\n%s", e)
            return False
        self.publish_config(config)
        _settle_heap()  # after a reload, not per publish: health snapshots will be frequent
        log.info("reloaded: %s", describe_zones(self.view))
        return True

    async def reload_geo(self) -> bool:
        """Open a changed database off the event loop (unpacking can take seconds).

        A corrupt replacement is rejected and logged; the previous one keeps serving.
        """
        if not self.geo.changed():
            return False
        zones = [cz.zone for cz in self.view.config.zones.values()]
        try:
            geo = await asyncio.to_thread(GeoDatabase.open, self.settings.geoip)
            try:
                config = self._config(zones, geo)
            except GslbError:
                geo.close()
                raise
        except GslbError as e:
            log.error("geo database change rejected, still using the previous one: %s", e)
            self.geo.acknowledge()
            return False
        self.geo = geo
        self.publish_config(config)
        _settle_heap()
        log.info("geo database reloaded: %s", geo.describe_file())
        return True

    async def _poll_geo(self) -> None:
        while True:
            await asyncio.sleep(self.settings.geoip_poll)
            try:
                await self.reload_geo()
            except Exception:  # never let the poller die: the next change must still load
                log.exception("geo database reload failed")

    async def start(self) -> None:
        await self.server.start()
        self._tasks.append(asyncio.create_task(self._poll_geo()))
        if self.settings.http is not None:
            from gslb.live.api import start_api  # aiohttp only when asked for

            self._http = await start_api(self, self.settings.http)
        listeners = ", ".join(f"{p} {h}:{port}" for p, h, port in self.server.bound)
        log.info(
            "serving %s; geo %s; listening on %s",
            describe_zones(self.view),
            self.geo.describe_file(),
            listeners,
        )

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._http is not None:
            from gslb.live.api import stop_api

            await stop_api(self._http)
        await self.server.stop()

    async def run_forever(self) -> None:
        """Serve until SIGTERM/SIGINT; SIGHUP reloads zones."""
        loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        loop.add_signal_handler(signal.SIGINT, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self.reload_zones)
        await self.start()
        await self._stopping.wait()
        log.info("stopping")
        await self.stop()


def describe_zones(view: View) -> str:
    return ", ".join(
        f"{cz.zone.origin} (serial {cz.zone.soa.serial})" for cz in view.config.zones.values()
    )


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # non-Linux: the default loop works, only slower
        loop = asyncio.new_event_loop()
    return loop


def serve(settings: Settings) -> int:
    """Run in this process, or fork ``workers`` SO_REUSEPORT processes."""
    if settings.workers <= 1:
        return _serve_one(settings, reuse_port=False)
    if not hasattr(socket, "SO_REUSEPORT"):
        raise GslbError("--workers needs SO_REUSEPORT, which this platform lacks")
    # Validate once in the parent so a bad config fails fast with one message.
    Runtime(settings)
    children: list[int] = []
    for _ in range(settings.workers):
        pid = os.fork()
        if pid == 0:  # pragma: no cover - exercised by the benchmark, not unit tests
            code = 1
            try:
                code = _serve_one(settings, reuse_port=True)
            finally:
                os._exit(code)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    status = 0
    for child in children:
        _, code = os.waitpid(child, 0)
        status = status or os.waitstatus_to_exitcode(code)
    return status


def _settle_heap() -> None:
    """Keep the cyclic GC's full passes off the query path.

    The zone model, country tables and geo caches are long-lived; a full collection
    that walks them all stalls every query for milliseconds. Freezing what exists now
    moves it out of the collector's view, and a larger first threshold makes
    collections of young objects rarer (queries allocate few containers).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _serve_one(settings: Settings, reuse_port: bool) -> int:
    loop = _new_loop()
    try:
        runtime = Runtime(settings, reuse_port=reuse_port)
        _settle_heap()
        loop.run_until_complete(runtime.run_forever())
    finally:
        loop.close()
    return 0
