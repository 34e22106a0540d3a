"""A stuck timer fired (:mod:`watchdogs.timers`): re-read that one resource and, if it is still running past its
threshold, hand it to the engine exactly as the sweep's discovery would (same stuck rules, same thresholds, same
finding); finished, or not yet over its threshold, nothing happens. Runs in the resource's own event function (the
timer's target), so a timer never queues behind a sweep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from watchdogs.incidents import now_utc
from watchdogs.models.domain import ResourceType
from watchdogs.observability import count, logger
from watchdogs.resume import resume_finding
from watchdogs.runbooks.discovery import AWS_ERRORS, STORE_ERRORS, DiscoveryContext, Found
from watchdogs.timers import STEP_FOLLOW_UPS, arm_step

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import Incident
    from watchdogs.runtime import Runtime

#: the reads a timer firing makes, besides the runbook's own (tags, incidents): already granted to the sweep
TIMER_CHECK_PERMISSIONS: tuple[str, ...] = ("glue:GetCrawler", "athena:GetQueryExecution", "states:DescribeExecution")


class TimerFired(BaseModel):
    """The schedule's input: ``{"source": "watchdogs.timer", "resource_type": ..., "resource_id": ...}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Literal["watchdogs.timer"]
    resource_type: ResourceType
    resource_id: str = Field(min_length=1, max_length=2048, pattern=r"^[\w:./-]+$")
    #: a step timer (:func:`watchdogs.timers.arm_step`): the pending step to take, and which look this is
    step: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[a-z_]+$")
    attempt: int = Field(default=0, ge=0, le=STEP_FOLLOW_UPS)


def answer(event: Any, rt: Runtime, accepts: frozenset[ResourceType] | None) -> dict[str, Any]:
    """Parse a timer's input at the edge and :func:`check` it. A malformed one, or one for a resource type this
    function does not remediate (``accepts``), is a typed rejection: logged, counted, nothing read or done."""
    from watchdogs.runtime import Rejection, parse_event, reject  # noqa: PLC0415 - runtime imports this lazily

    parsed = parse_event(event, TimerFired)
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    if accepts is not None and parsed.resource_type not in accepts:
        reason = f"a {parsed.resource_type.value} timer is not answered by this function"
        return reject(event, TimerFired, reason).as_dict()
    return check(parsed, rt)


def check(fired: TimerFired, rt: Runtime, now: datetime | None = None) -> dict[str, Any]:
    """Re-read, judge with the runbook's stuck rule, hand over: ``stuck`` (with the engine's ``results``, as an event
    handler returns them), ``not-stuck`` (finished or under threshold), ``gone`` or ``error`` (the read failed: the
    sweep will look again).
    A step timer resumes the incident's pending step instead (:func:`resume_step`)."""
    if fired.step is not None:
        return resume_step(fired, rt, now or now_utc())
    errors: list[str] = []
    ctx = DiscoveryContext(
        settings=rt.settings,
        clients=rt.clients,
        now=now or now_utc(),
        store=rt.engine.store,
        record=lambda _t, op, _r, code, _m: errors.append(f"{op}: {code}"),
    )
    try:
        found = _judge(ctx, fired)
    except AWS_ERRORS as exc:
        logger.warning("stuck timer: re-read failed", resource=fired.resource_id, error=str(exc))
        return {"outcome": "error", "resource": fired.resource_id, "detail": str(exc)[:300]}
    count("TimerFired", resource_type=fired.resource_type.value)
    if found is None:
        logger.info("stuck timer: not stuck", resource=fired.resource_id, errors=errors)
        return {"outcome": "not-stuck", "resource": fired.resource_id}
    result = rt.engine.handle(found[1])
    return {"outcome": "stuck", "resource": fired.resource_id, "results": [result.as_dict()]}


def _judge(ctx: DiscoveryContext, fired: TimerFired) -> Found | None:
    # each runbook's discovery is loaded only for its own timers: an event function answers one resource type
    clients, rid = ctx.clients, fired.resource_id
    if fired.resource_type is ResourceType.CRAWLER:
        from watchdogs.runbooks.crawler import discover as crawlers  # noqa: PLC0415

        crawler = clients.glue.get_crawler(Name=rid)["Crawler"]
        state = crawler.get("State", "")
        return crawlers._stuck(ctx, crawler, state) if state in {"RUNNING", "STOPPING"} else None
    if fired.resource_type is ResourceType.QUERY:
        from watchdogs.runbooks.query import discover as queries  # noqa: PLC0415

        execution = clients.athena.get_query_execution(QueryExecutionId=rid)["QueryExecution"]
        workgroup = execution.get("WorkGroup") or ""
        return queries._stuck(ctx, execution, workgroup, ctx.settings.query_threshold(workgroup))
    from watchdogs.runbooks.execution import discover as executions  # noqa: PLC0415

    run = clients.sfn.describe_execution(executionArn=rid)
    if run.get("status") != "RUNNING":
        return None
    item: dict[str, Any] = {"executionArn": rid, "startDate": run["startDate"]}
    if run.get("redriveDate"):
        item["redriveDate"] = run["redriveDate"]
    stuck = executions._stuck(ctx, run["stateMachineArn"], [item])  # type: ignore[list-item]
    return stuck[0] if stuck else None


def resume_step(fired: TimerFired, rt: Runtime, now: datetime) -> dict[str, Any]:
    """A step timer fired: hand the incident still at that step back to its remediation (what the sweep's resume
    does); still at the same step afterwards (the crawler is still STOPPING), arm the next look. Nothing waits
    at that step any more (taken, resolved, closed): ``step-done``, nothing happens."""
    store = rt.engine.store
    try:
        waiting = _waiting(store.load(fired.resource_type, fired.resource_id).active(), fired.step)
        if waiting is None:
            logger.info("step timer: nothing pending", resource=fired.resource_id, step=fired.step)
            return {"outcome": "step-done", "resource": fired.resource_id, "step": fired.step}
        count("TimerFired", resource_type=fired.resource_type.value)
        result = rt.engine.handle(resume_finding(waiting, now, source="timer"))
    except STORE_ERRORS as exc:
        logger.warning("step timer: resume failed", resource=fired.resource_id, error=str(exc))
        return {"outcome": "error", "resource": fired.resource_id, "detail": str(exc)[:300]}
    armed = "-"
    same = (result.pending_step, result.pending_since) == (waiting.pending_step, waiting.pending_since)
    if same and result.outcome not in {"busy", "lost-race"}:  # still waiting at the step: look again, later
        armed = arm_step(rt.settings, rt.clients, waiting, fired.attempt + 1, now)
    return {"outcome": "resumed", "resource": fired.resource_id, "results": [result.as_dict()], "next_look": armed}


def _waiting(incidents: list[Incident], step: str | None) -> Incident | None:
    return next((i for i in incidents if i.pending_step == step), None)
