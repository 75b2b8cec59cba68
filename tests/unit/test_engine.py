"""engine.answer on the bundled zones with a fixed fake locator (no database)."""

from __future__ import annotations

from ipaddress import IPv6Address, ip_address, ip_network

import pytest

from gslb.cli.resolve import build_query
from gslb.config import load_zones
from gslb.dns.engine import answer
from gslb.dns.routing import Reply, ecs_scope
from gslb.dns.view import ConfigView, View
from gslb.dns.wire import NOERROR, NXDOMAIN, REFUSED, parse_query
from gslb.model import IPAddress, LiveState, Location, Lookup
from tests.conftest import ZONES

PARIS = Location("FR", "EU", None, 48.85, 2.35)
TOKYO = Location("JP", "AS", None, 35.68, 139.69)
NEW_YORK = Location("US", "NA", None, 40.71, -74.0)


class FakeLocator:
    """81.0.0.0/8 is Paris, 126.0.0.0/8 Tokyo, 2001:db9::/32 New York; else unknown /8."""

    places = (None, PARIS, TOKYO, NEW_YORK)

    def find(self, version: int, value: int) -> tuple[int, int]:
        found = self.lookup(ip_address(value) if version == 4 else IPv6Address(value))
        return self.places.index(found.location), found.network.prefixlen

    def lookup(self, address: IPAddress) -> Lookup:
        table = {
            ip_network("81.0.0.0/8"): PARIS,
            ip_network("126.0.0.0/8"): TOKYO,
            ip_network("2001:db9::/32"): NEW_YORK,
        }
        for net, loc in table.items():
            if address.version == net.version and address in net:
                return Lookup(loc, net)
        bits = 8 if address.version == 4 else 16
        return Lookup(None, ip_network(f"{address}/{bits}", strict=False), "not in database")


@pytest.fixture(scope="module")
def view() -> View:
    return View(ConfigView(load_zones([ZONES]), FakeLocator()))


def ask(
    view: View,
    name: str,
    qtype: int = 1,
    ecs: str | None = None,
    resolver: str = "127.0.0.1",
    explain: bool = False,
) -> Reply:
    query = parse_query(build_query(name, qtype, ecs))
    return answer(view, query, ip_address(resolver), explain=explain)


def addresses(reply: Reply) -> list[str]:
    return [r for rr in reply.answer if rr.rtype in ("A", "AAAA") for r in rr.rdatas]


def test_gslb_answer_by_ecs_location(view: View) -> None:
    assert addresses(ask(view, "api.example.com.", ecs="81.2.3.0/24")) == ["192.0.2.20"]
    assert addresses(ask(view, "api.example.com.", ecs="126.1.0.0/16")) == ["203.0.113.10"]
    aaaa = ask(view, "api.example.com.", qtype=28, ecs="2001:db9:1::/48")
    assert addresses(aaaa) == ["2001:db8:10::10"]


def test_resolver_address_used_without_ecs_or_with_source_zero(view: View) -> None:
    assert addresses(ask(view, "api.example.com.", resolver="81.9.9.9")) == ["192.0.2.20"]
    reply = ask(view, "api.example.com.", ecs="0.0.0.0/0", resolver="126.9.9.9")
    assert addresses(reply) == ["203.0.113.10"]
    assert reply.scope == 0


def test_unknown_location_uses_the_default_order(view: View) -> None:
    reply = ask(view, "api.example.com.", ecs="203.0.113.0/24", explain=True)
    assert addresses(reply) == ["198.51.100.10", "198.51.100.11"]  # us-east first
    assert reply.client is not None and reply.client.lookup.location is None
    assert addresses(ask(view, "api.example.com.", ecs="203.0.113.0/24")) == addresses(reply)


def test_ecs_scope_is_the_database_network_but_never_wider_than_the_source(view: View) -> None:
    assert ask(view, "api.example.com.", ecs="81.0.0.0/6").scope == 8  # the /8 network
    assert ask(view, "api.example.com.", ecs="81.2.3.0/24").scope == 24  # not /8


def test_scope_narrows_for_hashed_decisions_and_config_networks() -> None:
    client = int(ip_address("81.2.3.4"))  # in the /8 network of the database, source /4
    assert ecs_scope(4, client, 8, False, (), 4) == 8
    assert ecs_scope(4, client, 8, True, (), 4) == 24

    def nets(*cidrs: str) -> tuple[tuple[int, int, int], ...]:
        return tuple(
            (n.version, int(n.network_address), int(n.broadcast_address))
            for n in map(ip_network, cidrs)
        )

    # a configured /16 containing the client: the scope may not be wider than it
    assert ecs_scope(4, client, 8, False, nets("81.2.0.0/16"), 4) == 16
    # a configured /16 beside the client inside the /8: scope excludes it
    assert ecs_scope(4, client, 8, False, nets("81.3.0.0/16"), 4) == 16
    assert ecs_scope(4, client, 8, False, nets("81.4.0.0/16"), 4) == 14
    # never wider than the source prefix
    assert ecs_scope(4, client, 8, False, (), 24) == 24


def test_health_change_in_a_new_view_changes_the_answer(view: View) -> None:
    down = view.with_state(LiveState(down_regions=frozenset({("example.com.", "eu-central")})))
    assert addresses(ask(down, "api.example.com.", ecs="81.2.3.0/24")) == ["192.0.2.10"]
    assert addresses(ask(view, "api.example.com.", ecs="81.2.3.0/24")) == ["192.0.2.20"]


def test_static_lookups(view: View) -> None:
    nx = ask(view, "missing.example.com.")
    assert nx.rcode == NXDOMAIN and nx.authority[0].rtype == "SOA" and nx.authority[0].ttl == 300
    assert ask(view, "example.net.").rcode == REFUSED
    www = ask(view, "www.example.com.", ecs="81.2.3.0/24")
    assert [rr.rtype for rr in www.answer] == ["CNAME", "A"]
    assert www.route is not None and www.scope == 24
    mx = ask(view, "example.com.", qtype=15)
    assert mx.rcode == NOERROR and mx.additional[0].name == "mail.example.com."


V4_ONLY = """
zone: example.net
soa: {mname: ns1, rname: hostmaster, serial: 1, refresh: 7200, retry: 3600,
      expire: 1209600, minimum: 300}
ns: [ns1]
records:
  ns1: {A: 192.0.2.53}
regions:
  paris:
    location: [48.85, 2.35]
    endpoints: [192.0.2.1]
  tokyo:
    location: [35.68, 139.69]
    endpoints: [203.0.113.1, "2001:db8::1"]
gslb:
  app: {ttl: 60}
"""


def test_aaaa_for_a_region_without_ipv6_is_nodata_not_another_region(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A and AAAA must point at the same region; the client falls back to IPv4."""
    path = tmp_path / "example.net.yaml"
    path.write_text(V4_ONLY)
    view = View(ConfigView(load_zones([path]), FakeLocator()))
    a = ask(view, "app.example.net.", qtype=1, ecs="81.2.3.0/24")
    assert addresses(a) == ["192.0.2.1"]
    aaaa = ask(view, "app.example.net.", qtype=28, ecs="81.2.3.0/24")
    assert aaaa.rcode == NOERROR and not aaaa.answer
    assert aaaa.authority[0].rtype == "SOA" and aaaa.authority[0].ttl == 60  # min(SOA neg, ttl)
    tokyo = ask(view, "app.example.net.", qtype=28, ecs="126.1.0.0/16")
    assert addresses(tokyo) == ["2001:db8::1"]
