"""The MaxMind-format geo database as a :class:`gslb.geo.locator.Locator` (edge module).

Reads any GeoIP2/GeoLite2 City or Country database, DB-IP's, or the compact one built
by ``gslb geodb build`` (shipped as ``data/dbip-city-lite.mmdb.xz`` and unpacked beside
itself on first open, or into :func:`gslb.defaults.cache_dir` where that directory is
read-only, as in a system-wide install run by another user). Opening copies the file
where nobody else can change it and verifies it in full (:mod:`gslb.geo.dbfile`), then
probes well-known addresses, so the server refuses to start on a missing, corrupt or
unsuitable database with a :class:`~gslb.errors.GeoDatabaseError`, and a file edited on
disk later can neither crash nor mislead the running server.

Our compact database stores a place index per network and one table of places
(:mod:`gslb.geo.places`), so a lookup is a tree walk returning an int. Other databases
return City-shaped maps; each distinct map is turned into a place id once and
remembered.

Reloading is the caller's job, built from two pieces here: :meth:`GeoDatabase.changed`
(the file's identity moved on disk) and :meth:`GeoDatabase.open` (a new, verified
instance). A corrupt replacement fails to open, so the old instance keeps serving.
"""

from __future__ import annotations

import logging
import os
from bisect import bisect_right
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import maxminddb
from maxminddb.errors import InvalidDatabaseError

from gslb import defaults
from gslb.errors import GeoDatabaseError
from gslb.geo import tree as c_tree
from gslb.geo.centroids import CENTROIDS
from gslb.geo.dbfile import (
    PrivateCopy,
    Signature,
    paths,
    private_copy,
    signature,
    stale,
    unpack,
    unpack_target,
)
from gslb.geo.locator import FAILED, NOWHERE
from gslb.geo.places import StoredPlaces, location_of
from gslb.geo.records import (
    Fields,
    places_have_subdivisions,
    record_fields,
    routing_fields,
)
from gslb.geo.special import special_lookup_int, special_ranges
from gslb.model import IPAddress, Location, Lookup

if TYPE_CHECKING:
    from gslb.geo._tree import Tree

__all__ = ["PROBES", "GeoDatabase"]

log = logging.getLogger(__name__)

#: Addresses every real geo database locates (Google Public DNS), used to check a
#: database at open: they must come back with a country and coordinates.
PROBES: tuple[IPAddress, ...] = (IPv4Address("8.8.8.8"), IPv6Address("2001:4860:4860::8888"))

#: Records read at open to tell whether the database has subdivision codes (~20 ms).
SUBDIVISION_SAMPLE = 10_000


class _Packed(tuple[bytes]):
    """An address as the readers take it (they read ``packed``, 4 or 16 bytes, and
    the pure-Python one ``version``), made from a 1-tuple: no Python code runs when
    the C reader reads it, unlike an ``ipaddress`` object or text (3x the cost)."""

    __slots__ = ()
    packed = property(itemgetter(0))

    @property
    def version(self) -> int:
        return 4 if len(self[0]) == 4 else 6


_LOOKUP_ERRORS = (InvalidDatabaseError, OSError, ValueError, TypeError, AttributeError)


def _open_reader(copy: PrivateCopy) -> Any:
    try:
        try:
            return maxminddb.open_database(copy.path, maxminddb.MODE_MMAP_EXT)
        except ValueError:  # the C extension is not available here
            return maxminddb.open_database(copy.path, maxminddb.MODE_AUTO)
    except (InvalidDatabaseError, OSError, ValueError) as exc:
        raise GeoDatabaseError(f"{copy.source}: not a valid MaxMind DB file: {exc}") from exc


def _has_subdivisions(reader: Any, limit: int = SUBDIVISION_SAMPLE) -> bool:
    """Whether any of the first ``limit`` records has a subdivision ISO code.

    A database that cannot be walked counts as having them: nothing is reported
    rather than something false.
    """
    try:
        for count, (_network, record) in enumerate(reader, 1):
            if isinstance(record, Mapping) and record_fields(record)[2] is not None:
                return True
            if count >= limit:
                break
    except (*_LOOKUP_ERRORS, RuntimeError):
        return True
    return False


class GeoDatabase:
    """A verified, open MaxMind DB; implements :class:`gslb.geo.locator.Locator`.

    Build with :meth:`open`. :meth:`find` is what the query path calls (integers in,
    a place id out: every address with the same location gets the same id, so policy is
    compiled per place, see :mod:`gslb.policy.table`); :meth:`lookup` is for
    explanations. Repeated /24s (/48s) skip the database.
    """

    __slots__ = (
        "path", "database_type", "build_epoch", "description", "ip_version", "node_count",
        "compact", "errors", "subdivisions", "_xz", "_copy", "_reader", "_get", "_centroids",
        "places", "_place_ids", "_records", "_seen", "_special4", "_special6", "tree",
    )  # fmt: skip

    def __init__(
        self,
        path: Path,
        xz: Path,
        copy: PrivateCopy,
        reader: Any,
        seen: Signature,
        centroids: Mapping[str, tuple[float, float]],
    ) -> None:
        md = reader.metadata()
        self.path = path
        self.database_type: str = str(md.database_type)
        self.build_epoch: int = int(md.build_epoch)
        desc = {k: v for k, v in (md.description or {}).items() if k != "gslb"}
        self.description: str = str(desc.get("en") or next(iter(desc.values()), ""))
        self.ip_version: int = int(md.ip_version)
        self.node_count: int = int(md.node_count)
        self.errors = 0  # lookups that failed at query time (a verified file never should)
        self._xz = xz
        self._copy = copy
        self._reader = reader
        self._get = reader.get_with_prefix_len
        self._centroids = centroids
        #: place id -> location (0: no location); a compact database's are its table's
        self.places: list[Location | None] | StoredPlaces = [None]
        self._place_ids: dict[Fields, int] = {}
        self._special4 = special_ranges(4)
        self._special6 = special_ranges(6)
        self._seen = seen
        table = copy.table("places")
        self.compact = isinstance(table, bytes)
        self._records = 0  # records that are place indexes (a compact database's places)
        if isinstance(table, bytes):
            try:
                self.places = StoredPlaces(table, centroids)  # record i is place i + 1
            except ValueError as exc:
                raise GeoDatabaseError(f"{path}: unreadable place table: {exc}") from exc
            self._records = len(self.places) - 1
        #: the search tree read in C (gslb.geo.tree), for our compact database when built
        self.tree: Tree | None = None
        if self.compact:
            self.tree = c_tree.build(
                copy.buffer, self.node_count, int(md.record_size), self.ip_version, self._records
            )
        #: whether records carry subdivision codes (fences naming them can match)
        if isinstance(table, bytes):
            self.subdivisions: bool = places_have_subdivisions(table)
        else:
            self.subdivisions = _has_subdivisions(reader)

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = defaults.GEOIP,
        *,
        probes: Iterable[IPAddress] = PROBES,
        centroids: Mapping[str, tuple[float, float]] = CENTROIDS,
    ) -> GeoDatabase:
        """Open and verify ``path``, unpacking its ``.xz`` sibling when that is newer.

        ``centroids`` (country -> (lat, lon)) locates clients of a Country-only
        database, or records without coordinates. Raises GeoDatabaseError with the
        reason when the database is missing, corrupt or lacks country/coordinates.
        """
        mmdb, xz = paths(path)
        if xz.exists():
            target = unpack_target(mmdb, xz)
            beside, mmdb = target == mmdb, target
            if stale(mmdb, xz, beside):
                try:
                    unpack(mmdb, xz)
                except GeoDatabaseError as exc:
                    if not mmdb.exists():
                        raise
                    log.error("%s; keeping the existing %s", exc, mmdb)
        if not mmdb.exists():
            raise GeoDatabaseError(
                f"{mmdb}: geo database not found (neither it nor {xz.name} exists); "
                "build one with `gslb geodb build` or point --geoip at a GeoIP2/GeoLite2 "
                "City or Country database"
            )
        seen = signature(mmdb, xz)
        copy = private_copy(mmdb)
        try:
            copy.verify()
            reader = _open_reader(copy)
        except BaseException:
            copy.close()
            raise
        try:
            db = cls(mmdb, xz, copy, reader, seen, centroids)
            db._probe(tuple(probes))
            copy.release()
            return db
        except BaseException:
            reader.close()
            copy.close()
            raise

    def _probe(self, probes: tuple[IPAddress, ...]) -> None:
        """Refuse a database that cannot locate the probe addresses with what routing needs."""
        if self.ip_version not in (4, 6):
            raise GeoDatabaseError(f"{self.path}: unsupported ip_version {self.ip_version}")
        for probe in probes:
            if probe.version == 6 and self.ip_version == 4:
                continue
            try:
                record, _ = self._get(probe)
            except _LOOKUP_ERRORS as exc:
                raise GeoDatabaseError(
                    f"{self.path}: corrupt: probe lookup of {probe} failed: {exc}"
                ) from exc
            if not isinstance(record, Mapping) and not (self.compact and isinstance(record, int)):
                raise GeoDatabaseError(
                    f"{self.path}: probe lookup of {probe} found no record; "
                    f"is this a City or Country database ({self.database_type})?"
                )
            location = self.places[self._place(record)]
            if location is None or location.country is None:
                raise GeoDatabaseError(
                    f"{self.path}: lacks country.iso_code (probe {probe}); a GeoIP2/GeoLite2 "
                    f"City or Country database is needed, not {self.database_type}"
                )
            if location.lat is None:
                raise GeoDatabaseError(
                    f"{self.path}: lacks location.latitude/longitude and no centroid is "
                    f"known for {location.country} (probe {probe})"
                )

    def close(self) -> None:
        self.tree = None
        self._reader.close()
        self._copy.close()

    # ----------------------------------------------------------------- reloading

    def changed(self) -> bool:
        """Whether the file (or its ``.xz``) differs from what was opened or acknowledged."""
        return signature(self.path, self._xz) != self._seen

    def acknowledge(self) -> None:
        """Stop reporting the current on-disk state as a change (it was rejected)."""
        self._seen = signature(self.path, self._xz)

    # ----------------------------------------------------------------- describing

    @property
    def build_date(self) -> str:
        return datetime.fromtimestamp(self.build_epoch, UTC).strftime("%Y-%m-%d")

    def describe_file(self) -> str:
        return f"{self.path} ({self.database_type}, built {self.build_date})"

    def describe(self, address: IPAddress) -> dict[str, object]:
        """Everything ``gslb geoip lookup`` shows about one address."""
        found = self.lookup(address)
        loc = found.location
        return {
            "address": str(address),
            "network": str(found.network),
            "country": loc.country if loc else None,
            "continent": loc.continent if loc else None,
            "subdivision": loc.subdivision if loc else None,
            "latitude": loc.lat if loc else None,
            "longitude": loc.lon if loc else None,
            "reason": found.reason,
            "database": str(self.path),
            "database_type": self.database_type,
            "build_date": self.build_date,
            "description": self.description,
        }

    # ----------------------------------------------------------------- locating

    def find(self, version: int, value: int) -> tuple[int, int]:
        """(place id, prefix length of the database network) for an address as an integer.

        On the path of every query from a client network not seen before, so written for
        speed: our compact database's C tree answers it whole (special blocks included);
        otherwise the special-block check is one ``bisect``, the address reaches the
        reader as its packed bytes (:class:`_Packed`: no text to parse, no ``ipaddress``
        object), and our compact database's record is the place id itself. A lookup
        that fails (a verified file never should) returns :data:`FAILED`.
        """
        if self.tree is not None:
            found = self.tree.find(version, value.to_bytes(4 if version == 4 else 16))
            if found is not NotImplemented:
                return found  # type: ignore[no-any-return]
        if version == 4:
            starts, ends, plens = self._special4
            i = bisect_right(starts, value) - 1
            if i >= 0 and value <= ends[i]:
                return NOWHERE, plens[i]
            packed = value.to_bytes(4)
        else:
            starts, ends, plens = self._special6
            i = bisect_right(starts, value) - 1
            if i >= 0 and value <= ends[i]:
                return NOWHERE, plens[i]
            packed = value.to_bytes(16)
        try:
            record, plen = self._get(_Packed((packed,)))
        except _LOOKUP_ERRORS:
            if version == 6 and self.ip_version == 4:
                return NOWHERE, 0  # an IPv4-only database knows no IPv6 address
            self.errors += 1
            return FAILED, 32 if version == 4 else 128
        if version == 4 and plen > 32:
            plen -= 96  # the reader counted the ::/96 path of an IPv6 tree
        if type(record) is int and record < self._records:
            return record + 1, plen
        if record is None:
            return NOWHERE, plen
        return self._place(record), plen

    def lookup(self, address: IPAddress) -> Lookup:
        """Where ``address`` is, the network that gets the same answer, and why not."""
        version, value = address.version, int(address)
        special = special_lookup_int(version, value)
        if special is not None:
            return special
        place, plen, reason = self._find(version, value)
        bits = address.max_prefixlen
        base = (value >> (bits - plen)) << (bits - plen) if plen else 0
        network = IPv4Network((base, plen)) if version == 4 else IPv6Network((base, plen))
        return Lookup(self.places[place] if place > 0 else None, network, reason)

    def _find(self, version: int, value: int) -> tuple[int, int, str]:
        bits = 32 if version == 4 else 128
        address = IPv4Address(value) if version == 4 else IPv6Address(value)
        try:
            record, plen = self._get(address)
        except ValueError:
            if version == 6 and self.ip_version == 4:
                return NOWHERE, 0, "database has no IPv6 data"
            return FAILED, bits, "database lookup failed"
        except _LOOKUP_ERRORS as exc:
            return FAILED, bits, f"database error: {exc}"
        if version == 4 and plen > 32:
            plen -= 96  # the reader counted the ::/96 path of an IPv6 tree
        if record is None:
            return NOWHERE, plen, "not in database"
        place = self._place(record)
        if self.places[place] is None:
            return NOWHERE, plen, "database record has no location"
        return place, plen, ""

    def _place(self, record: Any) -> int:
        """The place id for a record: our index, or a City map's location, seen once."""
        if self.compact:
            if type(record) is int and 0 <= record < len(self.places) - 1:
                return record + 1
            return NOWHERE
        try:
            fields = routing_fields(record, self._centroids)
        except (AttributeError, TypeError, IndexError):
            return NOWHERE
        return self._intern(fields)

    def _intern(self, fields: Fields) -> int:
        place = self._place_ids.get(fields)
        if place is None:
            location = location_of(fields)
            if location is None:
                place = NOWHERE
            else:
                assert isinstance(self.places, list)
                place = len(self.places)
                self.places.append(location)
            self._place_ids[fields] = place
        return place
