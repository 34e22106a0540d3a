"""The engine: finding -> runbook decision -> guard -> act -> incident record -> notification.

Handlers and the sweep build :class:`~watchdogs.models.domain.Finding` objects and call :meth:`Engine.handle`.
Per resource type a :class:`Remediator` reads the facts (boto3) and asks its pure runbook for a decision; the
engine applies the guarantees every watchdog shares:

* scope: nothing outside the configured prefixes/workgroups, nothing tagged with the opt-out tag;
* one actor: the incident write is conditional on its version (and a lease), so of two concurrent invocations
  exactly one acts;
* budget: mutating actions per resource over a rolling window; when exhausted the resource is escalated and
  quarantined (no automatic action until the quarantine expires or an operator acknowledges);
* mode: in ``observe`` the actions are recorded and notified as what the watchdog *would* do;
* nothing lost: the incident is saved before notifying; a failed publish is recorded on the incident.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from watchdogs.actions import ACTIONS, ActionError, ActionResult
from watchdogs.incidents import (
    Budget,
    ConcurrentUpdate,
    Incident,
    IncidentStore,
    ResourceState,
    TimelineEntry,
    iso,
    now_utc,
    parse_iso,
)
from watchdogs.models.domain import Decision, Finding, IncidentStatus, Outcome, ResourceType, Severity
from watchdogs.notifier import Notifier, NotifyError
from watchdogs.observability import count, logger
from watchdogs.settings import Mode, Settings

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients

MAX_DELEGATION_DEPTH = 2


class Remediator(Protocol):
    """One resource type's watchdog: scope, facts (AWS reads) and the pure runbook decision."""

    resource_type: ResourceType
    #: IAM actions ``inspect`` needs (the meta-test checks template.yaml grants them)
    read_permissions: tuple[str, ...]
    #: names of :data:`watchdogs.actions.ACTIONS` its decisions may plan; the engine refuses any other
    action_names: tuple[str, ...]

    def in_scope(self, finding: Finding) -> bool:
        """Cheap scope check on names/ARNs, before any AWS call."""
        ...

    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """Re-read the resource (state, tags, ...). ``facts["opted_out"]`` true means: never touch."""
        ...

    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        """Pure: the runbook's decision for this finding, now."""
        ...


@dataclass
class HandleResult:
    """What one finding led to (returned by handlers as their small summary)."""

    outcome: str
    resource: str
    condition: str
    incident_id: str | None = None
    status: str | None = None
    actions: list[str] = field(default_factory=list)
    notified: bool = False
    detail: str = ""
    delegated: list[HandleResult] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "resource": self.resource,
            "condition": self.condition,
            "incident_id": self.incident_id,
            "status": self.status,
            "actions": self.actions,
            "notified": self.notified,
            "detail": self.detail,
            "delegated": [d.as_dict() for d in self.delegated],
        }


_STATUS_BY_OUTCOME = {
    Outcome.ESCALATE: IncidentStatus.ESCALATED,
    Outcome.NOTIFY: IncidentStatus.OPEN,
    Outcome.WAIT: IncidentStatus.REMEDIATING,
}


class Engine:
    """Applies decisions. Takes its adapters; builds nothing at import time."""

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        remediators: dict[ResourceType, Remediator],
        *,
        store: IncidentStore | None = None,
        notifier: Notifier | None = None,
        actor: str | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.remediators = remediators
        self.store = store or IncidentStore(
            settings.incident_table,
            clients.dynamodb,
            ttl_days=settings.incident_ttl_days,
            environment=settings.environment,
        )
        self.notifier = notifier or Notifier(settings.alert_topic_arn, clients.sns)
        self.actor = actor or f"{os.environ.get('AWS_LAMBDA_FUNCTION_NAME', 'local')}/{uuid.uuid4().hex[:8]}"

    # ------------------------------------------------------------------------------------------------ entry
    def handle(self, finding: Finding, *, depth: int = 0) -> HandleResult:
        remediator = self.remediators.get(finding.resource_type)
        base = HandleResult(outcome="", resource=finding.resource_key, condition=finding.condition.value)
        if remediator is None:
            base.outcome, base.detail = "unsupported", f"no remediator for {finding.resource_type}"
            return base
        if not remediator.in_scope(finding):
            logger.info("out of scope: ignored", resource=finding.resource_key, scope_key=finding.scope_key)
            count("OutOfScope", resource_type=finding.resource_type.value)
            base.outcome = "out-of-scope"
            return base

        state = self.store.load(finding.resource_type, finding.resource_id)
        facts = remediator.inspect(finding, state)
        if facts.get("opted_out"):
            logger.info("opted out by tag: ignored", resource=finding.resource_key, tag=self.settings.opt_out_tag)
            count("OptedOut", resource_type=finding.resource_type.value)
            base.outcome = "opted-out"
            return base
        now = now_utc()
        incident = state.incidents.get(finding.condition)
        decision = remediator.decide(finding, facts, incident, state, now)
        logger.info(
            "decision",
            resource=finding.resource_key,
            condition=finding.condition.value,
            source=finding.source,
            outcome=decision.outcome.value,
            classification=decision.classification,
            actions=[a.name for a in decision.actions],
            next_step=decision.next_step,
        )
        undeclared = [
            a.name for a in decision.actions if a.name not in remediator.action_names or a.name not in ACTIONS
        ]
        if undeclared:
            # a runbook planned an action its remediator does not declare (and template.yaml may not grant):
            # never run it; escalate so a person sees the bug
            logger.error("undeclared action refused", resource=finding.resource_key, actions=undeclared)
            count("UndeclaredAction")
            decision = self._escalated(decision, f"undeclared action(s) {', '.join(undeclared)} refused")
        if decision.outcome is Outcome.IGNORE:
            count("Ignored", resource_type=finding.resource_type.value)
            base.outcome, base.detail = "ignored", decision.summary
            return base
        if decision.outcome is Outcome.RESOLVE:
            result = self._resolve(finding, state, decision, now)
        else:
            result = self._apply(finding, facts, incident, state, decision, now, depth)
        if depth < MAX_DELEGATION_DEPTH and decision.outcome is Outcome.RESOLVE:
            for delegated in decision.delegate:
                result.delegated.append(self.handle(delegated, depth=depth + 1))
        return result

    # ------------------------------------------------------------------------------------------------ resolve
    def _resolve(self, finding: Finding, state: ResourceState, decision: Decision, now: datetime) -> HandleResult:
        result = HandleResult(outcome="resolved", resource=finding.resource_key, condition=finding.condition.value)
        active = [i for i in state.active() if not decision.resolves or i.condition in decision.resolves]
        if not active:
            result.outcome, result.detail = "nothing-open", decision.summary
            count("NothingToResolve", resource_type=finding.resource_type.value)
            return result
        for incident in active:
            detected = parse_iso(incident.detected_at)
            resolved = incident.model_copy(
                update={
                    "status": IncidentStatus.RESOLVED,
                    "resolved_at": iso(now),
                    "time_to_recover_seconds": round((now - detected).total_seconds(), 3),
                    "timeline": [
                        *incident.timeline,
                        TimelineEntry(at=iso(now), kind="resolved", detail=decision.summary, actor=finding.source),
                    ],
                }
            )
            try:
                closed = self.store.close(resolved)
            except ConcurrentUpdate:
                logger.info(
                    "resolve lost a race: another invocation changed the incident", incident=incident.incident_id
                )
                count("LostRace", resource_type=finding.resource_type.value)
                continue
            result.incident_id, result.status = closed.incident_id, closed.status.value
            result.notified = self._notify(closed, "resolved", record=False)
            count("Resolved", resource_type=finding.resource_type.value)
        return result

    # ------------------------------------------------------------------------------------------------ act
    def _guard(self, decision: Decision, budget: Budget, now: datetime) -> tuple[Decision, Budget | None]:
        """Quarantine and budget. Returns the (possibly downgraded) decision and the budget to write, if any."""
        if not decision.actions:
            return decision, None
        if budget.is_quarantined(now):
            until = datetime.fromtimestamp(budget.quarantined_until or 0, tz=now.tzinfo)
            return self._escalated(
                decision, f"resource quarantined until {iso(until)}: {budget.quarantine_reason}"
            ), None
        if not decision.consumes_budget:
            return decision, None
        window = self.settings.budget_window_seconds
        used = budget.used(now, window)
        horizon = now.timestamp() - window
        kept = [t for t in budget.action_times if t > horizon]
        if used + len(decision.actions) > self.settings.budget_max_actions:
            reason = f"action budget exhausted ({used}/{self.settings.budget_max_actions} in {window}s)"
            quarantine = Budget(
                action_times=kept,
                quarantined_until=(now + timedelta(seconds=self.settings.quarantine_seconds)).timestamp(),
                quarantine_reason=reason,
                version=budget.version + 1,
            )
            count("BudgetExhausted")
            return self._escalated(decision, reason + "; resource quarantined"), quarantine
        return decision, Budget(
            action_times=kept + [now.timestamp()] * len(decision.actions),
            quarantined_until=budget.quarantined_until,
            quarantine_reason=budget.quarantine_reason,
            version=budget.version + 1,
        )

    @staticmethod
    def _escalated(decision: Decision, reason: str) -> Decision:
        return decision.model_copy(
            update={
                "outcome": Outcome.ESCALATE,
                "actions": [],
                "next_step": None,
                "severity": Severity.HIGH if decision.severity != Severity.CRITICAL else Severity.CRITICAL,
                "summary": f"{decision.summary} Not acted on: {reason}.",
                "status_after": IncidentStatus.ESCALATED,
                "classification": decision.classification,
            }
        )

    def _apply(
        self,
        finding: Finding,
        facts: dict[str, Any],
        incident: Incident | None,
        state: ResourceState,
        decision: Decision,
        now: datetime,
        depth: int,
    ) -> HandleResult:
        result = HandleResult(
            outcome=decision.outcome.value, resource=finding.resource_key, condition=finding.condition.value
        )
        decision, new_budget = self._guard(decision, state.budget, now)
        result.outcome = decision.outcome.value
        observe = self.settings.mode is Mode.OBSERVE
        if observe and decision.actions:
            new_budget = None  # observing consumes no budget
        target_status = (
            IncidentStatus.OBSERVED
            if observe and decision.actions
            else _STATUS_BY_OUTCOME.get(decision.outcome, decision.status_after)
        )
        if decision.outcome is Outcome.ACT:
            target_status = IncidentStatus.OBSERVED if observe else decision.status_after

        if incident is not None:
            lease_until = parse_iso(incident.lease_until) if incident.lease_until else None
            if lease_until and lease_until > now and incident.lease_owner != self.actor:
                count("Busy", resource_type=finding.resource_type.value)
                result.outcome, result.incident_id = "busy", incident.incident_id
                result.detail = f"another invocation ({incident.lease_owner}) holds the lease"
                return result
            unchanged = (
                not decision.actions
                and not decision.delegate
                and incident.status == target_status
                and incident.pending_step == decision.next_step
            )
            if unchanged:
                count("NoChange", resource_type=finding.resource_type.value)
                result.outcome, result.incident_id, result.status = (
                    "unchanged",
                    incident.incident_id,
                    incident.status.value,
                )
                return result

        draft, expected = self._draft(finding, facts, incident, decision, target_status, now, observe=observe)
        budget_pair = (state.budget, new_budget) if new_budget is not None else None
        try:
            claimed = self.store.save(draft, expected_version=expected, budget=budget_pair)
        except ConcurrentUpdate:
            logger.info("lost the race: another invocation owns this incident", resource=finding.resource_key)
            count("LostRace", resource_type=finding.resource_type.value)
            result.outcome = "lost-race"
            return result

        # --- act (or record what we would do) ---------------------------------------------------------------
        entries, attempts, final_status = self._run_actions(decision, claimed, target_status, observe, result)

        # --- heal at the cause: hand over to the remediation of the resource this one waits on -------------
        if depth < MAX_DELEGATION_DEPTH:
            for delegated in decision.delegate:
                sub = self.handle(delegated, depth=depth + 1)
                result.delegated.append(sub)
                entries.append(
                    TimelineEntry(
                        at=iso(now_utc()),
                        kind="delegated",
                        step=delegated.resource_type.value,
                        outcome=sub.outcome,
                        detail=f"{delegated.resource_id} incident {sub.incident_id}",
                    )
                )

        pending = decision.next_step if final_status is not IncidentStatus.ESCALATED else None
        final = claimed.model_copy(
            update={
                "status": final_status,
                "attempts": attempts,
                "pending_step": pending,
                "pending_since": iso(now)
                if pending and pending != (incident.pending_step if incident else None)
                else (claimed.pending_since if pending else None),
                "timeline": [*claimed.timeline, *entries],
                "lease_owner": None,
                "lease_until": None,
            }
        )
        if entries or final != claimed:
            try:
                final = self.store.save(final, expected_version=claimed.version)
            except ConcurrentUpdate:  # pragma: no cover - we hold the lease; only an expired lease gets here
                logger.warning("incident changed while we held the lease", incident=claimed.incident_id)
                count("LeaseLost")
        result.incident_id, result.status = final.incident_id, final.status.value
        event = "observed" if final.status is IncidentStatus.OBSERVED else decision.outcome.value
        if final_status is IncidentStatus.ESCALATED and decision.outcome is not Outcome.ESCALATE:
            event = "escalate"
        result.notified = self._notify(final, event, record=True)
        count(f"Outcome{decision.outcome.value.title()}", resource_type=finding.resource_type.value)
        return result

    def _draft(
        self,
        finding: Finding,
        facts: dict[str, Any],
        incident: Incident | None,
        decision: Decision,
        target_status: IncidentStatus,
        now: datetime,
        *,
        observe: bool,
    ) -> tuple[Incident, int]:
        """The incident as this invocation claims it (with a lease when it is about to act), and the version
        the claim is conditional on (0: create)."""
        timeline: list[TimelineEntry] = []
        if incident is None:
            timeline.append(
                TimelineEntry(
                    at=iso(finding.observed_at),
                    kind="detected",
                    actor=finding.source,
                    detail=f"{finding.resource_type.value} {finding.condition.value} ({finding.source})",
                )
            )
        timeline.append(
            TimelineEntry(
                at=iso(now),
                kind="decided",
                step=decision.classification,
                outcome=decision.outcome.value,
                detail=decision.summary,
                actor=finding.source,
            )
        )
        lease = iso(now + timedelta(seconds=self.settings.lease_seconds)) if decision.actions and not observe else None
        merged_facts = {**(incident.facts if incident else {}), **facts_for_record(facts), **decision.facts}
        base_fields: dict[str, Any] = {
            "severity": decision.severity,
            "classification": decision.classification,
            "summary": decision.summary,
            "runbook_section": decision.runbook_section,
            "advice": decision.advice,
            "mode": self.settings.mode.value,
            "budget_max": self.settings.budget_max_actions,
            "facts": merged_facts,
            "lease_owner": self.actor if lease else None,
            "lease_until": lease,
        }
        if incident is None:
            draft = self.store.new_incident(
                finding.resource_type,
                finding.resource_id,
                finding.condition,
                status=target_status,
                detected_at=finding.observed_at,
                timeline=timeline,
                **base_fields,
            )
            expected = 0
        else:
            draft = incident.model_copy(
                update={**base_fields, "status": target_status, "timeline": [*incident.timeline, *timeline]}
            )
            expected = incident.version
        return draft, expected

    def _run_actions(
        self,
        decision: Decision,
        claimed: Incident,
        target_status: IncidentStatus,
        observe: bool,
        result: HandleResult,
    ) -> tuple[list[TimelineEntry], int, IncidentStatus]:
        """Run (or, observing, record) the decision's actions in order; the first failure escalates and stops."""
        entries: list[TimelineEntry] = []
        attempts = claimed.attempts
        final_status = target_status
        for planned in decision.actions:
            spec = ACTIONS[planned.name]
            if observe:
                entries.append(
                    TimelineEntry(
                        at=iso(now_utc()),
                        kind="would-act",
                        step=planned.name,
                        outcome="skipped (observe mode)",
                        detail=planned.target,
                    )
                )
                result.actions.append(f"would:{planned.name}")
                continue
            try:
                outcome: ActionResult = spec.run(self.clients, {**planned.params, "incident_id": claimed.incident_id})
            except ActionError as exc:
                logger.warning("action failed", action=planned.name, target=planned.target, error=str(exc))
                count("ActionError", action=planned.name)
                entries.append(
                    TimelineEntry(
                        at=iso(now_utc()), kind="action", step=planned.name, outcome="failed", detail=str(exc)[:500]
                    )
                )
                final_status = IncidentStatus.ESCALATED
                break
            attempts += 1
            count("Acted", action=planned.name)
            logger.info("acted", action=planned.name, target=planned.target, outcome=outcome.outcome)
            entries.append(
                TimelineEntry(
                    at=iso(now_utc()),
                    kind="action",
                    step=planned.name,
                    outcome=outcome.outcome,
                    detail=f"{planned.target} {outcome.detail}".strip(),
                    actor=self.actor,
                )
            )
            result.actions.append(f"{planned.name}:{outcome.outcome}")

        return entries, attempts, final_status

    # ------------------------------------------------------------------------------------------------ notify
    def _notify(self, incident: Incident, event: str, *, record: bool) -> bool:
        """Publish one transition. A failure is logged, counted and (for active incidents) recorded; never raised."""
        try:
            message_id = self.notifier.publish(incident, event)
        except NotifyError as exc:
            logger.error("notification failed; incident kept", incident=incident.incident_id, error=str(exc))
            count("NotifyFailed")
            if record:
                failed = incident.model_copy(
                    update={
                        "timeline": [
                            *incident.timeline,
                            TimelineEntry(at=iso(now_utc()), kind="notify-failed", detail=str(exc)[:500]),
                        ]
                    }
                )
                try:
                    self.store.save(failed, expected_version=incident.version)
                except ConcurrentUpdate:
                    logger.warning("could not record the failed notification", incident=incident.incident_id)
            return False
        logger.info("notified", incident=incident.incident_id, event=event, message_id=message_id)
        count("Notified")
        return True


def facts_for_record(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts worth keeping on the incident (drop bulky or internal ones)."""
    return {k: v for k, v in facts.items() if k not in {"opted_out", "tags", "raw"} and v is not None}
