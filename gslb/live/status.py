"""What the live book says about each region and endpoint, in words and as JSON.

The state of an endpoint is ``up``, ``down`` or ``drained``; of a region ``up``,
``degraded`` (up, but some endpoint that should serve is down), ``drained`` or ``down``
(forced down, down in the zone file, or fewer than ``min-up`` endpoints up). The rules
are the policy's (:class:`gslb.policy.steps.RegionLive`), so status never disagrees
with the answers; a test holds the two together. Each state comes with a reason: the
latest probe result with its latency and error, the override, or the zone file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from gslb.geo.centroids import CENTROIDS
from gslb.geo.countries import COUNTRY_CONTINENT
from gslb.live.health import LOAD_ALPHA, STALE_INTERVALS
from gslb.model import EndpointKey, LiveState, Location, RegionKey, Zone
from gslb.policy.steps import Decider
from gslb.policy.table import NameTable

if TYPE_CHECKING:
    from gslb.live.book import LiveBook

__all__ = ["Load", "country_map", "endpoint_view", "region_view", "status_of"]

#: Down endpoints whose reasons a region's reason repeats.
DETAILS = 2


@dataclass(frozen=True, slots=True)
class Load:
    """A region's load, where it came from, how old it is, and whether it is unusable
    (``stale``: too old, or only from endpoints that are down)."""

    value: float
    source: Literal["pushed", "probes"]
    age: float
    stale: bool


def probe_text(book: LiveBook, key: EndpointKey) -> str:
    """The probes' side of an endpoint: ``probe HTTP 500 after 8 ms; 1 of 3 failures``."""
    check = book.endpoint(key).health
    breaker = book.breaker(key)
    if check is None or breaker is None:
        return "not probed (no health check)"
    progress = breaker.progress(check.fall, check.rise)
    if breaker.last is None:
        text = f"no probe result yet (assume: {check.assume})"
    else:
        text = f"probe {breaker.last.describe()}"
    return f"{text}; {progress}" if progress else text


def endpoint_view(book: LiveBook, key: EndpointKey) -> tuple[str, str]:
    """(state, reason) of one endpoint."""
    own = book.override(key)
    mine = own[0] if own else "auto"
    region = book.override(key[:2])
    probes = probe_text(book, key)
    breaker = book.breaker(key)
    if book.endpoint(key).down:
        return "down", "zone file: down: true"
    if mine == "force-down":
        return "down", "override force-down"
    if book.is_down(key):
        return "down", probes
    probe_down = breaker is not None and not breaker.up
    if mine == "force-up":
        reason = "override force-up" + (f" (probes say down: {probes})" if probe_down else "")
    elif probe_down and region is not None and region[0] == "force-up":
        reason = f"region override force-up (probes say down: {probes})"
    else:
        reason = probes
    if mine == "drain":
        return "drained", f"override drain; {reason}"
    return "up", reason


def region_view(book: LiveBook, key: RegionKey) -> tuple[str, str]:
    """(state, reason) of one region, by the policy's rules."""
    region = book.region(key)
    own = book.override(key)
    mine = own[0] if own else "auto"
    if region.down:
        return "down", "zone file: down: true"
    if mine == "force-down":
        return "down", "override force-down"
    serving = [region.endpoint_key(e) for e in region.endpoints if not e.down]
    if not serving:
        return "down", "every endpoint is down in the zone file"
    down = [k for k in serving if book.is_down(k)]
    up = len(serving) - len(down)
    count = f"{up} of {len(serving)} endpoints up"
    details = "; ".join(f"{k[2]}: {endpoint_view(book, k)[1]}" for k in down[:DETAILS])
    if len(down) > DETAILS:
        details += f"; +{len(down) - DETAILS} more"
    if up < region.min_up:
        return "down", f"{count}, min-up {region.min_up}; {details}"
    if mine == "drain":
        return "drained", "override drain"
    drained = [k for k in serving if k not in down and _drained(book, k)]
    if len(drained) == up:
        return "drained", "every endpoint that is up is drained"
    if down:
        return "degraded", f"{count}; {details}"
    return "up", "override force-up" if mine == "force-up" else count


def _drained(book: LiveBook, key: EndpointKey) -> bool:
    own = book.override(key)
    return own is not None and own[0] == "drain"


def _last(book: LiveBook, key: EndpointKey) -> dict[str, Any] | None:
    breaker = book.breaker(key)
    if breaker is None or breaker.last is None:
        return None
    r = breaker.last
    return {
        "ok": r.ok,
        "latency_ms": round(r.latency * 1000, 1),
        "error": r.error,
        "at": r.at,
        "status": r.status,
        "load": r.load,
        "note": r.note,
    }


def status_of(book: LiveBook, now: float) -> dict[str, Any]:
    """Every region with its endpoints, in zone and declaration order (JSON-able)."""
    targets = {k: t.id for t in book.probe_targets() for k in t.endpoints}
    regions = []
    for region in book.regions():
        rkey = region.key
        state, reason = region_view(book, rkey)
        override = book.override(rkey)
        load = book.load(rkey, now)
        endpoints = []
        for ep in region.endpoints:
            key = region.endpoint_key(ep)
            estate, ereason = endpoint_view(book, key)
            eoverride = book.override(key)
            endpoints.append(
                {
                    "address": ep.text,
                    "state": estate,
                    "since": book.shown(key)[1],
                    "reason": ereason,
                    "override": eoverride[0] if eoverride else None,
                    "probe": targets.get(key),
                    "last": _last(book, key),
                }
            )
        regions.append(
            {
                "zone": rkey[0],
                "name": rkey[1],
                "state": state,
                "since": book.shown(rkey)[1],
                "reason": reason,
                "override": override[0] if override else None,
                "load": None if load is None else round(load.value, 3),
                "load_source": None if load is None else load.source,
                "load_age": None if load is None else round(load.age, 1),
                "load_stale": load is not None and load.stale,
                "min_up": region.min_up,
                "endpoints": endpoints,
            }
        )
    return {
        "at": now,
        "load_smoothing": LOAD_ALPHA,
        "load_stale_intervals": STALE_INTERVALS,
        "push_max_age": book.push_max_age,
        "regions": regions,
    }


def country_map(
    zones: Sequence[Zone], tables: Mapping[str, NameTable], state: LiveState, name: str | None
) -> dict[str, Any]:
    """Which region answers each country right now, for the status page: a client at the
    country's centroid, decided with the server's own tables and live steps (an IPv4
    client network, so a partial spill shows as all or nothing). An unknown ``name``
    falls back to the first GSLB name, which the reply names."""
    names = sorted(tables)
    if not names:
        return {"name": None, "names": [], "regions": [], "countries": {}}
    chosen = name if name is not None and name in tables else names[0]
    if name and not name.endswith(".") and f"{name}." in tables:
        chosen = f"{name}."
    table = tables[chosen]
    gslb = next(z.gslb[chosen] for z in zones if chosen in z.gslb)
    decider = Decider(state)
    countries: dict[str, dict[str, Any]] = {}
    for cc, (lat, lon) in sorted(CENTROIDS.items()):
        location = Location(cc, COUNTRY_CONTINENT.get(cc), None, lat, lon)
        decision = decider.decide(gslb, table.for_location(location), 4, 4, 0)
        countries[cc] = {
            "region": decision.regions[0] if decision.regions else None,
            "outcome": decision.outcome,
        }
    regions = []
    for r in gslb.regions:
        live = decider.region(r)
        shown = "up" if live.up else "drained" if live.drained else "down"
        regions.append({"name": r.name, "zone": r.zone, "lat": r.lat, "lon": r.lon,
                        "state": shown})  # fmt: skip
    return {"name": chosen, "names": names, "regions": regions, "countries": countries}
