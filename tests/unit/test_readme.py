"""The README's console examples print what the README says they print.

Every ```console block whose commands are all ``gslb`` or ``echo $?`` is run, in
order, in one shell in the repository, and its output compared with the block. Blocks
that abridge their output (a ``...`` line, or an ellipsis in a path) are skipped, as are
blocks that need a running server (``dig``). The repository path is shown relative.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

BLOCK = re.compile(r"```console\n(.*?)```", re.S)


def runnable_blocks() -> list[tuple[int, str]]:
    text = (REPO / "README.md").read_text()
    blocks = []
    for m in BLOCK.finditer(text):
        body = m.group(1)
        commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
        if not commands or "..." in body:
            continue
        if all(c.startswith("gslb ") or c == "echo $?" for c in commands):
            blocks.append((text[: m.start()].count("\n") + 1, body))
    return blocks


def run_block(body: str) -> str:
    """The block's commands run in one shell, each echoed as ``$ command`` before its
    output; ``echo $?`` sees the previous command's status, as in a terminal."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env.pop("GSLB_TEST_GEOIP", None)
    commands = [line[2:] for line in body.splitlines() if line.startswith("$ ")]
    script = "\n".join(f"rc=$?; echo {_quote('$ ' + c)}; (exit $rc); {c} 2>&1" for c in commands)
    done = subprocess.run(["bash", "-c", script], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=300)  # fmt: skip
    return done.stdout.replace(f"{REPO}/", "")


def _quote(command: str) -> str:
    return "'" + command.replace("'", "'\\''") + "'"


@pytest.mark.parametrize(("line", "body"), runnable_blocks(), ids=lambda v: str(v)[:40])
def test_console_example_prints_what_the_readme_shows(line: int, body: str) -> None:
    assert run_block(body) == body, f"README.md:{line}: the example's output changed"


def test_the_readme_has_examples_this_test_runs() -> None:
    assert len(runnable_blocks()) >= 3
