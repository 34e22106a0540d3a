"""The Step Functions rows of the calls table: failures (redrive, data quality, abort, timeout), a duplicate, and a
run stuck on its crawler. Moto's interpreter runs the runbook's pipeline for real (``test_states_watchdog``)."""

from __future__ import annotations

import time
from typing import Any

import boto3

from tests.integration.test_states_watchdog import (
    RAW_LOOP,
    current_state,
    hold,
    release,
    status_of,
    stuck_finding,
    wait_until,
)
from tests.support.call_budget import CallPath

CLAIMED = ("claim", "sent")
LOAD = "Query: the resource's incidents and budget"


# ------------------------------------------------------------------------------------------------ Step Functions
def _failed_run(ctx: Any, run_id: str) -> str:
    """A pipeline run that fails on a transient error: its raw crawler is already busy (CrawlerRunningException)."""
    sfn = boto3.client("stepfunctions")
    hold("glue::crawl")
    boto3.client("glue").start_crawler(Name=ctx.fixture.names.crawler("raw"))
    arn = ctx.fixture.start_pipeline(sfn, run_id)
    wait_until(lambda: status_of(sfn, arn) == "FAILED", what="the run to fail")
    release("glue::crawl")
    return str(arn)


def _states_redrive(ctx: Any) -> None:
    from tests.integration.test_states_watchdog import invoke, status_event

    arn = _failed_run(ctx, "run-budget-transient")
    ctx.calls.reset()
    result = invoke(status_event(arn, "FAILED", event_id="evt-budget-failed"), ctx.context)
    assert result["results"][0]["actions"] == ["redrive_execution:redriven"]


def _states_duplicate(ctx: Any) -> None:
    from tests.integration.test_states_watchdog import invoke, status_event

    arn = _failed_run(ctx, "run-budget-duplicate")
    invoke(status_event(arn, "FAILED", event_id="evt-budget-first"), ctx.context)
    ctx.calls.reset()
    assert invoke(status_event(arn, "FAILED", event_id="evt-budget-copy"), ctx.context).get("duplicate") is True


def _states_data_quality(ctx: Any) -> None:
    from tests.integration.test_states_watchdog import _finish_newest_query, _newest_query, _ran, invoke, status_event
    from watchdogs_local.moto_ext.athena import set_query_execution

    sfn = boto3.client("stepfunctions")
    hold("athena::execution")
    arn = ctx.fixture.start_pipeline(sfn, "run-budget-dq")
    for step in ("Staging", "Marts"):  # the models succeed

        def reached(step: str = step) -> bool:
            return current_state(sfn, arn) == f"CheckDbt{step}" or _ran(sfn, arn, step)

        wait_until(reached, what=step)
        _finish_newest_query(ctx.fixture, "SUCCEEDED")
    wait_until(lambda: current_state(sfn, arn) in {"WaitForDbtTests", "CheckDbtTests"}, what="the dbt tests step")
    failed = {"state": "FAILED", "error_category": 2, "error_type": 1, "error_message": "3 tests failed"}
    set_query_execution(_newest_query(ctx.fixture), **failed)  # type: ignore[arg-type]
    wait_until(lambda: status_of(sfn, arn) == "FAILED", what="the run to fail")
    release("athena::execution")  # the evidence's Elementary query answers at once (held, it would be polled)
    ctx.calls.reset()
    result = invoke(status_event(arn, "FAILED", event_id="evt-budget-dq"), ctx.context)
    assert (result["results"][0]["outcome"], result["results"][0]["actions"]) == (
        "notify",
        ["reconcile_metadata:reconciled"],
    ), result


def _waiting_run(ctx: Any, run_id: str) -> str:
    """A pipeline run looping in its raw-crawler wait (the crawl held RUNNING), past the compressed thresholds."""
    sfn = boto3.client("stepfunctions")
    hold("glue::crawl")
    arn = ctx.fixture.start_pipeline(sfn, run_id)
    wait_until(lambda: current_state(sfn, arn) in RAW_LOOP, what="the raw crawler wait loop")
    time.sleep(1.2)
    return str(arn)


def _states_aborted(ctx: Any) -> None:
    from tests.integration.test_states_watchdog import invoke, status_event

    arn = _waiting_run(ctx, "run-budget-aborted")
    boto3.client("stepfunctions").stop_execution(executionArn=arn, error="Operator", cause="stopped by hand")
    ctx.calls.reset()
    result = invoke(status_event(arn, "ABORTED", event_id="evt-budget-aborted"), ctx.context)
    assert "reconcile_metadata:reconciled" in result["results"][0]["actions"], result


def _states_timed_out(ctx: Any) -> None:
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    from tests.integration.test_states_watchdog import invoke, status_event

    arn = _waiting_run(ctx, "run-budget-timed-out")
    boto3.client("stepfunctions").stop_execution(executionArn=arn)  # ends the interpreter's run ...
    execution = stepfunctions_parser_backends["123456789012"]["us-east-1"].describe_execution(arn)
    execution.exec_status = ExecutionStatus.TIMED_OUT  # type: ignore[attr-defined]  # ... as a timeout ends it
    execution.error, execution.cause = "States.Timeout", "run exceeded its TimeoutSeconds"
    ctx.calls.reset()
    result = invoke(status_event(arn, "TIMED_OUT", event_id="evt-budget-timed-out"), ctx.context)
    assert result["key"].endswith("#TIMED_OUT#0"), result
    assert "reconcile_metadata:reconciled" in result["results"][0]["actions"], result


def _states_heal(ctx: Any) -> None:
    from tests.integration.test_states_watchdog import handle

    arn = _waiting_run(ctx, "run-budget-heal")
    ctx.calls.reset()
    result = handle(stuck_finding(arn, ctx.fixture.state_machine_arn))
    assert (result.outcome, [d.actions for d in result.delegated]) == ("wait", [["stop_crawler:stopping"]])


BUDGET: list[CallPath] = [
    CallPath(
        "states-redrive",
        "Step Functions: run FAILED (transient) → redrive",
        {
            "dynamodb.Query": 2,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "stepfunctions.ListTagsForResource": 1,
            "dynamodb.TransactWriteItems": 1,
            "stepfunctions.RedriveExecution": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (
            LOAD,
            "DescribeExecution: error, cause, redrive count",
            "GetExecutionHistory: the failed state (classification)",
            "ListTagsForResource: opt-out",
            "RedriveExecution",
            "PutItem: outcome",
            "Publish",
        ),
        ("declared", *CLAIMED),
        "lakehouse",
        _states_redrive,
    ),
    CallPath(
        "states-data-quality",
        "Step Functions: run FAILED on its dbt tests (data quality) → notify the owners, reconcile",
        {
            "dynamodb.Query": 2,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "athena.GetQueryExecution": 2,
            "athena.StartQueryExecution": 1,
            "athena.GetQueryResults": 1,
            "stepfunctions.ListTagsForResource": 1,
            "dynamodb.PutItem": 3,
            "dynamodb.UpdateItem": 1,
            "sns.Publish": 1,
        },
        (
            LOAD,
            "DescribeExecution: error and cause",
            "GetExecutionHistory: the failed state (DbtTestsFailed: data quality)",
            "ListTagsForResource: opt-out (the reconcile is an action)",
            "Query status-index: the run's metadata row",
            "UpdateItem: the row RUNNING → FAILED (conditional)",
            "PutItem: outcome",
            "Publish: to the data owners",
        ),
        ("evidence", "tests", "tests", "tests", *CLAIMED),
        "lakehouse",
        _states_data_quality,
    ),
    CallPath(
        "states-duplicate",
        "Step Functions: the same FAILED again (another event id)",
        {"dynamodb.Query": 1},
        ("Query: finds the key",),
        (),
        "lakehouse",
        _states_duplicate,
    ),
    CallPath(
        "states-aborted",
        "Step Functions: run ABORTED by an operator → reconcile the metadata row",
        {
            "dynamodb.Query": 2,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "stepfunctions.ListTagsForResource": 1,
            "dynamodb.PutItem": 3,
            "dynamodb.UpdateItem": 1,
            "sns.Publish": 1,
        },
        (
            LOAD,
            "DescribeExecution: who stopped it, and why",
            "ListTagsForResource: opt-out (the reconcile is an action)",
            "Query status-index: the run's metadata row",
            "UpdateItem: the row RUNNING → ABORTED (conditional)",
            "PutItem: outcome",
            "Publish",
        ),
        ("history", *CLAIMED),
        "lakehouse",
        _states_aborted,
    ),
    CallPath(
        "states-timed-out",
        "Step Functions: run TIMED_OUT → reconcile the metadata row",
        {
            "dynamodb.Query": 2,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "stepfunctions.ListTagsForResource": 1,
            "dynamodb.PutItem": 3,
            "dynamodb.UpdateItem": 1,
            "sns.Publish": 1,
        },
        (
            LOAD,
            "DescribeExecution: States.Timeout",
            "ListTagsForResource: opt-out (the reconcile is an action)",
            "Query status-index: the run's metadata row",
            "UpdateItem: the row RUNNING → TIMED_OUT (conditional)",
            "PutItem: outcome",
            "Publish",
        ),
        ("history", *CLAIMED),
        "lakehouse",
        _states_timed_out,
    ),
    CallPath(
        "states-heal",
        "Step Functions: run stuck on its crawler (sweep finding) → heal the crawler",
        {
            "dynamodb.Query": 3,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "stepfunctions.ListTagsForResource": 1,
            "dynamodb.PutItem": 5,
            "sns.Publish": 2,
            "glue.GetCrawler": 1,
            "glue.GetTags": 1,
            "dynamodb.TransactWriteItems": 1,
            "glue.StopCrawler": 1,
        },
        (
            "Query: the run's incidents and budget",
            "DescribeExecution: still RUNNING",
            "GetExecutionHistory: where it waits (the cause)",
            "Publish: the run waits on its healed crawler",
            "Query: the crawler's incidents and budget",
            "GetCrawler: confirm RUNNING just before acting",
            "GetTags: the crawler's opt-out",
            "StopCrawler",
            "PutItem: the crawler's outcome",
            "Publish: the crawler act",
        ),
        ("declared", "declared", "claim", "claim", "sent", "sent", "link"),
        "lakehouse",
        _states_heal,
    ),
]
