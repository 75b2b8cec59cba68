"""Shared values of gslb.model that several layers parse or print."""

from __future__ import annotations

import pytest

from gslb.model import HostPort


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("127.0.0.1:53", "127.0.0.1", 53),
        ("[::1]:1053", "::1", 1053),
        ("ns.example:0", "ns.example", 0),
        ("[2001:db8::1]:65535", "2001:db8::1", 65535),
    ],
)
def test_host_port_parses(text: str, host: str, port: int) -> None:
    parsed = HostPort.parse(text)
    assert (parsed.host, parsed.port) == (host, port)
    assert HostPort.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("127.0.0.1:99999", "port 99999 in '127.0.0.1:99999' is out of range 0..65535"),
        ("127.0.0.1", "'127.0.0.1' has no port (HOST:PORT, IPv6 as [ADDR]:PORT)"),
        ("127.0.0.1:ab", "port 'ab' in '127.0.0.1:ab' is not a number"),
        (":53", "':53' has no host (HOST:PORT, IPv6 as [ADDR]:PORT)"),
        ("[::1]53", "'[::1]53' is not [IPv6]:PORT"),
        ("::1", "'::1' has no port (HOST:PORT, IPv6 as [ADDR]:PORT)"),
    ],
)
def test_host_port_says_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(ValueError) as exc:
        HostPort.parse(text)
    assert str(exc.value) == why


def test_host_port_default_port() -> None:
    assert HostPort.parse("10.0.0.1", default_port=443) == HostPort("10.0.0.1", 443)
    assert HostPort.parse("2001:db8::1", default_port=80) == HostPort("2001:db8::1", 80)
