"""YAML with positions: compose a file into nodes and read typed values from them.

The zone readers (:mod:`gslb.config.zonefile`, ``regions``, ``names``) need
``file:line:col`` for every problem and must report all of them at once, so they never build Python
objects with ``yaml.safe_load``: they walk the composed node graph (every node keeps
its ``start_mark``) through the readers here, which record a
:class:`~gslb.errors.Problem` and return ``None`` instead of raising.
PyYAML silently keeps the last of duplicate mapping keys; :func:`mapping` rejects them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gslb.errors import Problem

__all__ = [
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "Sink",
    "compose",
    "describe",
    "release",
    "suggest",
]

_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_BOOL = "tag:yaml.org,2002:bool"
_NULL = "tag:yaml.org,2002:null"
_STR = "tag:yaml.org,2002:str"

_constructor = SafeConstructor()
#: Lists and mappings inside each other; a zone file needs about 7. PyYAML's composer
#: recurses twice per level, so 1,000 levels of ``[`` (which libyaml refuses, sending the
#: file here) raised RecursionError instead of a problem with a position.
MAX_DEPTH = 64


class _BoundedLoader(yaml.SafeLoader):
    """The pure-Python loader with a nesting bound: deeper input is a marked error."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                reason = f"lists and mappings nest deeper than {MAX_DEPTH} levels"
                raise yaml.composer.ComposerError(None, None, reason, mark)
            node: Node | None = super().compose_node(parent, index)
            return node
        finally:
            self._depth -= 1


def _fast_loader(module: Any) -> Any:
    """libyaml's loader (same resolver, same marks, ~10x faster; it refuses nesting past
    1,000 itself), or the bounded pure-Python one where PyYAML was built without it."""
    return getattr(module, "CSafeLoader", _BoundedLoader)


_FAST_LOADER: Any = _fast_loader(yaml)


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when one choice is obviously meant, else ``""``."""
    options = list(choices)
    by_case = [c for c in options if c.lower() == word.lower()]
    close = by_case or difflib.get_close_matches(word, options, n=1, cutoff=0.7)
    return f" (did you mean '{close[0]}'?)" if close else ""


def describe(node: Node) -> str:
    """What a node holds, in words, for "must be X, got Y" messages."""
    if isinstance(node, MappingNode):
        return "a mapping"
    if isinstance(node, SequenceNode):
        return "a list"
    return {
        _NULL: "nothing",
        _INT: f"integer {node.value}",
        _FLOAT: f"number {node.value}",
        _BOOL: f"boolean {node.value}",
    }.get(node.tag, f"'{node.value}'")


@dataclass(slots=True)
class Sink:
    """Collects the problems of one file; readers report here and return ``None``."""

    file: str
    problems: list[Problem] = field(default_factory=list)

    def add(self, node: Node | None, reason: str) -> None:
        """Record a problem at ``node``; the same problem at the same place is kept once."""
        if node is None:
            problem = Problem(self.file, 1, 1, reason)
        else:
            mark = node.start_mark
            problem = Problem(self.file, mark.line + 1, mark.column + 1, reason)
        if problem not in self.problems[-8:]:
            self.problems.append(problem)

    # ------------------------------------------------------------------ containers

    def mapping(self, node: Node, what: str) -> dict[str, tuple[ScalarNode, Node]] | None:
        """Entries of a mapping keyed by key text, in file order; duplicates reported."""
        if not isinstance(node, MappingNode):
            self.add(node, f"{what} must be a mapping, got {describe(node)}")
            return None
        entries: dict[str, tuple[ScalarNode, Node]] = {}
        for key, value in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _NULL:
                self.add(key, f"keys in {what} must be plain strings, got {describe(key)}")
                continue
            if key.tag == "tag:yaml.org,2002:merge":
                self.add(key, f"merge keys ('<<') are not supported in {what}")
                continue
            text = str(key.value)
            if text in entries:
                first = entries[text][0].start_mark.line + 1
                self.add(key, f"duplicate key '{text}' in {what} (first at line {first})")
                continue
            entries[text] = (key, value)
        return entries

    def fields(
        self,
        node: Node,
        what: str,
        allowed: Sequence[str],
        required: Sequence[str] = (),
    ) -> dict[str, Node] | None:
        """A mapping with a fixed set of keys: unknown and missing keys are reported."""
        entries = self.mapping(node, what)
        if entries is None:
            return None
        out: dict[str, Node] = {}
        for text, (key, value) in entries.items():
            if text not in allowed:
                self.add(key, f"unknown key '{text}' in {what}{suggest(text, allowed)}")
            else:
                out[text] = value
        for name in required:
            if name not in out:
                self.add(node, f"missing key '{name}' in {what}")
        return out

    def sequence(self, node: Node, what: str, *, empty_ok: bool = False) -> list[Node] | None:
        if not isinstance(node, SequenceNode):
            self.add(node, f"{what} must be a list, got {describe(node)}")
            return None
        if not node.value and not empty_ok:
            self.add(node, f"{what} must not be empty")
            return None
        return list(node.value)

    # ------------------------------------------------------------------ scalars

    def text(self, node: Node, what: str) -> str | None:
        """Any non-empty scalar as the text written in the file (numbers included)."""
        if not isinstance(node, ScalarNode) or node.tag == _NULL:
            self.add(node, f"{what} must be a string, got {describe(node)}")
            return None
        return str(node.value)

    def string(self, node: Node, what: str) -> str | None:
        """A scalar YAML reads as a string (not a number or boolean)."""
        if not isinstance(node, ScalarNode) or node.tag != _STR:
            self.add(node, f"{what} must be a string, got {describe(node)}")
            return None
        return str(node.value)

    def integer(self, node: Node, what: str, low: int, high: int) -> int | None:
        if not isinstance(node, ScalarNode) or node.tag != _INT:
            self.add(node, f"{what} must be an integer, got {describe(node)}")
            return None
        value: int = _constructor.construct_yaml_int(node)
        if not low <= value <= high:
            self.add(node, f"{what} {value} out of range {low}..{high}")
            return None
        return value

    def number(self, node: Node, what: str, low: float, high: float) -> float | None:
        if not isinstance(node, ScalarNode) or node.tag not in (_INT, _FLOAT):
            self.add(node, f"{what} must be a number, got {describe(node)}")
            return None
        construct = (
            _constructor.construct_yaml_int
            if node.tag == _INT
            else _constructor.construct_yaml_float
        )
        value = float(construct(node))
        if not low <= value <= high:  # also rejects nan
            self.add(node, f"{what} {node.value} out of range {low:g}..{high:g}")
            return None
        return value

    def boolean(self, node: Node, what: str) -> bool | None:
        if not isinstance(node, ScalarNode) or node.tag != _BOOL:
            self.add(node, f"{what} must be true or false, got {describe(node)}")
            return None
        value: bool = _constructor.construct_yaml_bool(node)
        return value


def compose(path: Path, sink: Sink) -> Node | None:
    """Read and compose one file; unreadable files and syntax errors become problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        sink.add(None, f"cannot read file: {getattr(exc, 'strerror', None) or exc}")
        return None
    try:
        node: Any = yaml.compose(text, Loader=_FAST_LOADER)
    except yaml.YAMLError:
        node = None
    if isinstance(node, Node):
        return node
    return _compose_slowly(text, sink)  # errors, empty files: pure-Python words and marks


def release(root: Node) -> None:
    """Free a composed file a node at a time.

    Dropping the root frees the whole graph in one C-level cascade that holds the GIL:
    ~40 ms for a 50,000-record zone, during which a server reloading in a thread
    answers nothing. Taken apart here, the interpreter can switch threads between
    nodes.
    """
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node.value, list):
            for item in node.value:
                stack.extend(item) if isinstance(item, tuple) else stack.append(item)
            node.value = []


def _compose_slowly(text: str, sink: Sink) -> Node | None:
    """Re-parse with the pure-Python loader so messages do not depend on libyaml."""
    try:
        node: Any = yaml.compose(text, Loader=_BoundedLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        reason = exc.problem or str(exc)
        if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            reason += f" ({exc.context} at line {exc.context_mark.line + 1})"
        sink.problems.append(Problem(sink.file, line, col, f"invalid YAML: {reason}"))
        return None
    except yaml.YAMLError as exc:
        sink.add(None, f"invalid YAML: {exc}")
        return None
    if not isinstance(node, Node):
        sink.add(None, "file is empty")
        return None
    return node
