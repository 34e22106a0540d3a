"""An in-memory incident store with the DynamoDB store's semantics (conditional versions, one active incident per
(resource, condition), history, budgets, pending outbox), for pure and property tests. ``faults`` lets a test make
the next write fail before or after it lands."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from watchdogs.incidents.base import (
    ConcurrentUpdate,
    StoreError,
    closed_record,
    history_sk,
    new_incident_record,
    stamped,
)
from watchdogs.incidents.record import Budget, Incident, ResourceState
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType

if TYPE_CHECKING:
    from datetime import datetime

Key = tuple[ResourceType, str]


@dataclass
class MemoryIncidentStore:
    environment: str = "test"
    current: dict[tuple[ResourceType, str, Condition], Incident] = field(default_factory=dict)
    closed: dict[tuple[ResourceType, str, str], Incident] = field(default_factory=dict)
    budgets: dict[Key, Budget] = field(default_factory=dict)
    #: a list of "before" / "after" markers: the next write fails before landing, or lands and then fails
    faults: list[str] = field(default_factory=list)
    writes: int = 0

    def _fault(self, landed: bool) -> None:
        if self.faults and self.faults[0] == ("after" if landed else "before"):
            self.faults.pop(0)
            raise StoreError(f"injected store fault ({'after' if landed else 'before'} the write)")

    # ------------------------------------------------------------------------------------------------ reads
    def load(self, resource_type: ResourceType, resource_id: str) -> ResourceState:
        state = ResourceState(resource_type=resource_type, resource_id=resource_id)
        for (rtype, rid, condition), incident in self.current.items():
            if rtype is resource_type and rid == resource_id:
                state.incidents[condition] = incident.model_copy(deep=True)
        budget = self.budgets.get((resource_type, resource_id))
        if budget is not None:
            state.budget = Budget(
                list(budget.action_times), budget.quarantined_until, budget.quarantine_reason, budget.version
            )
        return state

    def list_open(self, limit: int = 100) -> list[Incident]:
        active = [i for i in self.current.values() if i.is_active]
        return sorted(active, key=lambda i: i.updated_at, reverse=True)[:limit]

    def list_pending(self, limit: int = 100) -> list[Incident]:
        pending = [i for i in (*self.current.values(), *self.closed.values()) if i.outbox]
        return [i.model_copy(deep=True) for i in pending[:limit]]

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]:
        found = [i for (rtype, rid, _), i in self.closed.items() if rtype is resource_type and rid == resource_id]
        return sorted(found, key=lambda i: i.detected_at)

    def all_incidents(self) -> list[Incident]:
        return [*self.current.values(), *self.closed.values()]

    # ------------------------------------------------------------------------------------------------ writes
    def new_incident(
        self,
        resource_type: ResourceType,
        resource_id: str,
        condition: Condition,
        *,
        status: IncidentStatus,
        detected_at: datetime,
        **fields: Any,
    ) -> Incident:
        return new_incident_record(
            resource_type,
            resource_id,
            condition,
            status=status,
            detected_at=detected_at,
            environment=self.environment,
            **fields,
        )

    def save(
        self, incident: Incident, *, expected_version: int, budget: tuple[Budget, Budget] | None = None
    ) -> Incident:
        self._fault(landed=False)
        key = (incident.resource_type, incident.resource_id, incident.condition)
        existing = self.current.get(key)
        if (existing.version if existing else 0) != expected_version:
            raise ConcurrentUpdate(f"{incident.resource_key}/{incident.condition} changed concurrently")
        bkey = (incident.resource_type, incident.resource_id)
        if budget is not None and self.budgets.get(bkey, Budget()).version != budget[0].version:
            raise ConcurrentUpdate(f"{incident.resource_key} budget changed concurrently")
        saved = stamped(incident, expected_version)
        self.current[key] = saved.model_copy(deep=True)
        if budget is not None:
            new = budget[1]
            self.budgets[bkey] = Budget(
                list(new.action_times), new.quarantined_until, new.quarantine_reason, budget[0].version + 1
            )
        self.writes += 1
        self._fault(landed=True)
        return saved

    def close(self, incident: Incident, *, status: IncidentStatus = IncidentStatus.RESOLVED) -> Incident:
        self._fault(landed=False)
        key = (incident.resource_type, incident.resource_id, incident.condition)
        existing = self.current.get(key)
        if existing is None or existing.version != incident.version:
            raise ConcurrentUpdate(f"{incident.resource_key}/{incident.condition} changed concurrently")
        closed = stamped(closed_record(incident, status), incident.version)
        del self.current[key]
        self.closed[(incident.resource_type, incident.resource_id, history_sk(closed))] = closed.model_copy(deep=True)
        self.writes += 1
        self._fault(landed=True)
        return closed

    def save_closed(self, incident: Incident, *, expected_version: int) -> Incident:
        self._fault(landed=False)
        key = (incident.resource_type, incident.resource_id, history_sk(incident))
        existing = self.closed.get(key)
        if existing is None or existing.version != expected_version:
            raise ConcurrentUpdate(f"{incident.resource_key}/{incident.condition} (closed) changed concurrently")
        saved = stamped(incident, expected_version)
        self.closed[key] = saved.model_copy(deep=True)
        self.writes += 1
        self._fault(landed=True)
        return saved

    def put_budget(self, resource_type: ResourceType, resource_id: str, budget: Budget) -> None:
        self.budgets[(resource_type, resource_id)] = budget
