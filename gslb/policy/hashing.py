"""Stable hashes of a client network: which networks spill, which endpoints a client keeps.

Never Python's salted ``hash``: the same network must get the same answer in every
worker, every instance and after every restart. The client key is
:func:`gslb.model.client_key` (the /24 or /48 and the IP version).
"""

from __future__ import annotations

import math
from hashlib import blake2b
from typing import Final

from gslb.model import Endpoint

__all__ = ["rendezvous", "rendezvous_score", "unit_hash"]

_TWO_64: Final = float(1 << 64)


def unit_hash(data: bytes) -> float:
    """A uniform value in [0, 1) from a stable hash."""
    return int.from_bytes(blake2b(data, digest_size=8).digest(), "big") / _TWO_64


def rendezvous_score(client_key: bytes, endpoint: Endpoint) -> float:
    """Weighted highest-random-weight score: ``-weight / ln(u)``, u in (0, 1)."""
    h = int.from_bytes(blake2b(client_key + endpoint.address.packed, digest_size=8).digest())
    u = (h + 0.5) / _TWO_64  # strictly inside (0, 1): ln(u) < 0, never ln(0)
    return -endpoint.weight / math.log(u)


def rendezvous(
    client_key: bytes, endpoints: tuple[Endpoint, ...], count: int
) -> tuple[Endpoint, ...]:
    """The ``count`` endpoints this client keeps: only clients of a removed one move."""
    scored = sorted(
        ((-rendezvous_score(client_key, ep), i, ep) for i, ep in enumerate(endpoints)),
        key=lambda t: (t[0], t[1]),
    )
    return tuple(t[2] for t in scored[:count])
