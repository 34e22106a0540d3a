"""Notification bodies: readable text for email, full incident JSON for SQS/Lambda, Chatbot schema for HTTPS."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from watchdogs.incidents import Incident, TimelineEntry
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType, Severity
from watchdogs.notifier import SUBJECT_MAX, Notifier, clean_subject


def make_incident(**overrides: object) -> Incident:
    now = datetime(2026, 11, 25, 10, 0, tzinfo=UTC).isoformat()
    fields: dict[str, object] = {
        "incident_id": "7d1c6f0e-0000-4000-8000-000000000001",
        "resource_type": ResourceType.QUERY,
        "resource_id": "a1b2c3d4-query",
        "condition": Condition.STUCK,
        "status": IncidentStatus.REMEDIATED,
        "severity": Severity.HIGH,
        "classification": "stuck-query",
        "summary": "Query ran 1800 s in lakehouse-sandbox-workgroup; cancelled.",
        "runbook_section": "Troubleshooting > Pipeline Stuck in RUNNING State > 2",
        "advice": ["Add partition filters", "Use LIMIT for exploratory queries"],
        "environment": "sandbox",
        "mode": "remediate",
        "detected_at": now,
        "updated_at": now,
        "facts": {"workgroup": "lakehouse-sandbox-workgroup", "query_preview": "SELECT secret FROM t WHERE ssn='1'"},
        "timeline": [TimelineEntry(at=now, kind="action", step="stop_query", outcome="cancelled")],
        "version": 3,
    }
    fields.update(overrides)
    return Incident.model_validate(fields)


def test_one_message_carries_a_body_per_protocol_and_filter_attributes() -> None:
    # Given an incident / When the message is built
    message = Notifier("arn:aws:sns:us-east-1:123456789012:alerts").message(make_incident(), "act")
    bodies = json.loads(message["Message"])
    # Then every protocol has its body
    assert message["MessageStructure"] == "json"
    assert {"default", "email", "sqs", "lambda", "https"} <= bodies.keys()
    assert "Lakehouse watchdog" in bodies["email"]
    assert "cancelled the query (stop_query -> cancelled)" in bodies["email"]
    machine = json.loads(bodies["sqs"])
    assert machine["incident_id"] == "7d1c6f0e-0000-4000-8000-000000000001"
    assert machine["timeline"][0]["step"] == "stop_query"
    chatbot = json.loads(bodies["https"])
    assert chatbot["version"] == "1.0"
    assert chatbot["source"] == "custom"
    assert chatbot["metadata"]["threadId"] == machine["incident_id"]  # stable key: chat threads group updates
    steps = chatbot["content"]["nextSteps"]
    # an action was taken: the next step says there is nothing to do now, with the command to follow the incident
    assert steps[0].startswith("Nothing to do now")
    assert steps[0].endswith("`watchdogs-ops --stack-name <STACK> show query a1b2c3d4-query`")
    # And the attributes serve subscription filter policies
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs == {
        "severity": "high",
        "resource_type": "query",
        "outcome": "act",
        "status": "remediated",
        "environment": "sandbox",
        "incident_id": "7d1c6f0e-0000-4000-8000-000000000001",
        "classification": "stuck-query",
        "condition": "STUCK",
        # no outbox id given: the id falls back to the incident version; repeats of one transition share it
        "message_id": "7d1c6f0e-0000-4000-8000-000000000001:v3",
    }
    assert machine["message_id"] == attrs["message_id"]


def test_query_text_preview_never_reaches_subscribers() -> None:
    message = Notifier("arn:aws:sns:us-east-1:123456789012:alerts").message(make_incident(), "act")
    assert "secret" not in message["Message"]
    assert "ssn" not in message["Message"]


def test_subject_is_within_sns_limits_and_free_of_control_characters() -> None:
    long_id = "arn:aws:states:us-east-1:123456789012:execution:pipe:" + "x\n\t" * 80
    message = Notifier("arn:aws:sns:us-east-1:123456789012:alerts").message(
        make_incident(resource_id=long_id, resource_type=ResourceType.EXECUTION), "escalate"
    )
    subject = message["Subject"]
    assert len(subject) <= SUBJECT_MAX < 100
    assert all(32 <= ord(ch) < 127 for ch in subject)
    assert clean_subject("\x00\x01") == "Lakehouse watchdog notification"
    assert clean_subject("héllo\r\nwörld") == "h?llo w?rld"
