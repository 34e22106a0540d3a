"""The execution runbook's discovery, for the sweep: runs RUNNING past their threshold, failed runs no event told of.

Runbook "Pipeline Stuck in RUNNING State" ("Step Functions execution shows RUNNING for extended period") and "Check
Pipeline Status". ``ListStateMachines`` (filtered by ARN prefix) and, per state machine, ``ListExecutions`` twice:
RUNNING (all of them, however old) and unfiltered newest-first back to the look-back window (lost failures). The
state machine's tags are read only when one of its runs is past the tag floor.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import iso
from watchdogs.models.domain import Condition, ResourceType
from watchdogs.runbooks.discovery import AWS_ERRORS
from watchdogs.shared import tag_floor, tags_from_pairs, threshold_from_tags

if TYPE_CHECKING:
    from datetime import datetime

    from mypy_boto3_stepfunctions.type_defs import ExecutionListItemTypeDef

    from watchdogs.runbooks.discovery import DiscoveryContext, Found

#: ListStateMachines / ListExecutions ``maxResults`` (0..1000)
SFN_PAGE_SIZE = 1000
FAILED_EXECUTION_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})


def execution_run_started(execution: ExecutionListItemTypeDef) -> datetime:
    """When the current run began: a redriven execution runs again from its ``redriveDate``."""
    started: datetime = execution["startDate"]
    redriven: datetime | None = execution.get("redriveDate")
    return max(started, redriven) if redriven else started


def discover(ctx: DiscoveryContext) -> list[Found]:
    """Stuck and lost-failed runs of every state machine in scope (``checked``: machines, running and recent runs)."""
    if not ctx.settings.state_machine_arn_prefixes:
        return []
    found: list[Found] = []
    machines = _state_machines(ctx)
    running_total = recent_total = 0
    for machine in machines:
        if ctx.out_of_time(f"state machine {machine}"):
            break
        running = _list_executions(ctx, machine, status="RUNNING", stop_before=None)
        found += _stuck(ctx, machine, running)
        recent, lost = _lost_failures(ctx, machine)
        found += lost
        running_total, recent_total = running_total + len(running), recent_total + recent
    ctx.checked["state_machines"] = len(machines)
    ctx.checked["running_executions"] = running_total
    ctx.checked["recent_executions"] = recent_total
    return found


def _state_machines(ctx: DiscoveryContext) -> list[str]:
    prefixes = tuple(ctx.settings.state_machine_arn_prefixes)
    arns: list[str] = []
    kwargs: dict[str, Any] = {"maxResults": SFN_PAGE_SIZE}
    while True:
        try:
            page = ctx.clients.sfn.list_state_machines(**kwargs)
        except AWS_ERRORS as exc:
            ctx.error("execution", "stepfunctions.ListStateMachines", "", exc)
            break
        arns += [
            m["stateMachineArn"] for m in page.get("stateMachines", []) if m["stateMachineArn"].startswith(prefixes)
        ]
        token = page.get("nextToken")
        if not token:
            break
        kwargs["nextToken"] = token
    return arns


def _list_executions(
    ctx: DiscoveryContext, machine: str, *, status: str | None, stop_before: datetime | None
) -> list[ExecutionListItemTypeDef]:
    """Executions of one machine, newest first; with ``stop_before`` paging stops at the first older one."""
    kwargs: dict[str, Any] = {"stateMachineArn": machine, "maxResults": SFN_PAGE_SIZE}
    if status:
        kwargs["statusFilter"] = status
    listed: list[ExecutionListItemTypeDef] = []
    while True:
        try:
            page = ctx.clients.sfn.list_executions(**kwargs)
        except AWS_ERRORS as exc:
            ctx.error("execution", "stepfunctions.ListExecutions", machine, exc)
            break
        items = page.get("executions", [])
        kept = items if stop_before is None else [e for e in items if e["startDate"] >= stop_before]
        listed += kept
        token = page.get("nextToken")
        if len(kept) < len(items) or not token:
            break
        kwargs["nextToken"] = token
    return listed


def _stuck(ctx: DiscoveryContext, machine: str, running: list[ExecutionListItemTypeDef]) -> list[Found]:
    default = ctx.settings.execution_stuck_seconds
    ages = {e["executionArn"]: (ctx.now - execution_run_started(e)).total_seconds() for e in running}
    over_floor = [e for e in running if ages[e["executionArn"]] >= tag_floor(default)]
    if not over_floor:
        return []
    threshold, source = _threshold(ctx, machine, default)
    found: list[Found] = []
    for execution in over_floor:
        arn, age = execution["executionArn"], ages[execution["executionArn"]]
        if age < threshold:
            continue
        facts: dict[str, Any] = {"sweep": "discovery", "status": "RUNNING", "state_machine_arn": machine}
        facts |= {"running_seconds": round(age), "threshold_seconds": threshold, "threshold_source": source}
        found.append(("stuck", ctx.finding(ResourceType.EXECUTION, arn, Condition.STUCK, machine, facts)))
    return found


def _lost_failures(ctx: DiscoveryContext, machine: str) -> tuple[int, list[Found]]:
    """A run that failed unseen began within the look-back window plus the stuck threshold (a run older than that
    was flagged STUCK while it ran, so an incident knows it); it counts if it stopped inside the window."""
    now, lookback = ctx.now, timedelta(seconds=ctx.settings.sweep_lookback_seconds)
    stuck_threshold = timedelta(seconds=ctx.settings.execution_stuck_seconds)
    recent = _list_executions(ctx, machine, status=None, stop_before=now - lookback - stuck_threshold)
    found: list[Found] = []
    for execution in recent:
        status = execution.get("status", "")
        if status not in FAILED_EXECUTION_STATUSES:
            continue
        ended: datetime = execution.get("stopDate") or execution_run_started(execution)
        if ended < now - lookback:
            continue
        arn = execution["executionArn"]
        if ctx.seen(ResourceType.EXECUTION, arn, execution_run_started(execution), any_condition=status == "ABORTED"):
            continue
        facts: dict[str, Any] = {"sweep": "discovery", "status": status, "state_machine_arn": machine}
        facts |= {"stop_date": iso(ended), "redrive_count": execution.get("redriveCount", 0)}
        found.append(("lost-failure", ctx.finding(ResourceType.EXECUTION, arn, Condition.FAILED, machine, facts)))
    return len(recent), found


def _threshold(ctx: DiscoveryContext, machine: str, default: int) -> tuple[int, str]:
    try:
        response = ctx.clients.sfn.list_tags_for_resource(resourceArn=machine)
    except AWS_ERRORS as exc:  # unknown tags: the default threshold still applies
        ctx.error("execution", "stepfunctions.ListTagsForResource", machine, exc)
        return default, "default"
    tags = tags_from_pairs(response.get("tags", []))
    threshold, source, problem = threshold_from_tags(tags, ctx.settings.threshold_tag, default)
    if problem:
        ctx.warnings.append(f"state machine {machine}: {problem}")
    return threshold, source
