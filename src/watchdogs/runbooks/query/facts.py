"""What the query runbook decides on, typed: built from ``GetQueryExecution`` and the query's state-change events.

The engine carries facts as plain ``dict[str, Any]``: :meth:`QueryFacts.as_dict` crosses that boundary one way,
:meth:`QueryFacts.from_dict` the other. Facts the rules do not read (a repeat's earlier facts, the engine's own) are
kept as they came, so the incident record holds exactly what was known. The full query text never becomes a fact:
only a short preview with string literals masked (``query_preview``), which the notifier never sends.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from watchdogs.models.domain import Condition, Finding, ResourceType
from watchdogs.observability import logger
from watchdogs.shared.humanize import human_bytes, human_duration

if TYPE_CHECKING:
    from watchdogs.models.events import QueryStateChangeEvent

ACTIVE_STATES = frozenset({"QUEUED", "RUNNING"})
PREVIEW_CHARS = 80
ERROR_MESSAGE_CHARS = 500
ERROR_CATEGORIES = {1: "SYSTEM", 2: "USER", 3: "OTHER"}

_EVENT_CONDITIONS = {"FAILED": Condition.FAILED, "CANCELLED": Condition.CANCELLED, "SUCCEEDED": Condition.RECOVERED}
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_WHITESPACE = re.compile(r"\s+")


class QueryFacts(BaseModel):
    """One query as known now. ``None`` = not read (or not reported); the rules say what that means."""

    model_config = ConfigDict(frozen=True, extra="allow", defer_build=True)

    # GetQueryExecution / BatchGetQueryExecution
    query_execution_id: str | None = None
    workgroup: str | None = None
    state: str | None = None
    statement_type: str | None = None
    substatement_type: str | None = None
    database: str | None = None
    submitted_at: str | None = None
    completed_at: str | None = None
    elapsed_seconds: float | None = None
    ran_for: str | None = None
    data_scanned_bytes: int | None = None
    data_scanned: str | None = None
    engine_execution_ms: int | None = None
    queue_ms: int | None = None
    state_change_reason: str | None = None
    error_category: int | None = None
    error_category_name: str | None = None
    error_type: int | None = None
    error_message: str | None = None
    retryable: bool | None = None
    query_preview: str | None = None
    # the event
    event_account: str | None = None
    event_region: str | None = None
    sequence_number: int | None = None
    event_state: str | None = None
    previous_state: str | None = None
    ended_state: str | None = None  # a delegated STUCK finding: the query ended so
    # the shell's reads and checks
    found: bool | None = None
    workgroup_verified: bool | None = None
    scope_mismatch: str | None = None
    workgroup_bytes_scanned_cutoff: int | None = None
    workgroup_enforce_configuration: bool | None = None
    tags_unavailable: bool | None = None
    opted_out: bool | None = None

    @classmethod
    def from_dict(cls, facts: dict[str, Any]) -> QueryFacts:
        return cls.model_validate(facts)

    def as_dict(self) -> dict[str, Any]:
        """The facts for the engine and the incident record (absent facts left out)."""
        return self.model_dump(exclude_none=True)

    @property
    def active(self) -> bool:
        """Still QUEUED or RUNNING."""
        return self.state in ACTIVE_STATES

    @classmethod
    def from_execution(cls, execution: dict[str, Any], now: datetime) -> QueryFacts:
        """Facts of one ``QueryExecution`` (GetQueryExecution / BatchGetQueryExecution): never the query text."""
        status = execution.get("Status", {})
        stats = execution.get("Statistics", {})
        error = status.get("AthenaError") or {}
        state = status.get("State")
        submitted = _epoch(status.get("SubmissionDateTime"))
        completed = _epoch(status.get("CompletionDateTime")) if state not in ACTIVE_STATES else None
        elapsed = None
        if submitted is not None:
            elapsed = round(max(((completed or now) - submitted).total_seconds(), 0.0), 3)
        return cls(
            query_execution_id=execution.get("QueryExecutionId"),
            workgroup=execution.get("WorkGroup"),
            state=state,
            statement_type=execution.get("StatementType"),
            substatement_type=execution.get("SubstatementType"),
            database=(execution.get("QueryExecutionContext") or {}).get("Database"),
            submitted_at=submitted.isoformat() if submitted else None,
            completed_at=completed.isoformat() if completed else None,
            elapsed_seconds=elapsed,
            ran_for=human_duration(elapsed),
            data_scanned_bytes=stats.get("DataScannedInBytes"),
            data_scanned=human_bytes(stats.get("DataScannedInBytes")),
            engine_execution_ms=stats.get("EngineExecutionTimeInMillis"),
            queue_ms=stats.get("QueryQueueTimeInMillis"),
            state_change_reason=_capped(status.get("StateChangeReason")),
            **_error_facts(
                error.get("ErrorCategory"), error.get("ErrorType"), error.get("ErrorMessage"), error.get("Retryable")
            ),
            query_preview=mask_query(execution.get("Query")) or None,
        )

    @classmethod
    def from_event(cls, event: QueryStateChangeEvent) -> QueryFacts:
        """Facts carried by the event itself (the ``athenaError`` of a FAILED event, the statement type)."""
        detail = event.detail
        error = detail.athena_error
        errors = {}
        if error is not None:
            errors = _error_facts(error.error_category, error.error_type, error.error_message, error.retryable)
        return cls(
            event_account=event.account,
            event_region=event.region,
            workgroup=detail.workgroup_name,
            statement_type=detail.statement_type,
            sequence_number=detail.sequence_number,
            event_state=detail.current_state,
            previous_state=detail.previous_state,
            **errors,
        )


def _error_facts(
    category: int | None, error_type: int | None, message: str | None, retryable: bool | None
) -> dict[str, Any]:
    """An ``AthenaError`` (from the API or an event) as facts."""
    return {
        "error_category": category,
        "error_category_name": ERROR_CATEGORIES.get(category) if category is not None else None,
        "error_type": error_type,
        "error_message": _capped(message),
        "retryable": retryable,
    }


def _capped(text: str | None) -> str | None:
    return (text or "")[:ERROR_MESSAGE_CHARS] or None


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def execution_facts(execution: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One ``QueryExecution`` as engine facts."""
    return QueryFacts.from_execution(execution, now).as_dict()


def mask_query(query: str | None, limit: int = PREVIEW_CHARS) -> str:
    """A short preview of SQL for the incident record: string literals masked, whitespace collapsed, truncated."""
    if not query:
        return ""
    text = _WHITESPACE.sub(" ", _STRING_LITERAL.sub("'?'", query)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def findings_from_event(event: QueryStateChangeEvent) -> list[Finding]:
    """One finding per acted-on state change. QUEUED/RUNNING are not findings: stuck queries emit no event, the
    sweep finds them (the EventBridge rule does not even deliver those states)."""
    detail = event.detail
    condition = _EVENT_CONDITIONS.get(detail.current_state)
    if condition is None:
        logger.info("query state not acted on", query=detail.query_execution_id, state=detail.current_state)
        return []
    return [
        Finding(
            resource_type=ResourceType.QUERY,
            resource_id=detail.query_execution_id,
            condition=condition,
            source="event",
            event_id=event.id,
            observed_at=event.time,
            scope_key=detail.workgroup_name,
            facts=QueryFacts.from_event(event).as_dict(),
        )
    ]


def dedup_key(event: QueryStateChangeEvent) -> str:
    """Athena may deliver one transition twice (same ``sequenceNumber``); a re-queued query's next FAILED has a
    new one, and lands on the existing incident instead."""
    detail = event.detail
    return f"athena#{detail.query_execution_id}#{detail.current_state}#{detail.sequence_number}"
