"""A built wheel, installed into a fresh venv, serves the bundled example from anywhere.

Offline by design: the wheel is built with ``--no-build-isolation`` from this
environment's setuptools (a test extra), installed with ``--no-index --no-deps``, and
the fresh venv finds its dependencies through a ``.pth`` pointing at this
environment's site-packages. The installed package is made read-only (a read-only
bind mount in a private mount namespace as root, permission bits otherwise), as in a
system-wide install served by another user, so the database must unpack into the cache.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from gslb.geo import tree
from tests.conftest import REPO
from tests.integration.test_cli_functional import free_port

pytestmark = pytest.mark.integration

SOURCES = ("gslb", "zones", "setup.py", "pyproject.toml", "README.md", "LICENSE")
DATA = ("dbip-city-lite.mmdb.xz", "LICENSE", "README.md")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=180, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, f"{cmd}:\n{result.stdout}\n{result.stderr}"
    return result  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the sources (no build files in the checkout)."""
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(
                REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.so")
            )
        else:
            shutil.copy2(REPO / name, src / name)
    (src / "data").mkdir()
    for name in DATA:
        shutil.copy2(REPO / "data" / name, src / "data" / name)
    (src / "data" / "dbip-city-lite.mmdb").write_bytes(b"an unpacked copy: never shipped")
    dist = tmp_path_factory.mktemp("dist")
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--no-index", "--quiet", "--wheel-dir", str(dist), str(src)],
    )  # fmt: skip
    (built,) = dist.glob("gslb-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding only the wheel; its dependencies come from this environment."""
    root = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", str(root)])
    python = root / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    deps = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib.stdout.strip(), "_gslb_test_deps.pth").write_text("\n".join(sorted(deps)) + "\n")
    run([str(python), "-m", "pip", "install", "--no-index", "--no-deps", "--quiet", str(wheel)])
    return root


def clean_env(home: Path) -> dict[str, str]:
    drop = ("PYTHONPATH", "CACHE_DIRECTORY", "STATE_DIRECTORY", "NOTIFY_SOCKET", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / "cache"))
    return env


def read_only(package: Path) -> list[str]:
    """A command prefix under which ``package`` is read-only, if this machine allows it."""
    if os.geteuid() != 0:
        for d in (package, *package.rglob("*")):
            if d.is_dir():
                d.chmod(0o555)
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        return []
    probe = [unshare, "--mount", "sh", "-c", f'mount --bind -o ro "{package}" "{package}"']
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return []
    script = 'mount --bind -o ro "$0" "$0" && exec "$@"'
    return [unshare, "--mount", "sh", "-c", script, str(package)]


def test_wheel_holds_the_zones_and_database_but_no_unpacked_copy(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "gslb/_bundled/zones/example.com.yaml",
        "gslb/_bundled/zones/2.0.192.in-addr.arpa.yaml",
        "gslb/_bundled/data/dbip-city-lite.mmdb.xz",
        "gslb/_bundled/data/LICENSE",  # CC BY 4.0 asks for the attribution to travel along
        "gslb/live/static/status.html",
        "gslb/cli/__init__.py",
        "gslb/geo/build/__init__.py",
    ):
        assert expected in names
    assert not [n for n in names if n.endswith(".mmdb")]
    if tree.BUILT:  # where this checkout compiled the C modules, the wheel did too
        for module in ("gslb/geo/_tree.", "gslb/dns/_batch."):
            assert [n for n in names if n.startswith(module) and n.endswith(".so")], module
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Iterator[Path]:
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    yield cwd


def test_installed_wheel_checks_and_serves_from_another_directory(
    venv: Path, elsewhere: Path, tmp_path: Path
) -> None:
    gslb = str(venv / "bin" / "gslb")
    env = clean_env(tmp_path / "home")
    where = run([str(venv / "bin" / "python"), "-c", "import gslb; print(gslb.__file__)"],
                cwd=elsewhere, env=env)  # fmt: skip
    package = Path(where.stdout.strip()).parent
    assert package.is_relative_to(venv), "the wheel's gslb, not the checkout's"

    prefix = read_only(package)
    check = run([*prefix, gslb, "check"], cwd=elsewhere, env=env)
    assert "ok: example.com. serial 2026112701" in check.stdout

    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [*prefix, gslb, "serve", "--dns", f"127.0.0.1:{port}"],
            cwd=elsewhere, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        plain = dns.query.udp(dns.message.make_query("api.example.com.", "A"), "127.0.0.1",
                              port=port, timeout=3)  # fmt: skip
        assert sorted(rr.address for rr in plain.answer[0]) == ["198.51.100.10", "198.51.100.11"]
        berlin = dns.edns.ECSOption("85.214.132.0", 24)
        query = dns.message.make_query("api.example.com.", "A", use_edns=0, options=[berlin])
        answer = dns.query.udp(query, "127.0.0.1", port=port, timeout=3)
        assert [rr.address for rr in answer.answer[0]] == ["192.0.2.20"]  # Frankfurt
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, log.read_text()
    text = log.read_text()
    data = package / "_bundled" / "data"
    if prefix or os.geteuid() != 0:  # the package was read-only: the cache was used
        assert not (data / "dbip-city-lite.mmdb").exists()
        assert str(tmp_path / "home" / "cache" / "gslb" / "dbip-city-lite.mmdb") in text
    else:
        assert (data / "dbip-city-lite.mmdb").exists()
