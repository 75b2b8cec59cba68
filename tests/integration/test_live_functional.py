"""Live health end to end: probes against real backends drive `gslb serve --workers 2`.

Backends are `gslb demo-backend` processes on loopback; the server is a real process
queried over UDP with ECS. London (GB) is nearest eu-west; Paris (FR) is fenced to
eu-west and eu-central (eu-central nearest); New York is unfenced.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, GEOIP, ZONES
from tests.serving import Backends, Server, serve, wait_for

pytestmark = pytest.mark.integration

LONDON, PARIS, NEW_YORK = "81.2.69.0/24", "90.0.0.0/24", "71.163.0.0/24"
EU_WEST, EU_CENTRAL, US_EAST = ["192.0.2.10"], ["192.0.2.20"], ["198.51.100.10", "198.51.100.11"]
INTERVAL, FALL, RISE = 0.5, 2, 2


def zone_with_probes(tmp: Path, west: int, central: int) -> Path:
    """The example zone, with eu-west and eu-central probed at two backends."""
    text = EXAMPLE.read_text()
    for region, port in (("eu-west", west), ("eu-central", central)):
        text = re.sub(
            rf"(  {region}:\n(?:    .*\n)*?    endpoints: .*\n)",
            rf"\1    health: {{check: http, target: 127.0.0.1:{port}, path: /healthz, "
            rf"interval: {INTERVAL}, fall: {FALL}, rise: {RISE}, json: healthy}}\n",
            text,
        )
    zones = tmp / "zones"
    zones.mkdir()
    (zones / "example.com.yaml").write_text(text)
    assert text.count("target: 127.0.0.1:") == 2
    return zones


@pytest.fixture
def backends(tmp_path: Path) -> Iterator[Backends]:
    b = Backends(tmp_path, 2)
    yield b
    b.stop()


def everyone(server: Server, subnet: str, times: int = 12) -> list[str]:
    """Asked repeatedly (the kernel spreads queries over both workers): one answer."""
    answers = {tuple(server.ask(subnet)) for _ in range(times)}
    assert len(answers) == 1, answers
    return list(answers.pop())


def test_probes_fail_over_inside_the_fence_across_workers(
    tmp_path: Path, backends: Backends
) -> None:
    west, central = backends.ports
    zones = zone_with_probes(tmp_path, west, central)
    with serve(tmp_path, "--workers", "2", "--state", "", zones=zones, geoip=GEOIP) as server:
        wait_for(lambda: "up" == server.http("GET", "/api/v1/status")["regions"][2]["state"])
        assert everyone(server, LONDON) == EU_WEST
        assert everyone(server, PARIS) == EU_CENTRAL

        # eu-west fails: London moves to eu-central within fall x interval (+ one)
        failed = time.monotonic()
        backends.set(west, "fail")
        wait_for(lambda: server.ask(LONDON) == EU_CENTRAL, timeout=FALL * INTERVAL + 5)
        detected = time.monotonic() - failed
        assert everyone(server, LONDON) == EU_CENTRAL
        assert server.ttl(LONDON) == 10  # degraded while failing over
        assert everyone(server, PARIS) == EU_CENTRAL  # never left the fence
        assert detected < (FALL + 1) * INTERVAL + 2, detected
        print(f"detection to answer: {detected:.2f} s (fall {FALL} x interval {INTERVAL} s)")

        # both EU regions fail: the fence fails open inside itself; London leaves Europe
        backends.set(central, "fail")
        wait_for(lambda: server.ask(LONDON) == US_EAST, timeout=FALL * INTERVAL + 5)
        assert everyone(server, PARIS) in (EU_WEST, EU_CENTRAL)  # fail-open, in the fence
        assert server.ttl(PARIS) == 10
        assert everyone(server, NEW_YORK) == US_EAST

        # recovery after `rise` good probes
        backends.set(west, "healthy")
        backends.set(central, "healthy")
        wait_for(lambda: server.ask(LONDON) == EU_WEST, timeout=RISE * INTERVAL + 5)
        wait_for(lambda: server.ask(PARIS) == EU_CENTRAL, timeout=RISE * INTERVAL + 5)
        assert everyone(server, PARIS) == EU_CENTRAL
        status = server.http("GET", "/api/v1/status")
        west_status = next(r for r in status["regions"] if r["name"] == "eu-west")
        assert west_status["state"] == "up" and west_status["endpoints"][0]["last"]["ok"]
        log = server.logged()
        assert "event=state key=example.com./eu-west/192.0.2.10 old=up new=down" in log
        assert "probe HTTP 500" in log
        assert "[worker 0]" in log and "[worker 1]" in log


def test_admin_overrides_need_the_token_and_survive_a_restart(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    state = tmp_path / "state.json"
    args = ("--token-file", str(token), "--state", str(state))

    def admin(server: Server, *argv: str, secret: str | None = "s3cret") -> tuple[int, str]:
        cmd = [sys.executable, "-m", "gslb", "admin", "--server", server.api]
        if secret:
            cmd += ["--token", secret]
        done = subprocess.run([*cmd, *argv], capture_output=True, text=True, timeout=30)
        return done.returncode, done.stdout + done.stderr

    with serve(tmp_path, *args, zones=EXAMPLE.parent, geoip=GEOIP) as server:
        assert server.ask(PARIS) == EU_CENTRAL
        code, out = admin(server, "drain", "eu-central", secret=None)
        assert code == 1 and "401" in out
        code, out = admin(server, "drain", "eu-central", secret="wrong")
        assert code == 1 and "401" in out
        assert server.ask(PARIS) == EU_CENTRAL  # nothing changed
        code, out = admin(server, "drain", "eu-central")
        assert code == 0 and "eu-central override auto -> drain" in out, out
        assert server.ask(PARIS) == EU_WEST
        code, out = admin(server, "force-down", "us-east/198.51.100.10")
        assert code == 0, out
        assert server.ask(NEW_YORK) == ["198.51.100.11"]
        code, out = admin(server, "load", "eu-central", "0.5")
        assert code == 0, out
        code, out = admin(server, "drain", "eu-centrl")
        assert code == 2 and "no region 'eu-centrl'" in out
        code, out = admin(server, "status")
        assert code == 0 and re.search(r"eu-central\s+drained", out), out
        code, out = admin(server, "status", "--json")
        assert json.loads(out.split("\n", 0)[0] if False else out)["regions"]
    saved = json.loads(state.read_text())
    assert saved  # the overrides and the pushed load are on disk

    with serve(tmp_path, *args, zones=EXAMPLE.parent, geoip=GEOIP) as server:
        assert server.ask(PARIS) == EU_WEST  # the drain survived the restart
        assert server.ask(NEW_YORK) == ["198.51.100.11"]
        code, _ = admin(server, "auto", "eu-central")
        assert code == 0 and server.ask(PARIS) == EU_CENTRAL

    state.write_text("{ this is not json")
    with serve(tmp_path, *args, zones=EXAMPLE.parent, geoip=GEOIP) as server:
        assert server.ask(PARIS) == EU_CENTRAL
        assert "state file" in server.logged()


def test_writes_are_refused_on_a_non_loopback_address_without_a_token(tmp_path: Path) -> None:
    """Bound to every address (reached here only through loopback)."""
    from tests.serving import free_port

    port = free_port()
    with serve(tmp_path, "--http", f"0.0.0.0:{port}", zones=EXAMPLE.parent, geoip=GEOIP,
               http=False) as server:  # fmt: skip
        server.http_port = port
        assert server.status_code("PUT", "/api/v1/overrides/eu-west", {"state": "drain"}) == 403
        assert server.status_code("GET", "/api/v1/status") == 200
        assert "is not loopback and has no --token-file" in server.logged()


def test_metrics_sum_over_workers_and_readyz_tells_the_truth(tmp_path: Path) -> None:
    with serve(tmp_path, "--workers", "2", "--state", "", zones=EXAMPLE.parent,
               geoip=GEOIP) as server:  # fmt: skip
        assert server.http("GET", "/readyz").startswith("ready")
        # each worker's lines name the worker and the module (not __main__)
        assert re.search(r"\[worker 1\] gslb\.live\.workers: serving", server.logged())
        for i in range(40):
            server.ask(f"85.214.{i}.0/24")

        def total() -> float:
            text = server.http("GET", "/metrics")
            found = re.search(r'gslb_dns_queries_total\{qtype="A",rcode="NOERROR",'
                              r'transport="udp"\} ([0-9.e+]+)', text)  # fmt: skip
            return float(found.group(1)) if found else 0.0

        wait_for(lambda: total() == 40)
        text = server.http("GET", "/metrics")
        assert 'gslb_dns_answers_total{name="api.example.com.",reason="fenced",' \
               'region="eu-central"} 40.0' in text  # fmt: skip
        assert 'gslb_workers{state="serving"} 2.0' in text
        built = re.search(r"gslb_geo_database_build_timestamp_seconds\{[^}]*\} (\S+)", text)
        assert built and float(built.group(1)) > 1.7e9  # from the workers' database
        # a worker killed outright: readyz says so until it is back; totals never drop
        status = server.http("GET", "/api/v1/status")
        assert len(status["workers"]) == 2
        pids = [int(p) for p in re.findall(r"worker \d \(pid (\d+)\)", server.logged())]
        assert not pids  # nothing died yet
        children = subprocess.run(["pgrep", "-P", str(server.proc.pid)], capture_output=True,
                                  text=True).stdout.split()  # fmt: skip
        subprocess.run(["kill", "-9", children[0]], check=True)
        wait_for(lambda: server.status_code("GET", "/readyz") == 503, timeout=10)
        wait_for(lambda: server.status_code("GET", "/readyz") == 200, timeout=30)
        assert total() >= 40
        assert "exited with status -9; starting it again" in server.logged()


def test_a_removed_zone_file_keeps_its_regions_probed_with_workers(tmp_path: Path) -> None:
    """With worker processes too, a zone kept after its file went keeps its regions in
    the supervisor: status, probes and live state, not only the workers' answers."""
    zones = tmp_path / "zones"
    zones.mkdir()
    for f in ZONES.glob("*.yaml"):
        shutil.copy(f, zones)
    with serve(tmp_path, "--workers", "2", "--state", "", zones=zones, geoip=GEOIP) as server:
        (zones / "example.com.yaml").unlink()
        assert server.http("POST", "/api/v1/reload")["ok"]
        status = server.http("GET", "/api/v1/status")
        assert "example.com." in [z["origin"] for z in status["zones"]]
        assert len(status["regions"]) == 6
        assert server.ask("85.214.132.0/24") == ["192.0.2.20"]
        assert "no longer in the zone files; still serving it" in server.logged()
