"""``every_class``: every place a name's fences and rules tell apart, classified by ``classify``."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_network

from gslb.config import load_zone
from gslb.geo.countries import COUNTRY_CONTINENT
from gslb.model import ClientMatch, Fence, Location
from gslb.policy.classes import classify, every_class
from tests.conftest import EXAMPLE

API = load_zone(EXAMPLE).gslb["api.example.com."]


def test_every_place_once_in_order() -> None:
    places = [p for p, _ in every_class(API, COUNTRY_CONTINENT)]
    continents = sorted(set(COUNTRY_CONTINENT.values()))
    assert places[0] is None
    assert places[1 : 1 + len(continents)] == [Location(continent=c) for c in continents]
    countries = places[1 + len(continents) :]
    assert [p.country for p in countries if p] == sorted(COUNTRY_CONTINENT)
    assert all(
        p is not None and p.continent == COUNTRY_CONTINENT[p.country or ""] for p in countries
    )


def test_classes_are_classify_s_own() -> None:
    table = dict(every_class(API, COUNTRY_CONTINENT))
    for place, cls in table.items():
        assert cls == classify(API, place, None)
    de, jp, br = (
        table[Location(country=c, continent=COUNTRY_CONTINENT[c])] for c in ("DE", "JP", "BR")
    )
    assert [f.name for f in de.fences] == ["eu-eea"] and de.rule is None
    assert {r.name for r in de.scope} == {"eu-west", "eu-central"}
    assert jp.rule is not None and [r.name for r in jp.scope] == ["ap-northeast", "us-west"]
    assert br.key == table[None].key  # unfenced, no rule: like a client with no location


def test_subdivisions_named_by_matches_are_places_cidrs_are_not() -> None:
    ca = Fence("ca", ClientMatch(subdivisions=frozenset({"US-CA"})), frozenset({"us-west"}))
    office = Fence(
        "office", ClientMatch(networks=(ip_network("198.18.0.0/15"),)), frozenset({"us-east"})
    )
    name = dataclasses.replace(API, fences=(*API.fences, ca, office))
    table = dict(every_class(name, COUNTRY_CONTINENT))
    california = Location(country="US", continent="NA", subdivision="US-CA")
    assert [f.name for f in table[california].fences] == ["ca"]
    assert len(table) == len(every_class(API, COUNTRY_CONTINENT)) + 1
    assert all(f.name != "office" for cls in table.values() for f in cls.fences)
