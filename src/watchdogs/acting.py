"""Crash-consistent acting: intents written before mutating calls, each call made once and classified, outcomes
recorded in one write, and unfinished intents of earlier invocations settled by a re-read.

:class:`Acting` is the half of :class:`~watchdogs.engine.Engine` that changes AWS resources; the engine owns the
decision flow. The split keeps each module readable; the state they share is the engine's adapters.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchdogs import effects
from watchdogs.actions import ACTIONS
from watchdogs.contracts import HandleResult
from watchdogs.contracts import entry as _entry
from watchdogs.incidents import (
    Budget,
    ConcurrentUpdate,
    Incident,
    Intent,
    ResourceState,
    StoreError,
    TimelineEntry,
    iso,
    parse_iso,
)
from watchdogs.models.domain import Decision, IncidentStatus, Outcome
from watchdogs.observability import count, logger
from watchdogs.settings import Mode

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdogs.clients import AwsClients
    from watchdogs.incidents.base import IncidentStoreProtocol
    from watchdogs.lifecycle.plan import Transition
    from watchdogs.settings import Settings

#: first retry of a throttled / unknown call after this long, doubling per try (capped at 15 minutes)
RETRY_BASE_SECONDS = 60


class Acting:
    """Mixed into the engine: needs its settings, clients, store, actor and clock."""

    settings: Settings
    clients: AwsClients
    store: IncidentStoreProtocol
    actor: str
    clock: Callable[[], datetime]

    def _intents(
        self,
        incident: Incident | None,
        decision: Decision,
        facts: dict[str, Any],
        transition: Transition,
        now: datetime,
    ) -> list[Intent]:
        """The mutating calls of ``transition``, as intents written before any call is made."""
        # the decision state before this claim: restored if the claim's calls are abandoned without any effect
        prior = {
            "status": incident.status.value if incident else None,
            "pending_step": incident.pending_step if incident else None,
            "pending_since": incident.pending_since if incident else None,
            "decision_key": incident.decision_key if incident else None,
            "attempts": incident.attempts if incident else 0,
            "fact_keys": sorted(decision.facts),
            "facts": {k: incident.facts[k] for k in decision.facts if incident and k in incident.facts},
        }
        return [
            Intent(
                action=a.name,
                params={**a.params, "incident_id": incident.incident_id if incident else ""},
                target=a.target,
                token=f"{a.params.get('client_token') or uuid.uuid4().hex}"[:64],
                at=iso(now),
                actor=self.actor,
                baseline=_baseline(facts),
                reserved=now.timestamp() if transition.budget else None,
                status_after=transition.status.value if transition.status else None,
                notify=transition.notify,
                prior=prior,
            )
            for a in transition.actions
        ]

    def _settle(self, state: ResourceState, result: HandleResult) -> tuple[str, str] | None:
        """Finish what an earlier invocation started (it died, or its call was throttled or its outcome unknown).

        Each unfinished intent is verified by a re-read: a visible effect is recorded, never repeated. An invisible
        one is abandoned and its budget refunded, and the fresh decision that follows plans it again if it is still
        right, through every guard (scope, opt-out tags, holds, mode, budget): a retried call is never made on a
        resource that opted out or went to observe mode meanwhile. Returns why to wait, if an intent's retry time
        has not come or another invocation holds the incident."""
        now = self.clock()
        for condition, incident in list(state.incidents.items()):
            if not incident.intents:
                continue
            if incident.lease_until and incident.lease_owner != self.actor and parse_iso(incident.lease_until) > now:
                return "busy", f"incident {incident.incident_id} is being acted on by {incident.lease_owner}"
            due = [i for i in incident.intents if not i.retry_at or parse_iso(i.retry_at) <= now]
            if len(due) < len(incident.intents):
                return "retry-later", f"a throttled or unknown call is retried after {incident.intents[0].retry_at}"
            settled, budget = self._verify_intents(incident, state.budget, now)
            try:
                saved = self.store.save(
                    settled,
                    expected_version=incident.version,
                    budget=(state.budget, budget) if budget is not None else None,
                )
            except ConcurrentUpdate:
                return "lost-race", "another invocation is settling the same incident"
            state.incidents[condition] = saved
            if budget is not None:
                state.budget = Budget(
                    budget.action_times, budget.quarantined_until, budget.quarantine_reason, state.budget.version + 1
                )
            result.actions += [f"{i.action}:settled" for i in due]
            if saved.intents:  # deferred calls harmless to repeat: the retry the back-off promised, made now
                saved = self._act(saved, now, result)
                state.incidents[condition] = saved
                if saved.intents:
                    return "retry-later", f"a deferred call is retried after {saved.intents[0].retry_at}"
        return None

    def _verify_intents(self, incident: Incident, budget: Budget, now: datetime) -> tuple[Incident, Budget | None]:
        """Visible effects are recorded. A deferred call (throttled, never sent, or unknown and not visible) of an
        action that is harmless to repeat stays, to be made again now -- but only to finish a transition that
        already took effect (e.g. the metadata row of a run already stopped: a fresh decision would not plan it
        again), and never in observe mode. Anything else is abandoned: the fresh decision plans it again, if still
        right, through every guard (mode, opt-out tags, scope, holds, budget; a redrive with the same token). An
        abandoned call's budget is refunded and, when the transition made no call at all, the incident's decision
        state is rolled back to what it was before the claim, so the fresh decision is not misled by a step that
        never happened."""
        entries: list[TimelineEntry] = []
        done = dict(incident.actions_done)
        attempts = incident.attempts
        refund: list[float] = []
        visible_any = False
        kept: list[Intent] = []
        prior_attempts = int((incident.intents[0].prior or {}).get("attempts", 0)) if incident.intents else 0
        may_finish = self.settings.mode is not Mode.OBSERVE
        for intent in incident.intents:
            seen = effects.verify(self.clients, intent.action, intent.params, intent.baseline)
            took_effect = visible_any or incident.attempts > prior_attempts
            if not seen and intent.retry_at and ACTIONS[intent.action].idempotent and took_effect and may_finish:
                kept.append(intent)
                continue
            if seen:
                visible_any = True
                attempts += 1
                done[intent.action] = intent.at
                entries.append(
                    _entry(
                        parse_iso(intent.at),  # the call was made then; the re-read only found out now
                        "action",
                        f"{intent.target} (effect visible on re-read)",
                        step=intent.action,
                        outcome="verified",
                        actor=intent.actor,
                    )
                )
                count("IntentVerified", action=intent.action)
            else:
                if intent.reserved is not None:
                    refund.append(intent.reserved)
                entries.append(
                    _entry(
                        now,
                        "retry",
                        f"{intent.target}: effect not visible; decided afresh",
                        step=intent.action,
                        outcome="abandoned",
                    )
                )
                count("IntentAbandoned", action=intent.action)
        lease = iso(now + timedelta(seconds=self.settings.lease_seconds)) if kept else None
        settled = incident.append(*entries).model_copy(
            update={
                "intents": kept,
                "lease_owner": self.actor if kept else None,
                "lease_until": lease,
                "attempts": attempts,
                "actions_done": done,
            }
        )
        if visible_any and not kept:  # with calls still to make, the notification goes with their outcome
            settled = settled.enqueue(Outcome.ACT.value, iso(now))
        prior = incident.intents[0].prior if incident.intents else None
        if not visible_any and not kept and prior and prior.get("attempts", 0) == incident.attempts:
            settled = _rolled_back(settled, prior)
        new_budget = None
        if refund:
            times = list(budget.action_times)
            for t in refund:
                if t in times:
                    times.remove(t)
            new_budget = Budget(times, budget.quarantined_until, budget.quarantine_reason, budget.version)
        return settled, new_budget

    def _act(self, claimed: Incident, now: datetime, result: HandleResult) -> Incident:
        """Make each intended call once; record the outcomes and the transition's notification in one write."""
        entries: list[TimelineEntry] = []
        remaining: list[Intent] = []
        refused: str | None = None
        done = dict(claimed.actions_done)
        attempts = claimed.attempts
        for index, intent in enumerate(claimed.intents):
            params = {**intent.params, "incident_id": claimed.incident_id}
            if intent.action == "redrive_execution":
                params["client_token"] = intent.token
            effect = effects.carry_out(self.clients, intent.action, params, intent.baseline)
            logger.info(
                "acted", action=intent.action, target=intent.target, outcome=effect.outcome, cls=effect.cls.value
            )
            count(
                "Acted" if effect.cls is effects.CallClass.DONE else f"Action{effect.cls.value.title()}",
                action=intent.action,
            )
            result.actions.append(f"{intent.action}:{effect.outcome}")
            if effect.cls in {effects.CallClass.DONE, effects.CallClass.BENIGN}:
                attempts += effect.cls is effects.CallClass.DONE
                done[intent.action] = iso(now)
                entries.append(
                    _entry(
                        now,
                        "action",
                        f"{intent.target} {effect.detail}".strip(),
                        step=intent.action,
                        outcome=effect.outcome,
                        actor=self.actor,
                    )
                )
                continue
            if effect.cls is effects.CallClass.RETRY:
                delay = min(900, RETRY_BASE_SECONDS * 2**intent.tries)
                retry_at = iso(now + timedelta(seconds=delay))
                remaining = [
                    intent.model_copy(update={"retry_at": retry_at, "tries": intent.tries + 1}),
                    *claimed.intents[index + 1 :],
                ]
                entries.append(
                    _entry(
                        now,
                        "retry",
                        f"{intent.target}: {effect.detail}; retry after {retry_at}",
                        step=intent.action,
                        outcome=effect.outcome,
                    )
                )
                break
            refused = f"{intent.action} refused: {effect.detail}"
            entries.append(
                _entry(
                    now,
                    "action",
                    f"{intent.target} {effect.detail}",
                    step=intent.action,
                    outcome="failed",
                    actor=self.actor,
                )
            )
            break
        return self._record(claimed, entries, remaining, refused, done, attempts, now)

    def _record(
        self,
        claimed: Incident,
        entries: list[TimelineEntry],
        remaining: list[Intent],
        refused: str | None,
        done: dict[str, str],
        attempts: int,
        now: datetime,
    ) -> Incident:
        """One write: the calls' outcomes, the final status, and the transition's notification (none while a call
        waits for its retry; an escalation when one was refused)."""
        update: dict[str, Any] = {
            "intents": remaining,
            "lease_owner": None,
            "lease_until": None,
            "attempts": attempts,
            "actions_done": done,
        }
        event = next((i.notify for i in claimed.intents if i.notify), None)
        after = next((i.status_after for i in reversed(claimed.intents) if i.status_after), None)
        if after is not None:
            update["status"] = IncidentStatus(after)
        if refused is not None:
            update.update(
                status=IncidentStatus.ESCALATED,
                pending_step=None,
                summary=f"{claimed.summary} Not completed: {refused}. A human must look.",
                hold_until=iso(now + timedelta(seconds=self.settings.quarantine_seconds)),
            )
            event = Outcome.ESCALATE.value
        elif remaining:
            update.update(status=IncidentStatus.REMEDIATING)
            event = None  # nothing happened yet: the transition is notified when the call is made
        final = claimed.append(*entries).model_copy(update=update)
        if event:
            final = final.enqueue(event, iso(now))
        try:
            return self.store.save(final, expected_version=claimed.version)
        except (ConcurrentUpdate, StoreError) as exc:
            # the calls were made; the intents on the stored claim let the next invocation verify and record them
            logger.error(
                "could not record action outcomes; the next invocation verifies them",
                incident=claimed.incident_id,
                error=str(exc)[:300],
            )
            count("RecordFailed")
            return claimed


def _rolled_back(incident: Incident, prior: dict[str, Any]) -> Incident:
    """``incident`` with the decision state it had before the claim whose calls were all abandoned."""
    facts = dict(incident.facts)
    kept = prior.get("facts") or {}
    for key in prior.get("fact_keys") or []:
        if key in kept:
            facts[key] = kept[key]
        else:
            facts.pop(key, None)
    update: dict[str, Any] = {
        "pending_step": prior.get("pending_step"),
        "pending_since": prior.get("pending_since"),
        "decision_key": prior.get("decision_key"),
        "facts": facts,
    }
    if prior.get("status"):
        update["status"] = IncidentStatus(str(prior["status"]))
    return incident.model_copy(update=update)


def _baseline(facts: dict[str, Any]) -> dict[str, Any]:
    """What the verifiers compare against: the resource as read just before the intent."""
    keys = ("crawler_state", "last_crawl_status", "last_crawl_started_at", "status", "redrive_count", "state")
    return {k: facts[k] for k in keys if k in facts}
