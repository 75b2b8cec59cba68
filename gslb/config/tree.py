"""The shape of a zone's name tree: owners, empty non-terminals, delegations, wildcards.

Written once and used twice: by the config checks (is this name occluded by a
delegation? does this target resolve?) and by the answer engine (RFC 1034 4.3.2 with
RFC 4592 wildcards). Names are absolute, lower-case and end with a dot.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["ZoneTree", "parent"]


def parent(name: str) -> str:
    """``a.b.example.`` → ``b.example.``; the root's parent is the root."""
    return name.split(".", 1)[1] if name.count(".") > 1 else "."


class ZoneTree:
    """Which names exist under ``origin`` and where the zone cuts are."""

    __slots__ = ("origin", "owners", "names", "delegations")

    def __init__(self, origin: str, owners: Iterable[str], delegations: Iterable[str]) -> None:
        self.origin = origin
        self.owners = frozenset(owners)  # names with data (records or a GSLB policy)
        self.delegations = frozenset(d for d in delegations if d != origin)
        names = {origin}
        for owner in self.owners:  # every owner and the empty non-terminals above it
            while owner not in names and owner.endswith("." + origin):
                names.add(owner)
                owner = parent(owner)
        self.names = frozenset(names)

    def cut(self, name: str, *, inclusive: bool = True) -> str | None:
        """The highest delegation point at or above ``name`` (strictly above unless
        ``inclusive``), if any: data below it belongs to the child zone."""
        found = None
        if not inclusive:
            name = parent(name)
        while self.delegations and name != self.origin and name != ".":
            if name in self.delegations:
                found = name
            name = parent(name)
        return found

    def find(self, name: str) -> tuple[str | None, bool]:
        """The owner whose data answers ``name``: itself, or the wildcard of its closest
        encloser (RFC 4592), with whether it was synthesised; None for an empty
        non-terminal or a name that does not exist."""
        if name in self.owners:
            return name, False
        if name in self.names:
            return None, False
        encloser = parent(name)
        while encloser not in self.names and encloser != "." and encloser != self.origin:
            encloser = parent(encloser)
        wildcard = "*." + encloser
        if wildcard in self.owners:
            return wildcard, True
        return None, False
