"""Build the compact geo database shipped in ``data/`` from a full MaxMind-format DB.

Routing only needs country, continent and coordinates, and adjacent networks that
agree on those can share one tree leaf. So the build walks the source's search tree
once (raw, in address order), reduces each record to a *place* (coordinates rounded
to ``precision`` degrees), merges adjacent ranges with the same place and writes a
GeoLite2-City-shaped MaxMind DB with :mod:`gslb.geo.build.mmdbwriter`, xz-compressed
when the output name ends in ``.xz``. Same source + same precision + same build epoch
gives a byte-identical file (``SOURCE_DATE_EPOCH`` is honoured).

This is an edge module (files, maxminddb); the CLI is ``gslb geodb``. The default
source is fetched by :mod:`gslb.geo.build.source`; the country centroids are derived
from a source by :mod:`gslb.geo.build.centroids`.
"""

from __future__ import annotations

import ipaddress
import logging
import lzma
import math
import mmap
import os
import tempfile
import time
from array import array
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import maxminddb
from maxminddb.errors import InvalidDatabaseError

from gslb import heap
from gslb.errors import GeoDatabaseError
from gslb.geo.build import mmdbdata, mmdbwriter
from gslb.geo.build.source import ATTRIBUTION, LICENCE, SOURCE_NAME, date_of
from gslb.geo.dbfile import columns, private_copy
from gslb.geo.records import pack_places, record_fields, unpack_place

log = logging.getLogger(__name__)

DATABASE_TYPE = "GSLB-DBIP-City-Lite-Compact"
#: "places": a place index per network and one place table (what the server reads
#: fastest); "city": GeoLite2-City-shaped maps, for other readers (geoip2, gdnsd).
FORMATS = ("places", "city")
DEFAULT_PRECISION = 0.01  # degrees; see data/README.md for the measurements

IPV4_END = (1 << 32) - 1  # IPv4 a.b.c.d is ::a.b.c.d in the 128-bit space

#: (country, continent, subdivision "CC-XX", latitude, longitude); any may be None.
Place = tuple[str | None, str | None, str | None, float | None, float | None]
Progress = Callable[[int, int], None]  # (done, total)


# --------------------------------------------------------------------------- places


def quantize(value: float, precision: float) -> float:
    """Round to a multiple of ``precision`` degrees, printed cleanly (0.3, not 0.30000004)."""
    digits = max(0, -math.floor(math.log10(precision)) + 1)
    return round(round(value / precision) * precision, digits) + 0.0  # no -0.0


def rounded(place: Place, precision: float) -> Place:
    country, continent, subdivision, lat, lon = place
    if lat is None or lon is None or precision <= 0:
        return place
    return (country, continent, subdivision, quantize(lat, precision), quantize(lon, precision))


def record_of(place: Place) -> dict[str, mmdbdata.Value]:
    """The GeoLite2-City-shaped record written for ``place``."""
    country, continent, subdivision, lat, lon = place
    out: dict[str, mmdbdata.Value] = {}
    if continent:
        out["continent"] = {"code": continent}
    if country:
        out["country"] = {"iso_code": country}
    if lat is not None and lon is not None:
        out["location"] = {"latitude": float(lat), "longitude": float(lon)}
    if subdivision:
        out["subdivisions"] = [{"iso_code": subdivision.split("-", 1)[1]}]
    return out


# --------------------------------------------------------------------------- source


class SourceTree:
    """Any MaxMind DB, read two ways: its raw search tree, and records via maxminddb.

    Our own compact databases are sources too (their records are indexes into a place
    table), so a database can be rebuilt in the other format or at another precision.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        try:
            self.reader = maxminddb.open_database(str(self.path))
        except (OSError, ValueError, InvalidDatabaseError) as exc:
            raise GeoDatabaseError(f"{self.path}: cannot open source database: {exc}") from exc
        with private_copy(self.path) as copy:
            self.stored = copy.table("places")
        self.metadata = self.reader.metadata()
        self.node_count: int = self.metadata.node_count
        self.ip_version: int = self.metadata.ip_version
        size = self.node_count * self.metadata.record_size // 4
        with open(self.path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
            tree = m[:size]
        self.left, self.right = columns(tree, self.node_count, self.metadata.record_size)

    def close(self) -> None:
        self.reader.close()

    def networks(self, progress: Progress | None = None) -> Iterator[tuple[int, int, int]]:
        """``(first, last, record)`` for every data leaf, in address order.

        Addresses are integers in the IPv6 space (IPv4 at ``::/96``). Aliases of the
        IPv4 subtree (``::ffff:0:0/96``, ``2002::/16``) are skipped, so every address
        is seen once. ``record`` identifies the data record (equal record, equal data).
        """
        n, left, right = self.node_count, self.left, self.right
        bits = 128 if self.ip_version == 6 else 32
        ipv4_root = 0
        if self.ip_version == 6:
            for _ in range(96):
                if ipv4_root >= n:
                    break
                ipv4_root = left[ipv4_root]
        stack: list[tuple[int, int, int]] = [(0, 0, 0)]
        pop, push = stack.pop, stack.append
        visited = 0
        while stack:
            node, depth, acc = pop()
            if node < n:
                if acc and node == ipv4_root:
                    continue  # an alias of the IPv4 subtree
                visited += 1
                if progress is not None and visited & 0xFFFF == 0:
                    progress(visited, n)
                depth += 1
                acc <<= 1
                push((right[node], depth, acc | 1))
                push((left[node], depth, acc))
            elif node > n:
                shift = bits - depth
                yield acc << shift, ((acc + 1) << shift) - 1, node
        if progress is not None:
            progress(n, n)

    def fields(self, first: int) -> Place:
        """What the record at address ``first`` says (an integer as in :meth:`networks`)."""
        address: ipaddress.IPv4Address | ipaddress.IPv6Address
        if first <= IPV4_END:
            address = ipaddress.IPv4Address(first)
        else:
            address = ipaddress.IPv6Address(first)
        rec = self.reader.get(address)
        if isinstance(rec, int) and self.stored is not None:
            return unpack_place(self.stored, rec)
        return record_fields(rec if isinstance(rec, Mapping) else None)


# --------------------------------------------------------------------------- compaction


@dataclass(frozen=True, slots=True)
class Compacted:
    """Merged ranges ready for :func:`gslb.mmdbwriter.write_database`."""

    starts: list[int]
    ends: list[int]
    values: array[int]  # index into places
    places: list[Place]
    source_networks: tuple[int, int]  # (IPv4, IPv6) leaves in the source
    ranges: tuple[int, int]  # (IPv4, IPv6) ranges after merging


def compact(source: SourceTree, precision: float, progress: Progress | None = None) -> Compacted:
    """Walk ``source`` and merge adjacent networks whose rounded place is identical."""
    with heap.building():
        return _compact(source, precision, progress)


def _compact(source: SourceTree, precision: float, progress: Progress | None) -> Compacted:
    place_index: dict[Place, int] = {}
    places: list[Place] = []
    by_record: dict[int, int] = {}
    starts: list[int] = []
    ends: list[int] = []
    values = array("I")
    src4 = src6 = 0
    last_end, last_value = -2, -1

    def add(first: int, last: int, value: int) -> None:
        nonlocal last_end, last_value
        if first == last_end + 1 and value == last_value and first != IPV4_END + 1:
            ends[-1] = last
        else:
            starts.append(first)
            ends.append(last)
            values.append(value)
        last_end, last_value = last, value

    for first, last, rec in source.networks(progress):
        value = by_record.get(rec)
        if value is None:
            place = rounded(source.fields(first), precision)
            value = place_index.get(place)
            if value is None:
                value = place_index[place] = len(places)
                places.append(place)
            by_record[rec] = value
        if first <= IPV4_END:
            src4 += 1
            if last > IPV4_END:  # a leaf wider than ::/96: split at the family boundary
                add(first, IPV4_END, value)
                add(IPV4_END + 1, last, value)
                src6 += 1
                continue
        else:
            src6 += 1
        add(first, last, value)
    r4 = sum(1 for s in starts if s <= IPV4_END)
    return Compacted(starts, ends, values, places, (src4, src6), (r4, len(starts) - r4))


# --------------------------------------------------------------------------- build


@dataclass(frozen=True, slots=True)
class BuildReport:
    """What a build produced, for the CLI and data/README.md."""

    source: str
    source_type: str
    source_date: str
    precision: float
    source_networks: tuple[int, int]
    ranges: tuple[int, int]
    places: int
    node_count: int
    record_size: int
    mmdb_bytes: int
    out: str
    out_bytes: int
    seconds: float


def build_epoch_now() -> int:
    """``SOURCE_DATE_EPOCH`` (reproducible builds) or the current time."""
    env = os.environ.get("SOURCE_DATE_EPOCH")
    return int(env) if env else int(time.time())


def metadata_for(source: SourceTree, precision: float, build_epoch: int) -> mmdbwriter.Metadata:
    source_date = date_of(source.metadata.build_epoch)
    text = (
        f"gslb compact geo database built {date_of(build_epoch)} from "
        f"{SOURCE_NAME} ({source.metadata.database_type}, dated {source_date}): "
        f"country, continent and coordinates rounded to {precision:g} degrees, "
        f"adjacent networks merged; {ATTRIBUTION}; licence {LICENCE}"
    )
    return mmdbwriter.Metadata(
        database_type=DATABASE_TYPE, description={"en": text}, build_epoch=build_epoch
    )


def build(
    source_path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    precision: float = DEFAULT_PRECISION,
    build_epoch: int | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    xz_preset: int = 6,
    form: str = "places",
) -> BuildReport:
    """Compact ``source_path`` into ``out`` (``.mmdb``, or ``.mmdb.xz`` compressed).

    ``progress(stage, done, total)`` reports the walk ("read", nodes), the tree
    ("write", nodes; total 0 until known) and xz compression ("compress", bytes).
    The output is replaced atomically and only after it opens and answers a lookup.
    """
    began = time.monotonic()
    epoch = build_epoch_now() if build_epoch is None else build_epoch
    out_path = Path(out)
    source = SourceTree(source_path)
    try:
        compacted = compact(
            source, precision, None if progress is None else lambda d, t: progress("read", d, t)
        )
        metadata = metadata_for(source, precision, epoch)
        source_type = str(source.metadata.database_type)
        source_date = date_of(source.metadata.build_epoch)
    finally:
        source.close()
    out_path.parent.mkdir(parents=True, exist_ok=True)
    records: list[mmdbdata.Value]
    tables: dict[str, mmdbdata.Value] = {}
    if form == "places":
        records = [mmdbdata.UInt32(i) for i in range(len(compacted.places))]
        tables["places"] = pack_places(compacted.places)
    elif form == "city":
        records = [record_of(p) for p in compacted.places]
    else:
        raise ValueError(f"format {form!r} is not one of {', '.join(FORMATS)}")
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{out_path.name}.", suffix=".mmdb", dir=out_path.parent
    )
    tmp_xz = None
    try:
        with os.fdopen(fd, "wb") as fh:
            stats = mmdbwriter.write_database(
                fh,
                compacted.starts,
                compacted.ends,
                compacted.values,
                records,
                metadata,
                progress=None if progress is None else lambda d: progress("write", d, 0),
                tables=tables,
                checksum=True,
            )
        if progress is not None:
            progress("write", stats.node_count, stats.node_count)
        _check_output(tmp_name, compacted)
        if out_path.name.endswith(".xz"):
            fd2, tmp_xz = tempfile.mkstemp(
                prefix=f".{out_path.name}.", suffix=".tmp", dir=out_path.parent
            )
            with os.fdopen(fd2, "wb") as raw:
                _compress(tmp_name, raw, xz_preset, progress)
            os.chmod(tmp_xz, 0o644)  # mkstemp made it private
            os.replace(tmp_xz, out_path)
            tmp_xz = None
        else:
            os.chmod(tmp_name, 0o644)
            os.replace(tmp_name, out_path)
    finally:
        for leftover in (tmp_name, tmp_xz):
            if leftover is not None and os.path.exists(leftover):
                os.unlink(leftover)
    return BuildReport(
        source=str(source_path),
        source_type=source_type,
        source_date=source_date,
        precision=precision,
        source_networks=compacted.source_networks,
        ranges=compacted.ranges,
        places=len(compacted.places),
        node_count=stats.node_count,
        record_size=stats.record_size,
        mmdb_bytes=stats.total_bytes,
        out=str(out_path),
        out_bytes=out_path.stat().st_size,
        seconds=time.monotonic() - began,
    )


def _compress(
    source: str, raw: BinaryIO, preset: int, progress: Callable[[str, int, int], None] | None
) -> None:
    """xz-compress ``source`` into ``raw`` (CRC64 check; deterministic output)."""
    total = os.path.getsize(source)
    done = 0
    with (
        lzma.open(raw, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=preset) as xz,
        open(source, "rb") as src,
    ):
        while chunk := src.read(1 << 20):
            xz.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress("compress", done, total)


def _check_output(path: str, compacted: Compacted, samples: int = 2000) -> None:
    """Refuse to publish a file that does not read back: both ends of evenly spaced ranges."""
    n = len(compacted.starts)
    with maxminddb.open_database(path) as reader:
        for i in sorted({(k * n) // samples for k in range(samples)} | {n - 1}) if n else ():
            for value in (compacted.starts[i], compacted.ends[i]):
                address: ipaddress.IPv4Address | ipaddress.IPv6Address = (
                    ipaddress.IPv4Address(value)
                    if value <= IPV4_END
                    else ipaddress.IPv6Address(value)
                )
                rec = reader.get(address)
                if isinstance(rec, int):
                    got = compacted.places[rec]
                else:
                    got = record_fields(rec if isinstance(rec, Mapping) else None)
                want = compacted.places[compacted.values[i]]
                if got != want:
                    raise GeoDatabaseError(f"{path}: wrote {want} for {address} but read {got}")
