"""The Step Functions status-change event, as findings: the edge of the execution runbook."""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdogs.incidents import iso
from watchdogs.models.domain import Condition, Finding, ResourceType

if TYPE_CHECKING:
    from watchdogs.models.events import ExecutionStatusChangeEvent

_CONDITION_BY_STATUS = {
    "SUCCEEDED": Condition.RECOVERED,
    "FAILED": Condition.FAILED,
    "TIMED_OUT": Condition.FAILED,
    "ABORTED": Condition.FAILED,
}


def findings_from_event(event: ExecutionStatusChangeEvent) -> list[Finding]:
    """One finding per status change the watchdog acts on (RUNNING / PENDING_REDRIVE: none)."""
    detail = event.detail
    condition = _CONDITION_BY_STATUS.get(detail.status)
    if condition is None:
        return []
    stopped = detail.stopped_at
    return [
        Finding(
            resource_type=ResourceType.EXECUTION,
            resource_id=detail.execution_arn,
            condition=condition,
            source="event",
            event_id=event.id,
            observed_at=event.time,
            scope_key=detail.state_machine_arn,
            facts={
                "status": detail.status,
                "execution_name": detail.name,
                "state_machine_arn": detail.state_machine_arn,
                "redrive_count": detail.redrive_count,
                "stop_date": iso(stopped) if stopped else None,
            },
        )
    ]


def dedup_key(event: ExecutionStatusChangeEvent) -> str:
    """A status change is the same whatever event id delivers it; a redriven run's next end is a new one."""
    detail = event.detail
    return f"{detail.execution_arn}#{detail.status}#{detail.redrive_count}"
