"""Defaults every command shares: where zones and the geo database are, where to listen.

Written once so that ``gslb serve``, ``check``, ``resolve`` and ``geoip`` cannot drift.

The example zones and the compact geo database are found from this file, never from
the current directory, so ``gslb serve`` works from anywhere: in a checkout (or an
editable install) they are the repository's top-level ``zones/`` and ``data/``; in an
installed wheel they are package data under ``gslb/_bundled/`` (the build maps those
two directories there, see ``setup.py``). The database's ``.xz`` is unpacked beside
itself, or into :func:`cache_dir` when the package directory is read-only (see
:mod:`gslb.geo.database`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from gslb.model import HostPort

_PACKAGE = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """A directory shipped with gslb (``zones`` or ``data``): package data in a wheel,
    the repository's own directory in a checkout."""
    installed = _PACKAGE / "_bundled" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name


def cache_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """Where files derived from bundled data go when the package directory is read-only.

    systemd's ``CacheDirectory=`` (``$CACHE_DIRECTORY``) or ``StateDirectory=``
    (``$STATE_DIRECTORY``) first (the first entry if several are configured), then
    ``$XDG_CACHE_HOME/gslb``, then ``~/.cache/gslb``.
    """
    for var in ("CACHE_DIRECTORY", "STATE_DIRECTORY"):
        value = environ.get(var, "").split(":")[0]
        if value:
            return Path(value)
    xdg = environ.get("XDG_CACHE_HOME", "")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "gslb"
    return Path(environ.get("HOME") or Path.home()) / ".cache" / "gslb"


def state_file(zones: Sequence[str]) -> Path:
    """Where ``gslb serve`` keeps overrides and pushed load without ``--state``: beside
    the first zones path, or in :func:`cache_dir` when that directory is read-only
    (the bundled zones of a system-wide install)."""
    first = Path(zones[0])
    directory = first if first.is_dir() else first.parent
    if os.access(directory, os.W_OK):
        return directory / ".gslb-state.json"
    return cache_dir() / "state.json"


ZONES = str(bundled("zones"))
GEOIP = str(bundled("data") / "dbip-city-lite.mmdb")
#: Port 53 needs privileges; 5353 is multicast DNS, which avahi and systemd-resolved
#: hold on most desktops. 1053 is "53 above 1024", the usual unprivileged stand-in for
#: a DNS port (CoreDNS's examples use it), and no common service binds it.
DNS_PORT = 1053
DNS_LISTENERS = (HostPort("127.0.0.1", DNS_PORT), HostPort("::1", DNS_PORT))
HTTP_PORT = 8053
