"""The sweep's rows of the calls table: a whole ``run_sweep_once`` in the test lakehouse, discovery included.

Each run puts the lakehouse in the state the path starts from (earlier sweeps included), resets the call counter,
runs one sweep, and checks the path it took. The sweep's own overhead (cursor, outbox scan) is in every row.
"""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.integration.test_sweep import (
    CURATED,
    DEFINITION,
    PIPELINE,
    RAW,
    RESULTS,
    ROLE,
    by_resource,
    crawl,
    create_crawler,
    create_metadata_table,
    end_execution,
    start_execution,
    start_query,
)
from tests.support.call_budget import DISCOVERY, SWEEP, CallPath

ACCESS_DENIED = "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"


@pytest.fixture
def sweep_lakehouse(aws: dict[str, Any], held_states: None, athena_newest_first: None) -> dict[str, Any]:
    """test_sweep's lakehouse (three crawlers, the pipeline state machine, two workgroups, the metadata table)."""
    glue = boto3.client("glue")
    for name in (RAW, "lakehouse-sandbox-processed-crawler", CURATED):
        create_crawler(glue, name)
    athena = boto3.client("athena")
    for workgroup in ("lakehouse-sandbox-workgroup", "lakehouse-mvp-sandbox-workgroup"):
        athena.create_work_group(Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}})
    boto3.client("stepfunctions").create_state_machine(name=PIPELINE, definition=DEFINITION, roleArn=ROLE)
    create_metadata_table()
    return aws


def _sweep(ctx: Any, expected: dict[str, list[str]]) -> None:
    from watchdogs.sweep import run_sweep_once

    ctx.calls.reset()
    found = by_resource(run_sweep_once())
    assert found == expected, found


def _quiet(ctx: Any) -> None:
    crawl(RAW, "SUCCEEDED")
    _sweep(ctx, {})


def _crawler_stop(ctx: Any) -> None:
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    _sweep(ctx, {RAW: ["stuck:STUCK:act"]})


def _crawler_waiting(ctx: Any) -> None:
    _crawler_stop(ctx)
    _sweep(ctx, {RAW: ["resume:STUCK:unchanged"]})


def _crawler_restart(ctx: Any) -> None:
    _crawler_stop(ctx)
    crawl(RAW, "CANCELLED")
    _sweep(ctx, {RAW: ["resume:STUCK:act"]})


def _crawler_resolved(ctx: Any) -> None:
    _crawler_restart(ctx)
    crawl(RAW, "SUCCEEDED")
    _sweep(ctx, {RAW: ["recovered:RECOVERED:resolved"]})


def _crawler_lost_failure(ctx: Any) -> None:
    crawl(CURATED, "FAILED", error_message=ACCESS_DENIED)
    _sweep(ctx, {CURATED: ["lost-failure:FAILED:escalate"]})


def _crawler_known_failure(ctx: Any) -> None:
    _crawler_lost_failure(ctx)
    _sweep(ctx, {CURATED: ["resume:FAILED:held"]})


def _query_cancel(ctx: Any) -> None:
    ctx.last = start_query(submitted_seconds_ago=1620)
    _sweep(ctx, {ctx.last: ["stuck:STUCK:act"]})


def _query_confirmed(ctx: Any) -> None:
    _query_cancel(ctx)
    _sweep(ctx, {ctx.last: ["resume:STUCK:resolved"]})


def _run_stop(ctx: Any) -> None:
    start_execution(running_for=7500, name="stuck-run")
    _sweep(ctx, {"stuck-run": ["stuck:STUCK:act"]})


def _run_lost_failure(ctx: Any) -> None:
    ctx.last = start_execution(running_for=1200, name="failed-run")
    end_execution(ctx.last, "FAILED", stopped_seconds_ago=600)
    _sweep(ctx, {"failed-run": ["lost-failure:FAILED:notify"]})


def _run_recovered(ctx: Any) -> None:
    _run_lost_failure(ctx)
    end_execution(ctx.last, "SUCCEEDED")
    _sweep(ctx, {"failed-run": ["resume:FAILED:resolved"]})


#: what a sweep with nothing to do calls: the discovery listing, the cursor, the outbox scan
QUIET = {
    "dynamodb.Query": 2,
    "dynamodb.GetItem": 1,
    "glue.GetCrawlers": 1,
    "stepfunctions.ListStateMachines": 1,
    "stepfunctions.ListExecutions": 2,
    "athena.ListQueryExecutions": 2,
}


def _row(
    key: str, title: str, more: dict[str, int], minimum: tuple[str, ...], extra: tuple[str, ...], run: Any
) -> CallPath:
    calls = dict(QUIET)
    for name, n in more.items():
        calls[name] = calls.get(name, 0) + n
    return CallPath(key, f"Sweep: {title}", calls, DISCOVERY + minimum, SWEEP + extra, "sweep_lakehouse", run)


LOAD = "Query: the resource's incidents and budget"
CLAIMED = ("claim", "sent")
BUDGET: list[CallPath] = [
    _row("sweep-quiet", "nothing wrong (quiet lakehouse)", {}, (), (), _quiet),
    _row(
        "sweep-crawler-stop",
        "crawler stuck → StopCrawler (reset step 1)",
        {
            "glue.GetTags": 2,
            "dynamodb.Query": 1,
            "glue.GetCrawler": 1,
            "dynamodb.TransactWriteItems": 1,
            "glue.StopCrawler": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (
            "GetTags: the crawler's threshold tag (discovery)",
            LOAD,
            "GetCrawler: confirm RUNNING just before acting",
            "StopCrawler",
            "PutItem: outcome",
            "Publish",
        ),
        ("retag", *CLAIMED),
        _crawler_stop,
    ),
    _row(
        "sweep-crawler-waiting",
        "pending reset, crawler still STOPPING → wait",
        {"dynamodb.Query": 1, "glue.GetCrawler": 1},
        (LOAD, "GetCrawler: READY yet?"),
        (),
        _crawler_waiting,
    ),
    _row(
        "sweep-crawler-restart",
        "pending reset resumed, crawler READY → StartCrawler",
        {
            "dynamodb.Query": 1,
            "glue.GetCrawler": 1,
            "glue.GetTags": 1,
            "dynamodb.TransactWriteItems": 1,
            "glue.StartCrawler": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (LOAD, "GetCrawler: READY", "GetTags: opt-out", "StartCrawler", "PutItem: outcome", "Publish"),
        CLAIMED,
        _crawler_restart,
    ),
    _row(
        "sweep-crawler-resolved",
        "restarted crawl SUCCEEDED (event lost) → resolve",
        {
            "dynamodb.Query": 1,
            "glue.GetCrawler": 1,
            "dynamodb.TransactWriteItems": 1,
            "sns.Publish": 1,
            "dynamodb.PutItem": 1,
        },
        (LOAD, "GetCrawler: LastCrawl SUCCEEDED", "TransactWriteItems: close into history (conditional)", "Publish"),
        ("sent",),
        _crawler_resolved,
    ),
    _row(
        "sweep-crawler-lost-failure",
        "crawler failed, event lost (AccessDenied) → escalate",
        {"dynamodb.Query": 2, "glue.GetCrawler": 1, "dynamodb.PutItem": 2, "logs.GetLogEvents": 1, "sns.Publish": 1},
        ("Query: this failure already in history?", LOAD, "GetCrawler: the failure, role and targets", "Publish"),
        ("evidence", *CLAIMED),
        _crawler_lost_failure,
    ),
    _row(
        "sweep-crawler-known-failure",
        "the escalated failure at the next sweep → held",
        {"dynamodb.Query": 1, "glue.GetCrawler": 1},
        (LOAD, "GetCrawler: still the same failed crawl?"),
        (),
        _crawler_known_failure,
    ),
    _row(
        "sweep-query-cancel",
        "query stuck → StopQueryExecution",
        {
            "athena.BatchGetQueryExecution": 1,
            "dynamodb.Query": 1,
            "athena.GetQueryExecution": 1,
            "athena.ListTagsForResource": 1,
            "dynamodb.TransactWriteItems": 1,
            "athena.StopQueryExecution": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (
            "BatchGetQueryExecution: the listed queries' state",
            LOAD,
            "GetQueryExecution: still RUNNING just before acting",
            "ListTagsForResource: the workgroup's opt-out",
            "StopQueryExecution",
            "PutItem: outcome",
            "Publish",
        ),
        CLAIMED,
        _query_cancel,
    ),
    _row(
        "sweep-query-confirmed",
        "pending cancel (CANCELLED event lost) → resolve",
        {
            "athena.BatchGetQueryExecution": 1,
            "dynamodb.Query": 1,
            "athena.GetQueryExecution": 1,
            "dynamodb.TransactWriteItems": 1,
            "sns.Publish": 1,
            "dynamodb.PutItem": 1,
        },
        (
            "BatchGetQueryExecution: the listed queries' state",
            LOAD,
            "GetQueryExecution: CANCELLED",
            "TransactWriteItems: close into history (conditional)",
            "Publish",
        ),
        ("sent",),
        _query_confirmed,
    ),
    _row(
        "sweep-run-stop",
        "run stuck on nothing healable → StopExecution (last resort)",
        {
            "stepfunctions.ListTagsForResource": 2,
            "dynamodb.Query": 2,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "dynamodb.TransactWriteItems": 1,
            "stepfunctions.StopExecution": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (
            "ListTagsForResource: the machine's threshold tag (discovery)",
            LOAD,
            "DescribeExecution: still RUNNING just before acting",
            "GetExecutionHistory: where it waits (a cause to heal?)",
            "StopExecution",
            "Query status-index: the run's metadata row to reconcile",
            "PutItem: outcome",
            "Publish",
        ),
        ("retag", *CLAIMED),
        _run_stop,
    ),
    _row(
        "sweep-run-lost-failure",
        "run FAILED, event lost (unknown cause) → notify",
        {
            "dynamodb.Query": 3,
            "stepfunctions.DescribeExecution": 1,
            "stepfunctions.GetExecutionHistory": 1,
            "stepfunctions.ListTagsForResource": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (
            "Query: this failure already in history?",
            LOAD,
            "DescribeExecution: error and cause",
            "GetExecutionHistory: the failed state (classification)",
            "ListTagsForResource: opt-out (the reconcile is an action)",
            "Query status-index: the run's metadata row to reconcile",
            "Publish",
        ),
        CLAIMED,
        _run_lost_failure,
    ),
    _row(
        "sweep-run-recovered",
        "failed run SUCCEEDED after a redrive (event lost) → resolve",
        {
            "dynamodb.Query": 1,
            "stepfunctions.DescribeExecution": 1,
            "dynamodb.TransactWriteItems": 1,
            "sns.Publish": 1,
            "dynamodb.PutItem": 1,
        },
        (LOAD, "DescribeExecution: SUCCEEDED", "TransactWriteItems: close into history (conditional)", "Publish"),
        ("sent",),
        _run_recovered,
    ),
]
