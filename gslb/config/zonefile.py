"""Zone YAML → validated :mod:`gslb.model` objects, with every problem reported at once.

This is the one boundary where untrusted text becomes the model (house rule 3): each
problem is a :class:`~gslb.errors.Problem` at ``file:line:col``, and the whole batch is
raised as :class:`~gslb.errors.ConfigError`, so an operator fixes a file in one pass.
The schema is the one ``zones/example.com.yaml`` documents. Names in the model are
absolute, lower-case and end with a dot.

This module holds the zone's structure: the top-level keys, ``soa``, ``ns``, the
``records`` section and the checks that need the whole tree (CNAME exclusivity,
delegation and occlusion, glue, targets). Single values (names, rdata) are parsed by
:mod:`gslb.config.rdata`; ``regions``, ``fences`` and ``gslb`` by :mod:`gslb.config.regions` and
:mod:`gslb.config.names`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from gslb.config.names import read_fences, read_gslb
from gslb.config.rdata import (
    MAX_TTL,
    InvalidValue,
    inside,
    parse_name,
    parse_owner,
    parse_rdata,
    soa_rdata,
)
from gslb.config.regions import read_regions
from gslb.config.tree import ZoneTree
from gslb.config.yamlsource import (
    MappingNode,
    Node,
    ScalarNode,
    SequenceNode,
    Sink,
    compose,
    release,
    suggest,
)
from gslb.errors import ConfigError, Problem
from gslb.model import STATIC_TYPES, Fence, GslbName, Region, RRset, Soa, Zone

__all__ = ["load_zone", "load_zones"]

MAX_SERIAL = 4_294_967_295
DEFAULT_TTL = 3600

_TOP = ("zone", "ttl", "soa", "ns", "records", "regions", "fences", "gslb")
_SOA = ("mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl")
_ADDRESS_TYPES = frozenset({"A", "AAAA"})
_TARGET_TYPES = ("MX", "NS", "SRV")


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


def _unread(root: Node, top: dict[str, Node], section: str) -> bool:
    """Whether ``section`` was written but could not be read: not a mapping, or
    misspelled (an unknown top-level key that suggests it). Its problem is reported
    already; references into it are then not reported one by one."""
    if section in top:
        return not isinstance(top[section], MappingNode)
    keys = [k.value for k, _ in root.value if isinstance(k, ScalarNode)]
    return any(k not in _TOP and suggest(str(k), (section,)) for k in keys)


class _ZoneReader:
    """Reads one composed file; every ``_read_*`` method reports into ``self.sink``."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.origin = ""
        self.ttl = DEFAULT_TTL
        self.owners: dict[str, _Owner] = {}
        self.regions: dict[str, Region | None] = {}
        self.gslb_owners: set[str] = set()
        self._built: tuple[int, ZoneTree] | None = None

    def read(self, root: Node) -> _Parsed | None:
        sink = self.sink
        top = sink.fields(root, "zone file", _TOP, required=("zone", "soa", "ns"))
        if top is None:
            return None
        if "zone" in top:
            origin_text = sink.text(top["zone"], "zone")
            if origin_text is not None:
                try:
                    origin = parse_name(origin_text.rstrip(".") + ".", ".")
                    if origin.startswith("*"):
                        raise InvalidValue(f"zone origin '{origin_text}' cannot be a wildcard")
                    self.origin = origin
                except InvalidValue as exc:
                    sink.add(top["zone"], str(exc))
        if "ttl" in top:
            ttl = sink.integer(top["ttl"], "ttl", 0, MAX_TTL)
            self.ttl = self.ttl if ttl is None else ttl
        soa = self._read_soa(top["soa"]) if "soa" in top else None
        ns = self._read_ns(top["ns"]) if "ns" in top else None
        if "records" in top and self.origin:
            self._read_records(top["records"])
        self.regions = read_regions(sink, top.get("regions"), self.origin)
        unread = _unread(root, top, "regions")
        fences = read_fences(sink, top.get("fences"), self.regions, (), "", unread)
        gslb: dict[str, GslbName] = {}
        if "gslb" in top and self.origin:
            gslb = read_gslb(
                sink, top["gslb"], self.origin, self.regions, fences, self._gslb_owner, unread
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
                    names[key] = parse_name(text, self.origin)
                except InvalidValue as exc:
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
                name = parse_name(text, self.origin)
            except InvalidValue as exc:
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
                owner = parse_owner(owner_text, self.origin)
            except InvalidValue as exc:
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
                rdata, target = parse_rdata(rtype, text, self.origin)
            except InvalidValue as exc:
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

    def _tree(self) -> ZoneTree:
        """The tree as read so far (records, then GSLB owners as they are read)."""
        count = len(self.owners) + len(self.gslb_owners)  # O(1): called once per record
        if self._built is None or self._built[0] != count:
            delegations = [o for o, d in self.owners.items() if "NS" in d.types]
            owners = [*self.owners, *self.gslb_owners]
            self._built = (count, ZoneTree(self.origin, owners, delegations))
        return self._built[1]

    def _cut(self, name: str, *, inclusive: bool) -> str | None:
        return self._tree().cut(name, inclusive=inclusive)

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
        owner, _ = self._tree().find(name)
        return owner is not None and self._has_address(owner)

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
                    if inside(target, owner) and not self._has_address(target):
                        sink.add(node, f"NS target {target} needs glue (an A or AAAA record)")
        for target, node in ns:
            self._check_target("NS", target, node)
        for owner, draft in self.owners.items():
            if self._cut(owner, inclusive=False) is None:
                for rtype in _TARGET_TYPES:
                    for target, node in draft.types[rtype].targets if rtype in draft.types else ():
                        self._check_target(rtype, target, node)

    def _check_target(self, rtype: str, target: str, node: Node) -> None:
        if target == "." or not inside(target, self.origin):
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
        apex: dict[str, RRset] = {
            "SOA": RRset(o, "SOA", soa.ttl, (soa_rdata(soa),)),
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


# --------------------------------------------------------------------------- files


def _read_file(path: Path, problems: list[Problem]) -> _Parsed | None:
    sink = Sink(str(path))
    root = compose(path, sink)
    if root is None:
        problems.extend(sink.problems)
        return None
    parsed = _ZoneReader(sink).read(root)
    problems.extend(sink.problems)
    release(root)
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
