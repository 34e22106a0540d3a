"""Pure triage of a run that ended: FAILED, TIMED_OUT or ABORTED (runbook "Check Pipeline Status", "Investigate
Failed Tests", "dbt Model Failures > Permission errors", "DynamoDB Metadata Query Issues").

Transient -> RedriveExecution (standard workflows, 14-day window, budget); data quality (the dbt tests step) ->
notify the data owners, never retry; permission -> escalate; unknown -> notify. Every outcome but a redrive
reconciles the pipeline-metadata row; the echo of the watchdog's own stop is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, Decision, IncidentStatus, Outcome, PlannedAction, Severity
from watchdogs.runbooks.execution.facts import ExecutionFacts
from watchdogs.runbooks.execution.heal import recorded_target
from watchdogs.runbooks.execution.rules import (
    RUNBOOK_PERMISSIONS,
    RUNBOOK_STATUS,
    RUNBOOK_TESTS,
    FailureClass,
    classify_failure,
    decide_recovered,
    ignore,
    name_of,
    reconcile,
    redrive_refusal,
)
from watchdogs.runbooks.execution.steps import Step

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import Incident, ResourceState
    from watchdogs.models.domain import Finding
    from watchdogs.settings import Settings


def _healed_target(state: ResourceState | None) -> str | None:
    """The target of the heal the run's (still active) STUCK incident made, if any."""
    stuck = state.incidents.get(Condition.STUCK) if state is not None else None
    if stuck is None or not stuck.is_active:
        return None
    return recorded_target(stuck)


def _redrives(facts: ExecutionFacts, incident: Incident | None) -> int:
    recorded = [
        e for e in (incident.timeline if incident else []) if e.kind == "action" and e.step == "redrive_execution"
    ]
    return max(facts.redrive_count, len(recorded))


def decide_failed(
    finding: Finding,
    facts: dict[str, Any],
    incident: Incident | None,
    state: ResourceState | None,
    settings: Settings,
    now: datetime,
) -> Decision:
    """Triage of a FAILED / TIMED_OUT / ABORTED run (the event has no error: DescribeExecution + history).

    Transient -> RedriveExecution (standard workflows, 14-day window, budget); data quality (the dbt tests step) ->
    notify the data owners, never retry; permission -> escalate; unknown -> notify. Every outcome but a redrive
    reconciles the pipeline-metadata row ("DynamoDB Metadata Query Issues"); the echo of our own stop is ignored.
    """
    read = ExecutionFacts.from_dict(facts)
    name = name_of(finding.resource_id)
    status = read.status or str(finding.facts.get("status") or "")
    if not read.exists:
        return ignore(f"Execution {name} no longer exists.", "gone")
    if status == "SUCCEEDED":
        return decide_recovered(finding)
    if status in {"RUNNING", "PENDING_REDRIVE"}:
        return ignore(f"Execution {name} is {status} again (redriven): nothing to triage.", "running")
    view = read.view
    error = read.error or (view.error if view else None)
    cause = read.cause or (view.cause if view else None)
    failure = classify_failure(status, error, cause, read.wait, _healed_target(state))
    if failure is FailureClass.OWN_STOP:
        return ignore(f"Execution {name} ABORTED by the watchdog's own stop (echo).", "own-stop")
    failed_state = (view.failed_state if view else None) or "an unknown state"
    triage = _Triage(
        arn=finding.resource_id,
        facts=read,
        failure=failure,
        status=status,
        error=error,
        what=f"Pipeline execution {name} {status} in {failed_state}: {error or 'no error'}",
        reconcile=reconcile(finding.resource_id, read, status, f"{error or status}: {(cause or '')[:400]}", now),
    )
    if failure in {FailureClass.TRANSIENT, FailureClass.FAILED_AFTER_HEAL}:
        return _redrive(triage, _redrives(read, incident), settings, now)
    return _recorded(triage)


@dataclass(frozen=True)
class _Triage:
    """What every failed-run decision is built from."""

    arn: str
    facts: ExecutionFacts
    failure: FailureClass
    status: str
    error: str | None
    what: str  # "Pipeline execution <name> FAILED in <state>: <error>"
    reconcile: list[PlannedAction]

    def decision(self, outcome: Outcome, summary: str, severity: Severity, section: str, **more: Any) -> Decision:
        facts = {"failure_class": self.failure.value, **more.pop("facts", {})}
        return Decision(
            outcome=outcome,
            summary=summary,
            classification=self.failure.value,
            severity=severity,
            runbook_section=section,
            actions=more.pop("actions", self.reconcile),
            consumes_budget=more.pop("consumes_budget", False),
            facts=facts,
            **more,
        )


def _redrive(triage: _Triage, redrives: int, settings: Settings, now: datetime) -> Decision:
    """Transient (or failed where the watchdog healed the cause): redrive from the failed state, within budget."""
    refusal = redrive_refusal(triage.arn, triage.facts, now)
    if refusal is None and redrives < settings.budget_max_actions:
        token = f"watchdogs-{name_of(triage.arn)}-{redrives + 1}"
        action = PlannedAction(
            name="redrive_execution",
            target=name_of(triage.arn),
            params={"execution_arn": triage.arn, "client_token": token},
        )
        return triage.decision(
            Outcome.ACT,
            f"{triage.what}. Transient: redriving it from the failed state (redrive {redrives + 1}).",
            Severity.WARNING,
            RUNBOOK_STATUS,
            actions=[action],
            consumes_budget=True,
            next_step=Step.AWAIT_REDRIVE,
            status_after=IncidentStatus.REMEDIATING,
            facts={"redrives": redrives + 1},
        )
    why = refusal or f"redrive budget used ({redrives}/{settings.budget_max_actions})"
    return triage.decision(
        Outcome.ESCALATE if refusal is None else Outcome.NOTIFY,
        f"{triage.what}. Transient, but not redriven: {why}.",
        Severity.HIGH,
        RUNBOOK_STATUS,
        advice=["Start a new run (runbook: Manually Trigger a Pipeline Run) once the service recovers."],
        facts={"not_redriven": why},
    )


def _recorded(triage: _Triage) -> Decision:
    """Failures a redrive cannot fix: recorded, told to the right people, the metadata row finalised."""
    if triage.failure is FailureClass.PERMISSION:
        return triage.decision(
            Outcome.ESCALATE,
            f"{triage.what}. A permission error: a human must fix the role or policy; not retried.",
            Severity.HIGH,
            RUNBOOK_PERMISSIONS,
            advice=[
                "Verify the Athena workgroup has write access to the S3 curated prefix.",
                "Check the IAM role of the state machine and of the dbt Lambdas.",
            ],
        )
    if triage.failure is FailureClass.DATA_QUALITY:
        return triage.decision(
            Outcome.NOTIFY,
            f"{triage.what}. Data-quality tests failed: data owners must look; the run is not retried.",
            Severity.WARNING,
            RUNBOOK_TESTS,
            advice=[
                "Query Elementary's test results for the failed tests of this run.",
                "Fix the data (or the test), then start a new run.",
            ],
            facts={"audience": "data-owners"},
        )
    if triage.failure is FailureClass.ABORTED:
        return triage.decision(
            Outcome.NOTIFY,
            f"Pipeline execution {name_of(triage.arn)} was ABORTED by someone else "
            f"({triage.error or 'no error given'}).",
            Severity.INFO,
            RUNBOOK_STATUS,
        )
    return triage.decision(
        Outcome.NOTIFY,
        f"{triage.what}. Not a known transient, permission or data-quality failure: recorded, not retried.",
        Severity.WARNING,
        RUNBOOK_STATUS,
        advice=[f"aws stepfunctions describe-execution --execution-arn {triage.arn}"],
    )
