"""Correctness before speed: a fast wrong server must not win.

Each server answers a fixed set of questions (known places → expected region, static
names, NXDOMAIN, REFUSED); then a sample of world queries goes to every server and
their answers (rcode and the RRsets owned by the query name) are compared.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from ipaddress import ip_network
from pathlib import Path
from typing import Any

from benchmarks import gdnsd as gdnsd_config
from benchmarks import world
from benchmarks.servers import HOST, BenchFailure, Server

log = logging.getLogger("bench")

SINGLE_ECS = "71.163.0.0/24"  # Washington, D.C. → us-east on both servers

#: (ECS source or None for the loopback resolver, qtype, expected region, why).
GEO_CHECKS: tuple[tuple[str | None, str, str, str], ...] = (
    ("71.163.0.0/24", "A", "us-east", "Washington DC"),
    ("8.8.8.0/24", "A", "us-west", "Mountain View"),
    ("62.40.0.0/24", "A", "eu-central", "Cologne DE, EU/EEA fence"),
    ("2a01:4f8::/56", "AAAA", "eu-central", "Germany IPv6, EU/EEA fence"),
    ("87.32.0.0/24", "A", "eu-west", "Dublin IE, EU/EEA fence"),
    ("81.2.69.0/24", "A", "eu-west", "London GB, nearest (not fenced)"),
    ("133.242.0.0/24", "A", "ap-northeast", "Osaka JP, rule"),
    ("2001:240::/56", "AAAA", "ap-northeast", "Tokyo JP IPv6, rule"),
    ("201.6.0.0/24", "A", "sa-east", "Sao Paulo BR"),
    (None, "A", "us-east", "no ECS: loopback has no location, default order"),
)


def static_checks(origin: str) -> tuple[tuple[str, str, str, set[str], bool], ...]:
    """(name, qtype, rcode, owned RRs, whether those RRs need only be a subset)."""
    api = f"api.{origin}"
    return (
        (f"www.{origin}", "A", "NOERROR", {f"CNAME {api}."}, True),
        (f"mail.{origin}", "A", "NOERROR", {"A 192.0.2.25"}, False),
        (f"anything.dev.{origin}", "A", "NOERROR", {"A 192.0.2.80"}, False),
        (f"nx-nothing.{origin}", "A", "NXDOMAIN", set(), False),
        ("www.example.net", "A", "REFUSED", set(), False),
    )


def zone_addresses(zone_path: Path) -> dict[str, dict[str, set[str]]]:
    """region → {"A": {...}, "AAAA": {...}} from the zone YAML."""
    zone = gdnsd_config.load_zone(zone_path)
    return {
        r.name: {"A": set(r.v4), "AAAA": set(r.v6)} for r in gdnsd_config.regions(zone).values()
    }


def owned(msg: Any, name: str) -> set[str]:
    """``TYPE rdata`` of every record in the answer owned by ``name``."""
    import dns.name
    import dns.rdatatype

    qname = dns.name.from_text(name)
    return {
        f"{dns.rdatatype.to_text(rr.rdtype)} {rd.to_text().lower()}"
        for rr in msg.answer
        if rr.name == qname
        for rd in rr
    }


def ask(port: int, name: str, qtype: str, ecs: str | None) -> tuple[str, set[str]]:
    """rcode and the rdata (``TYPE value``) of the RRsets owned by ``name``."""
    import dns.edns
    import dns.message
    import dns.query
    import dns.rcode

    options: list[dns.edns.Option] = []
    if ecs is not None:
        net = ip_network(ecs)
        options.append(dns.edns.ECSOption(str(net.network_address), net.prefixlen))
    q = dns.message.make_query(name, qtype, use_edns=0 if options else None, options=options)
    r = dns.query.udp(q, HOST, port=port, timeout=2)
    return dns.rcode.to_text(r.rcode()), owned(r, name)


def check_answers(server: Server, zone_path: Path, origin: str) -> list[str]:
    """Problems with a few known answers; empty when the server answers right."""
    addrs = zone_addresses(zone_path)
    problems = []
    api = f"api.{origin}"
    for ecs, qtype, region, why in GEO_CHECKS:
        want = {f"{qtype} {a}" for a in addrs[region][qtype]}
        try:
            rcode, got = ask(server.port, api, qtype, ecs)
        except Exception as exc:  # noqa: BLE001 - reported, not hidden
            problems.append(f"{api} {qtype} ECS {ecs}: no answer ({exc})")
            continue
        if rcode != "NOERROR" or got != want:
            problems.append(
                f"{api} {qtype} ECS {ecs} ({why}): want {region} {sorted(want)}, "
                f"got {rcode} {sorted(got)}"
            )
    for name, qtype, rcode_want, want, subset in static_checks(origin):
        try:
            rcode, got = ask(server.port, name, qtype, SINGLE_ECS)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"{name} {qtype}: no answer ({exc})")
            continue
        ok = rcode == rcode_want and (want <= got if subset else want == got)
        if not ok:
            problems.append(
                f"{name} {qtype}: want {rcode_want} {sorted(want)}, got {rcode} {sorted(got)}"
            )
    return problems


def compare_world(servers: Sequence[Server], datafile: Path, sample: int) -> dict[str, Any]:
    """Ask every server the first ``sample`` world queries; count identical answers."""
    import dns.message
    import dns.query
    import dns.rcode

    messages = world.read_datafile(datafile)[:sample]
    same, diffs = 0, list[dict[str, Any]]()
    for wire in messages:
        q = dns.message.from_wire(wire)
        answers = []
        for s in servers:
            try:
                r = dns.query.udp(q, HOST, port=s.port, timeout=2)
                answers.append(
                    (dns.rcode.to_text(r.rcode()), sorted(owned(r, q.question[0].name.to_text())))
                )
            except Exception as exc:  # noqa: BLE001
                answers.append(("ERROR", [str(exc)]))
        if all(a == answers[0] for a in answers):
            same += 1
        elif len(diffs) < 10:
            ecs = next(
                (str(o.address) + "/" + str(o.srclen) for o in q.options if o.otype == 8), "-"
            )
            diffs.append(
                {
                    "query": q.question[0].to_text(),
                    "ecs": ecs,
                    **{s.name: a for s, a in zip(servers, answers, strict=True)},
                }
            )
    return {
        "sample": len(messages),
        "identical": same,
        "agreement": same / max(1, len(messages)),
        "examples": diffs,
    }


def verify(
    servers: Sequence[Server],
    zone_path: Path,
    origin: str,
    world_file: Path,
    sample: int,
    min_agreement: float,
) -> dict[str, Any]:
    """Check every server, then their agreement; BenchFailure when one must not be timed.

    Returns ``{"checks": {server: problems}, "agreement": {...}}`` (agreement only with
    more than one server).
    """
    out: dict[str, Any] = {"checks": {}}
    for s in servers:
        problems = check_answers(s, zone_path, origin)
        out["checks"][s.name] = problems
        if problems:
            raise BenchFailure(
                f"{s.name} answers wrong; refusing to time it:\n  " + "\n  ".join(problems)
            )
        log.info("%s: %d correctness checks passed", s.name, len(GEO_CHECKS) + 5)
    if len(servers) > 1:
        agree = compare_world(servers, world_file, sample)
        out["agreement"] = agree
        log.info("world sample agreement: %d/%d identical", agree["identical"], agree["sample"])
        if agree["agreement"] < min_agreement:
            raise BenchFailure(
                f"servers disagree on {1 - agree['agreement']:.1%} of the world "
                f"sample (> {1 - min_agreement:.0%}):\n" + json.dumps(agree["examples"], indent=1)
            )
    return out
