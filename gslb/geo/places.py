"""What a place id means: a compact database's stored place table, read lazily.

A place is a distinct location (country, continent, subdivision, rounded
coordinates); the locator hands out place ids and the policy compiles per place
(:mod:`gslb.policy.table`). Our compact database stores its places once, in a table
the tree's records index; :class:`StoredPlaces` reads that table as ``Location``
objects on first use, or as plain fields in bulk for the table compiler.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Final, cast, overload

from gslb.geo.records import Fields, count_places, for_routing, iter_places, unpack_place
from gslb.model import Location

__all__ = ["StoredPlaces", "location_of"]


class StoredPlaces(Sequence[Location | None]):
    """A compact database's place table as place ids: 0 is nowhere, i + 1 is entry i.

    Decoded on first use of each entry: a one-off ``gslb resolve`` reads a few, the
    server's table compiler reads them all once.
    """

    __slots__ = ("_blob", "_centroids", "_cache", "_count")

    _UNSET: Final = object()

    def __init__(self, blob: bytes, centroids: Mapping[str, tuple[float, float]]) -> None:
        self._blob = blob
        self._centroids = centroids
        self._count = count_places(blob)
        self._cache: list[object] = [None, *([self._UNSET] * self._count)]

    def __len__(self) -> int:
        return self._count + 1

    def fields(self, start: int = 0) -> Iterator[Fields]:
        """Places ``start`` onwards as routing fields, decoded in bulk and never kept:
        the table compiler reads every place once and needs no Location objects."""
        if start == 0:
            yield (None, None, None, None, None)  # place 0: nowhere
            start = 1
        centroids = self._centroids
        for fields in iter_places(self._blob, start - 1):
            yield for_routing(fields, centroids)

    @overload
    def __getitem__(self, index: int) -> Location | None: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[Location | None]: ...

    def __getitem__(self, index: int | slice) -> Location | None | Sequence[Location | None]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        found = self._cache[index]
        if found is self._UNSET:
            fields = for_routing(unpack_place(self._blob, index - 1), self._centroids)
            found = self._cache[index] = location_of(fields)
        return cast("Location | None", found)


def location_of(fields: Fields) -> Location | None:
    """The location routing fields describe; None when they locate nothing."""
    country, continent, subdivision, lat, lon = fields
    if country is None and continent is None and lat is None:
        return None
    return Location(
        country=country,
        continent=continent,
        subdivision=subdivision,
        lat=None if lat is None else float(lat),
        lon=None if lon is None else float(lon),
    )
