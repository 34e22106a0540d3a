"""Pure heal bookkeeping: a parent run waits for the heal of its cause, and is never stopped inside its grace.

A run stuck on a crawler or on Athena work is healed *at the cause* (the crawler reset, the stuck query
cancelled) by the child remediations. The run's STUCK incident records that heal in ``facts["heal"]``
(:class:`HealRecord`: target, started_at, grace_until, rounds, and the engine's ``last_action_at`` when a delegated
child acted). The grace is measured from the heal's *start*, whichever order the sweep visits things in:

* the run visited first: the run's decision delegates the heal and records its start (now);
* the child visited first (the sweep finds causes first): the heal already happened and the run's own reads show
  it -- a query of the workgroup CANCELLED recently (``Status.CompletionDateTime``, the run's own query preferred)
  or a delegated action recorded on the incident -- so the heal is taken to have started *then*.

Either way the deadline is ``started_at + grace``; later heal steps do not extend it (otherwise a sweep that
cancels a re-submitted query before visiting the run would wait where the other order stops). After the deadline,
a run still stuck on the same cause is stopped as the runbook's last resort.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import iso, parse_iso
from watchdogs.runbooks.execution.history import WaitsOn, WaitTarget
from watchdogs.runbooks.execution.steps import Step, legacy_target

if TYPE_CHECKING:
    from watchdogs.incidents import Incident
    from watchdogs.runbooks.execution.facts import ExecutionFacts
    from watchdogs.settings import Settings


def heal_grace(target: WaitTarget, settings: Settings) -> int:
    """How long a heal may take before the run is declared still stuck: the restarted crawler gets its own
    threshold (plus the time a stop may take); a cancelled query's step gets the workgroup's query threshold."""
    if target.waits_on is WaitsOn.CRAWLER:
        return settings.crawler_stuck_seconds + settings.crawler_stopping_seconds
    return settings.query_threshold(target.workgroup or "")


@dataclass(frozen=True)
class HealRecord:
    """``facts["heal"]`` on a run's STUCK incident."""

    target: str  # WaitTarget.key: "crawler:<name>" | "athena:<workgroup>"
    started_at: str
    grace_until: str | None = None  # None: an incident written before the grace was recorded
    rounds: int = 1
    last_action_at: str | None = None  # set by the engine when a delegated child acted
    observed: bool = False  # recorded in observe mode: a heal that would have begun, nothing was healed

    def deadline(self, grace: int) -> datetime:
        if self.grace_until:
            return parse_iso(self.grace_until)
        return parse_iso(self.started_at) + timedelta(seconds=grace)

    def as_dict(self) -> dict[str, Any]:
        raw = {
            "target": self.target,
            "started_at": self.started_at,
            "grace_until": self.grace_until,
            "rounds": self.rounds,
            "last_action_at": self.last_action_at,
            "observed": self.observed or None,
        }
        return {k: v for k, v in raw.items() if v is not None}

    @classmethod
    def of(cls, incident: Incident | None) -> HealRecord | None:
        """The heal recorded on ``incident``. Incidents written before ``facts["heal"]`` carried it in flat facts
        (``heal_target``, ``heal_started_at``, ``heal_rounds``) and in the step (``heal:<target>``)."""
        if incident is None:
            return None
        facts = incident.facts
        raw = _stored(incident)
        target = recorded_target(incident)
        started = raw.get("started_at") or facts.get("heal_started_at")
        if not target or not started:
            return None
        return cls(
            target=str(target),
            started_at=str(started),
            grace_until=raw.get("grace_until"),
            rounds=int(raw.get("rounds") or facts.get("heal_rounds") or 1),
            last_action_at=raw.get("last_action_at"),
            observed=bool(raw.get("observed")),
        )


def _stored(incident: Incident) -> dict[str, Any]:
    stored = incident.facts.get("heal")
    return stored if isinstance(stored, dict) else {}


def recorded_target(incident: Incident | None) -> str | None:
    """The target of the heal recorded on ``incident`` (also from an old ``heal_target`` fact or step)."""
    if incident is None:
        return None
    target = (
        _stored(incident).get("target") or incident.facts.get("heal_target") or legacy_target(incident.pending_step)
    )
    return str(target) if target else None


def live_record(incident: Incident | None, target: WaitTarget, *, observing: bool = False) -> HealRecord | None:
    """The incident's heal, if it is a heal of this target still in progress (a WATCH written since ended it).

    A heal recorded in observe mode only *would* have begun: nothing was healed, so once the watchdog remediates
    it is no heal at all (its grace must not run from then, or the run is stopped without its cause ever being
    healed -- or in the very sweep that heals it)."""
    record = HealRecord.of(incident)
    if record is None or incident is None or record.target != target.key:
        return None
    if record.observed and not observing:
        return None
    return None if Step.parse(incident.pending_step) is Step.WATCH else record


def _recent(at: str | None, grace: int, now: datetime) -> datetime | None:
    if not at:
        return None
    when = parse_iso(at)
    return when if timedelta(0) <= now - when < timedelta(seconds=grace) else None


def recent_cancel(facts: ExecutionFacts, grace: int, now: datetime) -> datetime | None:
    """When the run's query (or, its id unknown, a query of the workgroup) was CANCELLED within the grace."""
    cancelled = list(facts.cancelled_queries or ())
    own = facts.view.query_execution_id if facts.view else None
    if own:
        cancelled = [q for q in cancelled if q.id == own]
    times = [t for t in (_recent(q.completed_at, grace, now) for q in cancelled) if t is not None]
    return min(times) if times else None


def heal_seen(
    incident: Incident | None, facts: ExecutionFacts, target: WaitTarget, grace: int, now: datetime
) -> datetime | None:
    """The start of a heal of ``target`` that the run's reads show but its incident does not record yet: a recent
    cancel in the workgroup, or a delegated action on this target (or an unnamed one) recorded by the engine."""
    seen: list[datetime] = []
    if target.waits_on is WaitsOn.ATHENA:
        cancelled = recent_cancel(facts, grace, now)
        if cancelled is not None:
            seen.append(cancelled)
    raw = incident.facts.get("heal") if incident is not None else None
    if isinstance(raw, dict) and raw.get("target") in (None, target.key):
        acted = _recent(raw.get("last_action_at"), grace, now)
        if acted is not None:
            seen.append(acted)
    return min(seen) if seen else None


def next_record(
    live: HealRecord | None, started: datetime, target: WaitTarget, grace: int, *, observing: bool = False
) -> HealRecord:
    """The heal as this round records it: the live one continued (same start, one more round) or a new one."""
    if live is not None:
        return replace(live, rounds=live.rounds + 1, grace_until=iso(live.deadline(grace)))
    deadline = iso(started + timedelta(seconds=grace))
    return HealRecord(target=target.key, started_at=iso(started), grace_until=deadline, observed=observing)
