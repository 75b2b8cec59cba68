"""The MaxMind-format geo database as a :class:`gslb.geo.Locator` (edge module).

Reads any GeoIP2/GeoLite2 City or Country database, DB-IP's, or the compact one
built by ``gslb geodb build`` (shipped as ``data/dbip-city-lite.mmdb.xz`` and
unpacked beside itself on first open; where that directory is read-only, as in a
system-wide install run by another user, into :func:`gslb.defaults.cache_dir`
instead). Opening validates the file (metadata and a
probe lookup of well-known addresses), so the server refuses to start on a missing,
corrupt or unsuitable database with a :class:`~gslb.errors.GeoDatabaseError`.

Reloading is the caller's job, built from two pieces here: :meth:`GeoDatabase.changed`
(the file's identity moved on disk) and :meth:`GeoDatabase.open` (a new, validated
instance). A corrupt replacement fails to open, so the old instance keeps serving.
Replace database files atomically (write elsewhere, then rename, as geoipupdate
does): the reader maps the file into memory.
"""

from __future__ import annotations

import contextlib
import logging
import lzma
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import maxminddb
from maxminddb.errors import InvalidDatabaseError

from gslb import defaults
from gslb.errors import GeoDatabaseError
from gslb.geo.centroids import CENTROIDS
from gslb.geo.locator import NOWHERE
from gslb.geo.records import Fields, record_fields, routing_fields
from gslb.geo.special import special_lookup_int
from gslb.model import CLIENT_PREFIX, IPAddress, Location, Lookup, client_network

__all__ = ["PROBES", "GeoDatabase"]

log = logging.getLogger(__name__)


#: Addresses every real geo database locates (Google Public DNS), used to check a
#: database at open: they must come back with a country and coordinates.
PROBES: tuple[IPAddress, ...] = (IPv4Address("8.8.8.8"), IPv6Address("2001:4860:4860::8888"))

#: Records read at open to tell whether the database has subdivision codes (~20 ms).
SUBDIVISION_SAMPLE = 10_000
RECENT_LIMIT = 1 << 15  # cached answers per /24 or /48; cleared whole when full
_LOOKUP_ERRORS = (InvalidDatabaseError, OSError, ValueError, TypeError, AttributeError)
Signature = tuple[tuple[int, int, int] | None, tuple[int, int] | None]


def _paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``.mmdb`` we read and its ``.xz`` sibling (either may be named)."""
    p = Path(path)
    if p.name.endswith(".xz"):
        return p.with_name(p.name[: -len(".xz")]), p
    return p, p.with_name(p.name + ".xz")


def _signature(mmdb: Path, xz: Path) -> Signature:
    """The files' identity: (inode, size, mtime) of the database, (size, mtime) of the xz."""
    try:
        st = mmdb.stat()
        main: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        main = None
    try:
        sx = xz.stat()
        packed: tuple[int, int] | None = (sx.st_size, sx.st_mtime_ns)
    except OSError:
        packed = None
    return (main, packed)


def _open_reader(path: Path) -> Any:
    try:
        try:
            return maxminddb.open_database(str(path), maxminddb.MODE_MMAP_EXT)
        except ValueError:  # the C extension is not available here
            return maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except FileNotFoundError as exc:
        raise GeoDatabaseError(f"{path}: geo database not found") from exc
    except (InvalidDatabaseError, OSError, ValueError) as exc:
        raise GeoDatabaseError(f"{path}: not a valid MaxMind DB file: {exc}") from exc


def _validate(
    reader: Any,
    path: Path,
    probes: Iterable[IPAddress],
    centroids: Mapping[str, tuple[float, float]],
) -> None:
    """Refuse a database that cannot locate the probe addresses with what routing needs."""
    try:
        md = reader.metadata()
        ip_version = int(md.ip_version)
    except _LOOKUP_ERRORS as exc:
        raise GeoDatabaseError(f"{path}: unreadable metadata: {exc}") from exc
    if ip_version not in (4, 6):
        raise GeoDatabaseError(f"{path}: unsupported ip_version {ip_version}")
    for probe in probes:
        if probe.version == 6 and ip_version == 4:
            continue
        try:
            record = reader.get(probe)
        except _LOOKUP_ERRORS as exc:
            raise GeoDatabaseError(
                f"{path}: corrupt: probe lookup of {probe} failed: {exc}"
            ) from exc
        if not isinstance(record, Mapping):
            raise GeoDatabaseError(
                f"{path}: probe lookup of {probe} found no record; "
                f"is this a City or Country database ({md.database_type})?"
            )
        country, _continent, _sub, lat, _lon = routing_fields(record, centroids)
        if country is None:
            raise GeoDatabaseError(
                f"{path}: lacks country.iso_code (probe {probe}); "
                f"a GeoIP2/GeoLite2 City or Country database is needed, not {md.database_type}"
            )
        if lat is None:
            raise GeoDatabaseError(
                f"{path}: lacks location.latitude/longitude and no centroid is known "
                f"for {country} (probe {probe})"
            )


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK)


def _unpack_target(mmdb: Path, xz: Path) -> Path:
    """Where ``xz`` is unpacked: beside itself (as ``mmdb``) unless that directory is
    read-only and holds no up-to-date copy; then the cache directory.

    A copy in the cache is current when it has exactly the ``.xz``'s mtime (unpacking
    sets it), so a different ``.xz`` of the same name, older or newer, replaces it.
    """
    try:
        if mmdb.stat().st_mtime_ns >= xz.stat().st_mtime_ns:
            return mmdb
    except FileNotFoundError:
        pass
    if _writable(mmdb.parent):
        return mmdb
    cache = defaults.cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GeoDatabaseError(
            f"{xz}: its directory is read-only and the cache {cache} cannot be made: {exc}; "
            "set XDG_CACHE_HOME (or CACHE_DIRECTORY) to a writable directory"
        ) from exc
    return cache / mmdb.name


def _stale(mmdb: Path, xz: Path, beside: bool) -> bool:
    try:
        unpacked, packed = mmdb.stat().st_mtime_ns, xz.stat().st_mtime_ns
    except FileNotFoundError:
        return True
    return unpacked < packed if beside else unpacked != packed


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


def _unpack(
    mmdb: Path, xz: Path, probes: Iterable[IPAddress], centroids: Mapping[str, tuple[float, float]]
) -> None:
    """Decompress ``xz`` over ``mmdb`` atomically, after checking the result opens.

    The unpacked file takes the xz file's mtime, so "the .mmdb is older than the
    .xz" means exactly "the .xz changed since it was unpacked".
    """
    log.info("unpacking %s to %s", xz, mmdb)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{mmdb.name}.", suffix=".tmp", dir=mmdb.parent)
        with os.fdopen(fd, "wb") as out, lzma.open(xz, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        try:
            reader = _open_reader(Path(tmp))
        except GeoDatabaseError as exc:
            raise GeoDatabaseError(f"{xz}: does not hold a valid MaxMind DB: {exc}") from exc
        try:
            _validate(reader, xz, probes, centroids)
        finally:
            reader.close()
        st = xz.stat()
        os.chmod(tmp, 0o644)  # mkstemp made it private; the server may run as another user
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(tmp, mmdb)
        tmp = None
    except (lzma.LZMAError, EOFError, OSError) as exc:
        raise GeoDatabaseError(f"{xz}: cannot unpack to {mmdb}: {exc}") from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


class GeoDatabase:
    """A validated, open MaxMind DB; implements :class:`gslb.geo.Locator`.

    Build with :meth:`open`. :meth:`find` is what the query path calls (integers in,
    a place id out: every address with the same location gets the same id, so policy is
    compiled per place, see :mod:`gslb.policy.table`); :meth:`lookup` is for
    explanations. Repeated /24s (/48s) skip the database.
    """

    __slots__ = (
        "path",
        "database_type",
        "build_epoch",
        "description",
        "ip_version",
        "node_count",
        "subdivisions",
        "_xz",
        "_reader",
        "_get",
        "_centroids",
        "places",
        "_place_ids",
        "_recent",
        "_seen",
    )

    def __init__(
        self,
        path: Path,
        xz: Path,
        reader: Any,
        signature: Signature,
        centroids: Mapping[str, tuple[float, float]],
    ) -> None:
        md = reader.metadata()
        self.path = path
        self.database_type: str = str(md.database_type)
        self.build_epoch: int = int(md.build_epoch)
        desc = md.description or {}
        self.description: str = str(desc.get("en") or next(iter(desc.values()), ""))
        self.ip_version: int = int(md.ip_version)
        self.node_count: int = int(md.node_count)
        #: whether records carry subdivision codes (fences naming them can match)
        self.subdivisions: bool = _has_subdivisions(reader)
        self._xz = xz
        self._reader = reader
        self._get = reader.get_with_prefix_len
        self._centroids = centroids
        #: place id -> location (0: no location); grows as records are first seen
        self.places: list[Location | None] = [None]
        self._place_ids: dict[Fields, int] = {}
        self._recent: dict[int, tuple[int, int]] = {}  # /24 or /48 -> (place, prefix length)
        self._seen = signature

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] = defaults.GEOIP,
        *,
        probes: Iterable[IPAddress] = PROBES,
        centroids: Mapping[str, tuple[float, float]] = CENTROIDS,
    ) -> GeoDatabase:
        """Open and validate ``path``, unpacking its ``.xz`` sibling when that is newer
        (beside it, or into the cache directory when its directory is read-only).

        ``centroids`` (country -> (lat, lon)) locates clients of a Country-only
        database, or records without coordinates. Raises GeoDatabaseError with the
        reason when the database is missing, corrupt or lacks country/coordinates.
        """
        mmdb, xz = _paths(path)
        probes = tuple(probes)
        if xz.exists():
            target = _unpack_target(mmdb, xz)
            beside, mmdb = target == mmdb, target
            if _stale(mmdb, xz, beside):
                try:
                    _unpack(mmdb, xz, probes, centroids)
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
        signature = _signature(mmdb, xz)
        reader = _open_reader(mmdb)
        try:
            _validate(reader, mmdb, probes, centroids)
            return cls(mmdb, xz, reader, signature, centroids)
        except BaseException:
            reader.close()
            raise

    def close(self) -> None:
        self._reader.close()

    # ----------------------------------------------------------------- reloading

    def changed(self) -> bool:
        """Whether the file (or its ``.xz``) differs from what was opened or acknowledged."""
        return _signature(self.path, self._xz) != self._seen

    def acknowledge(self) -> None:
        """Stop reporting the current on-disk state as a change (it was rejected)."""
        self._seen = _signature(self.path, self._xz)

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

        Answers for networks at least as wide as a /24 (/48) are shared by every address
        in that /24 (/48), the usual ECS granularity, so they are remembered by it and a
        repeated client network skips the database. A lookup error places the address
        nowhere; :meth:`lookup` says why.
        """
        key = client_network(version, value) if version == 4 else ~client_network(version, value)
        hit = self._recent.get(key)
        if hit is not None:
            return hit
        special = special_lookup_int(version, value)
        if special is not None:
            found = (NOWHERE, special.network.prefixlen)
        else:
            place, plen, _ = self._find(version, value)
            found = (place, plen)
        if found[1] <= CLIENT_PREFIX[version]:
            if len(self._recent) >= RECENT_LIMIT:
                self._recent.clear()
            self._recent[key] = found
        return found

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
        return Lookup(self.places[place], network, reason)

    def _find(self, version: int, value: int) -> tuple[int, int, str]:
        bits = 32 if version == 4 else 128
        address = IPv4Address(value) if version == 4 else IPv6Address(value)
        try:
            record, plen = self._get(address)
        except ValueError:
            if version == 6 and self.ip_version == 4:
                return NOWHERE, 0, "database has no IPv6 data"
            return NOWHERE, bits, "database lookup failed"
        except _LOOKUP_ERRORS as exc:
            return NOWHERE, bits, f"database error: {exc}"
        if version == 4 and plen > 32:
            plen -= 96  # the reader counted the ::/96 path of an IPv6 tree
        if record is None:
            return NOWHERE, plen, "not in database"
        place = self._place(record)
        if place == NOWHERE:
            return NOWHERE, plen, "database record has no location"
        return place, plen, ""

    def _place(self, record: Any) -> int:
        """The place id for a record's location, assigned when first seen."""
        try:
            fields = routing_fields(record, self._centroids)
        except (AttributeError, TypeError, IndexError):
            return NOWHERE
        place = self._place_ids.get(fields)
        if place is None:
            country, continent, subdivision, lat, lon = fields
            if country is None and continent is None and lat is None:
                place = NOWHERE
            else:
                place = len(self.places)
                self.places.append(
                    Location(
                        country=country,
                        continent=continent,
                        subdivision=subdivision,
                        lat=None if lat is None else float(lat),
                        lon=None if lon is None else float(lon),
                    )
                )
            self._place_ids[fields] = place
        return place
