"""The HTTP API (aiohttp), once per host, off unless ``gslb serve --http`` is given.

Read: ``/healthz`` (alive), ``/readyz`` (serving, or 503 and why), ``/metrics``
(Prometheus), ``/api/v1/status`` (zones, reload, database, every region and endpoint:
state, since, why, load, share of answers), ``/api/v1/map`` (the region answering each
country now) and ``/`` (the status page). Write: ``PUT``/``DELETE
/api/v1/overrides/{region}[/{endpoint}]`` (drain, force-up, force-down, auto),
``PUT``/``DELETE /api/v1/load/{region}``, ``POST /api/v1/reload``.

Writes need ``Authorization: Bearer <token>`` when ``--token-file`` is given, and are
refused outright on a non-loopback address without one. Connections are capped and a
client must finish sending its headers within a few seconds (slowloris), and responses
name no software version.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from aiohttp import web

from gslb.live import statuspage
from gslb.live.logs import event
from gslb.live.metrics import CONTENT_TYPE, render
from gslb.model import HostPort

__all__ = ["ApiSource", "build_app", "start_api", "stop_api"]

log = logging.getLogger(__name__)

MAX_CONNECTIONS = 256
HEADER_TIMEOUT = 5.0  # seconds from a request's first byte to the end of its headers
KEEPALIVE = 15.0  # seconds an idle keep-alive connection stays open
MAX_BODY = 64 * 1024
OVERRIDE_STATES = ("drain", "force-up", "force-down", "auto")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiSource(Protocol):
    """What the API reads and changes: the supervisor."""

    token: str | None
    writes_allowed: bool
    book: Any

    def ready(self) -> tuple[bool, str]: ...

    def status(self) -> dict[str, Any]: ...

    def map(self, name: str | None) -> dict[str, Any]: ...

    def worker_stats(self) -> list[dict[str, Any]]: ...

    def supervisor_metrics(self) -> dict[str, Any]: ...

    def apply(self, events: Any) -> None: ...

    async def reload(self, why: str) -> Any: ...


JSON = "application/json"


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def build_app(source: ApiSource) -> web.Application:
    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method not in ("GET", "HEAD"):
            if not source.writes_allowed:
                return _error(403, "write endpoints need --token-file on a non-loopback address")
            if source.token is not None:
                given = request.headers.get("Authorization", "")
                if not hmac.compare_digest(given.encode(), f"Bearer {source.token}".encode()):
                    return _error(401, "a valid 'Authorization: Bearer <token>' is needed")
        return await handler(request)

    async def no_versions(_: web.Request, response: web.StreamResponse) -> None:
        """Every reply, aiohttp's own 404/405 included, names no software version."""
        response.headers["Server"] = "gslb"

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ok, why = source.ready()
        return web.Response(text=why + "\n", status=200 if ok else 503)

    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(render, source)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})

    async def status(_: web.Request) -> web.Response:
        return web.json_response(source.status(), dumps=_dumps)

    async def map_(request: web.Request) -> web.Response:
        return web.json_response(source.map(request.query.get("name")), dumps=_dumps)

    async def body(request: web.Request) -> dict[str, Any]:
        size = request.content_length
        if size and size > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=size)
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(
                text='{"error": "the body must be JSON"}', content_type=JSON
            ) from None
        if not isinstance(data, dict):
            raise web.HTTPBadRequest(
                text='{"error": "the body must be a JSON object"}', content_type=JSON
            )
        return data

    def key(request: web.Request) -> Any:
        region, _, zone = request.match_info["region"].partition("@")
        try:
            return source.book.resolve_key(region, request.match_info.get("endpoint"), zone or None)
        except KeyError as e:
            raise web.HTTPNotFound(
                text=json.dumps({"error": str(e.args[0])}), content_type=JSON
            ) from None

    async def set_override(request: web.Request) -> web.Response:
        target = key(request)
        state = (await body(request)).get("state") if request.method == "PUT" else "auto"
        if state not in OVERRIDE_STATES:
            return _error(400, f"state must be one of {', '.join(OVERRIDE_STATES)}")
        events = source.book.set_override(target, state, _now())
        source.apply(events)
        log.info("override %s %s", "/".join(target), state,
                 extra=event(event="admin", action="override", key="/".join(target), state=state,
                             peer=request.remote or "-"))  # fmt: skip
        return web.json_response({"key": list(target), "state": state,
                                  "changes": [str(e) for e in events]})  # fmt: skip

    async def set_load(request: web.Request) -> web.Response:
        target = key(request)
        if request.method == "DELETE":
            events = source.book.clear_load(target, _now())
            value = None
        else:
            value = (await body(request)).get("load")
            if not isinstance(value, int | float) or isinstance(value, bool):
                return _error(400, "load must be a number 0..1")
            try:
                events = source.book.push_load(target, float(value), _now())
            except ValueError as e:
                return _error(400, str(e))
        source.apply(events)
        shown = "cleared" if value is None else value
        log.info("load %s %s", "/".join(target), shown,
                 extra=event(event="admin", action="load", key="/".join(target), load=shown,
                             peer=request.remote or "-"))  # fmt: skip
        return web.json_response({"key": list(target), "load": value})

    async def reload(request: web.Request) -> web.Response:
        result = await source.reload(f"API ({request.remote or '-'})")
        return web.json_response(result.public(), status=200 if result.ok else 422)

    app = web.Application(middlewares=[guard], client_max_size=MAX_BODY)
    app.on_response_prepare.append(no_versions)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/status", status)
    app.router.add_get("/api/v1/map", map_)
    for path in ("/api/v1/overrides/{region}", "/api/v1/overrides/{region}/{endpoint}"):
        app.router.add_put(path, set_override)
        app.router.add_delete(path, set_override)
    app.router.add_put("/api/v1/load/{region}", set_load)
    app.router.add_delete("/api/v1/load/{region}", set_load)
    app.router.add_post("/api/v1/reload", reload)
    app.add_routes(statuspage.routes())
    return app


def _now() -> float:
    return time.time()


def _dumps(data: Any) -> str:
    return json.dumps(data, indent=1, default=str)


class _Guard(asyncio.Protocol):
    """Wraps aiohttp's protocol: caps connections and times out slow headers."""

    def __init__(self, inner: asyncio.Protocol, site: _GuardedSite) -> None:
        self.inner = inner
        self.site = site
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.pending = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        if len(self.site.open) >= MAX_CONNECTIONS:
            self.site.refused += 1
            transport.close()
            return
        self.site.open.add(self)
        self._arm()
        self.inner.connection_made(transport)

    def _arm(self) -> None:
        if self.timer is None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(HEADER_TIMEOUT, self._slow)

    def _slow(self) -> None:
        self.site.timeouts += 1
        if self.transport is not None:
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        # headers end at the first blank line; a request body can follow in the same read
        self.pending = (self.pending + data)[-4096:]
        if b"\r\n\r\n" in self.pending:
            self.pending = b""
            if self.timer is not None:
                self.timer.cancel()
                self.timer = None
        else:
            self._arm()
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.site.open.discard(self)
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class _GuardedSite(web.BaseSite):
    def __init__(self, runner: web.AppRunner, host: str, port: int) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self.open: set[_Guard] = set()
        self.refused = 0
        self.timeouts = 0

    @property
    def name(self) -> str:
        return str(HostPort(self._host, self._port))

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            lambda: _Guard(server(), self), self._host, self._port, reuse_address=True
        )


async def start_api(source: ApiSource, listener: HostPort) -> web.AppRunner:
    runner = web.AppRunner(
        build_app(source), access_log=None, keepalive_timeout=KEEPALIVE, handle_signals=False
    )
    await runner.setup()
    await _GuardedSite(runner, listener.host, listener.port).start()
    return runner


async def stop_api(runner: object) -> None:
    assert isinstance(runner, web.AppRunner)
    await runner.cleanup()
