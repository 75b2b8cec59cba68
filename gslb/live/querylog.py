"""A sampled query log (``gslb serve --query-log RATE``) that respects client privacy.

Off by default, and when off it costs nothing: the server uses a plain
:class:`~gslb.dns.responder.Responder`. When on, a share of queries is logged as one
event (``key=value`` in text logs, fields in JSON logs): transport, client (the ECS
subnet or the resolver), name, type, rcode and the addresses answered. Client
addresses are cut to their /24 (IPv4) or /48 (IPv6) unless ``--query-log-full-ip``
says otherwise, so the log never holds a whole client subnet by accident (RFC 7871
section 11.1).
"""

from __future__ import annotations

import logging
import random
from ipaddress import ip_address, ip_network

from dnslib import QTYPE, RCODE, DNSRecord

from gslb.dns.counters import Counts
from gslb.dns.responder import BatchPath, Responder
from gslb.dns.view import View
from gslb.live.logs import event
from gslb.model import CLIENT_PREFIX

__all__ = ["LoggingResponder", "describe"]

log = logging.getLogger("gslb.queries")


def _mask(text: str, full: bool) -> str:
    """A client address or subnet, cut to its /24 or /48 unless ``full``."""
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        return text
    if full:
        return str(net)
    prefix = min(net.prefixlen, CLIENT_PREFIX[net.version])
    return str(net.supernet(new_prefix=prefix))


def describe(data: bytes, out: bytes | None, peer: str, tcp: bool, full_ip: bool) -> dict[str, str]:
    """The fields logged for one query and its reply (never raises)."""
    fields = {"transport": "tcp" if tcp else "udp"}
    try:
        query = DNSRecord.parse(data)
        client = peer.partition("%")[0]
        for opt in query.ar:
            for option in getattr(opt, "rdata", None) or ():
                if getattr(option, "code", None) == 8 and len(option.data) >= 4:
                    family, source = option.data[1], option.data[2]
                    raw = option.data[4:].ljust(4 if family == 1 else 16, b"\0")
                    client = f"{ip_address(bytes(raw))}/{source}"
        fields["client"] = _mask(client, full_ip)
        q = query.questions[0]
        fields["name"] = str(q.qname).lower()
        fields["type"] = str(QTYPE.get(q.qtype, q.qtype))
    except Exception:  # a malformed query is still worth a line
        fields["client"] = _mask(peer, full_ip)
        fields["malformed"] = f"{len(data)}B"
    if out is None:
        fields["rcode"] = "dropped"
    else:
        try:
            reply = DNSRecord.parse(out)
            fields["rcode"] = str(RCODE.get(reply.header.rcode, reply.header.rcode))
            answers = [str(rr.rdata) for rr in reply.rr if rr.rtype in (1, 28)]
            if answers:
                fields["answer"] = ",".join(answers)
        except Exception:
            fields["reply"] = f"{len(out)}B"
    return fields


class LoggingResponder(Responder):
    """A responder that logs a random ``rate`` share of what it answers."""

    __slots__ = ("rate", "full_ip", "_random")

    def __init__(self, view: View, rate: float, full_ip: bool = False) -> None:
        super().__init__(view)
        self.rate = rate
        self.full_ip = full_ip
        self._random = random.Random()

    def respond(
        self, data: bytes, resolver: str, tcp: bool = False, counts: Counts | None = None
    ) -> bytes | None:
        out = super().respond(data, resolver, tcp, counts)
        if self._random.random() < self.rate:
            fields = describe(data, out, resolver, tcp, self.full_ip)
            log.info("query", extra=event(event="query", **fields))
        return out

    def batch_path(self) -> BatchPath:
        """Nothing for the C batch loop: every query must pass :meth:`respond` to be
        sampled, so none may be answered without it."""
        return None, (), {}, ()

    def respond_rest(
        self, data: bytes, resolver: str, counts: Counts | None = None
    ) -> bytes | None:
        """All of :meth:`respond`, logged: :meth:`batch_path` offered nothing."""
        return self.respond(data, resolver, False, counts)
