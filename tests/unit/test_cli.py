"""The command line as a new user meets it: options anywhere, plain help, exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gslb.cli import build_parser, main
from gslb.cli.options import parsers
from tests.conftest import GEOIP, ZONES

RESOLVE = ["resolve", "--from", "192.0.2.1", "--zones", str(ZONES), "--geoip", str(GEOIP)]


@pytest.mark.parametrize(
    ("argv", "verbose"),
    [
        (["serve"], False),
        (["-v", "serve"], True),
        (["serve", "-v"], True),
        (["serve", "--verbose", "--workers", "2"], True),
        (["check", "-v", "zones"], True),
        (["resolve", "--from", "192.0.2.1", "-v"], True),
        (["-v", "resolve", "--from", "192.0.2.1"], True),
        (["geoip", "lookup", "-v", "192.0.2.1"], True),
        (["geoip", "-v", "lookup", "192.0.2.1"], True),
        (["geodb", "build", "--out", "x.mmdb", "-v"], True),
        (["geodb", "build", "--out", "x.mmdb"], False),
    ],
)
def test_common_options_work_before_and_after_the_sub_command(
    argv: list[str], verbose: bool
) -> None:
    assert build_parser().parse_args(argv).verbose is verbose


def test_help_texts_are_plain() -> None:
    every = list(parsers(build_parser()))
    assert len(every) >= 8  # gslb, its 5 commands, geoip lookup, geodb build/centroids
    for parser in every:
        text = parser.format_help()
        assert "``" not in text, parser.prog
        assert "-v, --verbose" in text, parser.prog


def test_check_counts_in_words(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ZONES)]) == 0
    out = capsys.readouterr().out
    assert "serial 2026112701, 6 records, 0 gslb names" in out
    assert "1 gslb name\n" in out


@pytest.mark.parametrize("option", ["--dns", "--http"])
def test_serve_says_port_out_of_range(option: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", option, "127.0.0.1:99999"]) == 2
    assert "port 99999 in '127.0.0.1:99999' is out of range 0..65535" in capsys.readouterr().err


# --------------------------------------------------------------------------- resolve


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--down", "eu-centrl"], "--down eu-centrl: no zone defines region 'eu-centrl' "
         "(did you mean 'eu-central'?)"),
        (["--down", "us-west/1.2.3.4"], "--down us-west/1.2.3.4: 1.2.3.4 is not an endpoint of "
         "region 'us-west' (its endpoints: 198.51.100.20, 2001:db8:20::20)"),
        (["--down", "us-west/198.51.100.2"], "198.51.100.2 is not an endpoint of region "
         "'us-west' (did you mean '198.51.100.20'?)"),
        (["--down", "us-west/west"], "--down us-west/west: 'west' is not an IP address"),
        (["--down", "nowhere/198.51.100.20"], "no zone defines region 'nowhere'"),
        (["--load", "bogus=0.5"], "--load bogus=0.5: no zone defines region 'bogus'"),
        (["--load", "us-wets=0.5"], "(did you mean 'us-west'?)"),
        (["--load", "us-west=1.5"], "--load us-west=1.5: load '1.5' must be a number from 0 to 1"),
        (["--load", "us-west=-0.1"], "load '-0.1' must be a number from 0 to 1"),
        (["--load", "us-west=nan"], "load 'nan' must be a number from 0 to 1"),
        (["--load", "us-west=high"], "load 'high' must be a number from 0 to 1"),
        (["--load", "us-west"], "--load us-west: not REGION=LOAD (like us-east=0.93)"),
    ],
)  # fmt: skip
def test_resolve_rejects_unknown_regions_endpoints_and_loads(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RESOLVE, *args]) == 2
    captured = capsys.readouterr()
    assert message in captured.err
    assert captured.out == ""


def test_resolve_reports_every_bad_option_at_once(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--down", "eu-centrl", "--load", "bogus=0.5", "--load", "us-west=1.5"]
    assert main([*RESOLVE, *args]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 3


def test_resolve_accepts_known_regions_endpoints_and_loads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["api.example.com", "--down", "us-east", "--down", "us-west/198.51.100.20",
            "--load", "eu-west=0", "--load", "eu-central=1"]  # fmt: skip
    assert main([*RESOLVE, *args]) == 0
    out = capsys.readouterr().out
    assert "removed us-east: down" in out
    assert "us-west has no live IPv4 endpoint" in out
    assert "removed eu-central: load 1.00" in out


@pytest.mark.parametrize(
    ("name", "status", "words"),
    [
        ("api.example.com", 0, None),
        ("www.example.com", 0, None),  # a CNAME to the GSLB name
        ("status.example.com", 0, None),
        ("apl.example.com", 3, "apl.example.com. does not exist in zone example.com. "
         "(did you mean api.example.com.?)"),
        ("nothing-like-it.example.com", 3, "does not exist in zone example.com.\n"),
        ("api", 4, "no loaded zone holds api. (zones: 2.0.192.in-addr.arpa., example.com.) "
         "(did you mean api.example.com.?)"),
        ("example.org", 4, "no loaded zone holds example.org."),
    ],
)  # fmt: skip
def test_resolve_exit_status_follows_the_answer(
    name: str, status: int, words: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*RESOLVE, name]) == status
    err = capsys.readouterr().err
    if words is None:
        assert err == ""
    else:
        assert words in err


def test_resolve_servfail_exits_5(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    zone = (
        (ZONES / "example.com.yaml")
        .read_text()
        .replace("all-down: fail-open", "all-down: servfail")
    )
    assert "all-down: servfail" in zone
    (tmp_path / "example.com.yaml").write_text(zone)
    down = [a for r in ("eu-west", "eu-central") for a in ("--down", r)]
    argv = ["resolve", "api.example.com", "--from", "192.0.2.1", "--ecs", "85.214.132.0/24",
            "--zones", str(tmp_path), "--geoip", str(GEOIP), *down]  # fmt: skip
    assert main(argv) == 5
    assert "SERVFAIL" in capsys.readouterr().err


def test_admin_token_file_that_cannot_be_read_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not 'cannot reach the server': the server was never asked."""
    missing = tmp_path / "no-token"
    code = main(["admin", "--server", "http://127.0.0.1:9", "--token-file", str(missing), "status"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"cannot read the token file {missing}" in err and "cannot reach" not in err
