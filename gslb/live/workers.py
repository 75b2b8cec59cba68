"""The DNS-serving processes a supervisor drives: in-process, or spawned children.

With ``--workers 1`` the supervisor and the one :class:`~gslb.live.runtime.Runtime`
share a process and an event loop (:class:`LocalWorker`). With ``--workers N`` each
worker is a fresh interpreter (``python -m gslb.live.workers``, spawned rather than
forked: the supervisor runs an event loop, aiohttp and threads, none of which survive
a fork) that binds its own SO_REUSEPORT sockets and talks to the supervisor over a
socketpair, one JSON object per line:

* supervisor → worker: ``{"op": "state", ...}`` (a new live state, published at once),
  ``{"op": "reload"}``;
* worker → supervisor: ``{"op": "ready", "describe": ...}``, ``{"op": "stats", ...}``
  every second (counters, listeners, readiness), ``{"op": "reloaded", ...}``.

A worker that dies is logged with its exit status and started again; its last counters
are kept, so totals across workers never go backwards. A worker whose supervisor goes
away stops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

from gslb import heap
from gslb.errors import GslbError
from gslb.live.runtime import ReloadResult, Runtime
from gslb.live.settings import Settings
from gslb.model import LiveState, Zone

__all__ = ["LocalWorker", "WorkerProcess", "decode_state", "encode_state"]

log = logging.getLogger("gslb.live.workers")  # not __main__ when run with -m

STATS_EVERY = 1.0  # seconds between a worker's counter reports
RESTART_DELAY = (1.0, 30.0)  # first and longest wait before starting a dead worker again


def encode_state(state: LiveState) -> dict[str, Any]:
    return {
        "down_regions": sorted(map(list, state.down_regions)),
        "down_endpoints": sorted(map(list, state.down_endpoints)),
        "drained_regions": sorted(map(list, state.drained_regions)),
        "drained_endpoints": sorted(map(list, state.drained_endpoints)),
        "load": sorted([*k, v] for k, v in state.load.items()),
    }


def decode_state(data: dict[str, Any]) -> LiveState:
    return LiveState(
        down_regions=frozenset((z, r) for z, r in data["down_regions"]),
        down_endpoints=frozenset((z, r, a) for z, r, a in data["down_endpoints"]),
        drained_regions=frozenset((z, r) for z, r in data["drained_regions"]),
        drained_endpoints=frozenset((z, r, a) for z, r, a in data["drained_endpoints"]),
        load=MappingProxyType({(z, r): float(v) for z, r, v in data["load"]}),
    )


class LocalWorker:
    """The runtime in the supervisor's own process (``--workers 1``)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.name = "main"
        self.retired: dict[str, Any] | None = None

    async def start(self) -> None:
        await self.runtime.start()

    async def stop(self) -> None:
        await self.runtime.stop()

    def publish(self, state: LiveState) -> None:
        self.runtime.publish_state(state)

    async def reload(self, zones: Sequence[Zone]) -> ReloadResult:
        """``zones`` as the supervisor just read them: this process need not read again."""
        return await self.runtime.reload_zones(zones)

    def stats(self) -> dict[str, Any] | None:
        return self.runtime.stats()

    @property
    def describe(self) -> str:
        return self.runtime.describe()


class WorkerProcess:
    """One spawned worker, restarted when it dies (see the module docstring)."""

    def __init__(self, index: int, settings: Settings) -> None:
        self.index = index
        self.name = f"worker {index}"
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.last: dict[str, Any] | None = None  # the latest stats of the running process
        #: the counters of every process of this worker that died (metrics.retire)
        self.retired: dict[str, Any] | None = None
        self.describe = ""
        self.state: LiveState | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ready: asyncio.Future[str] | None = None
        self._reloads: list[asyncio.Future[ReloadResult]] = []
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def start(self) -> None:
        """Spawn the process and wait until it serves (or report why it could not)."""
        self._ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._supervise())
        self.describe = await self._ready

    async def _spawn(self) -> asyncio.StreamReader:
        ours, theirs = socket.socketpair()
        cmd = [sys.executable, "-m", "gslb.live.workers", "--fd", str(theirs.fileno()),
               "--index", str(self.index)]  # fmt: skip
        self.proc = subprocess.Popen(cmd, pass_fds=(theirs.fileno(),))
        theirs.close()
        reader, writer = await asyncio.open_connection(sock=ours, limit=1 << 24)
        self._writer = writer
        self._send({"op": "settings", "settings": self.settings.to_json()})
        if self.state is not None:
            self._send({"op": "state", "state": encode_state(self.state)})
        return reader

    async def _supervise(self) -> None:
        delay = RESTART_DELAY[0]
        while not self._stopping:
            started = time.monotonic()
            reader = await self._spawn()
            await self._read(reader)
            assert self.proc is not None
            code = await asyncio.to_thread(self.proc.wait)
            if self.last is not None:
                from gslb.live.metrics import retire  # supervisor side only

                self.retired = retire(self.retired, self.last)
                self.last = None
            for pending in self._reloads:
                if not pending.done():
                    pending.set_result(ReloadResult(False, time.time(), (f"{self.name} died",)))
            self._reloads.clear()
            if self._stopping:
                return
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(GslbError(f"{self.name} exited with status {code}"))
                return
            log.error("%s (pid %d) exited with status %s; starting it again in %.0f s",
                      self.name, self.proc.pid, code, delay)  # fmt: skip
            await asyncio.sleep(delay)
            up = time.monotonic() - started
            delay = RESTART_DELAY[0] if up > 60 else min(delay * 2, RESTART_DELAY[1])

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                line = await reader.readline()
            except (ConnectionError, asyncio.LimitOverrunError, ValueError):
                return
            if not line:
                return
            try:
                message = json.loads(line)
            except ValueError:
                log.error("%s sent something that is not JSON; ignored", self.name)
                continue
            op = message.get("op")
            if op == "ready":
                if self._ready is not None and not self._ready.done():
                    self._ready.set_result(str(message.get("describe", "")))
            elif op == "stats":
                self.last = message.get("stats")
            elif op == "reloaded" and self._reloads:
                result = message.get("result") or {}
                self._reloads.pop(0).set_result(
                    ReloadResult(
                        bool(result.get("ok")),
                        float(result.get("at", time.time())),
                        tuple(result.get("errors", ())),
                        tuple(result.get("warnings", ())),
                        float(result.get("seconds", 0.0)),
                    )
                )

    def _send(self, message: dict[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(json.dumps(message).encode() + b"\n")

    def publish(self, state: LiveState) -> None:
        self.state = state  # a restarted worker starts from it
        self._send({"op": "state", "state": encode_state(state)})

    async def reload(self, zones: Sequence[Zone]) -> ReloadResult:
        """The worker reads the files itself (``zones`` would cost a pickle each way)."""
        future: asyncio.Future[ReloadResult] = asyncio.get_running_loop().create_future()
        self._reloads.append(future)
        self._send({"op": "reload"})
        return await future

    def stats(self) -> dict[str, Any] | None:
        return self.last

    async def stop(self) -> None:
        self._stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, GslbError):
                await asyncio.wait_for(self._task, 15)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()


# --------------------------------------------------------------------------- the child


async def _serve(sock: socket.socket, index: int) -> int:
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)

    def send(message: dict[str, Any]) -> None:
        if not writer.is_closing():
            writer.write(json.dumps(message).encode() + b"\n")

    first = json.loads(await reader.readline())
    settings = Settings.from_json(first["settings"])
    from gslb.live.logs import setup

    setup(settings.log_format, worker=f"worker {index}")
    try:
        runtime = await asyncio.to_thread(Runtime, settings, True)
    except GslbError as e:
        log.error("worker %d cannot start:\n%s", index, e)
        return 1
    except OSError as e:
        log.error("worker %d cannot listen: %s", index, e)
        return 1
    heap.settle()
    await runtime.start()
    log.info("%s", runtime.describe())
    send({"op": "ready", "describe": runtime.describe()})
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, lambda: None)  # the supervisor decides
    loop.add_signal_handler(signal.SIGHUP, lambda: None)  # reloads come from the supervisor

    async def report() -> None:
        while True:
            send({"op": "stats", "stats": runtime.stats()})
            await writer.drain()
            await asyncio.sleep(STATS_EVERY)

    async def listen() -> None:
        while True:
            line = await reader.readline()
            if not line:
                log.error("worker %d: the supervisor is gone; stopping", index)
                stop.set()
                return
            message = json.loads(line)
            if message.get("op") == "state":
                runtime.publish_state(decode_state(message["state"]))
            elif message.get("op") == "reload":
                result = await runtime.reload_zones()
                send({"op": "reloaded", "result": result.to_dict()})

    tasks = [asyncio.create_task(report()), asyncio.create_task(listen())]
    await stop.wait()
    for task in tasks:
        task.cancel()
    send({"op": "stats", "stats": runtime.stats()})
    with contextlib.suppress(ConnectionError):
        await writer.drain()
    await runtime.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="a gslb worker (started by gslb serve)")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--index", type=int, default=0)
    args = parser.parse_args(argv)
    sock = socket.socket(fileno=args.fd)
    from gslb.live.supervisor import new_loop

    loop = new_loop()
    try:
        return loop.run_until_complete(_serve(sock, args.index))
    finally:
        loop.close()


if __name__ == "__main__":  # pragma: no cover - run by WorkerProcess
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
