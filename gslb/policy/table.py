"""The compiled decision table of a GSLB name: place → the regions its clients try, in order.

Fence, rules and nearest (:mod:`~gslb.policy.classes`, :mod:`~gslb.policy.nearest`)
depend only on config and on where a client is, so they run once per *place* (a
distinct location the geo database knows: country, continent, subdivision and rounded
coordinates), when the table is built, and never per query. A query then costs an
index into ``by_place`` plus the live steps (health, load, pick), whose result the
:class:`~gslb.policy.steps.Decider` memoises per live state.

Place ids come from the locator: 0 is "no location", and ``places[i]`` is the
:class:`~gslb.model.Location` of place ``i``. CIDR fences and rules cut across places,
so an address inside one of the name's networks is classified by its address first
(memoised per place and set of networks hit). Each distinct (class, order) pair is
one :class:`Choice`; there are few of them (a few dozen for the example zone), which is
what ``gslb sync`` lists and what the decision memo is keyed by.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from ipaddress import IPv4Address, IPv6Address

from gslb.geo.records import Fields
from gslb.model import GslbName, Location, Region
from gslb.policy.classes import ClientClass, classify, classify_unlocatable, region_names
from gslb.policy.nearest import Vector, default_rank, ranked, vectors

__all__ = ["NOWHERE", "Choice", "NameTable", "Places", "build_tables"]

NOWHERE = 0  # the place id of every address without a location
Places = Sequence[Location | None]
_UNKNOWN = -1


class Choice:
    """One entry of a table: a client class and its scope in the order it is tried."""

    __slots__ = ("index", "cls", "regions")

    def __init__(self, index: int, cls: ClientClass, regions: tuple[Region, ...]) -> None:
        self.index = index
        self.cls = cls
        self.regions = regions

    def __repr__(self) -> str:
        fences = ",".join(f.name for f in self.cls.fences) or "-"
        return f"Choice({self.index}: fences {fences}, {' > '.join(region_names(self.regions))})"


class NameTable:
    """The compiled part of one name's policy (shared by names with the same policy)."""

    __slots__ = (
        "name", "vectors", "choices", "by_place", "networks", "classes", "_class_ids",
        "_class_vecs", "_fixed", "_keys", "_geo", "_cidr", "_failed",
    )  # fmt: skip

    def __init__(self, name: GslbName) -> None:
        self.name = name
        self.vectors = vectors(name)
        self.choices: list[Choice] = []
        self.by_place = array("i")
        #: (version, first, last) of every CIDR in the name's fences and rules
        self.networks: tuple[tuple[int, int, int], ...] = tuple(
            (n.version, int(n.network_address), int(n.broadcast_address))
            for m in [*(f.match for f in name.fences), *(r.match for r in name.rules)]
            for n in m.networks
        )
        self.classes: list[ClientClass] = []
        self._class_ids: dict[tuple[object, ...], int] = {}
        self._class_vecs: list[list[Vector]] = []  # per class: its scope's unit vectors
        self._fixed: list[tuple[int, ...] | None] = []  # per class: an order set by config
        self._keys: dict[tuple[int, tuple[int, ...]], Choice] = {}
        self._geo: dict[tuple[str | None, str | None, str | None], int] = {}
        self._cidr: dict[tuple[int, int], Choice] = {}
        self._failed: Choice | None = None

    # ------------------------------------------------------------------ building

    def _class(self, cls: ClientClass) -> int:
        found = self._class_ids.get(cls.key)
        if found is None:
            found = self._class_ids[cls.key] = len(self.classes)
            self.classes.append(cls)
            self._class_vecs.append([self.vectors[r.name] for r in cls.scope])
            fixed: tuple[int, ...] | None = None
            if cls.rule is not None or len(cls.scope) < 2:
                fixed = tuple(range(len(cls.scope)))
            elif self.name.default_location is not None:
                fixed = tuple(ranked(self._class_vecs[-1], *self.name.default_location))
            self._fixed.append(fixed)
        return found

    def _choice(self, class_id: int, lat: float | None, lon: float | None) -> Choice:
        """The choice for a client of class ``class_id`` at (lat, lon), if known."""
        idx = self._fixed[class_id]
        if lat is not None and lon is not None and (idx is None or len(idx) > 1):
            if self.classes[class_id].rule is None:
                idx = tuple(ranked(self._class_vecs[class_id], lat, lon))
        if idx is None:
            idx = tuple(default_rank(self.name, self.classes[class_id].scope))
        found = self._keys.get((class_id, idx))
        if found is None:
            scope = self.classes[class_id].scope
            found = Choice(len(self.choices), self.classes[class_id], tuple(scope[i] for i in idx))
            self._keys[(class_id, idx)] = found
            self.choices.append(found)
        return found

    def for_location(self, location: Location | None, address: object = None) -> Choice:
        """Classify and order one location (and address, for CIDR matches)."""
        if address is None and location is not None:
            geo = (location.country, location.continent, location.subdivision)
            class_id = self._geo.get(geo)
            if class_id is None:
                class_id = self._geo[geo] = self._class(classify(self.name, location, None))
        else:
            class_id = self._class(classify(self.name, location, address))  # type: ignore[arg-type]
        lat = location.lat if location is not None else None
        lon = location.lon if location is not None else None
        return self._choice(class_id, lat, lon)

    def compile(self, places: Places, start: int = 0) -> None:
        """Fill the table for places ``start`` onwards (all of a database at load time)."""
        fields = getattr(places, "fields", None)
        rows: Iterable[Fields] = (
            fields(start)
            if fields is not None
            else (_fields_of(places[i]) for i in range(start, len(places)))
        )
        by_place = self.by_place
        if len(by_place) < len(places):
            by_place.extend([_UNKNOWN] * (len(places) - len(by_place)))
        geo_ids, choose = self._geo, self._choice
        for place, (country, continent, subdivision, lat, lon) in enumerate(rows, start):
            if by_place[place] != _UNKNOWN:
                continue
            if country is None and continent is None and lat is None:
                by_place[place] = self.for_location(None).index
                continue
            geo = (country, continent, subdivision)
            class_id = geo_ids.get(geo)
            if class_id is None:
                location = Location(country, continent, subdivision, lat, lon)
                class_id = geo_ids[geo] = self._class(classify(self.name, location, None))
            by_place[place] = choose(class_id, lat, lon).index

    # ------------------------------------------------------------------ querying

    def for_place(self, place: int, places: Places) -> Choice:
        """The choice for a place without CIDR matches (compiled lazily if new)."""
        by_place = self.by_place
        if place < len(by_place):
            index = by_place[place]
            if index != _UNKNOWN:
                return self.choices[index]
        else:
            by_place.extend([_UNKNOWN] * (place + 1 - len(by_place)))
        choice = self.for_location(places[place])
        by_place[place] = choice.index
        return choice

    def failed(self) -> Choice:
        """The choice for a client whose location lookup failed: inside every fence."""
        if self._failed is None:
            self._failed = self._choice(self._class(classify_unlocatable(self.name)), None, None)
        return self._failed

    def lookup(self, place: int, places: Places, version: int, value: int) -> Choice:
        """The choice for a client: its CIDR matches first, then its place."""
        if place < 0:  # FAILED: the lookup broke
            return self.failed()
        if self.networks:
            mask = 0
            for bit, (v, first, last) in enumerate(self.networks):
                if v == version and first <= value <= last:
                    mask |= 1 << bit
            if mask:
                found = self._cidr.get((place, mask))
                if found is None:
                    address = IPv4Address(value) if version == 4 else IPv6Address(value)
                    found = self.for_location(places[place], address)
                    self._cidr[(place, mask)] = found
                return found
        return self.for_place(place, places)


def _fields_of(location: Location | None) -> Fields:
    if location is None:
        return (None, None, None, None, None)
    return (location.country, location.continent, location.subdivision, location.lat, location.lon)


def _signature(name: GslbName) -> tuple[object, ...]:
    """What the compiled part depends on: names with equal signatures share a table."""
    return (name.regions, name.fences, name.rules, name.default_order, name.default_location)


def build_tables(names: Iterable[GslbName], places: Places) -> dict[str, NameTable]:
    """Tables by owner name, compiled for every known place; equal policies share one."""
    shared: dict[tuple[object, ...], NameTable] = {}
    out: dict[str, NameTable] = {}
    for name in names:
        sig = _signature(name)
        table = shared.get(sig)
        if table is None:
            table = shared[sig] = NameTable(name)
            table.compile(places)
        out[name.name] = table
    return out
