"""Worker reports added up for /metrics: live workers, and the ones that died."""

from __future__ import annotations

from typing import Any

from gslb.live.metrics import retire, sum_stats


def report(queries: int, tcp_open: int, path: str, errors: int = 0) -> dict[str, Any]:
    return {
        "queries": [["udp", "A", "NOERROR", False, False, "-", "-", "-", queries]],
        "tcp": {"open": tcp_open, "accepted": queries},
        "rrl": {"dropped": 1, "slipped": 2},
        "listeners": [{"drops": 3, "restarts": 0, "unsent": 0}],
        "geo": {"path": path, "lookup_errors": errors},
    }


def test_a_dead_worker_keeps_its_counters_but_not_its_gauges() -> None:
    first = retire(None, report(10, 5, "/old.mmdb", errors=1))
    both = retire(first, report(7, 2, "/old.mmdb", errors=2))  # it died again
    total = sum_stats([report(100, 1, "/new.mmdb"), both])
    assert sum(total["queries"].values()) == 117  # never backwards
    assert total["tcp"] == {"open": 1, "accepted": 117}  # only the live worker's open
    assert total["rrl"] == {"dropped": 3, "slipped": 6}
    assert total["listeners"]["drops"] == 9
    assert total["lookup_errors"] == 3
    assert total["geo"]["path"] == "/new.mmdb"  # what the live worker serves
    assert set(both) == set(first)  # one entry however often a worker dies
