"""Which state-change events start or stop a resource's stuck timer (:mod:`watchdogs.timers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import ResourceType
from watchdogs.timers import TimerEvent, apply

if TYPE_CHECKING:  # dispatch is on the envelope's source: a handler loads no other source's event models
    from watchdogs.models.athena_events import QueryStateChangeEvent
    from watchdogs.models.glue_events import CrawlerStateChangeEvent
    from watchdogs.models.states_events import ExecutionStatusChangeEvent
    from watchdogs.runtime import Runtime

#: query states that start the clock (the sweep measures from submission: QUEUED counts)
QUERY_STARTS = frozenset({"QUEUED", "RUNNING"})


def timer_event(parsed: Any) -> TimerEvent | None:
    """The timer change an event means, or None (a state that neither starts nor ends a run)."""
    source = getattr(parsed, "source", "")
    if source == "aws.glue":
        return _crawler(parsed)
    if source == "aws.athena":
        return _query(parsed)
    if source == "aws.states":
        return _execution(parsed)
    return None


def _crawler(parsed: CrawlerStateChangeEvent) -> TimerEvent:
    name = parsed.detail.crawler_name
    started = parsed.time if parsed.detail.state == "Started" else None
    return TimerEvent(ResourceType.CRAWLER, name, name, started)


def _query(parsed: QueryStateChangeEvent) -> TimerEvent:
    detail = parsed.detail
    started = parsed.time if detail.current_state in QUERY_STARTS else None
    return TimerEvent(ResourceType.QUERY, detail.query_execution_id, detail.workgroup_name, started)


def _execution(parsed: ExecutionStatusChangeEvent) -> TimerEvent | None:
    run = parsed.detail
    if run.status == "PENDING_REDRIVE":
        return None
    began = parsed.time if run.redrive_count else run.started_at  # a redriven run begins again now
    started = began if run.status == "RUNNING" else None
    return TimerEvent(ResourceType.EXECUTION, run.execution_arn, run.state_machine_arn, started)


def on_event(parsed: Any, rt: Runtime) -> str | None:
    """Start or stop the event's resource timer; the outcome (see :func:`watchdogs.timers.apply`), never raises."""
    event = timer_event(parsed)
    if event is None:
        return None
    return apply(rt.settings, rt.clients, event)
