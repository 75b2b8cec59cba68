"""Live health as pure values: probe results, the endpoint breaker, load readings.

Pure: no probes, no clock, no I/O. The prober (:mod:`gslb.live.probes`) observes; the
book (:mod:`gslb.live.book`) owns the values below and passes the time in. Every time
is wall-clock seconds (``time.time()``), so it means the same after a restart and can
be shown to an operator.

* **Breaker** (gdnsd's up/down hysteresis): ``fall`` failures in a row take an up
  endpoint down, ``rise`` successes in a row bring a down one back; one lost packet
  does not move traffic and a flapping endpoint does not attract it. The state before
  the first verdict is the check's ``assume`` (default up, so a restart or reload does
  not drop traffic before the first probes complete).
* **Load** is smoothed by an exponentially weighted moving average with factor
  :data:`LOAD_ALPHA`: ``smoothed = 0.5 * reading + 0.5 * previous``, so a step change
  is half visible after one reading and 94% after four. A smoothed value whose latest
  reading is older than its maximum age is *stale*: treated as unknown (no spill), and
  the next reading starts afresh rather than averaging with it. For probe-reported
  load the maximum age is :data:`STALE_INTERVALS` intervals of the check; for pushed
  load it is the book's ``push_max_age`` (:data:`PUSH_MAX_AGE` by default).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, replace
from typing import Literal

from gslb.model import Endpoint, EndpointKey, HealthCheck, RegionKey

__all__ = [
    "LOAD_ALPHA",
    "OVERRIDES",
    "PUSH_MAX_AGE",
    "STALE_INTERVALS",
    "Breaker",
    "Event",
    "Key",
    "Override",
    "ProbeResult",
    "ProbeTarget",
    "Reading",
    "check_load",
    "key_text",
    "probe_spec",
    "smooth",
    "target_id",
]

#: EWMA factor: the weight of a new load reading against the smoothed value.
LOAD_ALPHA = 0.5
#: A probe-reported load older than this many check intervals is stale.
STALE_INTERVALS = 3
#: Default maximum age (seconds) of a pushed load (operator, autoscaler).
PUSH_MAX_AGE = 300.0

#: An operator override of a region or an endpoint; ``auto`` (no override) clears it.
Override = Literal["drain", "force-up", "force-down"]
OVERRIDES: tuple[str, ...] = ("drain", "force-up", "force-down", "auto")


@dataclass(frozen=True, slots=True)
class ProbeResult:
    """One probe's outcome, as observed by the prober.

    ``latency`` is seconds from the start of the probe to its verdict; ``error`` is
    empty when ``ok``; ``at`` is the wall-clock time of the verdict; ``status`` the
    HTTP status code (None for TCP, or when no response came); ``load`` the reading
    0..1 the response reported (None when the check has no load feed or it did not
    say); ``note`` says why a configured load feed gave no reading.
    """

    ok: bool
    latency: float
    error: str = ""
    at: float = 0.0
    status: int | None = None
    load: float | None = None
    note: str = ""

    def describe(self) -> str:
        """One phrase for logs and status: ``ok (HTTP 200, 12 ms)``, ``HTTP 500 (8 ms)``,
        ``timeout after 4 s (4001 ms)``, ``body does not contain 'ok' (HTTP 200, 5 ms)``."""
        head = "ok" if self.ok else self.error or "failed"
        parts = [f"{self.latency * 1000:.0f} ms"]
        if self.status is not None and not head.startswith("HTTP "):
            parts.insert(0, f"HTTP {self.status}")
        text = f"{head} ({', '.join(parts)})"
        return f"{text}; {self.note}" if self.note else text


@dataclass(frozen=True, slots=True)
class Breaker:
    """One endpoint's probe verdict with hysteresis.

    ``streak`` counts the results in a row that disagree with ``up`` (progress towards
    flipping it); ``since`` is when ``up`` last changed (or the breaker was made);
    ``last`` is the latest result, whatever it said.
    """

    up: bool
    streak: int = 0
    since: float = 0.0
    last: ProbeResult | None = None

    @classmethod
    def initial(cls, assume: Literal["up", "down"], now: float) -> Breaker:
        """A breaker before the first verdict: up until ``fall`` failures, or down
        until ``rise`` successes."""
        return cls(assume == "up", 0, now)

    def advance(self, result: ProbeResult, fall: int, rise: int, now: float) -> Breaker:
        """The breaker after ``result``, observed at ``now``."""
        if result.ok == self.up:
            return Breaker(self.up, 0, self.since, result)
        streak = self.streak + 1
        if streak >= (fall if self.up else rise):
            return Breaker(not self.up, 0, now, result)
        return Breaker(self.up, streak, self.since, result)

    def progress(self, fall: int, rise: int) -> str:
        """How far the breaker is from flipping: ``2 of 3 failures``; empty if settled."""
        if not self.streak:
            return ""
        if self.up:
            return f"{self.streak} of {fall} failures"
        return f"{self.streak} of {rise} successes"


@dataclass(frozen=True, slots=True)
class Reading:
    """A smoothed load and when its latest reading arrived."""

    value: float
    at: float

    def age(self, now: float) -> float:
        return max(0.0, now - self.at)

    def fresh(self, now: float, max_age: float) -> bool:
        return self.age(now) <= max_age


def smooth(previous: Reading | None, value: float, now: float, max_age: float) -> Reading:
    """The EWMA after a new reading ``value`` at ``now``; a missing or stale previous
    value does not count (the new reading stands alone)."""
    if previous is None or not previous.fresh(now, max_age):
        return Reading(value, now)
    return Reading(LOAD_ALPHA * value + (1 - LOAD_ALPHA) * previous.value, now)


def check_load(value: float) -> float:
    """A pushed load as given, or ValueError unless it is a number 0..1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"load must be a number 0..1, not {value!r}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"load must be 0..1, not {value}")
    return float(value)


# --------------------------------------------------------------------------- probes, events

Key = RegionKey | EndpointKey
Cause = Literal["probe", "override", "reload", "load"]


def key_text(key: Key) -> str:
    """``example.com./eu-west`` or ``example.com./eu-west/192.0.2.10``."""
    return "/".join(key)


@dataclass(frozen=True, slots=True)
class ProbeTarget:
    """One probe: a check (its ``target`` set to where to connect) and the endpoints
    whose health it decides. ``fall``, ``rise`` and ``assume`` belong to each
    endpoint's breaker, not to the probe, so they are normalised away: endpoints that
    differ only in them share one probe. ``id`` is stable across reloads."""

    id: str
    check: HealthCheck
    endpoints: tuple[EndpointKey, ...]


@dataclass(frozen=True, slots=True)
class Event:
    """One change: ``what`` of ``key`` went from ``old`` to ``new`` because of
    ``cause`` (``why`` in words); ``-`` stands for "not there" (added, removed)."""

    key: Key
    what: Literal["state", "override", "load"]
    old: str
    new: str
    cause: Cause
    why: str
    at: float

    def __str__(self) -> str:
        return f"{key_text(self.key)} {self.what} {self.old} -> {self.new}: {self.why}"


def probe_spec(check: HealthCheck, endpoint: Endpoint) -> HealthCheck:
    """What is probed for ``endpoint``: its check aimed at its target, with the
    breaker's settings normalised (they do not change the probe)."""
    target = check.target_for(endpoint.address)
    return replace(check, target=target, port=None, fall=1, rise=1, assume="up")


def target_id(spec: HealthCheck) -> str:
    """Readable and stable: ``https://10.0.0.10:8443/healthz#1a2b3c4d``; the hash tells
    apart probes of one URL that differ in other settings (host, match, timeout)."""
    digest = hashlib.sha256(repr(spec).encode()).hexdigest()[:8]
    path = spec.path if spec.check != "tcp" else ""
    return f"{spec.check}://{spec.target}{path}#{digest}"
