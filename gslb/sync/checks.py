"""A region's ``health:`` config as Route 53 health checks. Pure.

Each endpoint that is not administratively down gets the check gslb's prober runs on
it (the merged region/endpoint ``health:``, :attr:`~gslb.model.Endpoint.health`):
HTTP, HTTPS or TCP, ``*_STR_MATCH`` when ``match`` is set, the same port, path and
Host/SNI name, ``RequestInterval`` 10 or 30 (whichever is nearer) and
``FailureThreshold`` = ``fall``. The region's records carry one check: the endpoint's
own when the region has one checked endpoint and ``min-up`` 1, else a CALCULATED check
over the endpoint checks with ``HealthThreshold`` = ``min-up`` (what gslb calls the
region up), less the endpoints Route 53 cannot check, which count as up.

Route 53 probes from the internet, so a private, loopback or documentation target
cannot be checked: when the endpoint's own address can be, it is checked instead on
the check's port with the same path; otherwise the endpoint has no check, and the
notices say so.
"""

from __future__ import annotations

import dataclasses
from ipaddress import ip_address

from gslb.geo.special import special_lookup
from gslb.model import DEFAULT_PORTS, Endpoint, HealthCheck, IPAddress, Region
from gslb.sync.records import CheckSpec, Notice

__all__ = ["endpoint_check", "region_checks"]

MAX_SEARCH = 255  # Route 53's SearchString limit
_TYPES = {"http": "HTTP", "https": "HTTPS", "tcp": "TCP"}


def _unreachable(address: IPAddress) -> str | None:
    """Why Route 53's checkers cannot reach ``address``, or None when they can."""
    if address.is_global:
        return None
    special = special_lookup(address)
    return special.reason if special is not None else "not a global address"


def _differences(region: str, hc: HealthCheck, interval: int) -> list[Notice]:
    """What of gslb's probe the Route 53 check does not reproduce."""
    out: list[Notice] = []
    if hc.interval != interval:
        out.append(
            Notice(
                "health",
                region,
                f"probes every {hc.interval:g} s; Route 53 checks every {interval} s",
            )
        )
    if hc.rise != hc.fall:
        out.append(
            Notice(
                "health",
                region,
                f"rise {hc.rise} / fall {hc.fall}: Route 53 uses one threshold both ways "
                f"({min(10, hc.fall)})",
            )
        )
    if hc.expect:
        codes = ", ".join(str(c) for c in hc.expect)
        out.append(
            Notice("health", region, f"expect {codes}: Route 53 accepts any 2xx or 3xx status")
        )
    if hc.json is not None:
        out.append(Notice("health", region, f"json field '{hc.json}' is not checked by Route 53"))
    if hc.match is not None and len(hc.match) > MAX_SEARCH:
        out.append(Notice("health", region, f"match is cut to its first {MAX_SEARCH} characters"))
    return out


def endpoint_check(
    zone: str, region: Region, ep: Endpoint
) -> tuple[CheckSpec | None, list[Notice]]:
    """The Route 53 check for one endpoint (None when Route 53 cannot probe it)."""
    hc = ep.health
    if hc is None:
        return None, []
    subject = f"{region.name}/{ep.text}"
    target = hc.target_for(ep.address)
    interval = 10 if hc.interval <= 20 else 30
    notes = _differences(region.name, hc, interval)
    port = target.port
    ip: str | None = None
    fqdn = hc.host.lower().rstrip(".") if hc.host and hc.check != "tcp" else None
    try:
        address: IPAddress | None = ip_address(target.host)
    except ValueError:
        address = None
    if address is None:  # a host name: Route 53 resolves it and sends it as Host/SNI
        if fqdn is not None and fqdn != target.host.lower().rstrip("."):
            notes.append(
                Notice(
                    "health",
                    subject,
                    f"Host {fqdn} differs from the target name {target.host}: "
                    "Route 53 sends the target name",
                )
            )
        fqdn = target.host.lower().rstrip(".")
    elif (why := _unreachable(address)) is None:
        ip = str(address)
    else:
        fallback = hc.port if hc.port is not None else DEFAULT_PORTS.get(hc.check)
        if hc.target is not None and _unreachable(ep.address) is None and fallback:
            ip, port = ep.text, fallback
            notes.append(
                Notice(
                    "health",
                    subject,
                    f"probe target {target} is a {why}, which Route 53 cannot reach: it checks "
                    f"the endpoint itself on port {port}"
                    + (f" with path {hc.path}" if hc.check != "tcp" else ""),
                )
            )
        else:
            notes.append(
                Notice(
                    "no-health-check",
                    subject,
                    f"probe target {target} is a {why}, which Route 53 cannot reach: no health "
                    "check, Route 53 counts the endpoint as up",
                )
            )
            return None, notes
    http = hc.check != "tcp"
    spec = CheckSpec(
        key=subject,
        zone=zone,
        type=_TYPES[hc.check] + ("_STR_MATCH" if http and hc.match else ""),
        ip=ip,
        port=port,
        path=hc.path if http else None,
        fqdn=fqdn,
        search=hc.match[:MAX_SEARCH] if http and hc.match else None,
        interval=interval,
        failures=min(10, max(1, hc.fall)),
        sni=hc.check == "https" and fqdn is not None,  # as the prober: SNI is the host
    )
    return spec, notes


def region_checks(
    zone: str, region: Region
) -> tuple[str | None, tuple[CheckSpec, ...], list[Notice]]:
    """(the check key the region's records carry or None, every check it needs, notices)."""
    endpoints = [e for e in region.endpoints if not e.down]
    if all(e.health is None for e in endpoints):
        note = "no health: block, so no health check: Route 53 keeps answering it when it is down"
        return None, (), [Notice("no-health-check", region.name, note)]
    specs: list[CheckSpec] = []
    notes: list[Notice] = []
    unchecked = 0
    for ep in endpoints:
        spec, more = endpoint_check(zone, region, ep)
        notes += more
        if spec is None:
            unchecked += 1
        else:
            specs.append(spec)
    need = min(region.min_up - unchecked, len(specs))
    if need <= 0:
        note = (
            f"{unchecked} of {len(endpoints)} endpoints cannot be checked by Route 53 and count "
            f"as up, which meets min-up {region.min_up}: no health check for the region"
        )
        kept = [n for n in notes if n.code != "health" or "/" not in n.subject]  # checks not made
        return None, (), [*kept, Notice("no-health-check", region.name, note)]
    if len(specs) == 1:
        only = dataclasses.replace(specs[0], key=region.name)
        return only.key, (only,), notes
    children = tuple(sorted(s.key for s in specs))
    calc = CheckSpec(region.name, zone, "CALCULATED", children=children, threshold=need)
    return calc.key, (*specs, calc), notes
