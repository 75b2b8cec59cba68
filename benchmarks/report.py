"""From runs to the table: medians per mix and target, targets met or missed, markdown.

Input is the JSON-able result of each worker count (``{"workers", "runs", "rss_mb",
...}``, runs as dicts); nothing here measures or prints.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

#: Issue 5 (single CPU, latency, loss) and issue 9 (new networks, cache-hot and looped
#: world against gdnsd, RSS after 1.5M new networks).
TARGETS = {
    "single_cpu_ratio_max": 2.0,
    "single_qps_ratio_min": 0.9,
    "world_qps_ratio_min": 0.9,
    "new_networks_qps_ratio_min": 0.4,
    "new_networks_cpu_us_max": 6.0,
    "latency_avg_ms_max": 1.0,
    "latency_max_ms_max": 20.0,
    "rss_mb_max": 150.0,
}

Result = dict[str, Any]


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def summarize(results: Sequence[Result]) -> list[Result]:
    """One row per (mix, target, workers) over the unlimited runs.

    RSS is each server process's peak since start (``VmHWM``) read after the mix's last
    run: ``rss_mb`` the largest process, ``rss_sum_mb`` all processes together.
    """
    rows = []
    for res in results:
        targets = list(dict.fromkeys(r["target"] for r in res["runs"]))
        for mix in dict.fromkeys(r["mix"] for r in res["runs"]):
            for t in targets:
                rs = [
                    r
                    for r in res["runs"]
                    if r["mix"] == mix and r["target"] == t and r["rate"] is None
                ]
                if not rs:
                    continue
                q = [r["qps"] for r in rs]
                rss = rs[-1].get("rss_mb") or []
                rows.append(
                    {
                        "mix": mix,
                        "target": t,
                        "workers": res["workers"],
                        "runs": len(rs),
                        "qps": _median(q),
                        "qps_min": min(q),
                        "qps_max": max(q),
                        "cpu_us": _median([r["cpu_us_per_query"] for r in rs]),
                        "srv_cpu_pct": _median([r["server_cpu_pct"] for r in rs]),
                        "cli_cpu_pct": _median([r["client_cpu_pct"] for r in rs]),
                        "avg_ms": _median([r["avg_ms"] for r in rs]),
                        "max_ms": max(r["max_ms"] for r in rs),
                        "lost": sum(r["lost"] for r in rs),
                        "rss_list": rss,
                        "rss_mb": max(rss, default=float("nan")),
                        "rss_sum_mb": sum(rss) if rss else float("nan"),
                    }
                )
    return rows


def _fmt(x: float, digits: int = 0) -> str:
    return "n/a" if x != x else f"{x:,.{digits}f}"


def _verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def _ratio_lines(w: int, mix: str, g: Result, p: Result) -> list[str]:
    qr, cr = g["qps"] / p["qps"], g["cpu_us"] / p["cpu_us"]
    lines = [f"- workers {w}, {mix}: gslb/gdnsd QPS **{qr:.2f}x**, CPU/query **{cr:.2f}x**"]
    if mix == "single":
        lines.append(
            f"  - single CPU/query <= {TARGETS['single_cpu_ratio_max']}x "
            f"gdnsd: {_verdict(cr <= TARGETS['single_cpu_ratio_max'])}; "
            f"QPS >= {TARGETS['single_qps_ratio_min']}x: "
            f"{_verdict(qr >= TARGETS['single_qps_ratio_min'])}"
        )
    if mix == "world":
        lines.append(
            f"  - world QPS >= {TARGETS['world_qps_ratio_min']}x gdnsd: "
            f"{_verdict(qr >= TARGETS['world_qps_ratio_min'])}"
        )
    if mix == "new-networks":
        lines.append(
            f"  - new-networks QPS >= {TARGETS['new_networks_qps_ratio_min']}x gdnsd: "
            f"{_verdict(qr >= TARGETS['new_networks_qps_ratio_min'])}; CPU/query <= "
            f"{TARGETS['new_networks_cpu_us_max']:g} us: "
            f"{_verdict(g['cpu_us'] <= TARGETS['new_networks_cpu_us_max'])}"
        )
    return lines


def _rate_line(w: int, r: Result) -> str:
    pct = f"{r['fraction']:.0%} of peak ({r['rate']:,} q/s)"
    if r["fraction"] >= 0.8:
        return f"- workers {w}, {r['mix']} at {pct}: lost {r['lost']} {_verdict(r['lost'] == 0)}"
    ok = r["avg_ms"] < TARGETS["latency_avg_ms_max"] and r["max_ms"] < TARGETS["latency_max_ms_max"]
    return (
        f"- workers {w}, {r['mix']} at {pct}: latency avg {r['avg_ms']:.3f} ms, "
        f"max {r['max_ms']:.1f} ms (< 1 / < 20 ms) {_verdict(ok)}"
    )


def evaluate(results: Sequence[Result], rows: Sequence[Result]) -> list[str]:
    """The targets, each marked met/missed (gslb against gdnsd, same run)."""
    lines = []
    by = {(r["mix"], r["target"], r["workers"]): r for r in rows}
    for res in results:
        w = res["workers"]
        for mix in dict.fromkeys(r["mix"] for r in rows if r["workers"] == w):
            g, p = by.get((mix, "gslb", w)), by.get((mix, "gdnsd", w))
            if g and p:
                lines += _ratio_lines(w, mix, g, p)
        lines += [
            _rate_line(w, r) for r in res["runs"] if r["target"] == "gslb" and r["rate"] is not None
        ]
        last = by.get(("new-networks", "gslb", w)) or by.get(("world", "gslb", w))
        rss = last["rss_list"] if last else res["rss_mb"].get("gslb")
        if rss:
            when = f"during the {last['mix']} run" if last else "at the end"
            lines.append(
                f"- workers {w}: gslb peak RSS per process {when} "
                f"{', '.join(f'{x:.0f}' for x in rss)} MB (<= {TARGETS['rss_mb_max']:.0f}) "
                f"{_verdict(max(rss) <= TARGETS['rss_mb_max'])}"
            )
    ws = sorted({r["workers"] for r in rows if r["target"] == "gslb"})
    if len(ws) > 1:
        for mix in dict.fromkeys(r["mix"] for r in rows):
            base = by.get((mix, "gslb", ws[0]))
            if base:
                parts = [
                    f"{w} workers {by[(mix, 'gslb', w)]['qps'] / base['qps']:.2f}x"
                    for w in ws[1:]
                    if (mix, "gslb", w) in by
                ]
                lines.append(f"- scaling, {mix}: gslb QPS vs {ws[0]} worker: {', '.join(parts)}")
    return lines


def _header(meta: dict[str, Any]) -> list[str]:
    out = [
        f"Benchmark {meta['date']} on {meta['host']} ({meta['cpus']} CPUs): "
        f"{meta['runs']} run(s) x {meta['seconds']:g} s per target and mix, "
        f"`dnsperf -c 10 -q 100 -T 1`, targets alternated; GeoIP DB `{meta['mmdb']}`; "
        f"load average before: {meta['loadavg']}; commit {meta['commit']}."
    ]
    if meta.get("new_networks_count"):
        out.append(
            f"`new-networks`: each run reads its own file of {meta['new_networks_count']:,} "
            "queries once (`-B -n 1`), every ECS network distinct across all files, so the "
            "run lasts as long as the file; QPS and CPU/query are over the answered queries."
        )
    return out


def render(results: Sequence[Result], meta: dict[str, Any]) -> str:
    """The markdown report: main table, rate-limited runs, ratios and targets, agreement."""
    rows = summarize(results)
    out = [
        " ".join(_header(meta)),
        "",
        "| mix | target | workers | QPS median (min–max) | server CPU µs/q | server / dnsperf "
        "CPU % | avg latency ms | max latency ms | lost | peak RSS MB max / sum |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        out.append(
            f"| {r['mix']} | {r['target']} | {r['workers']} | {_fmt(r['qps'])} "
            f"({_fmt(r['qps_min'])}–{_fmt(r['qps_max'])}) | {_fmt(r['cpu_us'], 1)} "
            f"| {_fmt(r['srv_cpu_pct'])} / {_fmt(r['cli_cpu_pct'])} | {r['avg_ms']:.3f} "
            f"| {r['max_ms']:.1f} | {r['lost']} "
            f"| {_fmt(r['rss_mb'])} / {_fmt(r['rss_sum_mb'])} |"
        )
    limited = [r for res in results for r in res["runs"] if r["rate"] is not None]
    if limited:
        out += [
            "",
            "Rate-limited runs (`-Q` = fraction of each target's own median peak):",
            "",
            "| mix | target | workers | rate q/s | QPS | server CPU µs/q | avg latency ms "
            "| max latency ms | lost |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in limited:
            out.append(
                f"| {r['mix']} | {r['target']} | {r['workers']} | {r['rate']:,} "
                f"({r['fraction']:.0%}) | {_fmt(r['qps'])} | {_fmt(r['cpu_us_per_query'], 1)} "
                f"| {r['avg_ms']:.3f} | {r['max_ms']:.1f} | {r['lost']} |"
            )
    verdicts = evaluate(results, rows)
    if verdicts:
        out += ["", "Ratios and targets (gslb vs gdnsd in the same run):", "", *verdicts]
    for res in results:
        if "agreement" in res:
            a = res["agreement"]
            out.append(
                f"\nWorkers {res['workers']}: answers identical on {a['identical']} of "
                f"{a['sample']} world queries ({a['agreement']:.1%})."
            )
    return "\n".join(out) + "\n"
