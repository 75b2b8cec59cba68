"""The C inner loop of the UDP batches (gslb/dns/_batch.c) against the general path.

The loop is driven here without sockets: datagrams are written into a batch's own
receive slots as recvmmsg would leave them, ``answer`` fills the send batch, and each
reply is read back through the send headers it wrote (buffer, length, peer slot). The
sockets themselves are tested in tests/integration/test_udpbatch_functional.py.
"""

from __future__ import annotations

import ctypes
import os
import random
import socket
from collections.abc import Iterator
from ipaddress import ip_address

import dns.edns
import dns.message
import pytest

from gslb.config import load_zones
from gslb.dns import udpbatch
from gslb.dns.responder import Responder, respond
from gslb.dns.udpbatch import BATCH, NAME, SLOT, UdpBatch
from gslb.dns.view import ConfigView, View
from gslb.geo.database import GeoDatabase
from tests.conftest import FIXTURES, GEOIP, ZONES
from tests.unit.test_fastpath import STATES, random_query

NATIVE = udpbatch.native()
pytestmark = pytest.mark.skipif(
    NATIVE is None and not os.environ.get("CI"), reason="the C module was not built here"
)


def test_ci_builds_the_c_loop() -> None:
    """A CI run that silently tested only the Python loop would prove nothing of C."""
    assert NATIVE is not None
    assert udpbatch.why_not() is None


@pytest.fixture(scope="module")
def config() -> ConfigView:
    geo = GeoDatabase.open(str(GEOIP))
    return ConfigView(load_zones([ZONES, FIXTURES / "zones" / "gslb.test.yaml"]), geo)


@pytest.fixture
def batch() -> Iterator[UdpBatch]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    batch = UdpBatch(sock, None, udpbatch.load() or udpbatch.Calls(ctypes.CDLL(None)))  # type: ignore[arg-type]
    yield batch
    sock.close()


def _receive(batch: UdpBatch, datagrams: list[bytes | int]) -> None:
    """Lay datagrams out as recvmmsg does; an int is a length with no bytes (0: empty,
    above SLOT: a datagram the kernel cut, its real size reported by MSG_TRUNC)."""
    for i, data in enumerate(datagrams):
        if isinstance(data, int):
            batch.rhdrs[i].len = data
            continue
        ctypes.memmove(ctypes.addressof(batch.inbuf) + i * SLOT, data, len(data))
        batch.rhdrs[i].len = len(data)


def _sent(batch: UdpBatch, count: int) -> dict[int, bytes]:
    """Datagram index -> the reply the send batch holds for it."""
    out = {}
    for k in range(count):
        hdr = batch.shdrs[k].hdr
        index, rest = divmod(hdr.name - batch.names_at, NAME)
        assert rest == 0 and 0 <= index < BATCH and index not in out
        iov = batch.siov[k]
        assert hdr.iov == ctypes.addressof(iov)
        out[index] = ctypes.string_at(iov.base, iov.len)
    return out


@pytest.mark.parametrize("state", ["all-up", "eu-a-down", "spill"])
def test_batches_answer_as_the_general_path(
    config: ConfigView, batch: UdpBatch, state: str
) -> None:
    """40 batches of 64 datagrams drawn from 300 generated queries (so they repeat and
    the C paths learn), with empty, cut and corrupted ones: every reply equals the
    general path's, each datagram is counted once, and most never reach Python."""
    assert NATIVE is not None
    rng = random.Random(6891)
    view = View(config, STATES[state])
    responder = Responder(view)
    pool = [random_query(rng) for _ in range(300)]
    counts = [0] * 1000
    reached = 0
    answered = 0
    for _ in range(40):
        datagrams: list[bytes | int] = []
        resolvers: list[str] = []
        for _ in range(BATCH):
            data, resolver = rng.choice(pool)
            data = rng.randbytes(2) + data[2:]  # a new ID
            roll = rng.random()
            if roll < 0.03:
                datagrams.append(0)
            elif roll < 0.06:
                datagrams.append(SLOT + rng.randrange(1, 100))
            elif roll < 0.12:
                at = rng.randrange(len(data))
                datagrams.append(data[:at] + rng.randbytes(1) + data[at + 1 :])
            else:
                datagrams.append(data)
            resolvers.append(resolver)
        _receive(batch, datagrams)

        def slow(i: int, data: bytes, resolvers: list[str] = resolvers) -> bytes | None:
            nonlocal reached
            reached += 1
            return responder.respond_rest(data, resolvers[i], counts)

        before = sum(counts)
        keep: list[object] = []
        count = NATIVE.answer(batch.rhdrs, batch.shdrs, BATCH, batch.outbuf,
                              responder.batch_path(), counts, slow, None, keep)  # fmt: skip
        got = _sent(batch, count)
        real = [d for d in datagrams if isinstance(d, bytes)]
        assert sum(counts) - before == len(real)  # every datagram read is counted once
        for i, data in enumerate(datagrams):
            if isinstance(data, int):
                assert i not in got
                continue
            expected = respond(view, data, ip_address(resolvers[i]))
            assert got.get(i) == expected, data.hex()
            answered += 1
    assert reached < answered // 2  # the C place path and kept replies answered the rest


def test_limit_sees_every_reply_and_may_drop_or_change_it(
    config: ConfigView, batch: UdpBatch
) -> None:
    """Rate limiting applies to what C answers too: ``limit`` gets each reply, and its
    None drops it; a reply bigger than a slot is sent from its own bytes, kept alive."""
    assert NATIVE is not None
    responder = Responder(View(config))
    ecs = dns.edns.ECSOption("81.2.69.0", 24)
    query = dns.message.make_query("api.example.com.", "A", use_edns=0, options=[ecs]).to_wire()
    seen: list[int] = []

    def slow(i: int, data: bytes) -> bytes | None:
        return responder.respond_rest(data, "127.0.0.1", counts)

    def limit(i: int, reply: bytes) -> bytes | None:
        seen.append(i)
        if i % 3 == 0:
            return None
        return reply * 100 if i % 3 == 2 else reply  # bigger than a reply slot

    counts = [0] * 1000
    for _ in range(2):  # the second time, learned: C answers every one
        _receive(batch, [bytes((i, 0)) + query[2:] for i in range(12)])
        seen.clear()
        keep: list[object] = []
        count = NATIVE.answer(batch.rhdrs, batch.shdrs, 12, batch.outbuf,
                              responder.batch_path(), counts, slow, limit, keep)  # fmt: skip
        got = _sent(batch, count)
    assert seen == list(range(12))
    assert sorted(got) == [i for i in range(12) if i % 3]
    plain = respond(View(config), bytes((1, 0)) + query[2:], ip_address("127.0.0.1"))
    assert got[1] == plain
    assert got[2] == (bytes((2, 0)) + plain[2:]) * 100
    assert len(keep) == 4  # replies 2, 5, 8 and 11, alive until sent


def test_arguments_are_checked(batch: UdpBatch) -> None:
    assert NATIVE is not None
    path = (None, (), {}, ())
    with pytest.raises(ValueError, match="more datagrams than slots"):
        NATIVE.answer(batch.rhdrs, batch.shdrs, BATCH + 1, batch.outbuf, path, [0], len, None, [])
    with pytest.raises(TypeError):
        NATIVE.answer(batch.rhdrs, batch.shdrs, 1, batch.outbuf, (None,), [0], len, None, [])
    with pytest.raises(BufferError):
        NATIVE.answer(b"read-only", batch.shdrs, 0, batch.outbuf, path, [0], len, None, [])
