"""The event handlers' further rows of the calls table: Glue resolve and a storm's copy, Athena cancel, echo and
duplicate. (Step Functions rows: ``budget_states.py``; the sweep's: ``budget_sweep.py``.)"""

from __future__ import annotations

from typing import Any

from tests.support.call_budget import CallPath

CLAIMED = ("claim", "sent")
LOAD = "Query: the resource's incidents and budget"


# ------------------------------------------------------------------------------------------------ Glue, Athena
def _glue_resolved(ctx: Any) -> None:
    from tests.integration.test_glue_watchdog import RAW, event, invoke
    from watchdogs_local.moto_ext.glue import set_crawl

    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, ctx.context)
    set_crawl(RAW, "SUCCEEDED")
    ctx.calls.reset()
    assert invoke(event("glue-crawler-succeeded"), ctx.context)["results"][0]["outcome"] == "resolved"


def _glue_copy(ctx: Any) -> None:
    from tests.integration.test_glue_watchdog import RAW, event, invoke
    from watchdogs_local.moto_ext.glue import set_crawl

    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, ctx.context)
    ctx.calls.reset()
    assert invoke({**body, "id": "another-delivery-id"}, ctx.context)["results"][0]["outcome"] == "unchanged"


def _athena_cancel(ctx: Any) -> None:
    from tests.integration.test_athena_watchdog import engine, stuck_finding, stuck_query

    ctx.last = stuck_query(ctx.fixture)
    ctx.calls.reset()
    assert engine().handle(stuck_finding(ctx.last)).actions == ["stop_query:cancelled"]


def _athena_echo(ctx: Any) -> None:
    from tests.integration.test_athena_watchdog import event, invoke

    _athena_cancel(ctx)
    ctx.calls.reset()
    assert invoke(event("athena-query-cancelled", ctx.last))["results"][0]["outcome"] == "resolved"


def _athena_duplicate(ctx: Any) -> None:
    from tests.integration.test_athena_watchdog import event, fail, invoke, start_query

    query_id = start_query(ctx.fixture)
    fail(query_id, "athena-query-failed-user-sql-error")
    first = event("athena-query-failed-user-sql-error", query_id)
    invoke(first)
    ctx.calls.reset()
    assert invoke({**first, "id": "another-delivery-id"}).get("duplicate") is True


BUDGET: list[CallPath] = [
    CallPath(
        "glue-resolved",
        "Glue: restarted crawl Succeeded → resolve",
        {
            "dynamodb.Query": 1,
            "glue.GetCrawler": 1,
            "dynamodb.TransactWriteItems": 1,
            "sns.Publish": 1,
            "dynamodb.PutItem": 1,
        },
        (
            LOAD,
            "GetCrawler: this crawl's success, not an earlier one's",
            "TransactWriteItems: close (conditional)",
            "Publish",
        ),
        ("sent",),
        "glue",
        _glue_resolved,
    ),
    CallPath(
        "glue-copy",
        "Glue: the same Failed with another event id (a storm's copy) → unchanged",
        {"dynamodb.Query": 1, "glue.GetCrawler": 1},
        (LOAD, "GetCrawler: the same failed crawl as the open incident?"),
        (),
        "glue",
        _glue_copy,
    ),
    CallPath(
        "athena-cancel",
        "Athena: stuck query (sweep finding) → cancel",
        {
            "dynamodb.Query": 1,
            "athena.GetQueryExecution": 1,
            "athena.ListTagsForResource": 1,
            "dynamodb.TransactWriteItems": 1,
            "athena.StopQueryExecution": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        (
            LOAD,
            "GetQueryExecution: still RUNNING just before acting",
            "ListTagsForResource: the workgroup's opt-out",
            "StopQueryExecution",
            "PutItem: outcome",
            "Publish",
        ),
        CLAIMED,
        "athena",
        _athena_cancel,
    ),
    CallPath(
        "athena-echo",
        "Athena: CANCELLED echo of its own cancel → resolve",
        {"dynamodb.Query": 1, "dynamodb.TransactWriteItems": 1, "sns.Publish": 1, "dynamodb.PutItem": 1},
        (LOAD, "TransactWriteItems: close (conditional)", "Publish"),
        ("sent",),
        "athena",
        _athena_echo,
    ),
    CallPath(
        "athena-duplicate",
        "Athena: the same FAILED transition again (another event id)",
        {"dynamodb.Query": 1},
        ("Query: finds the key",),
        (),
        "athena",
        _athena_duplicate,
    ),
]
