"""A small writer for the MaxMind DB format (https://maxmind.github.io/MaxMind-DB/).

Why our own: the PyPI ``mmdb-writer`` package keeps one Python object per tree node
and inserts networks one at a time through ``netaddr.IPSet``; for the ~6.5 M ranges of
the compact city database that is far too slow and memory-hungry on a small build box
(see the commit that added this module for the measurement). Here the tree is built
directly from *sorted, non-overlapping ranges*: one recursive pass creates exactly the
nodes needed (sibling halves with the same value never get a node), and nodes live in
two flat ``array`` columns, so millions of ranges take seconds and ~16 bytes per node.

Scope: IPv6 trees (IPv4 stored at ``::/96`` as the spec describes, with an optional
``2002::/16`` 6to4 alias), record sizes 24/28/32 chosen automatically, data values made
of maps, arrays, strings, doubles, booleans and unsigned integers, encoded by
:mod:`gslb.geo.build.mmdbdata` (repeated values written once, referenced by pointer).
"""

from __future__ import annotations

import hashlib
import json
import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import BinaryIO

from gslb import heap
from gslb.geo.build.mmdbdata import DataSection, UInt16, UInt32, UInt64, Value, freeze

__all__ = ["Metadata", "TreeStats", "write_database", "write_networks"]

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
GSLB_KEY = "gslb"  # the description entry holding our notes (tables, checksum) as JSON
DATA_SEPARATOR = b"\x00" * 16
IPV4_SPAN = 1 << 32  # IPv4 lives at ::/96 in an IPv6 tree
SIX_TO_FOUR = (0x2002 << 112, 16)  # 2002::/16 → the IPv4 subtree (6to4, RFC 3056)

# Leaf markers used while building (real node numbers are >= 0).
_EMPTY = -1
_ALIAS = -2  # the 6to4 alias; resolved to the IPv4 subtree's record
# data value i is stored as -(i + 3)


@dataclass(frozen=True, slots=True)
class Metadata:
    """What the metadata section says about the database."""

    database_type: str
    description: Mapping[str, str]
    build_epoch: int
    languages: tuple[str, ...] = ("en",)
    ip_version: int = 6

    def encode(self, node_count: int, record_size: int) -> bytes:
        section = DataSection(pointers=False)
        section.add(
            {
                "binary_format_major_version": UInt16(2),
                "binary_format_minor_version": UInt16(0),
                "build_epoch": UInt64(self.build_epoch),
                "database_type": self.database_type,
                "description": dict(self.description),
                "ip_version": UInt16(self.ip_version),
                "languages": list(self.languages),
                "node_count": UInt32(node_count),
                "record_size": UInt16(record_size),
            }
        )
        return section.getvalue()


@dataclass(frozen=True, slots=True)
class TreeStats:
    """What was written, for build reports."""

    node_count: int
    record_size: int
    data_bytes: int
    total_bytes: int


@dataclass(slots=True)
class _Builder:
    """Builds the search tree from sorted disjoint ranges in the 128-bit space."""

    starts: Sequence[int]
    ends: Sequence[int]
    values: Sequence[int]
    tick: Callable[[int], None] | None = None
    left: array[int] = field(default_factory=lambda: array("q"))
    right: array[int] = field(default_factory=lambda: array("q"))
    ipv4_record: int = _EMPTY

    def node(self, a: int, bits: int, lo: int, hi: int) -> int:
        """Record value for the subtree spanning ``[a, a + 2**bits)``.

        ``lo:hi`` are the ranges that intersect that span.
        """
        if lo == hi:
            return _EMPTY
        if hi - lo == 1:
            value = self.values[lo]
            if self.starts[lo] <= a and self.ends[lo] >= a + (1 << bits) - 1:
                return value
        nid = len(self.left)
        self.left.append(_EMPTY)
        self.right.append(_EMPTY)
        if self.tick is not None and nid & 0xFFFF == 0:
            self.tick(nid)
        half = bits - 1
        mid = a + (1 << half)
        k = bisect_left(self.starts, mid, lo, hi)
        left = self.node(a, half, lo, k)
        if a == 0 and half == 32:
            self.ipv4_record = left
        r_lo = k - 1 if k > lo and self.ends[k - 1] >= mid else k
        self.left[nid] = left
        self.right[nid] = self.node(mid, half, r_lo, hi)
        return nid


def _pack_records(left: array[int], right: array[int], record_size: int) -> bytes:
    """Serialise node records big-endian in the spec's 24/28/32-bit layouts."""
    n = len(left)

    def be32(col: array[int]) -> bytes:
        a = array("I", col)
        if sys.byteorder == "little":
            a.byteswap()
        return a.tobytes()

    lb, rb = be32(left), be32(right)
    if record_size == 32:
        out = bytearray(8 * n)
        for i in range(4):
            out[i::8] = lb[i::4]
            out[4 + i :: 8] = rb[i::4]
        return bytes(out)
    if record_size == 24:
        out = bytearray(6 * n)
        for i in range(3):
            out[i::6] = lb[1 + i :: 4]
            out[3 + i :: 6] = rb[1 + i :: 4]
        return bytes(out)
    if record_size == 28:
        out = bytearray(7 * n)
        for i in range(3):
            out[i::7] = lb[1 + i :: 4]
            out[4 + i :: 7] = rb[1 + i :: 4]
        shift4 = bytes(((x << 4) & 0xFF) for x in range(256))
        high = int.from_bytes(lb[0::4].translate(shift4), "big")
        low = int.from_bytes(rb[0::4], "big")
        out[3::7] = (high | low).to_bytes(n, "big")
        return bytes(out)
    raise ValueError(f"unsupported record size {record_size}")


def write_database(
    stream: BinaryIO,
    starts: Sequence[int],
    ends: Sequence[int],
    values: Sequence[int],
    records: Sequence[Value],
    metadata: Metadata,
    *,
    six_to_four_alias: bool = True,
    min_record_size: int = 24,
    progress: Callable[[int], None] | None = None,
    tables: Mapping[str, Value] | None = None,
    checksum: bool = False,
) -> TreeStats:
    """Write a MaxMind DB mapping range ``i`` (``starts[i]..ends[i]``) to ``records[values[i]]``.

    Ranges are integers in the IPv6 space (IPv4 ``a.b.c.d`` is the integer of
    ``::a.b.c.d``), sorted and non-overlapping; adjacent ranges with the same value
    should already be merged (the tree would be correct but larger otherwise).
    ``progress`` is called now and then with the number of nodes built so far;
    ``min_record_size`` forces wider records (tests exercise all three layouts).

    ``tables`` are extra values written at the start of the data section, not reached
    from the tree. ``checksum`` records the SHA-256 of every byte before the metadata
    marker, so a reader can verify the whole file before trusting any of it. Both are
    noted as JSON under the description key ``gslb`` (:data:`GSLB_KEY`): ``{"tables":
    {name: offset}, "sha256": hex}``. Not as metadata keys of their own: the spec says
    readers ignore unknown keys, but the maxminddb C extension (3.2) crashes on them.
    """
    if metadata.ip_version != 6:
        raise ValueError("only IPv6 trees (which also hold IPv4) are written")
    with heap.building():
        return _write(
            stream,
            starts,
            ends,
            values,
            records,
            metadata,
            six_to_four_alias,
            min_record_size,
            progress,
            tables or {},
            checksum,
        )


def _write(
    stream: BinaryIO,
    starts: Sequence[int],
    ends: Sequence[int],
    values: Sequence[int],
    records: Sequence[Value],
    metadata: Metadata,
    six_to_four_alias: bool,
    min_record_size: int,
    progress: Callable[[int], None] | None,
    tables: Mapping[str, Value],
    checksum: bool,
) -> TreeStats:
    section = DataSection()
    table_offsets = {name: section.add(value) for name, value in tables.items()}
    offsets = [section.add(r) for r in records]
    marked = array("q", (-(v + 3) for v in values))
    s, e = list(starts), list(ends)
    for i in range(1, len(s)):
        if s[i] <= e[i - 1]:
            raise ValueError(f"ranges {i - 1} and {i} overlap or are not sorted")
    if six_to_four_alias:
        base, plen = SIX_TO_FOUR
        lo_i = bisect_left(s, base)
        top = base + (1 << (128 - plen)) - 1
        if lo_i < len(s) and s[lo_i] <= top:
            raise ValueError("2002::/16 holds data: cannot alias it to IPv4")
        s.insert(lo_i, base)
        e.insert(lo_i, top)
        marked.insert(lo_i, _ALIAS)
    builder = _Builder(s, e, marked, progress)
    root = builder.node(0, 128, 0, len(s))
    if root < 0:  # the whole space is one leaf: the root must still be a node
        builder.left.append(root)
        builder.right.append(root)
    node_count = len(builder.left)
    data_size = len(section)
    for record_size in (24, 28, 32):
        if record_size >= min_record_size and node_count + 16 + data_size < 1 << record_size:
            break
    else:
        raise ValueError("database too large for 32-bit records")
    ipv4 = builder.ipv4_record

    def final(r: int) -> int:
        if r >= 0:
            return r
        if r == _ALIAS:
            r = ipv4
            if r >= 0:
                return r
        if r == _EMPTY:
            return node_count
        return node_count + 16 + offsets[-r - 3]

    left = array("q", map(final, builder.left))
    right = array("q", map(final, builder.right))
    tree = _pack_records(left, right, record_size)
    data = section.getvalue()
    notes: dict[str, object] = {}
    if table_offsets:
        notes["tables"] = table_offsets
    if checksum:
        digest = hashlib.sha256(tree)
        digest.update(DATA_SEPARATOR)
        digest.update(data)
        notes["sha256"] = digest.hexdigest()
    if notes:
        text = json.dumps(notes, sort_keys=True, separators=(",", ":"))
        metadata = replace(metadata, description={**metadata.description, GSLB_KEY: text})
    meta = metadata.encode(node_count, record_size)
    stream.write(tree)
    stream.write(DATA_SEPARATOR)
    stream.write(data)
    stream.write(METADATA_MARKER)
    stream.write(meta)
    total = len(tree) + 16 + data_size + len(METADATA_MARKER) + len(meta)
    return TreeStats(node_count, record_size, data_size, total)


def write_networks(
    stream: BinaryIO,
    networks: Mapping[str, Value],
    metadata: Metadata,
    *,
    min_record_size: int = 24,
) -> TreeStats:
    """Write a small database from ``{"CIDR": record}`` (IPv4 or IPv6, non-overlapping).

    Convenient for tests and hand-made databases; adjacent CIDRs with equal records
    are merged, as the compact build does.
    """
    from ipaddress import ip_network

    rows: list[tuple[int, int, object, Value]] = []
    for cidr, record in networks.items():
        net = ip_network(cidr)
        rows.append((int(net.network_address), int(net.broadcast_address), freeze(record), record))
    rows.sort(key=lambda r: r[0])
    index: dict[object, int] = {}
    records: list[Value] = []
    starts: list[int] = []
    ends: list[int] = []
    values: list[int] = []
    for first, last, key, record in rows:
        value = index.get(key)
        if value is None:
            value = index[key] = len(records)
            records.append(record)
        if starts and first == ends[-1] + 1 and values[-1] == value and first != IPV4_SPAN:
            ends[-1] = last
        else:
            starts.append(first)
            ends.append(last)
            values.append(value)
    return write_database(
        stream, starts, ends, values, records, metadata, min_record_size=min_record_size
    )
