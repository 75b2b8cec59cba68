"""Zone YAML → validated :mod:`gslb.model` objects, with every problem reported at once.

This is the one boundary where untrusted text becomes the model (house rule 3): each
problem is a :class:`~gslb.errors.Problem` at ``file:line:col``, and the whole batch is
raised as :class:`~gslb.errors.ConfigError`, so an operator fixes a file in one pass.
The schema is the one ``zones/example.com.yaml`` documents. Names in the model are
absolute, lower-case and end with a dot.

Fence semantics checked here: a client matched by several fences may only be answered
from the *intersection* of their regions, so two fences that can match the same client
(same country, a country and its continent, same continent or subdivision, overlapping
networks) with disjoint regions are an error; so is a rule that sends clients a fence
can match to a region outside that fence. A network is not compared with a geographic
criterion: where an address is located is only known at query time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from gslb.countries import CONTINENTS, COUNTRY_CONTINENT
from gslb.errors import ConfigError, Problem
from gslb.model import (
    STATIC_TYPES,
    AllDown,
    ClientMatch,
    Endpoint,
    Fence,
    GslbName,
    IPAddress,
    IPNetwork,
    Pick,
    Region,
    RRset,
    Rule,
    Soa,
    Spill,
    Zone,
)
from gslb.yamlsource import (
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    Sink,
    compose,
    suggest,
)

__all__ = ["load_zone", "load_zones"]

MAX_TTL = 2_147_483_647  # RFC 2181 section 8
MAX_SERIAL = 4_294_967_295
GSLB_MAX_TTL = 86_400
DEFAULT_TTL = 3600
DEFAULT_GSLB_TTL = 30
DEFAULT_DEGRADED_TTL = 10
ALL_DOWN: tuple[AllDown, ...] = ("fail-open", "nodata", "servfail")
CAA_TAGS = ("issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc")

_TOP = ("zone", "ttl", "soa", "ns", "records", "regions", "fences", "gslb")
_SOA = ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl")
_REGION = ("location", "aws-region", "endpoints", "down")
_ENDPOINT = ("address", "weight", "down")
_CLIENTS = ("countries", "continents", "subdivisions", "networks")
_FENCE = ("clients", "regions", "all-down")
_GSLB = ("ttl", "degraded-ttl", "regions", "fences", "rules", "default", "spill", "pick")
_ADDRESS_TYPES = frozenset({"A", "AAAA"})
_TARGET_TYPES = ("MX", "NS", "SRV")

_LABEL = re.compile(r"[a-z0-9_/-]+")  # '/' for RFC 2317 classless reverse delegation
_ID = re.compile(r"[a-z0-9][a-z0-9-]*")
_AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_SUBDIVISION = re.compile(r"([A-Z]{2})-[A-Z0-9]{1,3}")
_COUNTRY_ALIASES = {"UK": "GB", "EL": "GR"}
_SPILL = Spill()


class _Invalid(Exception):
    """A value is wrong; the message is the problem's reason."""


# --------------------------------------------------------------------------- names


def _name(text: str, origin: str) -> str:
    """``text`` as an absolute lower-case name: relative to ``origin`` unless it ends in '.'."""
    raw = text.strip()
    if raw == "@":
        return origin
    if raw == ".":
        return "."
    if not raw:
        raise _Invalid("empty name")
    low = raw.lower()
    if low.endswith("."):
        name = low
    else:
        name = f"{low}." if origin == "." else f"{low}.{origin}"
    labels = name[:-1].split(".")
    for i, label in enumerate(labels):
        if not label:
            raise _Invalid(f"empty label in name '{raw}'")
        if len(label.encode()) > 63:
            size = len(label.encode())
            raise _Invalid(f"label '{label[:16]}...' is {size} bytes, longer than 63")
        if "*" in label and (label != "*" or i != 0):
            raise _Invalid(f"wildcard '*' must be the whole leftmost label in '{raw}'")
        if label != "*" and not _LABEL.fullmatch(label):
            bad = next(c for c in label if not _LABEL.fullmatch(c))
            raise _Invalid(f"invalid character '{bad}' in name '{raw}'")
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        size = sum(len(label) + 1 for label in labels) + 1
        raise _Invalid(f"name '{raw[:24]}...' is {size} bytes, longer than 255")
    return name


def _owner(text: str, origin: str) -> str:
    name = _name(text, origin)
    if not _inside(name, origin):
        raise _Invalid(f"'{text}' is outside zone {origin}")
    return name


def _inside(name: str, origin: str) -> bool:
    return name == origin or name.endswith("." + origin) or origin == "."


def _below(name: str, parent: str) -> bool:
    return name != parent and _inside(name, parent)


# --------------------------------------------------------------------------- rdata


def _u16(text: str, what: str, high: int = 65535) -> int:
    if not text.isdigit() or int(text) > high:
        raise _Invalid(f"{what} '{text}' must be an integer 0..{high}")
    return int(text)


def _fields(text: str, rtype: str, count: int, form: str) -> list[str]:
    parts = text.split()
    if len(parts) != count:
        raise _Invalid(f"{rtype} record '{text}' must be '{form}'")
    return parts


def _quote(data: bytes) -> str:
    out = []
    for byte in data:
        if byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def txt_rdata(text: str) -> str:
    """One TXT record in presentation format: character-strings of at most 255 bytes."""
    data = text.encode()
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    return " ".join(_quote(c) for c in chunks)


def _rdata(rtype: str, text: str, origin: str) -> tuple[str, str | None]:
    """Normalized presentation rdata and the name it points at (MX/NS/SRV/CNAME/PTR)."""
    if rtype in ("A", "AAAA"):
        try:
            addr = ipaddress.ip_address(text.strip())
        except ValueError:
            raise _Invalid(f"invalid address '{text}' in {rtype} record") from None
        if rtype == "A" and addr.version != 4:
            raise _Invalid(f"'{text}' is an IPv6 address: use AAAA, not A")
        if rtype == "AAAA" and addr.version != 6:
            raise _Invalid(f"'{text}' is an IPv4 address: use A, not AAAA")
        return str(addr), None
    if rtype in ("CNAME", "NS", "PTR"):
        target = _name(text, origin)
        return target, target
    if rtype == "MX":
        pref, host = _fields(text, rtype, 2, "preference name")
        target = _name(host, origin)
        return f"{_u16(pref, 'MX preference')} {target}", target
    if rtype == "SRV":
        prio, weight, port, host = _fields(text, rtype, 4, "priority weight port target")
        nums = [_u16(prio, "SRV priority"), _u16(weight, "SRV weight"), _u16(port, "SRV port")]
        target = _name(host, origin)
        return " ".join(map(str, nums)) + f" {target}", target
    if rtype == "CAA":
        return _caa(text), None
    if rtype == "TXT":
        return txt_rdata(text), None
    raise _Invalid(f"unknown record type '{rtype}'")  # pragma: no cover


def _caa(text: str) -> str:
    parts = text.split(None, 2)
    if len(parts) != 3:
        raise _Invalid(f"CAA record '{text}' must be 'flags tag \"value\"'")
    flags, tag, value = parts
    flag = _u16(flags, "CAA flags", 255)
    if tag not in CAA_TAGS:
        raise _Invalid(f"unknown CAA tag '{tag}'{suggest(tag, CAA_TAGS)}")
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    elif '"' in value:
        raise _Invalid(f"CAA value '{value}' has unbalanced quotes")
    return f"{flag} {tag} {_quote(value.encode())}"


# --------------------------------------------------------------------------- drafts


@dataclass(slots=True)
class _RRDraft:
    key: Node
    ttl: int
    rdatas: list[str] = field(default_factory=list)
    targets: list[tuple[str, Node]] = field(default_factory=list)


@dataclass(slots=True)
class _Owner:
    key: Node
    types: dict[str, _RRDraft] = field(default_factory=dict)


@dataclass(slots=True)
class _Parsed:
    zone: Zone
    origin_node: Node


# --------------------------------------------------------------------------- zone


class _ZoneReader:
    """Reads one composed file; every ``_read_*`` method reports into ``self.sink``."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.origin = ""
        self.ttl = DEFAULT_TTL
        self.owners: dict[str, _Owner] = {}
        self.regions: dict[str, Region | None] = {}
        self.gslb_owners: set[str] = set()
        self._existing: set[str] | None = None

    def read(self, root: Node) -> _Parsed | None:
        sink = self.sink
        top = sink.fields(root, "zone file", _TOP, required=("zone", "soa", "ns"))
        if top is None:
            return None
        if "zone" in top:
            origin_text = sink.text(top["zone"], "zone")
            if origin_text is not None:
                try:
                    origin = _name(origin_text.rstrip(".") + ".", ".")
                    if origin.startswith("*"):
                        raise _Invalid(f"zone origin '{origin_text}' cannot be a wildcard")
                    self.origin = origin
                except _Invalid as exc:
                    sink.add(top["zone"], str(exc))
        if "ttl" in top:
            ttl = sink.integer(top["ttl"], "ttl", 0, MAX_TTL)
            self.ttl = self.ttl if ttl is None else ttl
        soa = self._read_soa(top["soa"]) if "soa" in top else None
        ns = self._read_ns(top["ns"]) if "ns" in top else None
        if "records" in top and self.origin:
            self._read_records(top["records"])
        self.regions = _read_regions(sink, top.get("regions"))
        fences = _read_fences(sink, top.get("fences"), self.regions, (), "")
        gslb: dict[str, GslbName] = {}
        if "gslb" in top and self.origin:
            gslb = _read_gslb(
                sink, top["gslb"], self.origin, self.regions, fences, self._gslb_owner
            )
        if self.origin:
            self._check_tree(ns or [])
        if sink.problems or soa is None or ns is None:
            return None
        return _Parsed(self._zone(soa, ns, gslb, fences), top["zone"])

    # ------------------------------------------------------------------ soa and ns

    def _read_soa(self, node: Node) -> Soa | None:
        sink = self.sink
        f = sink.fields(node, "soa", _SOA, required=_SOA[:-1])
        if f is None or not self.origin:
            return None
        names: dict[str, str] = {}
        for key in ("mname", "rname"):
            if key in f and (text := sink.text(f[key], f"soa {key}")) is not None:
                if key == "rname" and "@" in text:
                    fix = text.replace("@", ".").rstrip(".") + "."
                    sink.add(f[key], f"soa rname '{text}' is a name: write '{fix}'")
                    continue
                try:
                    names[key] = _name(text, self.origin)
                except _Invalid as exc:
                    sink.add(f[key], str(exc))
        nums: dict[str, int | None] = {}
        if "serial" in f:
            nums["serial"] = sink.integer(f["serial"], "soa serial", 0, MAX_SERIAL)
        for key in ("refresh", "retry", "expire", "minimum"):
            if key in f:
                nums[key] = sink.integer(f[key], f"soa {key}", 1, MAX_TTL)
        ttl: int | None = self.ttl
        if "ttl" in f:
            ttl = sink.integer(f["ttl"], "soa ttl", 0, MAX_TTL)
        if len(names) < 2 or len(nums) < 5 or None in nums.values() or ttl is None:
            return None
        return Soa(
            names["mname"],
            names["rname"],
            _int(nums["serial"]),
            _int(nums["refresh"]),
            _int(nums["retry"]),
            _int(nums["expire"]),
            _int(nums["minimum"]),
            ttl,
        )

    def _read_ns(self, node: Node) -> list[tuple[str, Node]] | None:
        items = self.sink.sequence(node, "ns")
        if items is None or not self.origin:
            return None
        out: list[tuple[str, Node]] = []
        for item in items:
            text = self.sink.text(item, "ns entry")
            if text is None:
                continue
            try:
                name = _name(text, self.origin)
            except _Invalid as exc:
                self.sink.add(item, str(exc))
                continue
            if any(name == n for n, _ in out):
                self.sink.add(item, f"name server {name} listed twice in ns")
                continue
            out.append((name, item))
        return out

    # ------------------------------------------------------------------ records

    def _read_records(self, node: Node) -> None:
        sink = self.sink
        entries = sink.mapping(node, "records")
        for owner_text, (key, value) in (entries or {}).items():
            try:
                owner = _owner(owner_text, self.origin)
            except _Invalid as exc:
                sink.add(key, str(exc))
                continue
            if owner in self.owners:
                first = self.owners[owner].key.start_mark.line + 1
                sink.add(key, f"owner {owner} already defined at line {first}")
                continue
            draft = self.owners[owner] = _Owner(key)
            types = sink.mapping(value, f"records for '{owner_text}'")
            if isinstance(value, MappingNode) and not value.value:
                sink.add(value, f"no records for '{owner_text}'")
            for rtype, (tkey, tval) in (types or {}).items():
                if rtype == "SOA" or (rtype == "NS" and owner == self.origin):
                    where = "soa" if rtype == "SOA" else "ns"
                    sink.add(tkey, f"apex {rtype} belongs in '{where}:', not in records")
                elif rtype not in STATIC_TYPES:
                    hint = suggest(rtype, STATIC_TYPES)
                    sink.add(tkey, f"unknown record type '{rtype}'{hint}")
                else:
                    # an invalid set still exists for the cross checks (no cascades)
                    rr = self._read_rrset(owner, rtype, tkey, tval)
                    draft.types[rtype] = rr or _RRDraft(tkey, self.ttl)

    def _read_rrset(self, owner: str, rtype: str, key: Node, node: Node) -> _RRDraft | None:
        sink = self.sink
        ttl = self.ttl
        values: list[Node]
        if isinstance(node, SequenceNode):
            values = sink.sequence(node, f"{rtype} values") or []
        elif isinstance(node, ScalarNode):
            values = [node]
        else:
            f = sink.fields(node, f"{rtype} record set", ("ttl", "values", "value"))
            if f is None:
                return None
            if "ttl" in f:
                ttl = sink.integer(f["ttl"], "ttl", 0, MAX_TTL) or 0
            if "values" in f and "value" in f:
                sink.add(node, f"{rtype} record set takes 'values' or 'value', not both")
                return None
            if "values" in f:
                values = sink.sequence(f["values"], f"{rtype} values") or []
            elif "value" in f:
                values = [f["value"]]
            else:
                sink.add(node, f"missing key 'values' in {rtype} record set")
                return None
        if rtype == "CNAME" and len(values) > 1:
            sink.add(node, f"CNAME at {owner} must have exactly one target")
            return None
        draft = _RRDraft(key, ttl)
        for item in values:
            text = sink.text(item, f"{rtype} value")
            if text is None:
                continue
            try:
                rdata, target = _rdata(rtype, text, self.origin)
            except _Invalid as exc:
                sink.add(item, str(exc))
                continue
            if rdata in draft.rdatas:
                sink.add(item, f"duplicate {rtype} record '{text}' at {owner}")
                continue
            draft.rdatas.append(rdata)
            if target is not None:
                draft.targets.append((target, item))
        return draft if draft.rdatas else None

    # ------------------------------------------------------------------ cross checks

    def _cut(self, name: str, *, inclusive: bool) -> str | None:
        """The delegation point at or above ``name`` (below the apex), if any."""
        labels = name.split(".")
        for i in range(len(labels) - 1, -1, -1):
            parent = ".".join(labels[i:])
            if not parent or parent == self.origin or not _below(parent, self.origin):
                continue
            if parent == name and not inclusive:
                continue
            owner = self.owners.get(parent)
            if owner is not None and "NS" in owner.types:
                return parent
        return None

    def _gslb_owner(self, name: str) -> str | None:
        """Why ``name`` cannot be a GSLB owner, or ``None``; remembers it for cross checks."""
        self.gslb_owners.add(name)
        cut = self._cut(name, inclusive=True)
        if cut is not None:
            return f"gslb name {name} is occluded by delegation at {cut}"
        static = self.owners.get(name)
        clash = sorted(set(static.types) & {"A", "AAAA", "CNAME"}) if static else []
        if clash:
            return f"gslb name {name} conflicts with static {'/'.join(clash)} at the same owner"
        return None

    def _has_address(self, name: str) -> bool:
        owner = self.owners.get(name)
        return name in self.gslb_owners or bool(owner and _ADDRESS_TYPES & set(owner.types))

    def _resolves(self, name: str) -> bool:
        """Whether A/AAAA queries for in-zone ``name`` get an address (RFC 4592 wildcards)."""
        if self._has_address(name):
            return True
        if self._existing is None:  # every owner and empty non-terminal, computed once
            self._existing = {self.origin}
            for owner in [*self.owners, *self.gslb_owners]:
                while _below(owner, self.origin):
                    self._existing.add(owner)
                    owner = owner.split(".", 1)[1]
        existing = self._existing
        if name in existing:
            return False
        encloser = name.split(".", 1)[1]
        while encloser not in existing:
            encloser = encloser.split(".", 1)[1]
        return self._has_address(f"*.{encloser}")

    def _check_tree(self, ns: list[tuple[str, Node]]) -> None:
        sink = self.sink
        for owner, draft in self.owners.items():
            types = draft.types
            if "CNAME" in types:
                if owner == self.origin:
                    sink.add(types["CNAME"].key, "CNAME is not allowed at the zone apex")
                elif others := [t for t in types if t != "CNAME"]:
                    sink.add(
                        types["CNAME"].key,
                        f"CNAME at {owner} cannot coexist with other data ({', '.join(others)})",
                    )
            cut = self._cut(owner, inclusive=False)
            if cut is not None:
                for rtype, rr in types.items():
                    if rtype not in _ADDRESS_TYPES:
                        sink.add(rr.key, f"{rtype} at {owner} is occluded by delegation at {cut}")
            elif owner != self.origin and "NS" in types:
                for rtype, rr in types.items():
                    if rtype != "NS":
                        sink.add(rr.key, f"{rtype} is not allowed at delegation point {owner}")
                for target, node in types["NS"].targets:
                    if _inside(target, owner) and not self._has_address(target):
                        sink.add(node, f"NS target {target} needs glue (an A or AAAA record)")
        for target, node in ns:
            self._check_target("NS", target, node)
        for owner, draft in self.owners.items():
            if self._cut(owner, inclusive=False) is None:
                for rtype in _TARGET_TYPES:
                    for target, node in draft.types[rtype].targets if rtype in draft.types else ():
                        self._check_target(rtype, target, node)

    def _check_target(self, rtype: str, target: str, node: Node) -> None:
        if target == "." or not _inside(target, self.origin):
            return
        pointed = self.owners.get(target)
        if pointed is not None and "CNAME" in pointed.types:
            self.sink.add(node, f"{rtype} target {target} is a CNAME (RFC 2181 10.3)")
        elif self._cut(target, inclusive=True) is None and not self._resolves(target):
            self.sink.add(node, f"{rtype} target {target} has no A or AAAA record in the zone")

    # ------------------------------------------------------------------ build

    def _zone(
        self, soa: Soa, ns: list[tuple[str, Node]], gslb: dict[str, GslbName], fences: list[Fence]
    ) -> Zone:
        o = self.origin
        soa_text = (
            f"{soa.mname} {soa.rname} {soa.serial} {soa.refresh} {soa.retry} {soa.expire} "
            f"{soa.minimum}"
        )
        apex: dict[str, RRset] = {
            "SOA": RRset(o, "SOA", soa.ttl, (soa_text,)),
            "NS": RRset(o, "NS", self.ttl, tuple(n for n, _ in ns)),
        }
        rrsets: dict[str, dict[str, RRset]] = {o: apex}
        for owner, draft in self.owners.items():
            sets = rrsets.setdefault(owner, {})
            for rtype, rr in draft.types.items():
                sets[rtype] = RRset(owner, rtype, rr.ttl, tuple(rr.rdatas))
        return Zone(
            origin=o,
            source=self.sink.file,
            ttl=self.ttl,
            soa=soa,
            ns=tuple(n for n, _ in ns),
            rrsets=MappingProxyType({k: MappingProxyType(v) for k, v in rrsets.items() if v}),
            gslb=MappingProxyType(dict(gslb)),
            regions=MappingProxyType({k: r for k, r in self.regions.items() if r is not None}),
            fences=tuple(fences),
        )


def _int(value: int | None) -> int:
    assert value is not None
    return value


# --------------------------------------------------------------------------- regions


def _read_location(sink: Sink, node: Node, what: str) -> tuple[float, float] | None:
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


def _read_endpoints(sink: Sink, node: Node, what: str) -> tuple[Endpoint, ...] | None:
    items = sink.sequence(node, f"endpoints of {what}")
    if items is None:
        return None
    out: list[Endpoint] = []
    ok = True
    for item in items:
        weight: int | None = 1
        down: bool | None = False
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
        if addr is None or weight is None or down is None:
            ok = False
            continue
        if any(e.address == addr for e in out):
            sink.add(item, f"endpoint {addr} listed twice in {what}")
            ok = False
            continue
        out.append(Endpoint(addr, weight, down))
    return tuple(out) if ok else None


def _read_regions(sink: Sink, node: Node | None) -> dict[str, Region | None]:
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
        location = _read_location(sink, f["location"], what)
        endpoints = _read_endpoints(sink, f["endpoints"], what)
        aws: str | None = None
        if "aws-region" in f and (aws := sink.string(f["aws-region"], "aws-region")) is not None:
            if not _AWS_REGION.fullmatch(aws):
                sink.add(f["aws-region"], f"invalid aws-region '{aws}' (like 'eu-west-1')")
                continue
        down = sink.boolean(f["down"], f"down of {what}") if "down" in f else False
        if location is None or endpoints is None or down is None:
            continue
        if "aws-region" in f and aws is None:
            continue
        out[name] = Region(name, location[0], location[1], endpoints, aws, down)
    return out


# --------------------------------------------------------------------------- client matches


# A check returns None when the code is fine, else (reason, hint shown after the place).
_Check = Callable[[str], "tuple[str, str] | None"]


def _country(code: str) -> tuple[str, str] | None:
    if code in COUNTRY_CONTINENT:
        return None
    alias = _COUNTRY_ALIASES.get(code.upper())
    hint = f" (did you mean '{alias}'?)" if alias else suggest(code, COUNTRY_CONTINENT)
    return f"unknown country code '{code}'", hint


def _continent(code: str) -> tuple[str, str] | None:
    if code in CONTINENTS:
        return None
    return f"unknown continent code '{code}'", suggest(code, sorted(CONTINENTS))


def _subdivision(code: str) -> tuple[str, str] | None:
    m = _SUBDIVISION.fullmatch(code)
    if m is None or m.group(1) not in COUNTRY_CONTINENT:
        return f"invalid subdivision '{code}'", " (ISO 3166-2, like 'US-CA')"
    return None


def _read_codes(
    sink: Sink, node: Node | None, kind: str, what: str, check: _Check
) -> list[str] | None:
    if node is None:
        return []
    items = sink.sequence(node, f"{kind} of {what}", empty_ok=True)
    if items is None:
        return None
    out: list[str] = []
    for item in items:
        text = sink.text(item, f"entry in {kind} of {what}")
        if text is None:
            continue
        if (why := check(text)) is not None:
            sink.add(item, f"{why[0]} in {what}{why[1]}")
        elif text in out:
            sink.add(item, f"'{text}' listed twice in {kind} of {what}")
        else:
            out.append(text)
    return out if len(out) == len(items) else None


def _network(text: str) -> tuple[str, str] | None:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            meant = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return f"invalid network '{text}'", ""
        return f"network '{text}' has host bits set", f" (did you mean '{meant}'?)"
    return None


def _read_match(sink: Sink, node: Node, what: str) -> ClientMatch | None:
    f = sink.fields(node, f"clients of {what}", _CLIENTS)
    if f is None:
        return None
    countries = _read_codes(sink, f.get("countries"), "countries", what, _country)
    continents = _read_codes(sink, f.get("continents"), "continents", what, _continent)
    subdivisions = _read_codes(sink, f.get("subdivisions"), "subdivisions", what, _subdivision)
    networks = _read_codes(sink, f.get("networks"), "networks", what, _network)
    if countries is None or continents is None or subdivisions is None or networks is None:
        return None
    if not (countries or continents or subdivisions or networks):
        sink.add(node, f"{what} matches no clients")
        return None
    nets: tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in networks)
    return ClientMatch(frozenset(countries), frozenset(continents), frozenset(subdivisions), nets)


def _shared(a: ClientMatch, b: ClientMatch) -> str | None:
    """Some client both ``a`` and ``b`` can match, described, or ``None``."""
    for x, y in ((a, b), (b, a)):
        for country in sorted(x.countries):
            if country in y.countries or COUNTRY_CONTINENT[country] in y.continents:
                return country
        for sub in sorted(x.subdivisions):
            country = sub[:2]
            if sub in y.subdivisions or country in y.countries:
                return sub
            if COUNTRY_CONTINENT[country] in y.continents:
                return sub
    for continent in sorted(a.continents & b.continents):
        return f"continent {continent}"
    for net in a.networks:
        for other in b.networks:
            if net.version == other.version and net.overlaps(other):
                return str(net if net.prefixlen >= other.prefixlen else other)
    return None


# --------------------------------------------------------------------------- fences


def _read_region_list(
    sink: Sink,
    node: Node,
    what: str,
    regions: dict[str, Region | None],
    within: Sequence[str] | None = None,
) -> list[str] | None:
    """Known, distinct region names; ``within`` (a gslb name's regions) restricts them."""
    items = sink.sequence(node, f"regions of {what}")
    if items is None:
        return None
    out: list[str] = []
    for item in items:
        name = sink.text(item, f"region in {what}")
        if name is None:
            continue
        if name not in regions:
            sink.add(item, f"unknown region '{name}' in {what}{suggest(name, regions)}")
        elif within is not None and name not in within:
            sink.add(item, f"region '{name}' in {what} is not one of the name's regions")
        elif name in out:
            sink.add(item, f"region '{name}' listed twice in {what}")
        else:
            out.append(name)
    return out if len(out) == len(items) else None


def _read_fences(
    sink: Sink,
    node: Node | None,
    regions: dict[str, Region | None],
    outer: Sequence[Fence],
    scope: str,
) -> list[Fence]:
    """Fences in file order; overlapping fences with disjoint regions are reported."""
    if node is None:
        return []
    fences: list[tuple[Fence, Node]] = []
    for name, (key, value) in (sink.mapping(node, f"fences{scope}") or {}).items():
        if not _ID.fullmatch(name):
            sink.add(key, f"invalid fence name '{name}': use a-z, 0-9 and '-'")
            continue
        if any(f.name == name for f in outer):
            sink.add(key, f"fence '{name}' is already defined at zone level")
            continue
        what = f"fence '{name}'"
        f = sink.fields(value, what, _FENCE, required=("clients", "regions"))
        if f is None or "clients" not in f or "regions" not in f:
            continue
        match = _read_match(sink, f["clients"], what)
        names = _read_region_list(sink, f["regions"], what, regions)
        all_down: AllDown | None = "fail-open"
        if "all-down" in f and (text := sink.string(f["all-down"], "all-down")) is not None:
            all_down = next((a for a in ALL_DOWN if a == text), None)
            if all_down is None:
                choices = ", ".join(ALL_DOWN)
                sink.add(f["all-down"], f"all-down '{text}' must be one of {choices}")
        if match is not None and names is not None and all_down is not None:
            fences.append((Fence(name, match, frozenset(names), all_down), key))
    for j, (fence, key) in enumerate(fences):
        for other in [*outer, *(f for f, _ in fences[:j])]:
            shared = _shared(other.match, fence.match)
            if shared is not None and not other.regions & fence.regions:
                sink.add(
                    key,
                    f"fences '{other.name}' and '{fence.name}' both match {shared} "
                    "but share no region",
                )
    return [f for f, _ in fences]


# --------------------------------------------------------------------------- gslb names


@dataclass(slots=True)
class _NameReader:
    """Reads one ``gslb:`` entry; the zone's regions and fences are already read."""

    sink: Sink
    owner: str
    label: str
    regions: dict[str, Region | None]
    zone_fences: Sequence[Fence]

    @property
    def what(self) -> str:
        return f"gslb name '{self.label}'"

    def read(self, node: Node) -> GslbName | None:
        sink, what = self.sink, self.what
        f = sink.fields(node, what, _GSLB)
        if f is None:
            return None
        ttl = sink.integer(f["ttl"], "ttl", 1, GSLB_MAX_TTL) if "ttl" in f else DEFAULT_GSLB_TTL
        degraded: int | None = min(DEFAULT_DEGRADED_TTL, ttl or DEFAULT_GSLB_TTL)
        if "degraded-ttl" in f:
            degraded = sink.integer(f["degraded-ttl"], "degraded-ttl", 1, GSLB_MAX_TTL)
            if degraded is not None and ttl is not None and degraded > ttl:
                sink.add(f["degraded-ttl"], f"degraded-ttl {degraded} exceeds ttl {ttl}")
                degraded = None
        if "regions" in f:
            names = _read_region_list(sink, f["regions"], what, self.regions)
        elif self.regions:
            names = list(self.regions)
        else:
            sink.add(node, f"{what} has no regions: define 'regions:' in the zone")
            names = None
        fences = _read_fences(sink, f.get("fences"), self.regions, self.zone_fences, f" of {what}")
        all_fences = (*self.zone_fences, *fences)
        rules = self._rules(f["rules"], names or [], all_fences) if "rules" in f else []
        default = self._default(f["default"], names or []) if "default" in f else ([], None)
        spill = self._spill(f["spill"]) if "spill" in f else Spill()
        objs = [self.regions.get(n) for n in names or []]
        pick = self._pick(f["pick"], objs) if "pick" in f else Pick()
        if (
            ttl is None
            or degraded is None
            or names is None
            or rules is None
            or default is None
            or spill is None
            or pick is None
        ):
            return None
        regions = tuple(r for r in objs if r is not None)
        return GslbName(
            name=self.owner,
            ttl=ttl,
            degraded_ttl=degraded,
            regions=regions,
            fences=all_fences,
            rules=tuple(rules),
            default_order=tuple(default[0] or names),
            default_location=default[1],
            spill=spill,
            pick=pick,
        )

    def _rules(self, node: Node, names: list[str], fences: Sequence[Fence]) -> list[Rule] | None:
        sink = self.sink
        items = sink.sequence(node, f"rules of {self.what}")
        if items is None:
            return None
        rules: list[Rule] = []
        for i, item in enumerate(items, 1):
            what = f"rule {i} of {self.what}"
            f = sink.fields(item, what, ("clients", "regions"), required=("clients", "regions"))
            if f is None or "clients" not in f or "regions" not in f:
                continue
            match = _read_match(sink, f["clients"], what)
            regs = _read_region_list(sink, f["regions"], what, self.regions, names)
            if match is None or regs is None:
                continue
            for fence in fences:
                shared = _shared(match, fence.match)
                bad = [r for r in regs if r not in fence.regions]
                if shared is not None and bad:
                    allowed = ", ".join(r for r in self.regions if r in fence.regions)
                    sink.add(
                        item,
                        f"rule sends {shared} (fenced by {fence.name} to {allowed}) "
                        f"to {', '.join(bad)}",
                    )
            rules.append(Rule(match, tuple(regs)))
        return rules if len(rules) == len(items) else None

    def _default(
        self, node: Node, names: list[str]
    ) -> tuple[list[str], tuple[float, float] | None] | None:
        sink, what = self.sink, f"default of {self.what}"
        f = sink.fields(node, what, ("regions", "location"))
        if f is None:
            return None
        if len(f) != 1:
            sink.add(node, f"{what} takes either 'regions' or 'location'")
            return None
        if "location" in f:
            location = _read_location(sink, f["location"], what)
            return None if location is None else ([], location)
        regs = _read_region_list(sink, f["regions"], what, self.regions, names)
        return None if regs is None else (regs, None)

    def _spill(self, node: Node) -> Spill | None:
        sink = self.sink
        f = sink.fields(node, f"spill of {self.what}", ("low", "high"))
        if f is None:
            return None
        low = sink.number(f["low"], "spill low", 0, 1) if "low" in f else _SPILL.low
        high = sink.number(f["high"], "spill high", 0, 1) if "high" in f else _SPILL.high
        if low is None or high is None:
            return None
        if not 0 < low < high <= 1:
            why = f"need 0 < low {low:g} < high {high:g} <= 1"
            sink.add(node, f"spill watermarks out of order: {why}")
            return None
        return Spill(low, high)

    def _pick(self, node: Node, regions: list[Region | None]) -> Pick | None:
        sink = self.sink
        f = sink.fields(node, f"pick of {self.what}", ("count", "second-region"))
        if f is None:
            return None
        count: int | None = 0
        if "count" in f:
            count = sink.integer(f["count"], "pick count", 0, MAX_TTL)
            most = max((len(r.endpoints) for r in regions if r is not None), default=0)
            if count is not None and count > most and None not in regions:
                why = f"exceeds the {most} endpoints of the largest region"
                sink.add(f["count"], f"pick count {count} {why}")
                count = None
        second: bool | None = False
        if "second-region" in f:
            second = sink.boolean(f["second-region"], "pick second-region")
        return None if count is None or second is None else Pick(count, second)


def _read_gslb(
    sink: Sink,
    node: Node,
    origin: str,
    regions: dict[str, Region | None],
    fences: Sequence[Fence],
    owner_problem: Callable[[str], str | None],
) -> dict[str, GslbName]:
    out: dict[str, GslbName] = {}
    seen: dict[str, Node] = {}
    for label, (key, value) in (sink.mapping(node, "gslb") or {}).items():
        try:
            owner = _owner(label, origin)
        except _Invalid as exc:
            sink.add(key, str(exc))
            continue
        if owner in seen:
            first = seen[owner].start_mark.line + 1
            sink.add(key, f"gslb name {owner} already defined at line {first}")
            continue
        seen[owner] = key
        if (why := owner_problem(owner)) is not None:
            sink.add(key, why)
        name = _NameReader(sink, owner, label, regions, fences).read(value)
        if name is not None:
            out[owner] = name
    return out


# --------------------------------------------------------------------------- files


def _read_file(path: Path, problems: list[Problem]) -> _Parsed | None:
    sink = Sink(str(path))
    root = compose(path, sink)
    parsed = _ZoneReader(sink).read(root) if root is not None else None
    problems.extend(sink.problems)
    return parsed


def _expand(paths: Sequence[str | Path], problems: list[Problem]) -> list[Path]:
    files: list[Path] = []
    for item in paths:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
            if not found:
                problems.append(Problem(str(path), 1, 1, "no *.yaml zone files in directory"))
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            problems.append(Problem(str(path), 1, 1, "no such file or directory"))
    return files


def load_zone(path: str | Path) -> Zone:
    """Parse and validate one zone file; raises ConfigError listing every problem."""
    problems: list[Problem] = []
    parsed = _read_file(Path(path), problems)
    if problems or parsed is None:
        raise ConfigError(problems or [Problem(str(path), 1, 1, "no zone in file")])
    return parsed.zone


def load_zones(paths: Sequence[str | Path]) -> tuple[Zone, ...]:
    """Zones from files and directories (``*.yaml``/``*.yml``), sorted by origin.

    Every problem in every file is collected before raising; two files serving the
    same origin is itself a problem.
    """
    problems: list[Problem] = []
    seen: dict[str, Zone] = {}
    for path in _expand(paths, problems):
        parsed = _read_file(path, problems)
        if parsed is None:
            continue
        origin = parsed.zone.origin
        if origin in seen:
            mark = parsed.origin_node.start_mark
            reason = f"zone {origin} is also defined in {seen[origin].source}"
            problems.append(Problem(str(path), mark.line + 1, mark.column + 1, reason))
            continue
        seen[origin] = parsed.zone
    if problems:
        raise ConfigError(problems)
    return tuple(seen[o] for o in sorted(seen))
