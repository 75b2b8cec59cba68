"""Query counters that cost the query path one list increment.

Every distinct combination of labels a query can be counted under (query type, rcode,
ECS present or not, and for GSLB answers the name, region and reason) gets a small
integer once, in :data:`LABELS`; each thread that answers queries owns a
:class:`Counts` (a plain list of integers indexed by that id) per transport, so the
query path never takes a lock and never builds a label. Export (``/metrics``) reads
every :class:`Counts` of the process and sums by label tuple; workers send those sums
to the supervisor, which adds them up across processes.

Labels are bounded: query types outside a known list count as ``other``, names are only
GSLB names from config, and past :data:`MAX_LABELS` distinct tuples everything counts
under one overflow tuple.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import NamedTuple

__all__ = ["LABELS", "MAX_LABELS", "Counts", "Label", "Labels", "all_counts", "snapshot"]

MAX_LABELS = 2048
QTYPES = {
    1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA",
    33: "SRV", 41: "OPT", 43: "DS", 48: "DNSKEY", 64: "SVCB", 65: "HTTPS", 251: "IXFR",
    252: "AXFR", 255: "ANY", 257: "CAA",
}  # fmt: skip
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED",
          16: "BADVERS"}  # fmt: skip


class Label(NamedTuple):
    """What one query is counted under."""

    qtype: str  # "A", ..., "other"; "-" when nothing was answered
    rcode: str  # "NOERROR", ...; "dropped" for input that got no answer
    ecs: bool  # the query carried a client subnet option
    truncated: bool = False  # TC set: the client must retry over TCP
    name: str = ""  # the GSLB name answered ("" for everything else)
    region: str = ""  # the first region answered from
    reason: str = ""  # nearest, rule, fenced, failover, spill, fail-open, all-down


OVERFLOW = Label("overflow", "overflow", False)


def qtype_name(qtype: int) -> str:
    return QTYPES.get(qtype, "other")


def rcode_name(rcode: int) -> str:
    return RCODES.get(rcode, "other")


class Labels:
    """Label tuples and their ids, shared by every thread of the process."""

    def __init__(self) -> None:
        self._ids: dict[Label, int] = {}
        self.labels: list[Label] = []
        self._lock = threading.Lock()  # taken only to add a label never seen before

    def id(self, label: Label) -> int:
        found = self._ids.get(label)
        if found is not None:
            return found
        with self._lock:
            found = self._ids.get(label)
            if found is None:
                if len(self.labels) >= MAX_LABELS - 1:
                    label = OVERFLOW
                    found = self._ids.get(label)
                if found is None:
                    found = self._ids[label] = len(self.labels)
                    self.labels.append(label)
        return found


LABELS = Labels()
_ALL: list[Counts] = []
_ALL_LOCK = threading.Lock()


class Counts(list[int]):
    """One thread's counters for one transport (``counts[label_id] += 1``)."""

    def __init__(self, transport: str) -> None:
        super().__init__([0] * MAX_LABELS)
        self.transport = transport
        with _ALL_LOCK:
            _ALL.append(self)

    def add(self, label: Label) -> None:
        """For the paths that are not hot: resolve the label, then count it."""
        self[LABELS.id(label)] += 1


def all_counts() -> Iterator[Counts]:
    with _ALL_LOCK:
        counts = list(_ALL)
    yield from counts


def snapshot() -> dict[tuple[str, Label], int]:
    """(transport, label) -> queries, summed over every thread of this process."""
    out: dict[tuple[str, Label], int] = {}
    labels = LABELS.labels
    for counts in all_counts():
        for i, label in enumerate(labels):
            n = counts[i]
            if n:
                key = (counts.transport, label)
                out[key] = out.get(key, 0) + n
    return out
