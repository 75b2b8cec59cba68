"""The fuzz target: parse -> answer -> render, on both paths, with the invariants.

An input is one mode byte then the message: bit 0 = TCP, bits 1-2 pick the resolver
address (IPv4, IPv6, IPv4-mapped, loopback). For every input:

- no exception and no hang (the runner sets a per-input timeout);
- the fast path (with its caches) and the general path give the same bytes, and so
  does the C loop over a UDP batch (``gslb/dns/_batch.c``, where built) for UDP input;
- a reply is a well-formed DNS message (dnspython parses it back), with the query's ID
  and QR set, and so is its slipped (truncated) form that rate limiting sends;
- a message with QR=1 is never answered;
- a UDP reply never exceeds what the query advertised (512 without EDNS), TCP 65,535.

``tests/fuzz/run.py`` drives it with atheris (coverage-guided); the default suite runs
the corpus and a short mutation run (``tests/fuzz/test_fuzz.py``).
"""

from __future__ import annotations

import ctypes
import socket
from functools import cache
from ipaddress import ip_address
from types import SimpleNamespace

import dns.exception
import dns.message

from gslb.config import load_zones
from gslb.dns import udpbatch
from gslb.dns.counters import MAX_LABELS
from gslb.dns.ratelimit import truncated
from gslb.dns.responder import TCP_LIMIT, Responder, respond
from gslb.dns.view import ConfigView, View
from gslb.dns.wire import Drop, FormErr, NotImp, parse_query
from gslb.geo.database import GeoDatabase
from tests.conftest import FIXTURES, GEOIP, ZONES

RESOLVERS = ("85.214.132.7", "2a00:1450:4001::5", "::ffff:8.8.8.8", "127.0.0.1")


class Violation(AssertionError):
    """An invariant broke; the message says which, the input is the reproducer."""


@cache
def responder() -> Responder:
    """One responder over the bundled zones and the test zone, kept across inputs so
    caches fill and hits are fuzzed too (a fresh View per input would miss them)."""
    zones = load_zones([ZONES, FIXTURES / "zones" / "gslb.test.yaml"])
    config = ConfigView(zones, GeoDatabase.open(str(GEOIP)), chaos={"id.server.": "fuzz"})
    return Responder(View(config))


@cache
def batch() -> udpbatch.UdpBatch | None:
    """A UDP batch's buffers for the C loop (its socket is never read), or None."""
    calls = udpbatch.load()
    if udpbatch.native() is None or calls is None:
        return None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return udpbatch.UdpBatch(sock, SimpleNamespace(responder=responder()), calls)


_COUNTS = [0] * MAX_LABELS


def through_batch(message: bytes, resolver: str) -> bytes | None | bool:
    """The C loop's reply to one datagram, or False where it cannot be asked."""
    found = batch()
    if found is None or not 0 < len(message) <= udpbatch.SLOT:
        return False
    ctypes.memmove(found.inbuf, message, len(message))
    found.rhdrs[0].len = len(message)
    fast = responder()

    def slow(i: int, data: bytes) -> bytes | None:
        return fast.respond_rest(data, resolver, None)

    sent = found.native.answer(found.rhdrs, found.shdrs, 1, found.outbuf,
                               fast.batch_path(), _COUNTS, slow, None, [])  # fmt: skip
    if not sent:
        return None
    return ctypes.string_at(found.siov[0].base, found.siov[0].len)


def split(data: bytes) -> tuple[bytes, bool, str]:
    mode = data[0] if data else 0
    return data[1:], bool(mode & 1), RESOLVERS[(mode >> 1) & 3]


def limit_of(message: bytes, tcp: bool) -> int:
    if tcp:
        return TCP_LIMIT
    try:
        return parse_query(message).udp_limit
    except (Drop, FormErr, NotImp):
        return 512


def check(data: bytes) -> bytes | None:
    """Run one input through both paths; raise Violation if an invariant breaks."""
    message, tcp, resolver = split(data)
    fast = responder()
    out = fast.respond(message, resolver, tcp=tcp)
    address = ip_address(resolver)
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    general = respond(fast.view, message, address, tcp=tcp)
    if out != general:
        raise Violation(f"fast path {out!r} != general path {general!r}")
    if not tcp:
        looped = through_batch(message, resolver)
        if looped is not False and looped != general:
            raise Violation(f"C batch loop {looped!r} != general path {general!r}")
    if out is None:
        return None
    if len(message) >= 3 and message[2] & 0x80:
        raise Violation("answered a message with QR=1")
    if len(out) > limit_of(message, tcp):
        raise Violation(f"{len(out)}-byte reply over the limit {limit_of(message, tcp)}")
    if out[:2] != message[:2] or not out[2] & 0x80:
        raise Violation("reply ID differs from the query's, or QR is not set")
    for form in (out, truncated(out)):
        try:
            dns.message.from_wire(form)
        except dns.exception.DNSException as e:
            raise Violation(f"malformed reply {form.hex()}: {e!r}") from e
    return out
