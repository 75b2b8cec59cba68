"""The GSLB decision for one name and one client: a pipeline of named steps.

The steps are listed once, in :data:`STEPS`. Three depend only on config and on where
the client is (fence, rules, nearest): they are compiled into a per-name table
(:mod:`gslb.policy.table`) when config is loaded. Four depend on the live state
(health, load, pick, all-down): they run per query (:mod:`gslb.policy.steps`), and
their result is memoised per live state. The DNS server, ``gslb resolve`` and
``gslb sync`` all run this same list, so what ``resolve`` explains is what the server
does: :func:`explain` looks the client up in the same table and runs the same live
steps, only asking them to write down why.

The module is pure: no I/O, no clock, no randomness.
"""

from __future__ import annotations

from typing import Final, Literal

from gslb.geo.distance import haversine_km
from gslb.model import Client, Decision, GslbName, LiveState, Step
from gslb.policy.classes import classify, classify_unlocatable, region_names
from gslb.policy.nearest import origin
from gslb.policy.steps import Decider, decision_of
from gslb.policy.table import Choice, NameTable

__all__ = ["STEPS", "decide", "describe_client", "explain_decision"]

Phase = Literal["config", "live"]

#: The pipeline, in order: the one place it is written down. "config" steps are
#: compiled per place when config loads; "live" steps run per query on the result.
STEPS: Final[tuple[tuple[str, Phase], ...]] = (
    ("fence", "config"),
    ("rules", "config"),
    ("health", "live"),
    ("load", "live"),
    ("nearest", "config"),
    ("pick", "live"),
    ("all-down", "live"),
)


def describe_client(client: Client) -> str:
    lk = client.lookup
    who = f"{client.address} via {client.source} /{client.source_prefix}"
    loc = lk.location
    if loc is None:
        return f"{who}: no location ({lk.reason or 'unknown'}), network {lk.network}"
    parts = [p for p in (loc.country, loc.continent, loc.subdivision) if p]
    coords = f" ({loc.lat:.2f}, {loc.lon:.2f})" if loc.has_coordinates else " (no coordinates)"
    return f"{who}: {'/'.join(parts) or 'no country'}{coords}, network {lk.network}"


def _nearest_step(name: GslbName, choice: Choice, client: Client, kept: tuple[str, ...]) -> Step:
    who = describe_client(client)
    where = origin(name, client.lookup.location)
    if choice.cls.rule is not None:
        note = f"rule order kept; client {who}"
    elif where is not None:
        loc = client.lookup.location
        located = loc is not None and loc.has_coordinates
        src = (
            f"client {who}"
            if located
            else f"the name's default location {name.default_location} (client {who})"
        )
        regions = {r.name: r for r in name.regions}
        dists = ", ".join(
            f"{n} {haversine_km(where[0], where[1], regions[n].lat, regions[n].lon):.0f} km"
            for n in kept
        )
        note = f"distance from {src}: {dists}" if dists else f"distance from {src}"
    elif name.default_order:
        order = ", ".join(name.default_order)
        note = f"no location for the client ({who}); the name's default order: {order}"
    else:
        note = f"no location for the client ({who}); declaration order"
    return Step("nearest", kept, note=note)


def explain_decision(
    name: GslbName,
    choice: Choice,
    decider: Decider,
    client: Client,
    family: int,
    failed: bool = False,
) -> Decision:
    """The decision the server makes for ``client`` (whose table entry is ``choice``;
    ``failed``: its location lookup failed), with one :class:`~gslb.model.Step` per entry
    of :data:`STEPS` saying why."""
    version, value = client.address.version, int(client.address)
    trace: list[Step] = []
    if failed:
        cls = classify_unlocatable(name, trace)
    else:
        cls = classify(name, client.lookup.location, client.address, trace)
    assert cls.key == choice.cls.key, "the table and the explanation must agree"
    w = decider.run(name, choice, family, version, value, explain=True)
    steps = {s.name: s for s in trace} | w.trace
    steps["nearest"] = _nearest_step(name, choice, client, region_names(w.after_load))
    return decision_of(w, tuple(steps[step] for step, _ in STEPS))


def decide(
    name: GslbName, client: Client, state: LiveState, family: int, explain: bool = False
) -> Decision:
    """One decision without a compiled view: for tests and one-off callers.

    Builds a table for ``name`` holding only this client's place; the steps are the
    server's own.
    """
    table = NameTable(name)
    choice = table.for_location(client.lookup.location, client.address)
    decider = Decider(state)
    if explain:
        return explain_decision(name, choice, decider, client, family)
    return decider.decide(name, choice, family, client.address.version, int(client.address))
