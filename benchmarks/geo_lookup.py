"""Time client location and the decision for a client network never seen before.

Run: ``PYTHONPATH=. python3 benchmarks/geo_lookup.py [--geoip PATH] [--number N]``.

Prints best-of-5 process-CPU µs per call (CPU time, so other jobs on a shared machine
disturb it less than wall time) for addresses in distinct /24s (IPv4) or /48s (IPv6),
drawn (seeded) from public space and kept only when the database locates them:

* ``maxminddb get`` — the raw reader call, for reference;
* ``find`` — ``GeoDatabase.find``, what every new client network costs;
* ``cold decision`` — the server's decision path (``gslb.dns.routing.decide``: locate,
  table, live steps, ECS scope) with a table that has compiled no place and an empty
  decision memo, so every place is new: the worst case. Target < 10 µs;
* ``server new network`` — the same with the tables compiled and the memo warm, as
  the server runs once it has seen the world's places: what a never-seen client
  network costs;
* ``compile`` — building the view (zones, tables for every known place), once.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gslb import defaults  # noqa: E402
from gslb.config import load_zone  # noqa: E402
from gslb.dns import routing  # noqa: E402
from gslb.dns.routing import Route  # noqa: E402
from gslb.dns.view import ConfigView, View  # noqa: E402
from gslb.geo.database import GeoDatabase  # noqa: E402
from gslb.geo.special import special_lookup  # noqa: E402
from gslb.model import IPAddress  # noqa: E402
from gslb.policy.table import NameTable  # noqa: E402

ZONE = ROOT / "zones" / "example.com.yaml"
NAME = "api.example.com."


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


def measure(db: GeoDatabase, family: int, pool: list[IPAddress]) -> list[tuple[str, float]]:
    ints = [(a.version, int(a)) for a in pool]
    n = len(pool)
    get = db._reader.get_with_prefix_len  # the raw reader, for reference only
    zones = [load_zone(str(ZONE))]
    zone = zones[0]
    name = zone.gslb[NAME]
    negative = zone.rrsets[zone.origin]["SOA"]

    def raw() -> None:
        for a in pool:
            get(a)

    def find_cold() -> None:
        for version, value in ints:
            db.find(version, value)

    config = ConfigView(zones, db)  # tables compiled for every place of the database

    def cold_decision() -> None:
        """A place no table has compiled and no decision memoised: a fresh table."""
        view = View(config)
        route = Route(name, NAME, (), family, negative, NameTable(name))
        for version, value in ints:
            routing.decide(view, route, version, value, 24)

    warm_view = View(config)
    route = Route(name, NAME, (), family, negative, warm_view.config.tables[NAME])
    for version, value in ints:  # every place compiled, memo warm
        routing.decide(warm_view, route, version, value, 24)

    def server_path() -> None:
        for version, value in ints:
            routing.decide(warm_view, route, version, value, 24)

    return [
        ("maxminddb get", per_call(raw, n)),
        ("find", per_call(find_cold, n)),
        ("cold decision", per_call(cold_decision, n)),
        ("server new network", per_call(server_path, n)),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--geoip", default=str(ROOT / defaults.GEOIP))
    parser.add_argument("--number", type=int, default=20_000, help="addresses per family")
    args = parser.parse_args(argv)

    db = GeoDatabase.open(args.geoip)
    rng = random.Random(1)
    print(f"database {db.describe_file()}; {args.number:,} addresses per family")
    t0 = time.process_time()
    ConfigView([load_zone(str(ZONE))], db)
    print(f"compile (view for the example zone, {len(db.places):,} places known): "
          f"{(time.process_time() - t0) * 1e3:.0f} ms")  # fmt: skip
    for family in (4, 6):
        pool = addresses(db, family, args.number, rng)
        for label, us in measure(db, family, pool):
            print(f"IPv{family}  {label:<20} {us:6.2f} µs")
    db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
