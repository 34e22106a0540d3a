"""The query runbook's discovery, for the sweep: queries QUEUED/RUNNING past their workgroup's threshold.

Runbook "Pipeline Stuck in RUNNING State", 2. "List running queries / Cancel stuck query". Per workgroup in scope,
``ListQueryExecutions`` (newest first, 50 ids a page) and ``BatchGetQueryExecution`` (50 ids a call), paging back only
until a whole batch is older than the look-back window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, ResourceType
from watchdogs.runbooks.discovery import AWS_ERRORS, chunks, seconds_between

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_athena.type_defs import QueryExecutionTypeDef

    from watchdogs.runbooks.discovery import DiscoveryContext, Found
    from watchdogs.settings import Settings

#: ListQueryExecutions ``MaxResults`` (0..50)
ATHENA_LIST_PAGE_SIZE = 50
#: BatchGetQueryExecution ``QueryExecutionIds`` (1..50)
ATHENA_BATCH_SIZE = 50
#: Athena's default DML query timeout: a query threshold at or above it never fires (Athena kills the query first)
ATHENA_DML_TIMEOUT_SECONDS = 30 * 60
ACTIVE_QUERY_STATES = frozenset({"QUEUED", "RUNNING"})


def check_thresholds(settings: Settings) -> list[str]:
    """Threshold settings that cannot work as configured (empty: all fine). Pure; logged and reported.

    A stuck-query threshold must sit below Athena's own DML timeout (default 30 min) or Athena cancels the query
    before the watchdog ever sees it stuck; the look-back window must reach further back than the longest
    query threshold, or a stuck query falls out of the window before it is old enough to be flagged.
    """
    problems: list[str] = []
    query_thresholds = {"QUERY_STUCK_SECONDS": settings.query_stuck_seconds} | {
        f"WORKGROUP_QUERY_STUCK_SECONDS[{wg}]": value for wg, value in settings.workgroup_query_stuck_seconds.items()
    }
    for name, value in query_thresholds.items():
        if value >= ATHENA_DML_TIMEOUT_SECONDS:
            problems.append(
                f"{name}={value}s is not below Athena's DML timeout ({ATHENA_DML_TIMEOUT_SECONDS}s): "
                "DML queries are cancelled by Athena before they count as stuck"
            )
    longest_query = max(query_thresholds.values())
    if settings.sweep_lookback_seconds <= longest_query:
        problems.append(
            f"SWEEP_LOOKBACK_SECONDS={settings.sweep_lookback_seconds}s does not exceed the longest query threshold "
            f"({longest_query}s): stuck queries leave the look-back window before they are flagged"
        )
    return problems


def discover(ctx: DiscoveryContext) -> list[Found]:
    """Stuck queries in every workgroup in scope (``checked``: workgroups, queries read)."""
    workgroups = ctx.settings.workgroups
    if not workgroups:
        return []
    found: list[Found] = []
    checked = 0
    for workgroup in workgroups:
        if ctx.out_of_time(f"workgroup {workgroup}"):
            break
        read, workgroup_found = _discover_workgroup(ctx, workgroup)
        checked += read
        found += workgroup_found
    ctx.checked["workgroups"] = len(workgroups)
    ctx.checked["queries"] = checked
    return found


def _discover_workgroup(ctx: DiscoveryContext, workgroup: str) -> tuple[int, list[Found]]:
    threshold = ctx.settings.query_threshold(workgroup)
    window_start = ctx.now - timedelta(seconds=ctx.settings.sweep_lookback_seconds)
    found: list[Found] = []
    checked = 0
    kwargs: dict[str, Any] = {"WorkGroup": workgroup, "MaxResults": ATHENA_LIST_PAGE_SIZE}
    while True:
        try:
            page = ctx.clients.athena.list_query_executions(**kwargs)
        except AWS_ERRORS as exc:
            ctx.error("query", "athena.ListQueryExecutions", workgroup, exc)
            break
        for batch in chunks(page.get("QueryExecutionIds", []), ATHENA_BATCH_SIZE):
            executions = _batch_get(ctx, workgroup, batch)
            checked += len(executions)
            found += [f for e in executions if (f := _stuck(ctx, e, workgroup, threshold)) is not None]
            if _all_before(executions, window_start):
                return checked, found  # newest first: everything further back is older still
        token = page.get("NextToken")
        if not token or ctx.out_of_time(f"further ListQueryExecutions pages of {workgroup}"):
            break
        kwargs["NextToken"] = token
    return checked, found


def _all_before(executions: list[QueryExecutionTypeDef], window_start: datetime) -> bool:
    submitted = [e.get("Status", {}).get("SubmissionDateTime") for e in executions]
    return bool(executions) and all(s is not None and s < window_start for s in submitted)


def _batch_get(ctx: DiscoveryContext, workgroup: str, ids: list[str]) -> list[QueryExecutionTypeDef]:
    try:
        response = ctx.clients.athena.batch_get_query_execution(QueryExecutionIds=ids)
    except AWS_ERRORS as exc:
        ctx.error("query", "athena.BatchGetQueryExecution", workgroup, exc)
        return []
    for unprocessed in response.get("UnprocessedQueryExecutionIds", []):
        ctx.record(
            "query",
            "athena.BatchGetQueryExecution",
            unprocessed.get("QueryExecutionId", ""),
            unprocessed.get("ErrorCode", ""),
            unprocessed.get("ErrorMessage", ""),
        )
    return list(response.get("QueryExecutions", []))


def _stuck(ctx: DiscoveryContext, execution: QueryExecutionTypeDef, workgroup: str, threshold: int) -> Found | None:
    status = execution.get("Status", {})
    state = status.get("State", "")
    if state not in ACTIVE_QUERY_STATES:
        return None
    running = seconds_between(status.get("SubmissionDateTime"), ctx.now)
    if running is None or running < threshold:
        return None
    facts = {
        "sweep": "discovery",
        "state": state,
        "workgroup": execution.get("WorkGroup") or workgroup,
        "statement_type": execution.get("StatementType"),
        "running_seconds": round(running),
        "threshold_seconds": threshold,
    }
    return "stuck", ctx.finding(ResourceType.QUERY, execution["QueryExecutionId"], Condition.STUCK, workgroup, facts)
