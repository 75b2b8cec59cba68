"""The cyclic GC and the GIL around long builds, kept off the query path.

A server process holds a large, long-lived config (zones, compiled tables, the place
table) and answers queries on an event loop while a new config is built in a thread.
Two things would stall the loop: full collections walking everything, and the
building thread holding the GIL. :func:`settle` takes what exists out of the
collector's view; :func:`building` wraps a build (a reload, an offline database
build) so it triggers no collections and hands the GIL back often.
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

__all__ = ["BUILD_SWITCH_INTERVAL", "building", "built", "settle"]

#: seconds between GIL hand-overs while a build runs (Python's default is 0.005)
BUILD_SWITCH_INTERVAL = 0.0005

_P = ParamSpec("_P")
_T = TypeVar("_T")

_builds = 0
_lock = threading.Lock()
_switch = 0.0


def settle(full: bool = True) -> None:
    """Keep the cyclic GC's full passes off the query path.

    The zone model, country tables and geo caches are long-lived; a full collection
    that walks them all stalls every query for milliseconds. Freezing what exists now
    moves it out of the collector's view, and a larger first threshold makes
    collections of young objects rarer (queries allocate few containers).

    After a reload (``full=False``) only the young generations are collected: a full
    pass over a 50,000-record config held the event loop for ~30 ms, and the model
    has no reference cycles, so the old config is freed by reference counting (the
    frozen count stays flat across reloads).
    """
    gc.collect() if full else gc.collect(1)
    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


@contextlib.contextmanager
def building() -> Iterator[None]:
    """No cyclic GC during a build, what it made frozen after, the GIL handed back
    every 0.5 ms meanwhile. Nests, and is safe from several threads.

    Building allocates millions of objects, which triggers full collections in the
    building thread; each holds the GIL, so the event loop, for 50-250 ms (a
    50,000-record zone, benchmarks/reload_stall.py); nothing built forms reference
    cycles, so nothing is lost by waiting. ``gc.freeze`` after is O(1). A failed build
    is not frozen: its leftovers go to the collector as usual. At the default 5 ms
    switch interval each system call of a TCP answer waited that long for the GIL
    again (slowest answer 37 ms instead of 20).
    """
    global _builds, _switch
    with _lock:
        if not _builds:
            _switch = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch, BUILD_SWITCH_INTERVAL))
            gc.disable()
        _builds += 1
    ok = False
    try:
        yield
        ok = True
    finally:
        with _lock:
            _builds -= 1
            if not _builds:
                if ok:
                    gc.freeze()
                gc.enable()
                sys.setswitchinterval(_switch)


def built(build: Callable[_P, _T]) -> Callable[_P, _T]:
    """``build`` run under :func:`building` (for ``asyncio.to_thread``)."""

    def run(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        with building():
            return build(*args, **kwargs)

    return run
