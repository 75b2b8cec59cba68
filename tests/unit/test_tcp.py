"""TCP bookkeeping without sockets: who is closed when full, per-client caps, log throttle."""

from __future__ import annotations

import pytest

from gslb.dns.tcp import Table, client_key
from gslb.dns.throttle import Throttle


def test_new_connection_evicts_the_oldest_idle_not_refused() -> None:
    t: Table[str] = Table(total=3, per_client=10)
    for name in "abc":
        assert t.admit(name, name) == (True, [], "")
    t.set_busy("a")  # a is in the middle of a message: not idle
    t.set_idle("a")  # ...answered: idle again, now the newest idle
    assert t.admit("d", "d") == (True, ["b"], "evict-idle")
    assert set(t.client) == {"a", "c", "d"} and len(t) == 3


def test_busy_connections_go_only_when_nothing_is_idle() -> None:
    t: Table[str] = Table(total=2, per_client=10)
    t.admit("a", "x")
    t.admit("b", "y")
    t.set_busy("b")
    t.set_busy("a")  # a began its message after b
    assert t.admit("c", "z") == (True, ["b"], "evict-busy")
    assert t.admit("d", "z") == (True, ["c"], "evict-idle")  # c is idle (it sent nothing)


def test_per_client_cap_gives_up_the_clients_own_idle_or_refuses() -> None:
    t: Table[str] = Table(total=100, per_client=2)
    t.admit("a1", "A")
    t.admit("a2", "A")
    t.admit("b1", "B")
    assert t.admit("a3", "A") == (True, ["a1"], "per-client")  # A's oldest idle, not B's
    t.set_busy("a2")
    t.set_busy("a3")
    assert t.admit("a4", "A") == (False, [], "per-client")  # nothing of A's is idle
    assert "b1" in t.client and len(t.clients["A"]) == 2


def test_remove_is_idempotent_and_forgets_empty_clients() -> None:
    t: Table[str] = Table(total=2, per_client=2)
    t.admit("a", "A")
    t.remove("a")
    t.remove("a")
    t.set_idle("a")  # after removal: ignored, never re-added
    t.set_busy("a")
    assert len(t) == 0 and not t.clients and not t.idle and not t.busy


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"),
        ("fe80::1%lo", "fe80::/64"),
        ("?", "?"),
    ],
)
def test_client_key_is_the_ipv4_address_or_the_ipv6_64(peer: str, key: str) -> None:
    assert client_key(peer) == key


def test_throttle_reports_once_per_interval_with_the_count() -> None:
    th = Throttle(10.0)
    assert th.note(100.0) == 1  # the first event is reported at once
    assert [th.note(100.0 + i / 10) for i in range(1, 50)] == [0] * 49
    assert th.note(110.0) == 50  # 49 quiet ones and this one
    assert th.note(110.5, count=7) == 0
    assert th.note(125.0) == 8
