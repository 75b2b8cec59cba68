"""``gslb resolve``: which region a client gets, and why, step by step.

It builds a real DNS query (with ECS when ``--ecs`` is given), parses it with the
server's parser and answers it with the server's ``engine.answer``: the same code
path as a live query, so the explanation cannot drift from what the server does.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import struct
import sys
from collections.abc import Sequence
from ipaddress import ip_address, ip_network
from types import MappingProxyType
from typing import Any

from gslb import defaults
from gslb.config import load_zones
from gslb.config.yamlsource import suggest
from gslb.dns import engine
from gslb.dns.view import ConfigView, View
from gslb.dns.wire import CLASS_IN, ECS_OPTION, EDNS_UDP_SIZE, OPT, parse_query
from gslb.errors import GslbError
from gslb.geo.coverage import unmatchable
from gslb.geo.database import GeoDatabase
from gslb.model import EndpointKey, LiveState, RegionKey, Zone

RCODES = {0: "NOERROR", 2: "SERVFAIL", 3: "NXDOMAIN", 5: "REFUSED"}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "resolve", help="explain the answer a client would get", description=__doc__
    )
    p.add_argument("name", nargs="?", help="name to resolve (default: every GSLB name)")
    p.add_argument("--from", dest="source", required=True, metavar="IP", help="resolver address")
    p.add_argument("--ecs", metavar="CIDR", help="EDNS Client Subnet the resolver sends")
    p.add_argument("--type", default="A", choices=("A", "AAAA"), help="query type (default A)")
    p.add_argument(
        "--down", action="append", default=[], metavar="REGION[/ADDRESS]",
        help="treat a region (or one endpoint) as down (repeatable)",
    )  # fmt: skip
    p.add_argument(
        "--load", action="append", default=[], metavar="REGION=LOAD",
        help="region utilisation 0..1 (repeatable)",
    )  # fmt: skip
    p.add_argument("--zones", action="append", metavar="PATH", help=f"default: {defaults.ZONES}")
    p.add_argument("--geoip", default=defaults.GEOIP, metavar="PATH")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def build_query(name: str, qtype: int, ecs: str | None) -> bytes:
    """A query as a resolver would send it: RD clear, EDNS with ECS when given."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split(".") if p)
    header = struct.pack("!HHHHHH", 0x4753, 0, 1, 0, 0, 1 if ecs else 0)
    out = header + qname + b"\0" + struct.pack("!HH", qtype, CLASS_IN)
    if ecs:
        net = ip_network(ecs, strict=False)
        family = 1 if net.version == 4 else 2
        addr = net.network_address.packed[: (net.prefixlen + 7) // 8]
        option = struct.pack("!HBB", family, net.prefixlen, 0) + addr
        rdata = struct.pack("!HH", ECS_OPTION, len(option)) + option
        out += b"\0" + struct.pack("!HHIH", OPT, EDNS_UDP_SIZE, 0, len(rdata)) + rdata
    return out


def _region_problem(name: str, option: str, zones: Sequence[Zone]) -> str | None:
    if any(name in zone.regions for zone in zones):
        return None
    known = sorted({r for zone in zones for r in zone.regions})
    return f"{option}: no zone defines region '{name}'{suggest(name, known)}"


def parse_state(down: list[str], load: list[str], zones: Sequence[Zone]) -> LiveState:
    """``--down REGION[/ADDRESS]`` and ``--load REGION=LOAD`` as a live state; a region
    name means that region in every zone that defines it.

    Unknown regions and endpoints, and loads that are not numbers in 0..1, are
    rejected: a ValueError naming every problem (one per line, with a "did you mean").
    """
    problems: list[str] = []
    regions: set[RegionKey] = set()
    endpoints: set[EndpointKey] = set()
    for item in down:
        name, slash, text = item.partition("/")
        option = f"--down {item}"
        if (why := _region_problem(name, option, zones)) is not None:
            problems.append(why)
            continue
        if not slash:
            regions.update((zone.origin, name) for zone in zones if name in zone.regions)
            continue
        try:
            address = str(ip_address(text))
        except ValueError:
            problems.append(f"{option}: '{text}' is not an IP address")
            continue
        holders = [z for z in zones if name in z.regions]
        known = sorted({e.text for z in holders for e in z.regions[name].endpoints})
        if address not in known:
            hint = suggest(address, known) or f" (its endpoints: {', '.join(known)})"
            problems.append(f"{option}: {address} is not an endpoint of region '{name}'{hint}")
            continue
        endpoints.update(
            (z.origin, name, address)
            for z in holders
            if any(e.text == address for e in z.regions[name].endpoints)
        )
    loads: dict[RegionKey, float] = {}
    for item in load:
        name, sep, text = item.partition("=")
        option = f"--load {item}"
        if not sep:
            problems.append(f"{option}: not REGION=LOAD (like us-east=0.93)")
            continue
        if (why := _region_problem(name, option, zones)) is not None:
            problems.append(why)
            continue
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 <= value <= 1:  # also rejects nan
            problems.append(f"{option}: load '{text}' must be a number from 0 to 1")
            continue
        loads.update({(zone.origin, name): value for zone in zones if name in zone.regions})
    if problems:
        raise ValueError("\n".join(problems))
    return LiveState(frozenset(regions), frozenset(endpoints), load=MappingProxyType(loads))


def explain(view: Any, name: str, qtype: str, source: str, ecs: str | None) -> dict[str, Any]:
    """One resolution as a JSON-able dict (the documented ``--json`` shape)."""

    query = parse_query(build_query(name, 28 if qtype == "AAAA" else 1, ecs))
    reply = engine.answer(view, query, ip_address(source), explain=True)
    out: dict[str, Any] = {
        "name": query.name,
        "type": qtype,
        "rcode": RCODES.get(reply.rcode, str(reply.rcode)),
        "ecs": ecs,
        "scope": reply.scope if ecs else None,
        "answer": [
            {"name": rr.name, "type": rr.rtype, "ttl": rr.ttl, "address": value}
            if rr.rtype in ("A", "AAAA")
            else {"name": rr.name, "type": rr.rtype, "ttl": rr.ttl, "value": value}
            for rr in reply.answer
            for value in rr.rdatas
        ],
    }
    client = reply.client
    if client is not None:
        loc = client.lookup.location
        out["client"] = {
            "address": str(client.address),
            "source": client.source,
            "prefix": client.source_prefix,
            "network": str(client.lookup.network),
            "location": None
            if loc is None
            else {
                "country": loc.country,
                "continent": loc.continent,
                "subdivision": loc.subdivision,
                "lat": loc.lat,
                "lon": loc.lon,
            },
            "reason": client.lookup.reason,
        }
    decision = reply.decision
    if decision is not None:
        out["decision"] = {
            "outcome": decision.outcome,
            "regions": list(decision.regions),
            "ttl": decision.ttl,
            "degraded": decision.degraded,
        }
        out["trace"] = [
            {
                "step": s.name,
                "kept": list(s.kept),
                "removed": [{"region": r, "why": why} for r, why in s.removed],
                "note": s.note,
            }
            for s in decision.trace
        ]
    return out


def _text(result: dict[str, Any]) -> str:
    lines = [f"{result['name']} {result['type']}"]
    client = result.get("client")
    if client:
        where = "ECS " + str(result["ecs"]) if client["source"] == "ecs" else "resolver address"
        lines.append(f"client   {client['address']} (from {where}), network {client['network']}")
        loc = client["location"]
        if loc is None:
            lines.append(f"location none: {client['reason']}")
        else:
            coords = "unknown" if loc["lat"] is None else f"{loc['lat']:.2f}, {loc['lon']:.2f}"
            lines.append(
                f"location {loc['country'] or '?'} / {loc['continent'] or '?'} at {coords}"
            )
    if "trace" in result:
        lines.append("steps")
        for i, step in enumerate(result["trace"], 1):
            lines.append(f"  {i}. {step['step']:<8} kept {', '.join(step['kept']) or '-'}")
            for removed in step["removed"]:
                lines.append(f"     {'':<8} removed {removed['region']}: {removed['why']}")
            if step["note"]:
                lines.append(f"     {'':<8} {step['note']}")
    scope = f", ECS scope /{result['scope']}" if result["scope"] is not None else ""
    lines.append(f"answer   {result['rcode']}{scope}")
    for rr in result["answer"]:
        value = rr.get("address", rr.get("value"))
        lines.append(f"  {rr['name']} {rr['ttl']} IN {rr['type']} {value}")
    decision = result.get("decision")
    if decision:
        regions = ", ".join(decision["regions"]) or "none"
        extra = " (degraded)" if decision["degraded"] else ""
        lines.append(f"decision {decision['outcome']}: {regions}, ttl {decision['ttl']}{extra}")
    return "\n".join(lines)


#: Exit status per answer: the worst one wins when several names are resolved.
EXIT_CODES = {"NOERROR": 0, "NXDOMAIN": 3, "REFUSED": 4, "SERVFAIL": 5}
EXIT_USAGE, EXIT_CONFIG = 2, 1


def _why_not(name: str, rcode: str, zones: Sequence[Zone]) -> str | None:
    """A sentence for an answer that is not NOERROR: which zone (not) and what was meant."""
    fqdn = name.rstrip(".").lower() + "."
    if rcode == "REFUSED":
        origins = ", ".join(z.origin for z in zones) or "none"
        meant = [n for z in zones for n in z.gslb if n.startswith(fqdn.rstrip(".") + ".")]
        hint = f" (did you mean {meant[0]}?)" if meant else ""
        return f"no loaded zone holds {fqdn} (zones: {origins}){hint}"
    if rcode == "NXDOMAIN":
        zone = max(
            (z for z in zones if z.contains(fqdn)), key=lambda z: len(z.origin), default=None
        )
        if zone is None:
            return f"{fqdn} does not exist"
        cut = -len(zone.origin) - 1
        labels = {n[:cut]: n for n in (*zone.gslb, *zone.rrsets) if n != zone.origin}
        close = difflib.get_close_matches(fqdn[:cut], list(labels), n=1, cutoff=0.6)
        hint = f" (did you mean {labels[close[0]]}?)" if close else ""
        return f"{fqdn} does not exist in zone {zone.origin}{hint}"
    if rcode == "SERVFAIL":
        return f"{fqdn}: the policy answered SERVFAIL (see the all-down step)"
    return None


def run(args: argparse.Namespace) -> int:
    try:
        source = ip_address(args.source)
        if args.ecs:
            ip_network(args.ecs, strict=False)
    except ValueError as e:
        print(f"gslb resolve: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        zones = load_zones(args.zones or [defaults.ZONES])
        geo = GeoDatabase.open(args.geoip)
    except GslbError as e:
        print(f"gslb resolve: {e}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        state = parse_state(args.down, args.load, zones)
    except ValueError as e:
        for line in str(e).splitlines():
            print(f"gslb resolve: {line}", file=sys.stderr)
        return EXIT_USAGE
    for problem in unmatchable(zones, subdivisions=geo.subdivisions, database=str(geo.path)):
        print(f"gslb resolve: warning (gslb serve refuses this): {problem}", file=sys.stderr)
    view = View(ConfigView(zones, geo, compile_all=False), state)
    names = [args.name] if args.name else [n for z in zones for n in sorted(z.gslb)]
    if not names:
        print("gslb resolve: no GSLB names in the loaded zones", file=sys.stderr)
        return EXIT_CONFIG
    results = [explain(view, n, args.type, str(source), args.ecs) for n in names]
    if args.json:
        print(json.dumps(results[0] if args.name else results, indent=2))
    else:
        print("\n\n".join(_text(r) for r in results))
    status = 0
    for result in results:
        why = _why_not(result["name"], result["rcode"], zones)
        if why is not None:
            print(f"gslb resolve: {why}", file=sys.stderr)
        status = max(status, EXIT_CODES.get(result["rcode"], EXIT_CODES["SERVFAIL"]))
    return status
