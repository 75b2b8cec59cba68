"""The state file: operator overrides and pushed load, kept across restarts.

``gslb serve --state FILE`` writes it after every override or pushed load and reads
it at start. The format is JSON, version 1::

    {"version": 1,
     "overrides": [{"zone": "example.com.", "region": "eu-west", "state": "drain",
                    "since": 1767225600.0},
                   {"zone": "example.com.", "region": "eu-west",
                    "endpoint": "192.0.2.10", "state": "force-down", "since": ...}],
     "load": [{"zone": "example.com.", "region": "eu-west", "value": 0.73, "at": ...}]}

Times are wall-clock seconds; ``load`` holds the smoothed pushed value and when it was
pushed, so a push older than the maximum age is stale after a restart too.
:func:`save` is atomic (a temporary file in the same directory, fsync, rename, mode
0600): a crash leaves the old file or the new one, never half of one. :func:`load`
never raises on content: a corrupt file is logged and ignored, as is every entry
:func:`decode` cannot use.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

from gslb.live.health import OVERRIDES, Key, Override, Reading
from gslb.model import RegionKey

__all__ = ["Saved", "decode", "encode", "load", "save"]

log = logging.getLogger(__name__)
VERSION = 1


@dataclass(slots=True)
class Saved:
    """What a state file holds that is well-formed, and what is not (as messages)."""

    overrides: list[tuple[Key, Override, float]] = field(default_factory=list)
    load: list[tuple[RegionKey, Reading]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def encode(
    overrides: Mapping[Key, tuple[Override, float]], pushed: Mapping[RegionKey, Reading]
) -> dict[str, Any]:
    """The JSON-able form, sorted so that equal state gives an equal file."""
    return {
        "version": VERSION,
        "overrides": [
            {**_fields(key), "state": state, "since": since}
            for key, (state, since) in sorted(overrides.items())
        ],
        "load": [
            {**_fields(key), "value": r.value, "at": r.at} for key, r in sorted(pushed.items())
        ],
    }


def decode(data: object) -> Saved:
    """The well-formed entries of ``data``; the rest described in ``problems``."""
    out = Saved()
    if not isinstance(data, dict) or data.get("version") != VERSION:
        out.problems.append(f"state file: not a version {VERSION} gslb state: ignored")
        return out
    for item in _items(data, "overrides", out.problems):
        key, state, since = _key(item), item.get("state"), item.get("since")
        if key is None or state not in OVERRIDES or state == "auto" or not _number(since):
            out.problems.append(f"state file: override {_show(item)}: bad key, state or time")
        else:
            out.overrides.append((key, state, float(since)))
    for item in _items(data, "load", out.problems):
        key, value, at = _key(item), item.get("value"), item.get("at")
        if key is None or len(key) != 2 or not _number(value) or not _number(at):
            out.problems.append(f"state file: load {_show(item)}: bad key, value or time")
        elif not 0 <= value <= 1:
            out.problems.append(f"state file: load {_show(item)}: {value} is not 0..1")
        else:
            out.load.append((key, Reading(float(value), float(at))))
    return out


def save(path: str | Path, data: Mapping[str, Any]) -> None:
    """Write ``data`` as JSON atomically, readable by the owner only. OSError (a
    missing directory, a full disk) is the caller's to report."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:  # mkstemp makes it 0600
            json.dump(data, f, indent=1, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dirfd = os.open(path.parent, os.O_RDONLY)
    except OSError:  # pragma: no cover - a directory that cannot be opened
        return
    try:
        os.fsync(dirfd)
    finally:
        os.close(dirfd)


def load(path: str | Path) -> dict[str, Any] | None:
    """The saved data, or None: no file yet (quietly), or one that cannot be read or
    is not a JSON object (logged as an error, ignored, and set aside as
    ``<file>.corrupt`` so the next save does not destroy what the operator may need)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as e:
        _corrupt(path, str(e))
        return None
    except OSError as e:
        log.error("state file %s cannot be read, starting without it: %s", path, e)
        return None
    try:
        data = json.loads(text)
    except ValueError as e:
        _corrupt(path, str(e))
        return None
    if not isinstance(data, dict):
        _corrupt(path, "not a JSON object")
        return None
    return data


def _corrupt(path: Path, why: str) -> None:
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        kept = f"kept as {aside}"
    except OSError as e:
        kept = f"could not keep it as {aside}: {e.strerror or e}"
    log.error("state file %s is corrupt, starting without it (%s): %s", path, kept, why)


def _fields(key: Key) -> dict[str, str]:
    names = ("zone", "region", "endpoint")
    return dict(zip(names, key, strict=False))


def _items(data: dict[str, Any], name: str, problems: list[str]) -> list[dict[str, Any]]:
    items = data.get(name, [])
    if not isinstance(items, list):
        problems.append(f"state file: '{name}' is not a list: ignored")
        return []
    good = [i for i in items if isinstance(i, dict)]
    if len(good) != len(items):
        problems.append(f"state file: {len(items) - len(good)} '{name}' entries are not objects")
    return good


def _key(item: dict[str, Any]) -> Key | None:
    parts = [item.get("zone"), item.get("region")]
    if "endpoint" in item:
        parts.append(item["endpoint"])
    if not all(isinstance(p, str) for p in parts):
        return None
    return tuple(parts)  # type: ignore[return-value]


def _show(item: dict[str, Any]) -> str:
    return "/".join(str(item.get(k)) for k in ("zone", "region", "endpoint") if k in item)


def _number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value
