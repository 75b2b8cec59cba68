"""``GET /metrics``: Prometheus text format, summed over every worker process.

Queries are counted on the query path as plain integers per thread
(:mod:`gslb.dns.counters`); each worker reports its sums to the supervisor every second
and the supervisor adds them up here, at scrape time, together with what only it knows
(probes, overrides, reloads). A worker that died keeps its last counts in the totals,
so counters never go backwards. Names follow Prometheus conventions: ``gslb_`` prefix,
base units in names, ``_total`` counters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

__all__ = [
    "BUCKETS",
    "CONTENT_TYPE",
    "MetricsSource",
    "probe_metrics",
    "render",
    "retire",
    "sum_stats",
]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # probe seconds

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsSource(Protocol):
    def worker_stats(self) -> list[dict[str, Any]]: ...

    def supervisor_metrics(self) -> dict[str, Any]: ...


def sum_stats(stats: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Worker reports added up: query counters by label, listeners, TCP, RRL, geo."""
    queries: dict[tuple[Any, ...], int] = {}
    tcp: dict[str, int] = {}
    rrl = {"dropped": 0, "slipped": 0}
    listeners = {"drops": 0, "restarts": 0, "unsent": 0}
    geo: dict[str, Any] = {}
    lookup_errors = 0
    for s in stats:
        for row in s.get("queries", ()):
            key = tuple(row[:-1])
            queries[key] = queries.get(key, 0) + int(row[-1])
        for k, v in (s.get("tcp") or {}).items():
            tcp[k] = tcp.get(k, 0) + int(v)
        for k in rrl:
            rrl[k] += int((s.get("rrl") or {}).get(k, 0))
        for h in s.get("listeners", ()):
            listeners["drops"] += int(h.get("drops") or 0)
            listeners["restarts"] += int(h.get("restarts") or 0)
            listeners["unsent"] += int(h.get("unsent") or 0)
        if s.get("geo"):
            lookup_errors += int(s["geo"].get("lookup_errors", 0))
            if "path" in s["geo"]:
                geo = s["geo"]
    return {"queries": queries, "tcp": tcp, "rrl": rrl, "listeners": listeners, "geo": geo,
            "lookup_errors": lookup_errors}  # fmt: skip


def probe_metrics(
    status: Mapping[str, Any],
    results: Any,
    latency_counts: Mapping[Any, Sequence[float]],
) -> dict[str, Any]:
    """The live book's status and the probe tallies as the gauges /metrics exports:
    endpoint and region up (1) or not, load and staleness, overrides in force, and the
    probe latency histogram (per key: bucket counts, then the +Inf count and the sum)."""
    endpoints: dict[tuple[str, str, str], int] = {}
    regions: dict[tuple[str, str], int] = {}
    load: dict[tuple[str, str], tuple[float | None, bool]] = {}
    overrides: list[tuple[str, str, str, str]] = []
    for r in status.get("regions", ()):
        rkey = (r["zone"], r["name"])
        regions[rkey] = 1 if r["state"] in ("up", "degraded") else 0
        load[rkey] = (r.get("load"), bool(r.get("load_stale")))
        if r.get("override"):
            overrides.append((*rkey, "", r["override"]))
        for e in r.get("endpoints", ()):
            endpoints[(*rkey, e["address"])] = 1 if e["state"] == "up" else 0
            if e.get("override"):
                overrides.append((*rkey, e["address"], e["override"]))
    latency = {
        key: (
            [(str(b), c) for b, c in zip(BUCKETS, counts, strict=False)] + [("+Inf", counts[-2])],
            counts[-1],
        )  # fmt: skip
        for key, counts in latency_counts.items()
    }
    return {"results": results, "latency": latency, "endpoints": endpoints,
            "regions": regions, "load": load, "overrides": overrides}  # fmt: skip


def retire(earlier: Mapping[str, Any] | None, last: Mapping[str, Any]) -> dict[str, Any]:
    """The counters of a worker process that died, added to those of the ones before
    it, so totals never go backwards and a worker restarting forever costs one entry.
    Gauges (open TCP connections) and descriptions (which geo file) are left out."""
    total = sum_stats([s for s in (earlier, last) if s])
    tcp = {k: v for k, v in total["tcp"].items() if k != "open"}
    return {
        "queries": [[*k, v] for k, v in total["queries"].items()],
        "tcp": tcp,
        "rrl": total["rrl"],
        "listeners": [total["listeners"]],
        "geo": {"lookup_errors": total["lookup_errors"]},
    }


def _dns(total: Mapping[str, Any]) -> Iterator[Metric]:
    queries = CounterMetricFamily(
        "gslb_dns_queries", "DNS queries answered, by transport, query type and rcode",
        labels=["transport", "qtype", "rcode"],
    )  # fmt: skip
    answers = CounterMetricFamily(
        "gslb_dns_answers", "GSLB answers, by name, first region answered and why",
        labels=["name", "region", "reason"],
    )  # fmt: skip
    ecs = CounterMetricFamily(
        "gslb_dns_ecs_queries", "queries with and without an EDNS client subnet option",
        labels=["transport", "ecs"],
    )  # fmt: skip
    truncated = CounterMetricFamily(
        "gslb_dns_truncated", "replies sent with TC (too big for UDP)", labels=["transport"]
    )
    dropped = CounterMetricFamily(
        "gslb_dns_dropped", "queries not answered, by why", labels=["transport", "reason"]
    )
    by: dict[str, dict[tuple[str, ...], int]] = {"q": {}, "a": {}, "e": {}, "t": {}, "d": {}}

    def add(table: str, key: tuple[str, ...], n: int) -> None:
        by[table][key] = by[table].get(key, 0) + n

    for (transport, qtype, rcode, has_ecs, is_tc, name, region, reason), n in total[
        "queries"
    ].items():
        if rcode == "dropped":
            add("d", (transport, "malformed"), n)
            continue
        add("q", (transport, qtype, rcode), n)
        add("e", (transport, "present" if has_ecs else "absent"), n)
        if is_tc:
            add("t", (transport,), n)
        if name:
            add("a", (name, region, reason), n)
    for key, n in by["q"].items():
        queries.add_metric(list(key), n)
    for key, n in by["a"].items():
        answers.add_metric(list(key), n)
    for key, n in by["e"].items():
        ecs.add_metric(list(key), n)
    for key, n in by["t"].items():
        truncated.add_metric(list(key), n)
    add("d", ("udp", "rate-limit"), total["rrl"]["dropped"])
    add("d", ("udp", "receive-queue-full"), total["listeners"]["drops"])
    add("d", ("udp", "send-queue-full"), total["listeners"]["unsent"])
    for key, n in by["d"].items():
        dropped.add_metric(list(key), n)
    yield from (queries, answers, ecs, truncated, dropped)
    slipped = CounterMetricFamily(
        "gslb_dns_rrl_slipped", "rate-limited replies sent truncated instead of dropped"
    )
    slipped.add_metric([], total["rrl"]["slipped"])
    yield slipped
    tcp = total["tcp"]
    open_ = GaugeMetricFamily("gslb_dns_tcp_connections", "TCP connections open")
    open_.add_metric([], tcp.get("open", 0))
    accepted = CounterMetricFamily("gslb_dns_tcp_accepted", "TCP connections accepted")
    accepted.add_metric([], tcp.get("accepted", 0))
    closed = CounterMetricFamily(
        "gslb_dns_tcp_closed", "TCP connections closed or refused by a limit", labels=["reason"]
    )
    for reason in ("refused_per_client", "closed_per_client", "evicted_idle", "evicted_busy",
                   "idle_timeouts", "message_timeouts", "query_limit", "slow_readers"):  # fmt: skip
        closed.add_metric([reason.replace("_", "-")], tcp.get(reason, 0))
    restarts = CounterMetricFamily(
        "gslb_dns_udp_thread_restarts", "UDP batch threads that failed and were restarted"
    )
    restarts.add_metric([], total["listeners"]["restarts"])
    yield from (open_, accepted, closed, restarts)


def _supervisor(data: Mapping[str, Any], total: Mapping[str, Any]) -> Iterator[Metric]:
    reloads = CounterMetricFamily("gslb_reloads", "zone reloads by outcome", labels=["result"])
    for result, n in data.get("reloads", {}).items():
        reloads.add_metric([result], n)
    serial = GaugeMetricFamily("gslb_zone_serial", "SOA serial being served", labels=["zone"])
    for zone, value in data.get("serials", {}).items():
        serial.add_metric([zone], value)
    load_time = GaugeMetricFamily(
        "gslb_config_load_seconds", "time the last zone load and table compile took"
    )
    load_time.add_metric([], data.get("compile_seconds", 0.0))
    workers = GaugeMetricFamily("gslb_workers", "DNS worker processes", labels=["state"])
    for state, n in data.get("workers", {}).items():
        workers.add_metric([state], n)
    yield from (reloads, serial, load_time, workers)
    geo = total.get("geo") or {}
    if geo:
        built = GaugeMetricFamily(
            "gslb_geo_database_build_timestamp_seconds", "when the geo database was built",
            labels=["path", "type"],
        )  # fmt: skip
        built.add_metric([geo["path"], geo["type"]], data.get("geo_built", 0))
        nodes = GaugeMetricFamily("gslb_geo_database_nodes", "search tree nodes of the database")
        nodes.add_metric([], geo.get("nodes", 0))
        errors = CounterMetricFamily(
            "gslb_geo_lookup_errors", "lookups that failed at query time (answered as fenced)"
        )
        errors.add_metric([], total.get("lookup_errors", 0))
        yield from (built, nodes, errors)
    yield from _probes(data.get("probes") or {})


def _probes(data: Mapping[str, Any]) -> Iterator[Metric]:
    results = CounterMetricFamily(
        "gslb_probe_results", "health probe results", labels=["zone", "region", "endpoint",
                                                              "result"],
    )  # fmt: skip
    for (zone, region, endpoint, result), n in data.get("results", {}).items():
        results.add_metric([zone, region, endpoint, result], n)
    latency = HistogramMetricFamily(
        "gslb_probe_duration_seconds", "health probe latency", labels=["zone", "region"]
    )
    for (zone, region), (buckets, total) in data.get("latency", {}).items():
        latency.add_metric([zone, region], buckets, total)
    endpoint_up = GaugeMetricFamily(
        "gslb_endpoint_up", "1 when an endpoint is up (probes and overrides)",
        labels=["zone", "region", "endpoint"],
    )  # fmt: skip
    for key, up in data.get("endpoints", {}).items():
        endpoint_up.add_metric(list(key), up)
    region_up = GaugeMetricFamily(
        "gslb_region_up", "1 when a region can be answered from", labels=["zone", "region"]
    )
    for key, up in data.get("regions", {}).items():
        region_up.add_metric(list(key), up)
    load = GaugeMetricFamily("gslb_region_load", "region load, 0..1", labels=["zone", "region"])
    stale = GaugeMetricFamily(
        "gslb_region_load_stale", "1 when the last load reading is too old to use",
        labels=["zone", "region"],
    )  # fmt: skip
    for key, (value, is_stale) in data.get("load", {}).items():
        if value is not None:
            load.add_metric(list(key), value)
        stale.add_metric(list(key), 1 if is_stale else 0)
    overrides = GaugeMetricFamily(
        "gslb_overrides", "operator overrides in force", labels=["zone", "region", "endpoint",
                                                                  "state"],
    )  # fmt: skip
    for key in data.get("overrides", ()):
        overrides.add_metric(list(key), 1)
    yield from (results, latency, endpoint_up, region_up, load, stale, overrides)


class _Collector:
    def __init__(self, source: MetricsSource) -> None:
        self.source = source

    def collect(self) -> Iterator[Metric]:
        total = sum_stats(self.source.worker_stats())
        yield from _dns(total)
        yield from _supervisor(self.source.supervisor_metrics(), total)


def render(source: MetricsSource) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(source))
    data: bytes = generate_latest(registry)
    return data
