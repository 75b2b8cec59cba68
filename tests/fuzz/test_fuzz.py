"""The fuzz target in the default suite: the kept corpus and crashers as regression
tests, a short mutation run, and (where atheris installs) a short coverage-guided run."""

from __future__ import annotations

import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.fuzz import harness
from tests.fuzz.run import CORPUS, CRASHERS
from tests.unit.test_fastpath import _mutate


def kept_inputs() -> list[Path]:
    found = sorted(CORPUS.glob("*")) + sorted(CRASHERS.glob("*"))
    return [p for p in found if not p.name.startswith(".")]  # .gitkeep


def test_corpus_is_small_and_real() -> None:
    seeds = sorted(CORPUS.glob("*"))
    assert 20 <= len(seeds) <= 200 and sum(p.stat().st_size for p in seeds) < 64 * 1024
    answered = [harness.check(p.read_bytes()) for p in seeds]
    assert sum(out is not None for out in answered) >= len(seeds) // 2


@pytest.mark.parametrize("path", kept_inputs(), ids=lambda p: p.name)
def test_kept_input_holds_every_invariant(path: Path) -> None:
    harness.check(path.read_bytes())


def test_short_mutation_run() -> None:
    """5,000 mutations of the corpus, on both paths (no coverage guidance here)."""
    rng = random.Random(4096)
    seeds = [p.read_bytes() for p in sorted(CORPUS.glob("*"))]
    for _ in range(5000):
        data = _mutate(rng, _mutate(rng, rng.choice(seeds)))
        try:
            harness.check(data)
        except harness.Violation as e:
            raise AssertionError(f"{e} for input {data.hex()}") from e


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None, reason="atheris not installed")
def test_short_coverage_guided_run(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", "-runs=5000", f"-artifact_prefix={tmp_path}/"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Done 5000 runs" in out.stderr
    assert not list(tmp_path.iterdir())  # no crash artifact
