"""Domain names and record data: one value in the file → its normalized presentation form.

These are the per-value rules of a zone file, separate from how the file is laid out
(:mod:`gslb.config`) and from the routing policy (:mod:`gslb.config.names`): a name is
resolved against the origin and checked label by label, and each record type's rdata is
checked and rewritten the way a master file would show it. Functions raise
:class:`InvalidValue` with the problem's reason; the caller knows the node and reports
``file:line:col``. No I/O here, so the rules are easy to test on their own.
"""

from __future__ import annotations

import ipaddress
import re

from gslb.config.yamlsource import suggest
from gslb.model import Soa

__all__ = [
    "CAA_TAGS",
    "MAX_TTL",
    "InvalidValue",
    "below",
    "inside",
    "parse_name",
    "parse_owner",
    "parse_rdata",
    "soa_rdata",
    "txt_rdata",
]

MAX_TTL = 2_147_483_647  # RFC 2181 section 8
CAA_TAGS = ("issue", "issuewild", "iodef", "contactemail", "contactphone", "issuemail", "issuevmc")

_LABEL = re.compile(r"[a-z0-9_/-]+")  # '/' for RFC 2317 classless reverse delegation


class InvalidValue(Exception):
    """A value is wrong; the message is the problem's reason."""


# --------------------------------------------------------------------------- names


def parse_name(text: str, origin: str) -> str:
    """``text`` as an absolute lower-case name: relative to ``origin`` unless it ends in '.'."""
    raw = text.strip()
    if raw == "@":
        return origin
    if raw == ".":
        return "."
    if not raw:
        raise InvalidValue("empty name")
    low = raw.lower()
    if low.endswith("."):
        name = low
    else:
        name = f"{low}." if origin == "." else f"{low}.{origin}"
    labels = name[:-1].split(".")
    for i, label in enumerate(labels):
        if not label:
            raise InvalidValue(f"empty label in name '{raw}'")
        if len(label.encode()) > 63:
            size = len(label.encode())
            raise InvalidValue(f"label '{label[:16]}...' is {size} bytes, longer than 63")
        if "*" in label and (label != "*" or i != 0):
            raise InvalidValue(f"wildcard '*' must be the whole leftmost label in '{raw}'")
        if label != "*" and not _LABEL.fullmatch(label):
            bad = next(c for c in label if not _LABEL.fullmatch(c))
            raise InvalidValue(f"invalid character '{bad}' in name '{raw}'")
    if sum(len(label) + 1 for label in labels) + 1 > 255:
        size = sum(len(label) + 1 for label in labels) + 1
        raise InvalidValue(f"name '{raw[:24]}...' is {size} bytes, longer than 255")
    return name


def parse_owner(text: str, origin: str) -> str:
    """A name that must lie inside the zone (a record or gslb owner)."""
    name = parse_name(text, origin)
    if not inside(name, origin):
        raise InvalidValue(f"'{text}' is outside zone {origin}")
    return name


def inside(name: str, origin: str) -> bool:
    """Whether ``name`` is ``origin`` or below it (everything is inside the root)."""
    return name == origin or name.endswith("." + origin) or origin == "."


def below(name: str, parent: str) -> bool:
    """Whether ``name`` is strictly below ``parent``."""
    return name != parent and inside(name, parent)


# --------------------------------------------------------------------------- rdata


def _u16(text: str, what: str, high: int = 65535) -> int:
    if not text.isdigit() or int(text) > high:
        raise InvalidValue(f"{what} '{text}' must be an integer 0..{high}")
    return int(text)


def _fields(text: str, rtype: str, count: int, form: str) -> list[str]:
    parts = text.split()
    if len(parts) != count:
        raise InvalidValue(f"{rtype} record '{text}' must be '{form}'")
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


def soa_rdata(soa: Soa) -> str:
    """The SOA rdata in presentation format (the TTL lives on the RRset, not here)."""
    return (
        f"{soa.mname} {soa.rname} {soa.serial} {soa.refresh} {soa.retry} {soa.expire} {soa.minimum}"
    )


def parse_rdata(rtype: str, text: str, origin: str) -> tuple[str, str | None]:
    """Normalized presentation rdata and the name it points at (MX/NS/SRV/CNAME/PTR)."""
    if rtype in ("A", "AAAA"):
        try:
            addr = ipaddress.ip_address(text.strip())
        except ValueError:
            raise InvalidValue(f"invalid address '{text}' in {rtype} record") from None
        if rtype == "A" and addr.version != 4:
            raise InvalidValue(f"'{text}' is an IPv6 address: use AAAA, not A")
        if rtype == "AAAA" and addr.version != 6:
            raise InvalidValue(f"'{text}' is an IPv4 address: use A, not AAAA")
        return str(addr), None
    if rtype in ("CNAME", "NS", "PTR"):
        target = parse_name(text, origin)
        return target, target
    if rtype == "MX":
        pref, host = _fields(text, rtype, 2, "preference name")
        target = parse_name(host, origin)
        return f"{_u16(pref, 'MX preference')} {target}", target
    if rtype == "SRV":
        prio, weight, port, host = _fields(text, rtype, 4, "priority weight port target")
        nums = [_u16(prio, "SRV priority"), _u16(weight, "SRV weight"), _u16(port, "SRV port")]
        target = parse_name(host, origin)
        return " ".join(map(str, nums)) + f" {target}", target
    if rtype == "CAA":
        return _caa(text), None
    if rtype == "TXT":
        return txt_rdata(text), None
    raise InvalidValue(f"unknown record type '{rtype}'")  # pragma: no cover


def _caa(text: str) -> str:
    parts = text.split(None, 2)
    if len(parts) != 3:
        raise InvalidValue(f"CAA record '{text}' must be 'flags tag \"value\"'")
    flags, tag, value = parts
    flag = _u16(flags, "CAA flags", 255)
    if tag not in CAA_TAGS:
        raise InvalidValue(f"unknown CAA tag '{tag}'{suggest(tag, CAA_TAGS)}")
    if len(value) >= 2 and value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    elif '"' in value:
        raise InvalidValue(f"CAA value '{value}' has unbalanced quotes")
    return f"{flag} {tag} {_quote(value.encode())}"
