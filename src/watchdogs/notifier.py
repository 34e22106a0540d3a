"""Alert notifications through one SNS topic, with a body per protocol and attributes for filter policies.

One message per incident transition (never one per duplicate event). Bodies (``MessageStructure=json``):

* ``default`` / ``email``: readable text for people;
* ``sqs`` / ``lambda``: the full incident JSON for machines;
* ``https``: the AWS Chatbot custom-notification schema (Slack / Teams / Chime via Chatbot or a webhook).

Message attributes ``severity``, ``resource_type``, ``outcome``, ``status``, ``environment``, ``condition``,
``classification`` (e.g. ``data-quality`` for data owners) and ``incident_id`` serve subscription filter
policies; ``incident_id`` (also Chatbot's ``threadId``) is the stable key that lets chat threads and pager
de-duplication group the updates of one incident.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from watchdogs.incidents import Incident

SUBJECT_MAX = 99  # SNS: "must be less than 100 characters"
TIMELINE_IN_MESSAGE = 50
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


class NotifyError(RuntimeError):
    """Publishing failed. The caller records it on the incident; the incident itself is never lost."""


def public_facts(facts: dict[str, Any]) -> dict[str, Any]:
    """Facts safe to send to subscribers: previews of query text (may hold sensitive literals) stay out."""
    return {k: v for k, v in facts.items() if not k.endswith("_preview") and not k.startswith("_")}


def clean_subject(text: str) -> str:
    """An SNS subject: ASCII, no control characters or line breaks, starts with a letter/number/punctuation."""
    ascii_text = text.encode("ascii", "replace").decode("ascii")
    flat = _CONTROL.sub(" ", ascii_text).strip()
    flat = re.sub(r"\s{2,}", " ", flat) or "Lakehouse watchdog notification"
    if len(flat) > SUBJECT_MAX:
        flat = flat[: SUBJECT_MAX - 3].rstrip() + "..."
    return flat


def subject_for(incident: Incident, event: str) -> str:
    env = f"[{incident.environment}] " if incident.environment else ""
    return clean_subject(
        f"{env}{event.upper()} {incident.severity.value}: {incident.resource_type.value} "
        f"{_short(incident.resource_id)} {incident.condition.value}"
    )


def _short(resource_id: str) -> str:
    # execution ARNs are long: the execution name (after the last ':') is what people recognise
    return resource_id.rsplit(":", 1)[-1] if resource_id.startswith("arn:") else resource_id


def machine_body(incident: Incident, event: str, message_id: str | None = None) -> dict[str, Any]:
    body = incident.model_dump(
        mode="json", exclude={"lease_owner", "lease_until", "outbox", "intents", "write_token", "decision_key"}
    )
    body["message_id"] = message_id or f"{incident.incident_id}:v{incident.version}"
    body["facts"] = public_facts(incident.facts)
    body["timeline"] = body["timeline"][-TIMELINE_IN_MESSAGE:]
    body["event"] = event
    body["schema"] = "lakehouse-watchdogs/incident/v1"
    return body


def text_body(incident: Incident, event: str) -> str:
    lines = [
        f"Lakehouse watchdog: {event} ({incident.status.value})",
        "",
        f"Environment:    {incident.environment or '-'}",
        f"Resource:       {incident.resource_type.value} {incident.resource_id}",
        f"Condition:      {incident.condition.value}  ({incident.classification})",
        f"Severity:       {incident.severity.value}",
        f"Mode:           {incident.mode or '-'}",
        f"Detected at:    {incident.detected_at}",
        f"Incident id:    {incident.incident_id}",
        f"Runbook:        {incident.runbook_section or '-'}",
        f"Attempts:       {incident.attempts} (budget {incident.budget_max})",
    ]
    if incident.time_to_recover_seconds is not None:
        lines.append(f"Time to recover: {incident.time_to_recover_seconds:.0f} s")
    lines += ["", incident.summary]
    if incident.advice:
        lines += ["", "What to check / do:"] + [f"  - {item}" for item in incident.advice]
    facts = public_facts(incident.facts)
    if facts:
        lines += ["", "Facts:"] + [f"  {k}: {v}" for k, v in sorted(facts.items())]
    lines += ["", "Timeline:"]
    for entry in incident.timeline[-TIMELINE_IN_MESSAGE:]:
        outcome = f" -> {entry.outcome}" if entry.outcome else ""
        step = f" {entry.step}" if entry.step else ""
        lines.append(f"  {entry.at}  {entry.kind}{step}{outcome}  {entry.detail}".rstrip())
    return "\n".join(lines)


def chatbot_body(incident: Incident, event: str, message_id: str | None = None) -> dict[str, Any]:
    """AWS Chatbot custom notification (schema version 1.0)."""
    return {
        "version": "1.0",
        "source": "custom",
        "id": message_id or f"{incident.incident_id}:v{incident.version}",
        "content": {
            "textType": "client-markdown",
            "title": subject_for(incident, event),
            "description": incident.summary[:2000],
            "nextSteps": incident.advice[:10],
            "keywords": [incident.severity.value, incident.resource_type.value, incident.status.value],
        },
        "metadata": {
            "threadId": incident.incident_id,
            "summary": subject_for(incident, event),
            "eventType": f"watchdog.{event}",
            "relatedResources": [incident.resource_id],
            "additionalContext": {
                "environment": incident.environment,
                "condition": incident.condition.value,
                "status": incident.status.value,
                "runbook": incident.runbook_section,
            },
        },
    }


class Notifier:
    """Publishes incident transitions to the alert topic. Takes an optional SNS client."""

    def __init__(self, topic_arn: str, client: SNSClient | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            import boto3  # noqa: PLC0415

            self._client = boto3.client("sns")
        return self._client

    def message(self, incident: Incident, event: str, message_id: str | None = None) -> dict[str, Any]:
        """The PublishInput for one transition (exposed so tests and docs show exactly what is sent).
        ``message_id`` is the transition's stable id (the outbox's): repeats of one transition carry the same."""
        message_id = message_id or f"{incident.incident_id}:v{incident.version}"
        machine = json.dumps(machine_body(incident, event, message_id), separators=(",", ":"), default=str)
        text = text_body(incident, event)
        bodies = {
            "default": text,
            "email": text,
            "email-json": machine,
            "sqs": machine,
            "lambda": machine,
            "https": json.dumps(chatbot_body(incident, event, message_id), separators=(",", ":")),
        }
        attributes = {
            "severity": incident.severity.value,
            "resource_type": incident.resource_type.value,
            "outcome": event,
            "status": incident.status.value,
            "environment": incident.environment or "unknown",
            "incident_id": incident.incident_id,
            "classification": incident.classification,
            "condition": incident.condition.value,
            "message_id": message_id,
        }
        return {
            "TopicArn": self.topic_arn,
            "Subject": subject_for(incident, event),
            "MessageStructure": "json",
            "Message": json.dumps(bodies),
            "MessageAttributes": {k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
        }

    def publish(self, incident: Incident, event: str, message_id: str | None = None) -> str:
        """Publish one transition; returns the SNS message id. Raises :class:`NotifyError` on failure."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            response = self.client.publish(**self.message(incident, event, message_id))
        except (ClientError, BotoCoreError) as exc:
            raise NotifyError(f"publish to {self.topic_arn} failed: {exc}") from exc
        return response["MessageId"]
