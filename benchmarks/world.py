"""The ``world`` query mix: a dnsperf binary datafile (``dnsperf -B``) of resolver traffic.

Each query carries an EDNS Client Subnet option whose source network is a real,
geolocated network from the same GeoIP database the servers use, so the run exercises
the lookup, the policy and the cache-miss path instead of one hot answer.

How networks are drawn (seeded, so a file is reproducible):

* IPv4 (/24 sources): uniformly random addresses, kept when the database locates them.
  IPv4 space is fully allocated, so address weight is a fair proxy for where resolvers
  are (North America ~40%, Asia ~25%, Europe ~23%, ...).
* IPv6 (/56 sources): random addresses in the RIR blocks (2001::/16 and the five /12s),
  grouped by database location, then one location uniformly and a random /56 inside a
  network found there. Address weighting is meaningless for IPv6 in DB-IP Lite (huge
  unallocated blocks are attributed to each RIR's home city), so we weight per city.

Mix: ~80% ``api`` A/AAAA, ~10% static names (www CNAME, ns1, mail, wildcard, apex MX,
SOA, NS), ~5% NXDOMAIN names in the zone, ~5% out-of-zone names (REFUSED).
"""

from __future__ import annotations

import argparse
import json
import random
import struct
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network
from pathlib import Path
from typing import Any

import maxminddb

IPNetwork = IPv4Network | IPv6Network
QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "MX": 15, "TXT": 16, "AAAA": 28}
RIR_V6 = (
    IPv6Network("2001::/16"),
    IPv6Network("2400::/12"),
    IPv6Network("2600::/12"),
    IPv6Network("2800::/12"),
    IPv6Network("2a00::/12"),
    IPv6Network("2c00::/12"),
)
FORMAT_VERSION = 2  # bump when the content of a datafile for the same inputs changes


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    qtype: str
    ecs: IPNetwork | None


# --------------------------------------------------------------------------- wire format


def encode_name(name: str) -> bytes:
    out = bytearray()
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"bad label in {name!r}")
        out.append(len(raw))
        out += raw
    return bytes(out) + b"\x00"


def ecs_option(net: IPNetwork) -> bytes:
    """The ECS option (RFC 7871, code 8): family, source prefix, scope 0, address bytes."""
    family = 1 if net.version == 4 else 2
    nbytes = (net.prefixlen + 7) // 8
    data = struct.pack("!HBB", family, net.prefixlen, 0) + net.network_address.packed[:nbytes]
    return struct.pack("!HH", 8, len(data)) + data


def ecs_hex(net: IPNetwork) -> str:
    """The option value as dnsperf's ``-E 8:<hex>`` wants it (no code/length header)."""
    return ecs_option(net)[4:].hex()


def encode_query(q: Query, qid: int = 0, udp_size: int = 1232) -> bytes:
    """A resolver-style query: RD clear, one question, OPT with ECS when given."""
    header = struct.pack("!HHHHHH", qid, 0, 1, 0, 0, 1 if q.ecs is not None else 0)
    msg = header + encode_name(q.name) + struct.pack("!HH", QTYPES[q.qtype], 1)
    if q.ecs is not None:
        opt = ecs_option(q.ecs)
        msg += b"\x00" + struct.pack("!HHIH", 41, udp_size, 0, len(opt)) + opt
    return msg


def frame(messages: Iterable[bytes]) -> bytes:
    """RFC 1035 §4.2.2 TCP framing, the format ``dnsperf -B`` reads."""
    return b"".join(struct.pack("!H", len(m)) + m for m in messages)


# --------------------------------------------------------------------------- sampling


def located(rec: object) -> bool:
    """Whether a database record gives a country and coordinates (what routing needs).

    DB-IP's "ZZ / Undefined" records sit at (0, 0) and locate nothing, as in gslb.
    """
    if not isinstance(rec, dict):
        return False
    country = (rec.get("country") or {}).get("iso_code")
    loc = rec.get("location") or {}
    return (
        country not in (None, "ZZ")
        and loc.get("latitude") is not None
        and loc.get("longitude") is not None
    )


def sample_v4(reader: maxminddb.Reader, count: int, rnd: random.Random) -> list[IPv4Network]:
    out: list[IPv4Network] = []
    tries = 0
    while len(out) < count:
        tries += 1
        if tries > count * 50:
            raise RuntimeError("the database locates almost no IPv4 addresses")
        addr = IPv4Address(rnd.getrandbits(32))
        rec = reader.get(addr)
        if located(rec):
            out.append(IPv4Network((int(addr) >> 8 << 8, 24)))
    return out


def v6_places(
    reader: maxminddb.Reader, rnd: random.Random, draws: int = 200_000
) -> list[list[IPv6Network]]:
    """Located IPv6 database networks hit by random addresses in the RIR blocks, per place.

    One list per distinct (latitude, longitude), in a fixed order, so that a caller can
    draw a place uniformly: address weight means nothing for IPv6 in DB-IP Lite.
    """
    by_place: dict[tuple[float, float], list[IPv6Network]] = {}
    for i in range(draws):
        block = RIR_V6[i % len(RIR_V6)]
        addr = IPv6Address(int(block.network_address) | rnd.getrandbits(128 - block.prefixlen))
        rec, plen = reader.get_with_prefix_len(addr)
        if located(rec):
            loc: Any = rec["location"]  # type: ignore[index, call-overload]
            net = IPv6Network((int(addr) >> (128 - plen) << (128 - plen), plen))
            by_place.setdefault((loc["latitude"], loc["longitude"]), []).append(net)
    if not by_place:
        raise RuntimeError("the database locates no IPv6 addresses in the RIR blocks")
    return [by_place[place] for place in sorted(by_place)]


def sample_v6(
    reader: maxminddb.Reader, count: int, rnd: random.Random, draws: int = 200_000
) -> list[IPv6Network]:
    places = v6_places(reader, rnd, draws)
    out: list[IPv6Network] = []
    for _ in range(count):
        net = rnd.choice(rnd.choice(places))
        base = int(net.network_address)
        if net.prefixlen < 56:
            base |= rnd.getrandbits(56 - net.prefixlen) << (128 - 56)
        out.append(IPv6Network((base >> 72 << 72, 56)))
    return out


def _label(rnd: random.Random, n: int = 10) -> str:
    return "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(n))


def build_queries(
    mmdb: Path,
    count: int = 100_000,
    seed: int = 1,
    zone: str = "example.com",
    v6_share: float = 0.3,
) -> list[Query]:
    rnd = random.Random(seed)
    with maxminddb.open_database(str(mmdb)) as reader:
        n6 = int(count * v6_share)
        nets: list[IPNetwork] = [*sample_v4(reader, count - n6, rnd), *sample_v6(reader, n6, rnd)]
    rnd.shuffle(nets)
    static = [
        ("www", "A"), ("ns1", "A"), ("ns1", "AAAA"), ("mail", "A"),
        ("*dev", "A"), ("@", "MX"), ("@", "SOA"), ("@", "NS"),
    ]  # fmt: skip
    out: list[Query] = []
    for net in nets:
        roll = rnd.random()
        if roll < 0.80:
            q = Query(f"api.{zone}", "A" if rnd.random() < 0.6 else "AAAA", net)
        elif roll < 0.90:
            owner, qtype = rnd.choice(static)
            if owner == "*dev":
                name = f"{_label(rnd, 6)}.dev.{zone}"
            else:
                name = zone if owner == "@" else f"{owner}.{zone}"
            q = Query(name, qtype, net)
        elif roll < 0.95:
            q = Query(f"nx-{_label(rnd)}.{zone}", "A", net)
        else:
            other = rnd.choice(("example.net", "example.org", "invalid-zone.test"))
            q = Query(f"{_label(rnd, 8)}.{other}", rnd.choice(("A", "AAAA")), net)
        out.append(q)
    return out


# --------------------------------------------------------------------------- cached file


def database_identity(mmdb: Path) -> dict[str, object]:
    """What a generated file depends on in the database: its path, size and mtime."""
    st = mmdb.stat()
    return {"mmdb": str(mmdb.resolve()), "mmdb_size": st.st_size, "mmdb_mtime": int(st.st_mtime)}


def built_from(meta_path: Path, inputs: dict[str, object]) -> dict[str, Any] | None:
    """The JSON note beside a generated file when it records exactly ``inputs``."""
    try:
        note: dict[str, Any] = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return None
    return note if note.get("inputs") == inputs else None


def ensure_world(mmdb: Path, out_dir: Path, count: int = 100_000, seed: int = 1) -> Path:
    """Build (or reuse) ``world-<count>-<seed>.bin`` next to a JSON note of its inputs."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"world-{count}-{seed}.bin"
    meta_path = path.with_suffix(".json")
    meta = {"format": FORMAT_VERSION, **database_identity(mmdb), "count": count, "seed": seed}
    if path.exists() and built_from(meta_path, meta) is not None:
        return path
    queries = build_queries(mmdb, count, seed)
    path.write_bytes(frame(encode_query(q) for q in queries))
    summary = summarize(queries)
    meta_path.write_text(json.dumps({"inputs": meta, "summary": summary}, indent=2))
    return path


def summarize(queries: Sequence[Query]) -> dict[str, object]:
    kinds: dict[str, int] = {}
    fams = {"v4": 0, "v6": 0}
    for q in queries:
        if q.name.startswith("api."):
            kind = f"api {q.qtype}"
        elif q.name.startswith("nx-"):
            kind = "nxdomain"
        elif not q.name.endswith("example.com"):
            kind = "out-of-zone"
        else:
            kind = "static"
        kinds[kind] = kinds.get(kind, 0) + 1
        if q.ecs is not None:
            fams["v4" if q.ecs.version == 4 else "v6"] += 1
    distinct = len({q.ecs for q in queries})
    return {"queries": len(queries), "kinds": kinds, "ecs_family": fams, "distinct_ecs": distinct}


def read_datafile(path: Path) -> list[bytes]:
    """Split a ``-B`` datafile back into messages (for checks and tests)."""
    data = path.read_bytes()
    out, i = [], 0
    while i + 2 <= len(data):
        (n,) = struct.unpack_from("!H", data, i)
        out.append(data[i + 2 : i + 2 + n])
        i += 2 + n
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="build the world datafile for dnsperf -B")
    p.add_argument("--mmdb", type=Path, required=True)
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "out")
    p.add_argument("--count", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    path = ensure_world(args.mmdb, args.out, args.count, args.seed)
    sys.stdout.write(f"{path}\n{path.with_suffix('.json').read_text()}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
