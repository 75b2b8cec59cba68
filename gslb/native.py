"""Whether our optional C modules may be used (``gslb/geo/_tree.c``, ``gslb/dns/_batch.c``).

``setup.py`` builds them where a C compiler and Python's headers are installed; without
them gslb installs and answers the same, in Python, only slower. ``GSLB_PURE_PYTHON=1``
turns both off, to compare or to rule them out. Read when a tree or a UDP loop is made
(at start and on reload), never per query.
"""

from __future__ import annotations

import os


def pure_python() -> bool:
    """Whether the operator asked for no C (``GSLB_PURE_PYTHON`` set, not ``0``)."""
    return os.environ.get("GSLB_PURE_PYTHON", "") not in ("", "0")
