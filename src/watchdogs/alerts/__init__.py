"""Alert rendering: one incident transition -> a subject and a body per protocol, truthful and bounded.

* :mod:`.view` decides what the transition says (headline, next step, why a human, what was done);
* :mod:`.text` (email), :mod:`.chatbot` (AWS Chatbot custom notification) and :mod:`.machine` (SQS / Lambda JSON)
  lay it out;
* :mod:`.links` builds console deep links, the runbook link and the ``watchdogs-ops`` commands;
* :mod:`.quoting` and :mod:`.facts` keep untrusted text quoted, on one line, escaped and with query literals
  masked, and facts free of reprs, wire formats and internal codes.

:func:`render` is the entry point; :class:`watchdogs.notifier.Notifier` publishes what it returns.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdogs.alerts import chatbot, machine, text
from watchdogs.alerts.links import AlertContext
from watchdogs.alerts.view import build, subject_core, transition_steps

if TYPE_CHECKING:
    from watchdogs.incidents import Incident

__all__ = ["AlertContext", "Rendered", "clean_subject", "render", "subject_for"]

SUBJECT_MAX = 99  # SNS: "must be less than 100 characters"
#: SNS's limit on a whole message (every protocol's body together, as one JSON document)
SNS_MESSAGE_BYTES = 262_144
#: the text goes twice (default, email), the machine JSON three times: 2 x 40 KB + 3 x 50 KB + chat < 256 KB
TEXT_BUDGET_BYTES = 40_000
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def clean_subject(value: str) -> str:
    """An SNS subject: ASCII, no control characters or line breaks, starts with a letter/number/punctuation."""
    ascii_text = value.encode("ascii", "replace").decode("ascii")
    flat = _CONTROL.sub(" ", ascii_text).strip()
    flat = re.sub(r"\s{2,}", " ", flat) or "Lakehouse watchdog notification"
    if len(flat) > SUBJECT_MAX:
        flat = flat[: SUBJECT_MAX - 3].rstrip() + "..."
    return flat


def subject_for(incident: Incident, event: str) -> str:
    env = f"[{incident.environment}] " if incident.environment else ""
    return clean_subject(env + subject_core(incident, event, transition_steps(incident)))


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    machine: dict[str, Any]
    chatbot: dict[str, Any]


def _bounded_text(incident: Incident, event: str, ctx: AlertContext) -> str:
    body = text.render(build(incident, event, ctx))
    if len(json.dumps(body)) <= TEXT_BUDGET_BYTES:
        return body
    body = text.render(build(incident, event, ctx, timeline=5), evidence_lines=5)
    while len(json.dumps(body)) > TEXT_BUDGET_BYTES:  # the JSON-escaped size is what counts against SNS's limit
        body = body[: len(body) * 3 // 4].rsplit("\n", 1)[0]
        body += "\n\n(cut to fit the message size limit: see the incident with the show command)\n"
    return body


def render(incident: Incident, event: str, message_id: str, ctx: AlertContext | None = None) -> Rendered:
    """Every body of the notification of ``incident``'s transition ``event`` (the incident as of that transition)."""
    ctx = ctx or AlertContext()
    view = build(incident, event, ctx)
    subject = subject_for(incident, event)
    payload = chatbot.render(view, incident, subject, message_id)
    if len(json.dumps(payload)) > chatbot.LIMITS["description"] * 2:
        payload = chatbot.render(
            build(incident, event, ctx, timeline=0), incident, subject, message_id, evidence_lines=3
        )
    return Rendered(
        subject=subject,
        text=_bounded_text(incident, event, ctx),
        machine=machine.render(incident, view, subject, message_id),
        chatbot=payload,
    )
