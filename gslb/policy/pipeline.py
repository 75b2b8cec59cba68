"""The GSLB decision for one name and one client: a pipeline of named steps.

The steps are listed once, in ``STEPS``; the DNS server, ``gslb resolve`` and ``gslb sync``
all run this same list, so what ``resolve`` explains is what the server does. The module
is pure: no I/O, no clock, no randomness. Client-dependent choices (spill, endpoint
subsets) come from a keyed hash of the client network (``Client.key``), so one network
always gets one answer for a given config and status.

Why this order:

1. **fence** first, because sovereignty is a hard limit: every later step, including the
   all-down fallback, only ever sees regions inside the client's fence(s).
2. **rules** next: an explicit operator order replaces the geographic one, but it is
   still intersected with the fence (a wrong rule cannot leak a client out of a fence).
   The fence+rule set is the client's *scope*; everything below removes from it.
3. **health** before load: a dead region is never a candidate, whatever its load.
4. **load** after health so spill only moves clients between live regions. If load
   would remove every live region we keep the least loaded one: an overloaded answer
   beats no answer, and this is not an "all down" case.
5. **nearest** orders what is left (a rule's order wins over distance). Ordering after
   filtering keeps each filter simple; the result is the same as walking a full order
   and skipping removed regions (gdnsd's model).
6. **pick** answers from the first region only. If that region has no endpoint of the
   queried family the answer is NODATA: we never send an AAAA client to another region
   just because this one lacks IPv6, because the A and AAAA answers a dual-stack client
   gets must point at the same region (otherwise happy-eyeballs splits one user across
   continents and the fence/spill reasoning above no longer holds per client).
7. **all-down** runs last and acts only when *health* left nothing in scope: fail open
   to the nearest region in scope as if healthy (short TTL), or NODATA / SERVFAIL if the
   fence says so. It never looks outside the scope, hence never outside a fence.

The TTL is ``name.degraded_ttl`` whenever the answer is degraded: failing open, an
all-down NODATA/SERVFAIL, or an answer that is not the client's first choice because
health or load removed a better region (so clients come back soon after recovery).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from hashlib import blake2b
from typing import Final

from gslb.geo.distance import haversine_km
from gslb.model import (
    AllDown,
    Client,
    Decision,
    Endpoint,
    Fence,
    GslbName,
    Outcome,
    Region,
    Rule,
    Status,
    Step,
)

_RAD: Final = math.pi / 180.0


__all__ = ["STEPS", "decide", "rendezvous_score", "unit_hash"]

#: Fail-closed beats fail-open when several matching fences disagree.
_SEVERITY: Final[dict[str, int]] = {"fail-open": 0, "nodata": 1, "servfail": 2}
_TWO_64: Final = float(1 << 64)


def unit_hash(data: bytes) -> float:
    """A uniform value in [0, 1) from a stable hash (never Python's salted ``hash``)."""
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big") / _TWO_64


def rendezvous_score(client_key: bytes, endpoint: Endpoint) -> float:
    """Weighted highest-random-weight score: ``-weight / ln(u)``, u in (0, 1)."""
    h = int.from_bytes(blake2b(client_key + endpoint.address.packed, digest_size=8).digest())
    u = (h + 0.5) / _TWO_64  # strictly inside (0, 1): ln(u) < 0, never ln(0)
    return -endpoint.weight / math.log(u)


class _Work:
    """Scratch state of one decision. Private to one ``decide`` call, so decide stays pure.

    A plain slotted class rather than a dataclass: it is built once per decision on the
    query path, and a hand-written ``__init__`` is the cheapest way to do that.
    """

    __slots__ = (
        "name", "client", "status", "family", "explain", "candidates", "scope", "fences",
        "all_down", "rule", "health_left", "moved", "origin", "origin_note", "near", "prep", "key",
        "outcome", "regions", "endpoints", "degraded", "hashed", "trace",
    )  # fmt: skip

    def __init__(
        self, name: GslbName, client: Client, status: Status, family: int, explain: bool
    ) -> None:
        self.name = name
        self.client = client
        self.status = status
        self.family = family
        self.explain = explain
        self.candidates: list[Region] = list(name.regions)
        self.scope: list[Region] = []  # after fence + rule: all-down never leaves it
        self.fences: list[Fence] = []  # the fences matching the client
        self.all_down: AllDown = "fail-open"
        self.rule: Rule | None = None
        self.health_left = -1  # candidates left by health; 0 triggers all-down
        self.moved = False  # health or load removed something (first choice may be gone)
        self.origin: tuple[float, float] | None = None
        self.origin_note = ""
        self.near: dict[str, float] = {}  # region -> squared chord to origin: smaller is nearer
        self.prep = _prepared(name)
        self.key: bytes | None = None
        self.outcome: Outcome | None = None
        self.regions: tuple[str, ...] = ()
        self.endpoints: tuple[Endpoint, ...] = ()
        self.degraded = False
        self.hashed = False
        self.trace: list[Step] = []


# --------------------------------------------------------------------------- helpers


def _names(regions: Sequence[Region]) -> tuple[str, ...]:
    return tuple(r.name for r in regions)


class _Prepared:
    """Per-name facts the hot path would otherwise recompute for every decision."""

    __slots__ = ("name", "vectors", "live", "texts")

    def __init__(self, name: GslbName) -> None:
        self.name = name  # held so id(name) cannot be reused while this entry exists
        self.vectors = {r.name: _unit_vector(r.lat, r.lon) for r in name.regions}
        #: family -> region -> endpoints not administratively down, and their text form
        self.live: dict[int, dict[str, tuple[Endpoint, ...]]] = {4: {}, 6: {}}
        self.texts: dict[int, dict[str, tuple[str, ...]]] = {4: {}, 6: {}}
        for r in name.regions:
            for fam in (4, 6):
                eps = tuple(e for e in r.endpoints if e.address.version == fam and not e.down)
                self.live[fam][r.name] = eps
                self.texts[fam][r.name] = tuple(str(e.address) for e in eps)


#: Memo of ``_Prepared`` by ``id(name)``. Values depend only on the (immutable) name, so
#: this changes no result; bounded so names dropped by reloads are eventually released.
_PREPARED: dict[int, _Prepared] = {}
_PREPARED_LIMIT: Final = 1024


def _prepared(name: GslbName) -> _Prepared:
    p = _PREPARED.get(id(name))
    if p is None or p.name is not name:
        p = _Prepared(name)
        if len(_PREPARED) >= _PREPARED_LIMIT:
            _PREPARED.clear()
        _PREPARED[id(name)] = p
    return p


def _unit_vector(lat: float, lon: float) -> tuple[float, float, float]:
    p, q = lat * _RAD, lon * _RAD
    c = math.cos(p)
    return (c * math.cos(q), c * math.sin(q), math.sin(p))


def _closeness(w: _Work, regions: list[Region]) -> dict[str, float]:
    """Squared chord between unit vectors of the origin and each region, cached per decision.

    The chord grows monotonically with the central angle, hence with great-circle
    distance, so ordering by it is ordering by distance; unlike ``cos(angle)`` it keeps
    sub-metre resolution for nearby points. No trigonometry per region: this is the hot
    part of a decision for unfenced clients. Kilometres (``gslb.geo.haversine_km``) are
    computed only when explaining.
    """
    near = w.near
    vectors = w.prep.vectors
    assert w.origin is not None
    x, y, z = _unit_vector(*w.origin)
    for r in regions:
        if r.name not in near:
            rx, ry, rz = vectors[r.name]
            dx, dy, dz = x - rx, y - ry, z - rz
            near[r.name] = dx * dx + dy * dy + dz * dz
    return near


def _ordered(w: _Work, regions: list[Region]) -> list[Region]:
    """Step 5's order. ``regions`` must be in declaration (or rule) order: sorts are stable."""
    if w.rule is not None or len(regions) < 2:
        return regions
    if w.origin is not None:
        near = _closeness(w, regions)
        return sorted(regions, key=lambda r: near[r.name])
    order = w.name.default_order
    if not order:
        return regions
    pos = {n: i for i, n in enumerate(order)}
    last = len(order)
    return sorted(regions, key=lambda r: pos.get(r.name, last))


def _first_choice(w: _Work) -> Region:
    """The head of step 5's order over the whole scope, i.e. ignoring health and load."""
    scope = w.scope
    if w.origin is not None and w.rule is None:
        near = _closeness(w, scope)
        return min(scope, key=lambda r: near[r.name])  # min keeps the first of equals
    return _ordered(w, scope)[0]


def _choose(w: _Work, region: Region, as_if_healthy: bool) -> tuple[Endpoint, ...]:
    """The region's answer endpoints of the queried family (rendezvous subset if asked)."""
    fam, rname = w.family, region.name
    eps = w.prep.live[fam][rname]
    down = w.status.down_endpoints
    if down and eps:
        texts = w.prep.texts[fam][rname]
        eps = tuple(ep for ep, t in zip(eps, texts, strict=True) if (rname, t) not in down)
    if not eps and as_if_healthy:  # failing open: serve what exists rather than nothing
        eps = tuple(ep for ep in region.endpoints if ep.address.version == fam)
    count = w.name.pick.count
    if count <= 0 or len(eps) <= count:
        return tuple(eps)
    w.hashed = True
    key = _client_key(w)
    scored = sorted(
        ((-rendezvous_score(key, ep), i, ep) for i, ep in enumerate(eps)),
        key=lambda t: (t[0], t[1]),
    )
    return tuple(t[2] for t in scored[:count])


def _client_key(w: _Work) -> bytes:
    """``Client.key``, computed at most once per decision (it costs about a microsecond)."""
    if w.key is None:
        w.key = w.client.key
    return w.key


def _describe_client(client: Client) -> str:
    lk = client.lookup
    who = f"{client.address} via {client.source} /{client.source_prefix}"
    loc = lk.location
    if loc is None:
        return f"{who}: no location ({lk.reason or 'unknown'}), network {lk.network}"
    parts = [p for p in (loc.country, loc.continent, loc.subdivision) if p]
    coords = f" ({loc.lat:.2f}, {loc.lon:.2f})" if loc.has_coordinates else " (no coordinates)"
    return f"{who}: {'/'.join(parts) or 'no country'}{coords}, network {lk.network}"


# --------------------------------------------------------------------------- the steps


def _fence(w: _Work) -> None:
    """Restrict to the intersection of every matching fence's regions."""
    client = w.client
    addr, loc = client.address, client.lookup.location
    for f in w.name.fences:
        if f.match.matches(addr, loc):
            w.fences.append(f)
            if _SEVERITY[f.all_down] > _SEVERITY[w.all_down]:
                w.all_down = f.all_down
    if not w.fences:
        if w.explain:
            w.trace.append(Step("fence", _names(w.candidates), note="no fence matches this client"))
        return
    fences = w.fences
    allowed = fences[0].regions
    for f in fences[1:]:
        allowed = allowed & f.regions
    kept = [r for r in w.candidates if r.name in allowed]
    if w.explain:
        removed = tuple(
            (r.name, "outside fence " + next(f.name for f in fences if r.name not in f.regions))
            for r in w.candidates
            if r.name not in allowed
        )
        described = ", ".join(f"{f.name} ({f.match.describe()})" for f in fences)
        w.trace.append(
            Step(
                "fence",
                _names(kept),
                removed,
                f"fence {described} applies; all down: {w.all_down}",
            )
        )
    w.candidates = kept


def _rules(w: _Work) -> None:
    """The first matching rule gives the candidate set and order (inside the fence)."""
    client = w.client
    addr, loc = client.address, client.lookup.location
    rule = next((r for r in w.name.rules if r.match.matches(addr, loc)), None)
    if rule is None:
        w.scope = w.candidates
        if w.explain:
            w.trace.append(Step("rules", _names(w.candidates), note="no rule matches"))
        return
    by_name = {r.name: r for r in w.candidates}
    kept = [by_name[n] for n in rule.regions if n in by_name]
    if not kept:  # config should prevent this; never widen the fence to honour a rule
        w.scope = w.candidates
        if w.explain:
            w.trace.append(
                Step(
                    "rules",
                    _names(w.candidates),
                    note=f"rule for {rule.match.describe()} has no region inside the fence:"
                    " ignored",
                )
            )
        return
    w.rule = rule
    w.candidates = w.scope = kept
    if w.explain:
        in_rule = set(rule.regions)
        removed = tuple(
            (n, f"not in rule for {rule.match.describe()}") for n in by_name if n not in in_rule
        )
        outside = [n for n in rule.regions if n not in by_name]
        note = f"rule for {rule.match.describe()}: order {' > '.join(_names(kept))}"
        if outside:
            note += f" (outside the fence, dropped: {', '.join(outside)})"
        w.trace.append(Step("rules", _names(kept), removed, note))


def _health(w: _Work) -> None:
    """Remove regions that are down (admin, reported, or with no endpoint up).

    The endpoint family does not matter here: a region with only IPv4 endpoints up is up
    (an AAAA query then gets NODATA from pick, see the module docstring).
    """
    status = w.status
    down_regions = status.down_regions
    down_eps = status.down_endpoints
    texts4, texts6 = w.prep.texts[4], w.prep.texts[6]
    kept: list[Region] = []
    removed: list[tuple[str, str]] = []
    for r in w.candidates:
        name = r.name
        if r.down:
            removed.append((name, "down: administratively (config)"))
        elif name in down_regions:
            removed.append((name, "down: region marked down"))
        elif not (texts4[name] or texts6[name]):
            removed.append((name, "down: every endpoint administratively down"))
        elif down_eps and all((name, t) in down_eps for t in texts4[name] + texts6[name]):
            removed.append((name, "down: all endpoints failing"))
        else:
            kept.append(r)
    w.health_left = len(kept)
    if removed:
        w.moved = True
    w.candidates = kept
    if w.explain:
        w.trace.append(Step("health", _names(kept), tuple(removed)))


def _load(w: _Work) -> None:
    """Remove overloaded regions; between the watermarks a share of client networks spill.

    Between ``low`` and ``high`` a region sheds the fraction ``(load-low)/(high-low)`` of
    client networks, chosen by a stable hash of (client network, region): the same
    networks spill first as load rises, so answers do not flap between neighbours.
    """
    loads = w.status.load
    if not loads or not w.candidates:
        if w.explain:
            w.trace.append(Step("load", _names(w.candidates), note="no load reported"))
        return
    low, high = w.name.spill.low, w.name.spill.high
    explain = w.explain
    kept: list[Region] = []
    removed: list[tuple[str, str]] = []  # reasons only when explaining
    notes: list[str] = []
    for r in w.candidates:
        load = loads.get(r.name, 0.0)
        if load >= high:
            why = f"load {load:.2f} >= high watermark {high:.2f}" if explain else ""
            removed.append((r.name, why))
            continue
        if load > low:
            share = (load - low) / (high - low)
            w.hashed = True
            spills = unit_hash(_client_key(w) + r.name.encode()) < share
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
    if not kept:  # an overloaded answer beats none: keep the least loaded (ties: nearest)
        least = min(loads.get(r.name, 0.0) for r in w.candidates)
        best = _ordered(w, [r for r in w.candidates if loads.get(r.name, 0.0) == least])[0]
        kept = [best]
        removed = [(n, why) for n, why in removed if n != best.name]
        if explain:
            notes.append(f"every candidate is over load: kept the least loaded, {best.name}")
    w.candidates = kept
    if explain:
        w.trace.append(Step("load", _names(kept), tuple(removed), "; ".join(notes)))


def _nearest(w: _Work) -> None:
    """Order candidates: rule order, else distance, else the name's default order."""
    w.candidates = _ordered(w, w.candidates)
    if not w.explain:
        return
    who = _describe_client(w.client)
    if w.rule is not None:
        note = f"rule order kept; client {who}"
    elif w.origin is not None:
        src = w.origin_note
        o = w.origin
        dists = ", ".join(
            f"{r.name} {haversine_km(o[0], o[1], r.lat, r.lon):.0f} km" for r in w.candidates
        )
        note = f"distance from {src}: {dists}" if dists else f"distance from {src}"
    elif w.name.default_order:
        order = ", ".join(w.name.default_order)
        note = f"no location for the client ({who}); the name's default order: {order}"
    else:
        note = f"no location for the client ({who}); declaration order"
    w.trace.append(Step("nearest", _names(w.candidates), note=note))


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
            w.trace.append(Step("pick", (), note="no candidate left"))
        return
    _answer(w, w.candidates, as_if_healthy=False)
    if w.moved:  # health or load removed something: is this still the first choice?
        w.degraded = _first_choice(w).name != w.candidates[0].name
    if w.explain:
        head = w.candidates[0].name
        if w.outcome == "nodata":
            note = f"{head} has no live IPv{w.family} endpoint: NODATA (no cross-region move)"
        else:
            note = "answer " + ", ".join(str(ep.address) for ep in w.endpoints)
            if w.hashed and w.name.pick.count > 0:
                note += f" (rendezvous subset of {w.name.pick.count})"
        if w.degraded:
            note += f"; not the first choice ({_first_choice(w).name}): degraded TTL"
        w.trace.append(Step("pick", w.regions, note=note))


def _all_down(w: _Work) -> None:
    """Health emptied the scope: fail open inside it, or fail closed as the fence says."""
    if w.health_left != 0 and w.scope:
        if w.explain:
            w.trace.append(Step("all-down", w.regions, note="not needed"))
        return
    w.degraded = True
    if not w.scope:
        w.outcome = "servfail"
        if w.explain:
            fences = ", ".join(f.name for f in w.fences)
            w.trace.append(
                Step("all-down", (), note=f"no region lies inside every fence ({fences}): SERVFAIL")
            )
        return
    if w.all_down == "fail-open":
        ordered = _ordered(w, w.scope)
        _answer(w, ordered, as_if_healthy=True)
        note = f"every region in scope is down: failing open to {ordered[0].name}"
        if w.outcome == "nodata":
            note += f", which has no IPv{w.family} endpoint: NODATA"
    else:
        w.outcome = w.all_down
        note = f"every region in scope is down: fence says {w.all_down}"
    if w.explain:
        w.trace.append(Step("all-down", w.regions, note=note))


#: The pipeline, in order. The one place the order is written down.
STEPS: Final[tuple[tuple[str, Callable[[_Work], None]], ...]] = (
    ("fence", _fence),
    ("rules", _rules),
    ("health", _health),
    ("load", _load),
    ("nearest", _nearest),
    ("pick", _pick),
    ("all-down", _all_down),
)


def decide(
    name: GslbName, client: Client, status: Status, family: int, explain: bool = False
) -> Decision:
    """Choose the answer for ``name`` (A if ``family`` is 4, AAAA if 6) for ``client``.

    With ``explain`` the decision carries one ``Step`` per entry of ``STEPS``; without
    it no strings are built (this runs on the query path for every new client network).
    """
    w = _Work(name, client, status, family, explain)
    loc = client.lookup.location
    if loc is not None and loc.lat is not None and loc.lon is not None:
        w.origin = (loc.lat, loc.lon)
        if explain:
            w.origin_note = f"client {_describe_client(client)}"
    elif name.default_location is not None:
        w.origin = name.default_location
        if explain:
            w.origin_note = (
                f"the name's default location {name.default_location} "
                f"(client {_describe_client(client)})"
            )
    for _, step in STEPS:
        step(w)
    outcome: Outcome = w.outcome if w.outcome is not None else "servfail"
    return Decision(
        outcome=outcome,
        regions=w.regions if outcome == "answer" else (),
        endpoints=w.endpoints if outcome == "answer" else (),
        ttl=name.degraded_ttl if w.degraded else name.ttl,
        degraded=w.degraded,
        hashed=w.hashed,
        trace=tuple(w.trace),
    )
