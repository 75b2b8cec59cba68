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

__all__ = ["Vector", "order", "origin", "unit_vector", "vectors"]

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


def order(
    name: GslbName,
    cls: ClientClass,
    location: Location | None,
    vecs: Mapping[str, Vector] | None = None,
) -> tuple[Region, ...]:
    """The class's scope in the order this client tries it (stable: ties keep config order).

    Distance is compared as the squared chord between unit vectors: it grows with the
    great-circle distance, so the order is the same, without trigonometry per region.
    """
    scope = cls.scope
    if cls.rule is not None or len(scope) < 2:
        return scope
    where = origin(name, location)
    if where is not None:
        vecs = vecs if vecs is not None else vectors(name)
        x, y, z = unit_vector(*where)

        def chord(r: Region) -> float:
            rx, ry, rz = vecs[r.name]
            return (x - rx) ** 2 + (y - ry) ** 2 + (z - rz) ** 2

        return tuple(sorted(scope, key=chord))
    default = name.default_order
    if not default:
        return scope
    pos = {n: i for i, n in enumerate(default)}
    return tuple(sorted(scope, key=lambda r: pos.get(r.name, len(default))))
