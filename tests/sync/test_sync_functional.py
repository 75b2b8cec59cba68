"""The real ``gslb sync`` as a process against ``moto_server`` on loopback.

moto's server is started on a free port of 127.0.0.1 and stopped by the fixture; the
command reaches it only through ``--endpoint-url``, with fake credentials and no AWS_*
setting inherited, so nothing can reach AWS.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.serving import free_port
from tests.sync.conftest import EXAMPLE_TEXT, REPO, fake_aws_env

pytestmark = pytest.mark.integration


@pytest.fixture
def moto_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    env = fake_aws_env(tmp_path)
    port = free_port()
    log = (tmp_path / "moto.log").open("w")
    binary = Path(sys.executable).parent / "moto_server"
    proc = subprocess.Popen(
        [str(binary), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"moto_server did not start: {(tmp_path / 'moto.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}", env
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def gslb_sync(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gslb", "sync", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )


def test_dry_run_apply_then_json_plans_nothing(
    moto_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = moto_server
    client = boto3.client(
        "route53", endpoint_url=url, region_name="us-east-1",
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )  # fmt: skip
    client.create_hosted_zone(Name="example.com.", CallerReference="functional")
    zones = tmp_path / "zones"
    zones.mkdir()
    (zones / "example.com.yaml").write_text(EXAMPLE_TEXT)
    common = ["--zones", str(zones), "--endpoint-url", url]

    dry = gslb_sync(env, *common)
    assert dry.returncode == 0, dry.stderr
    assert "87 to create, 0 to update, 0 to delete" in dry.stdout
    listed = client.list_resource_record_sets(
        HostedZoneId=client.list_hosted_zones()["HostedZones"][0]["Id"]
    )
    assert {r["Type"] for r in listed["ResourceRecordSets"]} == {
        "SOA",
        "NS",
    }  # a dry run writes nothing

    applied = gslb_sync(env, *common, "--apply")
    assert applied.returncode == 0, applied.stderr
    assert "record batch of 87 changes" in applied.stderr

    again = gslb_sync(env, *common, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["changes"] == []
