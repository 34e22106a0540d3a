"""Alert notifications through one SNS topic, with a body per protocol and attributes for filter policies.

One message per incident transition (never one per duplicate event). Bodies (``MessageStructure=json``):

* ``default`` / ``email``: readable text for people;
* ``sqs`` / ``lambda``: the full incident JSON for machines;
* ``https``: the AWS Chatbot custom-notification schema (Slack / Teams / Chime via Chatbot or a webhook).

The bodies are rendered by :mod:`watchdogs.alerts` (truthful per transition, bounded, untrusted text quoted); this
module publishes them.

Message attributes ``severity``, ``resource_type``, ``outcome``, ``status``, ``environment``, ``condition``,
``classification`` (e.g. ``data-quality`` for data owners) and ``incident_id`` serve subscription filter
policies; ``incident_id`` (also Chatbot's ``threadId``) is the stable key that lets chat threads and pager
de-duplication group the updates of one incident.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from watchdogs.alerts import SUBJECT_MAX, AlertContext, clean_subject, render, subject_for
from watchdogs.alerts.machine import TIMELINE_IN_MESSAGE, public_facts

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

    from watchdogs.incidents import Incident

__all__ = [
    "SUBJECT_MAX",
    "TIMELINE_IN_MESSAGE",
    "AlertContext",
    "Notifier",
    "NotifyError",
    "chatbot_body",
    "clean_subject",
    "machine_body",
    "public_facts",
    "subject_for",
    "text_body",
]


class NotifyError(RuntimeError):
    """Publishing failed. The caller records it on the incident; the incident itself is never lost."""


def _id(incident: Incident, message_id: str | None) -> str:
    return message_id or f"{incident.incident_id}:v{incident.version}"


def machine_body(
    incident: Incident, event: str, message_id: str | None = None, ctx: AlertContext | None = None
) -> dict[str, Any]:
    return render(incident, event, _id(incident, message_id), ctx).machine


def text_body(incident: Incident, event: str, ctx: AlertContext | None = None) -> str:
    return render(incident, event, _id(incident, None), ctx).text


def chatbot_body(
    incident: Incident, event: str, message_id: str | None = None, ctx: AlertContext | None = None
) -> dict[str, Any]:
    """AWS Chatbot custom notification (schema version 1.0)."""
    return render(incident, event, _id(incident, message_id), ctx).chatbot


class Notifier:
    """Publishes incident transitions to the alert topic. Takes an optional SNS client."""

    def __init__(self, topic_arn: str, client: SNSClient | None = None, *, context: AlertContext | None = None) -> None:
        self.topic_arn = topic_arn
        self._client = client
        #: the deployment links and commands are built for (region, partition and account default to the topic's)
        self.context = context or AlertContext.from_topic(topic_arn)

    @property
    def client(self) -> SNSClient:
        if self._client is None:
            import boto3  # noqa: PLC0415

            self._client = boto3.client("sns")
        return self._client

    def message(self, incident: Incident, event: str, message_id: str | None = None) -> dict[str, Any]:
        """The PublishInput for one transition (exposed so tests and docs show exactly what is sent).
        ``message_id`` is the transition's stable id (the outbox's): repeats of one transition carry the same."""
        message_id = _id(incident, message_id)
        rendered = render(incident, event, message_id, self.context)
        machine = json.dumps(rendered.machine, separators=(",", ":"), default=str)
        bodies = {
            "default": rendered.text,
            "email": rendered.text,
            "email-json": machine,
            "sqs": machine,
            "lambda": machine,
            "https": json.dumps(rendered.chatbot, separators=(",", ":")),
        }
        attributes = {
            # a closed incident is news, not a page: its severity is info whatever it was while open
            "severity": "info" if event in {"resolved", "closed"} else incident.severity.value,
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
            "Subject": rendered.subject,
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
