"""`gslb serve` as a real process: start-up checks, SIGHUP reload, SIGTERM stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.conftest import EXAMPLE, GEOIP, REPO
from tests.serving import free_port

pytestmark = pytest.mark.integration


def gslb(*args: str) -> list[str]:
    return [sys.executable, "-m", "gslb", *args]


class Proc:
    def __init__(self, zones: Path, port: int, geoip: Path = GEOIP) -> None:
        self.port = port
        self.log = zones.parent / "serve.log"
        self.handle = self.log.open("w")
        self.proc = subprocess.Popen(
            gslb(
                "serve", "--zones", str(zones), "--geoip", str(geoip), "--dns", f"127.0.0.1:{port}"
            ),
            stdout=self.handle,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )

    def wait_for(self, text: str, timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.log.read_text()
            if text in out:
                return out
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not in log:\n{self.log.read_text()}")

    def serial(self) -> int:
        r = dns.query.udp(
            dns.message.make_query("example.com.", "SOA"), "127.0.0.1", port=self.port, timeout=3
        )
        return int(r.answer[0][0].serial)


@pytest.fixture
def zones(tmp_path: Path) -> Path:
    d = tmp_path / "zones"
    d.mkdir()
    (d / "example.com.yaml").write_text(EXAMPLE.read_text())
    return d


@pytest.fixture
def proc(zones: Path) -> Iterator[Proc]:
    p = Proc(zones, free_port())
    yield p
    if p.proc.poll() is None:
        p.proc.kill()
        p.proc.wait()
    p.handle.close()


def test_serve_logs_one_start_line_then_reloads_on_sighup_and_stops_on_sigterm(
    proc: Proc, zones: Path
) -> None:
    line = proc.wait_for("listening on")
    assert "example.com. (serial 2026112701)" in line and f"127.0.0.1:{proc.port}" in line
    assert proc.serial() == 2026112701

    zone = zones / "example.com.yaml"
    zone.write_text(EXAMPLE.read_text().replace("2026112701", "2026112702"))
    proc.proc.send_signal(signal.SIGHUP)
    proc.wait_for("reloaded")
    assert proc.serial() == 2026112702

    zone.write_text(EXAMPLE.read_text().replace("ttl: 30", "ttl: thirty"))
    proc.proc.send_signal(signal.SIGHUP)
    out = proc.wait_for("reload rejected")
    assert f"{zone}:" in out  # the same file:line:col messages as gslb check
    assert proc.serial() == 2026112702  # the old config keeps serving

    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(10) == 0
    assert "stopping" in proc.log.read_text()


def test_serve_refuses_an_invalid_zone_with_file_line_and_reason(tmp_path: Path) -> None:
    bad = tmp_path / "zones"
    bad.mkdir()
    (bad / "example.com.yaml").write_text(EXAMPLE.read_text().replace("ttl: 30", "ttl: -5"))
    listen = f"127.0.0.1:{free_port()}"
    result = subprocess.run(
        gslb("serve", "--zones", str(bad), "--geoip", str(GEOIP), "--dns", listen),
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert result.returncode == 1
    assert "refusing to start" in result.stderr
    assert f"{bad / 'example.com.yaml'}:" in result.stderr


def test_serve_refuses_a_missing_or_corrupt_database(zones: Path, tmp_path: Path) -> None:
    for db, words in ((tmp_path / "none.mmdb", "not found"), (tmp_path / "bad.mmdb", "")):
        if db.name == "bad.mmdb":
            db.write_bytes(os.urandom(4096))
        listen = f"127.0.0.1:{free_port()}"
        result = subprocess.run(
            gslb("serve", "--zones", str(zones), "--geoip", str(db), "--dns", listen),
            capture_output=True, text=True, timeout=30, cwd=REPO,
        )  # fmt: skip
        assert result.returncode == 1, result.stderr
        assert "refusing to start" in result.stderr and str(db) in result.stderr
        assert words in result.stderr.lower()


def test_check_command(zones: Path) -> None:
    ok = subprocess.run(gslb("check", str(zones)), capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "example.com." in ok.stdout
