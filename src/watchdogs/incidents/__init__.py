"""Incidents: the record (:mod:`.record`), the DynamoDB store (:mod:`.store`) and an in-memory fake
(:mod:`.memory`) with the same interface, for pure tests and property tests."""

from watchdogs.incidents.record import (
    Budget,
    Evidence,
    Incident,
    Intent,
    OutboxEntry,
    ResourceState,
    TimelineEntry,
    iso,
    now_utc,
    parse_iso,
)
from watchdogs.incidents.store import (
    OPEN_FLAG,
    OPEN_INDEX,
    OUTBOX_FLAG,
    OUTBOX_INDEX,
    ConcurrentUpdate,
    IncidentStore,
    IncidentStoreProtocol,
    StoreError,
    incident_from_item,
    resource_pk,
)

__all__ = [
    "OPEN_FLAG",
    "OPEN_INDEX",
    "OUTBOX_FLAG",
    "OUTBOX_INDEX",
    "Budget",
    "ConcurrentUpdate",
    "Evidence",
    "Incident",
    "IncidentStore",
    "IncidentStoreProtocol",
    "Intent",
    "OutboxEntry",
    "ResourceState",
    "StoreError",
    "TimelineEntry",
    "incident_from_item",
    "iso",
    "now_utc",
    "parse_iso",
    "resource_pk",
]
