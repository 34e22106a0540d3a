"""The parts that make a replay provably write-free.

* :func:`read_only_session`: a boto3 session whose every client refuses, *before sending*, any operation that is
  not a read (``Get*``, ``List*``, ``Describe*``, ``Query``, ``Scan``, ``BatchGet*``...): a mutating call raises
  :class:`ReadOnlyViolation` instead of reaching AWS.
* :class:`OverlayStore`: reads the real incident table, writes into an in-memory overlay (so a later event of the
  replay sees what an earlier one would have written) and records every write it absorbed.
* :class:`RecordingNotifier`: records the notifications instead of publishing them.
* :class:`DryRunEngine`: the real engine (scope, reads, runbook decisions, lifecycle plan, claims, outbox) whose
  mutating calls are recorded as "not called" instead of made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.contracts import entry
from watchdogs.engine import Engine
from watchdogs.incidents import Budget, Incident, IncidentStore, ResourceState, iso
from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.notifier import Notifier

if TYPE_CHECKING:
    from datetime import datetime

    import boto3

    from watchdogs.contracts import HandleResult

READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Search", "Lookup")


class ReadOnlyViolation(RuntimeError):  # noqa: N818 - the guard's refusal
    """A mutating AWS operation was attempted during a dry run (and was not sent)."""


def is_read(operation: str) -> bool:
    return operation.startswith(READ_PREFIXES)


def read_only_session(profile: str | None, region: str) -> boto3.Session:
    """A session whose clients raise :class:`ReadOnlyViolation` before sending any non-read operation."""
    import boto3  # noqa: PLC0415

    session = boto3.Session(profile_name=profile, region_name=region)

    def refuse(model: Any, **_: Any) -> None:
        if not is_read(model.name):
            raise ReadOnlyViolation(f"{model.service_model.service_name}:{model.name} refused: dry run is read-only")

    session.events.register("before-call", refuse)
    return session


class RecordingNotifier(Notifier):
    """Publishes nothing; keeps (subject, event, status) of each notification that would have been sent."""

    def __init__(self, topic_arn: str = "") -> None:
        super().__init__(topic_arn or "arn:aws:sns:dry-run")
        self.sent: list[tuple[str, str, str]] = []

    def publish(self, incident: Incident, event: str, message_id: str | None = None) -> str:
        self.sent.append((self.message(incident, event, message_id)["Subject"], event, incident.status.value))
        return f"dry-run-{len(self.sent)}"


class OverlayStore:
    """Reads through to the real table, writes into memory (recorded in :attr:`writes`, never sent)."""

    def __init__(self, real: IncidentStore) -> None:
        self.real = real
        self.environment = real.environment
        self.memory = MemoryIncidentStore(environment=real.environment)
        self.seen: set[tuple[ResourceType, str]] = set()
        self.writes: list[str] = []

    def _seed(self, resource_type: ResourceType, resource_id: str) -> None:
        if (resource_type, resource_id) in self.seen:
            return
        self.seen.add((resource_type, resource_id))
        state = self.real.load(resource_type, resource_id)
        for condition, incident in state.incidents.items():
            self.memory.current[(resource_type, resource_id, condition)] = incident
        self.memory.budgets[(resource_type, resource_id)] = state.budget

    def load(self, resource_type: ResourceType, resource_id: str) -> ResourceState:
        self._seed(resource_type, resource_id)
        return self.memory.load(resource_type, resource_id)

    def list_open(self, limit: int = 100) -> list[Incident]:
        real = [i for i in self.real.list_open(limit) if (i.resource_type, i.resource_id) not in self.seen]
        return sorted([*real, *self.memory.list_open(limit)], key=lambda i: i.updated_at, reverse=True)[:limit]

    def list_pending(self, limit: int = 100) -> list[Incident]:
        real = [i for i in self.real.list_pending(limit) if (i.resource_type, i.resource_id) not in self.seen]
        return [*real, *self.memory.list_pending(limit)][:limit]

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]:
        return [*self.real.history(resource_type, resource_id), *self.memory.history(resource_type, resource_id)]

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
        return self.memory.new_incident(
            resource_type, resource_id, condition, status=status, detected_at=detected_at, **fields
        )

    def save(
        self, incident: Incident, *, expected_version: int, budget: tuple[Budget, Budget] | None = None
    ) -> Incident:
        self._seed(incident.resource_type, incident.resource_id)
        self.writes.append(f"save {incident.resource_key} {incident.condition.value} -> {incident.status.value}")
        return self.memory.save(incident, expected_version=expected_version, budget=budget)

    def close(self, incident: Incident, *, status: IncidentStatus = IncidentStatus.RESOLVED) -> Incident:
        self._seed(incident.resource_type, incident.resource_id)
        self.writes.append(f"close {incident.resource_key} {incident.condition.value} -> {status.value}")
        return self.memory.close(incident, status=status)

    def save_closed(self, incident: Incident, *, expected_version: int) -> Incident:
        self.writes.append(f"update closed {incident.resource_key}")
        return self.memory.save_closed(incident, expected_version=expected_version)

    def put_budget(self, resource_type: ResourceType, resource_id: str, budget: Budget) -> None:
        self._seed(resource_type, resource_id)
        self.writes.append(f"budget {resource_type.value}#{resource_id}")
        self.memory.put_budget(resource_type, resource_id, budget)


class DryRunEngine(Engine):
    """The real engine, except that each mutating call it would make is recorded as made (``<action>:not-called``)
    instead of made, so the rest of the replay sees the state it would have led to."""

    def _act(self, claimed: Incident, now: datetime, result: HandleResult) -> Incident:
        done = dict(claimed.actions_done)
        entries = []
        for intent in claimed.intents:
            result.actions.append(f"{intent.action}:not-called")
            done[intent.action] = iso(now)
            entries.append(entry(now, "action", f"{intent.target} (dry run)", step=intent.action, outcome="dry-run"))
        return self._record(claimed, entries, [], None, done, claimed.attempts + len(claimed.intents), now)
