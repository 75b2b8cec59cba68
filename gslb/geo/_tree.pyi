"""The C twin of gslb.dns.place_answers.reply (_tree.c)."""

from typing import Any

class Tree:
    def __init__(
        self,
        owner: Any,
        node_count: int,
        record_size: int,
        ip_version: int,
        records: int,
        special4: bytes,
        special6: bytes,
    ) -> None: ...
    def find(self, version: int, packed: bytes) -> Any: ...
    def reply(self, data: bytes, tails: tuple[int, ...], placed: dict[Any, Any]) -> Any: ...
