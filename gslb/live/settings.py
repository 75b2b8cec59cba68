"""What ``gslb serve`` was asked to do: one value, passed whole to every worker process."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from gslb import defaults
from gslb.dns.server import Limits, UdpIo
from gslb.model import HostPort

__all__ = ["Settings"]

LogFormat = Literal["text", "json"]


@dataclass(frozen=True, slots=True)
class Settings:
    zones: tuple[str, ...] = (defaults.ZONES,)
    geoip: str = defaults.GEOIP
    listeners: tuple[HostPort, ...] = defaults.DNS_LISTENERS
    http: HostPort | None = None
    chaos: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    geoip_poll: float = 5.0  # seconds between database change checks
    workers: int = 1
    udp_io: UdpIo = "batch"  # recvmmsg/sendmmsg thread per socket; "asyncio" for the old path
    state: str | None = None  # overrides and pushed load persist here (None: not at all)
    token_file: str | None = None  # bearer token for the HTTP API's write endpoints
    watch: float = 0.0  # seconds between zone file change checks; 0: reload on signal only
    log_format: LogFormat = "text"
    query_log: float = 0.0  # share of queries logged (0..1)
    query_log_full_ip: bool = False  # log whole client addresses, not their /24 or /48
    keep_removed_zones: bool = True  # a zone whose file disappears keeps being served
    load_max_age: float = 300.0  # seconds a pushed load reading counts before it is stale

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Settings:
        data: dict[str, Any] = json.loads(text)
        data["zones"] = tuple(data["zones"])
        data["listeners"] = tuple(HostPort(**h) for h in data["listeners"])
        data["http"] = HostPort(**data["http"]) if data["http"] else None
        data["limits"] = Limits(**data["limits"])
        return cls(**data)
