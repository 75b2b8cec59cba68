"""gslb.geoip.GeoDatabase: validation at open, .xz unpacking, reload detection, lookups."""

from __future__ import annotations

import logging
import lzma
import os
from ipaddress import IPv4Network, IPv6Network, ip_address
from pathlib import Path
from typing import Any

import pytest

from gslb.cli import main
from gslb.errors import GeoDatabaseError
from gslb.geo import dbfile
from gslb.geo.build import mmdbwriter
from gslb.geo.centroids import CENTROIDS
from gslb.geo.database import GeoDatabase
from gslb.geo.locator import NOWHERE
from gslb.model import Location
from tests.conftest import GEOIP

EPOCH = 1_700_000_000
REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "data" / "dbip-city-lite.mmdb"


def city(country: str, continent: str, lat: float, lon: float, sub: str | None = None) -> Any:
    rec: dict[str, Any] = {
        "continent": {"code": continent},
        "country": {"iso_code": country},
        "location": {"latitude": lat, "longitude": lon},
    }
    if sub:
        rec["subdivisions"] = [{"iso_code": sub, "names": {"en": sub}}]
    return rec


US = city("US", "NA", 37.42, -122.08, "CA")
CITY: dict[str, Any] = {
    "8.8.8.0/24": US,  # the default probe
    "2001:4860::/32": US,  # the default IPv6 probe
    "10.0.0.0/8": city("DE", "EU", 50.1, 8.7),  # special blocks never reach the database
    "81.2.69.0/25": city("GB", "EU", 51.51, -0.09),
    "81.2.69.128/25": city("IE", "EU", 53.35, -6.26),  # narrower than the /24 cache
    "81.2.70.0/24": city("GB", "EU", 51.51, -0.09),  # same place as 81.2.69.0/25
    "133.1.0.0/16": city("JP", "AS", 34.82, 135.52),
    "192.0.0.8/29": {
        "country": {"iso_code": "ZZ"},
        "location": {"latitude": 0.0, "longitude": 0.0},
    },
    "100.0.0.0/16": {"continent": {"code": "EU"}},  # continent only
    "100.1.0.0/16": {"city": {"names": {"en": "nowhere"}}},  # nothing routing can use
    "2a00:1450::/32": city("DE", "EU", 50.11, 8.68),
}


def write(path: Path, networks: dict[str, Any], db_type: str = "Test-City", **kw: Any) -> Path:
    meta = mmdbwriter.Metadata(db_type, {"en": "unit test"}, EPOCH)
    with open(path, "wb") as fh:
        mmdbwriter.write_networks(fh, networks, meta, **kw)
    return path


@pytest.fixture
def city_db(tmp_path: Path) -> Path:
    return write(tmp_path / "city.mmdb", CITY)


@pytest.fixture
def db(city_db: Path) -> GeoDatabase:
    return GeoDatabase.open(city_db)


# --------------------------------------------------------------------------- opening


def test_open_reads_metadata(db: GeoDatabase, city_db: Path) -> None:
    assert db.path == city_db
    assert (db.database_type, db.build_epoch, db.build_date) == ("Test-City", EPOCH, "2023-11-14")
    assert db.description == "unit test"
    assert db.ip_version == 6
    assert db.describe_file() == f"{city_db} (Test-City, built 2023-11-14)"


def test_missing_database_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GeoDatabaseError, match="geo database not found"):
        GeoDatabase.open(tmp_path / "nope.mmdb")


@pytest.mark.parametrize(
    "content",
    [b"", b"\x00" * 4096, b"definitely not a MaxMind database\n" * 100],
    ids=["empty", "zeros", "text"],
)
def test_corrupt_database_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.mmdb"
    path.write_bytes(content)
    with pytest.raises(GeoDatabaseError, match="not a valid MaxMind DB"):
        GeoDatabase.open(path)


def test_truncated_database_is_refused(city_db: Path, tmp_path: Path) -> None:
    data = city_db.read_bytes()
    marker = data.rfind(mmdbwriter.METADATA_MARKER)
    cut = tmp_path / "cut.mmdb"
    cut.write_bytes(data[: marker // 2] + data[marker:])  # tree/data chopped, metadata kept
    with pytest.raises(GeoDatabaseError, match="bad.mmdb|cut.mmdb"):
        GeoDatabase.open(cut)


def test_database_without_country_is_refused(tmp_path: Path) -> None:
    asn = write(
        tmp_path / "asn.mmdb",
        {"8.8.8.0/24": {"autonomous_system_number": 15169}, "2001:4860::/32": {"x": 1}},
        "GeoLite2-ASN",
    )
    with pytest.raises(GeoDatabaseError, match="lacks country.iso_code.*GeoLite2-ASN"):
        GeoDatabase.open(asn)


def test_database_missing_the_probe_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "small.mmdb", {"1.0.0.0/8": US})
    with pytest.raises(GeoDatabaseError, match="probe lookup of 8.8.8.8 found no record"):
        GeoDatabase.open(path)
    assert GeoDatabase.open(path, probes=[ip_address("1.2.3.4")]).lookup(
        ip_address("1.2.3.4")
    ).location == Location("US", "NA", "US-CA", 37.42, -122.08)


def test_city_without_coordinates_and_no_centroid_is_refused(tmp_path: Path) -> None:
    rec = {"country": {"iso_code": "US"}, "continent": {"code": "NA"}}
    path = write(tmp_path / "c.mmdb", {"8.8.8.0/24": rec, "2001:4860::/32": rec})
    with pytest.raises(GeoDatabaseError, match="lacks location"):
        GeoDatabase.open(path, centroids={})


def test_country_database_uses_centroids(tmp_path: Path) -> None:
    """A Country database (no coordinates) places clients at the country's centroid."""
    path = write(
        tmp_path / "country.mmdb",
        {
            "8.8.8.0/24": {"country": {"iso_code": "US"}, "continent": {"code": "NA"}},
            "2001:4860::/32": {"country": {"iso_code": "US"}, "continent": {"code": "NA"}},
            "81.0.0.0/8": {"country": {"iso_code": "DE"}, "continent": {"code": "EU"}},
        },
        "GeoLite2-Country",
    )
    geo = GeoDatabase.open(path)
    found = geo.lookup(ip_address("81.1.2.3"))
    assert found.location == Location("DE", "EU", None, *CENTROIDS["DE"])
    assert found.network == IPv4Network("81.0.0.0/8")
    custom = GeoDatabase.open(path, centroids={"US": (1.0, 2.0), "DE": (3.0, 4.0)})
    assert custom.lookup(ip_address("8.8.8.8")).location == Location("US", "NA", None, 1.0, 2.0)


def test_centroid_table_is_plausible() -> None:
    assert len(CENTROIDS) > 240
    assert "ZZ" not in CENTROIDS
    for country, (lat, lon) in CENTROIDS.items():
        assert len(country) == 2 and country.isupper()
        assert -90 <= lat <= 90 and -180 <= lon <= 180
    assert 24 < CENTROIDS["US"][0] < 50 and -125 < CENTROIDS["US"][1] < -66
    assert 47 < CENTROIDS["DE"][0] < 55 and 5 < CENTROIDS["DE"][1] < 15
    assert abs(CENTROIDS["FJ"][1]) > 170  # Fiji straddles the antimeridian


# --------------------------------------------------------------------------- xz sibling


def test_xz_sibling_is_unpacked_atomically_on_first_open(city_db: Path, tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    xz = folder / "geo.mmdb.xz"
    xz.write_bytes(lzma.compress(city_db.read_bytes()))
    geo = GeoDatabase.open(folder / "geo.mmdb")
    target = folder / "geo.mmdb"
    assert target.read_bytes() == city_db.read_bytes()
    assert target.stat().st_mtime_ns == xz.stat().st_mtime_ns
    assert target.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in folder.iterdir()) == ["geo.mmdb", "geo.mmdb.xz"]
    assert geo.lookup(ip_address("133.1.2.3")).location is not None
    inode = target.stat().st_ino
    GeoDatabase.open(xz)  # naming the .xz works too; nothing to unpack this time
    assert target.stat().st_ino == inode


def test_newer_xz_replaces_the_unpacked_file(city_db: Path, tmp_path: Path) -> None:
    target = tmp_path / "geo.mmdb"
    xz = tmp_path / "geo.mmdb.xz"
    xz.write_bytes(lzma.compress(city_db.read_bytes()))
    first = GeoDatabase.open(target)
    assert first.lookup(ip_address("81.2.70.1")).location is not None
    newer = write(tmp_path / "newer.mmdb", {**CITY, "81.2.70.0/24": city("FR", "EU", 48.86, 2.35)})
    xz.write_bytes(lzma.compress(newer.read_bytes()))
    os.utime(xz, ns=(target.stat().st_atime_ns, target.stat().st_mtime_ns + 10**9))
    assert first.changed()
    second = GeoDatabase.open(target)
    assert second.lookup(ip_address("81.2.70.1")).location.country == "FR"  # type: ignore[union-attr]
    assert first.lookup(ip_address("81.2.70.1")).location.country == "GB"  # type: ignore[union-attr]


def test_corrupt_xz_without_database_is_refused(tmp_path: Path) -> None:
    (tmp_path / "geo.mmdb.xz").write_bytes(b"\xfd7zXZ\x00 garbage")
    with pytest.raises(GeoDatabaseError, match="cannot unpack"):
        GeoDatabase.open(tmp_path / "geo.mmdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["geo.mmdb.xz"]


def test_corrupt_xz_keeps_the_existing_database(
    city_db: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    target = tmp_path / "geo.mmdb"
    target.write_bytes(city_db.read_bytes())
    xz = tmp_path / "geo.mmdb.xz"
    xz.write_bytes(lzma.compress(b"not a database"))  # valid xz, useless content
    os.utime(xz, ns=(0, target.stat().st_mtime_ns + 10**9))
    with caplog.at_level(logging.ERROR, logger="gslb.geo.database"):
        geo = GeoDatabase.open(target)
    assert "keeping the existing" in caplog.text
    assert target.read_bytes() == city_db.read_bytes()
    assert geo.lookup(ip_address("8.8.8.8")).location is not None


def _read_only(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """``folder`` counts as read-only (permission bits do not stop root)."""
    real = dbfile._writable
    monkeypatch.setattr(dbfile, "_writable", lambda d: d != folder and real(d))


def test_read_only_xz_directory_unpacks_into_the_cache(
    city_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages"
    package.mkdir()
    xz = package / "geo.mmdb.xz"
    xz.write_bytes(lzma.compress(city_db.read_bytes()))
    _read_only(monkeypatch, package)
    for var in ("CACHE_DIRECTORY", "STATE_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    geo = GeoDatabase.open(package / "geo.mmdb")
    cached = tmp_path / "cache" / "gslb" / "geo.mmdb"
    assert geo.path == cached
    assert cached.read_bytes() == city_db.read_bytes()
    assert sorted(p.name for p in package.iterdir()) == ["geo.mmdb.xz"]
    assert not geo.changed()
    inode = cached.stat().st_ino
    GeoDatabase.open(package / "geo.mmdb")  # up to date: not unpacked again
    assert cached.stat().st_ino == inode
    # another .xz of the same name, even an older one, replaces the cached copy
    other = write(tmp_path / "other.mmdb", {**CITY, "81.2.70.0/24": city("FR", "EU", 48.9, 2.3)})
    xz.write_bytes(lzma.compress(other.read_bytes()))
    os.utime(xz, ns=(0, cached.stat().st_mtime_ns - 10**9))
    assert geo.changed()
    again = GeoDatabase.open(xz)
    assert again.lookup(ip_address("81.2.70.1")).location.country == "FR"  # type: ignore[union-attr]


def test_read_only_xz_directory_prefers_systemd_directories(
    city_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "geo.mmdb.xz").write_bytes(lzma.compress(city_db.read_bytes()))
    _read_only(monkeypatch, tmp_path)
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache-dir"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert GeoDatabase.open(tmp_path / "geo.mmdb").path == tmp_path / "cache-dir" / "geo.mmdb"


def test_read_only_xz_directory_keeps_an_up_to_date_copy_beside_it(
    city_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy unpacked at install time (the container image does this) is used as is."""
    xz = tmp_path / "geo.mmdb.xz"
    xz.write_bytes(lzma.compress(city_db.read_bytes()))
    GeoDatabase.open(xz)
    _read_only(monkeypatch, tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("CACHE_DIRECTORY", raising=False)
    monkeypatch.delenv("STATE_DIRECTORY", raising=False)
    assert GeoDatabase.open(xz).path == tmp_path / "geo.mmdb"
    assert not (tmp_path / "xdg").exists()


def test_unusable_cache_says_what_to_set(
    city_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "geo.mmdb.xz").write_bytes(lzma.compress(city_db.read_bytes()))
    _read_only(monkeypatch, tmp_path)
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "file" / "below-a-file"))
    with pytest.raises(GeoDatabaseError, match="read-only.*XDG_CACHE_HOME"):
        GeoDatabase.open(tmp_path / "geo.mmdb")


# --------------------------------------------------------------------------- reload detection


def test_changed_detects_an_atomic_replacement(db: GeoDatabase, city_db: Path) -> None:
    assert not db.changed()
    replacement = write(city_db.with_name("next.mmdb"), {**CITY, "1.0.0.0/8": US})
    os.replace(replacement, city_db)
    assert db.changed()
    fresh = GeoDatabase.open(city_db)
    assert not fresh.changed()
    assert fresh.lookup(ip_address("1.2.3.4")).location is not None
    assert db.lookup(ip_address("1.2.3.4")).reason == "not in database"  # old one unchanged


def test_corrupt_replacement_is_rejected_and_the_old_one_keeps_serving(
    db: GeoDatabase, city_db: Path
) -> None:
    broken = city_db.with_name("broken.mmdb")
    broken.write_bytes(b"garbage" * 1000)
    os.replace(broken, city_db)
    assert db.changed()
    with pytest.raises(GeoDatabaseError):
        GeoDatabase.open(city_db)
    assert db.lookup(ip_address("133.1.2.3")).location is not None
    db.acknowledge()
    assert not db.changed()


def test_deleted_file_counts_as_changed(db: GeoDatabase, city_db: Path) -> None:
    city_db.unlink()
    assert db.changed()
    assert db.lookup(ip_address("8.8.8.8")).location is not None  # still mapped


# --------------------------------------------------------------------------- lookups

GB = Location("GB", "EU", None, 51.51, -0.09)


@pytest.mark.parametrize(
    ("address", "location", "network", "reason"),
    [
        ("8.8.8.8", Location("US", "NA", "US-CA", 37.42, -122.08), "8.8.8.0/24", ""),
        ("81.2.69.1", GB, "81.2.69.0/25", ""),
        ("81.2.69.200", Location("IE", "EU", None, 53.35, -6.26), "81.2.69.128/25", ""),
        ("133.1.200.1", Location("JP", "AS", None, 34.82, 135.52), "133.1.0.0/16", ""),
        ("100.0.1.1", Location(None, "EU"), "100.0.0.0/16", ""),
        ("100.1.1.1", None, "100.1.0.0/16", "database record has no location"),
        ("192.0.0.9", None, "192.0.0.0/24", "IETF protocol assignment (RFC 6890)"),
        ("10.1.1.1", None, "10.0.0.0/8", "private address (RFC 1918)"),
        ("127.0.0.1", None, "127.0.0.0/8", "loopback address (RFC 1122)"),
        ("192.0.2.1", None, "192.0.2.0/24", "documentation address (RFC 5737)"),
        ("198.51.100.1", None, "198.51.100.0/24", "documentation address (RFC 5737)"),
        ("203.0.113.9", None, "203.0.113.0/24", "documentation address (RFC 5737)"),
        ("2001:db8::1", None, "2001:db8::/32", "documentation address (RFC 3849)"),
        ("::1", None, "::1/128", "loopback address (RFC 4291)"),
        ("2a00:1450:4001::1", Location("DE", "EU", None, 50.11, 8.68), "2a00:1450::/32", ""),
        ("2002:808:808::1", Location("US", "NA", "US-CA", 37.42, -122.08), "2002:808:800::/40", ""),
        ("2a01::1", None, "2a01::/16", "not in database"),
    ],
)
def test_lookup(
    db: GeoDatabase, address: str, location: Location | None, network: str, reason: str
) -> None:
    found = db.lookup(ip_address(address))
    assert (found.location, found.network, found.reason) == (
        location,
        ip_network_of(network),
        reason,
    )
    addr = ip_address(address)
    for _ in range(2):  # the second from the per-prefix cache when the network is wide enough
        place, prefix = db.find(addr.version, int(addr))
        assert (db.places[place], prefix) == (found.location, found.network.prefixlen)


def ip_network_of(text: str) -> IPv4Network | IPv6Network:
    return IPv4Network(text) if ":" not in text else IPv6Network(text)


def test_not_in_database_reports_the_empty_network(db: GeoDatabase) -> None:
    found = db.lookup(ip_address("9.9.9.9"))
    assert found.location is None
    assert found.reason == "not in database"
    assert found.network.prefixlen <= 32 and ip_address("9.9.9.9") in found.network
    assert ip_address("8.8.8.8") not in found.network


def test_narrow_networks_are_not_cached_per_slash24(db: GeoDatabase) -> None:
    def where(address: str) -> Location | None:
        return db.places[db.find(4, int(ip_address(address)))[0]]

    assert where("81.2.69.1") == GB
    assert where("81.2.69.129").country == "IE"  # type: ignore[union-attr]
    assert where("81.2.69.2") == GB


def test_equal_places_share_one_location_object(db: GeoDatabase) -> None:
    a = db.lookup(ip_address("81.2.69.1")).location
    b = db.lookup(ip_address("81.2.70.1")).location
    assert a == b and a is b


def test_zz_means_unknown(db: GeoDatabase) -> None:
    # 192.0.0.8/29 is special anyway; check the record interpretation directly
    assert db.find(4, int(ip_address("192.0.0.9")))[0] == NOWHERE
    assert db._place({"country": {"iso_code": "ZZ"}, "location": {"latitude": 0.0}}) == NOWHERE


def test_describe(db: GeoDatabase, city_db: Path) -> None:
    info = db.describe(ip_address("8.8.8.8"))
    assert info == {
        "address": "8.8.8.8",
        "network": "8.8.8.0/24",
        "country": "US",
        "continent": "NA",
        "subdivision": "US-CA",
        "latitude": 37.42,
        "longitude": -122.08,
        "reason": "",
        "database": str(city_db),
        "database_type": "Test-City",
        "build_date": "2023-11-14",
        "description": "unit test",
    }


def test_cli_geoip_lookup(city_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geoip", "lookup", "8.8.8.8", "192.0.2.1", "--geoip", str(city_db)]) == 0
    out = capsys.readouterr().out
    assert "network      8.8.8.0/24" in out
    assert "country      US" in out
    assert "subdivision  US-CA" in out
    assert "coordinates  37.42, -122.08" in out
    assert "reason       documentation address (RFC 5737)" in out
    assert f"database     {city_db} (Test-City, built 2023-11-14)" in out


def test_cli_geoip_lookup_errors(city_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["geoip", "lookup", "not-an-ip", "--geoip", str(city_db)]) == 2
    assert main(["geoip", "lookup", "8.8.8.8", "--geoip", str(city_db) + ".missing"]) == 1
    assert "geo database not found" in capsys.readouterr().out


# --------------------------------------------------------------------------- bundled database


@pytest.fixture(scope="module")
def bundled() -> GeoDatabase:
    if not BUNDLED.exists() and not BUNDLED.with_name(BUNDLED.name + ".xz").exists():
        pytest.skip("bundled database not present")
    return GeoDatabase.open(BUNDLED)


@pytest.mark.parametrize(
    ("address", "country", "continent"),
    [
        ("8.8.8.8", "US", "NA"),
        ("1.1.1.1", "AU", "OC"),
        ("193.1.193.64", "IE", "EU"),  # HEAnet, Dublin
        ("87.32.1.1", "IE", "EU"),
        ("133.1.1.1", "JP", "AS"),  # Osaka University
        ("210.130.1.1", "JP", "AS"),
        ("200.160.2.3", "BR", "SA"),  # NIC.br
        ("177.1.1.1", "BR", "SA"),
        ("194.25.2.129", "DE", "EU"),  # Deutsche Telekom
        ("2a00:1450:4001::1", "DE", "EU"),  # Google Frankfurt
        ("2001:770::1", "IE", "EU"),  # HEAnet
        ("2001:200::1", "JP", "AS"),  # WIDE
        ("2001:12ff::1", "BR", "SA"),  # NIC.br
        ("2001:4860:4860::8888", "CA", "NA"),  # DB-IP places it in Montreal
    ],
)
def test_bundled_database_known_addresses(
    bundled: GeoDatabase, address: str, country: str, continent: str
) -> None:
    found = bundled.lookup(ip_address(address))
    assert found.location is not None
    assert (found.location.country, found.location.continent) == (country, continent)
    assert found.location.has_coordinates
    assert ip_address(address) in found.network


@pytest.mark.parametrize(
    "address", ["192.0.2.1", "198.51.100.7", "203.0.113.1", "10.0.0.1", "127.0.0.1", "2001:db8::1"]
)
def test_bundled_database_special_addresses(bundled: GeoDatabase, address: str) -> None:
    found = bundled.lookup(ip_address(address))
    assert found.location is None
    assert found.reason


def test_bundled_database_metadata(bundled: GeoDatabase) -> None:
    assert "City" in bundled.database_type
    for part in ("DB-IP", "CC BY 4.0", "https://db-ip.com"):
        assert part in bundled.description


def test_bundled_database_is_the_compact_place_format(bundled: GeoDatabase) -> None:
    """An index per network into one verified place table (geoip2 reads the "city" form
    of the same build; see test_geodb.py)."""
    assert bundled.compact and len(bundled.places) > 200_000
    japan = bundled.lookup(ip_address("133.1.1.1")).location
    assert japan is not None and (japan.country, japan.continent) == ("JP", "AS")
    assert japan.lat is not None and japan.lon is not None
    ireland = bundled.lookup(ip_address("2001:770::1")).location
    assert ireland is not None and ireland.country == "IE"


def _mapped_kib(marker: str) -> int:
    """Resident KiB of every mapping of this process whose name contains ``marker``."""
    total, inside = 0, False
    with open("/proc/self/smaps", encoding="ascii", errors="replace") as f:
        for line in f:
            first = line.split(maxsplit=1)[0]
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                inside = marker in line
            elif inside and first == "Rss:":
                total += int(line.split()[1])
    return total


@pytest.mark.skipif(not os.path.exists("/proc/self/smaps"), reason="Linux /proc only")
def test_the_private_copy_is_resident_once_not_twice(tmp_path: Path) -> None:
    """Verifying reads every page of the copy; the reader then maps the same memory
    again. Counted twice, a 74 MB database cost ~140 MB of RSS per process."""
    import random

    networks = {
        f"11.{i >> 8}.{i & 255}.0/24": city("DE", "EU", i / 1000, 8.7) for i in range(20_000)
    }
    path = write(tmp_path / "resident-once.mmdb", {**CITY, **networks})
    db = GeoDatabase.open(path)
    rng = random.Random(7)
    for _ in range(20_000):
        db.find(4, (11 << 24) | rng.getrandbits(24))
    size_kib = path.stat().st_size // 1024
    try:
        assert _mapped_kib("gslb-geo-resident-once.mmdb") <= size_kib + 8
    finally:
        db.close()


def _status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(field)


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="Linux /proc only")
def test_checking_the_copy_does_not_map_all_of_it_at_once() -> None:
    """Opening hashes every byte of the private copy: read through its descriptor, not
    the mapping, or every start and reload peaked at the database's size in RSS on
    top of the process (the bundled one: +73 MB, VmHWM 108 MB before serving)."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmHWM")
    db = GeoDatabase.open(GEOIP)
    try:
        grown = _status_kib("VmHWM") - before
        assert grown < GEOIP.stat().st_size // 1024 // 2, f"peak grew by {grown} KiB"
    finally:
        db.close()
