"""Step 5, nearest: the order in which a client of a class tries the regions of its scope.

A rule's order wins; otherwise great-circle distance from the client (or from the
name's default location for clients without coordinates); otherwise the name's
default order. The compiled table runs this once per place: ordering before health
and load filter the list gives the same answer as ordering after them (filters keep
order), and is what lets the order be compiled at all (gdnsd's model: one stage
orders the datacentres, another walks the order skipping down ones).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Final

from gslb.model import GslbName, Location, Region
from gslb.policy.classes import ClientClass

__all__ = ["Vector", "default_rank", "order", "origin", "ranked", "unit_vector", "vectors"]

_RAD: Final = math.pi / 180.0
Vector = tuple[float, float, float]


def unit_vector(lat: float, lon: float) -> Vector:
    p, q = lat * _RAD, lon * _RAD
    c = math.cos(p)
    return (c * math.cos(q), c * math.sin(q), math.sin(p))


def vectors(name: GslbName) -> dict[str, Vector]:
    """Each region's unit vector: computed once per name, not per place."""
    return {r.name: unit_vector(r.lat, r.lon) for r in name.regions}


def origin(name: GslbName, location: Location | None) -> tuple[float, float] | None:
    """Where distance is measured from: the client, else the name's default location."""
    if location is not None and location.lat is not None and location.lon is not None:
        return (location.lat, location.lon)
    return name.default_location


def ranked(vecs: list[Vector], lat: float, lon: float) -> list[int]:
    """Indexes of ``vecs`` nearest first from (lat, lon); ties keep their order.

    Distance is compared as the squared chord between unit vectors: it grows with the
    great-circle distance, so the order is the same, without trigonometry per region.
    The compiled table calls this once per place of the database, so it stays lean.
    """
    x, y, z = unit_vector(lat, lon)
    d = [(x - a) * (x - a) + (y - b) * (y - b) + (z - c) * (z - c) for a, b, c in vecs]
    return sorted(range(len(d)), key=d.__getitem__)


def default_rank(name: GslbName, scope: tuple[Region, ...]) -> list[int]:
    """The order for a client with no coordinates and no default location."""
    default = name.default_order
    if not default:
        return list(range(len(scope)))
    pos = {n: i for i, n in enumerate(default)}
    return sorted(range(len(scope)), key=lambda i: pos.get(scope[i].name, len(default)))


def order(
    name: GslbName,
    cls: ClientClass,
    location: Location | None,
    vecs: Mapping[str, Vector] | None = None,
) -> tuple[Region, ...]:
    """The class's scope in the order this client tries it (stable: ties keep config order)."""
    scope = cls.scope
    if cls.rule is not None or len(scope) < 2:
        return scope
    where = origin(name, location)
    if where is not None:
        vecs = vecs if vecs is not None else vectors(name)
        return tuple(scope[i] for i in ranked([vecs[r.name] for r in scope], *where))
    return tuple(scope[i] for i in default_rank(name, scope))
