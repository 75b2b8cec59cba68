"""Failure drills for the geo database, against `gslb serve` running as a process.

The database is copied where nobody else can write it and verified before use, so a
file edited, truncated or corrupted on disk can neither crash nor mislead the server:
before this, truncating the served file killed the process with SIGBUS (exit 135).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import dns.edns
import dns.message
import dns.query
import pytest

from tests.conftest import GEOIP, ZONES
from tests.serving import free_port

pytestmark = pytest.mark.integration


class Served:
    def __init__(self, proc: subprocess.Popen[str], port: int, log: Path) -> None:
        self.proc, self.port, self.log = proc, port, log

    def ask(self, third: int) -> list[str]:
        """api.example.com A for a client network in a German /16 (eu-central)."""
        ecs = dns.edns.ECSOption(f"85.214.{third}.0", 24)
        q = dns.message.make_query("api.example.com", "A", use_edns=0, options=[ecs])
        r = dns.query.udp(q, "127.0.0.1", port=self.port, timeout=3)
        return sorted(rr.to_text() for rrset in r.answer for rr in rrset)

    def wait_for_log(self, text: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            logged = self.log.read_text()
            if text in logged:
                return logged
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not logged:\n{self.log.read_text()}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    db = tmp_path / "geo.mmdb"
    shutil.copy(GEOIP, db)
    port = free_port()
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-m", "gslb", "serve", "--zones", str(ZONES), "--geoip", str(db),
           "--dns", f"127.0.0.1:{port}", "--geoip-poll", "0.5"]  # fmt: skip
    with log.open("w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, text=True)
    served = Served(proc, port, log)
    try:
        served.wait_for_log("serving")
        yield served
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_truncating_the_served_file_neither_kills_nor_changes_answers(served: Served) -> None:
    before = [served.ask(i) for i in range(40)]
    assert before[0] == ["192.0.2.20"]
    db = Path(served.log.parent / "geo.mmdb")
    os.truncate(db, 40_000_000)
    after = [served.ask(i) for i in range(40, 80)]  # new networks: the tree is read again
    assert served.proc.poll() is None, served.log.read_text()
    assert after == before
    logged = served.wait_for_log("still using the previous one")
    assert "truncated" in logged or "checksum" in logged or "not a valid" in logged


def test_overwriting_the_file_while_serving_is_harmless(served: Served) -> None:
    db = Path(served.log.parent / "geo.mmdb")
    data = db.read_bytes()
    with db.open("r+b") as fh:  # cp over it, in slices, while queries run
        for i, at in enumerate(range(0, len(data), 8 << 20)):
            fh.seek(at)
            fh.write(data[at : at + (8 << 20)])
            fh.flush()
            assert served.ask(100 + i) == ["192.0.2.20"]
    assert served.proc.poll() is None


def test_a_corrupt_replacement_is_refused_and_logged(served: Served, tmp_path: Path) -> None:
    """20,000 random bytes overwritten in a copy that is then renamed in (the attack that
    used to pass the two probe lookups and move fenced clients out of their fence)."""
    data = bytearray(Path(GEOIP).read_bytes())
    rng = random.Random(4)
    for _ in range(20_000):
        data[rng.randrange(len(data) - 200_000)] = rng.randrange(256)
    bad = tmp_path / "bad.mmdb"
    bad.write_bytes(bytes(data))
    os.replace(bad, tmp_path / "geo.mmdb")
    logged = served.wait_for_log("still using the previous one")
    assert "checksum mismatch" in logged
    for third in range(200, 240):
        assert served.ask(third) == ["192.0.2.20"]  # Germany: still inside its fence
    assert served.proc.poll() is None
