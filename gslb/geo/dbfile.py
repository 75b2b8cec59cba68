"""A geo database file, made private and verified before anything reads it.

Why a private copy: the MaxMind reader maps the file into memory, and a file that is
edited or truncated in place under a mapping kills the process with SIGBUS (attack
testing did exactly that with ``truncate`` and ``cp``). So the bytes are copied once
into memory nobody else can write, a sealed memfd on Linux (an unlinked private
temporary file elsewhere), and verified in full there before the reader opens it:

* our compact databases note the SHA-256 of every byte before the metadata (in the
  description entry ``gslb``), so any edit or corruption anywhere is caught;
* other MaxMind DBs (GeoLite2, DB-IP, IPinfo) carry no checksum: every record of the
  search tree must point at a node, "empty", or inside the data section, and a sample
  of the data records they point at must decode.

This module is the edge that touches files; :mod:`gslb.geo.database` reads the copy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import lzma
import mmap
import os
import shutil
import sys
import tempfile
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maxminddb.decoder import Decoder
from maxminddb.errors import InvalidDatabaseError

from gslb import defaults
from gslb.errors import GeoDatabaseError

__all__ = [
    "PrivateCopy",
    "Signature",
    "columns",
    "paths",
    "private_copy",
    "signature",
    "stale",
    "unpack",
    "unpack_target",
]

log = logging.getLogger(__name__)

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
METADATA_WINDOW = 128 * 1024  # the spec puts the metadata in the last 128 KiB
CHUNK_NODES = 1 << 20  # tree nodes checked per step (bounds the memory a check needs)
READ_CHUNK = 1 << 20  # bytes hashed per read
SAMPLE_RECORDS = 4096  # data records decoded when a database carries no checksum
_BYTES = 4  # the spec's type number for bytes
Signature = tuple[tuple[int, int, int] | None, tuple[int, int] | None]


def paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``.mmdb`` we read and its ``.xz`` sibling (either may be named)."""
    p = Path(path)
    if p.name.endswith(".xz"):
        return p.with_name(p.name[: -len(".xz")]), p
    return p, p.with_name(p.name + ".xz")


def signature(mmdb: Path, xz: Path) -> Signature:
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


def unpack_target(mmdb: Path, xz: Path) -> Path:
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


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK)


def stale(mmdb: Path, xz: Path, beside: bool) -> bool:
    """Whether ``mmdb`` must be unpacked (again) from ``xz``."""
    try:
        unpacked, packed = mmdb.stat().st_mtime_ns, xz.stat().st_mtime_ns
    except FileNotFoundError:
        return True
    return unpacked < packed if beside else unpacked != packed


def unpack(mmdb: Path, xz: Path) -> None:
    """Decompress ``xz`` over ``mmdb`` atomically, after verifying the result in full.

    The unpacked file takes the xz file's mtime, so "the .mmdb is older than the .xz"
    means exactly "the .xz changed since it was unpacked".
    """
    log.info("unpacking %s to %s", xz, mmdb)
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{mmdb.name}.", suffix=".tmp", dir=mmdb.parent)
        with os.fdopen(fd, "wb") as out, lzma.open(xz, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        with private_copy(Path(tmp)) as copy:
            try:
                copy.verify()
            except GeoDatabaseError as exc:
                raise GeoDatabaseError(f"{xz}: does not hold a valid MaxMind DB: {exc}") from exc
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


# --------------------------------------------------------------------------- the copy


@dataclass(slots=True)
class PrivateCopy:
    """The database's bytes where nobody else can change them; ``path`` opens them."""

    source: Path
    fd: int
    size: int
    buffer: mmap.mmap
    metadata: dict[str, Any]
    tree_size: int
    private_path: str | None = None  # where a copy that is not a memfd lives

    @property
    def path(self) -> str:
        """A path the MaxMind reader can open that leads to this copy (not the source)."""
        return self.private_path or f"/proc/self/fd/{self.fd}"

    def close(self) -> None:
        self.buffer.close()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        if self.private_path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.private_path)
                os.rmdir(os.path.dirname(self.private_path))

    def _read(self, offset: int, size: int) -> bytes:
        """Bytes of the copy read through its descriptor, not our mapping: checking the
        whole file would otherwise map all of it into this process at once (the RSS
        peak doubled the database's size at every start and reload)."""
        out = os.pread(self.fd, size, offset)
        if len(out) != size:
            raise GeoDatabaseError(f"{self.source}: short read at offset {offset}")
        return out

    def release(self) -> None:
        """Drop our own mapping's pages from this process's RSS once the copy is
        verified and its tables read. The reader maps the same memory again; counted
        twice, a 74 MB database cost ~140 MB per process. The bytes stay in the copy
        (a shared mapping re-reads them on the next touch)."""
        if hasattr(mmap, "MADV_DONTNEED") and self.size:
            self.buffer.madvise(mmap.MADV_DONTNEED)

    def __enter__(self) -> PrivateCopy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def notes(self) -> dict[str, Any]:
        """What our builder noted under the description key ``gslb`` (tables, sha256)."""
        text = (self.metadata.get("description") or {}).get("gslb")
        try:
            notes = json.loads(text) if isinstance(text, str) else {}
        except ValueError:
            return {}
        return notes if isinstance(notes, dict) else {}

    @property
    def data_base(self) -> int:
        """Where the data section starts."""
        return self.tree_size + 16

    def table(self, name: str) -> bytes | None:
        """A bytes value our builder stored outside the tree (noted under ``tables``).

        Read here rather than through maxminddb's decoder, which caps payload sizes.
        """
        offset = (self.notes.get("tables") or {}).get(name)
        if not isinstance(offset, int):
            return None
        at = self.data_base + offset
        control = self.buffer[at]
        if control >> 5 != _BYTES:
            return None
        size, at = control & 0x1F, at + 1
        if size >= 29:  # the spec's extended sizes: 29, 285 or 65821 plus the next bytes
            extra = size - 28
            base = (0, 29, 285, 65821)[extra]
            size = base + int.from_bytes(self.buffer[at : at + extra], "big")
            at += extra
        if at + size > self.size:
            raise GeoDatabaseError(f"{self.source}: table {name} runs past the end of the file")
        return self.buffer[at : at + size]

    def verify(self) -> None:
        """Check the whole file (see the module docstring); raise GeoDatabaseError."""
        digest = self.notes.get("sha256")
        end = self.buffer.rfind(METADATA_MARKER, max(0, self.size - METADATA_WINDOW))
        if isinstance(digest, str):
            sha = hashlib.sha256()
            for at in range(0, end, READ_CHUNK):
                sha.update(self._read(at, min(READ_CHUNK, end - at)))
            actual = sha.hexdigest()
            if actual != digest:
                raise GeoDatabaseError(
                    f"{self.source}: checksum mismatch (the file is corrupt or was edited "
                    "after it was built)"
                )
            return
        self._verify_tree(end)

    def _verify_tree(self, metadata_start: int) -> None:
        nodes = int(self.metadata["node_count"])
        record_size = int(self.metadata["record_size"])
        data_size = metadata_start - self.data_base
        if data_size < 0:
            raise GeoDatabaseError(f"{self.source}: the search tree runs past the data")
        limit = nodes + 16 + data_size
        pointers: set[int] = set()
        step = record_size // 4  # bytes per node
        for first in range(0, nodes, CHUNK_NODES):
            count = min(CHUNK_NODES, nodes - first)
            chunk = self._read(first * step, count * step)
            for column in columns(chunk, count, record_size):
                if max(column) >= limit or _holds_any(column, range(nodes + 1, nodes + 16)):
                    raise GeoDatabaseError(
                        f"{self.source}: corrupt search tree near node {first}: a record "
                        "points outside the file"
                    )
                if len(pointers) < SAMPLE_RECORDS * 4:
                    pointers.update(r for r in column[::61] if r > nodes)
        decoder = Decoder(self.buffer, self.data_base)
        sample = sorted(pointers)
        for r in sample[:: max(1, len(sample) // SAMPLE_RECORDS)]:
            try:
                decoder.decode(self.data_base + r - nodes - 16)
            except (InvalidDatabaseError, ValueError, IndexError, KeyError, TypeError) as exc:
                raise GeoDatabaseError(
                    f"{self.source}: corrupt data record at offset {r - nodes - 16}: {exc}"
                ) from exc


def _holds_any(column: array[int], values: range) -> bool:
    """Whether ``column`` holds one of ``values``: a C-speed search of its bytes (a match
    must also be aligned to an item, or it straddles two)."""
    raw = column.tobytes()
    for value in values:
        pattern = value.to_bytes(column.itemsize, sys.byteorder)
        at = raw.find(pattern)
        while at >= 0:
            if at % column.itemsize == 0:
                return True
            at = raw.find(pattern, at + 1)
    return False


def private_copy(source: Path) -> PrivateCopy:
    """Copy ``source`` where nobody else can write it and read its metadata.

    Linux: a memfd, sealed against writes and resizing. Elsewhere: a file in a new
    directory only this user can enter, removed on close.
    """
    try:
        with open(source, "rb") as src:
            fd, private_path = _private_fd(source.name)
            try:
                shutil.copyfileobj(src, _Writer(fd), 1 << 20)
                _seal(fd)
                size = os.fstat(fd).st_size
                buffer = mmap.mmap(fd, size, access=mmap.ACCESS_READ) if size else None
            except BaseException:
                os.close(fd)
                raise
    except FileNotFoundError as exc:
        raise GeoDatabaseError(f"{source}: geo database not found") from exc
    except (OSError, ValueError) as exc:
        raise GeoDatabaseError(f"{source}: cannot read the geo database: {exc}") from exc
    if buffer is None:
        os.close(fd)
        raise GeoDatabaseError(f"{source}: not a valid MaxMind DB file: it is empty")
    try:
        metadata, tree_size = _metadata(buffer, size, source)
    except BaseException:
        buffer.close()
        os.close(fd)
        raise
    return PrivateCopy(source, fd, size, buffer, metadata, tree_size, private_path)


class _Writer:
    """A file-like ``write`` over a raw descriptor (shutil needs one)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view) :]
        return len(data)


def _private_fd(name: str) -> tuple[int, str | None]:
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
        return os.memfd_create(f"gslb-geo-{name}", flags), None
    fd, path = tempfile.mkstemp(dir=tempfile.mkdtemp(prefix="gslb-geo-"))
    return fd, path


def _seal(fd: int) -> None:
    seals = getattr(fcntl, "F_ADD_SEALS", None)
    if seals is None:
        return  # not Linux: the copy is unlinked and private to this process
    flags = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
    with contextlib.suppress(OSError):  # a plain file (fallback) cannot be sealed
        fcntl.fcntl(fd, seals, flags)


def _metadata(buffer: mmap.mmap, size: int, source: Path) -> tuple[dict[str, Any], int]:
    start = buffer.rfind(METADATA_MARKER, max(0, size - METADATA_WINDOW))
    if start < 0:
        raise GeoDatabaseError(f"{source}: not a valid MaxMind DB file: no metadata marker")
    try:
        base = start + len(METADATA_MARKER)
        metadata: Any = Decoder(buffer, base).decode(base)[0]
        if not isinstance(metadata, Mapping):
            raise ValueError("metadata is not a map")
        nodes, record_size = int(metadata["node_count"]), int(metadata["record_size"])
    except (InvalidDatabaseError, ValueError, IndexError, KeyError, TypeError) as exc:
        raise GeoDatabaseError(f"{source}: not a valid MaxMind DB file: {exc}") from exc
    if record_size not in (24, 28, 32):
        raise GeoDatabaseError(f"{source}: not a valid MaxMind DB file: bad record size")
    tree_size = nodes * record_size // 4
    if tree_size + 16 > start:
        raise GeoDatabaseError(f"{source}: not a valid MaxMind DB file: truncated")
    return dict(metadata), tree_size


# --------------------------------------------------------------------------- the tree


def columns(tree: bytes, nodes: int, record_size: int) -> tuple[array[int], array[int]]:
    """Left and right record of every node, decoded in bulk (C-speed slicing)."""
    left, right = bytearray(4 * nodes), bytearray(4 * nodes)
    if record_size == 24:
        for i in range(3):
            left[1 + i :: 4] = tree[i::6]
            right[1 + i :: 4] = tree[3 + i :: 6]
    elif record_size == 28:
        middle = tree[3::7]
        left[0::4] = middle.translate(bytes(x >> 4 for x in range(256)))
        right[0::4] = middle.translate(bytes(x & 15 for x in range(256)))
        for i in range(3):
            left[1 + i :: 4] = tree[i::7]
            right[1 + i :: 4] = tree[4 + i :: 7]
    elif record_size == 32:
        for i in range(4):
            left[i::4] = tree[i::8]
            right[i::4] = tree[4 + i :: 8]
    else:
        raise GeoDatabaseError(f"unsupported record size {record_size}")
    cols = (array("I", bytes(left)), array("I", bytes(right)))
    if sys.byteorder == "little":
        for col in cols:
            col.byteswap()
    return cols
