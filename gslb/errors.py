"""Exceptions that carry what an operator needs to fix the problem."""

from __future__ import annotations

from dataclasses import dataclass


class GslbError(Exception):
    """Base of every error gslb raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with an input file, located for an editor."""

    file: str
    line: int  # 1-based
    col: int  # 1-based
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.reason}"


class ConfigError(GslbError):
    """A config or zone file is invalid; ``problems`` lists every issue found at once."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line, p.col, p.reason))
        super().__init__("\n".join(str(p) for p in self.problems))


class GeoDatabaseError(GslbError):
    """The geo database is missing, corrupt or lacks the fields routing needs."""
