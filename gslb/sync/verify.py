"""``gslb sync --verify``: how Route 53 would answer the planned records, next to gslb.

For a seeded sample of located client addresses on every continent (drawn from the
geo database), with every region healthy and then with each region down in turn, the
planned records are resolved as Route 53 resolves them (:class:`Simulator`:
geolocation match from the most specific record, aliases followed, latency
approximated by great-circle distance from the client to each AWS region,
:data:`~gslb.sync.awsregions.AWS_REGIONS`; failover primary while healthy; a group
whose records are all unhealthy answered as if all were healthy). gslb's own answer for
the same client comes from the server's one decision path
(:func:`gslb.dns.routing.decide` over a :class:`~gslb.dns.view.View`). Every
disagreement is kept with its cause; a fenced client answered outside its fence is a
*leak*, which the record structure must never allow.

Health is simulated per region: a region that is down makes its records unhealthy,
as if each had a health check (the report lists regions that have none yet, which
Route 53 would keep answering).
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any, Final

from gslb.dns.routing import Route, decide
from gslb.dns.view import ConfigView, View
from gslb.geo.distance import haversine_km
from gslb.geo.locator import Locator
from gslb.model import GslbName, IPAddress, LiveState, Location, Lookup, Zone
from gslb.policy.classes import classify
from gslb.sync.awsregions import AWS_REGIONS
from gslb.sync.desired import FAMILIES, Desired
from gslb.sync.records import RecordSet

__all__ = ["Report", "Sample", "Simulator", "sample_clients", "verify"]

CONTINENTS: Final = ("AF", "AS", "EU", "NA", "OC", "SA")
HEALTHY: Final = "all healthy"
ALL_DOWN: Final = "all down"


@dataclass(frozen=True, slots=True)
class Sample:
    address: IPAddress
    location: Location


def sample_clients(
    lookup: Callable[[IPAddress], Lookup],
    *,
    per_continent: int = 50,
    countries: Iterable[str] = (),
    seed: int = 1,
    budget: int = 200_000,
) -> tuple[Sample, ...]:
    """Random located IPv4 clients: ``per_continent`` on each inhabited continent, and at
    least one in each of ``countries`` (those fences and rules name) within ``budget``."""
    rng = random.Random(seed)
    want = Counter({c: per_continent for c in CONTINENTS})
    want_country = Counter({c: 1 for c in countries})
    seen: set[int] = set()
    out: list[Sample] = []
    for _ in range(budget):
        if not +want and not +want_country:
            break
        value = rng.getrandbits(32)
        if value in seen:
            continue
        seen.add(value)
        address = IPv4Address(value)
        loc = lookup(address).location
        if loc is None or not loc.has_coordinates or loc.country is None:
            continue
        taken = False
        for counter, key in ((want, loc.continent), (want_country, loc.country)):
            if key is not None and counter[key] > 0:
                counter[key] -= 1
                taken = True
        if taken:
            out.append(Sample(address, loc))
    return tuple(
        sorted(
            out,
            key=lambda s: (s.location.continent or "", s.location.country or "", int(s.address)),
        )
    )


class Simulator:
    """Route 53's answer from a set of record sets, region health given per scenario."""

    def __init__(
        self, records: Iterable[RecordSet], fallback: Callable[[str], tuple[float, float]]
    ):
        self.sets: dict[tuple[str, str], list[RecordSet]] = defaultdict(list)
        for r in records:
            self.sets[(r.name, r.rtype)].append(r)
        self.fallback = fallback

    def healthy(self, record: RecordSet, down: frozenset[str]) -> bool:
        if record.alias is not None:
            return not record.evaluate or self.group_healthy(record.alias, record.rtype, down)
        return record.origin not in down

    def group_healthy(self, name: str, rtype: str, down: frozenset[str]) -> bool:
        return any(self.healthy(r, down) for r in self.sets.get((name, rtype), ()))

    def answer(
        self, name: str, rtype: str, loc: Location, down: frozenset[str]
    ) -> RecordSet | None:
        """The record whose values Route 53 would answer with (None: no answer)."""
        group = self.sets.get((name, rtype))
        if not group:
            return None
        routing = group[0].routing
        if routing == "geolocation":
            found = self._geolocation(group, loc, down)
        elif routing == "latency":
            healthy = [r for r in group if self.healthy(r, down)] or group
            found = min(healthy, key=lambda r: self._distance(loc, r))
        elif routing == "failover":
            primary = next((r for r in group if r.failover == "PRIMARY"), None)
            secondary = next((r for r in group if r.failover == "SECONDARY"), None)
            if primary is not None and self.healthy(primary, down):
                found = primary
            elif secondary is not None and self.healthy(secondary, down):
                found = secondary
            else:
                found = primary or secondary
        else:
            found = group[0]
        if found is None or found.alias is None:
            return found
        return self.answer(found.alias, rtype, loc, down)

    def _geolocation(
        self, group: list[RecordSet], loc: Location, down: frozenset[str]
    ) -> RecordSet | None:
        wanted = [
            ("subdivision", loc.subdivision),
            ("country", loc.country),
            ("continent", loc.continent),
            ("default", "*"),
        ]
        matches = [r for kind, code in wanted for r in group if code and r.geo == (kind, code)]
        for r in matches:  # a less specific record only when the more specific is unhealthy
            if self.healthy(r, down):
                return r
        return matches[0] if matches else None

    def _distance(self, loc: Location, record: RecordSet) -> float:
        assert loc.lat is not None and loc.lon is not None
        region = record.region or ""
        lat, lon = AWS_REGIONS[region] if region in AWS_REGIONS else self.fallback(record.origin)
        return haversine_km(loc.lat, loc.lon, lat, lon)


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    scenario: str
    total: int
    agree: int
    leaks: int


@dataclass(frozen=True, slots=True)
class Disagreement:
    name: str
    scenario: str
    rtype: str
    address: str
    where: str
    gslb: str
    route53: str
    cause: str


@dataclass(frozen=True, slots=True)
class Report:
    samples: tuple[Sample, ...]
    outcomes: tuple[Outcome, ...]
    disagreements: tuple[Disagreement, ...]
    unchecked: tuple[str, ...]  # regions Route 53 would have no health check for
    unknown_regions: tuple[str, ...]  # aws-regions without coordinates here
    missing: tuple[str, ...] = ()  # countries fences or rules name that no sample is in

    @property
    def leaks(self) -> int:
        return sum(o.leaks for o in self.outcomes)

    def by_cause(self) -> dict[str, list[Disagreement]]:
        out: dict[str, list[Disagreement]] = defaultdict(list)
        for d in self.disagreements:
            out[d.cause].append(d)
        return dict(sorted(out.items(), key=lambda kv: (-len(kv[1]), kv[0])))

    def continents(self) -> dict[str, int]:
        return dict(sorted(Counter(s.location.continent or "?" for s in self.samples).items()))

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": len(self.samples),
            "continents": self.continents(),
            "scenarios": [
                {
                    "name": o.name,
                    "scenario": o.scenario,
                    "total": o.total,
                    "agree": o.agree,
                    "leaks": o.leaks,
                }
                for o in self.outcomes
            ],
            "leaks": self.leaks,
            "disagreements": {
                cause: [vars_of(d) for d in items] for cause, items in self.by_cause().items()
            },
            "regions_without_health_check": list(self.unchecked),
            "aws_regions_without_coordinates": list(self.unknown_regions),
            "countries_not_sampled": list(self.missing),
        }


def vars_of(d: Disagreement) -> dict[str, str]:
    return {k: getattr(d, k) for k in Disagreement.__slots__}


def _cause(
    name: GslbName,
    sample: Sample,
    decision_outcome: str,
    ours: str,
    theirs: RecordSet | None,
    down: frozenset[str],
) -> str:
    geo_cls = classify(name, sample.location, None)
    if classify(name, sample.location, sample.address).key != geo_cls.key:
        return "CIDR match not expressible"
    scope = {r.name for r in geo_cls.scope}
    all_down = bool(scope) and scope <= down
    if decision_outcome in ("nodata", "servfail") and all_down and geo_cls.all_down != "fail-open":
        return f"all-down {geo_cls.all_down} not expressible"
    if decision_outcome == "nodata":
        return "A and AAAA from one region (gslb NODATA)"
    if theirs is None:
        return "no Route 53 answer"
    if all_down:
        return "all down: fail-open order (nearest vs lowest latency)"
    return "latency ≠ nearest"


def _located(zone: Zone) -> Callable[[str], tuple[float, float]]:
    """Where a gslb region is: for AWS regions missing from the table."""
    places = {r.name: (r.lat, r.lon) for r in zone.regions.values()}
    return lambda origin: places.get(origin, (0.0, 0.0))


def verify(
    zones: Sequence[Zone],
    desired: Sequence[Desired],
    locator: Locator,
    samples: Sequence[Sample],
    countries: Iterable[str] = (),
) -> Report:
    """Route 53 (simulated from ``desired``) against gslb, for every sample and scenario."""
    config = ConfigView(zones, locator)
    by_origin = {z.origin: z for z in zones}
    outcomes: list[Outcome] = []
    disagreements: list[Disagreement] = []
    unchecked: set[str] = set()
    unknown: set[str] = set()
    for want in desired:
        zone = by_origin[want.zone]
        unchecked |= {
            w.subject for w in want.warnings if w.code == "no-health-check" and "/" not in w.subject
        }
        unknown |= {r.region for r in want.records if r.region and r.region not in AWS_REGIONS}
        sim = Simulator(want.records, _located(zone))
        compiled = config.zones[zone.origin]
        for owner in sorted(want.names):
            name = zone.gslb[owner]
            answered = {r.origin for r in want.records if r.origin and r.name.endswith("." + owner)}
            scenarios = [(HEALTHY, frozenset[str]())]
            scenarios += [
                (f"{r.name} down", frozenset({r.name})) for r in name.regions if r.name in answered
            ]
            scenarios.append((ALL_DOWN, frozenset(answered)))
            routes = {
                family: Route(name, owner, (), family, compiled.negative, config.tables[owner])
                for family, _ in FAMILIES
            }
            for label, down in scenarios:
                view = View(
                    config, LiveState(down_regions=frozenset((zone.origin, r) for r in down))
                )
                total = agree = leaks = 0
                for sample in samples:
                    fence = classify(name, sample.location, None)
                    scope = {r.name for r in fence.scope}
                    for family, rtype in FAMILIES:
                        if not sim.sets.get((owner, rtype)):
                            continue
                        decision, _ = decide(view, routes[family], 4, int(sample.address), 0)
                        ours = (
                            decision.regions[0]
                            if decision.outcome == "answer"
                            else decision.outcome
                        )
                        theirs = sim.answer(owner, rtype, sample.location, down)
                        said = theirs.origin if theirs is not None else "nodata"
                        total += 1
                        leak = theirs is not None and bool(fence.fences) and said not in scope
                        leaks += leak
                        if said == ours and not leak:
                            agree += 1
                            continue
                        cause = (
                            "fence leak"
                            if leak
                            else _cause(name, sample, decision.outcome, ours, theirs, down)
                        )
                        loc = sample.location
                        disagreements.append(
                            Disagreement(
                                owner,
                                label,
                                rtype,
                                str(sample.address),
                                f"{loc.country}/{loc.continent}",
                                ours,
                                said,
                                cause,
                            )  # fmt: skip
                        )
                outcomes.append(Outcome(owner, label, total, agree, leaks))
    return Report(
        tuple(samples),
        tuple(outcomes),
        tuple(disagreements),
        tuple(sorted(unchecked)),
        tuple(sorted(unknown)),
    )
