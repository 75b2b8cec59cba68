"""The places a zone answers from: ``regions:``, their endpoints and their health checks.

A region's ``health:`` block says how its endpoints are probed; an endpoint may
override any key of it (``{address: ..., health: {target: ...}}``). The merged check is
stored on each :class:`~gslb.model.Endpoint`, so the prober and ``gslb sync`` read one
value per endpoint and never merge again. Every problem goes to the caller's
:class:`~gslb.config.yamlsource.Sink`, at its node.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from gslb.config.yamlsource import Node, ScalarNode, Sink
from gslb.model import Endpoint, HealthCheck, HostPort, IPAddress, LoadFeed, Region

__all__ = ["read_location", "read_regions"]

_REGION = ("location", "aws-region", "endpoints", "down", "health", "min-up")
_ENDPOINT = ("address", "weight", "down", "health")
_HEALTH = (
    "check", "target", "port", "path", "host", "expect", "match", "json",
    "interval", "timeout", "fall", "rise", "tls-verify", "assume", "load",
)  # fmt: skip
_CHECKS = ("http", "https", "tcp")
_HTTP_ONLY = ("path", "host", "expect", "match", "json", "load")
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_HOSTNAME = re.compile(r"(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?)+")
#: String keys of a health block: (is the value valid, the message when it is not).
_STRINGS: dict[str, tuple[Callable[[str], object], str]] = {
    "check": (lambda v: v in _CHECKS, "health check '{}' must be one of http, https, tcp"),
    "path": (lambda v: v.startswith("/"), "health path '{}' must start with '/'"),
    "host": (_HOSTNAME.fullmatch, "health host '{}' is not a host name"),
    "match": (bool, "health match must not be empty"),
    "json": (bool, "health json must name a field"),
    "assume": (lambda v: v in ("up", "down"), "health assume '{}' must be up or down"),
}
MAX_INTERVAL = 86_400.0
DEFAULT_TIMEOUT = 4.0  # seconds, when the interval allows it (as Route 53's checks)


def read_location(sink: Sink, node: Node, what: str) -> tuple[float, float] | None:
    items = sink.sequence(node, f"location of {what}")
    if items is None:
        return None
    if len(items) != 2:
        sink.add(node, f"location of {what} must be [latitude, longitude]")
        return None
    lat = sink.number(items[0], "latitude", -90, 90)
    lon = sink.number(items[1], "longitude", -180, 180)
    return None if lat is None or lon is None else (lat, lon)


def _address(sink: Sink, node: Node, what: str) -> IPAddress | None:
    text = sink.text(node, f"address in {what}")
    if text is None:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        sink.add(node, f"invalid address '{text}' in {what}")
        return None


# --------------------------------------------------------------------------- health


def _expect(sink: Sink, node: Node) -> tuple[int, ...] | None:
    items = [node] if isinstance(node, ScalarNode) else sink.sequence(node, "health expect")
    if items is None:
        return None
    codes = [sink.integer(item, "expected status", 100, 599) for item in items]
    return None if None in codes else tuple(sorted({c for c in codes if c is not None}))


def _load_feed(sink: Sink, node: Node) -> LoadFeed | None:
    f = sink.fields(node, "health load", ("json", "header"))
    if f is None:
        return None
    if len(f) != 1:
        sink.add(node, "health load takes either 'json' (a field) or 'header' (a name)")
        return None
    ((source, value),) = f.items()
    field = sink.string(value, f"health load {source}")
    if field is None:
        return None
    return LoadFeed("json" if source == "json" else "header", field)


def _health_fields(sink: Sink, node: Node, what: str) -> dict[str, Any] | None:
    """The keys written in one ``health:`` block, as HealthCheck field values."""
    f = sink.fields(node, f"health of {what}", _HEALTH)
    if f is None:
        return None
    out: dict[str, Any] = {}
    ok = True

    def put(key: str, value: object) -> None:
        nonlocal ok
        if value is None:
            ok = False
        else:
            out[key.replace("-", "_")] = value

    for key, (valid, message) in _STRINGS.items():
        if key in f:
            text = sink.string(f[key], f"health {key}")
            if text is not None and not valid(text):
                sink.add(f[key], message.format(text))
                text = None
            put(key, text)
    if "target" in f and (text := sink.text(f["target"], "health target")) is not None:
        try:
            target = HostPort.parse(text)
            if not 0 < target.port:
                raise ValueError(f"port 0 in '{text}' cannot be probed")
        except ValueError as exc:
            sink.add(f["target"], f"health target {exc}")
            target = None
        put("target", target)
    elif "target" in f:
        ok = False
    if "port" in f:
        put("port", sink.integer(f["port"], "health port", 1, 65535))
    if "expect" in f:
        put("expect", _expect(sink, f["expect"]))
    for key in ("interval", "timeout"):
        if key in f:
            put(key, sink.number(f[key], f"health {key}", 0.05, MAX_INTERVAL))
    for key in ("fall", "rise"):
        if key in f:
            put(key, sink.integer(f[key], f"health {key}", 1, 100))
    if "tls-verify" in f:
        put("tls-verify", sink.boolean(f["tls-verify"], "health tls-verify"))
    if "load" in f:
        put("load", _load_feed(sink, f["load"]))
    out["_nodes"] = f
    return out if ok else None


def _health_check(sink: Sink, fields: dict[str, Any], node: Node, what: str) -> HealthCheck | None:
    """The check from merged fields; cross-key rules are checked here, once."""
    nodes: dict[str, Node] = fields.get("_nodes", {})
    values = {k: v for k, v in fields.items() if k != "_nodes"}
    check = values.get("check")
    if check is None:
        sink.add(node, f"health of {what} needs 'check' (http, https or tcp)")
        return None
    problems = len(sink.problems)
    if check == "tcp":
        for key in _HTTP_ONLY:
            if key in values:
                sink.add(nodes.get(key, node), f"health {key} needs an http or https check")
        if "target" not in values and "port" not in values:
            sink.add(node, f"tcp health of {what} needs 'port' or 'target'")
    if check != "https" and "tls_verify" in values:
        sink.add(nodes.get("tls-verify", node), "health tls-verify needs an https check")
    interval = values.get("interval", HealthCheck.__dataclass_fields__["interval"].default)
    if "timeout" not in values:
        values["timeout"] = round(min(DEFAULT_TIMEOUT, interval * 0.8), 3)
    elif values["timeout"] > interval:
        sink.add(
            nodes.get("timeout", node),
            f"health timeout {values['timeout']:g} exceeds the interval {interval:g}",
        )
    if len(sink.problems) > problems:
        return None
    return HealthCheck(**values)


# --------------------------------------------------------------------------- regions


def _read_endpoints(
    sink: Sink, node: Node, what: str, health: dict[str, Any] | None
) -> tuple[Endpoint, ...] | None:
    items = sink.sequence(node, f"endpoints of {what}")
    if items is None:
        return None
    out: list[Endpoint] = []
    ok = True
    for item in items:
        weight: int | None = 1
        down: bool | None = False
        own: dict[str, Any] | None = {}
        if isinstance(item, ScalarNode):
            addr = _address(sink, item, what)
        else:
            f = sink.fields(item, f"endpoint of {what}", _ENDPOINT, required=("address",))
            if f is None or "address" not in f:
                ok = False
                continue
            addr = _address(sink, f["address"], what)
            if "weight" in f:
                weight = sink.integer(f["weight"], "endpoint weight", 1, 1000)
            if "down" in f:
                down = sink.boolean(f["down"], "endpoint down")
            if "health" in f:
                own = _health_fields(sink, f["health"], f"endpoint {addr or '?'}")
        if addr is None or weight is None or down is None or own is None:
            ok = False
            continue
        if any(e.address == addr for e in out):
            sink.add(item, f"endpoint {addr} listed twice in {what}")
            ok = False
            continue
        check: HealthCheck | None = None
        if health is not None or own:
            inherited = dict(health or {})
            if own.get("check") == "tcp" and inherited.get("check") != "tcp":
                for key in (*_HTTP_ONLY, "tls_verify"):  # written for the region's http check
                    inherited.pop(key, None)
            merged = {**inherited, **own}
            merged["_nodes"] = {**inherited.get("_nodes", {}), **own.get("_nodes", {})}
            check = _health_check(sink, merged, item, f"endpoint {addr} of {what}")
            if check is None:
                ok = False
                continue
        out.append(Endpoint(addr, weight, down, check))
    return tuple(out) if ok else None


def read_regions(sink: Sink, node: Node | None, zone: str) -> dict[str, Region | None]:
    """Regions by name in zone order; ``None`` marks a declared but invalid region."""
    out: dict[str, Region | None] = {}
    entries = sink.mapping(node, "regions") if node is not None else {}
    for name, (key, value) in (entries or {}).items():
        if not _ID.fullmatch(name):
            sink.add(key, f"invalid region name '{name}': use a-z, 0-9 and '-'")
            continue
        out[name] = None
        what = f"region '{name}'"
        f = sink.fields(value, what, _REGION, required=("location", "endpoints"))
        if f is None or "location" not in f or "endpoints" not in f:
            continue
        location = read_location(sink, f["location"], what)
        health: dict[str, Any] | None = None
        region_check: HealthCheck | None = None
        if "health" in f:
            health = _health_fields(sink, f["health"], what)
            if health is None:
                continue
            # As written, for status and sync; it may be incomplete where every endpoint
            # completes it (a tcp check whose endpoints each name a target), so its
            # problems are reported through the endpoints' merged checks, once each.
            region_check = _health_check(Sink(sink.file), dict(health), f["health"], what)
        endpoints = _read_endpoints(sink, f["endpoints"], what, health)
        aws: str | None = None
        if "aws-region" in f and (aws := sink.string(f["aws-region"], "aws-region")) is not None:
            if not _AWS_REGION.fullmatch(aws):
                sink.add(f["aws-region"], f"invalid aws-region '{aws}' (like 'eu-west-1')")
                continue
        down = sink.boolean(f["down"], f"down of {what}") if "down" in f else False
        min_up: int | None = 1
        if "min-up" in f:
            most = len(endpoints) if endpoints else 1000
            min_up = sink.integer(f["min-up"], f"min-up of {what}", 1, most)
        if location is None or endpoints is None or down is None or min_up is None:
            continue
        if "aws-region" in f and aws is None:
            continue
        out[name] = Region(
            name, location[0], location[1], endpoints, aws, down, zone, min_up, region_check
        )
    return out
