"""Reloads: built off the event loop, explicit about removed zones, loud about serials."""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import dns.message
import dns.query
import pytest

from tests.conftest import EXAMPLE, ZONES, LiveServer

pytestmark = pytest.mark.integration


def big_zone(path: Path, records: int) -> None:
    lines = EXAMPLE.read_text().split("records:\n", 1)
    extra = "".join(f"  host{i}: {{A: 192.0.2.{i % 250 + 1}}}\n" for i in range(records))
    path.write_text(lines[0] + "records:\n" + extra + lines[1])


def ask(live: LiveServer, name: str, rdtype: str = "A") -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    return dns.query.udp(q, "127.0.0.1", port=live.port4, timeout=3)


def test_a_large_reload_never_blocks_the_event_loop(settings, live_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The loop keeps running callbacks while a 20,000-record zone is read and compiled
    (before, a reload ran on the loop: a 50,050-record zone stalled TCP for 664 ms)."""
    big_zone(tmp_path / "example.com.yaml", 20_000)
    live = live_factory(settings, zones=(str(tmp_path),))

    async def reload_while_ticking() -> tuple[int, bool]:
        ticks = 0
        done = False

        async def tick() -> None:
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0.001)

        ticker = asyncio.ensure_future(tick())
        await asyncio.sleep(0.01)
        before = ticks
        result = await live.runtime.reload_zones()
        done = True
        await ticker
        return ticks - before, result.ok

    ticks, ok = live.call(reload_while_ticking)  # type: ignore[misc]
    assert ok
    assert ticks > 20, ticks  # the loop ran all along (a blocking reload allows ~1)
    assert ask(live, "host19999.example.com.").answer


def test_a_deleted_zone_file_keeps_its_zone_served_and_says_so(
    settings, live_factory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    for f in ZONES.glob("*.yaml"):
        shutil.copy(f, tmp_path)
    live = live_factory(settings, zones=(str(tmp_path),))
    (tmp_path / "2.0.192.in-addr.arpa.yaml").unlink()
    with caplog.at_level(logging.WARNING, logger="gslb.live.runtime"):
        result = live.call(live.runtime.reload_zones)
    assert result.ok  # type: ignore[attr-defined]
    assert any("no longer in the zone files; still serving it" in w for w in result.warnings)  # type: ignore[attr-defined]
    said = [r for r in caplog.records if "no longer in the zone files" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.ERROR]  # an error, as the issue asks
    assert ask(live, "10.2.0.192.in-addr.arpa.", "PTR").answer
    dropping = live_factory(settings, zones=(str(tmp_path),), keep_removed_zones=False)
    assert not ask(dropping, "10.2.0.192.in-addr.arpa.", "PTR").answer


def test_changed_content_under_the_same_serial_is_warned(
    settings, live_factory, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    zone = tmp_path / "example.com.yaml"
    shutil.copy(EXAMPLE, zone)
    live = live_factory(settings, zones=(str(tmp_path),))
    zone.write_text(EXAMPLE.read_text().replace("mail: {A: 192.0.2.25}", "mail: {A: 192.0.2.26}"))
    result = live.call(live.runtime.reload_zones)
    assert result.ok  # type: ignore[attr-defined]
    assert any("changed but its serial 2026112701 did not" in w for w in result.warnings)  # type: ignore[attr-defined]
    assert ask(live, "mail.example.com.").answer[0][0].address == "192.0.2.26"
