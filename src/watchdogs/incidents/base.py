"""What every incident store shares: its errors, its interface (the DynamoDB store and the in-memory fake both
implement :class:`IncidentStoreProtocol`), and the record transformations both apply on write."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Protocol

from watchdogs.incidents.record import Budget, Incident, ResourceState, iso, now_utc
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType

if TYPE_CHECKING:
    from datetime import datetime


class StoreError(RuntimeError):
    """The incident table could not be read or written (translated from botocore errors)."""


class ConcurrentUpdate(RuntimeError):  # noqa: N818 - a signal, not an error condition
    """Another invocation changed the incident first: this one must not act."""


class IncidentStoreProtocol(Protocol):
    """What the engine, the sweep and the CLI need of an incident store (DynamoDB, or the in-memory fake)."""

    environment: str

    def load(self, resource_type: ResourceType, resource_id: str) -> ResourceState: ...

    def list_open(self, limit: int = 100) -> list[Incident]: ...

    def list_pending(self, limit: int = 100) -> list[Incident]: ...

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]: ...

    def new_incident(
        self,
        resource_type: ResourceType,
        resource_id: str,
        condition: Condition,
        *,
        status: IncidentStatus,
        detected_at: datetime,
        **fields: Any,
    ) -> Incident: ...

    def save(
        self, incident: Incident, *, expected_version: int, budget: tuple[Budget, Budget] | None = None
    ) -> Incident: ...

    def close(self, incident: Incident, *, status: IncidentStatus = IncidentStatus.RESOLVED) -> Incident: ...

    def save_closed(self, incident: Incident, *, expected_version: int) -> Incident: ...

    def put_budget(self, resource_type: ResourceType, resource_id: str, budget: Budget) -> None: ...


def resource_pk(resource_type: ResourceType, resource_id: str) -> str:
    return f"RES#{resource_type.value}#{resource_id}"


def history_sk(incident: Incident) -> str:
    return f"HIST#{incident.condition.value}#{incident.detected_at}#{incident.incident_id}"


def new_incident_record(
    resource_type: ResourceType,
    resource_id: str,
    condition: Condition,
    *,
    status: IncidentStatus,
    detected_at: datetime,
    environment: str,
    **fields: Any,
) -> Incident:
    return Incident(
        incident_id=str(uuid.uuid4()),
        resource_type=resource_type,
        resource_id=resource_id,
        condition=condition,
        status=status,
        environment=environment,
        detected_at=iso(detected_at),
        updated_at=iso(now_utc()),
        **fields,
    )


def stamped(incident: Incident, expected_version: int) -> Incident:
    """The incident as written: next version, a fresh write token, bounded."""
    return incident.model_copy(
        update={"version": expected_version + 1, "updated_at": iso(now_utc()), "write_token": uuid.uuid4().hex}
    ).bounded()


def closed_record(incident: Incident, status: IncidentStatus) -> Incident:
    closed_at = now_utc()
    return incident.model_copy(
        update={
            "status": status,
            "resolved_at": incident.resolved_at or iso(closed_at),
            "lease_owner": None,
            "lease_until": None,
            "pending_step": None,
            "intents": [],
        }
    )
