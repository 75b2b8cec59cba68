"""Live states for tests, written with bare region names as a zone file names them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from gslb.model import GslbName, LiveState


def state_for(
    name: GslbName | str,
    down: Iterable[str] = (),
    down_endpoints: Iterable[tuple[str, str]] = (),
    load: Mapping[str, float] | None = None,
    drained: Iterable[str] = (),
) -> LiveState:
    """A state for the regions of ``name`` (a GSLB name, or a zone origin)."""
    zone = name if isinstance(name, str) else (name.regions[0].zone if name.regions else "")
    return LiveState(
        down_regions=frozenset((zone, r) for r in down),
        down_endpoints=frozenset((zone, r, a) for r, a in down_endpoints),
        drained_regions=frozenset((zone, r) for r in drained),
        load=MappingProxyType({(zone, r): v for r, v in (load or {}).items()}),
    )
