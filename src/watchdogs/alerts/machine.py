"""The SQS / Lambda / email-json body: the incident as JSON for machines, plus the rendered alert's parts.

Schema ``lakehouse-watchdogs/incident/v1``: the incident record's public fields (no lease, outbox, intents or write
token), ``facts`` in plain JSON (DynamoDB's wire format unwrapped, query previews left out), the last
:data:`TIMELINE_IN_MESSAGE` timeline entries, and ``alert``: the headline, next steps, links and commands people
see. Bounded: an incident of any size renders under :data:`BUDGET_BYTES`.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from watchdogs.alerts.facts import plain
from watchdogs.alerts.quoting import mask_literals
from watchdogs.incidents.record import cap_value

if TYPE_CHECKING:
    from watchdogs.alerts.view import AlertView
    from watchdogs.incidents import Incident

SCHEMA = "lakehouse-watchdogs/incident/v1"
TIMELINE_IN_MESSAGE = 50
#: one machine body; the message carries it three times (email-json, sqs, lambda) under SNS's 256 KB
BUDGET_BYTES = 50_000
_PRIVATE = {"lease_owner", "lease_until", "outbox", "intents", "write_token", "decision_key", "event_keys"}


def public_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts safe to send to subscribers, in plain JSON: previews of query text stay out, and literals a query
    holds are masked wherever AWS quoted them back (error messages)."""
    return {k: masked(plain(v)) for k, v in facts.items() if not k.endswith("_preview") and not k.startswith("_")}


def encoded_size(body: Any) -> int:
    """Bytes ``body`` takes inside the SNS message (JSON, then a JSON string in the per-protocol document)."""
    return len(json.dumps(json.dumps(body, separators=(",", ":"), default=str)))


def masked(value: Any) -> Any:
    """``value`` with query literals masked in every string it holds."""
    if isinstance(value, str):
        return mask_literals(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v) for v in value]
    return value


def render(incident: Incident, view: AlertView, subject: str, message_id: str) -> dict[str, Any]:
    body = incident.model_dump(mode="json", exclude=_PRIVATE | {"timeline", "facts", "evidence"})
    body.update(
        message_id=message_id,
        event=view.event,
        schema=SCHEMA,
        facts=public_facts(cap_value(incident.facts)),
        summary=view.summary,
        advice=masked(incident.advice),
        evidence=masked([e.model_dump(mode="json") for e in incident.evidence[-10:]]),
        timeline=masked([e.model_dump(mode="json") for e in incident.timeline[-TIMELINE_IN_MESSAGE:]]),
        alert={
            "subject": subject,
            "headline": view.headline,
            "next_steps": view.next_steps,
            "next_command": view.commands[view.next_command] if view.next_command else None,
            "why_human": view.why_human,
            "done": view.done,
            "links": [asdict(link) for link in view.links] + ([asdict(view.runbook)] if view.runbook else []),
            "commands": view.commands,
        },
    )
    for chars, items in ((300, 10), (100, 5), (40, 2)):
        if encoded_size(body) <= BUDGET_BYTES:
            break
        body.update(
            summary=str(body.get("summary", ""))[: chars * 4],
            advice=[str(a)[:chars] for a in body.get("advice", [])[:items]],
            facts=cap_value(body["facts"], chars=chars, items=items, keys=items * 3, depth=2),
            evidence=cap_value(body["evidence"][-items:], chars=chars, items=items),
            timeline=body["timeline"][-items:],
            actions_done=dict(list(body.get("actions_done", {}).items())[:items]),
            timeline_counts=dict(list(body.get("timeline_counts", {}).items())[: items * 2]),
            truncated=True,
        )
    if encoded_size(body) > BUDGET_BYTES:  # still too big (a pathological record): keep the identity and the alert
        body.update(facts={}, evidence=[], timeline=[], actions_done={}, advice=[], summary=str(body["summary"])[:500])
    return body
