"""The world map builder on a hand-written TopoJSON, and the shipped map and page."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from gslb.geo.build import worldmap
from gslb.geo.countries import COUNTRY_CONTINENT
from gslb.live import statuspage

NUMBER = re.compile(r"-?(?:\d+\.?\d*|\.\d+)")

#: Two unit squares sharing the arc x=0 (DE east of it, FR west, using it reversed),
#: Kosovo without an id, a code ISO never assigned, and a shape of no area.
TOPOLOGY: dict[str, Any] = {
    "type": "Topology",
    "transform": {"scale": [0.5, 0.25], "translate": [-10, 40]},
    "arcs": [
        [[20, 0], [0, 40]],  # (0, 40) -> (0, 50)
        [[20, 40], [20, 0], [0, -40], [-20, 0]],  # (0, 50) -> (10, 50) -> (10, 40) -> (0, 40)
        [[20, 0], [-20, 0], [0, 40], [20, 0]],  # (0, 40) -> (-10, 40) -> (-10, 50) -> (0, 50)
        [[0, 0], [1, 0], [-1, 0]],  # a sliver
    ],
    "objects": {
        "countries": {
            "type": "GeometryCollection",
            "geometries": [
                {"type": "Polygon", "arcs": [[0, 1]], "id": "276", "properties": {"name": "DE"}},
                {"type": "MultiPolygon", "arcs": [[[~0, 2]]], "id": "250"},
                {"type": "Polygon", "arcs": [[1, 0]], "properties": {"name": "Kosovo"}},
                {"type": "Polygon", "arcs": [[0, 1]], "id": "999"},
                {"type": "Polygon", "arcs": [[3]], "id": "040"},
                {"type": None, "id": "380"},
            ],
        }
    },
}


def points(path: str) -> list[list[tuple[float, float]]]:
    """Absolute points of each ring of ``M x y l dx dy ... z`` path data."""
    rings = []
    for ring in re.findall(r"M[^z]*z", path):
        start, steps = ring[1:-1].split("l")
        x, y = map(float, NUMBER.findall(start))
        out = [(x, y)]
        numbers = [float(n) for n in NUMBER.findall(steps)]
        for dx, dy in zip(numbers[::2], numbers[1::2], strict=True):
            x, y = round(x + dx, 1), round(y + dy, 1)
            out.append((x, y))
        rings.append(out)
    return rings


def test_arcs_are_delta_decoded_and_dequantized() -> None:
    arcs = worldmap.decode_arcs(TOPOLOGY)
    assert arcs[0] == [(0.0, 40.0), (0.0, 50.0)]
    assert arcs[1] == [(0.0, 50.0), (10.0, 50.0), (10.0, 40.0), (0.0, 40.0)]
    raw = {"arcs": [[[1.5, 2.5], [3.0, 4.0]]]}
    assert worldmap.decode_arcs(raw) == [[(1.5, 2.5), (3.0, 4.0)]], "no transform: as given"


def test_rings_stitch_arcs_forward_and_reversed() -> None:
    arcs = worldmap.decode_arcs(TOPOLOGY)
    assert worldmap.stitch(arcs, [~0, 2]) == [(0, 50), (0, 40), (-10, 40), (-10, 50), (0, 50)]
    multi = TOPOLOGY["objects"]["countries"]["geometries"][1]
    assert len(worldmap.polygons(multi, arcs)) == 1
    assert worldmap.polygons({"type": "Point", "coordinates": [0, 0]}, arcs) == []


def test_country_paths_by_alpha2() -> None:
    paths = worldmap.country_paths(TOPOLOGY)
    assert set(paths) == {"DE", "FR", "XK"}, "unknown id skipped, sliver and null dropped"
    [de] = points(paths["DE"])
    corners = [worldmap.project(lat, lon) for lon, lat in [(0, 40), (0, 50), (10, 50), (10, 40)]]
    assert de == [(round(x, 1), round(y, 1)) for x, y in corners]
    assert paths["DE"].startswith("M480 ") and paths["DE"].endswith("z")


def test_the_path_text_is_short_and_exact() -> None:
    ring = [(1.0, 2.0), (1.04, 2.0), (3.55, 0.5), (0.5, 4.0), (1.0, 2.0)]
    assert worldmap.ring_path(ring) == "M1 2l2.6-1.5-3.1 3.5z"
    assert worldmap.ring_path([(0.0, 0.0), (0.01, 0.0), (0.0, 0.02)]) == ""


def test_projection() -> None:
    w, h = worldmap.WIDTH, worldmap.HEIGHT
    assert worldmap.project(0, 0) == (w / 2, h / 2)
    assert worldmap.project(0, 180)[0] == pytest.approx(w, abs=0.01)
    assert worldmap.project(0, -180)[0] == pytest.approx(0, abs=0.01)
    assert worldmap.project(90, 0)[1] == pytest.approx(0, abs=0.6)
    assert worldmap.project(-90, 0)[1] == pytest.approx(h, abs=0.6)
    x, y = worldmap.project(50.11, 8.68)  # Frankfurt: a little east of centre, up north
    assert w / 2 < x < w / 2 + 30 and y < h / 2 - 100


def test_rings_are_cut_at_the_antimeridian() -> None:
    fiji = [(170.0, -10.0), (-170.0, -10.0), (-170.0, -20.0), (170.0, -20.0), (170.0, -10.0)]
    pieces = worldmap.split_at_antimeridian(fiji)
    assert len(pieces) == 2
    assert sorted(round(max(lon for lon, _ in p)) for p in pieces) == [-170, 180]
    assert all(-180 <= lon <= 180 for p in pieces for lon, _ in p)
    # the cut edge follows the map's border: points every 2 degrees along it
    assert sum(1 for lon, _ in pieces[0] + pieces[1] if abs(lon) == 180) >= 8


def test_a_ring_around_the_pole_is_closed_along_it() -> None:
    antarctica = [(-120.0, -70.0), (0.0, -72.0), (120.0, -70.0), (-120.0, -70.0)]
    pieces = worldmap.split_at_antimeridian(antarctica)
    assert all(-180 <= lon <= 180 for p in pieces for lon, _ in p)
    assert all(any(lat == -90 for _, lat in p) for p in pieces)
    inside = [(0.0, 0.0), (10.0, 0.0), (10.0, 10.0), (0.0, 0.0)]
    assert worldmap.split_at_antimeridian(inside) == [inside]


def test_main_writes_world_json(tmp_path: Path) -> None:
    source, out = tmp_path / "topo.json", tmp_path / "world.json"
    source.write_text(json.dumps(TOPOLOGY))
    assert worldmap.main(["--topojson", str(source), "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert set(document["countries"]) == {"DE", "FR", "XK"}
    assert (document["width"], document["height"]) == (worldmap.WIDTH, worldmap.HEIGHT)


def test_numeric_table() -> None:
    assert len(worldmap.NUMERIC) == 249
    assert set(worldmap.NUMERIC.values()) <= set(COUNTRY_CONTINENT)
    assert worldmap.NUMERIC["276"] == "DE" and worldmap.NUMERIC["840"] == "US"


WORLD = json.loads(statuspage.static_file("world.json"))


def test_shipped_world_json() -> None:
    assert len(statuspage.static_file("world.json")) < 300_000
    countries = WORLD["countries"]
    assert len(countries) >= 170
    assert {"DE", "FR", "US", "BR", "JP", "AU", "XK"} <= set(countries)
    assert set(countries) <= set(COUNTRY_CONTINENT), "keys are ISO alpha-2 (and XK)"
    assert all(re.fullmatch(r"(M[^Mz]+z)+", d) for d in countries.values())
    assert (WORLD["width"], WORLD["height"], WORLD["scale"]) == (
        worldmap.WIDTH,
        worldmap.HEIGHT,
        worldmap.SCALE,
    ), "the page projects markers with these numbers: rebuild world.json"
    xs = [x for d in countries.values() for ring in points(d) for x, _ in ring]
    assert 0 <= min(xs) and max(xs) <= WORLD["width"]


def test_the_page_has_no_external_references() -> None:
    html = statuspage.static_file("status.html").decode()
    assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]", html, re.I)
    assert not re.search(r"\b(src|href)\s*=", html, re.I)
    assert "@import" not in html and not re.search(r"url\((?!#)", html)
    for url in re.findall(r"getJSON\(\"([^\"]+)\"", html):
        assert not url.startswith("/"), f"{url}: relative, so the page works under a prefix"


def test_the_page_projects_like_the_builder() -> None:
    """status.html's project() uses the same coefficients as worldmap.project()."""
    html = statuspage.static_file("status.html").decode()
    source = Path(worldmap.__file__).read_text()

    def coefficients(text: str, start: str) -> list[str]:
        body = text[text.index(start) :]
        return re.findall(r"\d\.\d{6}", body[: body.index("return")])

    js = coefficients(html, "function project(")
    assert len(js) == 10 and js == coefficients(source, "def project(")
