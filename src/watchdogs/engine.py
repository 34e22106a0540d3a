"""The engine, the shell around the pure lifecycle core: finding -> runbook decision -> plan -> effects -> outbox.

Per finding: scope (on the resource's own identifier) -> load the resource's incidents and budget (one Query) ->
settle any unfinished intent (re-read: a visible effect is recorded, never repeated) -> the runbook reads its facts
and decides (pure) -> :func:`~watchdogs.lifecycle.plan.plan` (pure: holds, budget, observe, quiet repeats) ->
carry the transition out:

1. the claim: one conditional write of the transition, its intents (before any mutating call), the budget it
   spends, and its notification in the outbox when there is nothing to call;
2. each mutating call, classified (:mod:`watchdogs.effects`): done, benign, retry later, refused;
3. the record: one conditional write of the outcomes, the final status and the transition's notification;
4. the outbox flush (:mod:`watchdogs.outbox`).

A crash between any two steps leaves a state the next invocation (event, redelivery or sweep) completes.
"""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

from watchdogs.acting import Acting
from watchdogs.actions import ACTIONS
from watchdogs.contracts import HandleResult, Remediator, facts_after, facts_for_record
from watchdogs.contracts import entry as _entry
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
from watchdogs.lifecycle.plan import Policy, Transition, Verdict, plan
from watchdogs.models.domain import Decision, Finding, IncidentStatus, Outcome, ResourceType
from watchdogs.observability import MetricUnit, count, logger, record
from watchdogs.settings import Mode, Settings

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from datetime import datetime

    from watchdogs.clients import AwsClients
    from watchdogs.incidents.base import IncidentStoreProtocol
    from watchdogs.lifecycle.steps import StepTable
    from watchdogs.notifier import Notifier

MAX_DELEGATION_DEPTH = 2
__all__ = ["Engine", "HandleResult", "Remediator", "facts_for_record"]


class Engine(Acting):
    """Carries decisions out. Takes its adapters; builds nothing at import time. The crash-consistent acting
    (intents, calls, records, settling) is :class:`~watchdogs.acting.Acting`."""

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        remediators: Mapping[ResourceType, Remediator],
        *,
        store: IncidentStoreProtocol | None = None,
        notifier: Notifier | None = None,
        actor: str | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.remediators = remediators
        self.store: IncidentStoreProtocol = store or IncidentStore(
            settings.incident_table,
            clients.dynamodb,
            ttl_days=settings.incident_ttl_days,
            environment=settings.environment,
        )
        self._notifier = notifier
        self.actor = actor or f"{os.environ.get('AWS_LAMBDA_FUNCTION_NAME', 'local')}/{uuid.uuid4().hex[:8]}"
        self.clock = clock

    @property
    def notifier(self) -> Notifier:
        """Built on first publish only: an invocation that sends nothing creates no SNS client."""
        if self._notifier is None:
            # the alert renderer is imported with it: a path that publishes nothing never loads it (cold start)
            from watchdogs.notifier import AlertContext, Notifier  # noqa: PLC0415

            s = self.settings
            context = AlertContext(
                stack_name=s.stack_name,
                region=s.region,
                partition=s.partition,
                account=s.account_id or AlertContext.from_topic(s.alert_topic_arn).account,
                docs_base_url=s.docs_base_url.rstrip("/"),
            )
            self._notifier = Notifier(s.alert_topic_arn, self.clients.sns, context=context)
        return self._notifier

    def policy(self, resource_type: ResourceType) -> Policy:
        """The lifecycle policy for one resource type: its service's mode (a pipeline's delegated crawler finding
        follows the crawler mode), the budget and the lease."""
        s = self.settings
        return Policy(
            observe=s.mode_for(resource_type.value) is Mode.OBSERVE,
            budget_max=s.budget_max_actions,
            budget_window_seconds=s.budget_window_seconds,
            quarantine_seconds=s.quarantine_seconds,
            hold_seconds=s.quarantine_seconds,
            lease_seconds=s.lease_seconds,
            actor=self.actor,
        )

    # ------------------------------------------------------------------------------------------------ entry
    def handle(self, finding: Finding, *, depth: int = 0) -> HandleResult:
        result = HandleResult(outcome="", resource=finding.resource_key, condition=finding.condition.value)
        remediator = self.remediators.get(finding.resource_type)
        if remediator is None:
            result.outcome, result.detail = "unsupported", f"no remediator for {finding.resource_type}"
            return result
        if not remediator.in_scope(finding):
            logger.info("out of scope: ignored", resource=finding.resource_key, scope_key=finding.scope_key)
            count("OutOfScope", resource_type=finding.resource_type.value)
            result.outcome = "out-of-scope"
            return result
        state = self.store.load(finding.resource_type, finding.resource_id)
        if self._duplicate(finding, state, result):
            return result
        waiting = self._settle(state, result)
        if waiting is not None:
            result.outcome, result.detail = waiting
            return result
        facts = remediator.inspect(finding, state)
        if facts.get("opted_out"):
            logger.info("opted out by tag: ignored", resource=finding.resource_key, tag=self.settings.opt_out_tag)
            count("OptedOut", resource_type=finding.resource_type.value)
            result.outcome = "opted-out"
            return result
        now = self.clock()
        incident = state.incidents.get(finding.condition)
        decision = self._checked(remediator, remediator.decide(finding, facts, incident, state, now), incident)
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
        if decision.outcome in {Outcome.RESOLVE, Outcome.CLOSE}:
            self._close_all(finding, state, decision, now, result, {**facts, **decision.facts})
        else:
            transition = plan(decision, incident, state.budget, self.policy(finding.resource_type), now)
            self._carry(finding, facts, incident, state, decision, transition, now, result)
            if transition.notify and result.outcome not in {"busy", "lost-race"}:
                # diagnosis for people, once the transition is recorded (it never delays it); the flush writes it
                current = state.incidents.get(finding.condition)
                from watchdogs.diagnosis import attach_evidence  # noqa: PLC0415 - only when diagnosing (cold start)

                attached = attach_evidence(remediator, finding, facts, current, now)
                if attached is not None:
                    state.incidents[finding.condition] = attached
        # flush before delegating: a delegated finding on the same resource must not see (and send) ours again
        for incident in list(state.incidents.values()):
            if incident.outbox:
                state.incidents[incident.condition] = self._flush(incident, result)
        if depth < MAX_DELEGATION_DEPTH and result.outcome not in {"busy", "lost-race"}:
            self._delegate(finding, decision, state, now, depth, result)
        return result

    def _duplicate(self, finding: Finding, state: ResourceState, result: HandleResult) -> bool:
        """A delivery whose key an active incident already records was handled (its claim wrote the key): nothing
        more to do, for the cost of the one Query that loaded the state. ``duplicate-in-progress`` while the first
        delivery still holds the incident's lease (acting right now); a metric either way, never an error."""
        key = finding.event_key
        owner = next((i for i in state.incidents.values() if key and key in i.event_keys), None)
        if owner is None:
            return False
        busy = bool(owner.intents)
        result.outcome = "duplicate-in-progress" if busy else "duplicate"
        result.incident_id, result.status = owner.incident_id, owner.status.value
        logger.info("duplicate event: already handled", key=key, in_progress=busy, resource=finding.resource_key)
        count("DuplicateInProgress" if busy else "DuplicateEvent")
        return True

    def _checked(self, remediator: Remediator, decision: Decision, incident: Incident | None) -> Decision:
        """Refuse what a runbook may not do: undeclared actions, step transitions its table does not allow."""
        problems = [
            f"undeclared action {a.name}"
            for a in decision.actions
            if a.name not in remediator.action_names or a.name not in ACTIONS
        ]
        table: StepTable | None = getattr(remediator, "steps", None)
        current = incident.pending_step if incident else None
        if table is not None and not table.allows(current, decision.next_step):
            problems.append(f"step {current or 'idle'} -> {decision.next_step} not in the {table.name} table")
        if not problems:
            return decision
        logger.error("decision refused", problems=problems)
        count("UndeclaredAction")
        return decision.model_copy(
            update={
                "outcome": Outcome.ESCALATE,
                "actions": [],
                "next_step": None,
                "summary": f"{decision.summary} Not acted on: {'; '.join(problems)} (a watchdog bug).",
                "classification": "refused-decision",
            }
        )

    # ------------------------------------------------------------------------------------------------ settle
    # ------------------------------------------------------------------------------------------------ close
    def _close_all(
        self,
        finding: Finding,
        state: ResourceState,
        decision: Decision,
        now: datetime,
        result: HandleResult,
        read: Mapping[str, Any],
    ) -> None:
        """Resolve or close the incidents the decision names; each keeps the facts it ended on (``read``: this
        finding's read and the decision's facts), so its RESOLVED/CLOSED alert shows the state it ended in."""
        wanted = decision.resolves or ([finding.condition] if decision.outcome is Outcome.CLOSE else [])
        targets = [i for i in state.active() if not wanted or i.condition in wanted]
        result.outcome, result.detail = "nothing-open", decision.summary
        for incident in targets:
            transition = plan(decision, incident, state.budget, self.policy(finding.resource_type), now)
            if transition.verdict is Verdict.BUSY:
                result.outcome = "busy"
                continue
            if transition.verdict is not Verdict.CLOSE or transition.status is None:
                continue
            entry = _entry(now, transition.status.value, decision.summary, actor=finding.source)
            ended = incident.append(entry).model_copy(
                update={
                    "status": transition.status,
                    "summary": decision.summary,
                    "severity": transition.severity,
                    "resolved_at": iso(now),
                    "time_to_recover_seconds": round((now - parse_iso(incident.detected_at)).total_seconds(), 3),
                    "decision_key": transition.decision_key,
                    "facts": facts_after(incident.facts, read),
                }
            )
            ended = ended.enqueue(transition.notify or "resolved", iso(now))
            try:
                closed = self.store.close(ended, status=transition.status)
            except ConcurrentUpdate:
                count("LostRace", resource_type=finding.resource_type.value)
                continue
            state.incidents.pop(incident.condition, None)
            result.outcome = "resolved" if transition.status is IncidentStatus.RESOLVED else "closed"
            result.incident_id, result.status = closed.incident_id, closed.status.value
            self._flush(closed, result)
            count("Resolved" if result.outcome == "resolved" else "Closed", resource_type=finding.resource_type.value)
            if result.outcome == "resolved" and closed.time_to_recover_seconds is not None:
                seconds = closed.time_to_recover_seconds
                record("TimeToRecover", seconds, MetricUnit.Seconds, resource_type=finding.resource_type.value)

    # ------------------------------------------------------------------------------------------------ carry
    def _carry(
        self,
        finding: Finding,
        facts: dict[str, Any],
        incident: Incident | None,
        state: ResourceState,
        decision: Decision,
        transition: Transition,
        now: datetime,
        result: HandleResult,
    ) -> None:
        result.outcome = transition.outcome.value
        if transition.verdict is Verdict.BUSY:
            count("Busy", resource_type=finding.resource_type.value)
            result.outcome, result.detail = "busy", transition.reason
            return
        if transition.verdict is Verdict.NOOP:
            if decision.outcome is Outcome.IGNORE:
                count("Ignored", resource_type=finding.resource_type.value)
                result.outcome, result.detail = "ignored", decision.summary
                return
            count("Held" if transition.held else "NoChange", resource_type=finding.resource_type.value)
            result.outcome = "held" if transition.held else "unchanged"
            result.detail = transition.reason
            if incident is not None:
                result.incident_id, result.status = incident.incident_id, incident.status.value
                result.pending_step, result.pending_since = incident.pending_step, incident.pending_since
            return
        claim, expected = self._draft(finding, facts, incident, decision, transition, now)
        try:
            claimed = self.store.save(
                claim,
                expected_version=expected,
                budget=(state.budget, transition.budget) if transition.budget is not None else None,
            )
        except ConcurrentUpdate:
            if finding.event_key and self._duplicate(
                finding, self.store.load(finding.resource_type, finding.resource_id), result
            ):
                return  # the same delivery, handled concurrently by another invocation that claimed first
            logger.info("lost the race: another invocation owns this incident", resource=finding.resource_key)
            count("LostRace", resource_type=finding.resource_type.value)
            result.outcome = "lost-race"
            return
        if transition.budget is not None:
            state.budget = Budget(
                transition.budget.action_times,
                transition.budget.quarantined_until,
                transition.budget.quarantine_reason,
                state.budget.version + 1,
            )
        final = self._act(claimed, now, result) if transition.actions else claimed
        state.incidents[finding.condition] = final
        result.pending_step, result.pending_since = final.pending_step, final.pending_since
        if final.pending_step and final.pending_step != (incident.pending_step if incident else None):
            self._follow_up(final, now)
        result.incident_id, result.status = final.incident_id, final.status.value
        result.actions += [f"would:{a.name}" for a in transition.would_act]
        count(f"Outcome{transition.outcome.value.title()}", resource_type=finding.resource_type.value)

    def _follow_up(self, incident: Incident, now: datetime) -> None:
        """A step no event announces was entered: arm its step timer, so the next step comes within seconds
        instead of at the next sweep (not in observe mode: there is nothing to take)."""
        table: StepTable | None = getattr(self.remediators.get(incident.resource_type), "steps", None)
        if table is None or incident.pending_step not in table.follow_up:
            return
        if self.policy(incident.resource_type).observe or not self.settings.timer_group:
            return
        from watchdogs.timers import arm_step  # noqa: PLC0415 - only when a remediation waits (cold start)

        arm_step(self.settings, self.clients, incident, 1, now)

    def _draft(
        self,
        finding: Finding,
        facts: dict[str, Any],
        incident: Incident | None,
        decision: Decision,
        transition: Transition,
        now: datetime,
    ) -> tuple[Incident, int]:
        """The incident as this invocation claims it: the transition, its intents (before any call), and its
        notification when there is nothing to call (an action's is written with its outcome)."""
        entries: list[TimelineEntry] = []
        if incident is None:
            entries.append(
                TimelineEntry(
                    at=iso(finding.observed_at),
                    kind="detected",
                    actor=finding.source,
                    detail=f"{finding.resource_type.value} {finding.condition.value} ({finding.source})",
                )
            )
        entries.append(
            _entry(
                now,
                "decided",
                decision.summary,
                step=decision.classification,
                outcome=transition.outcome.value,
                actor=finding.source,
            )
        )
        entries += [
            _entry(now, "would-act", a.target, step=a.name, outcome="skipped (observe mode)")
            for a in transition.would_act
        ]
        intents = self._intents(incident, decision, facts, transition, now)
        pending = transition.pending_step
        fields: dict[str, Any] = {
            "status": transition.status,
            "severity": transition.severity,
            "classification": decision.classification,
            "summary": transition.summary,
            "runbook_section": decision.runbook_section,
            "advice": decision.advice,
            "mode": self.settings.mode_for(finding.resource_type.value).value,
            "budget_max": self.settings.budget_max_actions,
            "facts": {**(incident.facts if incident else {}), **facts_for_record(facts), **decision.facts},
            "pending_step": pending,
            "pending_since": (incident.pending_since if incident and incident.pending_step == pending else iso(now))
            if pending
            else None,
            "decision_key": transition.decision_key,
            "hold_until": transition.hold_until,
            "intents": intents,
            "lease_owner": self.actor if intents else None,
            "lease_until": transition.lease_until,
        }
        if incident is None:
            draft = self.store.new_incident(
                finding.resource_type,
                finding.resource_id,
                finding.condition,
                detected_at=finding.observed_at,
                **fields,
            )
            expected = 0
        else:
            draft, expected = incident.model_copy(update=fields), incident.version
        draft = draft.append(*entries).with_event_key(finding.event_key)
        if transition.notify and not intents:
            draft = draft.enqueue(transition.notify, iso(now))
        return draft, expected

    # ------------------------------------------------------------------------------------------------ delegate
    def _delegate(
        self,
        finding: Finding,
        decision: Decision,
        state: ResourceState,
        now: datetime,
        depth: int,
        result: HandleResult,
    ) -> None:
        """Heal at the cause: hand the findings on the resources this one waits on to their remediations, and
        record on this incident what the heal did (the parent waits for its child's heal)."""
        if not decision.delegate:
            return
        for delegated in decision.delegate:
            result.delegated.append(self.handle(delegated, depth=depth + 1))
        parent = state.incidents.get(finding.condition)
        if parent is None or not parent.is_active:
            return
        entries = [
            _entry(
                now,
                "delegated",
                f"{d.resource_id} incident {sub.incident_id}",
                step=d.resource_type.value,
                outcome=sub.outcome,
            )
            for d, sub in zip(decision.delegate, result.delegated, strict=False)
        ]
        heal = dict(parent.facts.get("heal") or {})
        if any(sub.actions and not sub.actions[0].startswith("would:") for sub in result.delegated):
            heal["last_action_at"] = iso(now)
        update = {"facts": {**parent.facts, "heal": heal}} if heal else {}
        try:
            state.incidents[finding.condition] = self.store.save(
                parent.append(*entries).model_copy(update=update), expected_version=parent.version
            )
        except ConcurrentUpdate:
            logger.info("could not record the delegation: the incident changed", incident=parent.incident_id)

    # ------------------------------------------------------------------------------------------------ outbox
    def _flush(self, incident: Incident, result: HandleResult) -> Incident:
        from watchdogs.outbox import flush  # noqa: PLC0415 - only when a transition is recorded (cold start)

        stored, flushed = flush(incident, self.store, self.notifier)
        result.notified = result.notified or flushed.sent > 0
        result.pending_notifications += flushed.pending
        return stored

    def expire(self, incident: Incident, reason: str) -> HandleResult:
        """Close an incident whose condition can never recover (the sweep's expiry), through the same lifecycle:
        a ``CLOSE`` transition, recorded and notified like any other."""
        finding = Finding(
            resource_type=incident.resource_type,
            resource_id=incident.resource_id,
            condition=incident.condition,
            source="sweep",
            observed_at=self.clock(),
            scope_key=str(incident.facts.get("scope_key", "")),
        )
        decision = Decision(outcome=Outcome.CLOSE, summary=reason, classification="expired")
        state = self.store.load(incident.resource_type, incident.resource_id)
        result = HandleResult(outcome="", resource=incident.resource_key, condition=incident.condition.value)
        self._close_all(finding, state, decision, self.clock(), result, {})  # nothing read: it keeps its last facts
        return result

    def flush_pending(self, limit: int = 100) -> dict[str, int]:
        """Publish every pending notification (the sweep, and redeliveries whose first delivery left some)."""
        totals = {"incidents": 0, "sent": 0, "failed": 0}
        for incident in self.store.list_pending(limit):
            from watchdogs.outbox import flush  # noqa: PLC0415 - see _flush: a quiet sweep loads no renderer

            _, flushed = flush(incident, self.store, self.notifier)
            totals["incidents"] += 1
            totals["sent"] += flushed.sent
            totals["failed"] += flushed.failed
        return totals
