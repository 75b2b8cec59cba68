"""The inner loop of gslb.dns.udpbatch (_batch.c)."""

from collections.abc import Callable
from typing import Any

def answer(
    rhdrs: Any,
    shdrs: Any,
    n: int,
    out: Any,
    path: tuple[Any, tuple[int, ...], dict[Any, Any], tuple[dict[Any, Any], ...]],
    counts: list[int],
    slow: Callable[[int, bytes], bytes | None],
    limit: Callable[[int, bytes], bytes | None] | None,
    keep: list[object],
) -> int: ...
