"""``gslb admin``: change and read the running server's live state over its HTTP API.

Overrides (``drain``, ``force-up``, ``force-down``, ``auto``) act on a region or on one
endpoint (``REGION/ADDRESS``); ``load`` pushes a region's load 0..1 (``clear`` forgets
it); ``status`` prints every region and endpoint; ``reload`` reloads the zones. A region
name that two zones share is written ``REGION@ZONE``. The server is the local ``--http``
address unless ``--server`` says otherwise; a token (``--token``, ``--token-file`` or
``$GSLB_TOKEN``) is sent when given.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from gslb import defaults

EXIT_OK, EXIT_REFUSED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_SERVER = f"http://127.0.0.1:{defaults.HTTP_PORT}"


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "admin", help="drain, force and inspect regions of the running server",
        description=__doc__,
    )  # fmt: skip
    p.add_argument("--server", default=DEFAULT_SERVER, metavar="URL",
                   help=f"the server's HTTP API (default {DEFAULT_SERVER})")  # fmt: skip
    p.add_argument("--token", metavar="TOKEN", help="bearer token (or $GSLB_TOKEN)")
    p.add_argument("--token-file", metavar="FILE", help="read the bearer token from FILE")
    cmds = p.add_subparsers(dest="admin_command", metavar="{drain,force-up,force-down,auto,"
                            "load,status,reload}")  # fmt: skip
    cmds.required = True
    for state, what in (
        ("drain", "no new answers from it (still probed)"),
        ("force-up", "up whatever the probes say"),
        ("force-down", "down whatever the probes say"),
        ("auto", "back to the probes (clear the override)"),
    ):
        c = cmds.add_parser(state, help=f"{state}: {what}")
        c.add_argument("target", metavar="REGION[/ADDRESS]")
        c.set_defaults(func=run, state=state)
    load = cmds.add_parser("load", help="push a region's load 0..1 ('clear' to forget it)")
    load.add_argument("target", metavar="REGION")
    load.add_argument("value", metavar="LOAD")
    load.set_defaults(func=run, state=None)
    status = cmds.add_parser("status", help="every region and endpoint: state, why, load")
    status.add_argument("--json", action="store_true", help="the API's JSON as it is")
    status.set_defaults(func=run, state=None)
    reload = cmds.add_parser("reload", help="reload the zone files")
    reload.set_defaults(func=run, state=None)


def _token(args: argparse.Namespace) -> str | None:
    if args.token:
        return str(args.token)
    if args.token_file:
        return Path(args.token_file).read_text().strip()
    return os.environ.get("GSLB_TOKEN") or None


def _call(args: argparse.Namespace, method: str, path: str, body: Any = None) -> Any:
    url = args.server.rstrip("/") + path
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    token = _token(args)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - operator's URL
        return json.loads(response.read() or b"null")


def _path(target: str) -> str:
    region, _, endpoint = target.partition("/")
    quoted = urllib.parse.quote(region, safe="@")
    return quoted + (f"/{urllib.parse.quote(endpoint)}" if endpoint else "")


def run(args: argparse.Namespace) -> int:
    command = args.admin_command
    try:
        _token(args)
    except OSError as e:
        print(f"gslb admin: cannot read the token file {args.token_file}: {e.strerror or e}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    try:
        if command == "status":
            result = _call(args, "GET", "/api/v1/status")
            print(json.dumps(result, indent=2) if args.json else table(result))
            return EXIT_OK
        if command == "reload":
            result = _call(args, "POST", "/api/v1/reload")
            print("reloaded" if result.get("ok") else "refused")
            return EXIT_OK
        if command == "load":
            if args.value == "clear":
                _call(args, "DELETE", f"/api/v1/load/{_path(args.target)}")
                print(f"{args.target}: pushed load cleared")
                return EXIT_OK
            try:
                value = float(args.value)
            except ValueError:
                print(f"gslb admin: load '{args.value}' is not a number", file=sys.stderr)
                return EXIT_USAGE
            _call(args, "PUT", f"/api/v1/load/{_path(args.target)}", {"load": value})
            print(f"{args.target}: load {value:g}")
            return EXIT_OK
        result = _call(
            args, "PUT", f"/api/v1/overrides/{_path(args.target)}", {"state": args.state}
        )
        changes = result.get("changes") or ["no change"]
        print("\n".join(changes))
        return EXIT_OK
    except urllib.error.HTTPError as e:
        try:
            reason = json.loads(e.read() or b"{}").get("error") or e.reason
        except ValueError:
            reason = e.reason
        if e.code == 422:
            reason = "reload refused (see the server's log or `gslb admin status`)"
        print(f"gslb admin: {e.code}: {reason}", file=sys.stderr)
        return EXIT_REFUSED if e.code not in (400, 404) else EXIT_USAGE
    except (urllib.error.URLError, OSError) as e:
        why = getattr(e, "reason", e)
        print(f"gslb admin: cannot reach {args.server}: {why}", file=sys.stderr)
        return EXIT_UNREACHABLE


def _cell(value: Any, percent: bool = False) -> str:
    if value is None or value == "":
        return "-"
    if percent and isinstance(value, float):
        return f"{value:.0%}"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def table(status: dict[str, Any]) -> str:
    """The status as a table: a line per region, indented lines for its endpoints."""
    head = ("REGION", "STATE", "SINCE", "LOAD", "SHARE", "OVERRIDE", "WHY")
    rows: list[tuple[str, ...]] = [head]
    zones = {r.get("zone") for r in status.get("regions", ())}
    for r in status.get("regions", ()):
        name = r["name"] if len(zones) < 2 else f"{r['name']}@{r['zone']}"
        load = _cell(r.get("load")) + (" (stale)" if r.get("load_stale") else "")
        rows.append((name, _cell(r.get("state")), _cell(r.get("since")), load,
                     _cell(r.get("share"), True), _cell(r.get("override")),
                     _cell(r.get("reason"))))  # fmt: skip
        for e in r.get("endpoints", ()):
            rows.append((f"  {e['address']}", _cell(e.get("state")), _cell(e.get("since")),
                         "", "", _cell(e.get("override")), _cell(e.get("reason"))))  # fmt: skip
    widths = [max(len(row[i]) for row in rows) for i in range(len(head) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1]
             for row in rows]  # fmt: skip
    zones_line = ", ".join(f"{z['origin']} serial {z['serial']}" for z in status.get("zones", ()))
    return "\n".join([f"zones: {zones_line}", *lines])
