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


SAMPLES = {**HANDLERS, "sweep": "sweep-scheduled"}


@pytest.mark.parametrize("name", sorted(SAMPLES))
@pytest.mark.parametrize(
    "event_id", ["<missing>", "", "   ", None, 42], ids=["missing", "empty", "blank", "null", "int"]
)
def test_an_event_without_an_id_is_rejected_not_crashed_on(
    name: str,
    event_id: Any,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given a sample event whose id is missing, empty, blank or not a string
    event = load_event(SAMPLES[name])
    if event_id == "<missing>":
        del event["id"]
    else:
        event["id"] = event_id
    # When it reaches the handler
    response = _handler(name)(event, lambda_context)
    # Then it is a typed rejection naming the id (returned, not raised), with no AWS call and no message
    assert response["outcome"] == "rejected"
    assert response["detail"].startswith("id:")
    assert api_calls.total == 0
    assert subscriber.messages() == []
    # And it was logged with its reason and counted
    [logged] = [r for r in caplog.records if r.getMessage() == "rejected event"]
    assert str(getattr(logged, "reason", "")).startswith("id:")
    assert '"RejectedEvent"' in capsys.readouterr().out


def test_a_concurrent_duplicate_delivery_returns_without_acting_or_raising(
    aws: dict[str, Any],
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import boto3

    from tests.support.aws import ACCOUNT
    from watchdogs_local.moto_ext.glue import set_crawl

    # Given a crawler that failed transiently (its Failed event restarts it)
    body = load_event("glue-crawler-failed-internal-service-exception")
    crawler = body["detail"]["crawlerName"]
    glue = boto3.client("glue")
    glue.create_crawler(
        Name=crawler,
        Role=f"arn:aws:iam::{ACCOUNT}:role/crawler",
        DatabaseName="lakehouse",
        Targets={"S3Targets": [{"Path": "s3://lake/raw/"}]},
    )
    set_crawl(crawler, "FAILED", error_message=body["detail"]["errorMessage"])
    # And the same delivery arriving again while the first invocation is acting on it (its claim is written,
    # StartCrawler is about to be called)
    redelivered: list[dict[str, Any]] = []
    redelivery_calls: dict[str, int] = {}

    def redeliver(**_: Any) -> None:
        if not redelivered:
            redelivered.append({})
            before = dict(api_calls.calls)
            redelivered[0] = _handler("glue")(json.loads(json.dumps(body)), lambda_context)
            redelivery_calls.update({k: v - before.get(k, 0) for k, v in api_calls.calls.items() if v != before.get(k)})

    api_calls.session.events.register("before-call.glue.StartCrawler", redeliver)
    # When the first delivery is handled
    first = _handler("glue")(body, lambda_context)
    # Then the concurrent one returned a small summary, acted on nothing and raised nothing
    assert redelivered == [{"outcome": "duplicate-in-progress", "key": body["id"]}]
    assert redelivery_calls == {"dynamodb.Query": 1}  # the load that finds the key on the claimed incident
    # And the first acted exactly once
    assert first["outcome"] == "handled"
    assert first["results"][0]["actions"] == ["start_crawler:started"]
    assert api_calls.calls["glue.StartCrawler"] == 1
    assert [m["MessageAttributes"]["outcome"]["Value"] for m in subscriber.messages()] == ["act"]
    # And the duplicate was counted (no Lambda error, so no error alarm)
    assert '"DuplicateInProgress"' in capsys.readouterr().out
    # When the same delivery comes once more, after the first finished / Then the incident's record answers it
    api_calls.reset()
    assert _handler("glue")(body, lambda_context).get("duplicate") is True
    assert dict(api_calls.calls) == {"dynamodb.Query": 1}
    assert '"DuplicateEvent"' in capsys.readouterr().out


def test_a_copy_that_claims_first_makes_the_other_delivery_the_duplicate(
    aws: dict[str, Any],
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import boto3

    from tests.support.aws import ACCOUNT
    from watchdogs_local.moto_ext.glue import set_crawl

    # Given a crawler that failed transiently, and a copy of its Failed event delivered while the first delivery
    # has loaded the crawler's incidents but not yet claimed (it is reading GetCrawler)
    body = load_event("glue-crawler-failed-internal-service-exception")
    crawler = body["detail"]["crawlerName"]
    boto3.client("glue").create_crawler(
        Name=crawler,
        Role=f"arn:aws:iam::{ACCOUNT}:role/crawler",
        DatabaseName="lakehouse",
        Targets={"S3Targets": [{"Path": "s3://lake/raw/"}]},
    )
    set_crawl(crawler, "FAILED", error_message=body["detail"]["errorMessage"])
    copies: list[dict[str, Any]] = []

    def deliver_copy(**_: Any) -> None:
        if not copies:
            copies.append({})
            copies[0] = _handler("glue")(json.loads(json.dumps(body)), lambda_context)

    api_calls.session.events.register("before-call.glue.GetCrawler", deliver_copy)
    # When the first delivery is handled
    first = _handler("glue")(body, lambda_context)
    # Then the copy acted (it claimed first) and the first lost the claim, re-read, found its key: a duplicate
    assert copies[0]["results"][0]["actions"] == ["start_crawler:started"]
    assert first["duplicate"] is True
    assert first["results"][0]["outcome"] == "duplicate"
    # And the crawler was started exactly once, one message, no error raised, the duplicate counted
    assert api_calls.calls["glue.StartCrawler"] == 1
    assert [m["MessageAttributes"]["outcome"]["Value"] for m in subscriber.messages()] == ["act"]
    assert '"DuplicateEvent"' in capsys.readouterr().out
