"""The live steps, health → load → pick → all-down, run per query on a compiled choice.

They read the :class:`~gslb.model.LiveState` (probes, overrides, load) and, for spill
and endpoint subsets, a stable hash of the client network, so one network always gets
one answer for a given config and state. A :class:`Decider` holds one live state and
memoises every decision that does not hash the client: a state change publishes a
new Decider, which is all the invalidation there is.

Why this order:

* **health** before load: a dead or drained region is never a candidate, whatever its
  load.
* **load** after health, so spill only moves clients between live regions. If load
  would remove every live region the least loaded stays: an overloaded answer beats
  no answer, and this is not an "all down" case.
* **pick** answers from the first region left. If it has no endpoint of the queried
  family the answer is NODATA: a dual-stack client's A and AAAA answers must point at
  the same region (happy eyeballs would otherwise split one user across continents).
* **all-down** acts only when health left nothing in scope: fail open to the first
  region of the scope as if healthy (short TTL; a drained but live region before a
  dead one), or NODATA / SERVFAIL if the fence says so. It never looks outside the
  scope, hence never outside a fence.

The TTL is the name's ``degraded_ttl`` whenever the answer is degraded: failing open,
an all-down NODATA/SERVFAIL, or an answer that is not the client's first choice
because health or load removed a better region (so clients come back soon).
"""

from __future__ import annotations

from gslb.model import (
    Decision,
    Endpoint,
    GslbName,
    LiveState,
    Outcome,
    Region,
    Step,
    client_key,
)
from gslb.policy.classes import region_names
from gslb.policy.hashing import rendezvous, unit_hash
from gslb.policy.table import Choice

__all__ = ["Decider", "RegionLive"]

MEMO_LIMIT = 100_000  # decisions per live state; cleared whole when full


class RegionLive:
    """A region under one live state: up or not and why, and its answerable endpoints."""

    __slots__ = ("up", "why", "drained", "endpoints")

    def __init__(self, region: Region, state: LiveState) -> None:
        key = region.key
        usable: dict[int, list[Endpoint]] = {4: [], 6: []}
        up = configured = 0
        for ep in region.endpoints:
            if ep.down:
                continue
            configured += 1
            ekey = region.endpoint_key(ep)
            if ekey in state.down_endpoints:
                continue
            up += 1
            if ekey not in state.drained_endpoints:
                usable[ep.address.version].append(ep)
        self.endpoints = {4: tuple(usable[4]), 6: tuple(usable[6])}
        self.drained = key in state.drained_regions
        self.up = False
        if region.down:
            self.why = "down: administratively (config)"
        elif key in state.down_regions:
            self.why = "down: region marked down"
        elif not configured:
            self.why = "down: every endpoint administratively down"
        elif up < region.min_up:
            self.why = (
                "down: all endpoints failing"
                if up == 0
                else f"down: {up} of {configured} endpoints up, min-up {region.min_up}"
            )
        elif self.drained:
            self.why = "drained: no new answers (operator)"
        elif not (usable[4] or usable[6]):
            self.why = "drained: every live endpoint drained (operator)"
        else:
            self.up = True
            self.why = ""


class _Work:
    """Scratch state of one decision; private to one call, so deciding stays pure."""

    __slots__ = (
        "name", "choice", "decider", "family", "version", "value", "explain", "candidates",
        "health_left", "moved", "first_down", "key", "outcome", "regions", "endpoints",
        "degraded", "hashed", "trace", "after_load",
    )  # fmt: skip

    def __init__(
        self,
        name: GslbName,
        choice: Choice,
        decider: Decider,
        family: int,
        version: int,
        value: int,
        explain: bool,
    ) -> None:
        self.name = name
        self.choice = choice
        self.decider = decider
        self.family = family
        self.version = version
        self.value = value
        self.explain = explain
        self.candidates: list[Region] = list(choice.regions)
        self.health_left = -1
        self.moved = False  # health or load removed something: the first choice may be gone
        self.first_down = False  # health removed the first choice (failover, not spill)
        self.key: bytes | None = None
        self.outcome: Outcome | None = None
        self.regions: tuple[str, ...] = ()
        self.endpoints: tuple[Endpoint, ...] = ()
        self.degraded = False
        self.hashed = False
        self.trace: dict[str, Step] = {}
        self.after_load: tuple[Region, ...] = ()

    def client_key(self) -> bytes:
        if self.key is None:
            self.key = client_key(self.version, self.value)
        return self.key

    def declared(self, regions: list[Region]) -> tuple[str, ...]:
        """Region names in the name's declaration order, as explanations list them."""
        pos = {r.name: i for i, r in enumerate(self.name.regions)}
        return tuple(sorted(region_names(regions), key=lambda n: pos.get(n, len(pos))))


def _health(w: _Work) -> None:
    """Remove regions that are down or drained (the family does not matter here: a
    region with only IPv4 endpoints up is up, and an AAAA query gets NODATA from pick)."""
    live = w.decider.region
    kept: list[Region] = []
    removed: list[tuple[str, str]] = []
    for r in w.candidates:
        state = live(r)
        if state.up:
            kept.append(r)
        else:
            removed.append((r.name, state.why))
    w.health_left = len(kept)
    w.moved = bool(removed)
    w.first_down = bool(removed) and not live(w.choice.regions[0]).up
    w.candidates = kept
    if w.explain:
        w.trace["health"] = Step("health", w.declared(kept), tuple(removed))


def _load(w: _Work) -> None:
    """Remove overloaded regions; between the watermarks a share of client networks spill.

    Between ``low`` and ``high`` a region sheds the fraction ``(load-low)/(high-low)`` of
    client networks, chosen by a stable hash of (client network, region): the same
    networks spill first as load rises, so answers do not flap between neighbours.
    """
    loads = w.decider.state.load
    if not loads or not w.candidates:
        w.after_load = tuple(w.candidates)
        if w.explain:
            w.trace["load"] = Step("load", w.declared(w.candidates), note="no load reported")
        return
    low, high = w.name.spill.low, w.name.spill.high
    explain = w.explain
    kept: list[Region] = []
    removed: list[tuple[str, str]] = []
    notes: list[str] = []
    for r in w.candidates:
        load = loads.get(r.key, 0.0)
        if load >= high:
            removed.append((r.name, f"load {load:.2f} >= high watermark {high:.2f}"))
            continue
        if load > low:
            share = (load - low) / (high - low)
            w.hashed = True
            spills = unit_hash(w.client_key() + r.name.encode()) < share
            if explain:
                says = f"load {load:.2f}, {share:.0%} of client networks spill"
                if not spills:
                    notes.append(f"{r.name} {says}, this one stays")
            if spills:
                removed.append((r.name, f"spilled: {says}, this one does" if explain else ""))
                continue
        kept.append(r)
    if removed:
        w.moved = True
    if not kept:  # an overloaded answer beats none: keep the least loaded (ties: first)
        least = min(loads.get(r.key, 0.0) for r in w.candidates)
        best = next(r for r in w.candidates if loads.get(r.key, 0.0) == least)
        kept = [best]
        removed = [(n, why) for n, why in removed if n != best.name]
        notes.append(f"every candidate is over load: kept the least loaded, {best.name}")
    w.candidates = kept
    w.after_load = tuple(kept)
    if explain:
        w.trace["load"] = Step("load", w.declared(kept), tuple(removed), "; ".join(notes))


def _choose(w: _Work, region: Region, as_if_healthy: bool) -> tuple[Endpoint, ...]:
    """The region's answer endpoints of the queried family (rendezvous subset if asked)."""
    eps = w.decider.region(region).endpoints[w.family]
    if not eps and as_if_healthy:  # failing open: serve what exists rather than nothing
        eps = tuple(ep for ep in region.endpoints if ep.address.version == w.family)
    count = w.name.pick.count
    if count <= 0 or len(eps) <= count:
        return eps
    w.hashed = True
    return rendezvous(w.client_key(), eps, count)


def _answer(w: _Work, ordered: list[Region], as_if_healthy: bool) -> None:
    """Answer from the first region (and the next one if ``pick.second_region``)."""
    first = ordered[0]
    eps = _choose(w, first, as_if_healthy)
    if not eps:
        w.outcome = "nodata"
        return
    regions = [first.name]
    if w.name.pick.second_region and len(ordered) > 1:
        more = _choose(w, ordered[1], as_if_healthy)
        if more:
            eps += more
            regions.append(ordered[1].name)
    w.outcome = "answer"
    w.endpoints = eps
    w.regions = tuple(regions)


def _pick(w: _Work) -> None:
    """The first region's live endpoints of the queried family, or NODATA if it has none."""
    if not w.candidates:
        if w.explain:
            w.trace["pick"] = Step("pick", (), note="no candidate left")
        return
    _answer(w, w.candidates, as_if_healthy=False)
    first = w.choice.regions[0]  # the head of the order over the whole scope
    if w.moved:
        w.degraded = first.name != w.candidates[0].name
    if w.explain:
        head = w.candidates[0].name
        if w.outcome == "nodata":
            note = f"{head} has no live IPv{w.family} endpoint: NODATA (no cross-region move)"
        else:
            note = "answer " + ", ".join(ep.text for ep in w.endpoints)
            if w.hashed and w.name.pick.count > 0:
                note += f" (rendezvous subset of {w.name.pick.count})"
        if w.degraded:
            note += f"; not the first choice ({first.name}): degraded TTL"
        w.trace["pick"] = Step("pick", w.regions, note=note)


def _all_down(w: _Work) -> None:
    """Health emptied the scope: fail open inside it, or fail closed as the fence says."""
    scope = list(w.choice.regions)
    if w.health_left != 0 and scope:
        if w.explain:
            w.trace["all-down"] = Step("all-down", w.regions, note="not needed")
        return
    w.degraded = True
    if not scope:
        w.outcome = "servfail"
        if w.explain:
            fences = ", ".join(f.name for f in w.choice.cls.fences)
            note = f"no region lies inside every fence ({fences}): SERVFAIL"
            w.trace["all-down"] = Step("all-down", (), note=note)
        return
    all_down = w.choice.cls.all_down
    if all_down == "fail-open":
        # inside the scope only: a region that is alive but drained by an operator
        # first (its endpoints answer), then dead regions, drained dead ones last
        live = w.decider.region
        ordered = sorted(scope, key=lambda r: _fail_open_rank(live(r)))
        _answer(w, ordered, as_if_healthy=True)
        note = f"every region in scope is down: failing open to {ordered[0].name}"
        if w.outcome == "nodata":
            note += f", which has no IPv{w.family} endpoint: NODATA"
    else:
        w.outcome = all_down
        note = f"every region in scope is down: fence says {all_down}"
    if w.explain:
        w.trace["all-down"] = Step("all-down", w.regions, note=note)


def _fail_open_rank(region: RegionLive) -> int:
    if region.why.startswith("drained"):
        return 0
    return 2 if region.drained else 1


#: The live part of the pipeline, in order (the whole list is ``pipeline.STEPS``).
LIVE_STEPS = (("health", _health), ("load", _load), ("pick", _pick), ("all-down", _all_down))


class Decider:
    """Decisions under one live state; memoised while they do not hash the client."""

    __slots__ = ("state", "_regions", "_memo")

    def __init__(self, state: LiveState) -> None:
        self.state = state
        self._regions: dict[tuple[str, str], RegionLive] = {}
        self._memo: dict[tuple[int, int, int], Decision] = {}

    def region(self, region: Region) -> RegionLive:
        found = self._regions.get(region.key)
        if found is None:
            found = self._regions[region.key] = RegionLive(region, self.state)
        return found

    def decide(
        self, name: GslbName, choice: Choice, family: int, version: int, value: int
    ) -> Decision:
        """The decision for a client at ``value`` (IP ``version``) whose place gave
        ``choice``; a memo hit unless the answer hashes the client network."""
        key = (id(name), id(choice), family)
        found = self._memo.get(key)
        if found is not None:
            return found
        w = self.run(name, choice, family, version, value, explain=False)
        decision = _decision(w)
        if not decision.hashed:
            if len(self._memo) >= MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = decision
        return decision

    def run(
        self,
        name: GslbName,
        choice: Choice,
        family: int,
        version: int,
        value: int,
        explain: bool,
    ) -> _Work:
        w = _Work(name, choice, self, family, version, value, explain)
        for _, step in LIVE_STEPS:
            step(w)
        return w


def _reason(w: _Work, outcome: Outcome) -> str:
    """Why this answer, in one word (the label answers are counted by)."""
    if w.health_left == 0 or not w.choice.regions:
        return "fail-open" if outcome == "answer" else "all-down"
    if w.degraded:
        return "failover" if w.first_down else "spill"
    cls = w.choice.cls
    return "rule" if cls.rule is not None else "fenced" if cls.fences else "nearest"


def _decision(w: _Work, trace: tuple[Step, ...] = ()) -> Decision:
    outcome: Outcome = w.outcome if w.outcome is not None else "servfail"
    return Decision(
        outcome=outcome,
        regions=w.regions if outcome == "answer" else (),
        endpoints=w.endpoints if outcome == "answer" else (),
        ttl=w.name.degraded_ttl if w.degraded else w.name.ttl,
        degraded=w.degraded,
        hashed=w.hashed,
        trace=trace,
        reason=_reason(w, outcome),
    )


decision_of = _decision
