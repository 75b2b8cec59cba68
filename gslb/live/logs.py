"""Log lines an operator can grep or a collector can parse.

``text`` (the default) is the usual ``time LEVEL logger: message``; a structured event
(a state change, a reload, an admin action) is written as its ``key=value`` pairs
instead of prose, one line per event, so grep and awk can read it.
``json`` writes one JSON object per line with the same fields. Lines from ``--workers``
processes say which worker wrote them. Events are logged with
``log.info(message, extra=event(key=value, ...))``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

__all__ = ["event", "setup"]

_EVENT = "gslb_event"


def event(**fields: object) -> dict[str, Any]:
    """``extra=`` for a structured log line."""
    return {_EVENT: fields}


def _value(v: object) -> str:
    text = str(v)
    return json.dumps(text) if (not text or any(c in text for c in ' "=\n')) else text


class _Text(logging.Formatter):
    def __init__(self, worker: str | None) -> None:
        prefix = f"[{worker}] " if worker else ""
        super().__init__(f"%(asctime)s %(levelname)s {prefix}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, _EVENT, None)
        if fields:
            record = logging.makeLogRecord(record.__dict__)
            record.msg = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
            record.args = ()
        return super().format(record)


class _Json(logging.Formatter):
    def __init__(self, worker: str | None) -> None:
        super().__init__()
        self.worker = worker

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if self.worker:
            out["worker"] = self.worker
        out.update(getattr(record, _EVENT, None) or {})
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup(fmt: str = "text", worker: str | None = None, verbose: bool = False) -> None:
    """(Re)configure the root logger: one stderr handler in the chosen format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Json(worker) if fmt == "json" else _Text(worker))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    if verbose:
        root.setLevel(logging.DEBUG)
    elif root.level in (logging.NOTSET, logging.WARNING):
        root.setLevel(logging.INFO)
