"""The AWS Chatbot (Amazon Q Developer in chat applications) custom notification, schema version 1.0.

``content.textType`` is ``client-markdown``: links are real markdown links, commands are code spans, and every text
from an incident is escaped (markdown and HTML inert) and quoted where it comes from AWS. Sizes stay within
conservative limits (:data:`LIMITS`), checked by the golden-file tests against the schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.alerts.quoting import code_span, escape_markdown, mask_literals, md_quoted, one_line

if TYPE_CHECKING:
    from watchdogs.alerts.view import AlertView
    from watchdogs.incidents import Incident

#: our ceilings on the payload's fields (characters / items); the chat clients truncate long text anyway
LIMITS = {"title": 250, "description": 8000, "next_steps": 8, "next_step": 600, "keywords": 10, "keyword": 75}


def _link(label: str, url: str) -> str:
    if url.startswith("https://"):
        return f"[{escape_markdown(label)}]({url})"
    return f"{escape_markdown(label)}: {code_span(url)}"


def _description(view: AlertView, evidence_lines: int) -> str:
    parts = [f"*{escape_markdown(view.headline)}*"]
    if view.why_human:
        parts.append(f"*Why a human is needed now:* {escape_markdown(view.why_human)}")
    if view.summary:
        label = (
            "What the runbook decided (not carried out: observe mode)" if view.event == "observed" else "What happened"
        )
        parts.append(f"*{label}:* {escape_markdown(view.summary)}")
    if view.done:
        title = "What the watchdogs would have done" if view.event == "observed" else "What the watchdogs did"
        parts.append(f"*{title}:*\n" + "\n".join(f"• {escape_markdown(d)}" for d in view.done))
    if view.facts:
        rows = [
            f"• {escape_markdown(f.label)}: {md_quoted(f.value, 300) if f.untrusted else escape_markdown(f.value)}"
            for f in view.facts
        ]
        parts.append("*Facts* (quoted values are untrusted text from AWS):\n" + "\n".join(rows))
    for item in view.evidence:
        head = f"*Evidence: {escape_markdown(one_line(item.title, 60))}*"
        if item.unavailable:
            parts.append(f"{head}\nevidence unavailable: {md_quoted(item.unavailable, 300)}")
            continue
        quoted_lines = [f"> {md_quoted(mask_literals(line), 300)}" for line in item.lines[:evidence_lines]]
        source = [f"source: {md_quoted(item.source, 200)}"] if item.source else []
        parts.append("\n".join([head, *quoted_lines, *source]))
    links = [_link(link.label, link.url) for link in view.links]
    if view.runbook:
        links.append(_link(f"Runbook: {view.runbook.label}", view.runbook.url))
    if links:
        parts.append("*Links:* " + " · ".join(links))
    return "\n\n".join(parts)


def render(
    view: AlertView, incident: Incident, subject: str, message_id: str, *, evidence_lines: int = 25
) -> dict[str, Any]:
    steps = [escape_markdown(s) for s in view.next_steps[: LIMITS["next_steps"] - 2]]
    if view.next_command:
        steps[0] = f"{steps[0]} {code_span(view.commands[view.next_command])}"
    if view.next_command != "show":
        steps.append(f"See it: {code_span(view.commands['show'])}")
    if view.event not in {"resolved", "closed"} and view.next_command != "ack":
        steps.append(f"Acknowledge: {code_span(view.commands['ack'])}")
    description = _description(view, evidence_lines)
    if len(description) > LIMITS["description"]:
        description = description[: LIMITS["description"] - 40].rsplit("\n", 1)[0] + "\n\n_(cut: see the email)_"
    return {
        "version": "1.0",
        "source": "custom",
        "id": message_id,
        "content": {
            "textType": "client-markdown",
            "title": escape_markdown(subject)[: LIMITS["title"]],
            "description": description,
            "nextSteps": [s[: LIMITS["next_step"]] for s in steps],
            "keywords": [
                k[: LIMITS["keyword"]]
                for k in (view.label, incident.severity.value, incident.resource_type.value, incident.classification)
            ],
        },
        "metadata": {
            "threadId": incident.incident_id,
            "summary": subject,
            "eventType": f"watchdog.{view.event}",
            "relatedResources": [one_line(incident.resource_id, 500)],
            "additionalContext": {
                "environment": incident.environment or "-",
                "condition": incident.condition.value,
                "status": incident.status.value,
                "runbook": one_line(incident.runbook_section, 300) or "-",
                "incident_id": incident.incident_id,
            },
        },
    }
