"""gslb.config: the example zones as the model, name rules, TXT, and every error message.

Each ``tests/fixtures/config/bad-*.yaml`` is ``good-base.yaml`` broken in one place, so
each must produce exactly one problem, with this exact text at this exact position.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
import yaml

from gslb.cli import main
from gslb.config import load_zone, load_zones, yamlsource
from gslb.config.rdata import txt_rdata
from gslb.errors import ConfigError, Problem
from gslb.geo.countries import CONTINENTS, COUNTRY_CONTINENT
from gslb.model import ClientMatch, Endpoint, Fence, Pick, RRset, Rule, Spill, Zone

REPO = Path(__file__).resolve().parents[2]
ZONES = REPO / "zones"
FIXTURES = REPO / "tests" / "fixtures" / "config"
GOOD = FIXTURES / "good-base.yaml"

# (fixture without "bad-" and ".yaml", line, column, exact reason)
BAD = [
    ("health-assume", 19, 35, "health assume 'maybe' must be up or down"),
    ("health-check", 19, 21, "health check 'htp' must be one of http, https, tcp"),
    ("health-host", 19, 34, "health host 'a b' is not a host name"),
    ("health-http-only", 19, 43, "health path needs an http or https check"),
    ("health-interval", 19, 37, "health interval 0 out of range 0.05..86400"),
    ("health-load", 19, 33, "health load takes either 'json' (a field) or 'header' (a name)"),
    ("health-match", 19, 34, "health match must not be empty"),
    (
        "health-no-check",
        18,
        17,
        "health of endpoint 192.0.2.10 of region 'eu-west' needs 'check' (http, https or tcp)",
    ),
    ("health-path", 19, 33, "health path 'nope' must start with '/'"),
    (
        "health-target",
        19,
        35,
        "health target port 99999 in '10.0.0.1:99999' is out of range 0..65535",
    ),
    (
        "health-tcp-port",
        18,
        17,
        "tcp health of endpoint 192.0.2.10 of region 'eu-west' needs 'port' or 'target'",
    ),
    ("health-timeout", 19, 49, "health timeout 5 exceeds the interval 2"),
    ("health-tls-verify", 19, 39, "health tls-verify needs an https check"),
    (
        "fence-blackholed-by-name",
        27,
        3,
        "gslb name 'api' can never answer clients of fence 'eu' (continents EU): "
        "none of its regions is in the fence",
    ),
    (
        "fence-network-overlap",
        26,
        3,
        "fences 'corp' and 'eu' both match clients of 10.20.0.0/16 located in country DE "
        "but share no region",
    ),
    (
        "fences-blackholed-together",
        33,
        3,
        "gslb name 'api' can never answer clients of 10.20.0.0/16 located in country DE: "
        "fences 'corp' and 'eu' both apply and none of its regions is in both",
    ),
    ("a-ipv6", 15, 12, "'2001:db8::1' is an IPv6 address: use AAAA, not A"),
    ("aaaa-ipv4", 15, 15, "'192.0.2.1' is an IPv4 address: use A, not AAAA"),
    ("all-down", 26, 15, "all-down 'fail-closed' must be one of fail-open, nodata, servfail"),
    ("apex-ns", 15, 9, "apex NS belongs in 'ns:', not in records"),
    ("apex-soa", 15, 9, "apex SOA belongs in 'soa:', not in records"),
    ("aws-region", 22, 17, "invalid aws-region 'euwest1' (like 'eu-west-1')"),
    ("bad-address", 15, 12, "invalid address '192.0.2.300' in A record"),
    ("caa-flags", 15, 14, "CAA flags '256' must be an integer 0..255"),
    ("caa-form", 15, 14, "CAA record '0 issue' must be 'flags tag \"value\"'"),
    ("caa-quotes", 15, 14, "CAA value 'letsencrypt\"org' has unbalanced quotes"),
    ("caa-tag", 15, 14, "unknown CAA tag 'isue' (did you mean 'issue'?)"),
    ("cname-apex", 15, 9, "CNAME is not allowed at the zone apex"),
    ("cname-other", 15, 9, "CNAME at www.example.com. cannot coexist with other data (TXT)"),
    ("cname-two", 15, 16, "CNAME at www.example.com. must have exactly one target"),
    ("code-twice", 24, 35, "'DE' listed twice in countries of fence 'eu'"),
    ("continent", 24, 28, "unknown continent code 'EUR' in fence 'eu' (did you mean 'EU'?)"),
    ("country-alias", 24, 27, "unknown country code 'UK' in fence 'eu' (did you mean 'GB'?)"),
    ("country", 24, 31, "unknown country code 'XY' in fence 'eu'"),
    ("default-both", 29, 14, "default of gslb name 'api' takes either 'regions' or 'location'"),
    ("deep-nesting", 15, 75, "invalid YAML: lists and mappings nest deeper than 64 levels"),
    ("degraded-ttl", 30, 19, "degraded-ttl 60 exceeds ttl 30"),
    ("delegation-data", 15, 22, "TXT is not allowed at delegation point lab.example.com."),
    ("duplicate-key", 10, 3, "duplicate key 'retry' in soa (first at line 9)"),
    ("duplicate-record", 15, 24, "duplicate A record '192.0.2.1' at www.example.com."),
    ("empty-file", 1, 1, "file is empty"),
    ("empty-label", 15, 3, "empty label in name 'a..b'"),
    ("empty-list", 12, 5, "ns must not be empty"),
    ("empty-name", 15, 16, "empty name"),
    ("endpoint-address", 18, 17, "invalid address 'web1' in region 'us-east'"),
    ("endpoint-twice", 18, 32, "endpoint 198.51.100.10 listed twice in region 'us-east'"),
    ("endpoint-weight", 18, 50, "endpoint weight 0 out of range 1..1000"),
    ("fence-name", 23, 3, "invalid fence name 'eu_eea': use a-z, 0-9 and '-'"),
    ("fence-overlap", 26, 3, "fences 'eu' and 'us-only' both match DE but share no region"),
    ("fence-redefined", 30, 7, "fence 'eu' is already defined at zone level"),
    ("fence-region-twice", 25, 24, "region 'eu-west' listed twice in fence 'eu'"),
    ("fence-region", 25, 15, "unknown region 'us-esat' in fence 'eu' (did you mean 'us-east'?)"),
    ("glue", 15, 13, "NS target ns1.lab.example.com. needs glue (an A or AAAA record)"),
    ("gslb-no-regions", 8, 8, "gslb name 'api' has no regions: define 'regions:' in the zone"),
    (
        "gslb-occluded",
        29,
        3,
        "gslb name www.lab.example.com. is occluded by delegation at lab.example.com.",
    ),
    ("gslb-region-twice", 28, 33, "region 'us-east' listed twice in gslb name 'api'"),
    ("gslb-region", 28, 24, "unknown region 'eu-wst' in gslb name 'api' (did you mean 'eu-west'?)"),
    # one mistake, one problem: rules, default and pick that follow from it are not reported
    (
        "gslb-region-cascade",
        28,
        24,
        "unknown region 'eu-wst' in gslb name 'api' (did you mean 'eu-west'?)",
    ),
    ("gslb-region-twice-cascade", 28, 33, "region 'us-east' listed twice in gslb name 'api'"),
    ("regions-misspelled", 15, 1, "unknown key 'region' in zone file (did you mean 'regions'?)"),
    ("gslb-static", 28, 3, "gslb name api.example.com. conflicts with static A at the same owner"),
    ("gslb-ttl", 29, 10, "ttl 86401 out of range 1..86400"),
    ("gslb-twice", 29, 3, "gslb name api.example.com. already defined at line 27"),
    ("latitude", 17, 16, "latitude 98.95 out of range -90..90"),
    ("location-shape", 17, 15, "location of region 'us-east' must be [latitude, longitude]"),
    ("long-label", 15, 3, "label 'aaaaaaaaaaaaaaaa...' is 64 bytes, longer than 63"),
    ("long-name", 15, 3, "name 'aaaaaaaaaaaaaaaaaaaaaaaa...' is 257 bytes, longer than 255"),
    ("longitude", 17, 23, "longitude -277.45 out of range -180..180"),
    ("merge-key", 15, 9, "merge keys ('<<') are not supported in records for 'www'"),
    ("missing-key", 5, 3, "missing key 'serial' in soa"),
    ("missing-values", 15, 12, "missing key 'values' in A record set"),
    ("mx-form", 15, 13, "MX record 'ns1' must be 'preference name'"),
    ("mx-preference", 15, 13, "MX preference '70000' must be an integer 0..65535"),
    ("name-character", 15, 3, "invalid character ' ' in name 'a b'"),
    (
        "network-host-bits",
        24,
        26,
        "network '192.0.2.1/24' has host bits set in fence 'eu' (did you mean '192.0.2.0/24'?)",
    ),
    ("network", 24, 26, "invalid network '192.0.2.0/33' in fence 'eu'"),
    ("no-clients", 24, 14, "fence 'eu' matches no clients"),
    ("no-records", 15, 8, "no records for 'www'"),
    ("no-endpoints", 18, 16, "endpoints of region 'us-east' must not be empty"),
    ("non-string-key", 15, 5, "keys in records must be plain strings, got a list"),
    ("not-boolean", 22, 11, "down of region 'eu-west' must be true or false, got 'maybe'"),
    ("not-integer", 7, 11, "soa serial must be an integer, got 'one'"),
    ("not-list", 12, 5, "ns must be a list, got 'ns1'"),
    ("not-mapping", 4, 6, "soa must be a mapping, got 'ns1'"),
    ("not-number", 17, 16, "latitude must be a number, got 'north'"),
    ("not-string", 22, 17, "aws-region must be a string, got integer 1"),
    ("not-text", 12, 6, "ns entry must be a string, got a mapping"),
    ("ns-twice", 12, 11, "name server ns1.example.com. listed twice in ns"),
    (
        "occluded",
        17,
        13,
        "TXT at www.lab.example.com. is occluded by delegation at lab.example.com.",
    ),
    ("origin-wildcard", 2, 7, "zone origin '*.example.com' cannot be a wildcard"),
    ("outside-zone", 15, 3, "'www.example.org.' is outside zone example.com."),
    ("owner-twice", 15, 3, "owner ns1.example.com. already defined at line 14"),
    ("pick-count", 29, 19, "pick count 3 exceeds the 1 endpoints of the largest region"),
    ("record-ttl", 15, 18, "ttl 2147483648 out of range 0..2147483647"),
    ("region-name", 19, 3, "invalid region name 'EU-West': use a-z, 0-9 and '-'"),
    (
        "rname-at",
        6,
        10,
        "soa rname 'hostmaster@example.com' is a name: write 'hostmaster.example.com.'",
    ),
    ("rule-crosses-fence", 30, 9, "rule sends DE (fenced by eu to eu-west) to us-east"),
    ("rule-empty-regions", 31, 18, "regions of rule 1 of gslb name 'api' must not be empty"),
    (
        "rule-region-outside",
        31,
        19,
        "region 'us-east' in rule 1 of gslb name 'api' is not one of the name's regions",
    ),
    ("serial-range", 7, 11, "soa serial 4294967296 out of range 0..4294967295"),
    ("soa-timer", 8, 12, "soa refresh 0 out of range 1..2147483647"),
    ("spill-order", 29, 12, "spill watermarks out of order: need 0 < low 0.9 < high 0.8 <= 1"),
    ("srv-form", 15, 20, "SRV record '10 5 5060' must be 'priority weight port target'"),
    ("srv-port", 15, 20, "SRV port 'sip' must be an integer 0..65535"),
    ("subdivision", 24, 30, "invalid subdivision 'CA' in fence 'eu' (ISO 3166-2, like 'US-CA')"),
    ("target-cname", 15, 13, "MX target mail.example.com. is a CNAME (RFC 2181 10.3)"),
    ("target-missing", 15, 13, "MX target mail.example.com. has no A or AAAA record in the zone"),
    ("ttl-range", 3, 6, "ttl -1 out of range 0..2147483647"),
    ("unknown-key", 12, 3, "unknown key 'minimun' in soa (did you mean 'minimum'?)"),
    ("unknown-type", 15, 9, "unknown record type 'AAA' (did you mean 'AAAA'?)"),
    ("value-and-values", 15, 12, "A record set takes 'values' or 'value', not both"),
    ("wildcard-position", 15, 3, "wildcard '*' must be the whole leftmost label in 'a.*.b'"),
    (
        "yaml-syntax",
        8,
        10,
        "invalid YAML: expected ',' or ']', but got ':' (while parsing a flow sequence at line 7)",
    ),
]


def _problems(*paths: str | Path) -> list[Problem]:
    with pytest.raises(ConfigError) as info:
        load_zones(list(paths))
    return info.value.problems


def _zone(tmp_path: Path, text: str, name: str = "z.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


HEAD = """\
zone: example.com
soa: {mname: ns1, rname: hostmaster, serial: 1, refresh: 2, retry: 3, expire: 4, minimum: 5}
ns: [ns1]
"""
NS1 = "  ns1: {A: 192.0.2.53}\n"


def _records(tmp_path: Path, records: str, tail: str = "") -> Zone:
    return load_zone(_zone(tmp_path, HEAD + "records:\n" + NS1 + records + tail))


def _reasons(tmp_path: Path, records: str, tail: str = "") -> list[str]:
    path = _zone(tmp_path, HEAD + "records:\n" + NS1 + records + tail)
    return [p.reason for p in _problems(path)]


# --------------------------------------------------------------------------- example zones


@pytest.fixture(scope="module")
def example() -> Zone:
    return load_zone(ZONES / "example.com.yaml")


def test_load_zones_reads_the_directory_sorted_by_origin() -> None:
    zones = load_zones([ZONES])
    assert [z.origin for z in zones] == ["2.0.192.in-addr.arpa.", "example.com."]
    assert zones[1].source == str(ZONES / "example.com.yaml")


def test_example_zone_header(example: Zone) -> None:
    assert example.origin == "example.com."
    assert example.ttl == 3600
    assert example.ns == ("ns1.example.com.", "ns2.example.com.")
    soa = example.soa
    assert (soa.mname, soa.rname, soa.serial, soa.minimum, soa.ttl) == (
        "ns1.example.com.",
        "hostmaster.example.com.",
        2026112701,
        300,
        3600,
    )


def test_example_zone_apex_holds_soa_and_ns_first(example: Zone) -> None:
    apex = example.rrsets["example.com."]
    assert list(apex) == ["SOA", "NS", "MX", "TXT", "CAA"]
    assert apex["SOA"].rdatas == (
        "ns1.example.com. hostmaster.example.com. 2026112701 7200 3600 1209600 300",
    )
    assert apex["NS"] == RRset("example.com.", "NS", 3600, ("ns1.example.com.", "ns2.example.com."))
    assert apex["MX"].rdatas == ("10 mail.example.com.",)
    assert apex["TXT"].rdatas == ('"v=spf1 mx -all"',)
    assert apex["CAA"].rdatas == ('0 issue "letsencrypt.org"',)


@pytest.mark.parametrize(
    ("owner", "rtype", "ttl", "rdatas"),
    [
        ("ns1.example.com.", "AAAA", 3600, ("2001:db8::53",)),
        ("www.example.com.", "CNAME", 3600, ("api.example.com.",)),
        ("*.dev.example.com.", "A", 3600, ("192.0.2.80",)),
        ("_sip._tcp.example.com.", "SRV", 3600, ("10 5 5060 sip.example.com.",)),
        ("status.example.com.", "A", 60, ("192.0.2.70", "192.0.2.71")),
        ("lab.example.com.", "NS", 3600, ("ns1.lab.example.com.", "ns2.lab.example.com.")),
        ("ns2.lab.example.com.", "AAAA", 3600, ("2001:db8::102",)),
    ],
)
def test_example_zone_records(
    example: Zone, owner: str, rtype: str, ttl: int, rdatas: tuple[str, ...]
) -> None:
    assert example.rrsets[owner][rtype] == RRset(owner, rtype, ttl, rdatas)


def test_example_zone_big_txt_is_one_record_per_line(example: Zone) -> None:
    big = example.rrsets["big.example.com."]["TXT"]
    assert len(big.rdatas) == 30
    assert big.rdatas[0] == (
        '"big record line 01: padding so the whole set needs TCP to arrive in one piece"'
    )
    assert sum(len(r) for r in big.rdatas) > 1232


def test_example_zone_regions(example: Zone) -> None:
    assert list(example.regions) == [
        "us-east",
        "us-west",
        "eu-west",
        "eu-central",
        "ap-northeast",
        "sa-east",
    ]
    east = example.regions["us-east"]
    assert (east.lat, east.lon, east.aws_region, east.down) == (38.95, -77.45, "us-east-1", False)
    assert east.endpoints == (
        Endpoint(ipaddress.ip_address("198.51.100.10")),
        Endpoint(ipaddress.ip_address("198.51.100.11")),
        Endpoint(ipaddress.ip_address("2001:db8:10::10")),
    )


def test_example_zone_fence(example: Zone) -> None:
    (fence,) = example.fences
    assert fence.name == "eu-eea"
    assert fence.regions == frozenset({"eu-west", "eu-central"})
    assert fence.all_down == "fail-open"
    assert len(fence.match.countries) == 30
    assert {"DE", "IS", "LI", "NO"} <= fence.match.countries
    assert "GB" not in fence.match.countries


def test_example_zone_gslb_name(example: Zone) -> None:
    api = example.gslb["api.example.com."]
    assert list(example.gslb) == ["api.example.com."]
    assert (api.name, api.ttl, api.degraded_ttl) == ("api.example.com.", 30, 10)
    assert api.regions == tuple(example.regions.values())
    assert api.fences == example.fences
    assert api.rules == (
        Rule(ClientMatch(countries=frozenset({"JP", "KR"})), ("ap-northeast", "us-west")),
    )
    assert api.default_order == tuple(example.regions)
    assert api.default_location is None
    assert api.spill == Spill(0.8, 0.95)
    assert api.pick == Pick(0, False)


def test_without_libyaml_the_model_is_the_same(
    example: Zone, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(yamlsource, "_FAST_LOADER", yaml.SafeLoader)
    assert load_zone(ZONES / "example.com.yaml") == example


def test_reverse_zone(tmp_path: Path) -> None:
    zone = load_zone(ZONES / "2.0.192.in-addr.arpa.yaml")
    assert zone.ns == ("ns1.example.com.", "ns2.example.com.")
    assert zone.rrsets["10.2.0.192.in-addr.arpa."]["PTR"].rdatas == ("api.example.com.",)
    assert zone.gslb == {} and zone.regions == {} and zone.fences == ()


# --------------------------------------------------------------------------- names and rdata


def test_names_relative_absolute_and_case(tmp_path: Path) -> None:
    zone = _records(
        tmp_path,
        "  WWW: {CNAME: Api.Example.COM.}\n"
        "  mail.example.com.: {A: 192.0.2.25}\n"
        "  '@': {MX: ['10 mail', '20 mx.example.net.', '0 @'], A: 192.0.2.2}\n"
        "  _x._udp: {SRV: '1 2 3 .'}\n"
        "  ptr: {PTR: host.example.org.}\n"
        "  api: {A: 192.0.2.1}\n",
    )
    assert zone.rrsets["www.example.com."]["CNAME"].rdatas == ("api.example.com.",)
    assert "mail.example.com." in zone.rrsets
    assert zone.rrsets["example.com."]["MX"].rdatas == (
        "10 mail.example.com.",
        "20 mx.example.net.",
        "0 example.com.",
    )
    assert zone.rrsets["_x._udp.example.com."]["SRV"].rdatas == ("1 2 3 .",)
    assert zone.rrsets["ptr.example.com."]["PTR"].rdatas == ("host.example.org.",)


def test_addresses_are_normalized(tmp_path: Path) -> None:
    zone = _records(tmp_path, "  a: {AAAA: '2001:DB8:0:0::1'}\n")
    assert zone.rrsets["a.example.com."]["AAAA"].rdatas == ("2001:db8::1",)


def test_value_forms_and_ttls(tmp_path: Path) -> None:
    zone = _records(
        tmp_path,
        "  a: {A: {ttl: 0, value: 192.0.2.1}}\n  b: {A: [192.0.2.2, 192.0.2.3]}\n",
        "ttl: 120\n",
    )
    assert zone.rrsets["a.example.com."]["A"] == RRset("a.example.com.", "A", 0, ("192.0.2.1",))
    assert zone.rrsets["b.example.com."]["A"].ttl == 120
    assert zone.rrsets["example.com."]["NS"].ttl == 120
    assert zone.soa.ttl == 120


def test_txt_escapes_and_splits() -> None:
    assert txt_rdata('say "hi" \\o/') == '"say \\"hi\\" \\\\o/"'
    assert txt_rdata("") == '""'
    assert txt_rdata("café") == '"caf\\195\\169"'
    long = "x" * 300
    assert txt_rdata(long) == '"' + "x" * 255 + '" "' + "x" * 45 + '"'
    assert txt_rdata("y" * 255).count('"') == 2


def test_txt_list_is_one_record_each(tmp_path: Path) -> None:
    zone = _records(tmp_path, "  t: {TXT: [one, 'x' , '" + "z" * 256 + "']}\n")
    rdatas = zone.rrsets["t.example.com."]["TXT"].rdatas
    assert rdatas[:2] == ('"one"', '"x"')
    assert rdatas[2] == '"' + "z" * 255 + '" "z"'


def test_caa_value_is_quoted(tmp_path: Path) -> None:
    zone = _records(tmp_path, "  '@': {CAA: ['128 iodef mailto:x@example.com']}\n")
    assert zone.rrsets["example.com."]["CAA"].rdatas == ('128 iodef "mailto:x@example.com"',)


def test_mx_target_covered_by_wildcard_is_fine(tmp_path: Path) -> None:
    zone = _records(tmp_path, "  '*.mx': {A: 192.0.2.9}\n  '@': {MX: '10 a.b.mx'}\n")
    assert zone.rrsets["example.com."]["MX"].rdatas == ("10 a.b.mx.example.com.",)


def test_targets_may_be_gslb_names_and_out_of_zone(tmp_path: Path) -> None:
    tail = "regions: {r1: {location: [0, 0], endpoints: [192.0.2.1]}}\ngslb: {mail: {}}\n"
    zone = _records(tmp_path, "  '@': {MX: ['10 mail', '20 mx.example.net.']}\n", tail)
    assert set(zone.gslb) == {"mail.example.com."}


def test_delegation_with_glue_and_sibling_name_server(tmp_path: Path) -> None:
    zone = _records(
        tmp_path,
        "  lab: {NS: [ns.lab, ns1]}\n  ns.lab: {AAAA: '2001:db8::1'}\n",
    )
    assert zone.rrsets["lab.example.com."]["NS"].rdatas == (
        "ns.lab.example.com.",
        "ns1.example.com.",
    )


def test_name_server_below_delegation_needs_no_address_check(tmp_path: Path) -> None:
    # MX into a delegated child: the child zone answers for it, not us.
    zone = _records(tmp_path, "  lab: {NS: ns.example.net.}\n  '@': {MX: '10 mail.lab'}\n")
    assert "lab.example.com." in zone.rrsets


def test_cname_target_may_be_anything(tmp_path: Path) -> None:
    zone = _records(tmp_path, "  a: {CNAME: nowhere}\n  b: {CNAME: a}\n")
    assert zone.rrsets["b.example.com."]["CNAME"].rdatas == ("a.example.com.",)


# --------------------------------------------------------------------------- policy parts


REGIONS = """\
regions:
  us-east: {location: [38.95, -77.45], endpoints: [198.51.100.10, 198.51.100.11]}
  eu-west:
    location: [53.35, -6.26]
    down: true
    endpoints:
      - 192.0.2.10
      - {address: '2001:db8::10', weight: 5, down: true}
"""


def _policy(tmp_path: Path, tail: str) -> Zone:
    return load_zone(_zone(tmp_path, HEAD + "records:\n" + NS1 + REGIONS + tail))


def _policy_reasons(tmp_path: Path, tail: str) -> list[str]:
    path = _zone(tmp_path, HEAD + "records:\n" + NS1 + REGIONS + tail)
    return [p.reason for p in _problems(path)]


def test_region_endpoint_forms(tmp_path: Path) -> None:
    zone = _policy(tmp_path, "")
    eu = zone.regions["eu-west"]
    assert eu.down and eu.aws_region is None
    assert eu.endpoints == (
        Endpoint(ipaddress.ip_address("192.0.2.10")),
        Endpoint(ipaddress.ip_address("2001:db8::10"), 5, True),
    )


def test_an_endpoint_may_probe_by_tcp_under_a_region_http_check(tmp_path: Path) -> None:
    """The region's http-only keys are not inherited by an endpoint that says tcp; an
    endpoint writing them beside its own tcp check is still an error."""
    regions = (
        "regions:\n"
        "  eu-west:\n"
        "    location: [53.35, -6.26]\n"
        "    health: {check: https, path: /healthz, expect: [200], tls-verify: false}\n"
        "    endpoints:\n"
        "      - 192.0.2.10\n"
        "      - {address: '2001:db8::10', health: {check: tcp, port: 443}}\n"
    )
    zone = load_zone(_zone(tmp_path, HEAD + "records:\n" + NS1 + regions))
    web, tcp = (e.health for e in zone.regions["eu-west"].endpoints)
    assert web is not None and (web.check, web.path, web.expect) == ("https", "/healthz", (200,))
    assert tcp is not None and (tcp.check, tcp.port) == ("tcp", 443)
    assert tcp.path == type(tcp).__dataclass_fields__["path"].default
    wrong = regions.replace("check: tcp, port: 443", "check: tcp, port: 443, path: /x")
    path = _zone(tmp_path, HEAD + "records:\n" + NS1 + wrong, "bad.yaml")
    assert [p.reason for p in _problems(path)] == ["health path needs an http or https check"]


def test_gslb_defaults(tmp_path: Path) -> None:
    zone = _policy(tmp_path, "gslb: {'@': {}, '*.cdn': {ttl: 5}}\n")
    apex = zone.gslb["example.com."]
    assert (apex.ttl, apex.degraded_ttl) == (30, 10)
    assert [r.name for r in apex.regions] == ["us-east", "eu-west"]
    assert apex.default_order == ("us-east", "eu-west")
    assert (apex.spill, apex.pick, apex.rules, apex.fences) == (Spill(), Pick(), (), ())
    assert zone.gslb["*.cdn.example.com."].degraded_ttl == 5


def test_gslb_full(tmp_path: Path) -> None:
    zone = _policy(
        tmp_path,
        "fences:\n"
        "  eu: {clients: {continents: [EU]}, regions: [eu-west], all-down: servfail}\n"
        "gslb:\n"
        "  api:\n"
        "    ttl: 60\n"
        "    degraded-ttl: 60\n"
        "    regions: [eu-west, us-east]\n"
        "    fences:\n"
        "      corp: {clients: {networks: ['10.0.0.0/8', '2001:db8::/32']},\n"
        "             regions: [us-east, eu-west]}\n"
        "    rules:\n"
        "      - clients: {countries: [FR], subdivisions: [FR-75]}\n"
        "        regions: [eu-west]\n"
        "      - clients: {continents: [NA]}\n"
        "        regions: [us-east, eu-west]\n"
        "    default: {location: [10, 20.5]}\n"
        "    spill: {low: 0.5, high: 1}\n"
        "    pick: {count: 2, second-region: yes}\n",
    )
    api = zone.gslb["api.example.com."]
    assert [r.name for r in api.regions] == ["eu-west", "us-east"]
    assert [f.name for f in api.fences] == ["eu", "corp"]
    assert api.fences[0] == Fence(
        "eu", ClientMatch(continents=frozenset({"EU"})), frozenset({"eu-west"}), "servfail"
    )
    assert api.fences[1].match.networks == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("2001:db8::/32"),
    )
    assert zone.fences == (api.fences[0],)
    assert api.rules[0] == Rule(
        ClientMatch(countries=frozenset({"FR"}), subdivisions=frozenset({"FR-75"})), ("eu-west",)
    )
    assert api.default_order == ("eu-west", "us-east")
    assert api.default_location == (10.0, 20.5)
    assert api.spill == Spill(0.5, 1.0)
    assert api.pick == Pick(2, True)


def test_default_regions(tmp_path: Path) -> None:
    zone = _policy(tmp_path, "gslb: {api: {default: {regions: [eu-west]}}}\n")
    assert zone.gslb["api.example.com."].default_order == ("eu-west",)


@pytest.mark.parametrize(
    ("first", "second", "shared"),
    [
        ("{countries: [DE]}", "{continents: [EU]}", "DE"),
        ("{continents: [EU]}", "{countries: [FR, DE]}", "DE"),
        ("{continents: [EU, AS]}", "{continents: [AS]}", "continent AS"),
        ("{subdivisions: [US-CA]}", "{countries: [US]}", "US-CA"),
        ("{subdivisions: [US-CA]}", "{continents: [NA]}", "US-CA"),
        ("{networks: [10.0.0.0/8]}", "{networks: [10.1.0.0/16]}", "10.1.0.0/16"),
        # a network's clients may be located anywhere, so it meets every geography
        (
            "{networks: [10.0.0.0/8]}",
            "{countries: [DE]}",
            "clients of 10.0.0.0/8 located in country DE",
        ),
        (
            "{continents: [EU]}",
            "{networks: ['2001:db8::/32']}",
            "clients of 2001:db8::/32 located in continent EU",
        ),
    ],
)
def test_fences_that_overlap_must_share_a_region(
    tmp_path: Path, first: str, second: str, shared: str
) -> None:
    tail = (
        f"fences:\n  a: {{clients: {first}, regions: [us-east]}}\n"
        f"  b: {{clients: {second}, regions: [eu-west]}}\n"
    )
    assert _policy_reasons(tmp_path, tail) == [
        f"fences 'a' and 'b' both match {shared} but share no region"
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("{countries: [DE]}", "{countries: [FR]}"),
        ("{countries: [JP]}", "{continents: [EU]}"),
        ("{networks: [10.0.0.0/8]}", "{networks: ['::/0']}"),
        ("{subdivisions: [US-CA]}", "{subdivisions: [US-NY]}"),
    ],
)
def test_fences_that_cannot_overlap_may_be_disjoint(
    tmp_path: Path, first: str, second: str
) -> None:
    tail = (
        f"fences:\n  a: {{clients: {first}, regions: [us-east]}}\n"
        f"  b: {{clients: {second}, regions: [eu-west]}}\n"
    )
    assert len(_policy(tmp_path, tail).fences) == 2


def test_name_fence_must_share_a_region_with_overlapping_zone_fence(tmp_path: Path) -> None:
    tail = (
        "fences: {eu: {clients: {continents: [EU]}, regions: [eu-west]}}\n"
        "gslb: {api: {fences: {de: {clients: {countries: [DE]}, regions: [us-east]}}}}\n"
    )
    assert _policy_reasons(tmp_path, tail) == [
        "fences 'eu' and 'de' both match DE but share no region"
    ]


def test_overlapping_fences_sharing_a_region_are_fine(tmp_path: Path) -> None:
    tail = (
        "fences:\n  a: {clients: {countries: [DE]}, regions: [us-east, eu-west]}\n"
        "  b: {clients: {continents: [EU]}, regions: [eu-west]}\n"
    )
    assert len(_policy(tmp_path, tail).fences) == 2


def test_rule_crossing_fence_names_every_outside_region(tmp_path: Path) -> None:
    tail = (
        "fences: {eu: {clients: {continents: [EU]}, regions: [eu-west]}}\n"
        "gslb: {api: {rules: [{clients: {countries: [DE, JP]}, regions: [eu-west, us-east]}]}}\n"
    )
    assert _policy_reasons(tmp_path, tail) == ["rule sends DE (fenced by eu to eu-west) to us-east"]


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    reasons = _policy_reasons(tmp_path, "gslbs: {}\n")
    assert reasons == ["unknown key 'gslbs' in zone file (did you mean 'gslb'?)"]


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(("fixture", "line", "col", "reason"), BAD, ids=[b[0] for b in BAD])
def test_each_bad_fixture_has_exactly_its_problem(
    fixture: str, line: int, col: int, reason: str
) -> None:
    path = FIXTURES / f"bad-{fixture}.yaml"
    assert _problems(path) == [Problem(str(path), line, col, reason)]


def test_every_bad_fixture_is_in_the_table() -> None:
    on_disk = {p.name[4:-5] for p in FIXTURES.glob("bad-*.yaml")}
    assert on_disk == {b[0] for b in BAD} | {"duplicate-origin"}


@pytest.mark.parametrize("form", ["flow", "block"])
def test_any_nesting_depth_is_a_problem_never_a_recursion_error(
    tmp_path: Path, form: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past libyaml's own bound (1,000) and without libyaml at all: one located problem."""
    if form == "flow":
        text = "zone: " + "[" * 5000 + "]" * 5000 + "\n"
    else:
        text = "zone:\n" + "".join(" " * i + "- \n" for i in range(1, 2000))
    path = _zone(tmp_path, text)
    assert yamlsource._fast_loader(object()) is yamlsource._BoundedLoader  # no libyaml
    for loader in (yamlsource._FAST_LOADER, yamlsource._fast_loader(object())):
        monkeypatch.setattr(yamlsource, "_FAST_LOADER", loader)
        (problem,) = _problems(path)
        assert problem.reason.endswith("nest deeper than 64 levels"), problem


def test_check_reports_deep_nesting_as_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(FIXTURES / "bad-deep-nesting.yaml")]) == 1
    out = capsys.readouterr()
    assert "bad-deep-nesting.yaml:15:75: invalid YAML: lists and mappings nest" in out.err + out.out
    assert "Traceback" not in out.err + out.out


def test_good_base_is_valid() -> None:
    assert load_zone(GOOD).origin == "example.com."


def test_two_files_with_one_origin() -> None:
    dup = FIXTURES / "bad-duplicate-origin.yaml"
    assert _problems(GOOD, dup) == [
        Problem(str(dup), 2, 7, f"zone example.com. is also defined in {GOOD}")
    ]


def test_problems_from_every_file_at_once(tmp_path: Path) -> None:
    a = FIXTURES / "bad-glue.yaml"
    b = FIXTURES / "bad-latitude.yaml"
    problems = _problems(b, a)
    assert [(p.file, p.line) for p in problems] == [(str(a), 15), (str(b), 17)]


def test_every_problem_in_one_file_at_once(tmp_path: Path) -> None:
    reasons = _reasons(
        tmp_path,
        "  a: {A: 192.0.2.999, TXT: ok}\n  b: {MX: '10 a', CNAME: c}\n  c.x.: {A: 192.0.2.1}\n",
    )
    assert reasons == [
        "invalid address '192.0.2.999' in A record",
        "CNAME at b.example.com. cannot coexist with other data (MX)",
        "'c.x.' is outside zone example.com.",
    ]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert _problems(missing) == [Problem(str(missing), 1, 1, "no such file or directory")]
    assert _problems(tmp_path) == [
        Problem(str(tmp_path), 1, 1, "no *.yaml zone files in directory")
    ]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"zone: caf\xe9.example\n")
    (problem,) = _problems(path)
    assert (problem.line, problem.col) == (1, 1)
    assert problem.reason.startswith("cannot read file: ")


def test_load_zone_raises_config_error_with_text(tmp_path: Path) -> None:
    path = FIXTURES / "bad-glue.yaml"
    with pytest.raises(ConfigError, match=r"bad-glue.yaml:15:13: NS target"):
        load_zone(path)


def test_yml_files_in_directories_are_read(tmp_path: Path) -> None:
    (tmp_path / "b.yml").write_text(GOOD.read_text())
    (tmp_path / "notes.txt").write_text("not a zone")
    assert [z.origin for z in load_zones([tmp_path])] == ["example.com."]


# --------------------------------------------------------------------------- countries


def test_country_table() -> None:
    assert len(COUNTRY_CONTINENT) >= 249
    assert set(COUNTRY_CONTINENT.values()) == CONTINENTS
    assert (COUNTRY_CONTINENT["DE"], COUNTRY_CONTINENT["JP"], COUNTRY_CONTINENT["AQ"]) == (
        "EU",
        "AS",
        "AN",
    )
    assert all(len(c) == 2 and c.isupper() for c in COUNTRY_CONTINENT)


# --------------------------------------------------------------------------- gslb check


def test_check_ok(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ZONES)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "ok: 2.0.192.in-addr.arpa. serial 2026112701, 6 records, 0 gslb names",
        "ok: example.com. serial 2026112701, 50 records, 1 gslb name",
    ]


def test_check_defaults_to_zones_directory(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    assert main(["check"]) == 0
    assert "ok: example.com." in capsys.readouterr().out


def test_check_reports_problems(capsys: pytest.CaptureFixture[str]) -> None:
    glue = FIXTURES / "bad-glue.yaml"
    lat = FIXTURES / "bad-latitude.yaml"
    assert main(["check", str(glue), str(lat)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"{glue}:15:13: NS target ns1.lab.example.com. needs glue (an A or AAAA record)",
        f"{lat}:17:16: latitude 98.95 out of range -90..90",
    ]
