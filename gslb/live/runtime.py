"""One DNS-serving process: its config views, listeners and reloads.

Everything a query reads hangs off ``self.responder.view``: a config view (zones,
compiled tables, database) under a live state (health, load, overrides). A reload
builds the complete new config view off the event loop (a thread: loading and
compiling take seconds on large zones, and the loop must keep answering TCP) and
publishes it with a single assignment, so a broken zone file or database never
replaces a working one; a live-state change publishes a new view of the same config,
so static answers and compiled tables stay. Probes, the HTTP API and the live state
itself belong to :mod:`gslb.live.supervisor`, once per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gslb import heap
from gslb.config import load_zones
from gslb.dns import counters
from gslb.dns.responder import Responder
from gslb.dns.server import DnsServer
from gslb.dns.view import ConfigView, View
from gslb.errors import ConfigError, GeoDatabaseError, GslbError
from gslb.geo import tree as c_tree
from gslb.geo.coverage import unmatchable
from gslb.geo.database import GeoDatabase
from gslb.live.querylog import LoggingResponder
from gslb.live.settings import Settings
from gslb.model import LiveState, Zone

__all__ = ["ReloadResult", "Runtime", "describe_zones", "iso_time"]

log = logging.getLogger(__name__)

STILL_SERVING = "still serving it"


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did, for logs, ``/api/v1/status`` and the supervisor."""

    ok: bool
    at: float  # wall clock
    errors: tuple[str, ...] = ()  # file:line:col: reason, when refused
    warnings: tuple[str, ...] = ()  # kept removed zones, unchanged serials
    seconds: float = 0.0  # loading and compiling

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "at": self.at, "errors": list(self.errors),
                "warnings": list(self.warnings), "seconds": round(self.seconds, 3)}  # fmt: skip

    def public(self) -> dict[str, Any]:
        """For the HTTP API: times as ISO 8601 UTC, as everywhere else in it."""
        return {**self.to_dict(), "at": iso_time(self.at)}


def iso_time(t: float | None) -> str | None:
    """A wall-clock time as the HTTP API shows times (``2026-12-01T13:54:21Z``)."""
    if not t:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@dataclass(slots=True)
class _Loaded:
    config: ConfigView
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Runtime:
    """One serving process: the current responder and the tasks around it."""

    def __init__(self, settings: Settings, reuse_port: bool = False) -> None:
        self.settings = settings
        started = time.monotonic()
        zones = load_zones(list(settings.zones))  # config errors first: the usual mistake
        self.geo = GeoDatabase.open(settings.geoip)
        view = View(self._config(zones, self.geo))
        self.responder = (
            LoggingResponder(view, settings.query_log, settings.query_log_full_ip)
            if settings.query_log > 0
            else Responder(view)
        )
        self.compile_seconds = time.monotonic() - started
        self.loaded_at = time.time()
        self.last_reload: ReloadResult | None = None
        self.server = DnsServer(
            self, list(settings.listeners), settings.limits, reuse_port, settings.udp_io
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._reloading: asyncio.Lock | None = None

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

    @property
    def zones(self) -> list[Zone]:
        return [cz.zone for cz in self.view.config.zones.values()]

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

    # ----------------------------------------------------------------- reloading

    def _load(self, zones: Sequence[Zone] | None) -> _Loaded:
        """Read and compile (runs in a thread); raises GslbError with every problem."""
        started = time.monotonic()
        with heap.building():
            if zones is None:
                zones = list(load_zones(list(self.settings.zones)))
            kept, warnings = self._keep_removed(list(zones))
            loaded = _Loaded(self._config(kept, self.geo), warnings)
        loaded.seconds = time.monotonic() - started
        return loaded

    def _keep_removed(self, zones: list[Zone]) -> tuple[list[Zone], list[str]]:
        """Zones served now but absent from the files: kept (and said) unless the
        operator asked for removal to follow the files; changed content under an
        unchanged serial is said too (secondaries would not notice it)."""
        new = {z.origin: z for z in zones}
        warnings: list[str] = []
        for old in self.zones:
            if old.origin not in new:
                if self.settings.keep_removed_zones:
                    warnings.append(
                        f"{old.source}: zone {old.origin} is no longer in the zone files; "
                        f"{STILL_SERVING} (restart, or serve with --drop-removed-zones, "
                        "to stop)"
                    )
                    new[old.origin] = old
                continue
            fresh = new[old.origin]
            if fresh != old and fresh.soa.serial == old.soa.serial:
                warnings.append(
                    f"{fresh.source}: zone {old.origin} changed but its serial "
                    f"{old.soa.serial} did not"
                )
        return [new[o] for o in sorted(new)], warnings

    async def reload_zones(self, zones: Sequence[Zone] | None = None) -> ReloadResult:
        """A valid config replaces the running one; an invalid one changes nothing.

        Built in a thread, published with one assignment: the event loop keeps
        answering meanwhile. ``zones`` already loaded (by the supervisor) skip reading.
        """
        if self._reloading is None:
            self._reloading = asyncio.Lock()
        async with self._reloading:
            try:
                loaded = await asyncio.to_thread(self._load, zones)
            except GslbError as e:
                problems = (
                    tuple(str(p) for p in e.problems)
                    if isinstance(e, ConfigError)
                    else tuple(str(e).splitlines())
                )
                log.error("reload rejected, still serving the previous zones:\n%s", e)
                self.last_reload = ReloadResult(False, time.time(), problems)
                return self.last_reload
            self.publish_config(loaded.config)
            heap.settle(full=False)  # after a reload, not per publish (health changes often)
            for warning in loaded.warnings:  # a zone kept after its file went: an error
                log.log(
                    logging.ERROR if STILL_SERVING in warning else logging.WARNING, "%s", warning
                )
            self.loaded_at = time.time()
            self.compile_seconds = loaded.seconds
            self.last_reload = ReloadResult(
                True, time.time(), (), tuple(loaded.warnings), loaded.seconds
            )
            log.info("reloaded in %.2f s: %s", loaded.seconds, describe_zones(self.view))
            return self.last_reload

    async def reload_geo(self) -> bool:
        """Open a changed database off the event loop (copy, verify, compile).

        A corrupt replacement is rejected and logged; the previous one keeps serving.
        """
        if not self.geo.changed():
            return False
        zones = self.zones
        try:
            geo = await asyncio.to_thread(GeoDatabase.open, self.settings.geoip)
            try:
                config = await asyncio.to_thread(heap.built(self._config), zones, geo)
            except GslbError:
                geo.close()
                raise
        except GslbError as e:
            log.error("geo database change rejected, still using the previous one: %s", e)
            self.geo.acknowledge()
            return False
        old, self.geo = self.geo, geo
        self.publish_config(config)
        heap.settle(full=False)
        log.info("geo database reloaded: %s", geo.describe_file())
        del old  # its private copy is released once no view refers to it
        return True

    async def _poll_geo(self) -> None:
        while True:
            await asyncio.sleep(self.settings.geoip_poll)
            try:
                await self.reload_geo()
            except Exception:  # never let the poller die: the next change must still load
                log.exception("geo database reload failed")

    # ----------------------------------------------------------------- running

    async def start(self) -> None:
        await self.server.start()
        self._tasks.append(asyncio.create_task(self._poll_geo()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        await self.server.stop()

    def describe(self) -> str:
        listeners = ", ".join(f"{p} {h}:{port}" for p, h, port in self.server.bound)
        return (
            f"serving {describe_zones(self.view)}; geo {self.geo.describe_file()}; "
            f"{c_tree.describe(self.geo.tree)}; {self.server.describe_udp()}; "
            f"listening on {listeners}"
        )

    def stats(self) -> dict[str, Any]:
        """Everything the supervisor exports for this process, as JSON-able values."""
        health = self.server.health()
        tcp = self.server.tcp.stats
        limiters = self.server.rate_limiters()
        geo = self.geo
        return {
            "queries": [[t, *label, n] for (t, label), n in counters.snapshot().items()],
            "listeners": [
                {
                    "proto": h.proto,
                    "host": h.host,
                    "port": h.port,
                    "io": h.io,
                    "alive": h.alive,
                    "restarts": h.restarts,
                    "drops": h.drops,
                    "unsent": h.unsent,
                }  # fmt: skip
                for h in health.listeners
            ],
            "ready": health.ok,
            "tcp": {"open": len(self.server.tcp), **asdict(tcp)},
            "rrl": {
                "dropped": sum(x.dropped for x in limiters),
                "slipped": sum(x.slipped for x in limiters),
            },  # fmt: skip
            "geo": {
                "path": str(geo.path),
                "type": geo.database_type,
                "built": geo.build_date,
                "build_epoch": geo.build_epoch,
                "nodes": geo.node_count,
                "places": len(geo.places),
                "lookup_errors": geo.errors,
                "c_tree": geo.tree is not None,
            },  # fmt: skip
            "zones": [
                {"origin": z.origin, "serial": z.soa.serial, "file": z.source} for z in self.zones
            ],  # fmt: skip
            "loaded": self.loaded_at,
            "compile_seconds": round(self.compile_seconds, 3),
            "reload": self.last_reload.to_dict() if self.last_reload else None,
        }


def describe_zones(view: View) -> str:
    return ", ".join(
        f"{cz.zone.origin} (serial {cz.zone.soa.serial})" for cz in view.config.zones.values()
    )
