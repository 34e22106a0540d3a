"""The incident commands: ``open``, ``show``, ``ack``, ``resolve``, ``note``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import operator
from watchdogs.incidents.record import now_utc
from watchdogs.models.domain import ResourceType
from watchdogs.ops.names import resolve
from watchdogs.ops.render import INCIDENT_HEADERS, incident_detail, incident_row, short, table
from watchdogs.ops.target import NotFound

if TYPE_CHECKING:
    import argparse

    from watchdogs.incidents import Incident, IncidentStore
    from watchdogs.ops.target import Target


@dataclass
class Output:
    """What a command prints: ``text`` for people, ``data`` for ``--json``."""

    text: str
    data: Any
    code: int = 0


def _summary(incident: Incident) -> dict[str, Any]:
    return incident.model_dump(mode="json", exclude={"timeline", "facts", "evidence", "intents", "outbox"})


def list_open(target: Target, store: IncidentStore, args: argparse.Namespace) -> Output:
    incidents = store.list_open(args.limit)
    data = [_summary(i) for i in incidents]
    if not incidents:
        return Output(f"No open incidents in {target.table}.", data)
    text = f"Open incidents in {target.table} (newest first): {len(incidents)}\n"
    text += table(INCIDENT_HEADERS, [incident_row(i) for i in incidents])
    text += "\nNext: `show <type> <name>` for one; once fixed, `ack` (the watchdogs act again) or `resolve`."
    return Output(text, data)


def show(target: Target, store: IncidentStore, args: argparse.Namespace) -> Output:
    resource_type = ResourceType(args.resource_type)
    resource_id = resolve(target, store, resource_type, args.name)
    state = store.load(resource_type, resource_id)
    history = store.history(resource_type, resource_id)
    budget = state.budget
    quarantined = budget.is_quarantined(now_utc())
    data = {
        "resource": f"{resource_type.value}#{resource_id}",
        "resource_id": resource_id,
        "quarantined": quarantined,
        "quarantined_until": budget.quarantined_until,
        "quarantine_reason": budget.quarantine_reason,
        "recent_actions": len(budget.action_times),
        "active": [i.model_dump(mode="json") for i in state.active()],
        "history": [_summary(i) for i in history],
    }
    lines = [f"{resource_type.value} {resource_id}"]
    lines.append(
        f"  budget: {len(budget.action_times)} recent action(s); "
        + (
            f"QUARANTINED until {budget.quarantined_until} ({budget.quarantine_reason})"
            if quarantined
            else "not quarantined"
        )
    )
    active = state.active()
    lines.append(f"  active incidents: {len(active)}")
    lines += [incident_detail(i) for i in active]
    if history:
        lines.append(f"  closed incidents: {len(history)}")
        rows = [[i.condition.value, i.status.value, i.classification, i.detected_at, i.resolved_at] for i in history]
        lines.append(table(("CONDITION", "STATUS", "CLASSIFICATION", "DETECTED", "CLOSED"), rows[-10:], indent="    "))
    return Output("\n".join(lines), data)


def _publish(target: Target, store: IncidentStore, incidents: list[Incident]) -> tuple[int, int]:
    """Flush the incidents' outboxes (the transition just written); returns (sent, still pending)."""
    from watchdogs.notifier import Notifier  # noqa: PLC0415
    from watchdogs.outbox import flush  # noqa: PLC0415

    if not target.topic_arn:
        return 0, sum(len(i.outbox) for i in incidents)
    notifier = Notifier(target.topic_arn, target.client("sns"))
    sent = pending = 0
    for incident in incidents:
        _, flushed = flush(incident, store, notifier)
        sent, pending = sent + flushed.sent, pending + flushed.pending
    return sent, pending


def _operate(target: Target, store: IncidentStore, args: argparse.Namespace) -> Output:
    resource_type = ResourceType(args.resource_type)
    resource_id = resolve(target, store, resource_type, args.name)
    try:
        if args.command == "ack":
            result = operator.acknowledge(store, resource_type, resource_id, by=args.by, reason=args.reason)
        elif args.command == "resolve":
            result = operator.resolve(store, resource_type, resource_id, by=args.by, note=args.note)
        else:
            result = operator.annotate(store, resource_type, resource_id, by=args.by, text=args.text)
    except operator.NothingToDo as exc:
        raise NotFound(str(exc)) from None
    sent, pending = _publish(target, store, result.incidents) if args.command != "note" else (0, 0)
    data = {
        "operation": result.operation,
        "resource": f"{resource_type.value}#{resource_id}",
        "incidents": [{"incident_id": i.incident_id, "status": i.status.value} for i in result.incidents],
        "budget_reset": result.budget_reset,
        "quarantine_lifted": result.quarantine_lifted,
        "published": sent,
        "pending": pending,
    }
    return Output(_operated_text(result, resource_id, sent, pending), data)


def _operated_text(result: operator.OperatorResult, resource_id: str, sent: int, pending: int) -> str:
    what = {"ack": "acknowledged", "resolve": "resolved", "note": "noted"}[result.operation]
    lines = [f"{what}: {result.resource_type.value} {short(resource_id)}"]
    for i in result.incidents:
        held = result.operation == "ack" and i.status.value == "escalated"
        lines.append(
            f"  incident {i.incident_id} {i.condition.value} {i.status.value}" + (": hold ended" if held else "")
        )
    if result.operation == "ack":
        lines.append(
            "  budget reset" + (", quarantine lifted" if result.quarantine_lifted else "") + ": the watchdogs act again"
        )
    if result.operation != "note":
        lines.append(
            f"  published {sent} notification(s)"
            + (f", {pending} pending (the next sweep publishes them)" if pending else "")
        )
    return "\n".join(lines)


ack = resolve_incidents = note = _operate
