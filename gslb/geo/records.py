"""What routing reads from a MaxMind-format record: country, continent, subdivision, place.

One reader for every record shape (GeoIP2/GeoLite2 City and Country, DB-IP, the
compact database): the offline builder and the server must agree on what a record
says, so both call :func:`record_fields`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping, Sequence
from itertools import starmap
from typing import Any

__all__ = [
    "UNKNOWN",
    "Fields",
    "for_routing",
    "iter_places",
    "places_have_subdivisions",
    "pack_places",
    "record_fields",
    "routing_fields",
    "count_places",
    "unpack_place",
    "unpack_places",
]

#: (country, continent, subdivision "CC-XX", latitude, longitude); any may be None.
Fields = tuple[str | None, str | None, str | None, float | None, float | None]
UNKNOWN = "ZZ"  # the user-assigned ISO code databases use for "unknown"


def record_fields(record: Mapping[str, Any] | None) -> Fields:
    """The fields as the record states them (coordinates only as a pair)."""
    if not record:
        return (None, None, None, None, None)
    country = (record.get("country") or {}).get("iso_code")
    continent = (record.get("continent") or {}).get("code")
    subdivision = None
    subs = record.get("subdivisions") or ()
    if subs and country:
        code = subs[0].get("iso_code")
        if code:
            subdivision = f"{country}-{code}"
    loc = record.get("location") or {}
    lat, lon = loc.get("latitude"), loc.get("longitude")
    if lat is None or lon is None:
        lat = lon = None
    return (country, continent, subdivision, lat, lon)


def routing_fields(
    record: Mapping[str, Any] | None, centroids: Mapping[str, tuple[float, float]]
) -> Fields:
    """The fields routing uses from a record (see :func:`for_routing`)."""
    return for_routing(record_fields(record), centroids)


def for_routing(fields: Fields, centroids: Mapping[str, tuple[float, float]]) -> Fields:
    """ "Unknown" codes dropped, and a country's centroid for a place without coordinates
    (Country databases, sparse City records)."""
    country, continent, subdivision, lat, lon = fields
    if country == UNKNOWN:  # DB-IP's "ZZ / Undefined" sits at (0, 0): it locates nothing
        country = lat = lon = None
    if continent == UNKNOWN:
        continent = None
    if (lat is None or lon is None) and country is not None and country in centroids:
        lat, lon = centroids[country]
    return (country, continent, subdivision, lat, lon)


# --------------------------------------------------------------------------- place tables

#: Our compact databases store a record per network as a small integer, an index into
#: one table of places kept in the file (``gslb_tables.places``): country, continent,
#: subdivision code and coordinates in 1e-5 degrees, 16 bytes each. A lookup then
#: returns an int, never a City-shaped map of maps.
_PLACE = struct.Struct("!2s2s4sii")
_NO_COORDINATE = -(1 << 31)
_PLACES_MAGIC = b"GSLBPLC1"


def pack_places(places: Sequence[Fields]) -> bytes:
    """The place table as our builder stores it."""
    out = bytearray(_PLACES_MAGIC)
    for country, continent, subdivision, lat, lon in places:
        code = subdivision.split("-", 1)[1] if subdivision else ""
        out += _PLACE.pack(
            (country or "").encode("ascii"),
            (continent or "").encode("ascii"),
            code.encode("ascii"),
            _NO_COORDINATE if lat is None else round(lat * 1e5),
            _NO_COORDINATE if lon is None else round(lon * 1e5),
        )
    return bytes(out)


def unpack_place(blob: bytes | memoryview, index: int) -> Fields:
    """Place ``index`` of a stored table (IndexError past its end)."""
    at = len(_PLACES_MAGIC) + index * _PLACE.size
    if index < 0 or at + _PLACE.size > len(blob):
        raise IndexError(index)
    return _decode(*_PLACE.unpack_from(blob, at))


def iter_places(blob: bytes, first: int = 0) -> Iterator[Fields]:
    """Places ``first`` onwards of a stored table, in bulk (what a compiler reads)."""
    at = len(_PLACES_MAGIC) + first * _PLACE.size
    return starmap(_decode, _PLACE.iter_unpack(memoryview(blob)[at:]))


def _decode(cc: bytes, cont: bytes, code: bytes, lat: int, lon: int) -> Fields:
    country = cc.rstrip(b"\0").decode("ascii") or None
    subdivision = code.rstrip(b"\0").decode("ascii") if code[0] else ""
    return (
        country,
        cont.rstrip(b"\0").decode("ascii") or None,
        f"{country}-{subdivision}" if subdivision and country else None,
        None if lat == _NO_COORDINATE else lat / 1e5,
        None if lon == _NO_COORDINATE else lon / 1e5,
    )


def count_places(blob: bytes | memoryview) -> int:
    """How many places a stored table holds; ValueError when it is not one."""
    if bytes(blob[: len(_PLACES_MAGIC)]) != _PLACES_MAGIC:
        raise ValueError("not a gslb place table")
    size, extra = divmod(len(blob) - len(_PLACES_MAGIC), _PLACE.size)
    if extra:
        raise ValueError("a gslb place table with a partial entry")
    return size


def places_have_subdivisions(blob: bytes) -> bool:
    """Whether any place of a stored table names a subdivision (a C-speed scan)."""
    start = len(_PLACES_MAGIC) + 4  # the subdivision code follows country and continent
    return any(blob[start + i :: _PLACE.size].strip(b"\0") for i in range(4))


def unpack_places(blob: bytes) -> list[Fields]:
    """The whole place table from its stored bytes; ValueError when it is not one."""
    count_places(blob)  # checks the magic and the size
    return list(iter_places(blob))
