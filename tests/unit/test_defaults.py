"""gslb.defaults: bundled zones and database found without the current directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gslb import defaults

REPO = Path(__file__).resolve().parents[2]


def test_checkout_defaults_are_the_repository_directories() -> None:
    assert Path(defaults.ZONES) == REPO / "zones"
    assert Path(defaults.GEOIP) == REPO / "data" / "dbip-city-lite.mmdb"
    assert Path(defaults.GEOIP + ".xz").is_file()


def test_installed_layout_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "_bundled" / "zones").mkdir(parents=True)
    monkeypatch.setattr(defaults, "_PACKAGE", tmp_path)
    assert defaults.bundled("zones") == tmp_path / "_bundled" / "zones"
    assert defaults.bundled("data") == tmp_path.parent / "data"  # not shipped: checkout


def test_defaults_do_not_depend_on_the_current_directory(tmp_path: Path) -> None:
    code = "from gslb import defaults; print(defaults.ZONES); print(defaults.GEOIP)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(REPO / "zones"), str(REPO / "data" / "dbip-city-lite.mmdb")]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CACHE_DIRECTORY": "/var/cache/gslb", "STATE_DIRECTORY": "/s"}, "/var/cache/gslb"),
        ({"CACHE_DIRECTORY": "/c/one:/c/two"}, "/c/one"),
        ({"STATE_DIRECTORY": "/var/lib/gslb", "XDG_CACHE_HOME": "/x"}, "/var/lib/gslb"),
        ({"XDG_CACHE_HOME": "/x", "HOME": "/home/op"}, "/x/gslb"),
        ({"XDG_CACHE_HOME": "relative", "HOME": "/home/op"}, "/home/op/.cache/gslb"),
        ({"HOME": "/home/op"}, "/home/op/.cache/gslb"),
    ],
)
def test_cache_dir(environ: dict[str, str], expected: str) -> None:
    assert defaults.cache_dir(environ) == Path(expected)


def test_default_port_is_not_mdns() -> None:
    """5353 is multicast DNS (avahi); the default must not clash with it."""
    assert defaults.DNS_PORT not in (53, 5353)
    assert 1024 <= defaults.DNS_PORT < 49152
    assert {h.port for h in defaults.DNS_LISTENERS} == {defaults.DNS_PORT}


def test_state_file_beside_the_zones_or_in_the_cache_when_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    zones = tmp_path / "zones"
    zones.mkdir()
    assert defaults.state_file([str(zones)]) == zones / ".gslb-state.json"
    assert defaults.state_file([str(zones / "a.yaml")]) == zones / ".gslb-state.json"
    # a system-wide install's bundled zones are read-only to the user who serves them
    monkeypatch.setenv("CACHE_DIRECTORY", str(tmp_path / "cache"))
    monkeypatch.setattr(defaults.os, "access", lambda path, mode: False)
    assert defaults.state_file([str(zones)]) == tmp_path / "cache" / "state.json"
