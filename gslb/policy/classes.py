"""Steps 1 and 2, fence and rules: which regions a client may be answered from, and how.

Both depend only on config and on who the client is (country, continent, subdivision
and, for CIDR matches, its address), never on health or load. So the compiled table
(:mod:`gslb.policy.table`) runs them once per place, and ``gslb sync`` lists the
classes they produce. The result is a :class:`ClientClass`: the fences that apply, the
rule that orders the client (if any) and the *scope*, the regions the client may ever
be answered from. Every later step, the all-down fallback included, only removes from
the scope, so nothing after this can carry a client out of its fence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from gslb.model import AllDown, Fence, GslbName, IPAddress, Location, Region, Rule, Step

__all__ = ["ClientClass", "classify", "classify_unlocatable", "every_class", "region_names"]

#: Fail-closed beats fail-open when several matching fences disagree.
_SEVERITY: Final[dict[str, int]] = {"fail-open": 0, "nodata": 1, "servfail": 2}


@dataclass(frozen=True, slots=True)
class ClientClass:
    """Clients the same fences and rule apply to: what the config alone says about them."""

    fences: tuple[Fence, ...]  # every fence that matches, in config order
    rule: Rule | None  # the rule that orders them (None: nearest first)
    scope: tuple[Region, ...]  # rule order when a rule applies, else declaration order
    all_down: AllDown

    @property
    def key(self) -> tuple[tuple[str, ...], int]:
        """Identifies the class within one name (fence names, rule identity)."""
        return (tuple(f.name for f in self.fences), -1 if self.rule is None else id(self.rule))


def region_names(regions: tuple[Region, ...] | list[Region]) -> tuple[str, ...]:
    return tuple(r.name for r in regions)


def classify(
    name: GslbName,
    location: Location | None,
    address: IPAddress | None,
    trace: list[Step] | None = None,
) -> ClientClass:
    """Fence, then rules. ``address`` None matches no CIDR (a place, not a client)."""
    fences: list[Fence] = []
    all_down: AllDown = "fail-open"
    for f in name.fences:
        if f.match.matches(address, location):
            fences.append(f)
            if _SEVERITY[f.all_down] > _SEVERITY[all_down]:
                all_down = f.all_down
    candidates = list(name.regions)
    if fences:
        allowed = fences[0].regions.intersection(*(f.regions for f in fences[1:]))
        kept = [r for r in candidates if r.name in allowed]
        if trace is not None:
            removed = tuple(
                (r.name, "outside fence " + next(f.name for f in fences if r.name not in f.regions))
                for r in candidates
                if r.name not in allowed
            )
            described = ", ".join(f"{f.name} ({f.match.describe()})" for f in fences)
            note = f"fence {described} applies; all down: {all_down}"
            trace.append(Step("fence", region_names(kept), removed, note))
        candidates = kept
    elif trace is not None:
        trace.append(Step("fence", region_names(candidates), note="no fence matches this client"))
    rule = next((r for r in name.rules if r.match.matches(address, location)), None)
    scope = candidates
    if rule is not None:
        by_name = {r.name: r for r in candidates}
        ordered = [by_name[n] for n in rule.regions if n in by_name]
        if ordered:
            scope = ordered
            if trace is not None:
                in_rule = set(rule.regions)
                removed = tuple(
                    (n, f"not in rule for {rule.match.describe()}")
                    for n in by_name
                    if n not in in_rule
                )
                outside = [n for n in rule.regions if n not in by_name]
                note = f"rule for {rule.match.describe()}: order {' > '.join(region_names(scope))}"
                if outside:
                    note += f" (outside the fence, dropped: {', '.join(outside)})"
                trace.append(Step("rules", region_names(scope), removed, note))
        else:  # config prevents this; never widen the fence to honour a rule
            if trace is not None:
                note = f"rule for {rule.match.describe()} has no region inside the fence: ignored"
                trace.append(Step("rules", region_names(candidates), note=note))
            rule = None
    elif trace is not None:
        trace.append(Step("rules", region_names(candidates), note="no rule matches"))
    return ClientClass(tuple(fences), rule, tuple(scope), all_down)


def classify_unlocatable(name: GslbName, trace: list[Step] | None = None) -> ClientClass:
    """The class of a client whose location lookup *failed* (not merely unknown).

    It might be anywhere, so it is treated as inside every fence the name has: answered
    only from regions all of them allow (SERVFAIL if none), never by a rule. A database
    fault can then never carry a fenced client out of its fence.
    """
    fences = name.fences
    allowed = {r.name for r in name.regions}
    all_down: AllDown = "fail-open"
    for f in fences:
        allowed &= f.regions
        if _SEVERITY[f.all_down] > _SEVERITY[all_down]:
            all_down = f.all_down
    scope = tuple(r for r in name.regions if r.name in allowed)
    if trace is not None:
        note = "the client's location lookup failed: inside every fence, " + (
            ", ".join(f.name for f in fences) or "(none)"
        )
        removed = tuple((r.name, "lookup failed: fenced") for r in name.regions if r not in scope)
        trace.append(Step("fence", region_names(scope), removed, note))
        trace.append(Step("rules", region_names(scope), note="not applied to an unknown client"))
    return ClientClass(tuple(fences), None, scope, all_down)


def every_class(
    name: GslbName, countries: Mapping[str, str]
) -> tuple[tuple[Location | None, ClientClass], ...]:
    """The class of every place the name's fences and rules can tell apart, by geography.

    ``countries`` maps each country code to its continent (``gslb.geo.countries``). The
    places are: no location (``None``), each continent on its own (a client located no
    closer than its continent), each country with its continent, and each subdivision a
    fence or rule names, with its country and continent. Each is classified by
    :func:`classify` itself, so a caller listing classes (``gslb sync``) cannot drift
    from what the server does. CIDR matches cut across places and are not listed.
    """
    continents = sorted(set(countries.values()))
    matches = [f.match for f in name.fences] + [r.match for r in name.rules]
    subdivisions = sorted({s for m in matches for s in m.subdivisions})
    places: list[Location | None] = [None]
    places += [Location(continent=c) for c in continents]
    places += [Location(country=c, continent=countries[c]) for c in sorted(countries)]
    for sub in subdivisions:
        country = sub.split("-", 1)[0]
        places.append(Location(country=country, continent=countries.get(country), subdivision=sub))
    return tuple((place, classify(name, place, None)) for place in places)
