"""``gslb sync`` as a command, in process, against moto: plan, apply, JSON, refusals, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gslb.cli import main
from tests.sync.conftest import EXAMPLE_TEXT, Counting, edit

UNFENCED = EXAMPLE_TEXT.split("fences:")[0] + "gslb:" + EXAMPLE_TEXT.split("\ngslb:")[1]


def zones(tmp_path: Path, text: str = EXAMPLE_TEXT) -> str:
    folder = tmp_path / "zones"
    folder.mkdir(exist_ok=True)
    (folder / "example.com.yaml").write_text(text)
    return str(folder)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["sync", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_dry_run_apply_then_nothing(
    route53: Any, hosted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = zones(tmp_path)
    rc, out, err = run(capsys, "--zones", where)
    assert rc == 0, err
    assert f"example.com. → hosted zone {hosted} (example.com., public), owner default" in out
    assert "87 to create, 0 to update, 0 to delete" in out
    assert "[geo ×30] AT BE BG" in out and "alias _gslb-eu-eea.api.example.com." in out
    assert "warnings (4):" in out and "degraded-ttl" in out
    assert route53.list_resource_record_sets(HostedZoneId=hosted)["ResourceRecordSets"][2:] == []
    rc, out, err = run(capsys, "--zones", where, "--apply")
    assert rc == 0 and "step 1/1: record batch of 87 changes" in err
    rc, out, err = run(capsys, "--zones", where, "--json")
    assert rc == 0
    plan = json.loads(out)
    assert plan["changes"] == [] and {w["code"] for w in plan["warnings"]} >= {"latency", "default"}


def test_json_lists_old_and_new(
    route53: Any, hosted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = zones(tmp_path)
    assert run(capsys, "--zones", where, "--apply")[0] == 0
    zones(tmp_path, edit(EXAMPLE_TEXT, "[192.0.2.10,", "[192.0.2.11,"))
    rc, out, _ = run(capsys, "--zones", where, "--json")
    changes = json.loads(out)["changes"]
    assert rc == 0 and len(changes) == 2  # eu-west in _gslb-all and in _gslb-eu-eea
    assert {c["action"] for c in changes} == {"update"}
    assert {(c["old"]["values"][0], c["new"]["values"][0]) for c in changes} == {
        ("192.0.2.10", "192.0.2.11")
    }
    rc, out, _ = run(capsys, "--zones", where)
    assert "A  [region-eu-west] 192.0.2.10 → 192.0.2.11" in out


def test_threshold_refuses_then_force_applies(
    route53: Any, hosted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    where = zones(tmp_path)
    assert run(capsys, "--zones", where, "--apply")[0] == 0
    zones(tmp_path, UNFENCED)  # 64 of our 87 record sets go
    rc, out, err = run(capsys, "--zones", where, "--apply")
    assert rc == 1
    assert (
        "refusing: example.com.: the plan updates or deletes 64 of our 87 record sets (74% > 30%)"
        in err
    )
    assert "--force" in err
    rc, out, _ = run(capsys, "--zones", where, "--json")
    assert len(json.loads(out)["changes"]) == 64  # nothing was applied
    assert run(capsys, "--zones", where, "--apply", "--max-change", "80")[0] == 0
    # (a renamed fence: moto refuses to CREATE a record set identical to a deleted one)
    zones(tmp_path, EXAMPLE_TEXT.replace("eu-eea", "eea"))
    rc, _, err = run(capsys, "--zones", where, "--apply")
    assert rc == 0, err  # creates are never refused
    zones(tmp_path, UNFENCED)
    rc, _, err = run(capsys, "--zones", where, "--apply", "--force")
    assert rc == 0, err
    rc, out, _ = run(capsys, "--zones", where, "--json")
    assert json.loads(out)["changes"] == []


def test_no_credentials_is_one_clear_error(
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    rc, out, err = run(capsys, "--zones", zones(tmp_path))
    assert rc == 1 and out == ""
    assert err.startswith("gslb sync: no AWS credentials found.")
    assert "--profile" in err and "AWS_ACCESS_KEY_ID" in err and "role" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1
    rc, out, err = run(capsys, "--zones", zones(tmp_path), "--profile", "nope")
    assert rc == 1 and "AWS profile 'nope' not found" in err and "Traceback" not in err


def test_errors_and_strict(
    route53: Any, hosted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unmapped = edit(EXAMPLE_TEXT, "    aws-region: sa-east-1\n", "")
    where = zones(tmp_path, unmapped)
    rc, _, err = run(capsys, "--zones", where)
    assert rc == 1 and "unmapped  sa-east: region sa-east has no aws-region" in err
    rc, out, err = run(capsys, "--zones", where, "--skip-unmapped")
    assert rc == 0 and "left out (--skip-unmapped)" in out and "sa-east-1" not in out
    rc, _, err = run(capsys, "--zones", zones(tmp_path), "--strict")
    assert rc == 1 and "errors (--strict) (4):" in err and "degraded-ttl" in err
    assert run(capsys, "--zones", where, "--owner-id", "Not Valid")[0] == 2
    assert run(capsys, "--zones", where, "--zone", "example.org")[0] == 2


def test_missing_hosted_zone(
    route53: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(capsys, "--zones", zones(tmp_path))
    assert rc == 1 and out == ""
    assert "no hosted zone named example.com.: create a public hosted zone" in err


def test_a_failed_step_says_what_was_applied(
    route53: Any,
    hosted: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = zones(tmp_path, (Path(__file__).parent / "health.example.com.yaml").read_text())
    failing = Counting(route53, fail_on=1, code="InvalidChangeBatch")
    monkeypatch.setattr("gslb.sync.route53.connect", lambda *_: failing)
    rc, _, err = run(capsys, "--zones", where, "--apply")
    assert rc == 1
    lines = err.splitlines()
    start = lines.index("applied before the failure (5 steps):")
    assert lines[start + 1 : start + 6] == [
        "  create health check eu-west",
        "  create health check us-east/2600:1f18::10",
        "  create health check us-east/52.0.0.10",
        "  create health check us-east/52.0.0.11",
        "  create health check us-east",
    ]
    assert lines[start + 6] == "not applied: record batch of 7 changes (7 create)"
    assert "InvalidChangeBatch: injected" in err and "Traceback" not in err
    monkeypatch.setattr("gslb.sync.route53.connect", lambda *_: route53)
    rc, out, _ = run(capsys, "--zones", where, "--json")
    changes = json.loads(out)["changes"]
    assert rc == 0 and len(changes) == 7 and {c["kind"] for c in changes} == {"record"}
