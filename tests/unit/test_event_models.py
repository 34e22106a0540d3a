"""Typed events: every sample in events/ parses with its model; malformed variants are rejected at the edge."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from tests.support.aws import EVENTS, load_event
from watchdogs.models.events import (
    TEXT_CHARS,
    CrawlerStateChangeEvent,
    ExecutionStatusChangeEvent,
    QueryStateChangeEvent,
    ScheduledEvent,
)
from watchdogs.timer_check import TimerFired

MODEL_BY_SOURCE: dict[str, type[BaseModel]] = {
    "aws.glue": CrawlerStateChangeEvent,
    "aws.athena": QueryStateChangeEvent,
    "aws.states": ExecutionStatusChangeEvent,
    "aws.events": ScheduledEvent,
    "watchdogs.timer": TimerFired,  # a stuck or step timer's input (EventBridge Scheduler, not a rule)
}
SAMPLES = sorted(p.name for p in EVENTS.glob("*.json")) if EVENTS.exists() else []


def envelope(source: str, detail_type: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "0f2e6c3e-1c7d-4e4c-9e0a-6c1f3b7a2d11",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-11-25T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


GLUE_FAILED = envelope(
    "aws.glue",
    "Glue Crawler State Change",
    {
        "crawlerName": "lakehouse-sandbox-raw-crawler",
        "errorMessage": "Access Denied (Service: Amazon S3; Status Code: 403)",
        "accountId": "123456789012",
        "state": "Failed",
        "message": "Crawler Failed",
        "runningTime (sec)": "42",
        "tablesCreated": "N/A",
    },
)
ATHENA_FAILED = envelope(
    "aws.athena",
    "Athena Query State Change",
    {
        "currentState": "FAILED",
        "previousState": "RUNNING",
        "queryExecutionId": "b2f1a3c4-0000-4000-8000-000000000001",
        "sequenceNumber": "3",
        "statementType": "DML",
        "versionId": "0",
        "workgroupName": "lakehouse-sandbox-workgroup",
        "somethingAwsAddedLater": {"x": 1},
    },
)
SFN_FAILED = envelope(
    "aws.states",
    "Step Functions Execution Status Change",
    {
        "executionArn": "arn:aws:states:us-east-1:123456789012:execution:lakehouse-mvp-sandbox-data-pipeline:run-1",
        "stateMachineArn": "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-data-pipeline",
        "name": "run-1",
        "status": "FAILED",
        "startDate": 1764064800000,
        "stopDate": 1764066600000,
        "input": "{}",
        "output": None,
    },
)


@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_event_parses_with_its_model(name: str) -> None:
    # Given a sample from events/ / When parsed with the model of its source
    raw = load_event(name)
    model = MODEL_BY_SOURCE[raw["source"]]
    parsed = model.model_validate(raw)
    # Then it is accepted and keeps its identity (a timer's input names its resource: it has no event id)
    if isinstance(parsed, TimerFired):
        assert (parsed.resource_type.value, parsed.resource_id) == (raw["resource_type"], raw["resource_id"])
    else:
        assert parsed.id == raw["id"]  # type: ignore[attr-defined]


def test_real_shapes_parse_with_their_quirks() -> None:
    glue = CrawlerStateChangeEvent.model_validate(GLUE_FAILED)
    assert glue.detail.running_time_sec == 42  # key literally named "runningTime (sec)", value a string
    assert glue.detail.tables_created == 0  # "N/A" counters tolerated
    athena = QueryStateChangeEvent.model_validate(ATHENA_FAILED)
    assert athena.detail.sequence_number == 3
    sfn = ExecutionStatusChangeEvent.model_validate(SFN_FAILED)
    assert sfn.detail.started_at.year == 2025
    assert sfn.detail.stopped_at is not None
    running = copy.deepcopy(SFN_FAILED)
    running["detail"].update(status="RUNNING", stopDate=None)
    assert ExecutionStatusChangeEvent.model_validate(running).detail.stopped_at is None


def _mutate(event: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    bad = copy.deepcopy(event)
    target = bad
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return bad


@pytest.mark.parametrize(
    ("model", "event", "path", "value"),
    [
        (CrawlerStateChangeEvent, GLUE_FAILED, ["detail", "state"], "FAILED"),  # Glue states are title case
        (CrawlerStateChangeEvent, GLUE_FAILED, ["detail", "crawlerName"], KeyError),
        (CrawlerStateChangeEvent, GLUE_FAILED, ["source"], "aws.athena"),
        (QueryStateChangeEvent, ATHENA_FAILED, ["detail", "sequenceNumber"], KeyError),
        (QueryStateChangeEvent, ATHENA_FAILED, ["detail", "currentState"], "EXPLODED"),
        (QueryStateChangeEvent, ATHENA_FAILED, ["detail-type"], "Athena Something Else"),
        (ExecutionStatusChangeEvent, SFN_FAILED, ["detail", "status"], "Failed"),
        (ExecutionStatusChangeEvent, SFN_FAILED, ["detail", "executionArn"], "not-an-arn"),
        (ExecutionStatusChangeEvent, SFN_FAILED, ["detail", "startDate"], "yesterday"),
        (ExecutionStatusChangeEvent, SFN_FAILED, ["detail"], "a string"),
        # no delivery id: not an EventBridge delivery, and nothing to de-duplicate it on
        (CrawlerStateChangeEvent, GLUE_FAILED, ["id"], KeyError),
        (CrawlerStateChangeEvent, GLUE_FAILED, ["id"], ""),
        (QueryStateChangeEvent, ATHENA_FAILED, ["id"], "  "),
        (ScheduledEvent, envelope("aws.events", "Scheduled Event", {}), ["id"], None),
        # the envelope as EventBridge always sends it
        (CrawlerStateChangeEvent, GLUE_FAILED, ["account"], "12345"),
        (CrawlerStateChangeEvent, GLUE_FAILED, ["time"], "2026-11-25T10:00:00"),  # no time zone
        # names, ids and ARNs within AWS's own limits
        (CrawlerStateChangeEvent, GLUE_FAILED, ["detail", "crawlerName"], "lakehouse-sandbox-raw\ncrawler"),
        (CrawlerStateChangeEvent, GLUE_FAILED, ["detail", "crawlerName"], "x" * 256),
        (CrawlerStateChangeEvent, GLUE_FAILED, ["detail", "accountId"], "not-an-account"),
        (CrawlerStateChangeEvent, GLUE_FAILED, ["detail", "tablesCreated"], 10**40),
        (QueryStateChangeEvent, ATHENA_FAILED, ["detail", "workgroupName"], "lakehouse sandbox"),
        (QueryStateChangeEvent, ATHENA_FAILED, ["detail", "queryExecutionId"], "../../etc/passwd"),
        (QueryStateChangeEvent, ATHENA_FAILED, ["detail", "sequenceNumber"], -1),
        (
            ExecutionStatusChangeEvent,
            SFN_FAILED,
            ["detail", "executionArn"],
            SFN_FAILED["detail"]["executionArn"] + "x" * 300,
        ),
        (ExecutionStatusChangeEvent, SFN_FAILED, ["detail", "startDate"], 10**20),
    ],
)
def test_malformed_variants_are_rejected(
    model: type[BaseModel], event: dict[str, Any], path: list[str], value: Any
) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(_mutate(event, path, value))


def test_free_text_is_truncated_not_rejected() -> None:
    # Given a failure message of 100 KB (a real one may be long; an incident record must stay small)
    event = _mutate(GLUE_FAILED, ["detail", "errorMessage"], "Rate exceeded " + "x" * 100_000)
    # When parsed / Then accepted, the message cut to TEXT_CHARS with its start (what classifies it) kept
    detail = CrawlerStateChangeEvent.model_validate(event).detail
    assert detail.error_message is not None
    assert len(detail.error_message) == TEXT_CHARS
    assert detail.error_message.startswith("Rate exceeded")


SM = "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-data-pipeline"


@pytest.mark.parametrize(
    "machine",
    [
        "arn:aws:states:us-east-1:123456789012:stateMachine:otherteam-data-pipeline",
        "arn:aws:states:us-east-1:210987654321:stateMachine:lakehouse-mvp-sandbox-data-pipeline",
        "arn:aws:states:eu-west-1:123456789012:stateMachine:lakehouse-mvp-sandbox-data-pipeline",
    ],
)
def test_an_execution_event_whose_two_arns_disagree_is_rejected(machine: str) -> None:
    # Given the event of one execution that names another state machine
    event = _mutate(SFN_FAILED, ["detail", "stateMachineArn"], machine)
    # When parsed / Then rejected, naming the disagreement (scope is judged on the execution's own ARN)
    with pytest.raises(ValidationError, match="is not the state machine of executionArn"):
        ExecutionStatusChangeEvent.model_validate(event)


@pytest.mark.parametrize("qualifier", ["", ":3", ":prod"])
def test_a_version_or_alias_of_the_same_state_machine_agrees(qualifier: str) -> None:
    event = _mutate(SFN_FAILED, ["detail", "stateMachineArn"], SM + qualifier)
    assert ExecutionStatusChangeEvent.model_validate(event).detail.state_machine_arn == SM + qualifier
