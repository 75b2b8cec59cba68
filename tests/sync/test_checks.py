"""gslb's probe config → Route 53 health checks, as a table."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

import pytest

from gslb.model import Endpoint, HealthCheck, HostPort, Region
from gslb.sync.checks import endpoint_check, region_checks

PUBLIC = "52.0.0.10"


def region(*endpoints: Endpoint, min_up: int = 1) -> Region:
    return Region("r1", 0.0, 0.0, endpoints, aws_region="us-east-1", min_up=min_up)


def ep(address: str = PUBLIC, **check: Any) -> Endpoint:
    return Endpoint(ip_address(address), health=HealthCheck(**check) if check else None)


#: (id, endpoint, expected fields of the check or None, notice codes)
ENDPOINTS: list[tuple[str, Endpoint, dict[str, Any] | None, set[str]]] = [
    (
        "http with path, host and match",
        ep(check="http", path="/h", host="API.example.com.", match="ok", rise=3),
        {
            "type": "HTTP_STR_MATCH",
            "ip": PUBLIC,
            "port": 80,
            "path": "/h",
            "fqdn": "api.example.com",
            "search": "ok",
            "interval": 10,
            "failures": 3,
            "sni": False,
        },
        set(),
    ),
    (
        "https without host: the default port, no SNI name",
        ep(check="https"),
        {"type": "HTTPS", "port": 443, "path": "/", "fqdn": None, "sni": False, "search": None},
        {"health"},  # rise 2 / fall 3
    ),
    (
        "tcp: no path, no host",
        ep(check="tcp", port=5432, fall=2, rise=2),
        {"type": "TCP", "port": 5432, "path": None, "fqdn": None, "sni": False},
        set(),
    ),
    (
        "interval 25 s: 30",
        ep(check="tcp", port=1, interval=25, rise=3),
        {"interval": 30},
        {"health"},
    ),
    (
        "interval 20 s: 10",
        ep(check="tcp", port=1, interval=20, rise=3),
        {"interval": 10},
        {"health"},
    ),
    ("fall 20: at most 10", ep(check="tcp", port=1, fall=20, rise=20), {"failures": 10}, set()),
    (
        "a named target: resolved by Route 53",
        ep(check="https", target=HostPort("Health.Example.net", 8443), rise=3),
        {"ip": None, "fqdn": "health.example.net", "port": 8443},
        set(),
    ),
    (
        "a loopback target: the endpoint itself is checked",
        ep(check="http", target=HostPort("127.0.0.1", 8080), path="/status", rise=3),
        {"ip": PUBLIC, "port": 80, "path": "/status"},
        {"health"},
    ),
    (
        "a private target of a documentation address: no check",
        ep("192.0.2.1", check="http", target=HostPort("10.0.0.1", 80), rise=3),
        None,
        {"no-health-check"},
    ),
    (
        "a private endpoint: no check",
        ep("10.1.2.3", check="tcp", port=22, rise=3),
        None,
        {"no-health-check"},
    ),
    (
        "what Route 53 cannot check: notices",
        ep(check="http", expect=(204,), json="ok", rise=3),
        {"type": "HTTP"},
        {"health"},
    ),
]


@pytest.mark.parametrize(
    ("endpoint", "fields", "codes"), [c[1:] for c in ENDPOINTS], ids=[c[0] for c in ENDPOINTS]
)
def test_endpoint_check(endpoint: Endpoint, fields: dict[str, Any] | None, codes: set[str]) -> None:
    spec, notes = endpoint_check("example.com.", region(endpoint), endpoint)
    assert {n.code for n in notes} == codes, notes
    if fields is None:
        assert spec is None
        return
    assert spec is not None and spec.key == f"r1/{endpoint.text}"
    assert {k: getattr(spec, k) for k in fields} == fields


def test_region_check_is_calculated_over_its_endpoints() -> None:
    a, b = ep("52.0.0.1", check="tcp", port=1), ep("52.0.0.2", check="tcp", port=1)
    key, specs, _ = region_checks("example.com.", region(a, b, min_up=2))
    assert key == "r1"
    calc = specs[-1]
    assert (calc.type, calc.threshold, calc.children) == (
        "CALCULATED",
        2,
        ("r1/52.0.0.1", "r1/52.0.0.2"),
    )


def test_unreachable_endpoints_count_as_up() -> None:
    a, private = ep("52.0.0.1", check="tcp", port=1), ep("10.0.0.1", check="tcp", port=1)
    key, specs, _ = region_checks("example.com.", region(a, private, min_up=2))
    assert key == "r1" and len(specs) == 1 and specs[0].type == "TCP"  # 1 of the 2 must be up
    key, specs, notes = region_checks("example.com.", region(a, private, min_up=1))
    assert key is None and specs == ()  # the private one alone meets min-up
    assert "no-health-check" in {n.code for n in notes}


def test_no_health_block_no_check() -> None:
    key, specs, notes = region_checks("example.com.", region(Endpoint(ip_address(PUBLIC))))
    assert (key, specs) == (None, ()) and [n.code for n in notes] == ["no-health-check"]
