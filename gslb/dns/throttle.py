"""A log line at most once per interval, carrying how many events it stands for.

An attacker chooses how often an event happens (a refused connection, a dropped
datagram); one line per event would let them fill the disk and drown the lines that
matter. Pure: the caller passes the time.
"""

from __future__ import annotations


class Throttle:
    """Counts events; :meth:`note` says when to log and how many happened since."""

    __slots__ = ("interval", "pending", "last")

    def __init__(self, interval: float = 10.0) -> None:
        self.interval = interval
        self.pending = 0
        self.last = float("-inf")

    def note(self, now: float, count: int = 1) -> int:
        """Record ``count`` events at ``now``: the number to report now, or 0 to stay
        quiet (the first event is reported at once, later ones once per interval)."""
        self.pending += count
        if now - self.last < self.interval:
            return 0
        self.last = now
        reported, self.pending = self.pending, 0
        return reported
