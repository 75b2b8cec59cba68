"""Bounded caches for the query path: every cache has a limit in entries and in bytes.

Why both: a cache bounded by entries only lets an attacker choose how big each entry
is (a query padded to 4 KB is a 4 KB key), so memory grows with what the attacker
sends. Eviction is the simplest rule that is O(1) and cannot be gamed: when either
bound is reached the cache is cleared whole and refills from the misses that follow.
Lookups read ``cache.data`` (a plain dict) directly; only inserts come through here.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["ENTRY_OVERHEAD", "Cache"]

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
