"""The ``new-networks`` mix: every query comes from an ECS network never seen before.

A dnsperf binary datafile (``dnsperf -B``, RFC 1035 TCP framing per query) of
``api.<zone>`` queries, A for IPv4 and AAAA for IPv6 clients, each with an EDNS Client
Subnet option whose network appears once: ~70% IPv4 /24, ~30% IPv6 /48, all *located*
(the database gives a country and coordinates for the network's first address). Read
once (``dnsperf -n 1``, never looped), no reply or per-network cache can help: this is
what a busy authoritative sees from a world of resolvers, and what every server sees
right after a reload or a health change.

How networks are drawn (seeded; the same inputs give the same bytes):

* IPv4: uniformly random /24s, kept when the database locates their first address
  (address weight follows where IPv4 space is used, as in the ``world`` mix).
* IPv6: database networks hit by random addresses in the RIR blocks, grouped per place
  (``world.v6_places``); a place uniformly, one of its networks, a random /48 inside.

Runs must not repeat networks either, since the servers stay up between runs: one
generation writes ``parts`` files (one per run) whose networks are all distinct.
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
import time
from bisect import bisect_right
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Network, ip_network
from pathlib import Path

import maxminddb

if __package__ in (None, ""):  # run as a script: python3 benchmarks/new_networks.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import world  # noqa: E402

FORMAT_VERSION = 1  # bump when the content of a file for the same inputs changes
DEFAULT_COUNT = 1_500_000
V6_SHARE = 0.3
V6_POOL_DRAWS = 200_000  # random IPv6 addresses that find the database's networks
#: Blocks that locate no client whatever a database says (IANA special-purpose, RFC 6890).
NOT_GLOBAL = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/3",
    "2001::/23", "2001:db8::/32", "3fff::/20",
)  # fmt: skip
_V4_LIMIT = 1 << 32  # a value below this is an IPv4 /24, above an IPv6 /48


def _ranges() -> tuple[list[int], list[int]]:
    """NOT_GLOBAL as sorted integer ranges (its IPv6 blocks lie far above IPv4 space)."""
    spans = sorted(
        (int(net.network_address), int(net.broadcast_address))
        for net in map(ip_network, NOT_GLOBAL)
    )
    return [a for a, _ in spans], [b for _, b in spans]


_STARTS, _ENDS = _ranges()


def _special(value: int) -> bool:
    """Whether a network's first address (IPv4 or IPv6, as an int) is in NOT_GLOBAL."""
    i = bisect_right(_STARTS, value) - 1
    return i >= 0 and value <= _ENDS[i]


def _distinct(
    count: int, candidate: Callable[[], int | None], seen: set[int], what: str
) -> list[int]:
    """``count`` values of ``candidate`` (None: rejected) that are not in ``seen``; adds them."""
    out: list[int] = []
    for _ in range(count * 20 + 1000):
        if len(out) == count:
            return out
        value = candidate()
        if value is None or value in seen or _special(value):
            continue
        seen.add(value)
        out.append(value)
    if len(out) == count:
        return out
    raise RuntimeError(f"found only {len(out):,} of {count:,} new located {what}")


def draw_v4(reader: maxminddb.Reader, count: int, rnd: random.Random, seen: set[int]) -> list[int]:
    """``count`` new located /24s, uniformly at random: their first addresses as ints."""

    def candidate() -> int | None:
        base = rnd.getrandbits(24) << 8
        return base if world.located(reader.get(IPv4Address(base))) else None

    return _distinct(count, candidate, seen, "IPv4 /24s")


def draw_v6(
    places: Sequence[Sequence[IPv6Network]], count: int, rnd: random.Random, seen: set[int]
) -> list[int]:
    """``count`` new /48s inside located networks: a place uniformly, one of its networks,
    a random /48 in it (a network narrower than /48 is passed over: its /48 may start in
    another network)."""

    def candidate() -> int | None:
        nets = places[rnd.randrange(len(places))]
        net = nets[rnd.randrange(len(nets))]
        if net.prefixlen > 48:
            return None
        return int(net.network_address) | rnd.getrandbits(48 - net.prefixlen) << 80

    return _distinct(count, candidate, seen, "IPv6 /48s")


def build(mmdb: Path, count: int, seed: int = 1, parts: int = 1) -> list[list[int]]:
    """``parts`` lists of ``count`` distinct networks, in query order.

    A value below 2**32 is an IPv4 /24, any other an IPv6 /48 (its first address).
    The v6 pool grows with the count (up to V6_POOL_DRAWS), so small builds stay fast.
    """
    rnd = random.Random(seed)
    n6 = round(count * V6_SHARE)
    seen4: set[int] = set()
    seen6: set[int] = set()
    with maxminddb.open_database(str(mmdb)) as reader:
        places = world.v6_places(reader, rnd, min(V6_POOL_DRAWS, 5 * n6 + 2_000)) if n6 else []
        out = []
        for _ in range(parts):
            nets = draw_v4(reader, count - n6, rnd, seen4) + draw_v6(places, n6, rnd, seen6)
            rnd.shuffle(nets)
            out.append(nets)
    return out


def encode(nets: Sequence[int], zone: str = "example.com") -> bytes:
    """The ``-B`` datafile: ``api.<zone>`` A (IPv4) or AAAA (IPv6) with ECS per network.

    ``world.encode_query`` builds the message; the ECS address bytes come last in it, so
    every query is a fixed prefix plus the network's 3 (IPv4 /24) or 6 (IPv6 /48) bytes.
    """
    name = f"api.{zone}"
    head4 = world.encode_query(world.Query(name, "A", IPv4Network((0, 24))))[:-3]
    head6 = world.encode_query(world.Query(name, "AAAA", IPv6Network((0, 48))))[:-6]
    head4 = struct.pack("!H", len(head4) + 3) + head4
    head6 = struct.pack("!H", len(head6) + 6) + head6
    out = bytearray()
    for value in nets:
        if value < _V4_LIMIT:
            out += head4 + (value >> 8).to_bytes(3, "big")
        else:
            out += head6 + (value >> 80).to_bytes(6, "big")
    return bytes(out)


def ensure(
    mmdb: Path,
    out_dir: Path,
    count: int = DEFAULT_COUNT,
    seed: int = 1,
    parts: int = 1,
    zone: str = "example.com",
) -> list[Path]:
    """Build (or reuse) ``new-networks-<count>-<seed>-<i>.bin`` for i in 1..parts.

    A JSON note records the inputs (seed, count, zone, database identity) and how many
    parts exist; a note with at least ``parts`` parts and the same inputs is reused.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"new-networks-{count}-{seed}"
    paths = [out_dir / f"{stem}-{i}.bin" for i in range(1, parts + 1)]
    meta_path = out_dir / f"{stem}.json"
    inputs = {
        "format": FORMAT_VERSION,
        **world.database_identity(mmdb),
        "count": count,
        "seed": seed,
        "zone": zone,
        "v6_share": V6_SHARE,
    }
    note = world.built_from(meta_path, inputs)
    if note is not None and note["parts"] >= parts and all(p.exists() for p in paths):
        return paths
    started = time.monotonic()
    summary = []
    for path, nets in zip(paths, build(mmdb, count, seed, parts), strict=True):
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(encode(nets, zone))
        tmp.replace(path)
        v4 = sum(1 for v in nets if v < _V4_LIMIT)
        summary.append(
            {"file": path.name, "queries": len(nets), "v4_24": v4, "v6_48": len(nets) - v4}
        )
    note = {
        "inputs": inputs,
        "parts": parts,
        "distinct_networks": count * parts,
        "seconds": round(time.monotonic() - started, 1),
        "summary": summary,
    }
    meta_path.write_text(json.dumps(note, indent=2))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="build the new-networks datafiles for dnsperf -B -n 1")
    p.add_argument("--mmdb", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    p.add_argument("--count", type=int, default=DEFAULT_COUNT)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--parts", type=int, default=1, help="files of distinct networks (one per run)")
    args = p.parse_args(argv)
    paths = ensure(args.mmdb, args.out, args.count, args.seed, args.parts)
    note = paths[0].parent / f"new-networks-{args.count}-{args.seed}.json"
    sys.stdout.write("\n".join(map(str, paths)) + f"\n{note.read_text()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
