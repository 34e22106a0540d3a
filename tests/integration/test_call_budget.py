"""Calls per scenario: every AWS call each path makes, counted against the emulator, beside the runbook minimum.

Each row of :data:`BUDGET` is one path through a handler or the sweep: what it must call (the runbook minimum:
the reads its runbook step needs, the action, the notification), plus the guards every path that changes an
incident pays (the one-actor guard: the conditional claim; the outbox mark-sent that makes a crash after publishing
safe), and nothing else. The test runs the path and asserts the exact calls; ``docs/performance.md`` carries the
table rendered from the same rows (``python -m tests.integration.test_call_budget`` rewrites it, and
:func:`test_the_documented_table_is_this_data` fails when it drifts).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration import budget_events, budget_states, budget_sweep, budget_timers
from tests.integration.budget_sweep import sweep_lakehouse  # noqa: F401 - fixture
from tests.integration.budget_timers import timer_lakehouse  # noqa: F401 - fixture
from tests.integration.test_athena_watchdog import athena  # noqa: F401 - fixture
from tests.integration.test_glue_watchdog import glue  # noqa: F401 - fixture
from tests.integration.test_states_watchdog import lakehouse  # noqa: F401 - fixture
from tests.integration.test_sweep import athena_newest_first, held_states  # noqa: F401 - fixtures
from tests.support.aws import ApiCalls
from tests.support.call_budget import CallPath, render

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- calls:start -->", "<!-- calls:end -->"
CLAIMED = ("claim", "sent")


# ------------------------------------------------------------------------------------------------ the paths
def _glue_escalate(ctx: Any) -> None:
    from tests.integration.test_glue_watchdog import RAW, event, invoke
    from watchdogs_local.moto_ext.glue import set_crawl

    body = event("glue-crawler-failed-access-denied")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    ctx.calls.reset()
    assert invoke(body, ctx.context)["results"][0]["outcome"] == "escalate"
    ctx.last = body


def _glue_restart(ctx: Any) -> None:
    from tests.integration.test_glue_watchdog import RAW, event, invoke
    from watchdogs_local.moto_ext.glue import set_crawl

    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    ctx.calls.reset()
    assert invoke(body, ctx.context)["results"][0]["actions"] == ["start_crawler:started"]


def _glue_duplicate(ctx: Any) -> None:
    from tests.integration.test_glue_watchdog import invoke

    _glue_escalate(ctx)
    ctx.calls.reset()
    assert invoke(ctx.last, ctx.context).get("duplicate") is True


def _glue_echo(ctx: Any) -> None:
    from tests.integration.test_glue_watchdog import event, invoke

    _glue_restart(ctx)
    ctx.calls.reset()
    invoke(event("glue-crawler-started"), ctx.context)


def _athena_notify(ctx: Any) -> None:
    from tests.integration.test_athena_watchdog import event, fail, invoke, start_query

    query_id = start_query(ctx.fixture)
    fail(query_id, "athena-query-failed-user-sql-error")
    ctx.calls.reset()
    assert invoke(event("athena-query-failed-user-sql-error", query_id))["results"][0]["outcome"] == "notify"


def _athena_quiet(ctx: Any) -> None:
    from tests.integration.test_athena_watchdog import event, invoke, start_query
    from watchdogs_local.moto_ext.athena import set_query_execution

    query_id = start_query(ctx.fixture)
    set_query_execution(query_id, state="SUCCEEDED")
    ctx.calls.reset()
    assert invoke(event("athena-query-succeeded", query_id))["results"][0]["outcome"] == "ignored"


def _states_quiet(ctx: Any) -> None:
    from tests.integration.test_states_watchdog import invoke, status_event

    arn = "arn:aws:states:us-east-1:123456789012:execution:lakehouse-mvp-sandbox-data-pipeline:quiet-1"
    ctx.calls.reset()
    assert invoke(status_event(arn, "SUCCEEDED", event_id="quiet-1"), ctx.context)["results"][0]["outcome"] == (
        "nothing-open"
    )


HANDLERS: list[CallPath] = [
    CallPath(
        "glue-escalate",
        "Glue: crawler Failed (AccessDenied) → escalate",
        {"dynamodb.Query": 1, "glue.GetCrawler": 1, "dynamodb.PutItem": 2, "logs.GetLogEvents": 1, "sns.Publish": 1},
        ("Query: the crawler's open incident and budget", "GetCrawler: the failure, role and targets", "Publish"),
        ("evidence", *CLAIMED),
        "glue",
        _glue_escalate,
    ),
    CallPath(
        "glue-restart",
        "Glue: crawler Failed (transient) → restart",
        {
            "dynamodb.Query": 1,
            "glue.GetCrawler": 1,
            "glue.GetTags": 1,
            "dynamodb.TransactWriteItems": 1,
            "glue.StartCrawler": 1,
            "dynamodb.PutItem": 2,
            "logs.GetLogEvents": 1,
            "sns.Publish": 1,
        },
        (
            "Query",
            "GetCrawler: confirm just before acting",
            "GetTags: opt-out",
            "StartCrawler",
            "PutItem: outcome",
            "Publish",
        ),
        ("evidence", *CLAIMED),
        "glue",
        _glue_restart,
    ),
    CallPath(
        "glue-duplicate",
        "Glue: the same delivery again",
        {"dynamodb.Query": 1},
        ("Query: finds the key",),
        (),
        "glue",
        _glue_duplicate,
    ),
    CallPath(
        "glue-echo", "Glue: Started echo of its own restart", {"dynamodb.Query": 1}, ("Query",), (), "glue", _glue_echo
    ),
    CallPath(
        "athena-notify",
        "Athena: query FAILED (user SQL error) → notify",
        {
            "dynamodb.Query": 1,
            "athena.GetQueryExecution": 1,
            "stepfunctions.ListStateMachines": 1,
            "dynamodb.PutItem": 2,
            "sns.Publish": 1,
        },
        ("Query", "GetQueryExecution: the workgroup and error Athena reports", "Publish"),
        ("correlate", *CLAIMED),
        "athena",
        _athena_notify,
    ),
    CallPath(
        "athena-quiet",
        "Athena: query SUCCEEDED, nothing open",
        {"dynamodb.Query": 1},
        ("Query",),
        (),
        "athena",
        _athena_quiet,
    ),
    CallPath(
        "states-quiet",
        "Step Functions: run SUCCEEDED, nothing open",
        {"dynamodb.Query": 1},
        ("Query",),
        (),
        "aws",
        _states_quiet,
    ),
]
BUDGET: list[CallPath] = (
    HANDLERS + budget_events.BUDGET + budget_states.BUDGET + budget_sweep.BUDGET + budget_timers.BUDGET
)


def rewrite_doc() -> None:
    text = DOC.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{START}\n{render(BUDGET)}\n{END}{tail}")


@dataclass
class Ctx:
    calls: ApiCalls
    context: Any
    fixture: Any
    last: Any = None


@pytest.mark.integration
@pytest.mark.parametrize("path", BUDGET, ids=lambda p: p.key)
def test_each_path_makes_exactly_its_calls(
    path: CallPath, request: pytest.FixtureRequest, api_calls: ApiCalls, lambda_context: Any
) -> None:
    # Given the world the path starts from (its fixture), When the path runs (it resets the counter first)
    assert path.run is not None
    path.run(Ctx(calls=api_calls, context=lambda_context, fixture=request.getfixturevalue(path.fixture)))
    # Then it made exactly the calls of its row: the runbook minimum plus the justified extras, nothing else
    assert dict(api_calls.calls) == path.calls, f"ACTUAL {path.key} {dict(api_calls.calls)}"
    assert path.total == len(path.minimum) + len(path.extra)


def test_every_path_has_a_run_and_a_unique_key() -> None:
    assert all(p.run is not None for p in BUDGET)
    assert len({p.key for p in BUDGET}) == len(BUDGET)


def test_every_duplicate_delivery_costs_one_call() -> None:
    duplicates = [p for p in BUDGET if p.key.endswith("-duplicate")]
    assert {p.key.split("-", 1)[0] for p in duplicates} == {"glue", "athena", "states"}
    assert all(p.total == 1 for p in duplicates)


def test_the_documented_table_is_this_data() -> None:
    text = DOC.read_text()
    assert START in text, "docs/performance.md lost its calls table markers"
    assert text.split(START, 1)[1].split(END, 1)[0].strip() == render(BUDGET)


if __name__ == "__main__":  # python -m tests.integration.test_call_budget: rewrite the table in docs/performance.md
    rewrite_doc()
    sys.exit(0)
