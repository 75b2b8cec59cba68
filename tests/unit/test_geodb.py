"""The compact database builder and MMDB writer: written databases read back through maxminddb."""

from __future__ import annotations

import io
import lzma
import random
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from pathlib import Path
from typing import Any

import geoip2.database
import maxminddb
import pytest

from gslb.cli import main
from gslb.errors import GeoDatabaseError
from gslb.geo.build import compact as geodb
from gslb.geo.build import mmdbdata, mmdbwriter
from gslb.geo.build.centroids import centroids_module, country_centroids
from gslb.geo.build.mmdbdata import UInt16, UInt32, UInt64
from gslb.geo.build.mmdbwriter import Metadata
from gslb.geo.database import GeoDatabase
from gslb.geo.records import record_fields

EPOCH = 1_700_000_000
META = Metadata("Test-City", {"en": "test database"}, EPOCH, languages=("en", "de"))


def city(
    country: str,
    continent: str,
    lat: float,
    lon: float,
    name: str = "Somewhere",
    subdivision: str | None = None,
) -> dict[str, Any]:
    """A record shaped like DB-IP / GeoLite2 City, names in two languages."""
    rec: dict[str, Any] = {
        "city": {"names": {"en": name, "de": name}},
        "continent": {"code": continent, "names": {"en": continent, "de": continent}},
        "country": {"iso_code": country, "is_in_european_union": continent == "EU"},
        "location": {"latitude": lat, "longitude": lon},
    }
    if subdivision is not None:
        rec["subdivisions"] = [{"iso_code": subdivision, "names": {"en": subdivision}}]
    return rec


#: A tiny source: adjacent networks to merge, places that round together at 0.1
#: degrees, a gap, both families, a subdivision code, and an "unknown" ZZ block.
SOURCE: dict[str, Any] = {
    "8.8.8.0/24": city("US", "NA", 37.4223, -122.085, "Mountain View", "CA"),
    "8.8.9.0/24": city("US", "NA", 37.4223, -122.085, "Mountain View (2)", "CA"),
    "8.8.10.0/23": city("US", "NA", 37.4099, -122.0801, "Sunnyvale", "CA"),  # same at 0.1°
    "81.2.69.0/24": city("GB", "EU", 51.5143, -0.0912, "London"),
    "81.2.70.0/24": city("IE", "EU", 53.3498, -6.2603, "Dublin"),
    "133.1.0.0/18": city("JP", "AS", 34.8167, 135.5167, "Suita"),
    "200.160.0.0/20": city("BR", "SA", -23.5505, -46.6333, "Sao Paulo"),
    "192.0.0.8/29": {
        "country": {"iso_code": "ZZ"},
        "location": {"latitude": 0.0, "longitude": 0.0},
    },
    "2001:4860::/32": city("US", "NA", 37.4223, -122.085, "Mountain View", "CA"),
    "2a00:1450:4000::/48": city("DE", "EU", 50.1109, 8.6821, "Frankfurt"),
    "2a00:1450:4001::/48": city("DE", "EU", 50.1155, 8.6842, "Frankfurt"),  # same at 0.1°
}


def write(path: Path, networks: dict[str, Any], meta: Metadata = META, **kw: Any) -> Path:
    with open(path, "wb") as fh:
        mmdbwriter.write_networks(fh, networks, meta, **kw)
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    meta = Metadata("DBIP-City-Lite", {"en": "synthetic source"}, 1_680_308_777)
    return write(tmp_path_factory.mktemp("src") / "source.mmdb", SOURCE, meta)


@pytest.fixture(scope="module")
def built(source: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, geodb.BuildReport]:
    out = tmp_path_factory.mktemp("out") / "compact.mmdb.xz"
    report = geodb.build(source, out, precision=0.1, build_epoch=EPOCH, form="city")
    return out, report


@pytest.fixture(scope="module")
def places(source: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("places") / "compact.mmdb"
    geodb.build(source, out, precision=0.1, build_epoch=EPOCH)  # the default format
    return out


def unpack(xz: Path) -> Path:
    target = xz.with_name(xz.name.removesuffix(".xz"))
    target.write_bytes(lzma.decompress(xz.read_bytes()))
    return target


# --------------------------------------------------------------------------- writer


@pytest.mark.parametrize("record_size", [24, 28, 32])
@pytest.mark.parametrize("mode", [maxminddb.MODE_MMAP_EXT, maxminddb.MODE_MEMORY])
def test_writer_round_trips_random_ranges(tmp_path: Path, record_size: int, mode: int) -> None:
    """Random disjoint ranges in both families: every probe reads its own value back, and
    the prefix returned is the widest aligned block of the range around the address."""
    rng = random.Random(record_size)
    points = sorted(rng.sample(range(1, 1 << 32), 120))
    points += sorted({rng.randrange(1 << 126, 1 << 127) for _ in range(120)})[:120]
    starts, ends, values = [], [], []
    for i in range(0, len(points), 2):
        starts.append(points[i])
        ends.append(points[i + 1])
        values.append(i // 2 % 7)
    records: list[mmdbdata.Value] = [{"n": UInt32(i), "name": f"value {i}"} for i in range(7)]
    path = tmp_path / "r.mmdb"
    with open(path, "wb") as fh:
        stats = mmdbwriter.write_database(
            fh, starts, ends, values, records, META, min_record_size=record_size
        )
    assert stats.record_size == record_size
    with maxminddb.open_database(str(path), mode) as reader:
        assert reader.metadata().node_count == stats.node_count
        for first, last, value in zip(starts, ends, values, strict=True):
            for point in {first, last, rng.randint(first, last)}:
                fam4 = point < 1 << 32
                address = IPv4Address(point) if fam4 else IPv6Address(point)
                record, plen = reader.get_with_prefix_len(address)
                assert record == {"n": value, "name": f"value {value}"}
                bits = 32 if fam4 else 128
                net = ip_network((point >> (bits - plen) << (bits - plen), plen))
                assert first <= int(net.network_address) and int(net.broadcast_address) <= last
                wider = net.supernet()
                assert not (
                    first <= int(wider.network_address) and int(wider.broadcast_address) <= last
                )
            if first > 1 and first - 1 not in ends:
                gap = first - 1
                address = IPv4Address(gap) if gap < 1 << 32 else IPv6Address(gap)
                assert reader.get(address) is None


def pad(i: int) -> str:
    return f"{i:06d}" + "p" * 1000


def test_writer_encodes_every_type_and_pointer_size(tmp_path: Path) -> None:
    """Enough distinct data to need 1-, 2- and 3-byte-extended pointers and long strings."""
    big = "x" * 70_000
    records: list[mmdbdata.Value] = [
        {
            "u16": UInt16(65535),
            "u32": UInt32(4_000_000_000),
            "u64": UInt64(2**63 + 5),
            "int": 7,
            "zero": UInt32(0),
            "t": True,
            "f": False,
            "pi": 3.141592653589793,
            "bytes": b"\x00\xff",
            "list": [1, "two", [3.0], {"four": 4}],
            "empty": {},
            "unicode": "Zürich — 東京",
            "s29": "a" * 29,
            "s300": "b" * 300,
            "big": big,
            "shared": {"iso_code": "DE"},
        }
    ]
    # ~600 KB of distinct strings push later offsets past every pointer-size boundary
    records += [{"i": UInt32(i), "pad": pad(i), "shared": {"iso_code": "DE"}} for i in range(600)]
    # repeats of values at offsets needing 2-, 3- and 4-byte pointers
    records.append({"again": big, "p300": pad(300), "p599": pad(599)})
    starts = [i << 8 for i in range(1, len(records) + 1)]
    ends = [s + 255 for s in starts]
    path = tmp_path / "types.mmdb"
    with open(path, "wb") as fh:
        stats = mmdbwriter.write_database(fh, starts, ends, range(len(records)), records, META)
    assert stats.data_bytes > 526_336 + 2048
    for mode in (maxminddb.MODE_MMAP_EXT, maxminddb.MODE_MEMORY):
        with maxminddb.open_database(str(path), mode) as reader:
            first = reader.get(IPv4Address(starts[0]))
            assert first == {
                "u16": 65535, "u32": 4_000_000_000, "u64": 2**63 + 5, "int": 7, "zero": 0,
                "t": True, "f": False, "pi": 3.141592653589793, "bytes": b"\x00\xff",
                "list": [1, "two", [3.0], {"four": 4}], "empty": {},
                "unicode": "Zürich — 東京", "s29": "a" * 29, "s300": "b" * 300, "big": big,
                "shared": {"iso_code": "DE"},
            }  # fmt: skip
            for i in (0, 299, 599):
                got = reader.get(IPv4Address(starts[i + 1]))
                assert got == {"i": i, "pad": pad(i), "shared": {"iso_code": "DE"}}
            last = reader.get(IPv4Address(starts[-1]))
            assert last == {"again": big, "p300": pad(300), "p599": pad(599)}
            md = reader.metadata()
            assert (md.database_type, md.build_epoch, md.languages) == (
                "Test-City",
                EPOCH,
                ["en", "de"],
            )


def test_writer_shares_repeated_values() -> None:
    section = mmdbdata.DataSection()
    a = section.add({"country": {"iso_code": "US"}, "location": {"latitude": 1.5}})
    size = len(section)
    b = section.add({"country": {"iso_code": "US"}, "location": {"latitude": 2.5}})
    assert section.add({"country": {"iso_code": "US"}, "location": {"latitude": 1.5}}) == a
    assert b > a
    assert len(section) - size < size  # keys and the country map became pointers


def test_writer_aliases_6to4_to_ipv4(tmp_path: Path) -> None:
    path = write(tmp_path / "a.mmdb", {"8.8.8.0/24": {"c": "US"}, "2a00::/16": {"c": "DE"}})
    with maxminddb.open_database(str(path)) as reader:
        assert reader.get_with_prefix_len("2002:808:808::1") == ({"c": "US"}, 40)
        assert reader.get("2002:101:101::1") is None
        assert [(str(n), r) for n, r in reader] == [
            ("8.8.8.0/24", {"c": "US"}),
            ("2a00::/16", {"c": "DE"}),
        ]


def test_writer_rejects_overlaps_and_6to4_data() -> None:
    with pytest.raises(ValueError, match="overlap"):
        mmdbwriter.write_networks(io.BytesIO(), {"8.0.0.0/8": {}, "8.8.0.0/16": {}}, META)
    with pytest.raises(ValueError, match="2002::/16"):
        mmdbwriter.write_networks(io.BytesIO(), {"2002:1::/32": {}}, META)


def test_writer_empty_database_is_readable(tmp_path: Path) -> None:
    path = write(tmp_path / "e.mmdb", {})
    with maxminddb.open_database(str(path)) as reader:
        assert reader.get("8.8.8.8") is None
        assert reader.get("2a00::1") is None


# --------------------------------------------------------------------------- places


@pytest.mark.parametrize(
    ("value", "precision", "expected"),
    [
        (53.3498, 0.1, 53.3),
        (53.35, 1.0, 53.0),
        (-6.2603, 0.01, -6.26),
        (-0.04, 0.1, 0.0),
        (179.97, 0.1, 180.0),
        (37.4223, 0.001, 37.422),
        (0.3, 0.1, 0.3),
    ],
)
def test_quantize(value: float, precision: float, expected: float) -> None:
    got = geodb.quantize(value, precision)
    assert got == expected
    assert str(got) == str(expected)  # no 0.30000000000000004, no -0.0


def test_record_fields_reads_geoip2_shaped_records() -> None:
    rec = city("US", "NA", 37.4, -122.1, subdivision="CA")
    assert record_fields(rec) == ("US", "NA", "US-CA", 37.4, -122.1)
    assert record_fields({"country": {"iso_code": "DE"}}) == ("DE", None, None, None, None)
    assert record_fields(None) == (None, None, None, None, None)
    assert geodb.record_of(("US", "NA", "US-CA", 37.4, -122.1)) == {
        "continent": {"code": "NA"},
        "country": {"iso_code": "US"},
        "location": {"latitude": 37.4, "longitude": -122.1},
        "subdivisions": [{"iso_code": "CA"}],
    }


# --------------------------------------------------------------------------- build


def test_compact_merges_adjacent_equal_places(source: Path) -> None:
    tree = geodb.SourceTree(source)
    try:
        exact = geodb.compact(tree, 0)
        coarse = geodb.compact(tree, 0.1)
    finally:
        tree.close()
    assert exact.source_networks == coarse.source_networks == (8, 3)
    # exact: 8.8.8.0/24+8.8.9.0/24 merge (same place, other city name); Sunnyvale stays
    assert exact.ranges == (7, 3)
    # 0.1°: Sunnyvale joins Mountain View, the two Frankfurt /48s merge
    assert coarse.ranges == (6, 2)
    first = coarse.starts.index(int(IPv4Address("8.8.8.0")))
    assert coarse.ends[first] == int(IPv4Address("8.8.11.255"))


def test_build_reads_back_through_maxminddb_and_geoip2(
    built: tuple[Path, geodb.BuildReport],
) -> None:
    out, report = built
    assert report.source_networks == (8, 3)
    assert report.ranges == (6, 2)
    assert report.out_bytes == out.stat().st_size
    assert out.stat().st_mode & 0o777 == 0o644
    path = unpack(out)
    with maxminddb.open_database(str(path)) as reader:
        md = reader.metadata()
        assert md.database_type == geodb.DATABASE_TYPE
        assert "City" in md.database_type
        assert md.build_epoch == EPOCH
        desc = md.description["en"]
        for part in (
            "DB-IP IP to City Lite",
            "2023-04-01",
            "CC BY 4.0",
            "https://db-ip.com",
            "0.1",
        ):
            assert part in desc
        assert reader.get_with_prefix_len("8.8.10.1") == (
            {
                "continent": {"code": "NA"},
                "country": {"iso_code": "US"},
                "location": {"latitude": 37.4, "longitude": -122.1},
                "subdivisions": [{"iso_code": "CA"}],
            },
            22,  # 8.8.8.0/22: four /24s of one place
        )
        assert reader.get("8.8.12.1") is None
        networks = [str(n) for n, _ in reader]
    assert networks == [
        "8.8.8.0/22", "81.2.69.0/24", "81.2.70.0/24", "133.1.0.0/18", "192.0.0.8/29",
        "200.160.0.0/20", "2001:4860::/32", "2a00:1450:4000::/47",
    ]  # fmt: skip
    reader2 = geoip2.database.Reader(str(path))
    try:
        resp = reader2.city("81.2.70.5")
        assert (resp.country.iso_code, resp.continent.code) == ("IE", "EU")
        assert (resp.location.latitude, resp.location.longitude) == (53.3, -6.3)
        assert str(resp.traits.network) == "81.2.70.0/24"
        resp6 = reader2.city("2a00:1450:4001::1")
        assert (resp6.country.iso_code, resp6.location.latitude) == ("DE", 50.1)
        assert str(resp6.traits.network) == "2a00:1450:4000::/47"
        assert reader2.city("2002:8501:101::").country.iso_code == "JP"  # 6to4 of 133.1.1.1
    finally:
        reader2.close()


def test_build_is_reproducible(
    source: Path, tmp_path: Path, built: tuple[Path, geodb.BuildReport]
) -> None:
    again = tmp_path / "again.mmdb.xz"
    geodb.build(source, again, precision=0.1, build_epoch=EPOCH, form="city")
    assert again.read_bytes() == built[0].read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ["again.mmdb.xz"]  # no temp files left


def test_build_uncompressed_output(source: Path, tmp_path: Path) -> None:
    out = tmp_path / "plain.mmdb"
    report = geodb.build(source, out, precision=0, build_epoch=EPOCH, form="city")
    assert report.ranges == (7, 3)
    with maxminddb.open_database(str(out)) as reader:
        rec = reader.get("8.8.10.1")
    assert isinstance(rec, dict)
    assert rec["location"] == {"latitude": 37.4099, "longitude": -122.0801}


def test_places_format_stores_an_index_per_network_and_one_place_table(
    places: Path, built: tuple[Path, geodb.BuildReport]
) -> None:
    """The server's format: ints in the tree, the same answers as the City format."""
    with maxminddb.open_database(str(places)) as reader:
        assert isinstance(reader.get("8.8.10.1"), int)
        assert [str(n) for n, _ in reader] == [
            str(n) for n, _ in maxminddb.open_database(str(unpack(built[0])))
        ]
    compact, city = GeoDatabase.open(places), GeoDatabase.open(unpack(built[0]))
    assert compact.compact and not city.compact
    for address in ("8.8.10.1", "81.2.70.5", "133.1.2.3", "2a00:1450:4001::1", "9.9.9.9"):
        assert compact.lookup(ip_address(address)) == city.lookup(ip_address(address)), address


def test_places_format_rebuilds_as_city(
    places: Path, built: tuple[Path, geodb.BuildReport], tmp_path: Path
) -> None:
    """Our own database is a valid source: rebuilding it as City gives the same bytes as
    building City from the original (what the benchmark gives gdnsd)."""
    again = tmp_path / "again.mmdb.xz"
    geodb.build(places, again, precision=0, build_epoch=EPOCH, form="city")
    with (
        maxminddb.open_database(str(unpack(again))) as got,
        maxminddb.open_database(str(unpack(built[0]))) as want,
    ):
        assert list(got) == list(want)


def test_a_byte_changed_anywhere_is_refused(places: Path, tmp_path: Path) -> None:
    """Our databases carry a SHA-256 of everything before the metadata: any edit shows."""
    data = bytearray(places.read_bytes())
    for offset in (100, len(data) // 2):
        copy = tmp_path / f"edited-{offset}.mmdb"
        edited = bytearray(data)
        edited[offset] ^= 0x01
        copy.write_bytes(edited)
        with pytest.raises(GeoDatabaseError, match="checksum mismatch"):
            GeoDatabase.open(copy)


def test_build_rejects_unreadable_source(tmp_path: Path) -> None:
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(GeoDatabaseError, match="cannot open source database"):
        geodb.build(bad, tmp_path / "out.mmdb.xz")
    assert not (tmp_path / "out.mmdb.xz").exists()


def test_country_centroids_average_on_the_sphere(tmp_path: Path) -> None:
    path = write(
        tmp_path / "c.mmdb",
        {
            "1.0.0.0/24": city("FJ", "OC", -18.0, 179.0),
            "1.0.1.0/24": city("FJ", "OC", -18.0, -179.0),  # across the antimeridian
            "2.0.0.0/24": city("DE", "EU", 50.0, 8.0),
            "2.0.1.0/24": city("DE", "EU", 52.0, 10.0),
            "3.0.0.0/24": {
                "country": {"iso_code": "ZZ"},
                "location": {"latitude": 0.0, "longitude": 0.0},
            },
        },
    )
    tree = geodb.SourceTree(path)
    try:
        cents = country_centroids(tree)
        module = centroids_module(cents, tree)
    finally:
        tree.close()
    assert set(cents) == {"FJ", "DE"}
    lat, lon = cents["FJ"]
    assert lat == pytest.approx(-18.0, abs=0.05) and abs(lon) == pytest.approx(180.0, abs=0.01)
    assert cents["DE"] == pytest.approx((51.0, 9.0), abs=0.05)
    namespace: dict[str, Any] = {}
    exec(compile(module, "centroids.py", "exec"), namespace)
    assert dict(namespace["CENTROIDS"]) == cents


def test_cli_geodb_build(source: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.mmdb.xz"
    rc = main(["geodb", "build", "--from", str(source), "--out", str(out), "--precision", "0.1",
               "--no-progress"])  # fmt: skip
    assert rc == 0
    text = capsys.readouterr().out
    assert "8 IPv4 + 3 IPv6 in the source" in text
    assert "6 IPv4 + 2 IPv6 ranges at 0.1 degrees" in text
    with maxminddb.open_database(str(unpack(out))) as reader:
        assert isinstance(reader.get("133.1.1.1"), int)  # the places format by default
    located = GeoDatabase.open(unpack(out)).lookup(ip_address("133.1.1.1")).location
    assert located is not None and located.country == "JP"


def test_cli_geodb_build_reports_bad_source(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = main(["geodb", "build", "--from", str(tmp_path / "missing.mmdb"), "--out",
               str(tmp_path / "o.mmdb.xz"), "--no-progress"])  # fmt: skip
    assert rc == 1
    assert "cannot open source database" in capsys.readouterr().out
