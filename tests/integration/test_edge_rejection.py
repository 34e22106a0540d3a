"""Bad input at the edge: a clear, typed rejection and a log line, never an action, never a crash loop; bad
settings fail the invocation at start, naming the variable."""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest

from tests.support.aws import ApiCalls, Subscriber, load_event
from watchdogs.runtime import reset_runtime
from watchdogs.settings import SettingsError

pytestmark = pytest.mark.integration

HANDLERS = {
    "glue": "glue-crawler-failed-access-denied",
    "athena": "athena-query-failed-user-sql-error",
    "states": "stepfunctions-execution-failed",
}


def _handler(name: str) -> Any:
    return importlib.import_module(f"watchdogs.handlers.{name}").lambda_handler


def _malformed(sample: str) -> list[Any]:
    good = load_event(sample)
    wrong_type = {**good, "detail-type": "Something Else Entirely"}
    no_detail = {k: v for k, v in good.items() if k != "detail"}
    other_source = load_event("sweep-scheduled")
    return [wrong_type, no_detail, other_source, {"hello": "world"}, ["not", "an", "object"]]


@pytest.mark.parametrize("name", sorted(HANDLERS))
def test_malformed_events_are_rejected_without_any_aws_call(
    name: str,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    handler = _handler(name)
    for event in _malformed(HANDLERS[name]):
        # When a malformed or unexpected event arrives
        response = handler(event, lambda_context)
        # Then it is rejected (returned, not raised: no retry loop), with no AWS call at all
        assert response["outcome"] == "rejected"
    assert api_calls.total == 0
    assert subscriber.messages() == []
    # And every rejection was logged with its reason and counted (an EMF metric on stdout)
    logged = [r for r in caplog.records if r.getMessage() == "rejected event"]
    assert len(logged) == 5
    assert all(getattr(r, "reason", "") for r in logged)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert sum(1 for blob in emf if "RejectedEvent" in blob) == 5


def test_invalid_settings_fail_the_invocation_naming_the_variable(
    aws: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a deployment whose mode variable is wrong
    monkeypatch.setenv("WATCHDOG_MODE", "fix-everything")
    reset_runtime()
    # When an event arrives / Then the invocation fails at start, naming the variable (Lambda retries, then DLQ)
    with pytest.raises(SettingsError, match="WATCHDOG_MODE"):
        _handler("glue")(load_event(HANDLERS["glue"]), lambda_context)
