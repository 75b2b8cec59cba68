"""The values ``gslb sync`` plans with, the marks that make them ours, and their Route 53 shapes.

Pure: no boto3, no I/O. A :class:`RecordSet` is one Route 53 resource record set and a
:class:`CheckSpec` one health check, both normalised (names lower-case and absolute,
``\\052`` read back as ``*``, values sorted, no TTL on aliases, defaults filled in) so
that what we write and what Route 53 (or moto) gives back compare equal: the run after
an apply plans nothing.

Ownership, as external-dns does it:

* a routed record set (latency, geolocation, failover) is ours when its
  ``SetIdentifier`` starts with ``gslb:<owner>:``;
* every name we write carries a TXT record at ``_gslb.<name>`` saying
  ``heritage=gslb,gslb/owner=<owner>,gslb/types=<plain types>``: the name is claimed, and
  the plain (``--static``) record sets of the listed types at it are ours;
* a health check is ours when its ``CallerReference`` starts with ``gslb:<owner>:``; its
  tags say which zone and key (region, or region/address) it is for.

Helper record sets live at ``_gslb-<set>.<name>`` (``_gslb-all``, ``_gslb-eu-eea``,
``_gslb-rule1``): the ``_gslb`` prefix never clashes with host names, and their records
carry our ``SetIdentifier``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from ipaddress import ip_address
from typing import Any, Final

__all__ = [
    "CLAIM_LABEL",
    "CheckSpec",
    "Notice",
    "RecordKey",
    "RecordSet",
    "claim_name",
    "claim_record",
    "helper_name",
    "make_set_id",
    "norm_name",
    "norm_values",
    "owner_prefix",
    "parse_claim",
    "valid_owner",
]

OWNER: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,23}")
CLAIM_LABEL: Final = "_gslb"
CLAIM_TTL: Final = 300
HERITAGE: Final = "heritage=gslb"
#: (kind, code): ("default", "*"), ("continent", "EU"), ("country", "DE"),
#: ("subdivision", "US-CA").
Geo = tuple[str, str]
RecordKey = tuple[str, str, str]  # name, type, set identifier ("" for none)

_NAME_TYPES: Final = frozenset({"CNAME", "NS", "PTR"})
_ESCAPE: Final = re.compile(r"\\(\d{3})")


def valid_owner(owner: str) -> bool:
    """Owner ids are short and plain: they go into SetIdentifiers and CallerReferences."""
    return OWNER.fullmatch(owner) is not None


def owner_prefix(owner: str) -> str:
    return f"gslb:{owner}:"


def digest(*parts: str) -> str:
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:8]


def make_set_id(owner: str, detail: str, name: str, rtype: str) -> str:
    """``gslb:<owner>:<detail>:<hash of name and type>``.

    The hash makes every identifier unique in the hosted zone, not only per name and
    type: Route 53 needs no more, but some tools (moto among them) match DELETEs by
    identifier alone. At most 128 characters, as Route 53 requires.
    """
    tail = ":" + digest(name, rtype)
    room = 128 - len(owner_prefix(owner)) - len(tail)
    return owner_prefix(owner) + detail[:room] + tail


def helper_name(label: str, name: str) -> str:
    """``_gslb-<label>.<name>``; an over-long label keeps its start and gains a hash."""
    first = f"{CLAIM_LABEL}-{label}"
    if len(first) > 63:
        first = first[:54] + "-" + digest(label)
    return f"{first}.{name}"


def claim_name(name: str) -> str:
    return f"{CLAIM_LABEL}.{name}"


def norm_name(text: str) -> str:
    """Absolute, lower-case, with Route 53's octal escapes (``\\052`` for ``*``) undone."""
    out = _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text).lower()
    return out if out.endswith(".") else out + "."


def _norm_value(rtype: str, value: str) -> str:
    value = " ".join(value.split()) if rtype not in ("TXT", "CAA") else value.strip()
    if rtype in ("A", "AAAA"):
        try:
            return str(ip_address(value))
        except ValueError:
            return value
    if rtype in _NAME_TYPES:
        return norm_name(value)
    if rtype in ("MX", "SRV"):
        *head, target = value.split(" ")
        return " ".join([*head, norm_name(target)])
    return value


def norm_values(rtype: str, values: Any) -> tuple[str, ...]:
    """Values as Route 53 holds them, in a canonical order (Route 53 keeps no order)."""
    return tuple(sorted({_norm_value(rtype, str(v)) for v in values}))


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True, order=True)
class Notice:
    """A warning or error about what Route 53 cannot express, with its reason."""

    code: str  # short cause: latency, spill, pick, degraded-ttl, cidr, subdivision, ...
    subject: str  # the name, region or record it is about
    message: str


@dataclass(frozen=True, slots=True)
class RecordSet:
    """One Route 53 resource record set, normalised."""

    name: str
    rtype: str
    set_id: str = ""
    ttl: int | None = None  # None on aliases
    values: tuple[str, ...] = ()
    alias: str | None = None  # alias target name, in the same hosted zone
    evaluate: bool = False  # the alias's EvaluateTargetHealth
    region: str | None = None  # latency: the AWS region
    geo: Geo | None = None  # geolocation
    failover: str | None = None  # PRIMARY or SECONDARY
    health: str | None = None  # our health check's key; "id:<id>" for any other check
    #: the gslb region this record answers from, when there is one (not compared:
    #: Route 53 does not hold it; the plan shows it and --verify simulates with it)
    origin: str = field(default="", compare=False)

    @property
    def key(self) -> RecordKey:
        return (self.name, self.rtype, self.set_id)

    @property
    def routing(self) -> str:
        if self.region is not None:
            return "latency"
        if self.geo is not None:
            return "geolocation"
        if self.failover is not None:
            return "failover"
        return "simple"

    def describe(self) -> str:
        """The routing and the answer, as the plan table shows them."""
        parts: list[str] = []
        if self.region is not None:
            parts.append(f"latency {self.region}")
        if self.geo is not None:
            parts.append("geo " + ("default" if self.geo[0] == "default" else self.geo[1]))
        if self.failover is not None:
            parts.append(self.failover.lower())
        if self.alias is not None:
            eth = " (evaluate health)" if self.evaluate else ""
            parts.append(f"alias {self.alias}{eth}")
        else:
            parts.append(" ".join(self.values) + f" ttl {self.ttl}")
        if self.health is not None:
            parts.append(f"check {self.health}")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        """For ``--json``: only the fields that apply."""
        out: dict[str, Any] = {"name": self.name, "type": self.rtype}
        for key, value in (
            ("set_id", self.set_id or None),
            ("ttl", self.ttl),
            ("values", list(self.values) if self.alias is None else None),
            ("alias", self.alias),
            ("evaluate_target_health", self.evaluate if self.alias is not None else None),
            ("region", self.region),
            ("geo", None if self.geo is None else {"kind": self.geo[0], "code": self.geo[1]}),
            ("failover", self.failover),
            ("health_check", self.health),
            ("gslb_region", self.origin or None),
        ):
            if value is not None:
                out[key] = value
        return out


@dataclass(frozen=True, slots=True)
class CheckSpec:
    """One Route 53 health check: an endpoint's probe, or a region's CALCULATED check."""

    key: str  # "<region>" (what records use) or "<region>/<address>" (an endpoint)
    zone: str  # the zone origin it belongs to
    type: str  # HTTP, HTTPS, TCP, HTTP_STR_MATCH, HTTPS_STR_MATCH, CALCULATED
    ip: str | None = None
    port: int | None = None
    path: str | None = None
    fqdn: str | None = None  # Host header and SNI (with ip), or what to resolve (without)
    search: str | None = None
    interval: int | None = None  # 10 or 30
    failures: int | None = None
    sni: bool = False
    children: tuple[str, ...] = ()  # child keys (CALCULATED)
    threshold: int | None = None  # healthy children needed (CALCULATED)
    inverted: bool = False
    disabled: bool = False

    def replaces(self, old: CheckSpec) -> bool:
        """Whether ``old`` cannot become this by UpdateHealthCheck (a new check is needed)."""
        return (
            self.type != old.type
            or self.interval != old.interval
            or (self.ip is None) != (old.ip is None)
        )

    def describe(self) -> str:
        if self.type == "CALCULATED":
            return (
                f"CALCULATED {self.threshold} of {len(self.children)}: {', '.join(self.children)}"
            )
        where = self.ip or self.fqdn or "?"
        where = f"[{where}]" if ":" in where else where
        text = f"{self.type} {where}:{self.port}"
        if self.path is not None:
            text += self.path
        if self.fqdn is not None and self.ip is not None:
            text += f" host {self.fqdn}"
        if self.search is not None:
            text += f" match {self.search!r}"
        text += f" every {self.interval}s, {self.failures} failures"
        if self.inverted or self.disabled:
            text += " (inverted)" if self.inverted else " (disabled)"
        return text

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "zone": self.zone, "type": self.type}
        for key, value in (
            ("ip", self.ip),
            ("port", self.port),
            ("path", self.path),
            ("fqdn", self.fqdn),
            ("search", self.search),
            ("interval", self.interval),
            ("failure_threshold", self.failures),
            ("children", list(self.children) or None),
            ("health_threshold", self.threshold),
        ):
            if value is not None:
                out[key] = value
        if self.type.startswith("HTTPS"):
            out["sni"] = self.sni
        return out


# --------------------------------------------------------------------------- claims


def claim_record(name: str, owner: str, types: frozenset[str] | set[str]) -> RecordSet:
    """The TXT record at ``_gslb.<name>`` that claims ``name`` for ``owner``."""
    text = f"{HERITAGE},gslb/owner={owner},gslb/types={' '.join(sorted(types))}"
    return RecordSet(claim_name(name), "TXT", ttl=CLAIM_TTL, values=(f'"{text}"',))


def parse_claim(record: RecordSet) -> tuple[str, str, frozenset[str]] | None:
    """(claimed name, owner, plain types) when ``record`` is a gslb claim, else None."""
    if record.rtype != "TXT" or record.set_id or not record.name.startswith(CLAIM_LABEL + "."):
        return None
    for value in record.values:
        text = value.replace('" "', "").strip('"')
        fields = dict(part.partition("=")[::2] for part in text.split(","))
        if fields.get("heritage") == "gslb" and fields.get("gslb/owner"):
            types = frozenset(fields.get("gslb/types", "").split())
            return record.name[len(CLAIM_LABEL) + 1 :], fields["gslb/owner"], types
    return None
