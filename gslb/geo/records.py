"""What routing reads from a MaxMind-format record: country, continent, subdivision, place.

One reader for every record shape (GeoIP2/GeoLite2 City and Country, DB-IP, the
compact database): the offline builder and the server must agree on what a record
says, so both call :func:`record_fields`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["UNKNOWN", "Fields", "record_fields", "routing_fields"]

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
    """The fields routing uses: "unknown" codes dropped, and a country's centroid for a
    record without coordinates (Country databases, sparse City records)."""
    country, continent, subdivision, lat, lon = record_fields(record)
    if country == UNKNOWN:  # DB-IP's "ZZ / Undefined" sits at (0, 0): it locates nothing
        country = lat = lon = None
    if continent == UNKNOWN:
        continent = None
    if (lat is None or lon is None) and country is not None and country in centroids:
        lat, lon = centroids[country]
    return (country, continent, subdivision, lat, lon)
