"""EDNS Client Subnet against the bundled database: location, scope, reload."""

from __future__ import annotations

import shutil
import time
from ipaddress import ip_network
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import dns.rcode
import maxminddb
import pytest

from tests.conftest import GEOIP, LiveServer

pytestmark = pytest.mark.integration

REGION_ADDRESSES = {
    "us-east": {"198.51.100.10", "198.51.100.11", "2001:db8:10::10"},
    "us-west": {"198.51.100.20", "2001:db8:20::20"},
    "eu-west": {"192.0.2.10", "2001:db8:30::10"},
    "eu-central": {"192.0.2.20", "2001:db8:40::20"},
    "ap-northeast": {"203.0.113.10", "2001:db8:50::10"},
    "sa-east": {"203.0.113.20", "2001:db8:60::20"},
}


def ask(live: LiveServer, cidr: str, rdtype: str = "A") -> tuple[str | None, int, int]:
    """(region answered, ECS source echoed, ECS scope) for one client subnet."""
    net = ip_network(cidr)
    ecs = dns.edns.ECSOption(str(net.network_address), net.prefixlen)
    q = dns.message.make_query("api.example.com.", rdtype, use_edns=0, options=[ecs])
    r = dns.query.udp(q, "127.0.0.1", port=live.port4, timeout=3)
    assert r.rcode() == dns.rcode.NOERROR
    (echo,) = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    assert echo.address == str(net.network_address)
    got = {item.to_text() for rr in r.answer for item in rr}
    region = next((name for name, addrs in REGION_ADDRESSES.items() if got <= addrs), None)
    return region, echo.srclen, echo.scopelen


@pytest.mark.parametrize(
    ("cidr", "rdtype", "region"),
    [
        ("85.214.0.0/16", "A", "eu-central"),  # Berlin: fenced to the EU
        ("81.2.69.0/24", "A", "eu-west"),  # London: not fenced, Dublin is nearest
        ("8.8.8.0/24", "A", "us-west"),  # Mountain View
        ("126.0.0.0/16", "A", "ap-northeast"),  # Japan (also a rule)
        ("200.160.0.0/20", "A", "sa-east"),  # Sao Paulo
        ("2001:200::/32", "AAAA", "ap-northeast"),  # WIDE, Japan
        ("2a00:1450:4001::/48", "AAAA", None),  # somewhere in Europe: checked below
        ("203.0.113.0/24", "A", "us-east"),  # documentation: no location, default order
    ],
)
def test_clients_are_answered_by_their_real_location(
    live: LiveServer, cidr: str, rdtype: str, region: str | None
) -> None:
    got, source, _ = ask(live, cidr, rdtype)
    assert source == ip_network(cidr).prefixlen
    if region is None:
        assert got in REGION_ADDRESSES
    else:
        assert got == region


CASES = [
    "85.214.0.0/16", "85.214.132.0/24", "85.214.132.117/32", "8.8.8.0/24", "1.0.16.0/20",
    "41.0.0.0/8", "2001:200::/32", "2001:200:900::/48", "2a03:2880:f003::/48",
    "2c0f:fb50::/32", "2800:3f0:4001::/56",
]  # fmt: skip


@pytest.mark.parametrize("cidr", CASES)
def test_scope_is_the_database_network_never_wider_than_the_source(
    live: LiveServer, cidr: str
) -> None:
    net = ip_network(cidr)
    with maxminddb.open_database(str(GEOIP)) as reader:
        _, prefix = reader.get_with_prefix_len(str(net.network_address))
    if net.version == 4 and prefix > 32:
        prefix -= 96
    _, _, scope = ask(live, cidr, "A" if net.version == 4 else "AAAA")
    assert scope == max(prefix, net.prefixlen)
    # and every address inside the returned scope really gets the same answer
    scoped = ip_network(f"{net.network_address}/{scope}", strict=False)
    first = ask(live, f"{scoped.network_address}/{net.max_prefixlen}")[0]
    last = ask(live, f"{scoped.broadcast_address}/{net.max_prefixlen}")[0]
    assert first == last == ask(live, cidr, "A" if net.version == 4 else "AAAA")[0]


def test_source_prefix_zero_uses_the_resolver_and_scope_zero(live: LiveServer) -> None:
    region, source, scope = ask(live, "0.0.0.0/0")
    assert (source, scope) == (0, 0)
    assert region == "us-east"  # 127.0.0.1 has no location: the default order


def test_database_reload_while_serving(settings, live_factory, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A valid replacement is picked up; a corrupt one is rejected and the old one kept."""
    from gslb.geo.build.mmdbwriter import Metadata, write_networks

    db = tmp_path / "geo.mmdb"
    shutil.copy(GEOIP, db)
    live = live_factory(settings, geoip=str(db), geoip_poll=0.1)
    assert ask(live, "85.214.0.0/16")[0] == "eu-central"

    # a valid replacement that puts Berlin's network in Tokyo
    replacement = tmp_path / "new.mmdb"
    tokyo = {"country": {"iso_code": "JP"}, "continent": {"code": "AS"},
             "location": {"latitude": 35.68, "longitude": 139.69}}  # fmt: skip
    us = {"country": {"iso_code": "US"}, "continent": {"code": "NA"},
          "location": {"latitude": 37.4, "longitude": -122.1}}  # fmt: skip
    with replacement.open("wb") as out:  # the start-up probes (8.8.8.8...) must resolve
        write_networks(
            out,
            {"85.214.0.0/16": tokyo, "8.8.8.0/24": us, "2001:4860::/32": us},
            Metadata("GeoIP2-City", {"en": "test"}, int(time.time())),
        )
    replacement.replace(db)
    deadline = time.monotonic() + 10
    while ask(live, "85.214.0.0/16")[0] != "ap-northeast":
        assert time.monotonic() < deadline, "replacement database never loaded"
        time.sleep(0.1)

    # a corrupt replacement: rejected, the previous database keeps serving
    garbage = tmp_path / "garbage.mmdb"
    garbage.write_bytes(b"\x00" * 1000)
    garbage.replace(db)
    time.sleep(1.0)
    assert ask(live, "85.214.0.0/16")[0] == "ap-northeast"
    assert live.runtime.geo.path == db
