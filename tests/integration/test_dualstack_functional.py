"""`--dns 0.0.0.0:PORT --dns [::]:PORT`: both families on one port, UDP and TCP alike.

IPv6 listeners are IPv6-only (asyncio makes TCP ones so), so the usual pair of wildcard
listeners in the deployment files binds without "address already in use".
"""

from __future__ import annotations

from dataclasses import replace

import dns.message
import dns.query
import pytest

from gslb.model import HostPort
from tests.conftest import start_live, stop_live
from tests.integration.test_cli_functional import free_port

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("udp_io", ["batch", "asyncio"])
def test_wildcard_ipv4_and_ipv6_listeners_share_a_port(settings, udp_io: str) -> None:  # type: ignore[no-untyped-def]
    port = free_port()
    listeners = (HostPort("0.0.0.0", port), HostPort("::", port))
    live = start_live(replace(settings, listeners=listeners, udp_io=udp_io))
    try:
        assert sorted(live.runtime.server.bound) == sorted(
            (proto, host, port) for proto in ("udp", "tcp") for host in ("0.0.0.0", "::")
        )
        query = dns.message.make_query("example.com.", "SOA")
        for where in ("127.0.0.1", "::1"):
            for ask in (dns.query.udp, dns.query.tcp):
                reply = ask(query, where, port=port, timeout=3)
                assert reply.answer[0][0].serial == 2026112701, (where, ask)
    finally:
        stop_live(live)
