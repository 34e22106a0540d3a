"""watchdogs-ops configuration problems: each is one line on stderr saying how to fix it, exit code 2, no traceback."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import INCIDENT_TABLE, _free_port
from tests.support.aws import REGION
from watchdogs.ops import main

pytestmark = pytest.mark.integration


def fails(capsys: pytest.CaptureFixture[str], argv: list[str], *fix: str) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for text in fix:
        assert text in lines[0], lines[0]


def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def test_no_region(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    no_aws_config(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    fails(capsys, ["--table", INCIDENT_TABLE, "open"], "no AWS region", "--region")


def test_no_credentials(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    no_aws_config(monkeypatch, tmp_path)
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key)
    fails(capsys, ["--table", INCIDENT_TABLE, "--region", REGION, "open"], "no AWS credentials", "--profile")


def test_unknown_profile(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    no_aws_config(monkeypatch, tmp_path)
    fails(capsys, ["--profile", "nobody", "--table", INCIDENT_TABLE, "open"], "profile 'nobody' not found")


def test_no_table(aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INCIDENT_TABLE")
    fails(capsys, ["--endpoint", aws["endpoint"], "open"], "--stack-name", "--table", "INCIDENT_TABLE")


def test_wrong_table(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, ["--endpoint", aws["endpoint"], "--table", "nope", "open"], "table 'nope' not found", "--table")


def test_wrong_stack(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fails(capsys, ["--endpoint", aws["endpoint"], "--stack-name", "nope", "open"], "stack 'nope' not found", "--region")


def test_endpoint_down(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    down = f"http://127.0.0.1:{_free_port()}"
    fails(capsys, ["--endpoint", down, "--table", INCIDENT_TABLE, "open"], f"cannot reach {down}", "--endpoint")


def test_replay_needs_the_watchdogs_settings(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    # Given no stack and no settings in the shell, replay cannot know the scope or the mode: a config problem
    monkeypatch.delenv("SCOPE_CRAWLER_PREFIXES")
    monkeypatch.delenv("SCOPE_STATE_MACHINE_ARN_PREFIXES")
    monkeypatch.delenv("SCOPE_WORKGROUPS")
    events = tmp_path / "events.jsonl"
    events.write_text("{}\n")
    fails(capsys, ["--endpoint", aws["endpoint"], "--table", INCIDENT_TABLE, "replay", str(events)], "--stack-name")


def test_unreadable_replay_file(aws: dict[str, Any], capsys: pytest.CaptureFixture[str], tmp_path: Any) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json\n")
    fails(capsys, ["--endpoint", aws["endpoint"], "--table", INCIDENT_TABLE, "replay", str(bad)], "JSON lines")
    fails(
        capsys, ["--endpoint", aws["endpoint"], "--table", INCIDENT_TABLE, "replay", str(tmp_path / "x")], "cannot read"
    )
