"""The benchmark harness's datafiles, without dnsperf or servers: framing and networks."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

import dns.edns
import dns.message
import dns.rdatatype
import pytest

from benchmarks import new_networks, world
from benchmarks.dnsperf import Run, parse_dnsperf
from gslb.geo.database import GeoDatabase
from tests.conftest import GEOIP

QUERIES = (
    world.Query("api.example.com", "A", IPv4Network("71.163.0.0/24")),
    world.Query("api.example.com", "AAAA", IPv6Network("2a01:4f8::/56")),
    world.Query("www.example.com", "CNAME", None),
    world.Query("x1.dev.example.com", "MX", IPv6Network("2001:240::/48")),
)


def ecs_of(msg: dns.message.Message) -> IPv4Network | IPv6Network | None:
    for opt in msg.options:
        if isinstance(opt, dns.edns.ECSOption):
            assert opt.scopelen == 0
            return ip_network(f"{opt.address}/{opt.srclen}")
    return None


def test_datafile_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "q.bin"
    path.write_bytes(world.frame(world.encode_query(q) for q in QUERIES))
    messages = world.read_datafile(path)
    assert len(messages) == len(QUERIES)
    for wire, want in zip(messages, QUERIES, strict=True):
        msg = dns.message.from_wire(wire)
        (question,) = msg.question
        assert question.name.to_text() == want.name + "."
        assert dns.rdatatype.to_text(question.rdtype) == want.qtype
        assert ecs_of(msg) == want.ecs
        assert (msg.edns >= 0) == (want.ecs is not None)


@pytest.fixture(scope="module")
def database() -> GeoDatabase:
    return GeoDatabase.open(GEOIP)  # unpacks the bundled .xz on first use


def test_new_networks_are_distinct_located_and_seeded(
    database: GeoDatabase, tmp_path: Path
) -> None:
    count = 2_000
    (path,) = new_networks.ensure(database.path, tmp_path, count, seed=7)
    queries = [dns.message.from_wire(w) for w in world.read_datafile(path)]
    assert len(queries) == count
    nets = [ecs_of(q) for q in queries]
    assert len(set(nets)) == count
    v4 = [n for n in nets if isinstance(n, IPv4Network)]
    assert len(v4) == count - round(count * new_networks.V6_SHARE)
    for q, net in zip(queries, nets, strict=True):
        assert net is not None and net.prefixlen == (24 if net.version == 4 else 48)
        assert q.question[0].name.to_text() == "api.example.com."
        assert q.question[0].rdtype == (dns.rdatatype.A if net.version == 4 else dns.rdatatype.AAAA)
        loc = database.lookup(net.network_address).location
        assert loc is not None and loc.country and loc.lat is not None, net
    # the same inputs give the same bytes; another seed other networks
    same = new_networks.build(database.path, count, seed=7)[0]
    assert new_networks.encode(same) == path.read_bytes()
    other = new_networks.build(database.path, count, seed=8)[0]
    assert len(set(other) & set(same)) < count // 10


def test_new_networks_parts_never_repeat(database: GeoDatabase) -> None:
    first, second = new_networks.build(database.path, 500, seed=3, parts=2)
    assert len(set(first) | set(second)) == 1_000
    assert new_networks.build(database.path, 500, seed=3)[0] == first


def test_new_networks_cache_is_keyed_by_inputs(database: GeoDatabase, tmp_path: Path) -> None:
    (a,) = new_networks.ensure(database.path, tmp_path, 300, seed=1)
    stamp = a.stat().st_mtime_ns
    assert new_networks.ensure(database.path, tmp_path, 300, seed=1) == [a]
    assert a.stat().st_mtime_ns == stamp  # reused
    b, c = new_networks.ensure(database.path, tmp_path, 300, seed=1, parts=2)
    assert b == a and c.exists()


DNSPERF_OUTPUT = """
Statistics:

  Queries sent:         1500000
  Queries completed:    1499990 (100.00%)
  Queries lost:         10 (0.00%)

  Response codes:       NOERROR 1499990 (100.00%)
  Average packet size:  request 51, response 83
  Run time (s):         27.512345
  Queries per second:   54520.123456

  Average Latency (s):  0.001712 (min 0.000031, max 0.041234)
  Latency StdDev (s):   0.000897
"""


def test_parse_dnsperf() -> None:
    run = Run("new-networks", "gslb", 1, None, None)
    parse_dnsperf(DNSPERF_OUTPUT, run)
    assert (run.sent, run.completed, run.lost) == (1_500_000, 1_499_990, 10)
    assert run.qps == pytest.approx(54520.123456)
    assert run.runtime == pytest.approx(27.512345)
    assert run.avg_ms == pytest.approx(1.712) and run.max_ms == pytest.approx(41.234)
    assert run.rcodes == {"NOERROR": 1_499_990}
