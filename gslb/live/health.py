"""Endpoint health as a circuit breaker with hysteresis, folded into the policy's Status.

Pure: no probes, no clock. The prober (a later, edge module) probes every endpoint on its
interval, *including endpoints that are down* (that is how they come back), feeds each
result here with the time it observed it, and publishes ``snapshot(...)`` with one
assignment. Hysteresis (``fall`` failures to go down, ``rise`` successes to come back)
keeps one lost packet from moving traffic and a flapping endpoint from attracting it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from gslb.model import EndpointKey, GslbName, LiveState, RegionKey

#: Operator override: follow the probes, or force the state whatever they say.
Override = Literal["auto", "up", "down"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Consecutive results needed to change state (gdnsd's defaults are 10 down / 20 up)."""

    fall: int = 3  # failures that take an up endpoint down
    rise: int = 2  # successes that bring a down endpoint back

    def __post_init__(self) -> None:
        if self.fall < 1 or self.rise < 1:
            raise ValueError(f"fall and rise must be >= 1, got {self.fall}/{self.rise}")


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    """One endpoint's breaker: its state, progress towards flipping it, and since when."""

    up: bool = True
    streak: int = 0  # consecutive results that disagree with ``up`` so far
    since: float = 0.0  # the caller's clock when ``up`` last changed


def initial(now: float, up: bool = True) -> EndpointHealth:
    """A new endpoint. Up by default, so a restart or reload does not drop all traffic
    before the first probes complete; pass ``up=False`` to require ``rise`` successes."""
    return EndpointHealth(up, 0, now)


def advance(state: EndpointHealth, ok: bool, thresholds: Thresholds, now: float) -> EndpointHealth:
    """The breaker after one probe result observed at ``now``."""
    if ok == state.up:
        return state if state.streak == 0 else EndpointHealth(state.up, 0, state.since)
    streak = state.streak + 1
    if streak >= (thresholds.fall if state.up else thresholds.rise):
        return EndpointHealth(not state.up, 0, now)
    return EndpointHealth(state.up, streak, state.since)


def _get(
    table: Mapping[EndpointKey, EndpointHealth], key: EndpointKey, default: EndpointHealth
) -> EndpointHealth:
    found = table.get(key)
    return default if found is None else found


def endpoint_keys(names: Iterable[GslbName]) -> frozenset[EndpointKey]:
    """Every endpoint the policy may answer with, keyed as ``Status`` keys them."""
    return frozenset(r.endpoint_key(e) for n in names for r in n.regions for e in r.endpoints)


def reconcile(
    table: Mapping[EndpointKey, EndpointHealth], keys: Iterable[EndpointKey], now: float
) -> dict[EndpointKey, EndpointHealth]:
    """The table for a (re)loaded config: surviving endpoints keep their state, new ones
    start ``initial``, removed ones are forgotten. Returns a new table."""
    fresh = initial(now)
    return {k: _get(table, k, fresh) for k in keys}


def record(
    table: Mapping[EndpointKey, EndpointHealth],
    results: Mapping[EndpointKey, bool],
    thresholds: Thresholds,
    now: float,
) -> dict[EndpointKey, EndpointHealth]:
    """A new table with one round of probe results applied (unknown keys start up)."""
    out = dict(table)
    fresh = initial(now)
    for key, ok in results.items():
        out[key] = advance(_get(out, key, fresh), ok, thresholds, now)
    return out


def snapshot(
    endpoints: Mapping[EndpointKey, EndpointHealth],
    load: Mapping[RegionKey, float] | None = None,
    *,
    regions: Mapping[RegionKey, Override] | None = None,
    overrides: Mapping[EndpointKey, Override] | None = None,
) -> LiveState:
    """Fold breaker states, load and operator overrides into the state the policy reads.

    Region ``down`` marks the region down; region ``up`` ignores its endpoints' probes.
    Endpoint overrides force one endpoint. Load values are clamped to >= 0 and NaN is
    dropped (treated as unknown, i.e. 0). Config-level ``down`` flags stay in the model,
    where the policy reads them.
    """
    regions = regions or {}
    overrides = overrides or {}
    forced_up_regions = {r for r, o in regions.items() if o == "up"}
    down = {k for k, h in endpoints.items() if not h.up and k[:2] not in forced_up_regions}
    for key, o in overrides.items():
        if o == "down":
            down.add(key)
        elif o == "up":
            down.discard(key)
    loads = {r: max(0.0, v) for r, v in (load or {}).items() if not math.isnan(v)}
    return LiveState(
        down_regions=frozenset(r for r, o in regions.items() if o == "down"),
        down_endpoints=frozenset(down),
        load=MappingProxyType(loads),
    )
