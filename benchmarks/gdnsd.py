"""Generate a gdnsd 3.x configuration equivalent to a gslb zone file, for side-by-side runs.

The peer must answer the same questions the same way, otherwise a benchmark compares
two different jobs. We translate the zone YAML directly (PyYAML, not gslb.config, so the
harness does not depend on the code it measures):

* static records become an RFC 1035 zone file (CAA in RFC 3597 generic form, since gdnsd
  has no presentation format for it);
* each ``gslb:`` name becomes ``DYNA geoip!<name>``: a geoip map in city-auto mode
  (``auto_dc_coords`` = the regions' coordinates, nearest first), the default order for
  clients without a location (the ``datacenters`` list), explicit ``map`` entries for the
  rules (their fixed order) and for fenced countries (only the fence's regions, ordered
  by distance from the country's capital: gdnsd cannot order by distance inside a subset,
  so a few cities far from their capital may differ from gslb);
* each region is a datacentre whose ``dcmap`` entry is a synthesized multifo resource
  with ``addrs_v4``/``addrs_v6`` and no monitoring (``up``), like gslb without probes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_address, ip_network
from pathlib import Path
from typing import Any

import yaml

#: continent and capital of each country a rule or fence may name: gdnsd's map is keyed
#: continent → country, and ordering a fence's subset needs one point per country.
COUNTRIES: Mapping[str, tuple[str, float, float]] = {
    "AT": ("EU", 48.21, 16.37), "BE": ("EU", 50.85, 4.35), "BG": ("EU", 42.70, 23.32),
    "HR": ("EU", 45.81, 15.98), "CY": ("EU", 35.17, 33.36), "CZ": ("EU", 50.08, 14.44),
    "DK": ("EU", 55.68, 12.57), "EE": ("EU", 59.44, 24.75), "FI": ("EU", 60.17, 24.94),
    "FR": ("EU", 48.86, 2.35), "DE": ("EU", 52.52, 13.40), "GR": ("EU", 37.98, 23.73),
    "HU": ("EU", 47.50, 19.04), "IE": ("EU", 53.35, -6.26), "IT": ("EU", 41.90, 12.50),
    "LV": ("EU", 56.95, 24.11), "LT": ("EU", 54.69, 25.28), "LU": ("EU", 49.61, 6.13),
    "MT": ("EU", 35.90, 14.51), "NL": ("EU", 52.37, 4.90), "PL": ("EU", 52.23, 21.01),
    "PT": ("EU", 38.72, -9.14), "RO": ("EU", 44.43, 26.10), "SK": ("EU", 48.15, 17.11),
    "SI": ("EU", 46.06, 14.51), "ES": ("EU", 40.42, -3.70), "SE": ("EU", 59.33, 18.07),
    "IS": ("EU", 64.15, -21.94), "LI": ("EU", 47.14, 9.52), "NO": ("EU", 59.91, 10.75),
    "GB": ("EU", 51.51, -0.13), "CH": ("EU", 46.95, 7.45), "JP": ("AS", 35.68, 139.69),
    "KR": ("AS", 37.57, 126.98), "CN": ("AS", 39.90, 116.41), "IN": ("AS", 28.61, 77.21),
    "SG": ("AS", 1.35, 103.82), "US": ("NA", 38.90, -77.04), "CA": ("NA", 45.42, -75.70),
    "MX": ("NA", 19.43, -99.13), "BR": ("SA", -15.79, -47.88), "AR": ("SA", -34.60, -58.38),
    "AU": ("OC", -35.28, 149.13), "NZ": ("OC", -41.29, 174.78), "ZA": ("AF", -25.75, 28.19),
}  # fmt: skip

CONTINENTS = frozenset({"AF", "AN", "AS", "EU", "NA", "OC", "SA"})


@dataclass(frozen=True, slots=True)
class Region:
    name: str
    lat: float
    lon: float
    v4: tuple[str, ...]
    v6: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GeoName:
    """One gslb name as gdnsd needs it: owner label, TTLs, regions, fixed orders."""

    label: str
    ttl: int
    degraded_ttl: int
    regions: tuple[Region, ...]  # in the default (no-location) order
    countries: Mapping[str, tuple[str, ...]]  # country → fixed order (rules, fences)
    continents: Mapping[str, tuple[str, ...]]
    nets: Mapping[str, tuple[str, ...]]


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


class _Loader(yaml.SafeLoader):  # type: ignore[misc,unused-ignore]
    """YAML 1.2 booleans: only true/false, so Norway (``NO``) stays a country code."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def load_zone(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as f:
        data: dict[str, Any] = yaml.load(f, Loader=_Loader)  # noqa: S506 - safe subclass
    return data


def regions(zone: Mapping[str, Any]) -> dict[str, Region]:
    out: dict[str, Region] = {}
    for name, spec in (zone.get("regions") or {}).items():
        addrs = [str(a if not isinstance(a, dict) else a["address"]) for a in spec["endpoints"]]
        v4 = tuple(a for a in addrs if ip_address(a).version == 4)
        v6 = tuple(a for a in addrs if ip_address(a).version == 6)
        lat, lon = spec["location"]
        out[name] = Region(name, float(lat), float(lon), v4, v6)
    return out


def _nearest(
    point: tuple[float, float], names: Sequence[str], regions: Mapping[str, Region]
) -> tuple[str, ...]:
    return tuple(sorted(names, key=lambda n: haversine_km(*point, regions[n].lat, regions[n].lon)))


def geo_names(zone: Mapping[str, Any]) -> list[GeoName]:
    """The zone's ``gslb:`` names with every rule and fence flattened to fixed orders."""
    by_name = regions(zone)
    zone_fences = list((zone.get("fences") or {}).values())
    out: list[GeoName] = []
    for label, spec in (zone.get("gslb") or {}).items():
        names: list[str] = list(spec.get("regions") or by_name)
        default = list((spec.get("default") or {}).get("regions") or names)
        default += [n for n in names if n not in default]
        fences = zone_fences + list((spec.get("fences") or {}).values())
        rules = list(spec.get("rules") or [])

        def fence_of(
            country: str, continent: str, fences: list[Any] = fences, names: list[str] = names
        ) -> set[str]:
            allowed = set(names)
            for fence in fences:
                c = fence.get("clients") or {}
                if country in (c.get("countries") or []) or continent in (
                    c.get("continents") or []
                ):
                    allowed &= set(fence["regions"])
            return allowed

        countries: dict[str, tuple[str, ...]] = {}
        wanted = {cc for f in fences for cc in (f.get("clients") or {}).get("countries") or []}
        wanted |= {cc for r in rules for cc in (r.get("clients") or {}).get("countries") or []}
        for cc in sorted(wanted):
            if cc not in COUNTRIES:
                raise ValueError(f"country {cc}: add its continent and capital to COUNTRIES")
            continent, lat, lon = COUNTRIES[cc]
            allowed = fence_of(cc, continent)
            order: tuple[str, ...] | None = None
            for rule in rules:
                c = rule.get("clients") or {}
                if cc in (c.get("countries") or []) or continent in (c.get("continents") or []):
                    order = tuple(r for r in rule["regions"] if r in allowed)
                    break
            if order is None:
                order = _nearest((lat, lon), [n for n in names if n in allowed], by_name)
            countries[cc] = order
        continents: dict[str, tuple[str, ...]] = {}
        for rule in rules:
            for cont in (rule.get("clients") or {}).get("continents") or []:
                continents.setdefault(cont, tuple(rule["regions"]))
        nets: dict[str, tuple[str, ...]] = {}
        for rule in rules:
            for net in (rule.get("clients") or {}).get("networks") or []:
                nets.setdefault(str(ip_network(net)), tuple(rule["regions"]))
        out.append(
            GeoName(
                label=label,
                ttl=int(spec.get("ttl", zone.get("ttl", 3600))),
                degraded_ttl=int(spec.get("degraded-ttl", spec.get("ttl", 30))),
                regions=tuple(by_name[n] for n in default),
                countries=countries,
                continents=continents,
                nets=nets,
            )
        )
    return out


# --------------------------------------------------------------------------- zone file


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _caa_generic(value: str) -> str:
    flags, tag, rest = value.split(None, 2)
    data = rest.strip().strip('"').encode()
    raw = bytes([int(flags), len(tag)]) + tag.encode() + data
    return f"\\# {len(raw)} {raw.hex()}"


def _rrs(owner: str, rtype: str, spec: Any) -> list[str]:
    ttl = ""
    values: Any = spec
    if isinstance(spec, dict):
        ttl = str(spec.get("ttl", ""))
        values = spec["values"]
    if not isinstance(values, list):
        values = [values]
    lines = []
    for v in values:
        text = str(v)
        if rtype == "TXT":
            rdata, rt = _quote(text), "TXT"
        elif rtype == "CAA":
            rdata, rt = _caa_generic(text), "TYPE257"
        else:
            rdata, rt = text, rtype
        lines.append(f"{owner}\t{ttl}\t{rt}\t{rdata}".replace("\t\t", "\t"))
    return lines


def zonefile(zone: Mapping[str, Any], names: Sequence[GeoName]) -> str:
    soa = zone["soa"]
    lines = [
        f"; generated from the gslb zone {zone['zone']} by benchmarks/gdnsd.py",
        f"$TTL {int(zone.get('ttl', 3600))}",
        f"@\tSOA\t{soa['mname']} {soa['rname']} {soa['serial']} {soa['refresh']} "
        f"{soa['retry']} {soa['expire']} {soa['minimum']}",
    ]
    lines += [f"@\tNS\t{ns}" for ns in zone.get("ns") or []]
    for owner, rrsets in (zone.get("records") or {}).items():
        for rtype, spec in rrsets.items():
            lines += _rrs(str(owner), str(rtype).upper(), spec)
    for name in names:
        lines.append(f"{name.label}\t{name.ttl}/{name.degraded_ttl}\tDYNA\tgeoip!{name.label}")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- config


def _list(items: Sequence[str]) -> str:
    return "[ " + ", ".join(items) + " ]"


def _map_stanza(name: GeoName) -> list[str]:
    by_cont: dict[str, dict[str, tuple[str, ...]]] = {}
    for cc, order in name.countries.items():
        by_cont.setdefault(COUNTRIES[cc][0], {})[cc] = order
    lines = ["        map => {"]
    for cont in sorted(set(by_cont) | set(name.continents)):
        lines.append(f"          {cont} => {{")
        if cont in name.continents:
            lines.append(f"            default => {_list(name.continents[cont])}")
        for cc, order in sorted(by_cont.get(cont, {}).items()):
            lines.append(f"            {cc} => {_list(order)}")
        lines.append("          }")
    lines.append("        }")
    return lines


def config(
    names: Sequence[GeoName],
    mmdb: Path,
    listen: str,
    directory: Path,
    threads: int = 2,
    auto_dc_limit: int = 3,
) -> str:
    """The gdnsd ``config`` file: private run/state dirs, one listener, ECS on."""
    out = [
        "# generated by benchmarks/gdnsd.py",
        "options => {",
        f"  listen => [ {listen} ]",
        f"  udp_threads => {threads}",
        f"  tcp_threads => {threads}",
        "  edns_client_subnet => true",
        f"  run_dir => {directory / 'run'}",
        f"  state_dir => {directory / 'state'}",
        "  zones_default_ttl => 3600",
        "}",
        "plugins => {",
        "  geoip => {",
        "    maps => {",
    ]
    for name in names:
        out += [
            f"      map_{name.label} => {{",
            f"        geoip2_db => {mmdb.resolve()}",
            f"        datacenters => {_list([r.name for r in name.regions])}",
            "        auto_dc_coords => {",
            *(f"          {r.name} => [ {r.lat}, {r.lon} ]" for r in name.regions),
            "        }",
            f"        auto_dc_limit => {auto_dc_limit}",
        ]
        if name.countries or name.continents:
            out += _map_stanza(name)
        if name.nets:
            out.append("        nets => {")
            out += [f"          {net} => {_list(order)}" for net, order in name.nets.items()]
            out.append("        }")
        out.append("      }")
    out += ["    }", "    resources => {"]
    for name in names:
        out += [
            f"      {name.label} => {{",
            f"        map => map_{name.label}",
            "        dcmap => {",
        ]
        for r in name.regions:
            fams = []
            if r.v4:
                fams.append(f"addrs_v4 => {_list(r.v4)}")
            if r.v6:
                fams.append(f"addrs_v6 => {_list(r.v6)}")
            out.append(f"          {r.name} => {{ {', '.join(fams)} }}")
        out += ["        }", "      }"]
    out += ["    }", "  }", "}"]
    return "\n".join(out) + "\n"


def write_config_dir(
    zone_path: Path, mmdb: Path, port: int, directory: Path, threads: int = 2
) -> Path:
    """Write ``config`` and ``zones/<origin>`` under ``directory``; return ``directory``."""
    zone = load_zone(zone_path)
    names = geo_names(zone)
    (directory / "zones").mkdir(parents=True, exist_ok=True)
    (directory / "run").mkdir(exist_ok=True)
    (directory / "state").mkdir(exist_ok=True)
    origin = str(zone["zone"]).rstrip(".")
    (directory / "zones" / origin).write_text(zonefile(zone, names), encoding="utf-8")
    (directory / "config").write_text(
        config(names, mmdb, f"127.0.0.1:{port}", directory, threads), encoding="utf-8"
    )
    return directory
