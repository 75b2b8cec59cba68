"""The package's shape: lower layers never import higher ones, pure layers do no I/O.

Reads every module's imports with ``ast`` (nothing is executed), so a violation is
caught even in code no test runs. Layers, lowest first, are those of
``CONVENTIONS.md``: model -> config, geo -> policy -> dns, sync -> live -> cli.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gslb"

#: A module may import modules of its own layer or of a lower rank.
RANK = {
    "model": 0, "errors": 0, "defaults": 0, "heap": 0, "native": 0,
    "config": 1, "geo": 1,
    "policy": 2,
    "dns": 3, "sync": 3,
    "live": 4,
    "cli": 5, "__main__": 5,
}  # fmt: skip
PURE = ("model", "errors", "config", "geo", "policy")
#: Modules a pure layer must never import (I/O and concurrency belong at the edges).
IMPURE = ("asyncio", "aiohttp", "boto3", "botocore", "socket", "selectors", "ssl", "threading")
#: The offline database builder writes files and may fetch its source with pip.
IMPURE_ALLOWED = {"geo.build": ("subprocess",)}


def modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        out.append((".".join(parts), path))
    return out


def layer(dotted: str) -> str:
    return dotted.split(".")[0] if dotted else "__init__"


def imports(path: Path, dotted: str) -> list[str]:
    """Absolute names of everything ``path`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = dotted.rsplit(".", 1)[0] if path.name != "__init__.py" else dotted
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = ("gslb." + package).split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            out.append(base)
            out.extend(f"{base}.{alias.name}" for alias in node.names)
    return out


MODULES = modules()


@pytest.mark.parametrize(("dotted", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_upward_imports(dotted: str, path: Path) -> None:
    mine = layer(dotted)
    if mine == "__init__":
        return
    assert mine in RANK, f"gslb.{dotted}: layer '{mine}' is not in the layer table"
    bad = []
    for name in imports(path, dotted):
        if not name.startswith("gslb.") or name == "gslb.__version__":
            continue
        theirs = layer(name[len("gslb.") :])
        if theirs in RANK and RANK[theirs] > RANK[mine]:
            bad.append(name)
    assert not bad, f"gslb.{dotted} (layer {mine}) imports higher layers: {sorted(set(bad))}"


@pytest.mark.parametrize(("dotted", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_pure_layers_do_no_io(dotted: str, path: Path) -> None:
    if layer(dotted) not in PURE:
        return
    allowed = next((a for p, a in IMPURE_ALLOWED.items() if dotted.startswith(p)), ())
    bad = {
        name
        for name in imports(path, dotted)
        if name.split(".")[0] in IMPURE and name.split(".")[0] not in allowed
    }
    assert not bad, f"gslb.{dotted} is in a pure layer but imports {sorted(bad)}"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    """The import reader is not vacuous: it reports what a bad module imports."""
    bad = tmp_path / "bad.py"
    bad.write_text("import socket\nfrom gslb.live.runtime import Runtime\nfrom . import x\n")
    found = imports(bad, "policy.bad")
    assert "socket" in found and "gslb.live.runtime" in found and "gslb.policy.x" in found


def test_every_module_imports_first() -> None:
    """No import cycles: every module imports as the first gslb module of a fresh process."""
    names = ["gslb." + m if m else "gslb" for m, _ in MODULES if m != "__main__"]
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import {name}"], stderr=subprocess.PIPE, text=True
        )
        for name in names
    }
    failed = {name: p.communicate()[1].strip().splitlines()[-1:] for name, p in procs.items()}
    assert {n: e for n, e in failed.items() if procs[n].returncode} == {}
