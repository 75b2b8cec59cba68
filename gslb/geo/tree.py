"""Our compact database's search tree in C (``_tree.c``), when it was built.

``setup.py`` builds it where a C compiler and Python's headers are installed; without
them gslb installs and answers the same, in Python (about 3 µs more per query from a
new client network). ``GSLB_PURE_PYTHON=1`` turns it off, to compare or to rule it out.
It reads only our compact database, whose records are place numbers; the query path
uses it through :meth:`GeoDatabase.find` and, for new client networks, ``Tree.reply``
(the C twin of :func:`gslb.dns.place_answers.reply`, called by the responder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gslb import native
from gslb.geo.special import special_ranges

if TYPE_CHECKING:
    from gslb.geo._tree import Tree

try:
    from gslb.geo import _tree
except ImportError:  # built without a C compiler
    _tree = None  # type: ignore[assignment]

__all__ = ["BUILT", "build", "describe", "why_not"]

#: Whether the C module was built and imports.
BUILT = _tree is not None


def _packed(family: int) -> bytes:
    """The special blocks of one family as the C side takes them: starts, ends, lengths."""
    starts, ends, plens = special_ranges(family)
    width = 4 if family == 4 else 16
    return b"".join(v.to_bytes(width) for v in (*starts, *ends)) + bytes(plens)


def why_not() -> str | None:
    """Why the C tree is off, or None when it is on (for compact databases)."""
    return native.why_not(_tree)


def build(
    buffer: Any, node_count: int, record_size: int, ip_version: int, records: int
) -> Tree | None:
    """The C tree over ``buffer`` (the whole database; record r is place r + 1), or None
    when :func:`why_not` says so."""
    if why_not() is not None:
        return None
    return _tree.Tree(buffer, node_count, record_size, ip_version, records, _packed(4), _packed(6))


def describe(found: Tree | None) -> str:
    """For the start-up line: which path answers queries from new client networks."""
    if found is not None:
        return "new networks in C"
    return f"new networks in Python: {why_not() or 'not our compact database'}"
