"""Options every ``gslb`` command accepts, wherever they are written.

``gslb -v serve`` and ``gslb serve -v`` mean the same: :func:`add_common` gives the
top-level parser the options with their defaults, and every sub-command parser (nested
ones too) the same options with no default, so a value given before the sub-command is
not overwritten by the sub-parser's default. :func:`plain` turns the docstring markup
used for ``--help`` descriptions (double backticks) into plain text.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from typing import Any

__all__ = ["add_common", "parsers", "plain"]


def _common(parser: argparse.ArgumentParser, default: Any) -> None:
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default, help="debug logging"
    )


def parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """``parser`` and every sub-command parser below it, depth first."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for sub in action.choices.values():
                if id(sub) not in seen:  # aliases map several names to one parser
                    seen.add(id(sub))
                    yield from parsers(sub)


def plain(text: str | None) -> str | None:
    return None if text is None else text.replace("``", "")


def add_common(top: argparse.ArgumentParser) -> None:
    """The common options on ``top`` and all its sub-commands; help texts made plain."""
    for parser in parsers(top):
        _common(parser, False if parser is top else argparse.SUPPRESS)
        parser.description = plain(parser.description)
        for action in parser._actions:
            action.help = plain(action.help)
