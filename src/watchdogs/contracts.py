"""The contracts between the engine and the rest: what a runbook's remediator provides, and what one finding
led to (the handlers' small summary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from watchdogs.incidents import TimelineEntry, iso

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime

    from watchdogs.incidents import Incident, ResourceState
    from watchdogs.models.domain import Decision, Finding, ResourceType


class Remediator(Protocol):
    """One resource type's watchdog: scope, facts (AWS reads) and the pure runbook decision."""

    resource_type: ResourceType
    #: IAM actions ``inspect`` needs (the meta-test checks template.yaml grants them)
    read_permissions: tuple[str, ...]
    #: names of :data:`watchdogs.actions.ACTIONS` its decisions may plan; the engine refuses any other
    action_names: tuple[str, ...]

    def in_scope(self, finding: Finding) -> bool:
        """Cheap scope check on the resource's own name/ARN, before any AWS call."""
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
    pending_notifications: int = 0
    #: the incident's pending step after this finding, and since when (a step timer re-arms from these; not in
    #: :meth:`as_dict`, the handlers' summary)
    pending_step: str | None = None
    pending_since: str | None = None

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
            "pending_notifications": self.pending_notifications,
        }


def facts_for_record(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts worth keeping on the incident (drop bulky or internal ones)."""
    return {k: v for k, v in facts.items() if k not in {"opted_out", "tags", "raw"} and v is not None}


def facts_after(previous: dict[str, Any], read: Mapping[str, Any]) -> dict[str, Any]:
    """An incident's facts after a fresh read: what it read replaces what was, and what it found absent (None)
    goes, so a closing alert never shows a value from an earlier read as current."""
    merged = dict(previous)
    for key, value in read.items():
        if key in {"opted_out", "tags", "raw"}:
            continue
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def entry(now: datetime, kind: str, detail: str = "", **fields: Any) -> TimelineEntry:
    return TimelineEntry(at=iso(now), kind=kind, detail=detail, **fields)
