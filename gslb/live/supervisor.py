"""The supervisor: once per host, it owns live state and drives the DNS workers.

``gslb serve`` runs one supervisor. It holds the :class:`~gslb.live.book.LiveBook`
(health, load, overrides), runs the probes, persists overrides and pushed load in the
state file, serves the HTTP API and metrics, and publishes every change of live state
to the workers within one event-loop turn (a socket write per worker). With
``--workers 1`` the one DNS runtime lives in this process; with more, each is a child
process (:mod:`gslb.live.workers`), so probes run once per host, never once per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import time
from collections import deque
from collections.abc import Sequence
from ipaddress import ip_address
from pathlib import Path
from typing import Any

from gslb import heap
from gslb.config import load_zones
from gslb.errors import ConfigError, GslbError
from gslb.live import sdnotify, statefile
from gslb.live.book import Event, LiveBook, key_text
from gslb.live.logs import event
from gslb.live.metrics import BUCKETS, probe_metrics, sum_stats
from gslb.live.probes import Prober
from gslb.live.runtime import ReloadResult, Runtime, iso_time
from gslb.live.settings import Settings
from gslb.live.status import country_map
from gslb.live.workers import LocalWorker, WorkerProcess
from gslb.model import LiveState, Zone
from gslb.policy.table import build_tables

__all__ = ["Supervisor", "new_loop", "serve"]

log = logging.getLogger(__name__)

TICK = 1.0  # seconds between staleness checks and share-of-answers samples
SHARE_WINDOW = 60.0  # seconds over which a region's share of answers is reported

Worker = LocalWorker | WorkerProcess


def is_loopback(host: str) -> bool:
    """Whether an --http address reaches this host only: an address literal on loopback,
    or exactly ``localhost``. Never a prefix test: ``127.example.net`` is a name."""
    if host == "localhost":
        return True
    try:
        address = ip_address(host.strip("[]"))
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


class Supervisor:
    """See the module docstring; build it, then ``await run()``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        zones = load_zones(list(settings.zones))  # config errors first: the usual mistake
        self.started = time.time()
        self.workers: list[Worker]
        if settings.workers <= 1:
            self.local: Runtime | None = Runtime(settings)
            self.workers = [LocalWorker(self.local)]
            zones = tuple(self.local.zones)
        else:
            if not hasattr(socket, "SO_REUSEPORT"):
                raise GslbError("--workers needs SO_REUSEPORT, which this platform lacks")
            self.local = None
            Runtime(settings)  # the whole config and database, checked once, here
            self.workers = [WorkerProcess(i, settings) for i in range(settings.workers)]
        self.zones: tuple[Zone, ...] = tuple(zones)
        self.book = LiveBook(self.zones, time.time(), push_max_age=settings.load_max_age)
        self.prober = Prober(self._on_probe)
        self.state = LiveState()
        self.reloads = {"ok": 0, "error": 0}
        self.last_reload: ReloadResult | None = None
        self.token = self._read_token()
        self.writes_allowed = True
        self._tables = self._build_tables()
        self._shares: deque[tuple[float, dict[tuple[str, str], int]]] = deque()
        self._api: Any = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stop = asyncio.Event()
        #: probe results by (zone, region, endpoint, ok|fail) and latency histograms
        self._results: dict[tuple[str, str, str, str], int] = {}
        self._latency: dict[tuple[str, str], list[float]] = {}
        self._targets = {t.id: t for t in self.book.probe_targets()}
        self._reloading = asyncio.Lock()
        self._watched: dict[str, float] = {}

    # ----------------------------------------------------------------- setup

    def _read_token(self) -> str | None:
        if not self.settings.token_file:
            return None
        try:
            token = Path(self.settings.token_file).read_text().strip()
        except OSError as e:
            raise GslbError(f"--token-file {self.settings.token_file}: {e.strerror}") from e
        if not token:
            raise GslbError(f"--token-file {self.settings.token_file} is empty")
        return token

    def _build_tables(self) -> dict[str, Any]:
        names = [n for z in self.zones for n in z.gslb.values()]
        return build_tables(names, ())  # compiled per country as the map asks

    async def start(self) -> None:
        await asyncio.gather(*(worker.start() for worker in self.workers))
        if self.local is not None:
            log.info("%s", self.local.describe())
        heap.settle()
        self._restore()
        await self.prober.start(self.book.probe_targets())
        self.publish()
        http = self.settings.http
        if http is not None:
            from gslb.live.api import start_api

            self.writes_allowed = self.token is not None or is_loopback(http.host)
            if not self.writes_allowed:
                log.warning(
                    "HTTP API on %s is not loopback and has no --token-file: write "
                    "endpoints (overrides, load, reload) are refused; anyone who can reach "
                    "it can read status and metrics", http,
                )  # fmt: skip
            self._api = await start_api(self, http)
        self._tasks.append(asyncio.create_task(self._ticker()))
        if self.settings.watch > 0:
            self._watched = self._zone_mtimes()
            self._tasks.append(asyncio.create_task(self._watch()))
        api = f"; HTTP API on {self.settings.http}" if http else ""
        log.info("gslb serving with %d worker(s)%s", len(self.workers), api)
        sdnotify.notify("READY=1")

    async def stop(self) -> None:
        sdnotify.notify("STOPPING=1")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.prober.stop()
        if self._api is not None:
            from gslb.live.api import stop_api

            await stop_api(self._api)
        for worker in self.workers:
            await worker.stop()

    async def run(self) -> None:
        """Serve until SIGTERM/SIGINT; SIGHUP reloads zones."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self._stop.set)
        loop.add_signal_handler(signal.SIGINT, self._stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(self.reload("SIGHUP")))
        await self.start()
        await self._stop.wait()
        log.info("stopping")
        await self.stop()

    # ----------------------------------------------------------------- live state

    def _log(self, events: Sequence[Event]) -> None:
        for e in events:
            log.info(
                "%s", e,
                extra=event(event=e.what, key=key_text(e.key), old=e.old, new=e.new,
                            cause=e.cause, why=e.why),
            )  # fmt: skip

    def publish(self) -> bool:
        """Send the book's state to every worker, if it changed."""
        state = self.book.snapshot(time.time())
        if state == self.state:
            return False
        self.state = state
        for worker in self.workers:
            worker.publish(state)
        return True

    def _on_probe(self, target: str, result: Any) -> None:
        spec = self._targets.get(target)
        if spec is not None:
            outcome = "ok" if result.ok else "fail"
            for zone, region, address in spec.endpoints:
                key = (zone, region, address, outcome)
                self._results[key] = self._results.get(key, 0) + 1
            for zone, region in {k[:2] for k in spec.endpoints}:
                counts = self._latency.setdefault((zone, region), [0.0] * (len(BUCKETS) + 2))
                for i, bound in enumerate(BUCKETS):
                    if result.latency <= bound:
                        counts[i] += 1
                counts[-2] += 1  # +Inf
                counts[-1] += result.latency
        events = self.book.record(target, result, result.at or time.time())
        self._log(events)
        if events:
            self.publish()

    def apply(self, events: Sequence[Event]) -> None:
        """After an operator's change: log it, publish it, persist it."""
        self._log(events)
        self.publish()
        self._persist()

    def _persist(self) -> None:
        if self.settings.state:
            try:
                statefile.save(self.settings.state, self.book.to_dict())
            except OSError as e:
                log.error("cannot write the state file %s: %s", self.settings.state, e)

    def _restore(self) -> None:
        if not self.settings.state:
            return
        data = statefile.load(self.settings.state)
        if data is None:
            return
        for problem in self.book.load_dict(data, time.time()):
            log.error("state file %s: %s (ignored)", self.settings.state,
                      problem.removeprefix("state file: "))  # fmt: skip

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK)
            now = time.time()
            events = self.book.tick(now)
            self._log(events)
            self.publish()
            self._sample_shares(now)

    # ----------------------------------------------------------------- reloads

    async def reload(self, why: str) -> ReloadResult:
        """Reload zones everywhere; a broken config changes nothing anywhere."""
        async with self._reloading:
            sdnotify.notify("RELOADING=1")
            log.info("reloading zones", extra=event(event="reload", cause=why))
            try:
                zones = await asyncio.to_thread(heap.built(load_zones), list(self.settings.zones))
            except GslbError as e:
                problems = tuple(map(str, e.problems)) if isinstance(e, ConfigError) else (str(e),)
                log.error("reload rejected, still serving the previous zones:\n%s", e)
                result = ReloadResult(False, time.time(), problems)
            else:
                results = [await w.reload(zones) for w in self.workers]
                failed = [r for r in results if not r.ok]
                result = failed[0] if failed else results[0]
                if not failed:
                    self.zones = tuple(self._served(zones))
                    self._tables = self._build_tables()
                    self._log(self.book.reconcile(self.zones, time.time()))
                    self._targets = {t.id: t for t in self.book.probe_targets()}
                    self.prober.update(self._targets.values())
                    self.publish()
                    self._persist()
            self.reloads["ok" if result.ok else "error"] += 1
            self.last_reload = result
            log.info(
                "reload %s", "done" if result.ok else "refused",
                extra=event(event="reloaded", ok=result.ok, cause=why, errors=len(result.errors),
                            warnings=len(result.warnings), seconds=round(result.seconds, 2)),
            )  # fmt: skip
            sdnotify.notify("READY=1")
            return result

    def _zone_mtimes(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for item in self.settings.zones:
            path = Path(item)
            files = sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
            for f in files:
                with contextlib.suppress(OSError):
                    out[str(f)] = f.stat().st_mtime
        return out

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watch)
            now = self._zone_mtimes()
            if now != self._watched:
                self._watched = now
                await self.reload("zone file changed")

    # ----------------------------------------------------------------- reading

    def worker_stats(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for w in self.workers:
            current = w.stats()
            if current:
                out.append(current)
            if w.retired is not None:
                out.append(w.retired)
        return out

    def ready(self) -> tuple[bool, str]:
        """200 only when every worker serves: zones and database loaded, every listener
        bound and every UDP thread alive."""
        for w in self.workers:
            stats = w.stats()
            if stats is None:
                return False, f"{w.name}: not serving yet"
            if not stats.get("ready"):
                dead = [f"{h['proto']} {h['host']}:{h['port']}" for h in stats["listeners"]
                        if not h["alive"]]  # fmt: skip
                return False, f"{w.name}: listener(s) not answering: {', '.join(dead)}"
        return True, f"ready: {len(self.workers)} worker(s)"

    def _sample_shares(self, now: float) -> None:
        totals: dict[tuple[str, str], int] = {}
        zone_of = {n: z.origin for z in self.zones for n in z.gslb}
        for (_t, _q, _r, _e, _tc, name, region, _why), n in sum_stats(self.worker_stats())[
            "queries"
        ].items():
            if name:
                key = (zone_of.get(name, ""), region)
                totals[key] = totals.get(key, 0) + n
        self._shares.append((now, totals))
        while self._shares and self._shares[0][0] < now - SHARE_WINDOW:
            self._shares.popleft()

    def _served(self, zones: Sequence[Zone]) -> list[Zone]:
        """What the workers serve after a reload of ``zones``: the local runtime says;
        worker processes keep a zone whose file went, as it does (Runtime._keep_removed),
        unless told to drop it."""
        if self.local is not None:
            return self.local.zones
        served = {z.origin: z for z in zones}
        if self.settings.keep_removed_zones:
            for old in self.zones:
                served.setdefault(old.origin, old)
        return [served[o] for o in sorted(served)]

    def shares(self) -> dict[tuple[str, str], float]:
        """Each region's share of GSLB answers over the last minute."""
        if len(self._shares) < 2:
            return {}
        (_, old), (_, new) = self._shares[0], self._shares[-1]
        delta = {k: v - old.get(k, 0) for k, v in new.items()}
        total = sum(delta.values())
        return {k: v / total for k, v in delta.items()} if total else {}

    def status(self) -> dict[str, Any]:
        now = time.time()
        stats = self.worker_stats()
        first = stats[0] if stats else {}
        book = self.book.status(now)
        book["at"] = iso_time(book.get("at"))
        shares = self.shares()
        for region in book.get("regions", ()):
            region["share"] = shares.get((region["zone"], region["name"]))
            region["since"] = iso_time(region.get("since"))
            for endpoint in region.get("endpoints", ()):
                endpoint["since"] = iso_time(endpoint.get("since"))
                if endpoint.get("last"):
                    endpoint["last"]["at"] = iso_time(endpoint["last"].get("at"))
        return {
            "generated": iso_time(now),
            "started": iso_time(self.started),
            "zones": [
                {
                    "origin": z.origin,
                    "serial": z.soa.serial,
                    "file": z.source,
                    "loaded": iso_time(first.get("loaded")),
                }  # fmt: skip
                for z in self.zones
            ],
            "reload": self.last_reload.public() if self.last_reload else None,
            "geo": first.get("geo"),
            "workers": [{"name": w.name, "serving": w.stats() is not None} for w in self.workers],
            **book,
        }

    def map(self, name: str | None) -> dict[str, Any]:
        return country_map(self.zones, self._tables, self.state, name)

    def supervisor_metrics(self) -> dict[str, Any]:
        stats = self.worker_stats()
        first = stats[0] if stats else {}
        workers = {"serving": sum(1 for w in self.workers if w.stats() is not None)}
        workers["starting"] = len(self.workers) - workers["serving"]
        geo_built = float((first.get("geo") or {}).get("build_epoch") or 0)
        return {
            "reloads": self.reloads,
            "serials": {z.origin: z.soa.serial for z in self.zones},
            "compile_seconds": first.get("compile_seconds", 0.0),
            "workers": workers,
            "geo_built": geo_built,
            "probes": self._probe_metrics(),
        }

    def _probe_metrics(self) -> dict[str, Any]:
        return probe_metrics(self.book.status(time.time()), self._results, self._latency)


def new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop

        loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    except ImportError:  # non-Linux: the default loop works, only slower
        loop = asyncio.new_event_loop()
    return loop


def serve(settings: Settings) -> int:
    """Run the supervisor (and its workers) until SIGTERM/SIGINT."""
    loop = new_loop()
    asyncio.set_event_loop(loop)
    try:
        supervisor = Supervisor(settings)
        loop.run_until_complete(supervisor.run())
    finally:
        loop.close()
    return 0
