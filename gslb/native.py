"""Whether our optional C modules may be used (``gslb/geo/_tree.c``, ``gslb/dns/_batch.c``).

``setup.py`` builds them where a C compiler and Python's headers are installed; without
them gslb installs and answers the same, in Python, only slower. ``GSLB_PURE_PYTHON=1``
turns both off, to compare or to rule them out. Read when a tree or a UDP loop is made
(at start and on reload), never per query.
"""

from __future__ import annotations

import os


def why_not(module: object) -> str | None:
    """Why a C module (None when it did not import) is off, or None when it is on."""
    if module is None:
        return "C module not built"
    if os.environ.get("GSLB_PURE_PYTHON", "") not in ("", "0"):
        return "GSLB_PURE_PYTHON is set"
    return None
