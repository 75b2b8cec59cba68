"""A zone → the Route 53 record sets and health checks that express its policy. Pure.

For each GSLB name and family (A, AAAA), with ``N`` the name:

* the client classes come from the policy package itself
  (:func:`gslb.policy.classes.every_class`: no location, each continent, each country,
  each subdivision a fence or rule names), so fence and rule semantics are never
  written twice. A class without a rule answers from a **latency** set over its scope
  (``_gslb-all.N`` for unfenced clients, ``_gslb-<fence>.N`` for fenced ones): one record
  per region, ``Region`` = its ``aws-region``, its addresses of that family, the name's
  TTL, the region's health check. A class with a rule answers from a **failover** chain
  in the rule's order (``_gslb-rule1.N``, then ``_gslb-rule1-2.N``, ...): PRIMARY the
  first region, SECONDARY the next level (an alias that evaluates target health) or the
  last region.
* ``N`` holds **geolocation** aliases: ``*`` (default) → the unfenced set; every
  continent, country and supported subdivision whose class differs from the default (or,
  for a subdivision, from its country) → its class's set or chain. Country records are
  written even when a continent record would cover them, so a country Route 53 puts in
  another continent than the geo database does still gets its own class.
* The geolocation aliases never evaluate target health: when every region of a fenced
  set is unhealthy, Route 53 must not fall back to a less specific record (the default
  set, outside the fence); it answers from every record of the set instead, which is
  gslb's ``fail-open``.
* ``_gslb.N`` holds the TXT claim (see :mod:`gslb.sync.records`).

With ``static``, the zone's own records too (apex SOA and NS excepted), as plain record
sets claimed the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from gslb.geo.countries import COUNTRY_CONTINENT
from gslb.model import GslbName, Location, Region, Zone
from gslb.policy.classes import ClientClass, every_class
from gslb.sync.checks import region_checks
from gslb.sync.gaps import gaps
from gslb.sync.records import (
    CheckSpec,
    Notice,
    RecordSet,
    claim_name,
    helper_name,
    make_set_id,
    norm_values,
)

__all__ = ["Desired", "Options", "build", "subdivision_supported"]

#: Route 53 locates subdivisions of the United States only (SubdivisionCode, states and DC).
US_STATES: Final = frozenset(
    "AK AL AR AZ CA CO CT DC DE FL GA HI IA ID IL IN KS KY LA MA MD ME MI MN MO MS MT NC ND "
    "NE NH NJ NM NV NY OH OK OR PA RI SC SD TN TX UT VA VT WA WI WV WY".split()
)
FAMILIES: Final = ((4, "A"), (6, "AAAA"))
ClassKey = tuple[tuple[str, ...], int]


def subdivision_supported(code: str) -> bool:
    country, _, sub = code.partition("-")
    return country == "US" and sub in US_STATES


@dataclass(frozen=True, slots=True)
class Options:
    owner: str = "default"
    static: bool = False  # the zone's static records too
    skip_unmapped: bool = False  # regions without aws-region: warn and leave out


@dataclass(frozen=True, slots=True)
class Desired:
    """What one zone should look like in Route 53, and what could not be expressed."""

    zone: str
    owner: str
    static: bool
    records: tuple[RecordSet, ...]  # routed and (with static) plain record sets, sorted
    claims: Mapping[str, frozenset[str]]  # claimed name -> the plain types we write there
    checks: tuple[CheckSpec, ...]
    warnings: tuple[Notice, ...]
    errors: tuple[Notice, ...]
    names: frozenset[str] = field(default=frozenset())  # the GSLB names


@dataclass(frozen=True, slots=True)
class _Target:
    """Where one client class is answered from: a latency set or a failover chain."""

    label: str
    failover: bool
    regions: tuple[Region, ...]


class _Builder:
    def __init__(self, zone: Zone, options: Options) -> None:
        self.zone = zone
        self.options = options
        self.records: list[RecordSet] = []
        self.claims: dict[str, set[str]] = defaultdict(set)
        self.warnings: set[Notice] = set()
        self.errors: set[Notice] = set()
        self.checks: dict[str, CheckSpec] = {}
        self.region_check: dict[str, str | None] = {}
        #: classes by what they depend on: names with one policy share them
        self.classes: dict[tuple[object, ...], tuple[tuple[Location | None, ClientClass], ...]] = {}

    def warn(self, code: str, subject: str, message: str) -> None:
        self.warnings.add(Notice(code, subject, message))

    # ------------------------------------------------------------------ regions

    def usable(self, name: GslbName) -> dict[str, Region]:
        out: dict[str, Region] = {}
        for r in name.regions:
            if r.aws_region is None:
                why = (
                    f"region {r.name} has no aws-region, so Route 53 latency records cannot name it"
                )
                if self.options.skip_unmapped:
                    self.warn("unmapped", r.name, why + ": left out (--skip-unmapped)")
                else:
                    self.errors.add(
                        Notice(
                            "unmapped", r.name, why + ": add `aws-region:` or pass --skip-unmapped"
                        )
                    )
                continue
            if r.down:
                self.warn("region-down", r.name, "administratively down: left out of Route 53")
                continue
            if r.name not in self.region_check:
                key, specs, notes = region_checks(self.zone.origin, r)
                self.region_check[r.name] = key
                self.checks.update((s.key, s) for s in specs)
                self.warnings.update(notes)
            out[r.name] = r
        return out

    # ------------------------------------------------------------------ one name

    def target(self, name: GslbName, cls: ClientClass, usable: Mapping[str, Region]) -> _Target:
        fences = "-and-".join(f.name for f in cls.fences)
        regions = tuple(r for r in cls.scope if r.name in usable)
        if cls.rule is None:
            return _Target(fences or "all", False, regions)
        index = name.rules.index(cls.rule) + 1
        return _Target(f"rule{index}" + (f"-in-{fences}" if fences else ""), True, regions)

    def gslb(self, name: GslbName) -> None:
        usable = self.usable(name)
        signature = (name.regions, name.fences, name.rules)
        classes = self.classes.get(signature)
        if classes is None:
            classes = self.classes[signature] = every_class(name, COUNTRY_CONTINENT)
        default = classes[0][1]
        by_country = {
            p.country: c
            for p, c in classes
            if p is not None and p.subdivision is None and p.country
        }
        geo: list[tuple[tuple[str, str], ClientClass]] = [(("default", "*"), default)]
        for place, cls in classes[1:]:
            assert place is not None
            if place.subdivision is not None:
                country_cls = by_country.get(place.country or "", default)
                if cls.key == country_cls.key:
                    continue
                if subdivision_supported(place.subdivision):
                    geo.append((("subdivision", place.subdivision), cls))
                else:
                    self.warn(
                        "subdivision",
                        name.name,
                        f"Route 53 cannot locate clients in {place.subdivision} (it knows US "
                        f"states only): they are answered like the rest of {place.country}",
                    )
            elif cls.key != default.key:
                kind = "continent" if place.country is None else "country"
                geo.append(((kind, place.country or place.continent or ""), cls))
        targets = {cls.key: self.target(name, cls, usable) for _, cls in geo}
        latency = sorted(t.label for t in targets.values() if not t.failover and len(t.regions) > 1)
        self.warnings.update(gaps(name, ["_gslb-" + label for label in latency]))
        for family, rtype in FAMILIES:
            self.family(name, rtype, family, geo, targets)
        self.claims[name.name]  # noqa: B018 - claimed even when nothing else is written

    def family(
        self,
        name: GslbName,
        rtype: str,
        family: int,
        geo: list[tuple[tuple[str, str], ClientClass]],
        targets: Mapping[ClassKey, _Target],
    ) -> None:
        def addresses(r: Region) -> tuple[str, ...]:
            return norm_values(
                rtype, (e.text for e in r.endpoints if not e.down and e.family == family)
            )

        if not any(addresses(r) for t in targets.values() for r in t.regions):
            return
        empty = sorted(
            {t.label for t in targets.values() if not any(addresses(r) for r in t.regions)}
        )
        if empty:
            self.warn(
                "family",
                name.name,
                f"no {rtype} address in {', '.join('_gslb-' + e for e in empty)}: Route 53 cannot "
                f"answer NODATA to those clients alone, so no {rtype} records are written for "
                "this name (a less specific record would take them elsewhere)",
            )
            return
        missing = sorted({r.name for t in targets.values() for r in t.regions if not addresses(r)})
        if missing:
            self.warn(
                "family",
                name.name,
                f"{', '.join(missing)} {'has' if len(missing) == 1 else 'have'} no {rtype} "
                "address: gslb answers NODATA there (A and "
                f"AAAA from one region), Route 53 answers {rtype} from the next region of the set",
            )
        written: dict[str, str] = {}
        for target in targets.values():
            owner = helper_name(target.label, name.name)
            if written.setdefault(owner, target.label) != target.label:
                self.errors.add(
                    Notice("clash", name.name, f"helper name {owner} would hold two sets")
                )
            regions = [r for r in target.regions if addresses(r)]
            if target.failover:
                self.chain(name, rtype, target.label, regions, addresses)
            else:
                for r in regions:
                    detail = f"region-{r.name}"
                    self.plain(name, rtype, owner, detail, r, addresses(r), aws=r.aws_region)
        for (kind, code), cls in geo:
            target = targets[cls.key]
            detail = "geo-default" if kind == "default" else f"geo-{kind}-{code}"
            self.records.append(
                RecordSet(
                    name.name,
                    rtype,
                    make_set_id(self.options.owner, detail, name.name, rtype),
                    alias=helper_name(target.label, name.name),
                    evaluate=False,
                    geo=(kind, code),
                )
            )

    def plain(
        self,
        name: GslbName,
        rtype: str,
        owner: str,
        detail: str,
        region: Region,
        values: tuple[str, ...],
        aws: str | None = None,
        failover: str | None = None,
    ) -> None:
        """One record answering ``region``'s addresses, with the region's health check."""
        self.records.append(
            RecordSet(
                owner,
                rtype,
                make_set_id(self.options.owner, detail, owner, rtype),
                ttl=name.ttl,
                values=values,
                region=aws,
                failover=failover,
                health=self.region_check.get(region.name),
                origin=region.name,
            )
        )

    def chain(
        self,
        name: GslbName,
        rtype: str,
        label: str,
        regions: list[Region],
        values: Callable[[Region], tuple[str, ...]],
    ) -> None:
        """Failover levels: level i answers region i, else level i+1 (the last: region k)."""
        k = len(regions)
        for i, region in enumerate(regions[: max(1, k - 1)], start=1):
            owner = helper_name(label if i == 1 else f"{label}-{i}", name.name)
            primary = f"primary-{region.name}"
            self.plain(name, rtype, owner, primary, region, values(region), failover="PRIMARY")
            if i == k - 1:
                last = regions[-1]
                secondary = f"secondary-{last.name}"
                self.plain(name, rtype, owner, secondary, last, values(last), failover="SECONDARY")
            elif i < k - 1:
                self.records.append(
                    RecordSet(
                        owner,
                        rtype,
                        make_set_id(self.options.owner, "fallback", owner, rtype),
                        alias=helper_name(f"{label}-{i + 1}", name.name),
                        evaluate=True,
                        failover="SECONDARY",
                    )
                )

    # ------------------------------------------------------------------ static

    def static(self) -> None:
        zone = self.zone
        for owner, sets in zone.rrsets.items():
            for rtype, rrset in sets.items():
                if owner == zone.origin and rtype in ("SOA", "NS"):
                    continue
                self.records.append(
                    RecordSet(owner, rtype, ttl=rrset.ttl, values=norm_values(rtype, rrset.rdatas))
                )
                self.claims[owner].add(rtype)

    def clashes(self) -> None:
        """Our helper and claim names must not be names the zone itself uses."""
        taken = set(self.zone.rrsets) | set(self.zone.gslb)
        ours = {r.name for r in self.records if r.set_id} | {claim_name(n) for n in self.claims}
        for name in sorted(ours & taken - set(self.zone.gslb)):
            self.errors.add(
                Notice(
                    "clash",
                    name,
                    "the zone has records at this name, which gslb sync needs for itself",
                )
            )

    def result(self) -> Desired:
        self.clashes()
        return Desired(
            zone=self.zone.origin,
            owner=self.options.owner,
            static=self.options.static,
            records=tuple(sorted(self.records, key=lambda r: r.key)),
            claims=MappingProxyType({n: frozenset(t) for n, t in sorted(self.claims.items())}),
            checks=tuple(sorted(self.checks.values(), key=lambda c: c.key)),
            warnings=tuple(sorted(self.warnings)),
            errors=tuple(sorted(self.errors)),
            names=frozenset(self.zone.gslb),
        )


def build(zone: Zone, options: Options) -> Desired:
    """Everything ``zone`` should have in Route 53 under ``options``."""
    builder = _Builder(zone, options)
    for owner in sorted(zone.gslb):
        builder.gslb(zone.gslb[owner])
    if options.static:
        builder.static()
    return builder.result()
