"""The notification outbox: pending notifications live on the incident until SNS accepts them.

A transition's notification is written (as an :class:`~watchdogs.incidents.record.OutboxEntry`) in the same
write as the transition, so it cannot be lost; :func:`flush` publishes what is pending and removes what SNS
accepted, with a conditional write. Publishing and marking are two steps, so a crash between them sends the
message again on the next flush: every message carries its stable ``message_id`` (attribute and body) for the
subscriber to drop repeats. Flushes happen at the end of every invocation that touched an incident, on every
sweep (``outbox-index``) and on a redelivered event whose first delivery left notifications pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchdogs.incidents.base import ConcurrentUpdate, StoreError
from watchdogs.incidents.record import Incident, OutboxEntry, cap_text
from watchdogs.models.domain import IncidentStatus, Severity
from watchdogs.notifier import NotifyError
from watchdogs.observability import count, logger

if TYPE_CHECKING:
    from watchdogs.incidents.base import IncidentStoreProtocol
    from watchdogs.notifier import Notifier


@dataclass
class Flushed:
    sent: int = 0
    failed: int = 0
    pending: int = 0


def as_of(incident: Incident, entry: OutboxEntry) -> Incident:
    """The incident as it was at the transition the entry reports: its snapshot over the current record, and the
    timeline up to the transition (what was done then, not what was done since)."""
    snap = entry.snapshot
    update: dict[str, object] = {k: v for k, v in snap.items() if k in Incident.model_fields and v is not None}
    update["timeline"] = [e for e in incident.timeline if e.at <= entry.at]
    if "status" in snap:
        update["status"] = IncidentStatus(str(snap["status"]))
    if "severity" in snap:
        update["severity"] = Severity(str(snap["severity"]))
    return incident.model_copy(update=update)


def flush(incident: Incident, store: IncidentStoreProtocol, notifier: Notifier) -> tuple[Incident, Flushed]:
    """Publish ``incident``'s pending notifications, oldest first; stop at the first failure (SNS is down: the
    rest stays pending in order). Returns the incident as stored afterwards."""
    result = Flushed()
    if not incident.outbox:
        return incident, result
    remaining = list(incident.outbox)
    updated: list[OutboxEntry] = []
    while remaining:
        entry = remaining.pop(0)
        try:
            message_id = notifier.publish(as_of(incident, entry), entry.event, message_id=entry.message_id)
        except NotifyError as exc:
            logger.error("notification failed; kept pending", incident=incident.incident_id, error=str(exc)[:300])
            count("NotifyFailed")
            result.failed += 1
            updated.append(
                entry.model_copy(update={"attempts": entry.attempts + 1, "last_error": cap_text(str(exc), 300)})
            )
            updated.extend(remaining)
            break
        logger.info("notified", incident=incident.incident_id, event=entry.event, sns_message_id=message_id)
        count("Notified")
        result.sent += 1
    result.pending = len(updated)
    after = incident.model_copy(update={"outbox": updated})
    try:
        if incident.is_active:
            stored = store.save(after, expected_version=incident.version)
        else:
            stored = store.save_closed(after, expected_version=incident.version)
    except (ConcurrentUpdate, StoreError) as exc:
        # the messages went out; marking them failed: the next flush re-sends them under the same message ids
        logger.warning("could not mark notifications sent", incident=incident.incident_id, error=str(exc)[:300])
        count("OutboxMarkFailed")
        return incident, result
    return stored, result
