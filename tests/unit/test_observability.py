"""The one observability module: log lines survive text that is not valid Unicode."""

from __future__ import annotations

import json

from watchdogs.observability import _log_json


def test_a_log_line_with_a_lone_surrogate_is_escaped_not_lost() -> None:
    # Given a record carrying a malformed event's id (a lone surrogate cannot be written as UTF-8)
    record = {"message": "rejected event", "event_id": "abc\ud800", "name": "café"}
    # When serialised
    line = _log_json(record)
    # Then the line can be written, the bad character is escaped and the rest is kept as it was
    line.encode("utf-8")
    assert "abc\\ud800" in line
    assert json.loads(line)["name"] == "café"


def test_a_valid_record_is_plain_compact_json() -> None:
    assert _log_json({"a": 1, "b": "é"}) == '{"a":1,"b":"é"}'
