"""Policy cases through the bundled database: real networks on every continent.

Each case is a client subnet as a resolver would send it, a health/load state, and
the region (and TTL) the example zone must answer with. The engine runs exactly as
the server does (parse a real query, locate it in the database, decide).
"""

from __future__ import annotations

from ipaddress import ip_address
from typing import NamedTuple

import pytest

from gslb.cli.resolve import build_query
from gslb.config import load_zones
from gslb.dns.engine import answer
from gslb.dns.routing import Reply
from gslb.dns.view import ConfigView, View
from gslb.dns.wire import parse_query
from gslb.geo.database import GeoDatabase
from gslb.model import LiveState
from gslb.policy.hashing import unit_hash
from tests.conftest import GEOIP, ZONES
from tests.states import state_for

REGIONS = {
    "198.51.100.10": "us-east", "198.51.100.11": "us-east", "2001:db8:10::10": "us-east",
    "198.51.100.20": "us-west", "2001:db8:20::20": "us-west",
    "192.0.2.10": "eu-west", "2001:db8:30::10": "eu-west",
    "192.0.2.20": "eu-central", "2001:db8:40::20": "eu-central",
    "203.0.113.10": "ap-northeast", "2001:db8:50::10": "ap-northeast",
    "203.0.113.20": "sa-east", "2001:db8:60::20": "sa-east",
}  # fmt: skip
EU = ("eu-west", "eu-central")


class Case(NamedTuple):
    name: str
    ecs: str
    region: str
    ttl: int = 30
    down: tuple[str, ...] = ()
    load: tuple[tuple[str, float], ...] = ()
    qtype: int = 1


# fmt: off
CASES = [
    # Europe: EU/EEA clients are fenced to eu-west/eu-central
    Case("berlin", "85.214.132.0/24", "eu-central"),
    Case("berlin-1-down", "85.214.132.0/24", "eu-west", 10, down=("eu-central",)),
    Case("berlin-2-down-fails-open-in-fence", "85.214.132.0/24", "eu-central", 10, down=EU),
    Case("berlin-eu-central-saturated", "85.214.132.0/24", "eu-west", 10,
         load=(("eu-central", 0.99),)),
    Case("amsterdam", "193.0.0.0/24", "eu-central"),
    Case("frankfurt-v6", "2a00:1450:4001::/48", "eu-central", qtype=28),
    # Europe outside the fence: London, Moscow, Serbia
    Case("london", "81.2.69.0/24", "eu-west"),
    Case("london-1-down", "81.2.69.0/24", "eu-central", 10, down=("eu-west",)),
    Case("london-2-down-crosses-the-atlantic", "81.2.69.0/24", "us-east", 10, down=EU),
    Case("moscow", "77.88.8.0/24", "eu-central"),
    Case("serbia", "62.240.0.0/24", "eu-central"),
    # North America
    Case("mountain-view", "8.8.8.0/24", "us-west"),
    Case("mountain-view-1-down", "8.8.8.0/24", "us-east", 10, down=("us-west",)),
    Case("mountain-view-v6", "2001:4860::/40", "us-west", qtype=28),
    Case("washington", "71.163.0.0/24", "us-east"),
    Case("washington-low-load", "71.163.0.0/24", "us-east", load=(("us-east", 0.5),)),
    Case("washington-above-high", "71.163.0.0/24", "us-west", 10, load=(("us-east", 0.97),)),
    Case("washington-2-down", "71.163.0.0/24", "eu-west", 10, down=("us-east", "us-west")),
    Case("montreal", "24.48.0.0/24", "us-east"),
    Case("new-york", "2.16.0.0/24", "us-east"),
    # Asia and Oceania: JP (and KR) follow the explicit rule
    Case("tokyo", "126.0.0.0/24", "ap-northeast"),
    Case("tokyo-1-down-rule-order", "126.0.0.0/24", "us-west", 10, down=("ap-northeast",)),
    Case("tokyo-v6", "2001:200::/40", "ap-northeast", qtype=28),
    Case("fuzhou", "101.0.0.0/22", "ap-northeast"),
    Case("sydney", "203.2.218.0/24", "ap-northeast"),
    Case("sydney-1-down", "203.2.218.0/24", "us-west", 10, down=("ap-northeast",)),
    # South America
    Case("sao-paulo", "189.0.0.0/23", "sa-east"),
    Case("sao-paulo-1-down", "189.0.0.0/23", "us-east", 10, down=("sa-east",)),
    Case("sao-paulo-v6", "2800:3f0:4001::/48", "sa-east", qtype=28),
    Case("buenos-aires", "190.210.0.0/24", "sa-east"),
    # Africa
    Case("johannesburg", "41.0.0.0/21", "sa-east"),
    Case("cape-town", "105.0.0.0/24", "sa-east"),
    Case("nairobi-v6", "2c0f:fb50::/34", "eu-central", qtype=28),
    # No location: the default order
    Case("documentation", "203.0.113.0/24", "us-east"),
    Case("documentation-1-down", "203.0.113.0/24", "us-west", 10, down=("us-east",)),
    Case("private", "10.1.2.0/24", "us-east"),
    # Everyone above the high watermark: the least loaded wins
    Case("all-saturated", "85.214.132.0/24", "eu-west", 10,
         load=(("eu-west", 0.96), ("eu-central", 0.99))),
    Case("all-saturated-unfenced", "71.163.0.0/24", "sa-east", 10,
         load=tuple((r, 0.99) for r in ("us-east", "us-west", "eu-west", "eu-central",
                                        "ap-northeast")) + (("sa-east", 0.96),)),
]
# fmt: on


@pytest.fixture(scope="module")
def geo() -> GeoDatabase:
    return GeoDatabase.open(str(GEOIP))


@pytest.fixture(scope="module")
def config(geo: GeoDatabase) -> ConfigView:
    return ConfigView(load_zones([ZONES]), geo)


def run(config: ConfigView, ecs: str, qtype: int, status: LiveState) -> Reply:
    query = parse_query(build_query("api.example.com.", qtype, ecs))
    return answer(View(config, status), query, ip_address("127.0.0.1"), explain=True)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bundled_database_cases(config: ConfigView, case: Case) -> None:
    status = state_for("example.com.", case.down, load=dict(case.load))
    reply = run(config, case.ecs, case.qtype, status)
    (rrset,) = reply.answer
    assert {REGIONS[a] for a in rrset.rdatas} == {case.region}
    assert rrset.ttl == case.ttl


def test_spill_between_watermarks_follows_the_client_network_hash(config: ConfigView) -> None:
    """At load 0.9 (low 0.8, high 0.95) two thirds of client networks spill, stably."""
    share = (0.9 - 0.8) / (0.95 - 0.8)
    status = state_for("example.com.", load={"us-east": 0.9})
    spilled = 0
    nets = [f"71.163.{i}.0/24" for i in range(0, 256, 4)]
    for net in nets:
        reply = run(config, net, 1, status)
        region = REGIONS[reply.answer[0].rdatas[0]]
        assert reply.client is not None
        expect_spill = unit_hash(reply.client.key + b"us-east") < share
        assert region == ("us-west" if expect_spill else "us-east"), net
        assert reply.decision is not None and reply.decision.hashed
        # the answer depends on the /24, so the scope is at least /24 (or the narrower DB network)
        assert reply.scope == max(24, reply.client.lookup.network.prefixlen)
        spilled += expect_spill
        assert run(config, net, 1, status).answer == reply.answer  # same network, same answer
    assert 0 < spilled < len(nets)
