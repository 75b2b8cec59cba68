"""gslb.live.sdnotify: READY=1 and friends reach a real AF_UNIX datagram socket."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from gslb.live.sdnotify import notify


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        sock.settimeout(5)
        yield sock, str(path)


def test_ready_reaches_the_socket(receiver: tuple[socket.socket, str]) -> None:
    sock, path = receiver
    assert notify("READY=1", {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"READY=1"
    assert notify("STATUS=serving 2 zones\nREADY=1", {"NOTIFY_SOCKET": path})
    assert sock.recv(4096) == b"STATUS=serving 2 zones\nREADY=1"


def test_abstract_namespace() -> None:
    name = f"gslb-test-{os.getpid()}-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(b"\0" + name.encode())
        sock.settimeout(5)
        assert notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert sock.recv(4096) == b"READY=1"


def test_without_the_variable_nothing_happens() -> None:
    assert not notify("READY=1", {})
    assert not notify("READY=1", {"NOTIFY_SOCKET": ""})


def test_uses_the_process_environment(
    receiver: tuple[socket.socket, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sock, path = receiver
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    assert notify("READY=1")
    assert sock.recv(4096) == b"READY=1"


def test_unreachable_socket_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="gslb.live.sdnotify"):
        assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "nobody-listens")})
        assert not notify("READY=1", {"NOTIFY_SOCKET": "vsock:2:1234"})
    assert "cannot notify" in caplog.text
    assert "not a socket path" in caplog.text
