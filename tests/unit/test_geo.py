"""gslb.geo: distance, special-purpose blocks, the static locator."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gslb.geo.distance import haversine_km
from gslb.geo.locator import StaticLocator
from gslb.geo.special import SPECIAL_BLOCKS, special_lookup, special_lookup_int
from gslb.model import Location

DUBLIN = (53.35, -6.26)
FRANKFURT = (50.11, 8.68)
TOKYO = (35.68, 139.69)


# --------------------------------------------------------------------------- haversine


@pytest.mark.parametrize(
    ("a", "b", "km"),
    [
        (DUBLIN, FRANKFURT, 1088),
        (DUBLIN, DUBLIN, 0),
        (FRANKFURT, TOKYO, 9350),
        ((0.0, 0.0), (0.0, 180.0), 20015),  # half the equator
        ((90.0, 0.0), (-90.0, 0.0), 20015),  # pole to pole
        ((0.0, 179.5), (0.0, -179.5), 111),  # across the antimeridian
    ],
)
def test_haversine_known_distances(
    a: tuple[float, float], b: tuple[float, float], km: float
) -> None:
    assert haversine_km(*a, *b) == pytest.approx(km, abs=max(1.0, km * 0.005))


@given(st.floats(-90, 90), st.floats(-180, 180), st.floats(-90, 90), st.floats(-180, 180))
def test_haversine_is_symmetric_and_bounded(
    lat1: float, lon1: float, lat2: float, lon2: float
) -> None:
    d = haversine_km(lat1, lon1, lat2, lon2)
    assert d == pytest.approx(haversine_km(lat2, lon2, lat1, lon1), abs=1e-6)
    assert 0 <= d <= 20016


# --------------------------------------------------------------------------- special blocks


@pytest.mark.parametrize(
    ("address", "network", "reason"),
    [
        ("0.0.0.0", "0.0.0.0/32", "unspecified address (RFC 1122)"),
        ("0.1.2.3", "0.1.0.0/16", "'this network' address (RFC 791)"),
        ("10.20.30.40", "10.0.0.0/8", "private address (RFC 1918)"),
        ("172.16.0.0", "172.16.0.0/12", "private address (RFC 1918)"),
        ("172.31.255.255", "172.16.0.0/12", "private address (RFC 1918)"),
        ("192.168.1.1", "192.168.0.0/16", "private address (RFC 1918)"),
        ("100.64.0.1", "100.64.0.0/10", "shared CGNAT address (RFC 6598)"),
        ("100.127.255.255", "100.64.0.0/10", "shared CGNAT address (RFC 6598)"),
        ("127.0.0.1", "127.0.0.0/8", "loopback address (RFC 1122)"),
        ("169.254.1.1", "169.254.0.0/16", "link-local address (RFC 3927)"),
        ("192.0.0.9", "192.0.0.0/24", "IETF protocol assignment (RFC 6890)"),
        ("192.0.2.1", "192.0.2.0/24", "documentation address (RFC 5737)"),
        ("198.51.100.7", "198.51.100.0/24", "documentation address (RFC 5737)"),
        ("203.0.113.255", "203.0.113.0/24", "documentation address (RFC 5737)"),
        ("198.19.1.1", "198.18.0.0/15", "benchmarking address (RFC 2544)"),
        ("224.0.0.251", "224.0.0.0/4", "multicast address (RFC 5771)"),
        ("250.1.1.1", "248.0.0.0/6", "reserved address (RFC 1112)"),
        ("255.255.255.255", "255.255.255.255/32", "limited broadcast address (RFC 919)"),
        ("::", "::/128", "unspecified address (RFC 4291)"),
        ("::1", "::1/128", "loopback address (RFC 4291)"),
        ("::ffff:8.8.8.8", "::ffff:0:0/96", "IPv4-mapped address (RFC 4291)"),
        ("64:ff9b::8.8.8.8", "64:ff9b::/96", "NAT64 well-known prefix (RFC 6052)"),
        ("100::1", "100::/64", "discard-only address (RFC 6666)"),
        ("2001:db8::1", "2001:db8::/32", "documentation address (RFC 3849)"),
        ("3fff:abc::1", "3fff::/20", "documentation address (RFC 9637)"),
        ("2001:2::5", "2001:2::/48", "benchmarking address (RFC 5180)"),
        ("fd12:3456::1", "fc00::/7", "unique local address (RFC 4193)"),
        ("fe80::1", "fe80::/10", "link-local address (RFC 4291)"),
        ("fec0::1", "fec0::/10", "site-local address, deprecated (RFC 3879)"),
        ("ff02::1", "ff00::/8", "multicast address (RFC 4291)"),
        ("4000::1", "4000::/2", "not a global unicast address (RFC 4291)"),
        ("8000::1", "8000::/2", "not a global unicast address (RFC 4291)"),
        ("c000::1", "c000::/3", "not a global unicast address (RFC 4291)"),
    ],
)
def test_special_addresses_have_no_location(address: str, network: str, reason: str) -> None:
    found = special_lookup(ip_address(address))
    assert found is not None
    assert found.location is None
    assert found.network == ip_network(network)
    assert found.reason == reason


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0",
        "172.15.255.255", "172.32.0.0", "192.0.1.255", "192.0.3.0", "198.17.255.255",
        "198.20.0.0", "223.255.255.255", "2001:4860:4860::8888", "2a00:1450::1",
        "2002:808:808::1", "2001::1", "3ffe:ffff::1", "3fff:1000::1", "2c0f:f000::1",
    ],
)  # fmt: skip
def test_public_addresses_are_not_special(address: str) -> None:
    assert special_lookup(ip_address(address)) is None


def test_special_lookup_int_matches_special_lookup() -> None:
    for address in ("10.1.2.3", "8.8.8.8", "fe80::1", "2a00::1"):
        a = ip_address(address)
        assert special_lookup_int(a.version, int(a)) == special_lookup(a)


def _blocks_containing(address: IPv4Address | IPv6Address) -> list[tuple[int, str]]:
    return [
        (net.prefixlen, reason)
        for net, reason in ((ip_network(c), r) for c, r in SPECIAL_BLOCKS)
        if net.version == address.version and address in net
    ]


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_special_lookup_agrees_with_the_block_list(address: IPv4Address | IPv6Address) -> None:
    """The table says what the most specific listed block says, and its network holds
    the address without reaching into a block that answers differently."""
    found = special_lookup(address)
    containing = _blocks_containing(address)
    if not containing:
        assert found is None
        return
    assert found is not None
    assert address in found.network
    assert found.reason == max(containing)[1]
    for cidr, _reason in SPECIAL_BLOCKS:
        net = ip_network(cidr)
        if net.version == address.version and net.prefixlen > found.network.prefixlen:
            assert not net.subnet_of(found.network) or address in net  # type: ignore[arg-type]


@given(st.ip_addresses(v=4))
def test_ipaddress_non_global_ipv4_is_special(address: IPv4Address) -> None:
    if address.is_private or address.is_multicast or address.is_reserved:
        assert special_lookup(address) is not None


# --------------------------------------------------------------------------- static locator

IE = Location("IE", "EU", None, 53.35, -6.26)
DE = Location("DE", "EU", None, 50.11, 8.68)
US = Location("US", "NA", "US-VA", 38.95, -77.45)
JP = Location("JP", "AS", None, 35.68, 139.69)

STATIC = StaticLocator(
    {
        "81.0.0.0/8": DE,
        "81.2.0.0/16": IE,  # more specific wins
        "192.0.2.0/25": US,  # configured entries win over special blocks
        "2a00::/16": DE,
        "2001:db8:1::/48": JP,
    }
)


@pytest.mark.parametrize(
    ("address", "location", "network", "reason"),
    [
        ("81.1.1.1", DE, "81.0.0.0/8", ""),
        ("81.2.3.4", IE, "81.2.0.0/16", ""),
        ("192.0.2.1", US, "192.0.2.0/25", ""),
        ("192.0.2.200", None, "192.0.2.128/25", "documentation address (RFC 5737)"),
        ("10.0.0.1", None, "10.0.0.0/8", "private address (RFC 1918)"),
        ("80.1.1.1", None, "80.0.0.0/8", "not in static table"),
        ("82.1.1.1", None, "82.0.0.0/7", "not in static table"),
        ("2a00:1::1", DE, "2a00::/16", ""),
        ("2001:db8:1::5", JP, "2001:db8:1::/48", ""),
        ("2001:db8:2::5", None, "2001:db8:2::/47", "documentation address (RFC 3849)"),
        ("2a01::1", None, "2a01::/16", "not in static table"),
    ],
)
def test_static_locator(address: str, location: Location | None, network: str, reason: str) -> None:
    found = STATIC.lookup(ip_address(address))
    assert found.location == location
    assert found.network == ip_network(network)
    assert found.reason == reason


@given(st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)))
def test_static_locator_network_gives_one_answer(address: IPv4Address | IPv6Address) -> None:
    """Every address in the returned network gets the same answer (ECS scope is honest)."""
    found = STATIC.lookup(address)
    assert address in found.network
    for probe in (found.network.network_address, found.network.broadcast_address):
        again = STATIC.lookup(probe)
        assert (again.location, again.network, again.reason) == (
            found.location,
            found.network,
            found.reason,
        )
