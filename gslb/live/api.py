"""The HTTP status endpoint (aiohttp), off unless ``gslb serve --http`` is given.

Read-only for now: liveness, readiness and what is being served. Bind it to
loopback.
"""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

from gslb.dns.view import View
from gslb.model import HostPort


class _Source(Protocol):
    @property
    def view(self) -> View: ...


def build_app(source: _Source) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def status(_: web.Request) -> web.Response:
        view = source.view
        return web.json_response(
            {
                "zones": [
                    {"origin": cz.zone.origin, "serial": cz.zone.soa.serial}
                    for cz in view.config.zones.values()
                ],
                "down_regions": sorted("/".join(k) for k in view.state.down_regions),
                "load": {"/".join(k): v for k, v in view.state.load.items()},
            }
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", healthz)
    app.router.add_get("/api/v1/status", status)
    return app


async def start_api(source: _Source, listener: HostPort) -> web.AppRunner:
    runner = web.AppRunner(build_app(source), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, listener.host, listener.port).start()
    return runner


async def stop_api(runner: object) -> None:
    assert isinstance(runner, web.AppRunner)
    await runner.cleanup()
