"""The finding that hands an active incident back to its remediation (the sweep's resume, a step timer firing).

Its own small module: a step timer firing in an event function needs it without loading the sweep.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Finding, ResourceType
from watchdogs.shared import state_machine_of

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import Incident

__all__ = ["incident_scope_key", "resume_finding"]


def incident_scope_key(incident: Incident) -> str:
    """What the scope rules match for an incident's resource (crawler name, workgroup, state machine ARN)."""
    if incident.resource_type is ResourceType.CRAWLER:
        return incident.resource_id
    if incident.resource_type is ResourceType.EXECUTION:
        return str(incident.facts.get("state_machine_arn") or state_machine_of(incident.resource_id))
    return str(incident.facts.get("workgroup") or incident.facts.get("scope_key") or "")


def resume_finding(incident: Incident, now: datetime, source: str = "sweep") -> Finding:
    """The finding that hands an active incident back to its remediation: continue its pending step, or resolve
    if recovered (the sweep's resume, and a step timer firing: :mod:`watchdogs.timer_check`)."""
    facts: dict[str, Any] = {"sweep": "resume", "incident_status": incident.status.value}
    if incident.pending_step:
        facts["pending_step"] = incident.pending_step
    return Finding(
        resource_type=incident.resource_type,
        resource_id=incident.resource_id,
        condition=incident.condition,
        source=source,
        observed_at=now,
        scope_key=incident_scope_key(incident),
        facts=facts,
    )
