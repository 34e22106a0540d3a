"""Runbook "Pipeline Stuck in RUNNING State", resolution 2 *If stuck on Athena query*, pure.

"List running queries (``aws athena list-query-executions``) / Cancel stuck query (``aws athena
stop-query-execution``)": the sweep lists and finds the stuck query (or the Step Functions watchdog delegates it);
:func:`decide_stuck` cancels it once, then waits for Athena's CANCELLED (step ``confirm-cancel``, :mod:`.steps`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, Decision, IncidentStatus, Outcome, PlannedAction, Severity
from watchdogs.runbooks.query.rules import describe, ignore, stats
from watchdogs.runbooks.query.steps import Step
from watchdogs.shared.humanize import human_duration

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import Incident
    from watchdogs.runbooks.query.facts import QueryFacts

RUNBOOK_STUCK = "Pipeline Stuck in RUNNING State: 2. If stuck on Athena query"
#: after our StopQueryExecution, how long a query may still report QUEUED/RUNNING before a human is called
CANCEL_CONFIRM_SECONDS = 300


def _cancel_sent(incident: Incident | None) -> bool:
    return incident is not None and incident.has_action("stop_query")


def cancel_due(facts: QueryFacts, incident: Incident | None, threshold_seconds: int) -> bool:
    """STUCK: still QUEUED/RUNNING past its threshold and never cancelled, so the runbook cancels it (the shell
    reads the workgroup's opt-out tag first). Exactly when :func:`decide_stuck` plans ``stop_query``."""
    elapsed = float(facts.elapsed_seconds or 0)
    return facts.found is not False and facts.active and elapsed >= threshold_seconds and not _cancel_sent(incident)


def decide_stuck(
    query_id: str,
    facts: QueryFacts,
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
    what = describe(query_id, facts)
    if facts.found is False or not facts.active:
        return _no_longer_running(what, facts, incident)
    elapsed = float(facts.elapsed_seconds or 0)
    if elapsed < threshold_seconds:
        return ignore(
            f"{what} {facts.state} for {human_duration(elapsed)}, under its {human_duration(threshold_seconds)} "
            "threshold: not stuck."
        )
    headline = (
        f"{what} has been {facts.state} for {facts.ran_for} (threshold {human_duration(threshold_seconds)}), "
        f"scanned {facts.data_scanned or 'unknown'}"
    )
    common = _stuck_common(threshold_seconds)
    if incident is not None and _cancel_sent(incident):
        return _await_cancel(headline, facts, incident, now, common)
    return Decision(
        outcome=Outcome.ACT,
        summary=f"{headline}: {'would cancel' if observing else 'cancelling'} it with StopQueryExecution.",
        severity=Severity.WARNING,
        actions=[PlannedAction(name="stop_query", params={"query_execution_id": query_id}, target=f"query {query_id}")],
        next_step=None if observing else Step.CONFIRM_CANCEL,
        status_after=IncidentStatus.REMEDIATING,
        **common,
    )


def _no_longer_running(what: str, facts: QueryFacts, incident: Incident | None) -> Decision:
    """The query is gone or ended: nothing to cancel; an open stuck incident is over."""
    open_incident = incident is not None and incident.is_active
    if facts.found is False:
        if not open_incident:
            return ignore(f"{what} not found in Athena.")
        summary = f"{what} no longer exists in Athena."
    else:
        if not open_incident:
            return ignore(f"{what} already ended {facts.state}: nothing to cancel.")
        confirmed = _cancel_sent(incident) and facts.state == "CANCELLED"
        how = "cancel confirmed" if confirmed else f"ended {facts.state} on its own"
        summary = f"{what}: {how} ({stats(facts)})."
    return Decision(outcome=Outcome.RESOLVE, summary=summary, classification="stuck-query", resolves=[Condition.STUCK])


def _stuck_common(threshold_seconds: int) -> dict[str, Any]:
    return {
        "classification": "stuck-query",
        "runbook_section": RUNBOOK_STUCK,
        "facts": {"threshold_seconds": threshold_seconds},
        "advice": [
            "Find the dbt model that issued it (database, statement type, preview on the incident record) and why "
            "it runs long: partition filters, LIMIT, fewer columns (runbook: Athena Query Timeout, 1).",
            "The pipeline step waiting on it fails once it is cancelled: the Step Functions watchdog handles that.",
        ],
    }


def _await_cancel(
    headline: str, facts: QueryFacts, incident: Incident, now: datetime, common: dict[str, Any]
) -> Decision:
    """Step ``confirm-cancel``: our StopQueryExecution was sent; wait for CANCELLED, then call a human."""
    cancelled_at = incident.last_action_at("stop_query")
    since = (now - cancelled_at).total_seconds() if cancelled_at else float("inf")
    if since < CANCEL_CONFIRM_SECONDS:
        return Decision(
            outcome=Outcome.WAIT,
            summary=f"{headline}; StopQueryExecution sent {human_duration(since)} ago, awaiting CANCELLED.",
            severity=Severity.WARNING,
            next_step=Step.CONFIRM_CANCEL,
            **common,
        )
    return Decision(
        outcome=Outcome.ESCALATE,
        summary=f"{headline}; still {facts.state} {human_duration(since)} after StopQueryExecution: "
        "a human must look (the watchdog cancels a query once).",
        severity=Severity.HIGH,
        **common,
    )


def guard_cancel(query_id: str, facts: QueryFacts, decision: Decision) -> Decision:
    """A cancel needs the workgroup confirmed by Athena and its tags (opt-out) read; otherwise it is not made."""
    if not decision.actions:
        return decision
    if not facts.workgroup_verified:
        return ignore(f"query {query_id}: Athena did not confirm its workgroup; not cancelled.")
    if facts.tags_unavailable:
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
