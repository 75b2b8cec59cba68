"""The live book: the one mutable owner of health, load and overrides.

Used from one asyncio thread (no locks), and free of I/O: the prober reports results,
the API and CLI set overrides and push load, a reload reconciles, and each of those
returns the :class:`Event` list that says what changed (one log line each). The
runtime publishes :meth:`LiveBook.snapshot` (equal inputs give an equal
:class:`~gslb.model.LiveState`, so publishing an unchanged state is free) and serves
:meth:`LiveBook.status`.

Precedence, most specific first, as the policy reads the snapshot:

* an endpoint ``down: true`` in the zone file is down, whatever else is said;
* endpoint ``force-down`` puts it in ``down_endpoints``; endpoint ``force-up``, or its
  region's ``force-up``, keeps it out whatever the probes say; otherwise the breaker
  decides;
* region ``force-down`` puts the region in ``down_regions``; ``drain`` (region or
  endpoint) puts it in ``drained_*``: still probed, no new answers;
* load: a fresh pushed value (operator, autoscaler) wins over probe-reported load
  while it is fresh: it is a deliberate statement, and alternating between two
  sources by age would make spill flap. Else the mean of the fresh probe readings of
  the region's endpoints that are up. Else unknown (left out: no spill).

Staleness moves with time alone: call :meth:`tick` (and then :meth:`snapshot`) about
once a second as well as after changes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any, Literal

from gslb.live import statefile
from gslb.live.health import (
    OVERRIDES,
    PUSH_MAX_AGE,
    STALE_INTERVALS,
    Breaker,
    Cause,
    Event,
    Key,
    Override,
    ProbeResult,
    ProbeTarget,
    Reading,
    check_load,
    key_text,
    probe_spec,
    smooth,
    target_id,
)
from gslb.live.status import Load, endpoint_view, region_view, status_of
from gslb.model import Endpoint, EndpointKey, HealthCheck, LiveState, Region, RegionKey, Zone

__all__ = ["Event", "Key", "LiveBook", "ProbeTarget", "key_text"]


class LiveBook:
    """Health, load and overrides of every endpoint of every region of ``zones``."""

    def __init__(
        self, zones: Iterable[Zone], now: float, *, push_max_age: float = PUSH_MAX_AGE
    ) -> None:
        self.push_max_age = push_max_age
        self._regions: dict[RegionKey, Region] = {}
        self._endpoints: dict[EndpointKey, Endpoint] = {}
        self._breakers: dict[EndpointKey, Breaker] = {}
        self._loads: dict[EndpointKey, Reading] = {}
        self._pushed: dict[RegionKey, Reading] = {}
        self._overrides: dict[Key, tuple[Override, float]] = {}
        self._targets: dict[str, ProbeTarget] = {}
        self._shown: dict[Key, tuple[str, float]] = {}  # state and since, as last reported
        self._load_shown: dict[RegionKey, tuple[str, str]] = {}  # as last reported
        self._reconcile(zones, now, quiet=True)  # the starting point, not a change

    # ------------------------------------------------------------------ configuration

    def reconcile(self, zones: Iterable[Zone], now: float) -> list[Event]:
        """Take a (re)loaded config: endpoints that still exist keep their breaker, load
        and overrides; new ones start from ``assume``; removed ones are forgotten."""
        return self._reconcile(zones, now, quiet=False)

    def _reconcile(self, zones: Iterable[Zone], now: float, quiet: bool) -> list[Event]:
        before = set(self._regions) | set(self._endpoints)
        self._regions = {r.key: r for z in zones for r in z.regions.values()}
        self._endpoints = {
            r.endpoint_key(e): e for r in self._regions.values() for e in r.endpoints
        }
        self._breakers = {
            key: self._breakers.get(key) or Breaker.initial(ep.health.assume, now)
            for key, ep in self._endpoints.items()
            if ep.health is not None
        }
        self._loads = {k: r for k, r in self._loads.items() if k in self._breakers}
        events: list[Event] = []
        for rkey in [k for k in self._pushed if k not in self._regions]:
            was = f"{self._pushed.pop(rkey).value:.2f} (pushed)"
            events.append(Event(rkey, "load", was, "-", "reload", "region removed", now))
        self._load_shown = {k: v for k, v in self._load_shown.items() if k in self._regions}
        for key in [k for k in self._overrides if not self._known(k)]:
            state, _ = self._overrides.pop(key)
            why = "no longer in the zones"
            events.append(Event(key, "override", state, "auto", "reload", why, now))
        targets: dict[str, list[EndpointKey]] = {}
        specs: dict[str, HealthCheck] = {}
        for key, ep in self._endpoints.items():
            if ep.health is not None:
                spec = probe_spec(ep.health, ep)
                tid = target_id(spec)
                specs[tid] = spec
                targets.setdefault(tid, []).append(key)
        self._targets = {t: ProbeTarget(t, specs[t], tuple(keys)) for t, keys in targets.items()}
        everything = before | set(self._regions) | set(self._endpoints)
        events += self._refresh(everything, "reload", now, quiet)
        events += self._load_events(self._regions, now, "reload")
        return [] if quiet else events

    def probe_targets(self) -> list[ProbeTarget]:
        """Every distinct probe, sorted by id; a region-level ``target`` is one probe for
        all its endpoints, and equal probes anywhere in the zones are made once."""
        return [self._targets[t] for t in sorted(self._targets)]

    def resolve_key(self, region: str, endpoint: str | None = None, zone: str | None = None) -> Key:
        """The key for a region name (and endpoint address) as an operator writes it.
        KeyError (with a message) when unknown, or ambiguous across zones. The zone may
        be written with or without its trailing dot, in any case."""
        if zone is not None:
            zone = zone.lower().rstrip(".") + "."
        found = [k for k in self._regions if k[1] == region and zone in (None, k[0])]
        if not found:
            raise KeyError(f"no region '{region}'" + (f" in zone {zone}" if zone else ""))
        if len(found) > 1:
            zones = ", ".join(k[0] for k in sorted(found))
            raise KeyError(f"region '{region}' is in several zones ({zones}): name the zone")
        if endpoint is None:
            return found[0]
        try:
            text = str(ipaddress.ip_address(endpoint))
        except ValueError:
            raise KeyError(f"'{endpoint}' is not an IP address") from None
        key = (*found[0], text)
        if key not in self._endpoints:
            raise KeyError(f"region '{region}' has no endpoint {text}")
        return key

    # ------------------------------------------------------------------ changes

    def record(self, target: str, result: ProbeResult, now: float) -> list[Event]:
        """Apply one probe result to every endpoint behind ``target``. A result for a
        target that a reload removed (a probe in flight) is ignored."""
        probe = self._targets.get(target)
        if probe is None:
            return []
        for key in probe.endpoints:
            check = self._endpoints[key].health
            assert check is not None
            self._breakers[key] = self._breakers[key].advance(result, check.fall, check.rise, now)
            if result.ok and result.load is not None:
                max_age = STALE_INTERVALS * check.interval
                self._loads[key] = smooth(self._loads.get(key), result.load, now, max_age)
        regions = {key[:2] for key in probe.endpoints}
        return self._refresh({*probe.endpoints, *regions}, "probe", now) + self._load_events(
            regions, now, "probe"
        )

    def push_load(self, region: RegionKey, value: float, now: float) -> list[Event]:
        """A load reading 0..1 for ``region`` from an operator or autoscaler (smoothed
        like probe readings; stale after ``push_max_age``). ValueError for a value out
        of range, KeyError for an unknown region."""
        value = check_load(value)
        if region not in self._regions:
            raise KeyError(f"no region {key_text(region)}")
        new = smooth(self._pushed.get(region), value, now, self.push_max_age)
        why = f"pushed {value:.2f}" + (f", smoothed {new.value:.2f}" if new.value != value else "")
        return self._push(region, new, why, now)

    def clear_load(self, region: RegionKey, now: float) -> list[Event]:
        """Forget the pushed load of ``region`` (back to probe-reported load, if any)."""
        if region not in self._regions:
            raise KeyError(f"no region {key_text(region)}")
        if region not in self._pushed:
            return []
        return self._push(region, None, "pushed load cleared", now)

    def _push(
        self, region: RegionKey, reading: Reading | None, why: str, now: float
    ) -> list[Event]:
        before = self._load_text(region, now)[1]
        if reading is None:
            del self._pushed[region]
        else:
            self._pushed[region] = reading
        self._load_shown[region] = source, after = self._load_text(region, now)
        return [Event(region, "load", before, after, "load", why, now)]

    def set_override(self, key: Key, state: str, now: float) -> list[Event]:
        """Set ``drain``, ``force-up`` or ``force-down`` on a region or endpoint key, or
        clear it with ``auto``. KeyError for an unknown key, ValueError for a state."""
        if state not in OVERRIDES:
            raise ValueError(f"override must be one of {', '.join(OVERRIDES)}, not '{state}'")
        if not self._known(key):
            raise KeyError(f"no region or endpoint {key_text(key)}")
        old = self._overrides.get(key, ("auto", now))[0]
        if old == state:
            return []
        if state == "auto":
            del self._overrides[key]
        else:
            self._overrides[key] = (state, now)  # type: ignore[assignment]
        why = "cleared by the operator" if state == "auto" else "set by the operator"
        events = [Event(key, "override", old, state, "override", why, now)]
        touched: set[Key] = self._family(key[:2]) if len(key) == 2 else {key, key[:2]}
        return events + self._refresh(touched, "override", now)

    def tick(self, now: float) -> list[Event]:
        """Load readings that went stale with time (one event per region)."""
        return self._load_events(self._regions, now, "load")

    # ------------------------------------------------------------------ reading

    def snapshot(self, now: float) -> LiveState:
        """What the policy reads. Loads are rounded to 0.001 so that noise in the last
        digits does not publish a new state (and empty the answer caches)."""
        down = frozenset(k for k, ep in self._endpoints.items() if not ep.down and self.is_down(k))
        by_state: dict[str, set[Key]] = {"drain": set(), "force-down": set()}
        for key, (state, _) in self._overrides.items():
            if state in by_state:
                by_state[state].add(key)
        loads = {}
        for rkey in self._regions:
            load = self.load(rkey, now)
            if load is not None and not load.stale:
                loads[rkey] = round(load.value, 3)
        return LiveState(
            down_regions=frozenset(k for k in by_state["force-down"] if len(k) == 2),
            down_endpoints=down,
            drained_regions=frozenset(k for k in by_state["drain"] if len(k) == 2),
            drained_endpoints=frozenset(k for k in by_state["drain"] if len(k) == 3),
            load=MappingProxyType(loads),
        )

    def status(self, now: float) -> dict[str, Any]:
        """JSON-able status for ``/api/v1/status`` (see :mod:`gslb.live.status`)."""
        return status_of(self, now)

    def override(self, key: Key) -> tuple[Override, float] | None:
        """The override of ``key`` and since when, or None (auto)."""
        return self._overrides.get(key)

    def breaker(self, key: EndpointKey) -> Breaker | None:
        """The probe verdict of an endpoint; None when it has no health check."""
        return self._breakers.get(key)

    def shown(self, key: Key) -> tuple[str, float]:
        """The state last reported for ``key`` and since when."""
        return self._shown[key]

    def regions(self) -> list[Region]:
        """Every region, in zone and declaration order."""
        return list(self._regions.values())

    def region(self, key: RegionKey) -> Region:
        return self._regions[key]

    def endpoint(self, key: EndpointKey) -> Endpoint:
        return self._endpoints[key]

    def is_down(self, key: EndpointKey) -> bool:
        """Whether the endpoint is in ``down_endpoints`` (config ``down`` aside)."""
        own = self._overrides.get(key, ("auto",))[0]
        if own == "force-down":
            return True
        if own == "force-up" or self._overrides.get(key[:2], ("auto",))[0] == "force-up":
            return False
        breaker = self._breakers.get(key)
        return breaker is not None and not breaker.up

    def load(self, region: RegionKey, now: float) -> Load | None:
        """The region's load as the policy would use it, or the latest unusable one
        (``stale``: too old, or only from endpoints that are down); None if never."""
        pushed = self._pushed.get(region)
        if pushed is not None and pushed.fresh(now, self.push_max_age):
            return Load(pushed.value, "pushed", pushed.age(now), False)
        used: list[Reading] = []
        latest: tuple[Reading, Literal["pushed", "probes"]] | None = None
        if pushed is not None:
            latest = (pushed, "pushed")
        r = self._regions[region]
        for ep in r.endpoints:
            key = r.endpoint_key(ep)
            reading = self._loads.get(key)
            if reading is None:
                continue
            if latest is None or reading.at > latest[0].at:
                latest = (reading, "probes")
            check = ep.health
            assert check is not None
            fresh = reading.fresh(now, STALE_INTERVALS * check.interval)
            if fresh and not ep.down and not self.is_down(key):
                used.append(reading)
        if used:
            mean = sum(x.value for x in used) / len(used)
            return Load(mean, "probes", max(x.age(now) for x in used), False)
        if latest is None:
            return None
        return Load(latest[0].value, latest[1], latest[0].age(now), True)

    # ------------------------------------------------------------------ persistence

    def to_dict(self) -> dict[str, Any]:
        """Overrides and pushed load, for the state file (JSON-able)."""
        return statefile.encode(self._overrides, self._pushed)

    def load_dict(self, data: object, now: float) -> list[str]:
        """Restore what :meth:`to_dict` saved (at start, before probing). Whatever
        cannot be used (a region that is gone, a bad value) is skipped and described;
        never raises. Restored state is no event: it is where the book starts."""
        saved = statefile.decode(data)
        problems = saved.problems
        for key, state, since in saved.overrides:
            if self._known(key):
                self._overrides[key] = (state, since)
            else:
                what = "no such region or endpoint"
                problems.append(f"state file: override {key_text(key)}: {what}")
        for rkey, reading in saved.load:
            if rkey in self._regions:
                self._pushed[rkey] = reading
            else:
                problems.append(f"state file: load {key_text(rkey)}: no such region")
        self._refresh(set(self._regions) | set(self._endpoints), "override", now, quiet=True)
        self._load_events(self._regions, now, "load")
        return problems

    # ------------------------------------------------------------------ internals

    def _known(self, key: Key) -> bool:
        return key in self._regions or key in self._endpoints

    def _family(self, region: RegionKey) -> set[Key]:
        r = self._regions[region]
        return {region, *(r.endpoint_key(e) for e in r.endpoints)}

    def _refresh(
        self, keys: Iterable[Key], cause: Cause, now: float, quiet: bool = False
    ) -> list[Event]:
        """Recompute the state of ``keys`` (endpoints first: regions depend on them);
        every change becomes an event and restarts ``since``."""
        events: list[Event] = []
        for key in sorted(keys, key=lambda k: (-len(k), k)):
            if key in self._endpoints:
                view: tuple[str, str] | None = endpoint_view(self, key)
            elif key in self._regions:
                view = region_view(self, key)
            else:
                view = None
            old = self._shown.get(key)
            new_state = view[0] if view else "-"
            old_state = old[0] if old else "-"
            if new_state == old_state:
                continue
            why = view[1] if view else "no longer in the zones"
            if view is None:
                del self._shown[key]
            else:
                self._shown[key] = (new_state, now)
            if not quiet:
                events.append(Event(key, "state", old_state, new_state, cause, why, now))
        return events

    def _load_text(self, region: RegionKey, now: float) -> tuple[str, str]:
        """(source or ``-``, ``0.42 (probes)`` or ``unknown``) of the usable load."""
        load = self.load(region, now)
        if load is None or load.stale:
            return "-", "unknown"
        return load.source, f"{load.value:.2f} ({load.source})"

    def _load_events(self, regions: Iterable[RegionKey], now: float, cause: Cause) -> list[Event]:
        """Regions whose usable load appeared, went stale or changed source (a reading
        that only moves the value is no event: it would be a line per probe)."""
        events: list[Event] = []
        for rkey in sorted(regions):
            source, text = self._load_text(rkey, now)
            old_source, old_text = self._load_shown.get(rkey, ("-", "unknown"))
            if source == old_source:
                continue
            self._load_shown[rkey] = (source, text)
            if source != "-":
                why = f"{'pushed' if source == 'pushed' else 'probe-reported'} load is fresh"
            elif (load := self.load(rkey, now)) is not None:
                why = f"stale: latest reading {load.age:.0f} s old"
            else:
                why = "no reading"
            events.append(Event(rkey, "load", old_text, text, cause, why, now))
        return events
