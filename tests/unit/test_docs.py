"""Committed docs and code point only at things in the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

#: places outside the repository that docs once pointed at
DANGLING = re.compile(r"/work/shared|ROADMAP|BENCHMARKING\.md")


def tracked(*patterns: str) -> list[Path]:
    try:
        out = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return [REPO / line for line in out.splitlines() if (REPO / line).is_file()]


def test_no_references_outside_the_repository() -> None:
    offenders = []
    for path in tracked("*.md", "*.py", "*.toml", "*.yaml", "*.service", "Dockerfile", ".ci/*"):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if DANGLING.search(line) and path.name != "test_docs.py":
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == []


def test_relative_links_in_markdown_resolve() -> None:
    broken = []
    for path in tracked("*.md"):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (path.parent / target).exists():
                broken.append(f"{path.relative_to(REPO)}: {target}")
    assert broken == []
