"""The bounded structures of the query path: Cache and Doorkeeper."""

from __future__ import annotations

from gslb.dns.cache import ENTRY_OVERHEAD, Cache, Doorkeeper


def test_a_cache_is_cleared_whole_at_its_entry_or_byte_bound() -> None:
    cache: Cache[int, bytes] = Cache("t", entries=3, budget=10_000)
    for i in range(3):
        cache.put(i, b"x", 1)
    cache.put(3, b"x", 1)  # a fourth entry: cleared, then kept
    assert list(cache.data) == [3] and cache.clears == 1
    cache.put(4, b"x", 10_000 - ENTRY_OVERHEAD)  # over the budget with what is in
    assert list(cache.data) == [4] and cache.clears == 2


def test_charge_clears_a_cache_that_would_go_over_its_budget() -> None:
    cache: Cache[int, bytes] = Cache("t", entries=10, budget=1_000)
    cache.put(1, b"x", 100)
    assert cache.charge(100)
    assert not cache.charge(1_000) and len(cache) == 0 and cache.used == 0


def test_the_doorkeeper_admits_a_key_the_second_time() -> None:
    door = Doorkeeper()
    assert not door.admit(hash(b"network one"))
    assert door.admit(hash(b"network one"))
    assert not door.admit(hash(b"network two"))


def test_the_doorkeeper_forgets_everything_after_its_limit() -> None:
    door = Doorkeeper(bits=1 << 16, limit=100)
    size = len(door.bits)
    marks = [i * 7919 for i in range(100)]  # 100 distinct bits (odd step, below 2**16)
    assert not any(door.admit(m) for m in marks) and door.clears == 0
    assert all(door.admit(m) for m in marks)
    assert not door.admit(100 * 7919) and door.clears == 1  # cleared, then marked
    assert not any(door.admit(m) for m in marks)  # the first hundred are forgotten
    assert door.admit(-1) is False and door.admit(-1)  # any int hash, negative too
    assert len(door.bits) == size  # memory never grows
