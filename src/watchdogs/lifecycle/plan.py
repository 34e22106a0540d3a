"""The pure lifecycle core: ``plan(decision, incident, budget, policy, now) -> Transition``.

No I/O, no clock, no AWS: everything the watchdogs promise over time is decided here and unit-tested without any
emulator. The engine (the shell) only carries the transition out.

* **Resolve means recovered.** Only a ``RESOLVE`` decision (the runbook's word that the resource recovered) closes
  an incident as resolved; ``CLOSE`` ends it without recovery (expired, superseded, ended by someone else).
* **Holds are honoured.** An escalated incident (until acknowledged or its hold expires) and a quarantined
  resource get no mutating action; the decision is dropped quietly (no write, no message) unless it is a new
  escalation reason.
* **Budget.** Mutating actions per resource over a rolling window; the action that would exceed it quarantines the
  resource and escalates instead.
* **Observe is quiet.** In observe mode nothing mutating is planned; each distinct would-act decision is recorded
  and notified once.
* **One message per transition.** A decision identical to the incident's last one (same outcome, classification,
  step and actions) with nothing to do changes nothing and sends nothing.
* **One actor.** An incident leased by another invocation is busy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING

from watchdogs.incidents.record import Budget, Incident, iso, parse_iso
from watchdogs.models.domain import Decision, IncidentStatus, Outcome, PlannedAction, Severity

if TYPE_CHECKING:
    from collections.abc import Sequence


class Verdict(StrEnum):
    NOOP = "noop"  # nothing to write, nothing to send
    BUSY = "busy"  # another invocation holds the incident's lease
    WRITE = "write"  # create or update the active incident (and act, if there are actions)
    CLOSE = "close"  # move the incident to history (resolved or closed)


@dataclass(frozen=True)
class Policy:
    """The settings the core needs (a small, explicit slice of :class:`~watchdogs.settings.Settings`)."""

    observe: bool
    budget_max: int
    budget_window_seconds: int
    quarantine_seconds: int
    hold_seconds: int
    lease_seconds: int
    actor: str


@dataclass(frozen=True)
class Transition:
    verdict: Verdict
    reason: str
    outcome: Outcome = Outcome.IGNORE  # as applied, after the guards
    status: IncidentStatus | None = None
    severity: Severity = Severity.INFO
    summary: str = ""
    actions: tuple[PlannedAction, ...] = ()  # mutating calls to make now (remediate mode only)
    would_act: tuple[PlannedAction, ...] = ()  # observe mode: recorded, never made
    notify: str | None = None  # the notification event to enqueue with the write
    budget: Budget | None = None  # the budget to write in the same transaction
    pending_step: str | None = None
    decision_key: str = ""
    hold_until: str | None = None
    lease_until: str | None = None
    held: bool = False


_STATUS_BY_OUTCOME = {
    Outcome.ESCALATE: IncidentStatus.ESCALATED,
    Outcome.NOTIFY: IncidentStatus.OPEN,
    Outcome.WAIT: IncidentStatus.REMEDIATING,
}


def decision_key(
    decision: Decision, status: IncidentStatus | None = None, would_act: Sequence[PlannedAction] = ()
) -> str:
    """Identity of a transition for "is this news?": the status it leads to, the classification, the step, and
    in observe mode what would have been done. Actions themselves are not news twice: a WAIT after the ACT that
    started the same step changes nothing a person needs to hear."""
    observed = ",".join(f"{a.name}>{a.target}" for a in would_act)
    state = status.value if status is not None else decision.outcome.value
    raw = f"{state}|{decision.classification}|{decision.next_step or ''}|{observed}"
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def _lease_busy(incident: Incident | None, policy: Policy, now: datetime) -> bool:
    if incident is None or not incident.lease_until or incident.lease_owner == policy.actor:
        return False
    return parse_iso(incident.lease_until) > now


def _escalation(decision: Decision, reason: str, key_reason: str) -> Decision:
    """The decision downgraded to an escalation: no actions, a human must look."""
    severity = Severity.CRITICAL if decision.severity is Severity.CRITICAL else Severity.HIGH
    return decision.model_copy(
        update={
            "outcome": Outcome.ESCALATE,
            "actions": [],
            "next_step": None,
            "severity": severity,
            "summary": f"{decision.summary} Not acted on: {reason}.",
            "classification": decision.classification,
            "facts": {**decision.facts, "escalation_reason": key_reason},
        }
    )


def _spend(decision: Decision, budget: Budget, policy: Policy, now: datetime) -> tuple[Decision, Budget | None]:
    """Consume budget for the decision's actions, or quarantine and escalate when it would be exceeded."""
    if not decision.actions or not decision.consumes_budget:
        return decision, None
    window = policy.budget_window_seconds
    horizon = now.timestamp() - window
    kept = [t for t in budget.action_times if t > horizon]
    if len(kept) + len(decision.actions) > policy.budget_max:
        reason = f"action budget exhausted ({len(kept)}/{policy.budget_max} in {window}s)"
        quarantine = Budget(
            action_times=kept,
            quarantined_until=(now + timedelta(seconds=policy.quarantine_seconds)).timestamp(),
            quarantine_reason=reason,
            version=budget.version,
        )
        return _escalation(decision, reason + "; resource quarantined", "budget"), quarantine
    spent = Budget(
        action_times=kept + [now.timestamp()] * len(decision.actions),
        quarantined_until=budget.quarantined_until,
        quarantine_reason=budget.quarantine_reason,
        version=budget.version,
    )
    return decision, spent


def _close(decision: Decision, incident: Incident | None) -> Transition:
    if incident is None:
        return Transition(Verdict.NOOP, "nothing open", outcome=decision.outcome, summary=decision.summary)
    resolved = decision.outcome is Outcome.RESOLVE
    return Transition(
        Verdict.CLOSE,
        "recovered" if resolved else "ended without recovery",
        outcome=decision.outcome,
        status=IncidentStatus.RESOLVED if resolved else IncidentStatus.CLOSED,
        severity=Severity.INFO,
        summary=decision.summary,
        notify="resolved" if resolved else "closed",
        decision_key=decision_key(decision),
    )


def _held(decision: Decision, incident: Incident, key: str) -> Transition | None:
    """An escalated incident keeps its hands off: drop mutating decisions quietly; let a *new* escalation reason
    through (it is news for the human who holds the incident)."""
    if decision.outcome is Outcome.ESCALATE and key != incident.decision_key:
        return None
    return Transition(
        Verdict.NOOP,
        f"held: escalated, awaiting acknowledgement (until {incident.hold_until or 'acknowledged'})",
        outcome=Outcome.ESCALATE,
        status=incident.status,
        held=True,
        decision_key=incident.decision_key or "",
    )


def plan(
    decision: Decision,
    incident: Incident | None,
    budget: Budget,
    policy: Policy,
    now: datetime,
) -> Transition:
    """The transition the engine must carry out for ``decision`` on ``incident`` (None: none active), now."""
    if decision.outcome is Outcome.IGNORE:
        return Transition(Verdict.NOOP, "ignored", summary=decision.summary)
    if _lease_busy(incident, policy, now):
        return Transition(Verdict.BUSY, f"leased by {incident.lease_owner if incident else '-'}")
    if decision.outcome in {Outcome.RESOLVE, Outcome.CLOSE}:
        return _close(decision, incident)
    if incident is not None and incident.is_held(now):
        held = _held(decision, incident, decision_key(decision, IncidentStatus.ESCALATED))
        if held is not None:
            return held
    if decision.actions and budget.is_quarantined(now):
        decision = _escalation(decision, f"resource quarantined: {budget.quarantine_reason}", "quarantine")
    would_act: tuple[PlannedAction, ...] = ()
    new_budget: Budget | None = None
    if decision.actions and policy.observe:
        would_act = tuple(decision.actions)
    else:
        decision, new_budget = _spend(decision, budget, policy, now)
    return _write(decision, incident, would_act, new_budget, policy, now)


def _write(
    decision: Decision,
    incident: Incident | None,
    would_act: Sequence[PlannedAction],
    new_budget: Budget | None,
    policy: Policy,
    now: datetime,
) -> Transition:
    actions = () if would_act else tuple(decision.actions)
    if would_act:
        status = IncidentStatus.OBSERVED
    elif decision.outcome is Outcome.ACT:
        status = decision.status_after
    else:
        status = _STATUS_BY_OUTCOME.get(decision.outcome, decision.status_after)
    pending = None if status is IncidentStatus.ESCALATED or would_act else decision.next_step
    key = decision_key(decision, status, would_act)
    same = incident is not None and incident.decision_key == key and incident.status is status
    if same and not actions:
        return Transition(Verdict.NOOP, "no change", outcome=decision.outcome, status=status, decision_key=key)
    event = "observed" if would_act else decision.outcome.value
    hold = iso(now + timedelta(seconds=policy.hold_seconds)) if status is IncidentStatus.ESCALATED else None
    if same and incident is not None:  # same decision, but actions to repeat: keep the hold, don't re-notify
        hold = incident.hold_until
    return Transition(
        Verdict.WRITE,
        "decided",
        outcome=decision.outcome,
        status=status,
        severity=decision.severity,
        summary=decision.summary,
        actions=actions,
        would_act=tuple(would_act),
        notify=None if same and not actions else event,  # an action made is always news
        budget=new_budget,
        pending_step=pending,
        decision_key=key,
        hold_until=hold,
        lease_until=iso(now + timedelta(seconds=policy.lease_seconds)) if actions else None,
    )
