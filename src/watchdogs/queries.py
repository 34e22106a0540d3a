"""Athena query watchdog: cancel stuck queries, triage failed ones.

Automates two runbook sections for the queries dbt runs in the lakehouse workgroups:

* "Pipeline Stuck in RUNNING State", resolution 2 *If stuck on Athena query*: "List running queries
  (``aws athena list-query-executions``) / Cancel stuck query (``aws athena stop-query-execution``)". The sweep
  lists and finds the stuck query (or the Step Functions watchdog delegates it); this module re-reads it and
  cancels it once.
* "Athena Query Timeout": "Check query execution details (``aws athena get-query-execution``) / View workgroup
  limits (``aws athena get-work-group``)", then the optimisation advice. Failed queries are classified from
  ``AthenaError`` (category 1 system, 2 user, 3 other; type; message; retryable) and notified accordingly.

The decision functions here are pure (facts in, :class:`~watchdogs.models.domain.Decision` out) and tested
without AWS; :class:`QueryRemediator` is the thin shell that reads Athena. The full query text never leaves
this module: facts hold a short preview with string literals masked (``query_preview``), which the notifier
never sends to subscribers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import (
    Condition,
    Decision,
    Finding,
    IncidentStatus,
    Outcome,
    PlannedAction,
    ResourceType,
    Severity,
)
from watchdogs.observability import count, logger
from watchdogs.settings import Mode
from watchdogs.shared import foreign_origin, is_opted_out, tags_from_pairs, workgroup_arn

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Incident, ResourceState
    from watchdogs.models.events import QueryStateChangeEvent
    from watchdogs.settings import Settings

RUNBOOK_STUCK = "Pipeline Stuck in RUNNING State: 2. If stuck on Athena query"
RUNBOOK_TIMEOUT = "Athena Query Timeout"
RUNBOOK_MODEL = "dbt Model Failures"
RUNBOOK_PERMISSION = "dbt Model Failures: 3. Permission errors"

ACTIVE_STATES = frozenset({"QUEUED", "RUNNING"})
#: after our StopQueryExecution, how long a query may still report QUEUED/RUNNING before a human is called
CANCEL_CONFIRM_SECONDS = 300
#: the pending step of a cancelled stuck query until Athena reports CANCELLED
CONFIRM_CANCEL = "confirm-cancel"
PREVIEW_CHARS = 80
ERROR_MESSAGE_CHARS = 500

ERROR_CATEGORIES = {1: "SYSTEM", 2: "USER", 3: "OTHER"}
#: Athena error catalog: types 206 and 210 are "Query timed out"; 0-8 "Query exhausted resources at this scale"
TIMEOUT_ERROR_TYPES = frozenset({206, 210})
EXHAUSTED_ERROR_TYPES = frozenset(range(9))
#: Athena error catalog: 234 is "Lake Formation error" (a missing grant)
PERMISSION_ERROR_TYPES = frozenset({234})

#: "... cannot be resolved or requester is not authorized to access requested resources" is Athena's message for a
#: missing column (a user SQL error): "not authorized" alone is not a permission error
_PERMISSION = re.compile(
    r"access ?denied|permission denied|insufficient (lake formation )?permissions?|is not authorized to perform|"
    r"forbidden",
    re.IGNORECASE,
)
_CUTOFF = re.compile(r"bytes scanned limit|BytesScannedCutoff|data scanned limit", re.IGNORECASE)
_TIMEOUT = re.compile(r"\btime ?out\b|\btimed out\b|exceeded the maximum (query )?(execution|run) ?time", re.IGNORECASE)
_EXHAUSTED = re.compile(r"exhausted resources|resources exhausted", re.IGNORECASE)
_NO_SUCH_RESOURCE = re.compile(r"does not exist|not found", re.IGNORECASE)
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_WHITESPACE = re.compile(r"\s+")

OPTIMISATION_ADVICE = [
    "Add partition filters to reduce data scanned (runbook: Athena Query Timeout, 1).",
    "Use LIMIT for exploratory queries (runbook: Athena Query Timeout, 1).",
    "Select only the required columns (runbook: Athena Query Timeout, 1).",
    "Check the data size of the tables read: aws s3 ls s3://<data-lake>/<layer>/<table>/ --recursive --summarize "
    "(runbook: Athena Query Timeout, 2).",
    "Check the workgroup limits (aws athena get-work-group): BytesScannedCutoffPerQuery, and the DML query timeout "
    "quota; raise them only once the query is optimised (runbook: Athena Query Timeout, 3).",
]


class QueryReadError(RuntimeError):
    """Athena could not be read (throttling, permissions, outage): the invocation fails and is retried."""


# ================================================================================================ pure helpers
def mask_query(query: str | None, limit: int = PREVIEW_CHARS) -> str:
    """A short preview of SQL for the incident record: string literals masked, whitespace collapsed, truncated."""
    if not query:
        return ""
    text = _WHITESPACE.sub(" ", _STRING_LITERAL.sub("'?'", query)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def human_bytes(size: int | None) -> str:
    if size is None:
        return "unknown"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover - the loop always returns


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _epoch(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def execution_facts(execution: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Facts of one ``QueryExecution`` (GetQueryExecution / BatchGetQueryExecution): never the query text."""
    status = execution.get("Status", {})
    stats = execution.get("Statistics", {})
    error = status.get("AthenaError") or {}
    context = execution.get("QueryExecutionContext") or {}
    submitted = _epoch(status.get("SubmissionDateTime"))
    completed = _epoch(status.get("CompletionDateTime"))
    state = status.get("State")
    elapsed = None
    if submitted is not None:
        end = completed if completed is not None and state not in ACTIVE_STATES else now
        elapsed = round(max((end - submitted).total_seconds(), 0.0), 3)
    category = error.get("ErrorCategory")
    facts: dict[str, Any] = {
        "query_execution_id": execution.get("QueryExecutionId"),
        "workgroup": execution.get("WorkGroup"),
        "state": state,
        "statement_type": execution.get("StatementType"),
        "substatement_type": execution.get("SubstatementType"),
        "database": context.get("Database"),
        "submitted_at": submitted.isoformat() if submitted else None,
        "completed_at": completed.isoformat() if completed and state not in ACTIVE_STATES else None,
        "elapsed_seconds": elapsed,
        "ran_for": human_duration(elapsed),
        "data_scanned_bytes": stats.get("DataScannedInBytes"),
        "data_scanned": human_bytes(stats.get("DataScannedInBytes")),
        "engine_execution_ms": stats.get("EngineExecutionTimeInMillis"),
        "queue_ms": stats.get("QueryQueueTimeInMillis"),
        "state_change_reason": (status.get("StateChangeReason") or "")[:ERROR_MESSAGE_CHARS] or None,
        "error_category": category,
        "error_category_name": ERROR_CATEGORIES.get(category) if category is not None else None,
        "error_type": error.get("ErrorType"),
        "error_message": (error.get("ErrorMessage") or "")[:ERROR_MESSAGE_CHARS] or None,
        "retryable": error.get("Retryable"),
        "query_preview": mask_query(execution.get("Query")) or None,
    }
    return {k: v for k, v in facts.items() if v is not None}


def event_facts(event: QueryStateChangeEvent) -> dict[str, Any]:
    """Facts carried by the event itself (the ``athenaError`` of a FAILED event, the statement type)."""
    detail = event.detail
    facts: dict[str, Any] = {
        "event_account": event.account,
        "event_region": event.region,
        "workgroup": detail.workgroup_name,
        "statement_type": detail.statement_type,
        "sequence_number": detail.sequence_number,
        "event_state": detail.current_state,
        "previous_state": detail.previous_state,
    }
    error = detail.athena_error
    if error is not None:
        facts.update(
            {
                "error_category": error.error_category,
                "error_category_name": ERROR_CATEGORIES.get(error.error_category)
                if error.error_category is not None
                else None,
                "error_type": error.error_type,
                "error_message": (error.error_message or "")[:ERROR_MESSAGE_CHARS] or None,
                "retryable": error.retryable,
            }
        )
    return {k: v for k, v in facts.items() if v is not None}


# ================================================================================================ classification
@dataclass(frozen=True)
class FailureClass:
    """How one kind of query failure is handled: outcome, severity, runbook section and advice."""

    name: str
    outcome: Outcome
    severity: Severity
    runbook: str
    headline: str
    advice: tuple[str, ...] = ()


FAILURE_CLASSES: dict[str, FailureClass] = {
    c.name: c
    for c in (
        FailureClass(
            "permission-denied",
            Outcome.ESCALATE,
            Severity.HIGH,
            RUNBOOK_PERMISSION,
            "failed on a permission error: a grant is missing, nothing to retry",
            (
                "Verify the Athena workgroup has write access to the S3 curated prefix and its query-results "
                "location (runbook: dbt Model Failures, 3).",
                "Check the IAM role attached to Athena / the dbt executor Lambda, and Lake Formation grants on the "
                "tables read (runbook: dbt Model Failures, 3).",
            ),
        ),
        FailureClass(
            "bytes-scanned-cutoff",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_TIMEOUT,
            "hit the workgroup's bytes-scanned cutoff (BytesScannedCutoffPerQuery)",
            tuple(OPTIMISATION_ADVICE),
        ),
        FailureClass(
            "query-timeout",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_TIMEOUT,
            "timed out",
            tuple(OPTIMISATION_ADVICE),
        ),
        FailureClass(
            "resources-exhausted",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_TIMEOUT,
            "exhausted resources at this scale factor",
            tuple(OPTIMISATION_ADVICE),
        ),
        FailureClass(
            "transient-system-error",
            Outcome.NOTIFY,
            Severity.INFO,
            RUNBOOK_MODEL,
            "failed on a transient Athena error marked retryable: recorded only, Athena and dbt retry it",
            ("Nothing to do unless it keeps failing: the retry's outcome is recorded on this incident.",),
        ),
        FailureClass(
            "user-sql-error",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_MODEL,
            "failed on an error in the query itself (SQL, schema or data): the model's owner must fix it",
            (
                "Run the model with debug output and read its compiled SQL: dbt run --select <model> --debug; "
                "target/compiled/... (runbook: dbt Model Failures, diagnosis).",
                "Schema mismatch: compare the source columns with the model and update it "
                "(runbook: dbt Model Failures, 1).",
                "Dependency failure: run the upstream models first, dbt run --select +<model> "
                "(runbook: dbt Model Failures, 4).",
            ),
        ),
        FailureClass(
            "system-error",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_MODEL,
            "failed on an Athena system error that Athena does not mark retryable",
            ("Re-run the model; if the error persists, open a case with AWS Support quoting the query id.",),
        ),
        FailureClass(
            "unclassified-failure",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_MODEL,
            "failed; Athena gave no error category",
            ("Check the query execution details: aws athena get-query-execution --query-execution-id <id>.",),
        ),
    )
}

#: the classes whose runbook diagnosis reads the workgroup limits (``aws athena get-work-group``)
NEEDS_WORKGROUP_LIMITS = frozenset({"bytes-scanned-cutoff", "query-timeout", "resources-exhausted"})


def classify_failure(
    category: int | None,
    error_type: int | None,
    message: str | None,
    retryable: bool | None,
    reason: str | None = None,
) -> FailureClass:
    """Classify an Athena failure. Order matters: permission first (retrying cannot help), then the runbook's
    "Athena Query Timeout" family (cutoff, timeout, exhausted resources), then Athena's own retryable flag, then
    the category (2 = user: the query's owner fixes it; 1 = system)."""
    text = " ".join(t for t in (message, reason) if t)
    if (error_type in PERMISSION_ERROR_TYPES) or _PERMISSION.search(text):
        return FAILURE_CLASSES["permission-denied"]
    if _CUTOFF.search(text):
        return FAILURE_CLASSES["bytes-scanned-cutoff"]
    if error_type in TIMEOUT_ERROR_TYPES or _TIMEOUT.search(text):
        return FAILURE_CLASSES["query-timeout"]
    if (category == 1 and error_type in EXHAUSTED_ERROR_TYPES) or _EXHAUSTED.search(text):
        return FAILURE_CLASSES["resources-exhausted"]
    if retryable:
        return FAILURE_CLASSES["transient-system-error"]
    if category == 2:
        return FAILURE_CLASSES["user-sql-error"]
    if category in (1, 3):
        return FAILURE_CLASSES["system-error"]
    return FAILURE_CLASSES["unclassified-failure"]


def classify_facts(facts: dict[str, Any]) -> FailureClass | None:
    """Classification from facts; ``None`` when they hold no error information at all."""
    keys = ("error_category", "error_type", "error_message", "retryable", "state_change_reason")
    if not any(facts.get(k) is not None for k in keys):
        return None
    return classify_failure(
        facts.get("error_category"),
        facts.get("error_type"),
        facts.get("error_message"),
        facts.get("retryable"),
        facts.get("state_change_reason"),
    )


# ================================================================================================ decisions
def _describe(query_id: str, facts: dict[str, Any]) -> str:
    parts = [f"Athena query {query_id}"]
    if facts.get("workgroup"):
        parts.append(f"in workgroup {facts['workgroup']}")
    kind = "/".join(str(facts[k]) for k in ("statement_type", "substatement_type") if facts.get(k))
    if kind:
        parts.append(f"({kind})")
    return " ".join(parts)


def _stats(facts: dict[str, Any]) -> str:
    return f"ran {facts.get('ran_for', 'unknown')}, scanned {facts.get('data_scanned', 'unknown')}"


def decide_stuck(
    query_id: str,
    facts: dict[str, Any],
    incident: Incident | None,
    *,
    threshold_seconds: int,
    observing: bool,
    now: datetime,
) -> Decision:
    """Runbook "Pipeline Stuck in RUNNING State", 2: cancel the stuck query (``stop-query-execution``), once.

    ``facts`` come from a GetQueryExecution made just now. Cancel only a query still QUEUED/RUNNING past the
    workgroup's threshold; a query that ended meanwhile closes the stuck incident (if any); a cancel already
    made is confirmed by Athena's CANCELLED (event or re-read), and escalated if the query is still running
    :data:`CANCEL_CONFIRM_SECONDS` later.
    """
    what = _describe(query_id, facts)
    state = facts.get("state")
    active = incident is not None and incident.is_active
    if facts.get("found") is False:
        if active:
            return Decision(
                outcome=Outcome.RESOLVE,
                summary=f"{what} no longer exists in Athena.",
                classification="stuck-query",
                resolves=[Condition.STUCK],
            )
        return Decision(outcome=Outcome.IGNORE, summary=f"{what} not found in Athena.")
    if state not in ACTIVE_STATES:
        if not active:
            return Decision(outcome=Outcome.IGNORE, summary=f"{what} already ended {state}: nothing to cancel.")
        ours = incident is not None and incident.has_action("stop_query")
        how = "cancel confirmed" if ours and state == "CANCELLED" else f"ended {state} on its own"
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"{what}: {how} ({_stats(facts)}).",
            classification="stuck-query",
            resolves=[Condition.STUCK],
        )
    elapsed = float(facts.get("elapsed_seconds") or 0)
    if elapsed < threshold_seconds:
        return Decision(
            outcome=Outcome.IGNORE,
            summary=f"{what} {state} for {human_duration(elapsed)}, under its {human_duration(threshold_seconds)} "
            "threshold: not stuck.",
        )
    headline = (
        f"{what} has been {state} for {facts.get('ran_for')} (threshold {human_duration(threshold_seconds)}), "
        f"scanned {facts.get('data_scanned', 'unknown')}"
    )
    common: dict[str, Any] = {
        "classification": "stuck-query",
        "runbook_section": RUNBOOK_STUCK,
        "facts": {"threshold_seconds": threshold_seconds},
        "advice": [
            "Find the dbt model that issued it (database, statement type, preview on the incident record) and why "
            "it runs long: partition filters, LIMIT, fewer columns (runbook: Athena Query Timeout, 1).",
            "The pipeline step waiting on it fails once it is cancelled: the Step Functions watchdog handles that.",
        ],
    }
    if incident is not None and incident.has_action("stop_query"):
        cancelled_at = incident.last_action_at("stop_query")
        since = (now - cancelled_at).total_seconds() if cancelled_at else float("inf")
        if since < CANCEL_CONFIRM_SECONDS:
            return Decision(
                outcome=Outcome.WAIT,
                summary=f"{headline}; StopQueryExecution sent {human_duration(since)} ago, awaiting CANCELLED.",
                severity=Severity.WARNING,
                next_step=CONFIRM_CANCEL,
                **common,
            )
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=f"{headline}; still {state} {human_duration(since)} after StopQueryExecution: "
            "a human must look (the watchdog cancels a query once).",
            severity=Severity.HIGH,
            **common,
        )
    return Decision(
        outcome=Outcome.ACT,
        summary=f"{headline}: {'would cancel' if observing else 'cancelling'} it with StopQueryExecution.",
        severity=Severity.WARNING,
        actions=[PlannedAction(name="stop_query", params={"query_execution_id": query_id}, target=f"query {query_id}")],
        next_step=None if observing else CONFIRM_CANCEL,
        status_after=IncidentStatus.REMEDIATING,
        **common,
    )


def _failure_decision(query_id: str, facts: dict[str, Any], failure: FailureClass, *, cancelled: bool) -> Decision:
    what = _describe(query_id, facts)
    detail = facts.get("error_message") or facts.get("state_change_reason")
    summary = f"{what} {'was cancelled: it ' if cancelled else ''}{failure.headline} ({_stats(facts)})"
    if detail:
        summary += f". Athena: {detail}"
    advice = list(failure.advice)
    cutoff = facts.get("workgroup_bytes_scanned_cutoff")
    if failure.name in NEEDS_WORKGROUP_LIMITS and cutoff:
        advice.append(f"Workgroup BytesScannedCutoffPerQuery is {human_bytes(int(cutoff))}.")
    return Decision(
        outcome=failure.outcome,
        summary=summary + ".",
        classification=failure.name,
        severity=failure.severity,
        runbook_section=failure.runbook,
        advice=advice,
    )


def decide_failed(
    query_id: str,
    facts: dict[str, Any],
    incident: Incident | None,
    state: ResourceState,
    now: datetime,
) -> Decision:
    """Runbook "Athena Query Timeout" diagnosis (``get-query-execution``) and triage of a FAILED query.

    A repeat of the same failure (a duplicate delivery or Athena's FAILED -> QUEUED -> FAILED re-queue) lands on
    the one active FAILED incident and re-decides the same outcome: the engine records nothing new. A stuck
    incident still open for the query is closed (the query is no longer running) by a delegated finding.
    """
    what = _describe(query_id, facts)
    if facts.get("found") is False:
        return Decision(outcome=Outcome.IGNORE, summary=f"{what} not found in Athena.")
    current = facts.get("state")
    if current == "SUCCEEDED":
        return Decision(outcome=Outcome.IGNORE, summary=f"{what} failed, was retried by Athena and succeeded.")
    failure = classify_facts(facts)
    if failure is None and incident is not None:
        failure = FAILURE_CLASSES.get(incident.classification)
    if failure is None and current in ACTIVE_STATES:
        failure = FAILURE_CLASSES["transient-system-error"]  # Athena already re-queued it
    decision = _failure_decision(query_id, facts, failure or FAILURE_CLASSES["unclassified-failure"], cancelled=False)
    stuck = state.incidents.get(Condition.STUCK)
    if stuck is not None and stuck.is_active and current not in ACTIVE_STATES:
        decision.delegate.append(
            Finding(
                resource_type=ResourceType.QUERY,
                resource_id=query_id,
                condition=Condition.STUCK,
                source="delegated",
                observed_at=now,
                scope_key=str(facts.get("workgroup") or ""),
                facts={"ended_state": "FAILED"},
            )
        )
    return decision


def decide_cancelled(query_id: str, facts: dict[str, Any], state: ResourceState) -> Decision:
    """A CANCELLED query. The echo of the watchdog's own cancel confirms and closes the stuck incident; a cancel
    by anyone else closes an open stuck incident too (the query no longer runs). Otherwise nothing is recorded,
    unless Athena cancelled it for the workgroup's bytes-scanned cutoff (runbook "Athena Query Timeout")."""
    what = _describe(query_id, facts)
    stuck = state.incidents.get(Condition.STUCK)
    if stuck is not None and stuck.is_active:
        ours = stuck.has_action("stop_query")
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"{what} CANCELLED: "
            + ("the watchdog's StopQueryExecution is confirmed." if ours else "cancelled outside the watchdog."),
            classification="stuck-query",
            resolves=[Condition.STUCK],
        )
    failure = classify_facts(facts)
    if failure is not None and failure.name == "bytes-scanned-cutoff":
        return _failure_decision(query_id, facts, failure, cancelled=True)
    return Decision(outcome=Outcome.IGNORE, summary=f"{what} CANCELLED by its client or an operator: not ours.")


def decide_succeeded(query_id: str, facts: dict[str, Any], state: ResourceState) -> Decision:
    """A SUCCEEDED query resolves whatever is open for it (a re-queued failure, a slow query that finished)."""
    what = _describe(query_id, facts)
    if not state.active():
        return Decision(outcome=Outcome.IGNORE, summary=f"{what} SUCCEEDED: nothing open for it.")
    return Decision(outcome=Outcome.RESOLVE, summary=f"{what} SUCCEEDED.", classification="recovered")


# ================================================================================================ event -> findings
def findings_from_event(event: QueryStateChangeEvent) -> list[Finding]:
    """One finding per acted-on state change. QUEUED/RUNNING are not findings: stuck queries emit no event, the
    sweep finds them (the EventBridge rule does not even deliver those states)."""
    detail = event.detail
    condition = {
        "FAILED": Condition.FAILED,
        "CANCELLED": Condition.CANCELLED,
        "SUCCEEDED": Condition.RECOVERED,
    }.get(detail.current_state)
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
            facts=event_facts(event),
        )
    ]


def dedup_key(event: QueryStateChangeEvent) -> str:
    """Athena may deliver one transition twice (same ``sequenceNumber``); a re-queued query's next FAILED has a
    new one, and lands on the existing incident instead."""
    detail = event.detail
    return f"athena#{detail.query_execution_id}#{detail.current_state}#{detail.sequence_number}"


# ================================================================================================ the shell
class QueryRemediator:
    """Reads Athena for query findings and asks the pure runbook functions above what to do.

    Scope is judged twice: cheaply on the workgroup the finding claims (no call for an event about another
    workgroup), then on the workgroup ``GetQueryExecution`` reports, which alone may lead to an action. Before
    cancelling, the workgroup's tags are read and the opt-out tag honoured.
    """

    resource_type = ResourceType.QUERY
    read_permissions: tuple[str, ...] = (
        "athena:GetQueryExecution",
        "athena:GetWorkGroup",
        "athena:ListTagsForResource",
    )
    action_names: tuple[str, ...] = ("stop_query",)

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    def in_scope(self, finding: Finding) -> bool:
        """The claimed workgroup must be listed in ``SCOPE_WORKGROUPS`` (findings carry it as ``scope_key``) and an
        event must come from this account and region; the read workgroup is checked again before acting."""
        workgroup = finding.scope_key or str(finding.facts.get("workgroup") or "")
        if workgroup not in self.settings.workgroups:
            return False
        foreign = foreign_origin(finding.facts, self.settings.account_id, self.settings.region)
        if foreign is not None:
            logger.warning("query finding from elsewhere: ignored", query=finding.resource_id, reason=foreign)
            return False
        return True

    # ------------------------------------------------------------------------------------------------ reads
    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """Only the reads the decision needs: none for SUCCEEDED, for the echo of our cancel or for a repeat of
        a failure already recorded; one GetQueryExecution otherwise (and GetWorkGroup for a timeout); the
        workgroup's tags only when about to cancel."""
        facts = self._read(finding, state)
        if facts.get("workgroup_verified") and facts.get("state") in ACTIVE_STATES:
            from watchdogs.incidents import now_utc  # noqa: PLC0415

            preview = self.decide(finding, facts, state.incidents.get(finding.condition), state, now_utc())
            if preview.actions:  # about to cancel: honour the workgroup's opt-out tag
                tags = self.workgroup_tags(str(facts["workgroup"]), finding)
                if tags is None:
                    return {**facts, "tags_unavailable": True}
                if is_opted_out(tags, self.settings.opt_out_tag):
                    return {**facts, "opted_out": True}
        return facts

    def _read(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """The finding's facts, then GetQueryExecution's (whose workgroup replaces the one the finding claims)."""
        facts = dict(finding.facts)
        condition = finding.condition
        if condition is Condition.RECOVERED:
            return facts
        if condition is Condition.CANCELLED:
            stuck = state.incidents.get(Condition.STUCK)
            if stuck is not None and stuck.is_active:
                return facts
        if condition is Condition.FAILED:
            failed = state.incidents.get(Condition.FAILED)
            if failed is not None and failed.is_active:  # a repeat: what the event says is enough
                return {**failed.facts, **facts}
        if condition is Condition.STUCK and finding.facts.get("ended_state"):
            return {**facts, "state": finding.facts["ended_state"]}
        claimed = finding.scope_key or facts.get("workgroup")
        read = self.read_query(finding.resource_id)
        facts.pop("workgroup", None)  # from here on, only what Athena says counts
        facts.update(read)
        if read.get("workgroup"):
            facts["workgroup_verified"] = True
            if claimed and read["workgroup"] != claimed:
                reason = f"the finding names workgroup {claimed}, GetQueryExecution says {read['workgroup']}"
                logger.warning(
                    "query finding names another workgroup: ignored", query=finding.resource_id, reason=reason
                )
                count("ScopeMismatch", resource_type=self.resource_type.value)
                facts["scope_mismatch"] = reason
        failure = classify_facts(facts) if condition in (Condition.FAILED, Condition.CANCELLED) else None
        if failure is not None and failure.name in NEEDS_WORKGROUP_LIMITS and facts.get("workgroup"):
            facts.update(self.read_workgroup_limits(str(facts["workgroup"])))
        return facts

    def read_query(self, query_id: str) -> dict[str, Any]:
        """``aws athena get-query-execution --query-execution-id <id>`` as facts (``found: False`` if unknown)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            response = self.clients.athena.get_query_execution(QueryExecutionId=query_id)
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if exc.response.get("Error", {}).get("Code") == "InvalidRequestException" and "not found" in message:
                return {"found": False}
            raise QueryReadError(f"GetQueryExecution {query_id}: {exc}") from exc
        return execution_facts(dict(response["QueryExecution"]), datetime.now(UTC))

    def read_workgroup_limits(self, workgroup: str) -> dict[str, Any]:
        """``aws athena get-work-group`` (runbook "Athena Query Timeout": view workgroup limits)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            config = (
                self.clients.athena.get_work_group(WorkGroup=workgroup).get("WorkGroup", {}).get("Configuration", {})
            )
        except ClientError as exc:
            logger.warning("cannot read workgroup limits", workgroup=workgroup, error=str(exc))
            return {}
        limits = {
            "workgroup_bytes_scanned_cutoff": config.get("BytesScannedCutoffPerQuery"),
            "workgroup_enforce_configuration": config.get("EnforceWorkGroupConfiguration"),
        }
        return {k: v for k, v in limits.items() if v is not None}

    def workgroup_tags(self, workgroup: str, finding: Finding) -> dict[str, str] | None:
        """``aws athena list-tags-for-resource`` on the workgroup (``None``: no account id to build its ARN).

        A workgroup Athena does not know has no tags (the emulator answers an untagged one the same way); any
        other failure is raised: the query is never cancelled without knowing whether its workgroup opted out."""
        account = self.settings.account_id or str(finding.facts.get("event_account") or "")
        if not account:
            logger.warning("cannot read workgroup tags: no account id", workgroup=workgroup)
            return None
        from botocore.exceptions import ClientError  # noqa: PLC0415

        arn = workgroup_arn(self.settings.region, account, workgroup)
        tags: dict[str, str] = {}
        kwargs: dict[str, Any] = {"ResourceARN": arn}
        try:
            while True:
                page = self.clients.athena.list_tags_for_resource(**kwargs)
                tags.update(tags_from_pairs(page.get("Tags", []), key="Key", value="Value"))
                if not page.get("NextToken"):
                    return tags
                kwargs["NextToken"] = page["NextToken"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if code == "ResourceNotFoundException" or (
                code == "InvalidRequestException" and _NO_SUCH_RESOURCE.search(message)
            ):
                return {}
            raise QueryReadError(f"ListTagsForResource {arn}: {exc}") from exc

    # ------------------------------------------------------------------------------------------------ decide
    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        """Pure: dispatch to the runbook function of the finding's condition. Only a workgroup read from Athena
        (not the one an event or a finding claims) can lead to a cancel."""
        query_id = finding.resource_id
        if facts.get("scope_mismatch"):
            return Decision(outcome=Outcome.IGNORE, summary=f"query {query_id}: {facts['scope_mismatch']}.")
        workgroup = facts.get("workgroup") or finding.scope_key
        if workgroup not in self.settings.workgroups:  # the re-read may disagree with what the finding claimed
            return Decision(outcome=Outcome.IGNORE, summary=f"query {query_id} runs in {workgroup}: out of scope.")
        if finding.condition is Condition.STUCK:
            decision = decide_stuck(
                query_id,
                facts,
                incident,
                threshold_seconds=self.settings.query_threshold(str(workgroup)),
                observing=self.settings.mode is Mode.OBSERVE,
                now=now,
            )
            if decision.actions and not facts.get("workgroup_verified"):
                return Decision(
                    outcome=Outcome.IGNORE,
                    summary=f"query {query_id}: Athena did not confirm its workgroup; not cancelled.",
                )
            if decision.actions and facts.get("tags_unavailable"):
                return Decision(
                    outcome=Outcome.NOTIFY,
                    summary=f"{decision.summary} Not cancelled: the workgroup's tags (opt-out) could not be read, "
                    "ACCOUNT_ID is not set.",
                    classification=decision.classification,
                    severity=Severity.HIGH,
                    runbook_section=decision.runbook_section,
                    advice=["Set ACCOUNT_ID for the watchdog so it can read workgroup tags before acting."],
                )
            return decision
        if finding.condition is Condition.FAILED:
            return decide_failed(query_id, facts, incident, state, now)
        if finding.condition is Condition.CANCELLED:
            return decide_cancelled(query_id, facts, state)
        if finding.condition is Condition.RECOVERED:
            return decide_succeeded(query_id, facts, state)
        return Decision(outcome=Outcome.IGNORE, summary=f"query {query_id}: {finding.condition.value} not handled.")
