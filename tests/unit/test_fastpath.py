"""The fast path (cached Responder) against the general path (respond), byte for byte.

Over the bundled zone and ``tests/fixtures/zones/gslb.test.yaml``, whose answers depend
on the client network (CIDR fences and rules, pick subsets, a second region, spill),
under live states that exercise every step: regions and endpoints down, drained,
loads at several levels, and all-down inside each kind of fence.
"""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv6Address, ip_address
from types import MappingProxyType

import pytest

from gslb.config import load_zones
from gslb.dns.responder import Responder, respond
from gslb.dns.view import PLACED_LIMIT, ConfigView, View
from gslb.geo import tree
from gslb.geo.database import GeoDatabase
from gslb.model import LiveState
from tests.conftest import FIXTURES, GEOIP, ZONES

NAMES = [
    "api.example.com.", "www.example.com.", "example.com.", "mail.example.com.",
    "ns1.example.com.", "big.example.com.", "status.example.com.", "_sip._tcp.example.com.",
    "x.dev.example.com.", "a.b.dev.example.com.", "dev.example.com.", "lab.example.com.",
    "h.lab.example.com.", "nope.example.com.", "10.2.0.192.in-addr.arpa.", "example.org.",
    "id.server.", "version.bind.",
    "one.gslb.test.", "two.gslb.test.", "plain.gslb.test.", "alias.gslb.test.", "gslb.test.",
    "one.gslb.test.", "two.gslb.test.", "plain.gslb.test.",
]  # fmt: skip
TYPES = [1, 28, 1, 28, 1, 28, 2, 5, 6, 15, 16, 33, 257, 12, 255, 43, 99, 65000, 41, 251, 252]
#: Client networks the test zone's CIDR fences and rules name (and their neighbours).
CIDR_CLIENTS = [
    (1, "10.20.{}.0", 24), (1, "10.21.{}.0", 24), (1, "81.2.{}.0", 24), (1, "81.3.{}.0", 24),
    (1, "8.8.{}.0", 24), (1, "8.9.{}.0", 24), (2, "2001:db8:99:{}::", 56),
    (2, "2001:db8:98:{}::", 56), (1, "81.2.{}.0", 16), (1, "10.20.{}.0", 12),
]  # fmt: skip


TEST_ZONE_REGIONS = frozenset({"eu-a", "eu-b", "us-a", "us-b", "ap-a"})


def _state(
    down: tuple[str, ...] = (),
    eps: tuple[tuple[str, str], ...] = (),
    load: dict[str, float] | None = None,
    drained: tuple[str, ...] = (),
    drained_eps: tuple[tuple[str, str], ...] = (),
) -> LiveState:
    def key(region: str) -> tuple[str, str]:
        return ("gslb.test." if region in TEST_ZONE_REGIONS else "example.com.", region)

    return LiveState(
        down_regions=frozenset(map(key, down)),
        down_endpoints=frozenset((*key(r), a) for r, a in eps),
        drained_regions=frozenset(map(key, drained)),
        drained_endpoints=frozenset((*key(r), a) for r, a in drained_eps),
        load=MappingProxyType({key(r): v for r, v in (load or {}).items()}),
    )


STATES = {
    "all-up": _state(),
    "eu-a-down": _state(down=("eu-a", "eu-west")),
    "endpoints-down": _state(eps=(("eu-a", "192.0.2.1"), ("eu-b", "2001:db8:b::1"),
                                  ("us-east", "198.51.100.10"))),
    "eu-all-down": _state(down=("eu-a", "eu-b", "eu-west", "eu-central")),
    "corp-all-down": _state(down=("us-a", "us-b")),
    "lab-all-down": _state(down=("eu-b",)),
    "spill": _state(load={"us-a": 0.7, "eu-a": 0.85, "ap-a": 0.6, "eu-central": 0.87}),
    "overloaded": _state(load={r: 0.99 for r in ("eu-a", "eu-b", "us-a", "us-b", "ap-a",
                                                  "us-east", "eu-west", "eu-central")}),
    "drained": _state(drained=("eu-b", "us-east"), drained_eps=(("us-a", "198.51.100.1"),)),
}  # fmt: skip


@pytest.fixture(scope="module", params=["C", "Python"])
def config(request: pytest.FixtureRequest) -> ConfigView:
    """Every test twice: with the compact database's tree in C (gslb.geo.tree), which
    answers new networks of a learned shape, and with the Python twin of that path."""
    geo = GeoDatabase.open(str(GEOIP))
    zones = load_zones([ZONES, FIXTURES / "zones" / "gslb.test.yaml"])
    config = ConfigView(zones, geo, chaos={"id.server.": "t"})
    if request.param == "C":
        assert config.tree is not None or not (tree.BUILT or os.environ.get("CI"))
        if config.tree is None:
            pytest.skip("the C module was not built here")
    else:
        config.tree = None
    return config


@pytest.fixture
def view(config: ConfigView) -> Iterator[View]:
    yield View(config)  # fresh live caches for every test


def _name(rng: random.Random) -> bytes:
    name = rng.choice(NAMES)
    if rng.random() < 0.1:
        name = f"r{rng.randrange(10**6)}." + name
    labels = [lab for lab in name.rstrip(".").split(".") if lab]
    out = b""
    for label in labels:
        text = "".join(c.upper() if rng.random() < 0.5 else c for c in label)
        out += bytes([len(text)]) + text.encode()
    return out + b"\0"


def _ecs(rng: random.Random) -> bytes:
    if rng.random() < 0.3:
        family, pattern, bits = rng.choice(CIDR_CLIENTS)
        text = pattern.format(rng.randrange(256) if family == 1 else f"{rng.randrange(65536):x}")
        addr = ip_address(text).packed
    elif rng.random() < 0.5:
        family, bits = 1, rng.choice([0, 8, 16, 20, 24, 25, 32])
        addr = IPv4Address(rng.getrandbits(32)).packed
    else:
        family, bits = 2, rng.choice([0, 32, 48, 56, 64, 128])
        addr = IPv6Address((0x2000 << 112) | rng.getrandbits(112)).packed
    nbytes = (bits + 7) // 8
    masked = bytearray(addr[:nbytes])
    if bits % 8:
        masked[-1] &= (0xFF << (8 - bits % 8)) & 0xFF
    payload = struct.pack("!HBB", family, bits, 0) + bytes(masked)
    return struct.pack("!HH", 8, len(payload)) + payload


def random_query(rng: random.Random) -> tuple[bytes, str]:
    qclass = 3 if rng.random() < 0.05 else 1
    flags = 0x0100 if rng.random() < 0.5 else 0
    body = _name(rng) + struct.pack("!HH", rng.choice(TYPES), qclass)
    ar = 0
    if rng.random() < 0.8:
        ar = 1
        options = _ecs(rng) if rng.random() < 0.8 else b""
        if rng.random() < 0.1:  # a cookie (10) or padding (12): answered, never cache keys
            code = rng.choice([10, 12])
            data = bytes(rng.randrange(256) for _ in range(8 if code == 10 else rng.randrange(64)))
            options += struct.pack("!HH", code, len(data)) + data
        ttl = 0x8000 if rng.random() < 0.3 else 0
        if rng.random() < 0.02:
            ttl |= 1 << 16  # EDNS version 1
        size = rng.choice([512, 1232, 1400, 4096, 100])
        body += b"\0" + struct.pack("!HHIH", 41, size, ttl, len(options)) + options
    header = struct.pack("!HHHHHH", rng.randrange(65536), flags, 1, 0, 0, ar)
    if rng.random() < 0.5:
        resolver = str(IPv4Address(rng.getrandbits(32)))
    else:
        resolver = str(IPv6Address((0x2A00 << 112) | rng.getrandbits(112)))
    return header + body, resolver


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_fast_path_equals_general_path_for_generated_queries(
    config: ConfigView, state: LiveState
) -> None:
    """800 queries x UDP/TCP x miss/hit per live state, byte for byte."""
    rng = random.Random(7871)
    view = View(config, state)
    fast = Responder(view)
    for _ in range(800):
        data, resolver = random_query(rng)
        for tcp in (False, True):
            expected = respond(view, data, ip_address(resolver), tcp=tcp)
            assert fast.respond(data, resolver, tcp=tcp) == expected, data.hex()  # miss
            assert fast.respond(data, resolver, tcp=tcp) == expected, data.hex()  # hit


def _shaped_query(rng: random.Random, name: bytes, qtype: int, family: int, bits: int) -> bytes:
    """One query of a fixed shape from a random client network; one in ten sets a bit
    past the source prefix (FORMERR, RFC 7871 6)."""
    nbytes = (bits + 7) // 8
    addr = bytearray(rng.getrandbits(8) for _ in range(nbytes))
    if bits % 8 and rng.random() < 0.9:
        addr[-1] &= (0xFF << (8 - bits % 8)) & 0xFF
    payload = struct.pack("!HBB", family, bits, 0) + bytes(addr)
    option = struct.pack("!HH", 8, len(payload)) + payload
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    header = struct.pack("!HHHHHH", rng.randrange(65536), 0x0100, 1, 0, 0, 1)
    return header + name + struct.pack("!HH", qtype, 1) + opt


@pytest.mark.parametrize("state", STATES.values(), ids=STATES.keys())
def test_queries_of_a_known_shape_from_new_networks_match_the_general_path(
    config: ConfigView, state: LiveState
) -> None:
    """A busy name's queries differ only in ID and client address: after the first,
    their parse is reused (fastparse.shaped). Byte for byte with the general path,
    across prefixes that end inside a byte, IPv4 and IPv6, A, AAAA and static types."""
    rng = random.Random(6891)
    view = View(config, state)
    fast = Responder(view)
    shapes = [
        (b"\x03api\x07example\x03com\x00", 1, 1, 24),
        (b"\x03api\x07example\x03com\x00", 28, 2, 48),
        (b"\x03ONE\x04gslb\x04test\x00", 1, 1, 22),
        (b"\x03two\x04gslb\x04test\x00", 28, 2, 44),
        (b"\x03www\x07example\x03com\x00", 1, 1, 20),
        (b"\x05plain\x04gslb\x04test\x00", 1, 2, 56),
    ]
    for _ in range(400):
        for name, qtype, family, bits in shapes:
            data = _shaped_query(rng, name, qtype, family, bits)
            resolver = str(IPv4Address(rng.getrandbits(32)))
            expected = respond(view, data, ip_address(resolver))
            assert fast.respond(data, resolver) == expected, data.hex()
    assert view.config.tails  # the shapes were learned and used


def test_a_known_shape_is_matched_only_at_its_own_length(view: View) -> None:
    """Found by the fuzzer: with a /128 shape learned (16-byte tail), a /24 query of a
    known shape followed by 13 junk bytes matched the /24 shape 16 bytes from its end
    and was answered; the general path says FORMERR (trailing data)."""
    fast = Responder(view)
    view.config.tails = ()  # shared by this module's tests
    v6 = struct.pack("!HBB", 2, 128, 0) + bytes(range(1, 17))
    option = struct.pack("!HH", 8, len(v6)) + v6
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    learn_v6 = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 1) + b"\x03www\x07example\x03com\x00\0\1\0\1"
    static = api_query(bytes([81, 2, 69])).replace(b"\x03api", b"\x04mail")  # no GSLB
    for data in (learn_v6 + opt, static):
        assert fast.respond(data, "127.0.0.1") is not None  # both shapes learned
    assert set(view.config.tails) >= {3, 16}
    junk = static[:-3] + bytes([81, 2, 70]) + bytes(13)
    assert fast.respond(junk, "127.0.0.1") == respond(view, junk, ip_address("127.0.0.1"))
    assert fast.respond(junk, "127.0.0.1")[3] & 0xF == 1  # type: ignore[index]  # FORMERR


def test_new_networks_in_a_known_place_get_the_kept_reply(
    view: View, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a query shape has been answered for a compiled choice, a network never seen
    before whose place has that choice is answered from the kept reply
    (``gslb.dns.place_answers``): byte for byte with the general path, its own ECS scope."""
    decided: list[bytes] = []
    decide = Responder._respond

    def spy(self: Responder, v: View, data: bytes, *args: object) -> object:
        decided.append(data)
        return decide(self, v, data, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Responder, "_respond", spy)
    fast = Responder(view)
    rng = random.Random(24)
    name = b"\x03api\x07example\x03com\x00"
    served = []
    for i in range(3000):
        family, bits, qtype = (1, 24, 1) if i % 3 else (2, 48, 28)
        data = _shaped_query(rng, name, qtype, family, bits)
        before = len(decided)
        out = fast.respond(data, "127.0.0.1")
        if len(decided) == before:
            served.append(out)
        assert out == respond(view, data, ip_address("127.0.0.1"))
    assert len(view.placed) == 2  # api A from /24s, api AAAA from /48s
    assert len(served) > 2000  # not decided: answered by place
    scopes = {out[-4] for out in served if len(out) > 4}
    assert len(scopes) > 3  # each network's own database prefix, not the first one's


@pytest.mark.parametrize("name", [b"\x03one\x04gslb\x04test\x00", b"\x03two\x04gslb\x04test\x00"])
def test_no_reply_is_kept_by_place_where_the_address_decides(view: View, name: bytes) -> None:
    """Names under CIDR fences or rules (one, two) and answers that hash the client
    network (pick subsets: one, two) depend on more than the place: never kept by it."""
    fast = Responder(view)
    rng = random.Random(3)
    for _ in range(300):
        data = _shaped_query(rng, name, 1, 1, 24)
        assert fast.respond(data, "127.0.0.1") == respond(view, data, ip_address("127.0.0.1"))
    assert len(view.placed) == 0


def test_place_answers_belong_to_one_live_state(view: View) -> None:
    """A health change publishes a new view: kept replies by place start empty."""
    fast = Responder(view)
    fast.respond(api_query(bytes([81, 2, 69])), "127.0.0.1")
    assert len(view.placed) == 1
    assert len(view.with_state(STATES["eu-a-down"]).placed) == 0


def test_the_differential_states_change_answers(config: ConfigView) -> None:
    """The states above are not vacuous: each one changes some answer of the test zone."""
    rng = random.Random(5)
    queries = [random_query(rng) for _ in range(600)]
    baseline = View(config)
    base = [respond(baseline, d, ip_address(r)) for d, r in queries]
    for name, state in STATES.items():
        if name == "all-up":
            continue
        other = View(config, state)
        after = [respond(other, d, ip_address(r)) for d, r in queries]
        changed = sum(a != b for a, b in zip(after, base, strict=True))
        assert changed, name


def api_query(ecs_address: bytes, qid: int = 1) -> bytes:
    """``api.example.com A`` with EDNS and an IPv4 /24 client subnet."""
    ecs = struct.pack("!HBB", 1, 24, 0) + ecs_address
    option = struct.pack("!HH", 8, len(ecs)) + ecs
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1)
    return header + b"\x03api\x07example\x03com\x00\0\1\0\1" + opt


def test_a_network_is_kept_from_its_second_query_on(view: View) -> None:
    """Seen once, a client network costs the caches nothing (most of a busy name's
    networks ask once); from its second query on its answer is kept whole, unless the
    C place path answers it (no whole copy needed: memory stays flat)."""
    fast = Responder(view)
    first = fast.respond(api_query(bytes([81, 2, 69]), qid=1), "127.0.0.1")
    assert first is not None and len(view.clients) == 0 and len(view.replies) == 0
    second = fast.respond(api_query(bytes([81, 2, 69]), qid=2), "127.0.0.1")
    assert second == first[:1] + b"\x02" + first[2:]  # same answer, the new ID
    assert len(view.replies) == (0 if view.config.tree is not None else 1)
    assert len(view.clients) == 0  # a canonical UDP query is kept once, as its whole reply
    third = fast.respond(api_query(bytes([81, 2, 69]), qid=3), "127.0.0.1")
    assert third == first[:1] + b"\x03" + first[2:]  # from the whole-reply cache


def test_ipv4_mapped_resolver_is_located_as_ipv4(view: View) -> None:
    """A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d."""
    query = struct.pack("!HHHHHH", 9, 0, 1, 0, 0, 0) + b"\x03api\x07example\x03com\x00\0\1\0\1"
    mapped = Responder(view).respond(query, "::ffff:8.8.8.8")
    plain = respond(view, query, ip_address("8.8.8.8"))
    assert mapped == plain and mapped is not None
    assert bytes([198, 51, 100, 20]) in mapped  # Mountain View: us-west


def test_resolver_located_answers_are_cached_per_resolver(view: View) -> None:
    """Without ECS the same bytes from two resolvers must get their own answers."""
    query = struct.pack("!HHHHHH", 5, 0, 1, 0, 0, 0) + b"\x03api\x07example\x03com\x00\0\1\0\1"
    fast = Responder(view)
    for _ in range(2):  # a miss, then a hit from the whole-reply cache
        for resolver, region_address in (
            ("8.8.8.8", [198, 51, 100, 20]),
            ("85.214.132.1", [192, 0, 2, 20]),
        ):
            out = fast.respond(query, resolver)
            assert out == respond(view, query, ip_address(resolver))
            assert out is not None and bytes(region_address) in out
    assert len(view.by_resolver) == 2


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if op < 0.5 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op < 0.7 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif op < 0.9:
            buf[rng.randrange(len(buf) + 1) : 0] = bytes(rng.randrange(256) for _ in range(3))
        else:
            buf += bytes(rng.randrange(256) for _ in range(rng.randrange(20)))
    return bytes(buf)


def test_mutated_queries_never_raise_and_both_paths_agree(view: View) -> None:
    """Corrupted queries: FORMERR, NOTIMP, drop or an answer - the same on both paths."""
    rng = random.Random(1035)
    fast = Responder(view)
    outcomes: set[str] = set()
    for _ in range(6000):
        data, resolver = random_query(rng)
        data = _mutate(rng, data)
        expected = respond(view, data, ip_address(resolver))
        assert fast.respond(data, resolver) == expected, data.hex()
        assert fast.respond(data, resolver) == expected, data.hex()
        if expected is None:
            outcomes.add("dropped")
        else:
            assert expected[:2] == data[:2] and expected[2] & 0x80  # our ID, QR set
            outcomes.add(f"rcode {expected[3] & 0x0F}")
    assert {"dropped", "rcode 0", "rcode 1"} <= outcomes  # the fuzz reached every branch


def test_attacker_chosen_bytes_never_key_a_cache(view: View) -> None:
    """Queries padded to 4 KB with a counter inside (the flood that grew RSS by 1.6 GB)
    are answered, but no cache keeps them; every cache stays within its byte budget."""
    fast = Responder(view)
    for i in range(3000):
        pad = i.to_bytes(4, "big") * 997 + b"xx"  # 3,990 bytes, different every time
        ecs = struct.pack("!HBB", 1, 24, 0) + bytes([81, 2, i % 200])
        options = struct.pack("!HH", 8, len(ecs)) + ecs + struct.pack("!HH", 12, len(pad)) + pad
        opt = b"\0" + struct.pack("!HHIH", 41, 4096, 0, len(options)) + options
        query = struct.pack("!HHHHHH", i, 0, 1, 0, 0, 1) + b"\x03api\x07example\x03com\0\0\1\0\1"
        assert fast.respond(query + opt, "127.0.0.1") is not None
    assert len(view.replies) == 0 and len(view.placed) == 0  # none of them was kept
    for cache in (view.replies, view.clients, view.by_resolver, view.placed, view.config.static,
                  view.config.bodies, view.config.routes, view.config.replies):  # fmt: skip
        assert cache.used <= cache.budget
        assert all(len(k) <= 400 for k in map(repr, cache.data)), cache.name


def test_place_answers_stay_bounded_whatever_shapes_arrive(view: View) -> None:
    """Every EDNS buffer size makes another query shape: the replies kept per shape and
    place are cleared whole at their bound, as every cache is."""
    fast = Responder(view)
    for i in range(2 * PLACED_LIMIT):
        ecs = struct.pack("!HBB", 1, 24, 0) + bytes([81, 2, i % 200])
        option = struct.pack("!HH", 8, len(ecs)) + ecs
        opt = b"\0" + struct.pack("!HHIH", 41, 600 + i, 0, len(option)) + option
        query = struct.pack("!HHHHHH", i, 0, 1, 0, 0, 1) + b"\x03api\x07example\x03com\0\0\1\0\1"
        assert fast.respond(query + opt, "127.0.0.1") is not None
        assert len(view.placed) <= PLACED_LIMIT and view.placed.used <= view.placed.budget
    assert view.placed.clears >= 1
