"""What the zones' fences and rules ask of the geo database, against what it holds.

A fence or rule can name clients by country, continent, subdivision (ISO 3166-2, like
``US-CA``) or network. Every database routing accepts has countries (checked at
open), continents follow from countries, and networks need no database; but many
databases carry no subdivision codes (Country editions, DB-IP Lite, the bundled
compact database), and there a ``subdivisions:`` entry silently never matches: for a
fence, clients it was written to keep in place would be answered from anywhere.
:func:`unmatchable` lists every such fence and rule, so ``gslb check``, ``gslb serve``
(at start and on every reload) and ``gslb resolve`` can say so.

Whether a database has subdivision codes is decided when it is opened, by sampling its
records (see :attr:`gslb.geo.database.GeoDatabase.subdivisions`): a City edition that
has them has them for most networks, so the first few thousand records tell.
"""

from __future__ import annotations

from collections.abc import Iterable

from gslb.model import ClientMatch, Zone

__all__ = ["unmatchable"]


def _problem(source: str, what: str, match: ClientMatch, database: str) -> str:
    codes = ", ".join(sorted(match.subdivisions))
    rest = match.countries or match.continents or match.networks
    partly = " (its other criteria still match)" if rest else ""
    return (
        f"{source}: {what} names subdivisions {codes}, but the geo database {database} "
        f"has no subdivision codes: those clients never match it{partly}; use countries "
        "or networks, or a database with subdivisions (GeoIP2/GeoLite2 City)"
    )


def unmatchable(zones: Iterable[Zone], *, subdivisions: bool, database: str) -> list[str]:
    """One message per fence or rule that names data ``database`` does not have."""
    if subdivisions:
        return []
    out: list[str] = []
    for zone in zones:
        shared = {fence.name for fence in zone.fences}
        for fence in zone.fences:
            if fence.match.subdivisions:
                what = f"fence '{fence.name}' of zone {zone.origin}"
                out.append(_problem(zone.source, what, fence.match, database))
        for owner, name in zone.gslb.items():
            for fence in name.fences:
                if fence.name not in shared and fence.match.subdivisions:
                    what = f"fence '{fence.name}' of gslb name {owner}"
                    out.append(_problem(zone.source, what, fence.match, database))
            for i, rule in enumerate(name.rules, 1):
                if rule.match.subdivisions:
                    what = f"rule {i} of gslb name {owner}"
                    out.append(_problem(zone.source, what, rule.match, database))
    return out
