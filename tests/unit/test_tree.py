"""The compact database's search tree in C (gslb/geo/_tree.c) against the Python paths:
``Tree.find`` against maxminddb's reader, ``Tree.reply`` against
:func:`gslb.dns.place_answers.reply`, on written trees of every record size, the bundled
database, and arbitrary bytes."""

from __future__ import annotations

import io
import mmap
import os
import random
import struct
from ipaddress import IPv4Address, IPv6Address, ip_address

import maxminddb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gslb.config import load_zones
from gslb.dns import place_answers
from gslb.dns.responder import Responder
from gslb.dns.view import ConfigView, View
from gslb.geo import tree
from gslb.geo.build import mmdbwriter
from gslb.geo.build.mmdbdata import UInt16, UInt32, Value
from gslb.geo.build.mmdbwriter import Metadata
from gslb.geo.database import GeoDatabase
from tests.conftest import GEOIP, ZONES

pytestmark = pytest.mark.skipif(
    not tree.BUILT and not os.environ.get("CI"), reason="the C module was not built here"
)

SPECIAL = ["10.1.2.3", "127.0.0.1", "192.0.2.7", "224.0.0.1", "255.255.255.255", "0.0.0.0",
           "::1", "::", "2001:db8::1", "fe80::1", "64:ff9b::102:304", "2002:102:304::1",
           "::ffff:1.2.3.4", "fc00::5"]  # fmt: skip


def test_ci_builds_the_c_tree() -> None:
    """A CI run that silently tested only the Python twin would prove nothing of C."""
    assert tree.BUILT
    assert tree.why_not() is None


@pytest.fixture(scope="module")
def db() -> GeoDatabase:
    geo = GeoDatabase.open(str(GEOIP))
    if geo.tree is None:
        pytest.skip("not our compact database")
    return geo


def _python_find(geo: GeoDatabase, version: int, value: int) -> tuple[int, int]:
    kept, geo.tree = geo.tree, None
    try:
        return geo.find(version, value)
    finally:
        geo.tree = kept


def test_find_agrees_with_the_reader_on_the_bundled_database(db: GeoDatabase) -> None:
    """50,000 random addresses per family plus the special blocks: the same place and
    the same prefix length as maxminddb's reader gives through GeoDatabase.find."""
    assert db.tree is not None
    rng = random.Random(71)
    cases = [(4, rng.getrandbits(32)) for _ in range(50_000)]
    cases += [(6, (0x2000 << 112) | rng.getrandbits(112)) for _ in range(40_000)]
    cases += [(6, rng.getrandbits(128)) for _ in range(10_000)]
    cases += [(a.version, int(a)) for a in map(ip_address, SPECIAL)]
    located = 0
    for version, value in cases:
        packed = value.to_bytes(4 if version == 4 else 16)
        found = db.tree.find(version, packed)
        assert found == _python_find(db, version, value), (version, hex(value))
        assert db.find(version, value) == found
        located += found[0] > 0
    assert located > 60_000  # most random public addresses have a place


def test_the_memo_stays_right_when_full(db: GeoDatabase) -> None:
    """More networks than the memo has slots (2^18), asked twice: buckets fill and give
    slots up, and every answer still equals the first and the reader's."""
    assert db.tree is not None
    rng = random.Random(18)
    cases = [(4, rng.getrandbits(24) << 8) for _ in range(300_000)]
    cases += [(6, (0x2000 << 112) | rng.getrandbits(36) << 80) for _ in range(100_000)]
    first = [db.tree.find(v, x.to_bytes(4 if v == 4 else 16)) for v, x in cases]
    again = [db.tree.find(v, x.to_bytes(4 if v == 4 else 16)) for v, x in reversed(cases)]
    wrong = next((i for i, found in enumerate(again[::-1]) if found != first[i]), None)
    assert wrong is None, cases[wrong]  # (a plain == would print two 400k-item lists)
    for i in rng.sample(range(len(cases)), 5_000):
        assert first[i] == _python_find(db, *cases[i]), cases[i]


@pytest.mark.parametrize("record_size", [24, 28, 32])
def test_find_reads_every_record_size(record_size: int) -> None:
    """Our builder writes 24-bit records; the C reader takes the spec's three layouts,
    checked on written trees against maxminddb's reader (record r is place r + 1)."""
    rng = random.Random(record_size)
    points = sorted(rng.sample(range(1, 1 << 32), 200))
    points += sorted({rng.randrange(1 << 126, 1 << 127) for _ in range(200)})[:200]
    starts, ends = points[0::2], points[1::2]
    values = [i % 9 for i in range(len(starts))]
    records: list[Value] = [UInt32(i) if i % 2 else UInt16(i) for i in range(9)]
    out = io.BytesIO()
    meta = Metadata("Test-Tree", {"en": "t"}, 1_700_000_000)
    stats = mmdbwriter.write_database(
        out, starts, ends, values, records, meta, min_record_size=record_size
    )
    assert stats.record_size == record_size
    raw = out.getvalue()
    c = tree._tree.Tree(raw, stats.node_count, record_size, 6, 9, b"", b"")
    with maxminddb.open_database(io.BytesIO(raw), maxminddb.MODE_FD) as reader:
        for first, last in zip(starts, ends, strict=True):
            for point in (first - 1, first, rng.randint(first, last), last, last + 1):
                v4 = point < 1 << 32
                address = IPv4Address(point) if v4 else IPv6Address(point)
                record, plen = reader.get_with_prefix_len(address)
                if v4 and plen > 32:
                    plen -= 96
                place = 0 if record is None else record + 1
                assert c.find(4 if v4 else 6, address.packed) == (place, plen), address


def test_the_tree_refuses_what_it_cannot_read() -> None:
    Tree = tree._tree.Tree
    with pytest.raises(ValueError, match="record size"):
        Tree(bytes(100), 1, 23, 6, 1, b"", b"")
    with pytest.raises(ValueError, match="shorter"):
        Tree(bytes(20), 4, 24, 6, 1, b"", b"")  # 4 nodes are 24 bytes, plus 16
    with pytest.raises(ValueError, match="special"):
        Tree(bytes(100), 1, 24, 6, 1, b"123", b"")
    t = Tree(bytes(100), 1, 24, 6, 1, b"", b"")
    with pytest.raises(ValueError):
        t.find(4, b"\1\2\3")  # an IPv4 address is 4 bytes


def test_a_closed_database_sends_the_lookup_to_python() -> None:
    """A reload closes the old database's mapping: a late query gets NotImplemented
    (the Python path, which knows the reader is closed), never a read of freed memory."""
    m = mmap.mmap(-1, 4096)
    t = tree._tree.Tree(m, 10, 24, 6, 1, b"", b"")
    assert t.find(6, bytes(16)) is NotImplemented  # all-zero tree: node 0 loops to 0
    m.close()
    assert t.find(6, bytes(16)) is NotImplemented


def test_pure_python_is_one_variable_away(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GSLB_PURE_PYTHON", "1")
    assert tree.why_not() == "GSLB_PURE_PYTHON is set"
    assert GeoDatabase.open(str(GEOIP)).tree is None


# ------------------------------------------------------------------------ replies


def _query(name: bytes, qtype: int, family: int, bits: int, address: bytes, qid: int) -> bytes:
    payload = struct.pack("!HBB", family, bits, 0) + address
    option = struct.pack("!HH", 8, len(payload)) + payload
    opt = b"\0" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
    header = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1)
    return header + name + struct.pack("!HH", qtype, 1) + opt


API = b"\x03api\x07example\x03com\x00"
SHAPES = [(API, 1, 1, 24), (API, 28, 2, 48), (API, 1, 1, 20), (API, 28, 2, 128)]


@pytest.fixture(scope="module")
def learned() -> View:
    """A view whose place answers were learned from 3,000 queries of four shapes."""
    config = ConfigView(load_zones([ZONES]), GeoDatabase.open(str(GEOIP)))
    if config.tree is None:
        pytest.skip("not our compact database")
    view = View(config)
    fast = Responder(view)
    rng = random.Random(9)
    for i in range(3000):
        name, qtype, family, bits = SHAPES[i % len(SHAPES)]
        size = (bits + 7) // 8
        address = bytearray(rng.getrandbits(8) for _ in range(size))
        if bits % 8:
            address[-1] &= 0xFF << (8 - bits % 8) & 0xFF
        fast.respond(_query(name, qtype, family, bits, bytes(address), i), "127.0.0.1")
    assert len(view.placed) == len(SHAPES)
    return view


def _both(view: View, data: bytes) -> tuple[object, object]:
    config = view.config
    assert config.tree is not None
    c = config.tree.reply(data, config.tails, view.placed.data)
    return c, place_answers.reply(view, data)


def test_reply_agrees_with_its_python_twin_on_new_networks(learned: View) -> None:
    """200,000 networks never seen, specials included: the same bytes and label, or
    the same None; NotImplemented never (every record of ours is a place)."""
    rng = random.Random(11)
    answered = 0
    for i in range(200_000):
        name, qtype, family, bits = SHAPES[i % len(SHAPES)]
        size = (bits + 7) // 8
        address = bytearray(rng.getrandbits(8) for _ in range(size))
        if bits % 8 and i % 10:
            address[-1] &= 0xFF << (8 - bits % 8) & 0xFF  # else FORMERR: None from both
        c, py = _both(learned, _query(name, qtype, family, bits, bytes(address), i & 0xFFFF))
        assert c == py
        answered += c is not None
    assert answered > 150_000


query_bytes = st.one_of(
    st.binary(max_size=120),
    st.builds(
        lambda shape, cut, tail, qid: _query(*shape, bytes(6), qid)[:cut] + tail,
        st.sampled_from(SHAPES),
        st.integers(0, 80),
        st.binary(max_size=20),
        st.integers(0, 0xFFFF),
    ),
    st.builds(
        lambda shape, address, qid: _query(*shape[:3], shape[3], address, qid),
        st.sampled_from(SHAPES),
        st.binary(min_size=0, max_size=17),
        st.integers(0, 0xFFFF),
    ),
)


@settings(max_examples=3000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=query_bytes)
def test_reply_takes_any_bytes(learned: View, data: bytes) -> None:
    """Attacker bytes: truncated, extended, wrong address lengths, noise. The C path
    never crashes and says what the Python path says."""
    c, py = _both(learned, data)
    assert c == py
