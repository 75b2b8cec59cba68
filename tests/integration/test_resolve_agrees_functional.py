"""`gslb resolve` and the live server give the same answer, client for client."""

from __future__ import annotations

import json
from ipaddress import ip_network

import dns.edns
import dns.message
import dns.query
import dns.rcode
import pytest

from gslb.cli import main
from gslb.cli.resolve import explain, parse_state
from gslb.config import load_zones
from gslb.dns.view import ConfigView, View
from gslb.geo.database import GeoDatabase
from tests.conftest import GEOIP, ZONES, LiveServer

pytestmark = pytest.mark.integration

#: Client networks across the world (IPv4 and IPv6), plus ones with no location.
CLIENTS = [
    "8.8.8.0/24", "4.2.2.0/24", "24.48.0.0/16", "64.233.160.0/19", "99.237.0.0/16",
    "142.250.0.0/15", "187.72.0.0/16", "200.160.0.0/20", "190.210.0.0/16", "181.64.0.0/16",
    "81.2.69.0/24", "82.165.0.0/16", "2.16.0.0/13", "5.44.0.0/16", "62.240.0.0/16",
    "77.72.0.0/16", "85.214.0.0/16", "88.198.0.0/16", "91.198.174.0/24", "93.184.216.0/24",
    "95.85.0.0/16", "109.74.0.0/16", "130.104.0.0/16", "145.220.0.0/16", "151.101.0.0/16",
    "185.60.216.0/22", "193.0.0.0/21", "194.109.0.0/16", "212.58.224.0/19", "213.180.0.0/16",
    "1.0.16.0/20", "14.0.0.0/16", "27.0.0.0/16", "36.0.0.0/16", "43.224.0.0/16",
    "49.0.0.0/16", "58.0.0.0/16", "101.0.0.0/16", "103.21.244.0/22", "110.0.0.0/16",
    "122.0.0.0/16", "126.0.0.0/16", "133.0.0.0/16", "175.45.176.0/22", "202.12.27.0/24",
    "41.0.0.0/16", "102.128.0.0/16", "105.0.0.0/16", "154.0.0.0/16", "196.0.0.0/16",
    "197.0.0.0/16", "2001:4860::/32", "2a00:1450::/32", "2001:200::/32", "2400:cb00::/32",
    "2800:3f0::/32", "2c0f:fb50::/32", "2a03:2880::/32", "2604:a880::/32",
    "203.0.113.0/24", "10.1.2.0/24", "2001:db8:1::/48",
]  # fmt: skip
DOWN_SETS: list[list[str]] = [
    [],
    ["eu-central"],
    ["eu-west", "eu-central"],
    ["us-east", "ap-northeast"],
]


def live_answer(live: LiveServer, cidr: str, rdtype: str) -> tuple[str, list[str], int]:
    net = ip_network(cidr)
    ecs = dns.edns.ECSOption(str(net.network_address), net.prefixlen)
    q = dns.message.make_query("api.example.com.", rdtype, use_edns=0, options=[ecs])
    r = dns.query.udp(q, "127.0.0.1", port=live.port4, timeout=3)
    (echo,) = [o for o in r.options if isinstance(o, dns.edns.ECSOption)]
    addresses = sorted(item.to_text() for rr in r.answer for item in rr if rr.rdtype in (1, 28))
    return dns.rcode.to_text(r.rcode()), addresses, echo.scopelen


def resolve_answer(view: View, cidr: str, rdtype: str) -> tuple[str, list[str], int]:
    """What `gslb resolve --json` prints for this client (its own function, one view)."""
    out = explain(view, "api.example.com", rdtype, "127.0.0.1", cidr)
    return out["rcode"], sorted(a["address"] for a in out["answer"] if "address" in a), out["scope"]


@pytest.mark.parametrize("down", DOWN_SETS, ids=lambda d: "+".join(d) or "all-up")
def test_live_udp_answers_equal_gslb_resolve(settings, live_factory, down: list[str]) -> None:  # type: ignore[no-untyped-def]
    live = live_factory(settings)
    zones = load_zones([ZONES])
    state = parse_state(down, [], zones)
    live.call(live.runtime.publish_state, state)
    view = View(ConfigView(zones, GeoDatabase.open(GEOIP), compile_all=False), state)
    for i, cidr in enumerate(CLIENTS):
        rdtype = "AAAA" if i % 3 == 0 else "A"
        assert live_answer(live, cidr, rdtype) == resolve_answer(view, cidr, rdtype), cidr


def test_resolve_without_name_explains_the_no_location_case(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["resolve", "--from", "203.0.113.1", "--zones", str(ZONES), "--geoip", str(GEOIP)])
        == 0
    )
    out = capsys.readouterr().out
    assert "api.example.com. A" in out
    assert "location none: documentation address" in out
    assert "default" in out  # names the default order that was used
    assert "198.51.100.10" in out


def test_resolve_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["resolve", "api.example.com", "--from", "127.0.0.1", "--ecs", "85.214.0.0/16",
            "--zones", str(ZONES), "--geoip", str(GEOIP), "--json",
            "--load", "eu-central=0.99"]  # fmt: skip
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"name", "type", "rcode", "scope", "answer", "client", "decision", "trace"}
    assert out["client"]["location"]["country"] == "DE"
    assert out["answer"] == [
        {"name": "api.example.com.", "type": "A", "ttl": 10, "address": "192.0.2.10"}
    ]  # eu-central is saturated: spilled to eu-west inside the fence, with the degraded TTL
    assert [s["step"] for s in out["trace"]][:2] == ["fence", "rules"]
