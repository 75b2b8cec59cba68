"""The tools the harness needs, and the one explicit step that installs them (``--install``).

Nothing here runs unless asked: without ``--install`` a missing tool is an error that
names the packages and the flag. Installing never starts, stops or reconfigures a
service; a gdnsd the Debian package may start on port 53 is left alone (ours runs on a
high loopback port with its own configuration directory).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("bench")

#: (binary, Debian package)
DEBIAN = (("dnsperf", "dnsperf"), ("gdnsd", "gdnsd"), ("dig", "bind9-dnsutils"))
#: (import name, pip package): the harness's own Python needs beyond gslb's.
PYTHON = (("psutil", "psutil"), ("dns", "dnspython"))


class ToolsMissing(RuntimeError):
    """A tool is missing and installing was not asked for (or did not help)."""


def which(binary: str) -> str | None:
    """The tool's path; gdnsd lives in /usr/sbin, which a user's PATH may lack."""
    found = shutil.which(binary)
    if found is None and Path("/usr/sbin", binary).exists():
        found = str(Path("/usr/sbin", binary))
    return found


def missing() -> tuple[list[str], list[str]]:
    """(Debian packages, pip packages) whose tools are not here."""
    debian = [package for binary, package in DEBIAN if which(binary) is None]
    python = [package for module, package in PYTHON if importlib.util.find_spec(module) is None]
    return debian, python


def install(debian: list[str], python: list[str]) -> None:
    """apt-get install the Debian packages, pip install the Python ones (this interpreter)."""
    if debian:
        log.info("installing Debian packages: %s", " ".join(debian))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        # their chatter goes to stderr: stdout carries only the table
        for argv, timeout in (
            ([*sudo, "apt-get", "update"], 600),
            ([*sudo, "apt-get", "install", "-y", *debian], 900),
        ):
            subprocess.run(argv, check=True, timeout=timeout, env=env, stdout=sys.stderr)
    if python:
        log.info("installing Python packages: %s", " ".join(python))
        subprocess.run(
            [sys.executable, "-m", "pip", "install", *python],
            check=True,
            timeout=600,
            stdout=sys.stderr,
        )
        importlib.invalidate_caches()


def ensure_tools(allow_install: bool) -> None:
    """Install what is missing when allowed; raise ToolsMissing naming what still is."""
    debian, python = missing()
    if not debian and not python:
        return
    if allow_install:
        install(debian, python)
        debian, python = missing()
        if not debian and not python:
            return
    wanted = []
    if debian:
        wanted.append(f"Debian packages {' '.join(debian)} (apt-get install -y {' '.join(debian)})")
    if python:
        wanted.append(f"Python packages {' '.join(python)} (pip install {' '.join(python)})")
    hint = "installing did not provide them" if allow_install else "rerun with --install"
    raise ToolsMissing(f"missing {' and '.join(wanted)}: {hint}")


def version_lines() -> dict[str, list[str]]:
    """First/last help line of dnsperf and gdnsd, which name their versions."""
    out: dict[str, list[str]] = {}
    for binary, pick in (("dnsperf", slice(-1, None)), ("gdnsd", slice(0, 1))):
        path = which(binary)
        if path is None:
            continue
        res = subprocess.run([path, "-h"], capture_output=True, text=True, timeout=30)
        out[binary] = res.stderr.splitlines()[pick]
    return out
