"""Bounded caches for the query path: every cache has a limit in entries and in bytes.

Why both: a cache bounded by entries only lets an attacker choose how big each entry
is (a query padded to 4 KB is a 4 KB key), so memory grows with what the attacker
sends. Eviction is the simplest rule that is O(1) and cannot be gamed: when either
bound is reached the cache is cleared whole and refills from the misses that follow.
Lookups read ``cache.data`` (a plain dict) directly; only inserts come through here.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["ENTRY_OVERHEAD", "Cache", "Doorkeeper"]

K = TypeVar("K")
V = TypeVar("V")

#: What one entry costs beyond its key and value bytes (dict slot, objects, tuple).
ENTRY_OVERHEAD = 160


class Cache(Generic[K, V]):
    """A dict with an entry limit and a byte budget, cleared whole when either is hit."""

    __slots__ = ("name", "data", "entries", "budget", "used", "clears")

    def __init__(self, name: str, entries: int, budget: int) -> None:
        self.name = name
        self.data: dict[K, V] = {}
        self.entries = entries
        self.budget = budget
        self.used = 0
        self.clears = 0

    def put(self, key: K, value: V, size: int) -> None:
        """Insert; ``size`` is the bytes the key and value hold (an estimate is fine)."""
        cost = size + ENTRY_OVERHEAD
        if len(self.data) >= self.entries or self.used + cost > self.budget:
            self.data.clear()
            self.used = 0
            self.clears += 1
        self.data[key] = value
        self.used += cost

    def charge(self, size: int) -> bool:
        """Count ``size`` more bytes held under an entry already in; False when that
        went over the budget and the cache was cleared instead."""
        cost = size + ENTRY_OVERHEAD
        if self.used + cost > self.budget:
            self.data.clear()
            self.used = 0
            self.clears += 1
            return False
        self.used += cost
        return True

    def __len__(self) -> int:
        return len(self.data)


class Doorkeeper:
    """Which keys were offered before: a bitmap indexed by the key's hash (a Bloom
    filter with one hash function), cleared whole after ``limit`` marks.

    Why not a set of hashes: 131,072 of them held ~7 MB (table and int objects) for
    what 1 MB of bits answers. A false "seen" (about 1% when full) only keeps an entry
    one query early.
    """

    __slots__ = ("bits", "mask", "marked", "limit", "clears")

    def __init__(self, bits: int = 1 << 23, limit: int = 1 << 17) -> None:
        assert bits & (bits - 1) == 0 and bits >= 8
        self.bits = bytearray(bits >> 3)
        self.mask = bits - 1
        self.marked = 0
        self.limit = limit
        self.clears = 0

    def admit(self, key_hash: int) -> bool:
        """True when this hash was marked before; else mark it and say False."""
        at = key_hash & self.mask
        byte, bit = at >> 3, 1 << (at & 7)
        bits = self.bits
        if bits[byte] & bit:
            return True
        if self.marked >= self.limit:
            bits[:] = bytes(len(bits))
            self.marked = 0
            self.clears += 1
        bits[byte] |= bit
        self.marked += 1
        return False
