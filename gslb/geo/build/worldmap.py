"""Build the status page's world map (``gslb/live/static/world.json``) from TopoJSON.

The source is ``countries-110m.json`` of the npm package ``world-atlas`` v2 (ISC
licence; Natural Earth 1:110m Admin 0 boundaries, public domain). Get it and build::

    npm pack world-atlas@2 && tar xzf world-atlas-2.*.tgz
    python -m gslb.geo.build.worldmap --topojson package/countries-110m.json \\
        --out gslb/live/static/world.json

The build decodes the topology (quantized, delta-encoded arcs stitched into rings),
projects every point with :func:`project`, rounds to 0.1 px, drops points that round
onto their predecessor and rings that collapse, and writes one SVG path per country::

    {"width": 960, "height": 500, "scale": 175.5, "projection": "naturalEarth1",
     "countries": {"DE": "M490.5 120.3l1.2-3 ...z", ...}}

Countries are keyed by ISO 3166-1 alpha-2; world-atlas ids are ISO numeric, turned
into alpha-2 by :data:`NUMERIC`. Three shapes have no id: Kosovo becomes ``XK`` (the
code geo databases report), N. Cyprus joins ``CY`` and Somaliland joins ``SO``, as the
databases report those areas' clients under those codes. Same input, same output.

Projection (Natural Earth I, Šavrič et al. 2011; also in ``status.html``)::

    phi, lam = radians(lat), radians(lon)
    x = width / 2  + scale * lam * (0.870700 - 0.131979 phi^2 - 0.013791 phi^4
                                    + 0.003971 phi^10 - 0.001529 phi^12)
    y = height / 2 - scale * phi * (1.007226 + 0.015085 phi^2 - 0.044475 phi^6
                                    + 0.028874 phi^8 - 0.005916 phi^10)
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Point = tuple[float, float]
Ring = list[Point]
Polygon = list[Ring]

#: The map's width in SVG user units (pixels at 100 %).
WIDTH = 960
#: Projected x of lon = +-180 at the equator, in projection units (scale 1).
_HALF_X = math.pi * 0.8707
#: Projected y of the pole, in projection units.
_HALF_Y = (math.pi / 2) * (
    1.007226
    + 0.015085 * (math.pi / 2) ** 2
    - 0.044475 * (math.pi / 2) ** 6
    + 0.028874 * (math.pi / 2) ** 8
    - 0.005916 * (math.pi / 2) ** 10
)
#: Units per projection unit: the whole world spans exactly WIDTH.
SCALE = round(WIDTH / 2 / _HALF_X, 4)
HEIGHT = math.ceil(2 * SCALE * _HALF_Y)

#: Shapes world-atlas has without an id, by name: the code the map uses for them.
NAMELESS = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}

#: ISO 3166-1 numeric -> alpha-2, all 249 assigned codes (from pycountry 26.2.16, which
#: is not needed to build or run: the table is complete here).
NUMERIC: Mapping[str, str] = {
    item[:3]: item[3:]
    for item in (
        "004AF 008AL 010AQ 012DZ 016AS 020AD 024AO 028AG 031AZ 032AR 036AU 040AT 044BS 048BH "
        "050BD 051AM 052BB 056BE 060BM 064BT 068BO 070BA 072BW 074BV 076BR 084BZ 086IO 090SB "
        "092VG 096BN 100BG 104MM 108BI 112BY 116KH 120CM 124CA 132CV 136KY 140CF 144LK 148TD "
        "152CL 156CN 158TW 162CX 166CC 170CO 174KM 175YT 178CG 180CD 184CK 188CR 191HR 192CU "
        "196CY 203CZ 204BJ 208DK 212DM 214DO 218EC 222SV 226GQ 231ET 232ER 233EE 234FO 238FK "
        "239GS 242FJ 246FI 248AX 250FR 254GF 258PF 260TF 262DJ 266GA 268GE 270GM 275PS 276DE "
        "288GH 292GI 296KI 300GR 304GL 308GD 312GP 316GU 320GT 324GN 328GY 332HT 334HM 336VA "
        "340HN 344HK 348HU 352IS 356IN 360ID 364IR 368IQ 372IE 376IL 380IT 384CI 388JM 392JP "
        "398KZ 400JO 404KE 408KP 410KR 414KW 417KG 418LA 422LB 426LS 428LV 430LR 434LY 438LI "
        "440LT 442LU 446MO 450MG 454MW 458MY 462MV 466ML 470MT 474MQ 478MR 480MU 484MX 492MC "
        "496MN 498MD 499ME 500MS 504MA 508MZ 512OM 516NA 520NR 524NP 528NL 531CW 533AW 534SX "
        "535BQ 540NC 548VU 554NZ 558NI 562NE 566NG 570NU 574NF 578NO 580MP 581UM 583FM 584MH "
        "585PW 586PK 591PA 598PG 600PY 604PE 608PH 612PN 616PL 620PT 624GW 626TL 630PR 634QA "
        "638RE 642RO 643RU 646RW 652BL 654SH 659KN 660AI 662LC 663MF 666PM 670VC 674SM 678ST "
        "682SA 686SN 688RS 690SC 694SL 702SG 703SK 704VN 705SI 706SO 710ZA 716ZW 724ES 728SS "
        "729SD 732EH 740SR 744SJ 748SZ 752SE 756CH 760SY 762TJ 764TH 768TG 772TK 776TO 780TT "
        "784AE 788TN 792TR 795TM 796TC 798TV 800UG 804UA 807MK 818EG 826GB 831GG 832JE 833IM "
        "834TZ 840US 850VI 854BF 858UY 860UZ 862VE 876WF 882WS 887YE 894ZM"
    ).split()
}


def project(lat: float, lon: float) -> Point:
    """Map coordinates (x, y) of a position in degrees: Natural Earth I, see the module doc."""
    phi, lam = math.radians(lat), math.radians(lon)
    x = lam * (0.870700 - 0.131979 * phi**2 - 0.013791 * phi**4
               + 0.003971 * phi**10 - 0.001529 * phi**12)  # fmt: skip
    y = phi * (1.007226 + 0.015085 * phi**2 - 0.044475 * phi**6
               + 0.028874 * phi**8 - 0.005916 * phi**10)  # fmt: skip
    return WIDTH / 2 + SCALE * x, HEIGHT / 2 - SCALE * y


def decode_arcs(topology: Mapping[str, Any]) -> list[list[Point]]:
    """Every arc as (lon, lat) points: delta-decoded and dequantized if a transform is given."""
    transform = topology.get("transform")
    arcs: list[list[Point]] = []
    for raw in topology["arcs"]:
        if transform is None:
            arcs.append([(float(p[0]), float(p[1])) for p in raw])
            continue
        (kx, ky), (tx, ty) = transform["scale"], transform["translate"]
        x = y = 0
        points = []
        for p in raw:
            x, y = x + p[0], y + p[1]
            points.append((x * kx + tx, y * ky + ty))
        arcs.append(points)
    return arcs


def stitch(arcs: Sequence[list[Point]], indexes: Sequence[int]) -> Ring:
    """One ring from arc indexes; ``~i`` (negative) is arc ``i`` reversed. Shared ends once."""
    ring: Ring = []
    for index in indexes:
        points = arcs[index] if index >= 0 else arcs[~index][::-1]
        ring.extend(points[1:] if ring else points)
    return ring


def polygons(geometry: Mapping[str, Any], arcs: Sequence[list[Point]]) -> list[Polygon]:
    """The polygons (rings of (lon, lat)) of a Polygon or MultiPolygon geometry; else none."""
    kind = geometry.get("type")
    if kind == "Polygon":
        parts = [geometry["arcs"]]
    elif kind == "MultiPolygon":
        parts = geometry["arcs"]
    else:
        return []
    return [[stitch(arcs, ring) for ring in part] for part in parts]


def split_at_antimeridian(ring: Ring) -> list[Ring]:
    """A (lon, lat) ring as pieces that each stay within lon -180..180.

    A planar projection draws a segment from lon 179 to -179 across the whole map, so
    the ring is unwrapped (lon made continuous, possibly beyond +-180), a ring around a
    pole (Antarctica) is closed along the pole, and the result is clipped to each
    360-degree window it touches and shifted back. Cut edges follow the map's curved
    border through :func:`_densify`.
    """
    unwrapped: Ring = []
    for lon, lat in ring:
        if unwrapped:
            last = unwrapped[-1][0]
            lon += 360 * round((last - lon) / 360)
        unwrapped.append((lon, lat))
    lons = [lon for lon, _ in unwrapped]
    if abs(lons[-1] - lons[0]) > 180:  # winds around a pole
        pole = -90.0 if sum(lat for _, lat in unwrapped) < 0 else 90.0
        unwrapped += [(lons[-1], pole), (lons[0], pole)]
    elif -180 <= min(lons) and max(lons) <= 180:
        return [ring]
    first, last = math.floor((min(lons) + 180) / 360), math.ceil((max(lons) - 180) / 360)
    pieces = []
    for window in range(first, last + 1):
        shift = 360.0 * window
        piece = _clip(_clip(unwrapped, shift - 180, 1), shift + 180, -1)
        if len(piece) >= 3:
            pieces.append(_densify([(lon - shift, lat) for lon, lat in piece]))
    return pieces


def _clip(ring: Ring, bound: float, side: int) -> Ring:
    """Sutherland-Hodgman: the part of a closed ring where ``side * (lon - bound) >= 0``."""
    out: Ring = []
    for i, (lon, lat) in enumerate(ring):
        plon, plat = ring[i - 1]
        inside, was = side * (lon - bound) >= 0, side * (plon - bound) >= 0
        if inside != was:
            out.append((bound, plat + (lat - plat) * (bound - plon) / (lon - plon)))
        if inside:
            out.append((lon, lat))
    return out


def _densify(ring: Ring, step: float = 2.0) -> Ring:
    """Add points every ``step`` degrees along edges that run on the antimeridian."""
    out: Ring = []
    for i, (lon, lat) in enumerate(ring):
        plon, plat = ring[i - 1]
        if abs(lon) == 180 and plon == lon:
            count = int(abs(lat - plat) // step)
            out.extend((lon, plat + (lat - plat) * k / (count + 1)) for k in range(1, count + 1))
        out.append((lon, lat))
    return out


def country_code(geometry: Mapping[str, Any]) -> str | None:
    """ISO alpha-2 of a world-atlas geometry, from its numeric id or (no id) its name."""
    ident = geometry.get("id")
    if ident is None:
        return NAMELESS.get((geometry.get("properties") or {}).get("name", ""))
    return NUMERIC.get(str(ident).zfill(3))


def _number(tenths: int) -> str:
    """A coordinate in tenths as short SVG text: 12.3, -4, .5, -.5."""
    text = f"{tenths / 10:.1f}".removesuffix(".0")
    return text.replace("0.", ".", 1) if text.lstrip("-").startswith("0.") else text


def _pair(dx: int, dy: int) -> str:
    y = _number(dy)
    return _number(dx) + ("" if y.startswith("-") else " ") + y


def ring_path(ring: Ring) -> str:
    """SVG path data of one projected ring: absolute start, relative steps, closed.

    Steps are differences of points already rounded to 0.1, so no error accumulates.
    Empty when the ring collapses to fewer than three points at that resolution.
    """
    points: list[tuple[int, int]] = []
    for x, y in ring:
        point = (round(x * 10), round(y * 10))
        if not points or point != points[-1]:
            points.append(point)
    if len(points) > 1 and points[0] == points[-1]:
        points.pop()
    if len(points) < 3:
        return ""
    steps = [_pair(b[0] - a[0], b[1] - a[1]) for a, b in zip(points, points[1:], strict=False)]
    start = f"M{_number(points[0][0])} {_number(points[0][1])}"
    return start + "l" + " ".join(steps).replace(" -", "-") + "z"


def country_paths(topology: Mapping[str, Any], name: str = "countries") -> dict[str, str]:
    """Alpha-2 -> SVG path data for every country of the topology's object ``name``."""
    arcs = decode_arcs(topology)
    paths: dict[str, list[str]] = {}
    for geometry in topology["objects"][name]["geometries"]:
        code = country_code(geometry)
        if code is None:
            log.warning("skipped a shape without a known code: %s", _label(geometry))
            continue
        for polygon in polygons(geometry, arcs):
            for ring in polygon:
                for piece in split_at_antimeridian(ring):
                    data = ring_path([project(lat, lon) for lon, lat in piece])
                    if data:
                        paths.setdefault(code, []).append(data)
    return {code: "".join(parts) for code, parts in sorted(paths.items())}


def _label(geometry: Mapping[str, Any]) -> str:
    return f"id={geometry.get('id')!r} name={(geometry.get('properties') or {}).get('name')!r}"


def build(topology: Mapping[str, Any]) -> dict[str, Any]:
    """The world.json document for a world-atlas topology."""
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "scale": SCALE,
        "projection": "naturalEarth1",
        "source": "Made with Natural Earth (public domain), via world-atlas 2 (ISC)",
        "countries": country_paths(topology),
    }


def dumps(document: Mapping[str, Any]) -> str:
    """Compact JSON with one key per line, so a rebuild diffs country by country."""
    return json.dumps(document, indent=0, separators=(",", ":"), sort_keys=True) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gslb.geo.build.worldmap", description=(__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--topojson", required=True, type=Path, help="countries-110m.json")
    parser.add_argument("--out", required=True, type=Path, help="world.json to write")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    topology = json.loads(args.topojson.read_text(encoding="utf-8"))
    document = build(topology)
    text = dumps(document)
    args.out.write_text(text, encoding="utf-8")
    log.info(
        "%s: %d countries from %d shapes, %d bytes",
        args.out,
        len(document["countries"]),
        len(topology["objects"]["countries"]["geometries"]),
        len(text.encode()),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
