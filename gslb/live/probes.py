"""The prober: the edge that observes endpoints (aiohttp for HTTP(S), asyncio for TCP).

One :class:`Prober` per host (the supervising process): every :class:`ProbeTarget`
gets its own task, so a slow or hanging target delays only itself. Each probe runs
within its check's ``timeout``; a semaphore bounds how many run at once (waiting for a
slot does not count against the timeout); the first probe of each target waits a
random part of its interval, so a start or reload does not probe everything at once.
Results go to ``on_result(target_id, ProbeResult)``, which must not block (the book
records them synchronously).

HTTP(S) probes share one ``aiohttp.ClientSession``:

* a new connection per probe (``force_close``): a backend that stopped accepting
  connections must fail, not pass on a kept-alive one; no redirects followed (a 3xx
  is an answer, and following it could leave the target); no proxies from the
  environment; no cookies;
* TLS verified by default (the system's CAs) against ``host`` when given, else the
  target; ``tls-verify: false`` skips verification for that check;
* ``host`` is the Host header and the TLS SNI even when the target is an address;
* success: the status is expected (``expect``, default any 2xx or 3xx), the body
  contains ``match``, the JSON field ``json`` (a dotted path) is ``true``. Only the
  first :data:`BODY_LIMIT` bytes of a body are read;
* load from ``load: {json: field}`` or ``load: {header: name}``: a number, clamped to
  0..1; anything else is no reading and a ``note`` on the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

import aiohttp

from gslb import __version__
from gslb.live.health import ProbeResult, ProbeTarget
from gslb.model import DEFAULT_PORTS, HealthCheck, HostPort

__all__ = ["BODY_LIMIT", "CONCURRENCY", "Prober", "dotted"]

log = logging.getLogger(__name__)

BODY_LIMIT = 64 * 1024  # bytes of a response body read at most
CONCURRENCY = 100  # probes in flight at most (and HTTP connections)

OnResult = Callable[[str, ProbeResult], None]


class _Failed(Exception):
    """A probe's verdict: failed, with this error text (and HTTP status)."""

    def __init__(self, error: str, status: int | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status


class Prober:
    """Probes every target on its interval until stopped; see the module docstring."""

    def __init__(
        self,
        on_result: OnResult,
        *,
        concurrency: int = CONCURRENCY,
        body_limit: int = BODY_LIMIT,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._on_result = on_result
        self._concurrency = concurrency
        self._body_limit = body_limit
        self._rng = rng or random.Random()
        self._clock = clock  # wall clock, for ProbeResult.at
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._slots = asyncio.Semaphore(concurrency)
        self._verify = ssl.create_default_context()
        self._no_verify = ssl.create_default_context()
        self._no_verify.check_hostname = False
        self._no_verify.verify_mode = ssl.CERT_NONE

    @property
    def running(self) -> frozenset[str]:
        """The ids of the targets being probed."""
        return frozenset(self._tasks)

    async def start(self, targets: Iterable[ProbeTarget] = ()) -> None:
        """Open the session and start probing ``targets``."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._concurrency, force_close=True)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": f"gslb/{__version__} health check"},
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=False,
            )
        self.update(targets)

    def update(self, targets: Iterable[ProbeTarget]) -> None:
        """Probe exactly ``targets`` from now on (after a reload): removed ones stop,
        new ones start (after their jitter), unchanged ones go on undisturbed."""
        wanted = {t.id: t for t in targets}
        for tid in [t for t in self._tasks if t not in wanted]:
            self._tasks.pop(tid).cancel()
        for tid, target in wanted.items():
            if tid not in self._tasks:
                self._tasks[tid] = asyncio.create_task(self._loop(target), name=f"probe {tid}")

    async def stop(self) -> None:
        """Stop every probe (in-flight ones are cancelled) and close the session."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _loop(self, target: ProbeTarget) -> None:
        loop = asyncio.get_running_loop()
        interval = target.check.interval
        await asyncio.sleep(self._rng.uniform(0, interval))
        due = loop.time()
        while True:
            result = await self.probe(target)
            try:
                self._on_result(target.id, result)
            except Exception:  # a bug in the consumer must not stop probing
                log.exception("probe result for %s was not taken", target.id)
            due = max(due + interval, loop.time())  # behind schedule: no burst
            await asyncio.sleep(due - loop.time())

    async def probe(self, target: ProbeTarget) -> ProbeResult:
        """Probe ``target`` once, now, within its timeout. Never raises (but is
        cancellable); needs :meth:`start` for HTTP(S)."""
        check = target.check
        assert check.target is not None, "a probe target names where to connect"
        async with self._slots:
            started = time.monotonic()
            status: int | None = None
            try:
                async with asyncio.timeout(check.timeout):
                    if check.check == "tcp":
                        await _tcp(check.target)
                        status, load, note = None, None, ""
                    else:
                        status, load, note = await self._http(check, check.target)
            except _Failed as e:
                error, status = e.error, e.status
            except TimeoutError:
                error = f"timeout after {check.timeout:g} s"
            except (aiohttp.ClientError, OSError) as e:
                error = _describe(e)
            except Exception as e:  # a probe must yield a verdict, whatever went wrong
                log.warning("probe of %s failed unexpectedly", target.id, exc_info=True)
                error = f"{type(e).__name__}: {e}"
            else:
                latency = time.monotonic() - started
                return ProbeResult(True, latency, "", self._clock(), status, load, note)
            latency = time.monotonic() - started
            return ProbeResult(False, latency, error, self._clock(), status)

    async def _http(self, check: HealthCheck, target: HostPort) -> tuple[int, float | None, str]:
        """(status, load, note) of a passing HTTP(S) check; _Failed otherwise."""
        session = self._session
        assert session is not None, "Prober.start() opens the HTTP session"
        https = check.check == "https"
        headers = {}
        if check.host is not None:
            default = target.port == DEFAULT_PORTS[check.check]
            headers["Host"] = check.host if default else f"{check.host}:{target.port}"
        async with session.get(
            f"{check.check}://{target}{check.path}",
            headers=headers,
            allow_redirects=False,
            ssl=(self._verify if check.tls_verify else self._no_verify) if https else False,
            server_hostname=check.host if https else None,
        ) as response:
            status = response.status
            if not check.status_ok(status):
                raise _Failed(f"HTTP {status}", status)
            feed = check.load
            json_wanted = check.json is not None or (feed is not None and feed.source == "json")
            body, whole = b"", True
            if json_wanted or check.match is not None:
                body, whole = await _read(response.content, self._body_limit)
            header = feed.field if feed is not None and feed.source == "header" else None
            value = response.headers.get(header) if header else None
        document, problem = _parse(body, whole) if json_wanted else (None, "")
        if check.match is not None and check.match.encode() not in body:
            where = "" if whole else f" (first {self._body_limit} bytes)"
            raise _Failed(f"body does not contain {check.match!r}{where}", status)
        if check.json is not None:
            if problem:
                raise _Failed(problem, status)
            found = dotted(document, check.json)
            if found is not True:
                said = "missing" if found is _MISSING else f"{json.dumps(found)}, not true"
                raise _Failed(f"JSON field '{check.json}' is {said}", status)
        if check.load is None:
            return status, None, ""
        if check.load.source == "json":
            if problem:
                return status, None, f"load: {problem}"
            raw: object = dotted(document, check.load.field)
            what = f"JSON field '{check.load.field}'"
        else:
            raw = _MISSING if value is None else value
            what = f"header {check.load.field}"
        load, note = _load(raw, what)
        return status, load, note


async def _tcp(target: HostPort) -> None:
    _, writer = await asyncio.open_connection(target.host, target.port)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def _read(stream: aiohttp.StreamReader, limit: int) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a body, and whether that was all of it."""
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await stream.read(limit + 1 - size)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:limit], False


def _parse(body: bytes, whole: bool) -> tuple[Any, str]:
    """The JSON document of a body, or what prevents reading one."""
    if not whole:
        return None, "body too long to parse as JSON"
    try:
        return json.loads(body), ""
    except ValueError:
        return None, "body is not JSON"


_MISSING = object()


def dotted(document: Any, path: str) -> Any:
    """``document["a"]["b"]`` for ``a.b`` (a number indexes a list); a private
    sentinel when any part is missing."""
    for part in path.split("."):
        if isinstance(document, dict) and part in document:
            document = document[part]
        elif isinstance(document, list) and part.isdigit() and int(part) < len(document):
            document = document[int(part)]
        else:
            return _MISSING
    return document


def _load(raw: object, what: str) -> tuple[float | None, str]:
    """A load reading from a JSON value or header text, clamped to 0..1, with a note
    when it is unusable or was clamped."""
    if raw is _MISSING:
        return None, f"load: {what} missing"
    value: float | None = None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, str):
        with contextlib.suppress(ValueError):
            value = float(raw.strip())
    if value is None or not math.isfinite(value):
        return None, f"load: {what} is {json.dumps(raw)[:40]}, not a number"
    if 0.0 <= value <= 1.0:
        return value, ""
    clamped = min(1.0, max(0.0, value))
    return clamped, f"load: {what} {value:g} counted as {clamped:g}"


def _describe(e: BaseException) -> str:
    """A short error text for a failed connection or request."""
    if isinstance(e, aiohttp.ClientConnectorCertificateError):
        cert = e.certificate_error
        reason = getattr(cert, "verify_message", None) or str(cert)
        return f"TLS certificate not accepted: {reason}"
    if isinstance(e, aiohttp.ClientSSLError):
        return f"TLS: {e}"
    if isinstance(e, aiohttp.ClientConnectorError):
        e = e.os_error
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, aiohttp.ServerDisconnectedError):
        return "server closed the connection without answering"
    if isinstance(e, OSError) and e.strerror:
        return e.strerror[0].lower() + e.strerror[1:]
    return str(e) or type(e).__name__
