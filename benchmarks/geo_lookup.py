"""Time client location with the geo database, alone and with a cold policy decision.

Run: ``PYTHONPATH=. python3 benchmarks/geo_lookup.py [--geoip PATH] [--number N]``.

Prints best-of-5 process-CPU µs per call (CPU time, so other jobs on a shared machine
disturb it less than wall time) for:

* ``maxminddb get`` — the raw reader call, for reference;
* ``lookup cold`` — ``GeoDatabase.lookup`` on addresses in distinct /24s (IPv4) or
  /48s (IPv6), so its per-prefix cache never hits;
* ``lookup_packed cold`` — the same from raw bytes;
* ``lookup warm`` — repeated addresses (the per-/24 cache answers);
* ``cold decision`` — ``lookup`` + ``gslb.policy.decide`` for ``api.example.com.`` with
  no decision memo: the work for a client network in a place never seen before (the
  worst case). Target < 30 µs.
* ``server new network`` — what the server's fast path does for a client network it has
  not seen (``Responder._new_client``): ``engine.client_for`` + ``engine.decide``
  (memoised per place, starting empty) + ``engine.ecs_scope``; the rendered bytes are
  then a dict hit per distinct answer.

Addresses are drawn (seeded) from public space and kept only when the database has a
location for them, so the numbers are for real hits.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from gslb import defaults
from gslb.config import load_zone
from gslb.dns import engine
from gslb.dns.engine import Route, View
from gslb.geo.database import GeoDatabase
from gslb.geo.special import special_lookup
from gslb.model import Client, GslbName, IPAddress, Status
from gslb.policy.pipeline import decide

ROOT = Path(__file__).resolve().parent.parent
ZONE = ROOT / "zones" / "example.com.yaml"


def addresses(db: GeoDatabase, family: int, count: int, rng: random.Random) -> list[IPAddress]:
    """Located public addresses, one per /24 (/48) so the per-prefix cache never hits."""
    out: list[IPAddress] = []
    prefixes: set[int] = set()
    while len(out) < count:
        if family == 4:
            addr: IPAddress = IPv4Address(rng.getrandbits(32))
            prefix = int(addr) >> 8
        else:  # 2000::/4 holds nearly all allocated IPv6
            addr = IPv6Address((0x2 << 124) | rng.getrandbits(124))
            prefix = int(addr) >> 80
        if prefix in prefixes or special_lookup(addr) is not None:
            continue
        if db.lookup(addr).location is None:
            continue
        prefixes.add(prefix)
        out.append(addr)
    return out


def per_call(fn: Callable[[], object], calls: int, repeat: int = 5) -> float:
    """Best-of-``repeat`` CPU µs per call of a function that makes ``calls`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best / calls * 1e6


def measure(
    db: GeoDatabase, name: GslbName, family: int, pool: list[IPAddress]
) -> list[tuple[str, float]]:
    packed = [a.packed for a in pool]
    n = len(pool)
    status = Status()
    get = db._reader.get_with_prefix_len  # the raw reader, for reference only

    def forget() -> None:
        db._recent.clear()
        db._networks.clear()

    def raw() -> None:
        for a in pool:
            get(a)

    def cold() -> None:
        forget()
        for a in pool:
            db.lookup(a)

    def cold_packed() -> None:
        forget()
        for p in packed:
            db.lookup_packed(family, p)

    def warm() -> None:
        for a in pool:
            db.lookup(a)

    def cold_decision() -> None:
        forget()
        for a in pool:
            client = Client(a, "ecs", a.max_prefixlen, db.lookup(a))
            decide(name, client, status, family)

    zones = [load_zone(str(ZONE))]
    route = Route(name, name.name, (), family, zones[0].rrsets[zones[0].origin]["SOA"], ())

    def server_path() -> None:
        """What the server does for a new client network: locate, memoised decision, scope."""
        forget()
        view = View.build(zones, db)  # fresh memo: places are learnt as they come
        for a in pool:
            client = engine.client_for(None, a, db)
            decision = engine.decide(view, name, client, family)
            engine.ecs_scope(client, decision, route.networks)

    warm()
    return [
        ("maxminddb get", per_call(raw, n)),
        ("lookup cold", per_call(cold, n)),
        ("lookup_packed cold", per_call(cold_packed, n)),
        ("lookup warm", per_call(warm, n)),
        ("cold decision", per_call(cold_decision, n)),
        ("server new network", per_call(server_path, n)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--geoip", default=str(ROOT / defaults.GEOIP))
    parser.add_argument("--number", type=int, default=20_000, help="addresses per family")
    args = parser.parse_args(argv)

    db = GeoDatabase.open(args.geoip)
    name = load_zone(str(ZONE)).gslb["api.example.com."]
    rng = random.Random(1)
    print(f"database {db.describe_file()}; {args.number:,} addresses per family")
    for family in (4, 6):
        pool = addresses(db, family, args.number, rng)
        for label, us in measure(db, name, family, pool):
            print(f"IPv{family}  {label:<20} {us:6.2f} µs")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
