"""Which state-change events start or stop a resource's stuck timer (:mod:`watchdogs.timers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.athena_events import QueryStateChangeEvent
from watchdogs.models.domain import ResourceType
from watchdogs.models.glue_events import CrawlerStateChangeEvent
from watchdogs.models.states_events import ExecutionStatusChangeEvent
from watchdogs.timers import TimerEvent, apply

if TYPE_CHECKING:
    from watchdogs.runtime import Runtime

#: query states that start the clock (the sweep measures from submission: QUEUED counts)
QUERY_STARTS = frozenset({"QUEUED", "RUNNING"})


def timer_event(parsed: Any) -> TimerEvent | None:
    """The timer change an event means, or None (a state that neither starts nor ends a run)."""
    if isinstance(parsed, CrawlerStateChangeEvent):
        name = parsed.detail.crawler_name
        started = parsed.time if parsed.detail.state == "Started" else None
        return TimerEvent(ResourceType.CRAWLER, name, name, started)
    if isinstance(parsed, QueryStateChangeEvent):
        detail = parsed.detail
        started = parsed.time if detail.current_state in QUERY_STARTS else None
        return TimerEvent(ResourceType.QUERY, detail.query_execution_id, detail.workgroup_name, started)
    if isinstance(parsed, ExecutionStatusChangeEvent):
        run = parsed.detail
        if run.status == "PENDING_REDRIVE":
            return None
        began = parsed.time if run.redrive_count else run.started_at  # a redriven run begins again now
        started = began if run.status == "RUNNING" else None
        return TimerEvent(ResourceType.EXECUTION, run.execution_arn, run.state_machine_arn, started)
    return None


def on_event(parsed: Any, rt: Runtime) -> str | None:
    """Start or stop the event's resource timer; the outcome (see :func:`watchdogs.timers.apply`), never raises."""
    event = timer_event(parsed)
    if event is None:
        return None
    return apply(rt.settings, rt.clients, event)
