"""Who a fence or rule applies to: ``clients: {countries, continents, subdivisions, networks}``.

Also answers whether two matches can both match one client (:func:`shared`), which
the fence and rule checks need. A network is not compared with a geographic criterion:
where an address is located is only known at query time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from gslb.config.yamlsource import Node, Sink, suggest
from gslb.geo.countries import CONTINENTS, COUNTRY_CONTINENT
from gslb.model import ClientMatch, IPNetwork

__all__ = ["read_match", "shared"]

_CLIENTS = ("countries", "continents", "subdivisions", "networks")
_SUBDIVISION = re.compile(r"([A-Z]{2})-[A-Z0-9]{1,3}")
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}


# A check returns None when the code is fine, else (reason, hint shown after the place).
_Check = Callable[[str], "tuple[str, str] | None"]


def _country(code: str) -> tuple[str, str] | None:
    if code in COUNTRY_CONTINENT:
        return None
    alias = _COUNTRY_ALIASES.get(code.upper())
    hint = f" (did you mean '{alias}'?)" if alias else suggest(code, COUNTRY_CONTINENT)
    return f"unknown country code '{code}'", hint


def _continent(code: str) -> tuple[str, str] | None:
    if code in CONTINENTS:
        return None
    return f"unknown continent code '{code}'", suggest(code, sorted(CONTINENTS))


def _subdivision(code: str) -> tuple[str, str] | None:
    m = _SUBDIVISION.fullmatch(code)
    if m is None or m.group(1) not in COUNTRY_CONTINENT:
        return f"invalid subdivision '{code}'", " (ISO 3166-2, like 'US-CA')"
    return None


def _read_codes(
    sink: Sink, node: Node | None, kind: str, what: str, check: _Check
) -> list[str] | None:
    if node is None:
        return []
    items = sink.sequence(node, f"{kind} of {what}", empty_ok=True)
    if items is None:
        return None
    out: list[str] = []
    for item in items:
        text = sink.text(item, f"entry in {kind} of {what}")
        if text is None:
            continue
        if (why := check(text)) is not None:
            sink.add(item, f"{why[0]} in {what}{why[1]}")
        elif text in out:
            sink.add(item, f"'{text}' listed twice in {kind} of {what}")
        else:
            out.append(text)
    return out if len(out) == len(items) else None


def _network(text: str) -> tuple[str, str] | None:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            meant = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"invalid network '{text}'", ""
        return f"network '{text}' has host bits set", f" (did you mean '{meant}'?)"
    return None


def read_match(sink: Sink, node: Node, what: str) -> ClientMatch | None:
    f = sink.fields(node, f"clients of {what}", _CLIENTS)
    if f is None:
        return None
    countries = _read_codes(sink, f.get("countries"), "countries", what, _country)
    continents = _read_codes(sink, f.get("continents"), "continents", what, _continent)
    subdivisions = _read_codes(sink, f.get("subdivisions"), "subdivisions", what, _subdivision)
    networks = _read_codes(sink, f.get("networks"), "networks", what, _network)
    if countries is None or continents is None or subdivisions is None or networks is None:
        return None
    if not (countries or continents or subdivisions or networks):
        sink.add(node, f"{what} matches no clients")
        return None
    nets: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in networks)
    return ClientMatch(frozenset(countries), frozenset(continents), frozenset(subdivisions), nets)


def shared(a: ClientMatch, b: ClientMatch, located: bool = False) -> str | None:
    """Some client both ``a`` and ``b`` can match, described, or ``None``.

    With ``located``, a network also meets every geographic criterion: an address in
    it may be located anywhere (what fences must allow for; a rule is intersected
    with the fence at query time, so rules are compared without it).
    """
    for x, y in ((a, b), (b, a)):
        for country in sorted(x.countries):
            if country in y.countries or COUNTRY_CONTINENT[country] in y.continents:
                return country
        for sub in sorted(x.subdivisions):
            country = sub[:2]
            if sub in y.subdivisions or country in y.countries:
                return sub
            if COUNTRY_CONTINENT[country] in y.continents:
                return sub
    for continent in sorted(a.continents & b.continents):
        return f"continent {continent}"
    for net in a.networks:
        for other in b.networks:
            if net.version == other.version and net.overlaps(other):
                return str(net if net.prefixlen >= other.prefixlen else other)
    if located:
        for x, y in ((a, b), (b, a)):
            where = _geography(y)
            if x.networks and where:
                return f"clients of {x.networks[0]} located in {where}"
    return None


def _geography(match: ClientMatch) -> str:
    """The first geographic criterion of ``match``, in words ("" when none)."""
    for kind, codes in (("country", match.countries), ("continent", match.continents),
                        ("subdivision", match.subdivisions)):  # fmt: skip
        if codes:
            return f"{kind} {sorted(codes)[0]}"
    return ""
