"""The query runbook's rules, pure: "Athena Query Timeout" and "dbt Model Failures" for the queries dbt runs.

A failed query is classified by :mod:`.failures` (the runbook's failure classes) and notified accordingly:
:func:`decide_failed`, :func:`decide_cancelled`, :func:`decide_succeeded`. The parts every query decision shares
live here too; cancelling a stuck query is :mod:`.cancel`. Facts in (:class:`~.facts.QueryFacts`),
:class:`~watchdogs.models.domain.Decision` out; no I/O.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdogs.models.domain import Condition, Decision, Finding, Outcome, ResourceType
from watchdogs.runbooks.query.failures import (
    FAILURE_CLASSES,
    NEEDS_WORKGROUP_LIMITS,
    FailureClass,
    classify_facts,
)
from watchdogs.shared.humanize import human_bytes

if TYPE_CHECKING:
    from collections.abc import Collection
    from datetime import datetime

    from watchdogs.incidents import Incident, ResourceState
    from watchdogs.runbooks.query.facts import QueryFacts


# ------------------------------------------------------------------------------------------------ parts
def describe(query_id: str, facts: QueryFacts) -> str:
    parts = [f"Athena query {query_id}"]
    if facts.workgroup:
        parts.append(f"in workgroup {facts.workgroup}")
    kind = "/".join(k for k in (facts.statement_type, facts.substatement_type) if k)
    if kind:
        parts.append(f"({kind})")
    return " ".join(parts)


def stats(facts: QueryFacts) -> str:
    return f"ran {facts.ran_for or 'unknown'}, scanned {facts.data_scanned or 'unknown'}"


def ignore(summary: str) -> Decision:
    return Decision(outcome=Outcome.IGNORE, summary=summary)


def scope_refusal(query_id: str, facts: QueryFacts, claimed: str, workgroups: Collection[str]) -> Decision | None:
    """Only a workgroup read from Athena (not the one an event or a finding claims) may lead to an action."""
    if facts.scope_mismatch:
        return ignore(f"query {query_id}: {facts.scope_mismatch}.")
    workgroup = facts.workgroup or claimed
    if workgroup not in workgroups:  # the re-read may disagree with what the finding claimed
        return ignore(f"query {query_id} runs in {workgroup}: out of scope.")
    return None


# ------------------------------------------------------------------------------------------------ failed
def _failure_decision(query_id: str, facts: QueryFacts, failure: FailureClass, *, cancelled: bool) -> Decision:
    what = describe(query_id, facts)
    detail = facts.error_message or facts.state_change_reason
    summary = f"{what} {'was cancelled: it ' if cancelled else ''}{failure.headline} ({stats(facts)})"
    if detail:
        summary += f". Athena: {detail}"
    advice = list(failure.advice)
    cutoff = facts.workgroup_bytes_scanned_cutoff
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
    facts: QueryFacts,
    incident: Incident | None,
    state: ResourceState,
    now: datetime,
) -> Decision:
    """Runbook "Athena Query Timeout" diagnosis (``get-query-execution``) and triage of a FAILED query.

    A repeat of the same failure (a duplicate delivery or Athena's FAILED -> QUEUED -> FAILED re-queue) lands on
    the one active FAILED incident and re-decides the same outcome: the engine records nothing new. A stuck
    incident still open for the query is closed (the query is no longer running) by a delegated finding.
    """
    what = describe(query_id, facts)
    if facts.found is False:
        return ignore(f"{what} not found in Athena.")
    if facts.state == "SUCCEEDED":
        return ignore(f"{what} failed, was retried by Athena and succeeded.")
    failure = classify_facts(facts)
    if failure is None and incident is not None:
        failure = FAILURE_CLASSES.get(incident.classification)
    if failure is None and facts.active:
        failure = FAILURE_CLASSES["transient-system-error"]  # Athena already re-queued it
    decision = _failure_decision(query_id, facts, failure or FAILURE_CLASSES["unclassified-failure"], cancelled=False)
    stuck = state.incidents.get(Condition.STUCK)
    if stuck is not None and stuck.is_active and not facts.active:
        decision.delegate.append(_stuck_ended(query_id, facts, now))
    return decision


def _stuck_ended(query_id: str, facts: QueryFacts, now: datetime) -> Finding:
    """The query failed: its open STUCK incident is over (closed by this delegated finding)."""
    return Finding(
        resource_type=ResourceType.QUERY,
        resource_id=query_id,
        condition=Condition.STUCK,
        source="delegated",
        observed_at=now,
        scope_key=facts.workgroup or "",
        facts={"ended_state": "FAILED"},
    )


def decide_cancelled(query_id: str, facts: QueryFacts, state: ResourceState) -> Decision:
    """A CANCELLED query. The echo of the watchdog's own cancel confirms and closes the stuck incident; a cancel
    by anyone else closes an open stuck incident too (the query no longer runs). Otherwise nothing is recorded,
    unless Athena cancelled it for the workgroup's bytes-scanned cutoff (runbook "Athena Query Timeout")."""
    what = describe(query_id, facts)
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
    return ignore(f"{what} CANCELLED by its client or an operator: not ours.")


def decide_succeeded(query_id: str, facts: QueryFacts, state: ResourceState) -> Decision:
    """A SUCCEEDED query resolves whatever is open for it (a re-queued failure, a slow query that finished)."""
    what = describe(query_id, facts)
    if not state.active():
        return ignore(f"{what} SUCCEEDED: nothing open for it.")
    return Decision(outcome=Outcome.RESOLVE, summary=f"{what} SUCCEEDED.", classification="recovered")
