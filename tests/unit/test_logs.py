"""Log lines: events as key=value in text, as fields in JSON; the worker is named."""

from __future__ import annotations

import io
import json
import logging

from gslb.live.logs import _Json, _Text, event


def line(formatter: logging.Formatter, message: str, **fields: object) -> str:
    record = logging.LogRecord("gslb.live.supervisor", logging.INFO, "x", 1, message, (), None)
    for k, v in event(**fields).items():
        setattr(record, k, v)
    return formatter.format(record)


def test_text_events_are_key_value_pairs_and_name_the_worker() -> None:
    text = line(_Text("worker 1"), "ignored prose", event="state", key="example.com./eu-west",
                old="up", new="down", why="probe HTTP 500 (8 ms)")  # fmt: skip
    assert "[worker 1] gslb.live.supervisor: event=state key=example.com./eu-west old=up" in text
    assert 'why="probe HTTP 500 (8 ms)"' in text and "ignored prose" not in text
    plain = _Text(None).format(
        logging.LogRecord("gslb", logging.WARNING, "x", 1, "plain %s", ("words",), None)
    )
    assert plain.endswith("WARNING gslb: plain words")


def test_json_lines_carry_every_field() -> None:
    data = json.loads(line(_Json("worker 0"), "override set", event="admin", key="k", ok=True))
    assert data["message"] == "override set" and data["worker"] == "worker 0"
    assert data["event"] == "admin" and data["key"] == "k" and data["ok"] is True
    assert data["level"] == "info" and data["time"].endswith("Z")


def test_setup_replaces_handlers() -> None:
    from gslb.live import logs

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        logs.setup("json")
        assert len(root.handlers) == 1 and isinstance(root.handlers[0].formatter, _Json)
        stream = io.StringIO()
        root.handlers[0].stream = stream  # type: ignore[attr-defined]
        logging.getLogger("gslb.test").info("hello")
        assert json.loads(stream.getvalue())["message"] == "hello"
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
