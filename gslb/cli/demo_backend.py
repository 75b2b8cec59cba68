"""``gslb demo-backend``: a tiny HTTP backend for the probes, to watch a failover.

Each ``--listen`` address is one backend with its own behaviour. ``GET /healthz``
answers per its mode; ``POST /control`` with a JSON object switches it:

    curl -X POST 127.0.0.1:8081/control -d '{"mode": "fail"}'
    curl -X POST 127.0.0.1:8081/control -d '{"mode": "healthy", "load": 0.9}'

Modes: ``healthy`` (200, ``{"healthy": true, "load": L}`` and an ``X-Load: L``
header), ``unhealthy`` (200 with ``"healthy": false``: for ``json:`` checks), ``fail``
(HTTP 500), ``slow`` (healthy, after ``delay`` seconds, default 10), ``hang`` (accepts,
never answers) and ``refuse`` (the listener closes: connections are refused until the
mode is set back, through another backend's ``/control`` with ``"listen":
"HOST:PORT"``, or the ``--control`` address, which serves only ``/control``).
``GET /control`` lists every backend of the process.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import signal
import sys
from typing import Any

from aiohttp import web

from gslb.model import HostPort

MODES = ("healthy", "unhealthy", "fail", "slow", "hang", "refuse")
DEFAULT_LISTEN = "127.0.0.1:8081"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "demo-backend",
        help="a small HTTP backend to probe (demos, tests)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--listen",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help=f"one backend (repeatable; default {DEFAULT_LISTEN})",
    )
    p.add_argument("--control", metavar="HOST:PORT", help="an address serving only /control")
    p.add_argument("--load", type=float, default=0.2, help="load reported (default 0.2)")
    p.set_defaults(func=run)


class Backend:
    """One listener and its mode."""

    def __init__(self, group: Backends, listen: HostPort, load: float) -> None:
        self.group = group
        self.listen = listen  # the bound address once started (port 0 resolved)
        self.mode = "healthy"
        self.load = load
        self.delay = 10.0
        self._release = asyncio.Event()  # set when the mode changes: hung requests end
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def state(self) -> dict[str, Any]:
        return {"listen": str(self.listen), "mode": self.mode, "load": self.load,
                "delay": self.delay}  # fmt: skip

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        self.group.add_control(app, self)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._open()

    async def _open(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.listen.host, self.listen.port)
        await self._site.start()
        self.listen = HostPort(self.listen.host, self._runner.addresses[-1][1])

    async def set(self, mode: str | None = None, load: float | None = None,
                  delay: float | None = None) -> None:  # fmt: skip
        """Switch behaviour; ValueError for a bad value."""
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        for name, value in (("load", load), ("delay", delay)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                      or value < 0):  # fmt: skip
                raise ValueError(f"{name} must be a number >= 0")
        if load is not None:
            self.load = float(load)
        if delay is not None:
            self.delay = float(delay)
        if mode is None or mode == self.mode:
            return
        was, self.mode = self.mode, mode
        self._release.set()
        self._release = asyncio.Event()
        if mode == "refuse" and self._site is not None:
            await self._site.stop()
            self._site = None
        elif was == "refuse":
            try:
                await self._open()
            except OSError as e:  # the port was taken meanwhile
                self.mode = "refuse"
                raise ValueError(f"cannot listen on {self.listen} again: {e}") from e

    async def healthz(self, _: web.Request) -> web.StreamResponse:
        if self.mode == "hang":
            await self._release.wait()
        elif self.mode == "slow":
            try:
                await asyncio.wait_for(self._release.wait(), self.delay)
            except TimeoutError:
                pass
            else:  # switched meanwhile: answer as the new mode says
                return await self.healthz(_)
        healthy = self.mode in ("healthy", "slow")
        body = {"healthy": healthy, "load": self.load, "backend": str(self.listen)}
        status = 500 if self.mode == "fail" else 200
        return web.json_response(body, status=status, headers={"X-Load": f"{self.load:g}"})

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()


class Backends:
    """The backends of one process, each switchable through any of them."""

    def __init__(self) -> None:
        self.backends: list[Backend] = []
        self._control: web.AppRunner | None = None

    @classmethod
    async def start(cls, listens: list[HostPort], load: float = 0.2,
                    control: HostPort | None = None) -> Backends:  # fmt: skip
        group = cls()
        try:
            for listen in listens:
                backend = Backend(group, listen, load)
                group.backends.append(backend)
                await backend.start()
            if control is not None:
                app = web.Application()
                group.add_control(app, None)
                group._control = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
                await group._control.setup()
                await web.TCPSite(group._control, control.host, control.port).start()
        except BaseException:
            await group.stop()
            raise
        return group

    def find(self, text: str) -> Backend:
        for backend in self.backends:
            if text == str(backend.listen):
                return backend
        raise KeyError(text)

    def add_control(self, app: web.Application, own: Backend | None) -> None:
        async def show(_: web.Request) -> web.Response:
            return web.json_response([b.state() for b in self.backends])

        async def control(request: web.Request) -> web.Response:
            try:
                data = await request.json()
                if not isinstance(data, dict):
                    raise ValueError("send a JSON object")
                listen = data.get("listen")
                backend = self.find(str(listen)) if listen is not None else own
                if backend is None:
                    raise ValueError('say which backend: {"listen": "HOST:PORT", ...}')
                await backend.set(data.get("mode"), data.get("load"), data.get("delay"))
            except KeyError as e:
                return web.json_response({"error": f"no backend {e}"}, status=404)
            except ValueError as e:
                return web.json_response({"error": str(e)}, status=400)
            return web.json_response(backend.state())

        app.router.add_get("/control", show)
        app.router.add_post("/control", control)

    async def stop(self) -> None:
        for backend in self.backends:
            await backend.stop()
        if self._control is not None:
            await self._control.cleanup()


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


async def _serve(listens: list[HostPort], load: float, control: HostPort | None) -> None:
    group = await Backends.start(listens, load, control)
    for backend in group.backends:
        print(f"demo backend: http://{backend.listen}/healthz (POST /control to switch)")
    if control is not None:
        print(f"demo backend control: http://{control}/control")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await group.stop()


def run(args: argparse.Namespace) -> int:
    try:
        listens = [HostPort.parse(text) for text in args.listen or [DEFAULT_LISTEN]]
        control = HostPort.parse(args.control) if args.control else None
    except ValueError as e:
        print(f"gslb demo-backend: {e}", file=sys.stderr)
        return 2
    for hp in [*listens, *([control] if control else [])]:
        if not _loopback(hp.host):
            print(f"gslb demo-backend: warning: {hp} is not loopback; anyone who reaches it "
                  "can switch it", file=sys.stderr)  # fmt: skip
    try:
        asyncio.run(_serve(listens, args.load, control))
    except OSError as e:
        print(f"gslb demo-backend: {e}", file=sys.stderr)
        return 1
    return 0
