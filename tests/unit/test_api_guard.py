"""Which --http addresses count as loopback (writes without a token)."""

from __future__ import annotations

import pytest

from gslb.live.supervisor import is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("localhost.example.net", False),  # a name that merely starts like one
        ("127.example.net", False),
        ("0.0.0.0", False),
        ("::", False),
        ("192.0.2.1", False),
        ("::1.example", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback
