"""What a person does to incidents (``watchdogs-ops ack | resolve | note``), through the store's conditional writes.

Every operation loads the resource, changes its active incidents with a write conditional on the version it read
(a concurrent watchdog write makes it reload and re-apply, a few times at most), and records the person and their
reason on the incident timeline. ``ack`` and ``resolve`` are transitions: their notification is put in the
incident's outbox in the same write, so it is published by :func:`watchdogs.outbox.flush` like any other (and
re-sent by the sweep if SNS is down). A ``note`` changes no state and is not published: the topic carries
transitions, which subscribers page on; a note is read where the incident is read (``watchdogs-ops show``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watchdogs.incidents.base import ConcurrentUpdate
from watchdogs.incidents.record import Budget, Incident, ResourceState, TimelineEntry, iso, now_utc, parse_iso
from watchdogs.models.domain import IncidentStatus

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from watchdogs.incidents.base import IncidentStoreProtocol
    from watchdogs.models.domain import ResourceType

#: reloads after a lost race before giving up (a watchdog is acting on the resource right now)
ATTEMPTS = 3


class NothingToDo(LookupError):  # noqa: N818 - a refusal, reported as "not found"
    """The resource has no active incident (nor quarantine) the operation could apply to."""


class StillChanging(RuntimeError):  # noqa: N818
    """The incident kept changing under the operation (a watchdog is acting on it): try again shortly."""


@dataclass
class OperatorResult:
    """What an operator operation changed: the incidents as stored afterwards and whether the budget was reset."""

    operation: str
    resource_type: ResourceType
    resource_id: str
    incidents: list[Incident] = field(default_factory=list)
    budget_reset: bool = False
    quarantine_lifted: bool = False


def _entry(kind: str, by: str, text: str, now: datetime) -> TimelineEntry:
    return TimelineEntry(at=iso(now), kind=kind, detail=f"{by}: {text}" if text else by, actor=by)


def _retrying(apply: Callable[[ResourceState], OperatorResult], load: Callable[[], ResourceState]) -> OperatorResult:
    for _ in range(ATTEMPTS):
        try:
            return apply(load())
        except ConcurrentUpdate:
            continue
    raise StillChanging("the incident kept changing while it was being updated (a watchdog is acting on it)")


def acknowledge(
    store: IncidentStoreProtocol, resource_type: ResourceType, resource_id: str, *, by: str, reason: str
) -> OperatorResult:
    """End the hold of the resource's escalated incidents, lift its quarantine and reset its action budget, so the
    watchdogs act again; who and why go on each active incident's timeline, and the acknowledgement is published.

    The budget reset is written in the same transaction as the first incident (both conditional on what was read).
    Raises :class:`NothingToDo` when the resource has neither an active incident nor a budget to reset."""

    def apply(state: ResourceState) -> OperatorResult:
        now = now_utc()
        result = OperatorResult("ack", resource_type, resource_id)
        incidents = state.active()
        had_budget = bool(state.budget.action_times) or state.budget.quarantined_until is not None
        if not incidents and not had_budget:
            raise NothingToDo(f"{resource_type.value} {resource_id} has no active incident and no quarantine")
        fresh = Budget(
            quarantine_reason=f"acknowledged by {by} at {iso(now)}: {reason}"[:300], version=state.budget.version + 1
        )
        result.quarantine_lifted = state.budget.is_quarantined(now)
        budget: tuple[Budget, Budget] | None = (state.budget, fresh)
        for incident in incidents:
            update: dict[str, object] = {}
            if incident.status is IncidentStatus.ESCALATED:
                update["hold_until"] = iso(now)
            acked = incident.append(_entry("acknowledged", by, reason, now)).model_copy(update=update)
            acked = acked.enqueue("acknowledged", iso(now))
            result.incidents.append(store.save(acked, expected_version=incident.version, budget=budget))
            budget = None
        if budget is not None:  # no active incident: the budget alone (an operator overwrite)
            store.put_budget(resource_type, resource_id, fresh)
        result.budget_reset = True
        return result

    return _retrying(apply, lambda: store.load(resource_type, resource_id))


def resolve(
    store: IncidentStoreProtocol, resource_type: ResourceType, resource_id: str, *, by: str, note: str
) -> OperatorResult:
    """Close the resource's active incidents as resolved by a person (what they did on the timeline), publish it.

    Raises :class:`NothingToDo` when nothing is active."""

    def apply(state: ResourceState) -> OperatorResult:
        now = now_utc()
        result = OperatorResult("resolve", resource_type, resource_id)
        incidents = state.active()
        if not incidents:
            raise NothingToDo(f"{resource_type.value} {resource_id} has no active incident")
        for incident in incidents:
            ended = incident.append(_entry("resolved", by, note, now)).model_copy(
                update={
                    "status": IncidentStatus.RESOLVED,
                    "summary": f"Resolved by {by}: {note}",
                    "resolved_at": iso(now),
                    "time_to_recover_seconds": round((now - parse_iso(incident.detected_at)).total_seconds(), 3),
                }
            )
            result.incidents.append(store.close(ended.enqueue("resolved", iso(now)), status=IncidentStatus.RESOLVED))
        return result

    return _retrying(apply, lambda: store.load(resource_type, resource_id))


def annotate(
    store: IncidentStoreProtocol, resource_type: ResourceType, resource_id: str, *, by: str, text: str
) -> OperatorResult:
    """Add a note to the timeline of the resource's active incidents (not published: see the module docstring).

    Raises :class:`NothingToDo` when nothing is active."""

    def apply(state: ResourceState) -> OperatorResult:
        now = now_utc()
        result = OperatorResult("note", resource_type, resource_id)
        incidents = state.active()
        if not incidents:
            raise NothingToDo(f"{resource_type.value} {resource_id} has no active incident to annotate")
        for incident in incidents:
            noted = incident.append(_entry("note", by, text, now))
            result.incidents.append(store.save(noted, expected_version=incident.version))
        return result

    return _retrying(apply, lambda: store.load(resource_type, resource_id))
