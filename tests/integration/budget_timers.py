"""The stuck and step timers' rows of the calls table (docs/timers.md): what a timer costs where it is made,
deleted and answered, in the test lakehouse with timers on (the deployed template's setting).

A start and an end event pay their timer (``CreateSchedule``/``DeleteSchedule``) besides what the event already
cost; a firing timer re-reads its one resource and, when it is stuck, takes the sweep's stuck path for that resource
alone (no discovery listing), arming the step timer of the crawler it stopped.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.integration.budget_sweep import sweep_lakehouse  # noqa: F401 - fixture
from tests.integration.test_sweep import RAW, athena_newest_first, crawl, held_states  # noqa: F401 - fixtures
from tests.support.aws import ACCOUNT, REGION
from tests.support.call_budget import CallPath

GROUP = "lakehouse-watchdogs-timers"
TARGETS = {"crawler": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:watchdogs-glue"}


@pytest.fixture
def timer_lakehouse(sweep_lakehouse: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:  # noqa: F811
    """The sweep's lakehouse with timers on: the group exists, the settings name it, the targets and the role."""
    from watchdogs.runtime import reset_runtime

    boto3.client("scheduler").create_schedule_group(Name=GROUP)
    monkeypatch.setenv("TIMER_SCHEDULE_GROUP", GROUP)
    monkeypatch.setenv("TIMER_TARGETS", json.dumps(TARGETS))
    monkeypatch.setenv("TIMER_ROLE_ARN", f"arn:aws:iam::{ACCOUNT}:role/watchdogs-timers")
    reset_runtime()
    return sweep_lakehouse


def _glue(sample: str, ctx: Any) -> dict[str, Any]:
    from tests.integration.test_glue_watchdog import event, invoke

    body = event(sample, crawlerName=RAW)
    ctx.calls.reset()
    return invoke(body, ctx.context)


def _fire(ctx: Any, **extra: Any) -> dict[str, Any]:
    from watchdogs.handlers.glue import lambda_handler

    ctx.calls.reset()
    payload = {"source": "watchdogs.timer", "resource_type": "crawler", "resource_id": RAW, **extra}
    result: dict[str, Any] = lambda_handler(payload, ctx.context)
    return result


def _started(ctx: Any) -> None:
    crawl(RAW, "RUNNING")
    assert _glue("glue-crawler-started", ctx)["outcome"] == "handled"


def _succeeded(ctx: Any) -> None:
    _started(ctx)
    crawl(RAW, "SUCCEEDED")
    assert _glue("glue-crawler-succeeded", ctx)["outcome"] == "handled"


def _fires_young(ctx: Any) -> None:
    crawl(RAW, "RUNNING", running_for_seconds=60)
    assert _fire(ctx)["outcome"] == "not-stuck"


def _fires_stuck(ctx: Any) -> None:
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    assert _fire(ctx)["outcome"] == "stuck"


def _step_restart(ctx: Any) -> None:
    _fires_stuck(ctx)
    crawl(RAW, "CANCELLED")
    result = _fire(ctx, step="start_when_ready", attempt=1)
    assert (result["outcome"], result["results"][0]["actions"]) == ("resumed", ["start_crawler:started"])


def _step_late(ctx: Any) -> None:
    _step_restart(ctx)
    assert _fire(ctx, step="start_when_ready", attempt=1)["outcome"] == "step-done"


LOAD = "Query: the crawler's incidents and budget"
BUDGET: list[CallPath] = [
    CallPath(
        "timer-start",
        "Timer: crawler Started → its stuck timer is set",
        {"dynamodb.Query": 1, "glue.GetTags": 1, "scheduler.CreateSchedule": 1},
        (LOAD,),
        ("timer-tags", "timer"),
        "timer_lakehouse",
        _started,
    ),
    CallPath(
        "timer-end",
        "Timer: crawler Succeeded → its stuck timer is deleted",
        {"scheduler.DeleteSchedule": 1, "dynamodb.Query": 1},
        (LOAD,),
        ("timer",),
        "timer_lakehouse",
        _succeeded,
    ),
    CallPath(
        "timer-young",
        "Timer: fires, the crawler is under its threshold → nothing",
        {"glue.GetCrawler": 1},
        ("GetCrawler: the one resource the timer names",),
        (),
        "timer_lakehouse",
        _fires_young,
    ),
    CallPath(
        "timer-stuck",
        "Timer: fires, the crawler is stuck → stop (no discovery listing)",
        {
            "glue.GetCrawler": 2,
            "glue.GetTags": 2,
            "dynamodb.Query": 1,
            "dynamodb.TransactWriteItems": 1,
            "glue.StopCrawler": 1,
            "dynamodb.PutItem": 2,
            "scheduler.CreateSchedule": 1,
            "sns.Publish": 1,
        },
        (
            "GetCrawler: the one resource the timer names",
            "GetTags: its threshold",
            LOAD,
            "GetCrawler: confirm just before acting",
            "StopCrawler",
            "PutItem: outcome",
            "Publish",
        ),
        ("retag", "claim", "step", "sent"),
        "timer_lakehouse",
        _fires_stuck,
    ),
    CallPath(
        "step-restart",
        "Step timer: fires, the stopped crawler is READY → restart",
        {
            "dynamodb.Query": 2,
            "glue.GetCrawler": 1,
            "glue.GetTags": 1,
            "dynamodb.TransactWriteItems": 1,
            "glue.StartCrawler": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (LOAD, "GetCrawler: READY?", "GetTags: opt-out", "StartCrawler", "PutItem: outcome", "Publish"),
        ("waiting", "claim", "sent"),
        "timer_lakehouse",
        _step_restart,
    ),
    CallPath(
        "step-late",
        "Step timer: fires after the step was taken → nothing",
        {"dynamodb.Query": 1},
        ("Query: nothing waits at the step any more",),
        (),
        "timer_lakehouse",
        _step_late,
    ),
]
