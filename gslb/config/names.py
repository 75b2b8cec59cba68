"""The policy half of a zone file: ``fences:`` and ``gslb:`` names → policy model.

Fence semantics checked here: a client matched by several fences may only be answered
from the *intersection* of their regions, so two fences that can match the same client
(same country, a country and its continent, same continent or subdivision, overlapping
networks) with disjoint regions are an error; so is a rule that sends clients a fence
can match to a region outside that fence. Every problem goes to the caller's
:class:`~gslb.config.yamlsource.Sink`, at its node.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gslb.config.clients import read_match
from gslb.config.clients import shared as shared_client
from gslb.config.rdata import MAX_TTL, InvalidValue, parse_owner
from gslb.config.regions import read_location
from gslb.config.yamlsource import Node, ScalarNode, SequenceNode, Sink, suggest
from gslb.model import AllDown, Fence, GslbName, Pick, Region, Rule, Spill

__all__ = ["ALL_DOWN", "read_fences", "read_gslb"]

GSLB_MAX_TTL = 86_400
DEFAULT_GSLB_TTL = 30
DEFAULT_DEGRADED_TTL = 10
ALL_DOWN: tuple[AllDown, ...] = ("fail-open", "nodata", "servfail")

_FENCE = ("clients", "regions", "all-down")
_GSLB = ("ttl", "degraded-ttl", "regions", "fences", "rules", "default", "spill", "pick")
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_SPILL = Spill()


# --------------------------------------------------------------------------- fences


def _read_region_list(
    sink: Sink,
    node: Node,
    what: str,
    regions: dict[str, Region | None],
    within: Sequence[str] | None = None,
    unread: bool = False,
) -> list[str] | None:
    """Known, distinct region names; ``within`` (a gslb name's regions) restricts them.

    ``unread``: the zone's ``regions:`` section could not be read (its problem is
    reported), so unknown names are not reported again, one by one.
    """
    items = sink.sequence(node, f"regions of {what}")
    if items is None:
        return None
    out: list[str] = []
    for item in items:
        name = sink.text(item, f"region in {what}")
        if name is None:
            continue
        if name not in regions:
            if not unread:
                sink.add(item, f"unknown region '{name}' in {what}{suggest(name, regions)}")
        elif within is not None and name not in within:
            sink.add(item, f"region '{name}' in {what} is not one of the name's regions")
        elif name in out:
            sink.add(item, f"region '{name}' listed twice in {what}")
        else:
            out.append(name)
    return out if len(out) == len(items) else None


def read_fences(
    sink: Sink,
    node: Node | None,
    regions: dict[str, Region | None],
    outer: Sequence[Fence],
    scope: str,
    unread: bool = False,
) -> list[Fence]:
    """Fences in file order; overlapping fences with disjoint regions are reported."""
    if node is None:
        return []
    fences: list[tuple[Fence, Node]] = []
    for name, (key, value) in (sink.mapping(node, f"fences{scope}") or {}).items():
        if not _ID.fullmatch(name):
            sink.add(key, f"invalid fence name '{name}': use a-z, 0-9 and '-'")
            continue
        if any(f.name == name for f in outer):
            sink.add(key, f"fence '{name}' is already defined at zone level")
            continue
        what = f"fence '{name}'"
        f = sink.fields(value, what, _FENCE, required=("clients", "regions"))
        if f is None or "clients" not in f or "regions" not in f:
            continue
        match = read_match(sink, f["clients"], what)
        names = _read_region_list(sink, f["regions"], what, regions, unread=unread)
        all_down: AllDown | None = "fail-open"
        if "all-down" in f and (text := sink.string(f["all-down"], "all-down")) is not None:
            all_down = next((a for a in ALL_DOWN if a == text), None)
            if all_down is None:
                choices = ", ".join(ALL_DOWN)
                sink.add(f["all-down"], f"all-down '{text}' must be one of {choices}")
        if match is not None and names is not None and all_down is not None:
            fences.append((Fence(name, match, frozenset(names), all_down), key))
    for j, (fence, fence_key) in enumerate(fences):
        for other in [*outer, *(f for f, _ in fences[:j])]:
            shared = shared_client(other.match, fence.match, located=True)
            if shared is not None and not other.regions & fence.regions:
                sink.add(
                    fence_key,
                    f"fences '{other.name}' and '{fence.name}' both match {shared} "
                    "but share no region",
                )
    return [f for f, _ in fences]


# --------------------------------------------------------------------------- gslb names


def unanswerable(name: GslbName, label: str) -> list[str]:
    """Clients ``name`` can never answer: a fence (or several fences that can match one
    client) allows none of the name's regions, so those clients would get SERVFAIL."""
    mine = {r.name for r in name.regions}
    out: list[str] = []
    fences = name.fences
    for i, fence in enumerate(fences):
        if not fence.regions & mine:
            out.append(
                f"gslb name '{label}' can never answer clients of fence '{fence.name}' "
                f"({fence.match.describe()}): none of its regions is in the fence"
            )
            continue
        for other in fences[:i]:
            both = shared_client(other.match, fence.match, located=True)
            if (
                both is not None
                and other.regions & fence.regions
                and not (other.regions & fence.regions & mine)
            ):
                out.append(
                    f"gslb name '{label}' can never answer {both}: fences '{other.name}' and "
                    f"'{fence.name}' both apply and none of its regions is in both"
                )
    return out


def _written(node: Node | None, regions: Mapping[str, object]) -> list[str] | None:
    """The names written in a region list that failed to read (a duplicate, say), or
    ``None`` when it cannot be trusted (no list, or an unknown region, which may be a
    typo for one that rules and default name): then nothing is checked against it."""
    if not isinstance(node, SequenceNode):
        return None
    written = [str(item.value) for item in node.value if isinstance(item, ScalarNode)]
    return written if all(name in regions for name in written) else None


@dataclass(slots=True)
class _NameReader:
    """Reads one ``gslb:`` entry; the zone's regions and fences are already read."""

    sink: Sink
    owner: str
    label: str
    regions: dict[str, Region | None]
    zone_fences: Sequence[Fence]
    unread: bool = False  # the zone's regions: section could not be read

    @property
    def what(self) -> str:
        return f"gslb name '{self.label}'"

    def read(self, node: Node) -> GslbName | None:
        sink, what = self.sink, self.what
        f = sink.fields(node, what, _GSLB)
        if f is None:
            return None
        ttl = sink.integer(f["ttl"], "ttl", 1, GSLB_MAX_TTL) if "ttl" in f else DEFAULT_GSLB_TTL
        degraded: int | None = min(DEFAULT_DEGRADED_TTL, ttl or DEFAULT_GSLB_TTL)
        if "degraded-ttl" in f:
            degraded = sink.integer(f["degraded-ttl"], "degraded-ttl", 1, GSLB_MAX_TTL)
            if degraded is not None and ttl is not None and degraded > ttl:
                sink.add(f["degraded-ttl"], f"degraded-ttl {degraded} exceeds ttl {ttl}")
                degraded = None
        if "regions" in f:
            names = _read_region_list(sink, f["regions"], what, self.regions, unread=self.unread)
        elif self.regions:
            names = list(self.regions)
        else:
            if not self.unread:
                sink.add(node, f"{what} has no regions: define 'regions:' in the zone")
            names = None
        # A broken region list was reported once; what follows is checked against what
        # it says (or not at all), so one typo does not make every rule look wrong.
        within = names if names is not None else _written(f.get("regions"), self.regions)
        fences = read_fences(
            sink, f.get("fences"), self.regions, self.zone_fences, f" of {what}", self.unread
        )
        all_fences = (*self.zone_fences, *fences)
        rules = self._rules(f["rules"], within, all_fences) if "rules" in f else []
        default = self._default(f["default"], within) if "default" in f else ([], None)
        spill = self._spill(f["spill"]) if "spill" in f else Spill()
        unknown: list[Region | None] = [None]  # a broken list: pick count is not checked
        objs = [self.regions.get(n) for n in names] if names is not None else unknown
        pick = self._pick(f["pick"], objs) if "pick" in f else Pick()
        if (
            ttl is None
            or degraded is None
            or names is None
            or rules is None
            or default is None
            or spill is None
            or pick is None
        ):
            return None
        regions = tuple(r for r in objs if r is not None)
        return GslbName(
            name=self.owner,
            ttl=ttl,
            degraded_ttl=degraded,
            regions=regions,
            fences=all_fences,
            rules=tuple(rules),
            default_order=tuple(default[0] or names),
            default_location=default[1],
            spill=spill,
            pick=pick,
        )

    def _rules(
        self, node: Node, names: Sequence[str] | None, fences: Sequence[Fence]
    ) -> list[Rule] | None:
        sink = self.sink
        items = sink.sequence(node, f"rules of {self.what}")
        if items is None:
            return None
        rules: list[Rule] = []
        for i, item in enumerate(items, 1):
            what = f"rule {i} of {self.what}"
            f = sink.fields(item, what, ("clients", "regions"), required=("clients", "regions"))
            if f is None or "clients" not in f or "regions" not in f:
                continue
            match = read_match(sink, f["clients"], what)
            regs = _read_region_list(sink, f["regions"], what, self.regions, names, self.unread)
            if match is None or regs is None:
                continue
            for fence in fences:
                shared = shared_client(match, fence.match)
                bad = [r for r in regs if r not in fence.regions]
                if shared is not None and bad:
                    allowed = ", ".join(r for r in self.regions if r in fence.regions)
                    sink.add(
                        item,
                        f"rule sends {shared} (fenced by {fence.name} to {allowed}) "
                        f"to {', '.join(bad)}",
                    )
            rules.append(Rule(match, tuple(regs)))
        return rules if len(rules) == len(items) else None

    def _default(
        self, node: Node, names: Sequence[str] | None
    ) -> tuple[list[str], tuple[float, float] | None] | None:
        sink, what = self.sink, f"default of {self.what}"
        f = sink.fields(node, what, ("regions", "location"))
        if f is None:
            return None
        if len(f) != 1:
            sink.add(node, f"{what} takes either 'regions' or 'location'")
            return None
        if "location" in f:
            location = read_location(sink, f["location"], what)
            return None if location is None else ([], location)
        regs = _read_region_list(sink, f["regions"], what, self.regions, names, self.unread)
        return None if regs is None else (regs, None)

    def _spill(self, node: Node) -> Spill | None:
        sink = self.sink
        f = sink.fields(node, f"spill of {self.what}", ("low", "high"))
        if f is None:
            return None
        low = sink.number(f["low"], "spill low", 0, 1) if "low" in f else _SPILL.low
        high = sink.number(f["high"], "spill high", 0, 1) if "high" in f else _SPILL.high
        if low is None or high is None:
            return None
        if not 0 < low < high <= 1:
            why = f"need 0 < low {low:g} < high {high:g} <= 1"
            sink.add(node, f"spill watermarks out of order: {why}")
            return None
        return Spill(low, high)

    def _pick(self, node: Node, regions: list[Region | None]) -> Pick | None:
        sink = self.sink
        f = sink.fields(node, f"pick of {self.what}", ("count", "second-region"))
        if f is None:
            return None
        count: int | None = 0
        if "count" in f:
            count = sink.integer(f["count"], "pick count", 0, MAX_TTL)
            most = max((len(r.endpoints) for r in regions if r is not None), default=0)
            if count is not None and count > most and None not in regions:
                why = f"exceeds the {most} endpoints of the largest region"
                sink.add(f["count"], f"pick count {count} {why}")
                count = None
        second: bool | None = False
        if "second-region" in f:
            second = sink.boolean(f["second-region"], "pick second-region")
        return None if count is None or second is None else Pick(count, second)


def read_gslb(
    sink: Sink,
    node: Node,
    origin: str,
    regions: dict[str, Region | None],
    fences: Sequence[Fence],
    owner_problem: Callable[[str], str | None],
    unread: bool = False,
) -> dict[str, GslbName]:
    """Policies by owner; ``owner_problem`` (the zone reader's) reports clashes with records.
    ``unread``: the zone's ``regions:`` could not be read, so references to regions are
    not reported as unknown."""
    out: dict[str, GslbName] = {}
    seen: dict[str, Node] = {}
    for label, (key, value) in (sink.mapping(node, "gslb") or {}).items():
        try:
            owner = parse_owner(label, origin)
        except InvalidValue as exc:
            sink.add(key, str(exc))
            continue
        if owner in seen:
            first = seen[owner].start_mark.line + 1
            sink.add(key, f"gslb name {owner} already defined at line {first}")
            continue
        seen[owner] = key
        if (why := owner_problem(owner)) is not None:
            sink.add(key, why)
        name = _NameReader(sink, owner, label, regions, fences, unread).read(value)
        if name is not None and None not in regions.values():  # no cascade from a bad region
            for problem in unanswerable(name, label):
                sink.add(key, problem)
        if name is not None:
            out[owner] = name
    return out
