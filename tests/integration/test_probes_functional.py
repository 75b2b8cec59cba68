"""The prober against real backends on loopback: the demo backend (aiohttp) switched
between its modes, a TCP listener, an HTTPS server with a certificate made here, and
the book fed by the prober in real time. Nothing outside 127.0.0.1 and ::1 is
contacted. Waits are for events, with generous deadlines; no timing is asserted."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import random
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from gslb.cli.demo_backend import Backends
from gslb.live.book import LiveBook
from gslb.live.health import ProbeResult, ProbeTarget, target_id
from gslb.live.probes import Prober
from gslb.model import HealthCheck, HostPort, LoadFeed
from tests.livezones import zone

pytestmark = pytest.mark.integration

LOOP4, LOOP6 = HostPort("127.0.0.1", 0), HostPort("::1", 0)
DEADLINE = 10.0  # seconds any wait may take before the test fails


def target(at: HostPort, check: str = "http", **settings: Any) -> ProbeTarget:
    settings.setdefault("timeout", 3.0)
    settings.setdefault("interval", max(3.0, settings["timeout"]))
    if check != "tcp":
        settings.setdefault("path", "/healthz")
    spec = HealthCheck(check, target=at, **settings)  # type: ignore[arg-type]
    return ProbeTarget(target_id(spec), spec, ())


@contextlib.asynccontextmanager
async def backends(*listens: HostPort) -> AsyncIterator[Backends]:
    group = await Backends.start(list(listens or [LOOP4]))
    try:
        yield group
    finally:
        await group.stop()


@contextlib.asynccontextmanager
async def prober(
    on_result: Callable[[str, ProbeResult], None] = lambda *_: None, **kw: Any
) -> AsyncIterator[Prober]:
    p = Prober(on_result, rng=random.Random(7), **kw)
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def until(condition: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(DEADLINE):
        while not condition():
            await asyncio.sleep(0.02)
    assert condition(), what


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize("listen", [LOOP4, LOOP6], ids=["ipv4", "ipv6"])
def test_healthy_backend_and_its_load(listen: HostPort) -> None:
    async def go() -> None:
        async with backends(listen) as group, prober() as p:
            at = group.backends[0].listen
            await group.backends[0].set(load=0.35)
            r = await p.probe(target(at, json="healthy", load=LoadFeed("json", "load")))
            assert (r.ok, r.error, r.status, r.load, r.note) == (True, "", 200, 0.35, "")
            assert r.latency > 0 and r.at > 1e9
            r = await p.probe(target(at, load=LoadFeed("header", "x-load")))
            assert (r.ok, r.load) == (True, 0.35)
            r = await p.probe(target(at, load=LoadFeed("json", "capacity.used")))
            missing = "load: JSON field 'capacity.used' missing"
            assert (r.ok, r.load, r.note) == (True, None, missing)
            await group.backends[0].set(load=1.4)
            r = await p.probe(target(at, load=LoadFeed("header", "X-Load")))
            assert (r.ok, r.load, r.note) == (True, 1.0, "load: header X-Load 1.4 counted as 1")

    asyncio.run(go())


@pytest.mark.parametrize(
    ("mode", "settings", "error", "status"),
    [
        ("fail", {}, "HTTP 500", 500),
        ("healthy", {"expect": (204,)}, "HTTP 200", 200),
        ("healthy", {"match": "ready"}, "body does not contain 'ready'", 200),
        ("unhealthy", {"json": "healthy"}, "JSON field 'healthy' is false, not true", 200),
        ("healthy", {"json": "ready"}, "JSON field 'ready' is missing", 200),
        ("refuse", {}, "connection refused", None),
        ("slow", {"timeout": 0.3}, "timeout after 0.3 s", None),
        ("hang", {"timeout": 0.3}, "timeout after 0.3 s", None),
    ],
)
def test_failing_backend(mode: str, settings: dict[str, Any], error: str, status: int) -> None:
    async def go() -> None:
        async with backends() as group, prober() as p:
            backend = group.backends[0]
            at = backend.listen
            await backend.set(mode, delay=5.0)
            r = await p.probe(target(at, **settings))
            assert (r.ok, r.error, r.status) == (False, error, status)
            await backend.set("healthy")  # and back
            r = await p.probe(target(at, **{k: v for k, v in settings.items() if k == "timeout"}))
            assert r.ok, r.error

    asyncio.run(go())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_tcp(host: str) -> None:
    async def go() -> None:
        accepted = 0

        def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nonlocal accepted
            accepted += 1
            writer.close()

        server = await asyncio.start_server(handle, host, 0)
        at = HostPort(host, server.sockets[0].getsockname()[1])
        async with prober() as p:
            r = await p.probe(target(at, "tcp"))
            assert (r.ok, r.status, r.error) == (True, None, "")
            server.close()
            await server.wait_closed()
            r = await p.probe(target(at, "tcp"))
            assert (r.ok, r.error) == (False, "connection refused")
        assert accepted == 1

    asyncio.run(go())


# --------------------------------------------------------------------------- HTTP details


def test_redirects_are_not_followed_and_bodies_are_capped() -> None:
    async def go() -> None:
        seen: list[str] = []

        async def redirect(request: web.Request) -> web.Response:
            seen.append(request.path)
            raise web.HTTPFound("/elsewhere")

        async def big(request: web.Request) -> web.Response:
            seen.append(request.path)
            return web.Response(text="x" * 100_000 + "needle")

        app = web.Application()
        app.router.add_get("/redirect", redirect)
        app.router.add_get("/elsewhere", redirect)
        app.router.add_get("/big", big)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        at = HostPort("127.0.0.1", runner.addresses[0][1])
        try:
            async with prober(body_limit=4096) as p:
                assert (await p.probe(target(at, path="/redirect"))).status == 302
                r = await p.probe(target(at, path="/redirect", expect=(200,)))
                assert (r.ok, r.error) == (False, "HTTP 302")
                assert seen == ["/redirect", "/redirect"]
                r = await p.probe(target(at, path="/big", match="needle"))
                assert r.error == "body does not contain 'needle' (first 4096 bytes)"
                r = await p.probe(target(at, path="/big", json="ok"))
                assert r.error == "body too long to parse as JSON"
                r = await p.probe(target(at, path="/big", load=LoadFeed("json", "load")))
                assert (r.ok, r.note) == (True, "load: body too long to parse as JSON")
        finally:
            await runner.cleanup()

    asyncio.run(go())


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` (cryptography comes with the test deps)."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_https_verification_sni_and_host(tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, "probe.test")

    async def go() -> None:
        sni: list[str | None] = []
        hosts: list[str | None] = []
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        context.sni_callback = lambda _sock, name, _ctx: sni.append(name)

        async def healthz(request: web.Request) -> web.Response:
            hosts.append(request.headers.get("Host"))
            return web.json_response({"healthy": True})

        app = web.Application()
        app.router.add_get("/healthz", healthz)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
        at = HostPort("127.0.0.1", runner.addresses[0][1])
        try:
            async with prober() as p:
                r = await p.probe(target(at, "https", host="probe.test"))
                assert not r.ok and r.error.startswith("TLS certificate not accepted: ")
                assert "self-signed" in r.error or "self signed" in r.error
                assert hosts == []  # no request went out over an unverified connection
                r = await p.probe(target(at, "https", host="probe.test", tls_verify=False))
                assert (r.ok, r.status) == (True, 200), r.error
                assert sni == ["probe.test", "probe.test"]
                assert hosts == [f"probe.test:{at.port}"]
                r = await p.probe(target(at, "https", tls_verify=False, json="healthy"))
                assert r.ok and sni[-1] is None  # no SNI for an address
        finally:
            await runner.cleanup()

    asyncio.run(go())


# --------------------------------------------------------------------------- schedule


class CountingRandom(random.Random):
    """Counts jitter draws: one per probe loop started."""

    draws = 0

    def uniform(self, a: float, b: float) -> float:
        self.draws += 1
        return super().uniform(a, b)


def test_a_hanging_target_never_delays_another() -> None:
    async def go() -> None:
        results: dict[str, list[ProbeResult]] = {}
        five = asyncio.Event()

        def on_result(tid: str, result: ProbeResult) -> None:
            results.setdefault(tid, []).append(result)
            if len(results.get(quick.id, [])) >= 5:
                five.set()

        async with backends(LOOP4, LOOP4) as group, prober(on_result) as p:
            await group.backends[0].set("hang")
            hung = target(group.backends[0].listen, timeout=8.0, interval=9.0)
            quick = target(group.backends[1].listen, timeout=1.0, interval=0.05)
            p.update([hung, quick])
            async with asyncio.timeout(DEADLINE):
                await five.wait()
            assert hung.id not in results  # still waiting for its answer
            assert all(r.ok for r in results[quick.id])

    asyncio.run(go())


def test_update_stops_removed_starts_new_and_keeps_the_rest() -> None:
    async def go() -> None:
        results: list[str] = []
        rng = CountingRandom(3)
        async with backends(LOOP4) as group:
            at = group.backends[0].listen
            a, b, c = (target(at, interval=0.05, timeout=1.0, path=f"/healthz?{n}") for n in "abc")
            p = Prober(lambda tid, _: results.append(tid), rng=rng)
            await p.start([a, b])
            try:
                await until(lambda: a.id in results and b.id in results, "a and b probed")
                assert rng.draws == 2
                p.update([a, c])
                assert p.running == {a.id, c.id}
                mark = len(results)
                await until(lambda: results[mark:].count(c.id) >= 2, "c probed")
                await until(lambda: results[mark:].count(a.id) >= 2, "a probed on")
                assert b.id not in results[mark:]
                assert rng.draws == 3  # c's start; a was not restarted
            finally:
                await p.stop()
            assert p.running == frozenset()

    asyncio.run(go())


# --------------------------------------------------------------------------- end to end


def test_fall_and_rise_in_real_time(tmp_path: Path) -> None:
    """The prober feeding the book: a backend failing takes its endpoint (and region)
    down after ``fall`` failures, and back after ``rise`` successes."""

    async def go() -> None:
        async with backends(LOOP4, LOOP6) as group:
            west, central = (b.listen for b in group.backends)
            health = {"check": "http", "path": "/healthz", "interval": 0.1, "fall": 2,
                      "rise": 2, "json": "healthy", "load": {"json": "load"}}  # fmt: skip
            regions = {
                "eu-west": {"endpoints": ["192.0.2.10"],
                            "health": {**health, "target": str(west)}},
                "eu-central": {"endpoints": ["192.0.2.20"],
                               "health": {**health, "target": str(central)}},
            }  # fmt: skip
            book = LiveBook([zone(tmp_path, regions)], time.time())
            lines: list[str] = []

            def record(tid: str, result: ProbeResult) -> None:
                lines.extend(str(e) for e in book.record(tid, result, result.at))

            def down() -> frozenset[tuple[str, ...]]:
                return book.snapshot(time.time()).down_endpoints

            key = ("example.com.", "eu-west", "192.0.2.10")
            async with prober(record) as p:
                p.update(book.probe_targets())
                await until(lambda: len(book.snapshot(time.time()).load) == 2, "load reported")
                assert set(book.snapshot(time.time()).load.values()) == {0.2}
                await group.backends[0].set("unhealthy")
                await until(lambda: key in down(), "eu-west down")
                await group.backends[0].set("refuse")
                await asyncio.sleep(0.3)
                assert key in down()
                await group.backends[0].set("healthy")
                await until(lambda: key not in down(), "eu-west back")
            assert any("eu-west state up -> down" in line for line in lines)
            assert any("eu-west state down -> up" in line for line in lines)
            assert not any("eu-central state" in line for line in lines)

    asyncio.run(go())


def test_demo_backend_command(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "gslb", "demo-backend", "--listen", "127.0.0.1:0",
         "--listen", "[::1]:0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        urls = [proc.stdout.readline().split()[2] for _ in range(2)]
        assert urls[0].startswith("http://127.0.0.1:") and urls[1].startswith("http://[::1]:")
        with urllib.request.urlopen(urls[1], timeout=5) as r:
            assert json.loads(r.read())["healthy"] is True and r.headers["X-Load"] == "0.2"
        control = urls[1].replace("/healthz", "/control")
        body = json.dumps({"mode": "fail", "listen": urls[0][7:-8]}).encode()
        with urllib.request.urlopen(urllib.request.Request(control, body), timeout=5) as r:
            assert json.loads(r.read())["mode"] == "fail"
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(urls[0], timeout=5)
        assert failed.value.code == 500
        failed.value.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
