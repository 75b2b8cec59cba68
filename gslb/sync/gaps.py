"""What Route 53 cannot express about a GSLB name, each with its reason. Pure.

These are the warnings of ``gslb sync`` (``--strict`` makes them errors) that come from
the name's policy itself; the record builder adds those that come from its records
(families, subdivisions, health checks).
"""

from __future__ import annotations

from collections.abc import Sequence

from gslb.model import GslbName
from gslb.sync.records import Notice

__all__ = ["gaps"]


def gaps(name: GslbName, latency_sets: Sequence[str]) -> list[Notice]:
    """The notices for ``name``; ``latency_sets`` are its helper sets of two or more regions."""
    n = name.name
    out: list[Notice] = []
    if latency_sets:
        out.append(
            Notice(
                "latency",
                n,
                f"Route 53 orders {', '.join(latency_sets)} by latency measured to the resolver, "
                "gslb by distance to the client (ECS subnet or resolver): answers can differ "
                "(--verify estimates where)",
            )
        )
        if name.default_location is not None:
            default = f"are ordered by distance from {name.default_location}"
        else:
            first = name.default_order[0] if name.default_order else name.regions[0].name
            default = f"get its default order ({first} first)"
        out.append(
            Notice(
                "default",
                n,
                f"clients gslb cannot locate {default}; Route 53 locates every resolver and "
                "answers it by latency",
            )
        )
    shared: dict[str, list[str]] = {}
    for r in name.regions:
        if r.aws_region is not None:
            shared.setdefault(r.aws_region, []).append(r.name)
    for aws, regions in sorted(shared.items()):
        if len(regions) > 1:
            out.append(
                Notice(
                    "latency",
                    n,
                    f"{' and '.join(regions)} share aws-region {aws}: Route 53 latency cannot "
                    "tell them apart",
                )
            )
    if any(
        e.health is not None and e.health.load is not None
        for r in name.regions
        for e in r.endpoints
    ):
        out.append(
            Notice(
                "spill",
                n,
                f"load spill ({name.spill.low:g}-{name.spill.high:g}) cannot be expressed: "
                "Route 53 has no load input, an overloaded region keeps its clients",
            )
        )
    if name.pick.count > 0:
        out.append(
            Notice(
                "pick",
                n,
                f"pick count {name.pick.count}: Route 53 answers every address of the region",
            )
        )
    if name.pick.second_region:
        out.append(
            Notice("pick", n, "pick second-region: Route 53 answers from one region per query")
        )
    if name.degraded_ttl != name.ttl:
        out.append(
            Notice(
                "degraded-ttl",
                n,
                f"Route 53 answers failover and fail-open with the name's TTL ({name.ttl} s); "
                f"gslb shortens it to degraded-ttl ({name.degraded_ttl} s)",
            )
        )
    for fence in name.fences:
        if fence.all_down != "fail-open":
            out.append(
                Notice(
                    "all-down",
                    n,
                    f"fence {fence.name} all-down {fence.all_down} cannot be expressed: when every "
                    "region of the set is unhealthy Route 53 answers from all of them (fail-open)",
                )
            )
    matches = [(f"fence {f.name}", f.match) for f in name.fences]
    matches += [(f"rule {i}", r.match) for i, r in enumerate(name.rules, 1)]
    for what, match in matches:
        if match.networks:
            nets = ", ".join(str(x) for x in match.networks)
            out.append(
                Notice(
                    "cidr",
                    n,
                    f"{what} matches networks ({nets}): Route 53 geolocation cannot match "
                    "networks, those clients are answered by their location",
                )
            )
    return out
