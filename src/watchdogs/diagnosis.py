"""Evidence attached to an incident after its transition is recorded: the engine's one call into diagnosis.

The order is the guarantee: the decision, its intents, its calls and its notification are already written when
evidence is gathered, so gathering can neither delay nor fail a remediation, and a crash here loses nothing (the
next flush sends the notification without evidence). The evidence is written by the outbox flush that follows,
in the same conditional write that marks the notification sent (no write of its own). The gatherer is the
runbook's own (``remediator.evidence``), time-boxed (:class:`~watchdogs.runbooks.evidence.TimeBox`); each item it
cannot gather is recorded as unavailable. Evidence is gathered only for a transition people are about to be told
of, so a quiet repeat costs no read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.contracts import entry
from watchdogs.incidents import iso
from watchdogs.observability import count, logger
from watchdogs.runbooks.evidence import TIMELINE_KINDS, TimeBox

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.contracts import Remediator
    from watchdogs.incidents import Evidence, Incident
    from watchdogs.models.domain import Finding


def _gather(remediator: Remediator, finding: Finding, facts: dict[str, Any]) -> list[Evidence]:
    gather = getattr(remediator, "evidence", None)
    if gather is None:
        return []
    try:
        return list(gather(finding, facts, TimeBox()))
    except Exception as exc:  # a gatherer's bug must not fail the invocation after the transition
        logger.exception("evidence gathering failed", resource=finding.resource_key, error=str(exc)[:300])
        count("EvidenceFailed", resource_type=finding.resource_type.value)
        return []


def attach_evidence(
    remediator: Remediator, finding: Finding, facts: dict[str, Any], incident: Incident | None, now: datetime
) -> Incident | None:
    """``incident`` with the runbook's evidence for this finding when a notification of it is pending (else, or
    when nothing was gathered, ``incident`` unchanged). Not written here: the outbox flush that follows writes it
    with the notification's mark (no extra write), and the message it publishes carries it."""
    if incident is None or not incident.is_active or not incident.outbox:
        return incident
    stamp = iso(now)  # the engine's clock (the one every timeline entry uses), not each gatherer's wall clock
    found = [item.model_copy(update={"at": stamp}) for item in _gather(remediator, finding, facts)]
    if not found:
        return incident
    kinds = {item.kind for item in found}
    evidence = [item for item in incident.evidence if item.kind not in kinds] + found
    entries = [
        entry(now, "evidence", f"{e.title}: unavailable ({e.unavailable})" if e.unavailable else e.title, step=e.kind)
        for e in found
        if e.kind in TIMELINE_KINDS
    ]
    return incident.append(*entries).model_copy(update={"evidence": evidence})
