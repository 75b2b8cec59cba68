"""The MaxMind DB data section: typed values encoded once, repeats by pointer.

What :mod:`gslb.geo.build.mmdbwriter` stores behind its search tree and in the
metadata section: maps, arrays, strings, doubles, booleans, bytes and unsigned
integers, in the spec's encoding (https://maxmind.github.io/MaxMind-DB/). A repeated
value (a key string, a country sub-map) is written once and referenced by a pointer
when that is shorter.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

__all__ = ["DataSection", "UInt16", "UInt32", "UInt64", "Value", "freeze"]

# Type numbers from the spec.
_POINTER, _STRING, _DOUBLE, _BYTES, _UINT16, _UINT32, _MAP = 1, 2, 3, 4, 5, 6, 7
_UINT64, _ARRAY, _BOOLEAN = 9, 11, 14


@dataclass(frozen=True, slots=True)
class UInt16:
    """An explicitly typed integer (the metadata keys demand exact types)."""

    value: int


@dataclass(frozen=True, slots=True)
class UInt32:
    value: int


@dataclass(frozen=True, slots=True)
class UInt64:
    value: int


Value = (
    str
    | float
    | bool
    | int
    | UInt16
    | UInt32
    | UInt64
    | bytes
    | Mapping[str, "Value"]
    | Sequence["Value"]
)


def _header(type_num: int, size: int) -> bytes:
    """Control byte(s) for ``type_num`` with payload ``size``."""
    if size < 29:
        first, extra = size, b""
    elif size < 285:
        first, extra = 29, bytes([size - 29])
    elif size < 65_821:
        first, extra = 30, (size - 285).to_bytes(2, "big")
    elif size < 16_843_036:
        first, extra = 31, (size - 65_821).to_bytes(3, "big")
    else:
        raise ValueError(f"value too large for the MaxMind DB format ({size})")
    if type_num <= 7:
        return bytes([(type_num << 5) | first]) + extra
    return bytes([first, type_num - 7]) + extra


def _pointer(offset: int) -> bytes:
    if offset < 2048:
        return bytes([0x20 | (offset >> 8), offset & 0xFF])
    if offset < 2048 + 524_288:
        v = offset - 2048
        return bytes([0x28 | (v >> 16)]) + (v & 0xFFFF).to_bytes(2, "big")
    if offset < 526_336 + 134_217_728:
        v = offset - 526_336
        return bytes([0x30 | (v >> 24)]) + (v & 0xFFFFFF).to_bytes(3, "big")
    return b"\x38" + offset.to_bytes(4, "big")


def _uint(type_num: int, value: int, width: int) -> bytes:
    if value < 0 or value >= 1 << (8 * width):
        raise ValueError(f"{value} does not fit an unsigned {8 * width}-bit integer")
    payload = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return _header(type_num, len(payload)) + payload


_SCALARS = frozenset({float, int, bool, bytes, UInt16, UInt32, UInt64})


def freeze(value: Value) -> object:
    """A hashable identity for deduplication (type-aware: 1, 1.0 and True differ).

    Dispatches on exact types first: ``isinstance`` against ABCs dominated the
    build time with hundreds of thousands of records.
    """
    t = type(value)
    if t is str:
        return value
    if t in _SCALARS:
        return (t.__name__, value)
    if t is list or t is tuple:
        return ("a", tuple([freeze(v) for v in cast("Sequence[Value]", value)]))
    if t is dict or isinstance(value, Mapping):
        items = cast("Mapping[str, Value]", value).items()
        return ("m", tuple([(k, freeze(v)) for k, v in items]))
    raise TypeError(f"cannot encode {t.__name__} in a MaxMind DB")


def _scalar(value: Value) -> bytes:
    if isinstance(value, bool):
        return _header(_BOOLEAN, int(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _header(_STRING, len(raw)) + raw
    if isinstance(value, bytes):
        return _header(_BYTES, len(value)) + value
    if isinstance(value, float):
        return _header(_DOUBLE, 8) + struct.pack(">d", value)
    if isinstance(value, UInt16):
        return _uint(_UINT16, value.value, 2)
    if isinstance(value, UInt32):
        return _uint(_UINT32, value.value, 4)
    if isinstance(value, UInt64):
        return _uint(_UINT64, value.value, 8)
    if isinstance(value, int):
        return _uint(_UINT32, value, 4) if value < 1 << 32 else _uint(_UINT64, value, 8)
    raise TypeError(f"cannot encode {type(value).__name__} in a MaxMind DB")


class DataSection:
    """The data section being built: each distinct value is written once.

    A repeated value (a key string, a country sub-map) becomes a pointer to its first
    copy when the pointer is shorter. Pointers always target a value, never another
    pointer (the spec forbids that). ``pointers=False`` writes everything inline, as
    the metadata section must be self-contained.
    """

    def __init__(self, *, pointers: bool = True) -> None:
        self._buf = bytearray()
        self._seen: dict[object, int] = {}
        self._scalars: dict[object, bytes] = {}
        self._pointers = pointers

    def __len__(self) -> int:
        return len(self._buf)

    def getvalue(self) -> bytes:
        return bytes(self._buf)

    def add(self, value: Value) -> int:
        """Store ``value`` (or find it) and return its offset in the data section."""
        key = freeze(value)
        known = self._seen.get(key)
        if known is not None and self._pointers:
            return known
        return self._emit(value, key)

    def _emit(self, value: Value, key: object) -> int:
        at = len(self._buf)
        # the frozen key already holds every child's key: reuse them, don't re-freeze
        kind = key[0] if type(key) is tuple else ""
        if kind == "m":
            items = cast("Mapping[str, Value]", value).items()
            self._buf += _header(_MAP, len(items))
            for (k, v), (_, v_key) in zip(items, cast("tuple[Any, Any]", key)[1], strict=True):
                if type(k) is not str:
                    raise TypeError("MaxMind DB map keys must be strings")
                self._child(k, k)
                self._child(v, v_key)
        elif kind == "a":
            seq = cast("Sequence[Value]", value)
            self._buf += _header(_ARRAY, len(seq))
            for v, v_key in zip(seq, cast("tuple[Any, Any]", key)[1], strict=True):
                self._child(v, v_key)
        else:
            self._buf += self._scalar(value, key)
        self._seen[key] = at
        return at

    def _scalar(self, value: Value, key: object) -> bytes:
        encoded = self._scalars.get(key)
        if encoded is None:
            encoded = self._scalars[key] = _scalar(value)
        return encoded

    def _child(self, value: Value, key: object) -> None:
        known = self._seen.get(key) if self._pointers else None
        if known is not None:
            ptr = _pointer(known)
            if type(key) is tuple and key[0] in ("m", "a"):
                shorter = len(key[1]) > 0
            else:
                shorter = len(ptr) < len(self._scalar(value, key))
            if shorter:
                self._buf += ptr
                return
        self._emit(value, key)
