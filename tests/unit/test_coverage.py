"""Fences and rules that name subdivisions are reported when the database has none."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from gslb.cli import main
from gslb.config import load_zone
from gslb.errors import GeoDatabaseError
from gslb.geo.coverage import unmatchable
from gslb.geo.database import GeoDatabase
from gslb.live.runtime import Runtime
from gslb.live.settings import Settings
from gslb.model import HostPort
from tests.conftest import EXAMPLE, GEOIP
from tests.unit.test_geoip import CITY, city, write

ZONE = """\
zone: example.com
soa: {mname: ns1, rname: hostmaster, serial: 1, refresh: 7200, retry: 3600,
      expire: 1209600, minimum: 300}
ns: [ns1]
records:
  ns1: {A: 192.0.2.53}
regions:
  us-east: {location: [38.95, -77.45], endpoints: [198.51.100.10]}
  us-west: {location: [37.35, -121.96], endpoints: [198.51.100.20]}
fences:
  california: {clients: {subdivisions: [US-CA]}, regions: [us-west]}
gslb:
  api:
    fences:
      texas: {clients: {subdivisions: [US-TX], countries: [MX]}, regions: [us-east]}
    rules:
      - clients: {countries: [CA]}
        regions: [us-east]
      - clients: {subdivisions: [US-NY, US-NJ]}
        regions: [us-east, us-west]
  www:
    ttl: 60
"""


@pytest.fixture
def zone_file(tmp_path: Path) -> Path:
    path = tmp_path / "zones" / "example.com.yaml"
    path.parent.mkdir()
    path.write_text(ZONE)
    return path


@pytest.fixture
def with_subdivisions(tmp_path: Path) -> Path:
    return write(tmp_path / "subdivisions.mmdb", CITY)


@pytest.fixture
def without_subdivisions(tmp_path: Path) -> Path:
    plain = {
        net: {k: v for k, v in rec.items() if k != "subdivisions"} for net, rec in CITY.items()
    }
    plain["9.9.9.0/24"] = city("US", "NA", 40.7, -74.0)
    return write(tmp_path / "plain.mmdb", plain)


def test_every_fence_and_rule_naming_subdivisions_is_reported(zone_file: Path) -> None:
    zone = load_zone(zone_file)
    problems = unmatchable([zone], subdivisions=False, database="db.mmdb")
    assert [p.split(": ", 1)[1].split(",")[0] for p in problems] == [
        "fence 'california' of zone example.com. names subdivisions US-CA",
        "fence 'texas' of gslb name api.example.com. names subdivisions US-TX",
        "rule 2 of gslb name api.example.com. names subdivisions US-NJ",  # then US-NY
    ]
    assert all(p.startswith(f"{zone_file}: ") for p in problems)
    assert "has no subdivision codes: those clients never match it;" in problems[0]
    assert "(its other criteria still match)" in problems[1]  # MX still matches
    assert unmatchable([zone], subdivisions=True, database="db.mmdb") == []


def test_subdivisions_are_detected_at_open(
    with_subdivisions: Path, without_subdivisions: Path
) -> None:
    assert GeoDatabase.open(with_subdivisions).subdivisions
    assert not GeoDatabase.open(without_subdivisions).subdivisions


def test_the_bundled_database_has_no_subdivisions() -> None:
    if "GSLB_TEST_GEOIP" in os.environ:
        pytest.skip("GSLB_TEST_GEOIP points at another database")
    assert not GeoDatabase.open(GEOIP).subdivisions


def test_check_reports_them_against_the_database_in_use(
    zone_file: Path,
    with_subdivisions: Path,
    without_subdivisions: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(zone_file), "--geoip", str(without_subdivisions)]) == 1
    err = capsys.readouterr().err
    assert err.count("has no subdivision codes") == 3 and str(without_subdivisions) in err
    assert main(["check", str(zone_file), "--geoip", str(with_subdivisions)]) == 0
    assert "ok: example.com." in capsys.readouterr().out
    assert main(["check", str(zone_file)]) == 1  # the bundled database has none
    assert "has no subdivision codes" in capsys.readouterr().err
    assert main(["check", str(EXAMPLE)]) == 0


def test_check_with_an_unusable_database(zone_file: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert main(["check", str(EXAMPLE), "--geoip", str(tmp_path / "none.mmdb")]) == 1
    assert "geo database not found" in capsys.readouterr().err


def test_serve_refuses_to_start_and_reloads_are_rejected(
    zone_file: Path, with_subdivisions: Path, without_subdivisions: Path
) -> None:
    local = (HostPort("127.0.0.1", 0),)
    refused = Settings(zones=(str(zone_file),), geoip=str(without_subdivisions), listeners=local)
    with pytest.raises(GeoDatabaseError, match="fence 'california' of zone example.com."):
        Runtime(refused)
    runtime = Runtime(
        Settings(zones=(str(zone_file),), geoip=str(with_subdivisions), listeners=local)
    )
    assert asyncio.run(runtime.reload_zones()).ok  # the same files reload fine
    # a replacement database without subdivisions is rejected; the old one keeps serving
    os.replace(without_subdivisions, with_subdivisions)
    assert asyncio.run(runtime.reload_geo()) is False
    assert runtime.geo.subdivisions
    assert not runtime.geo.changed()  # acknowledged: not retried every poll


def test_resolve_warns(zone_file: Path, without_subdivisions: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    argv = ["resolve", "api.example.com", "--from", "192.0.2.1", "--zones", str(zone_file),
            "--geoip", str(without_subdivisions)]  # fmt: skip
    assert main(argv) == 0
    assert "warning (gslb serve refuses this)" in capsys.readouterr().err
