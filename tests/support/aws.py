"""Test support: the moto server, tables built from template.yaml, an SNS->SQS subscriber, API-call counting."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"
REGION = "us-east-1"
ACCOUNT = "123456789012"


def load_template() -> dict[str, Any]:
    from cfnlint.decode import cfn_yaml

    return cfn_yaml.load(str(TEMPLATE))


def load_event(name: str) -> dict[str, Any]:
    """The one helper that loads sample events from events/ (so fixtures cannot drift from the files)."""
    path = EVENTS / (name if name.endswith(".json") else f"{name}.json")
    return json.loads(path.read_text())


def create_tables_from_template(client: Any, names: dict[str, str]) -> None:
    """Create each AWS::DynamoDB::Table of template.yaml whose logical id is in ``names`` (logical id -> name),
    with the template's own key schema, indexes and TTL: tests never keep a copy of the schema."""
    resources = load_template()["Resources"]
    for logical_id, table_name in names.items():
        props = resources[logical_id]["Properties"]
        kwargs: dict[str, Any] = {
            "TableName": table_name,
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            kwargs["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        client.create_table(**kwargs)
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled") in (True, "true", "True"):
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )


@dataclass
class ApiCalls:
    """Counts AWS API calls through a botocore ``before-call`` hook on a session."""

    session: boto3.Session
    calls: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.session.events.register("before-call", self._on_call)

    def _on_call(self, model: Any, **_: Any) -> None:
        self.calls[f"{model.service_model.service_name}.{model.name}"] += 1

    def reset(self) -> None:
        self.calls.clear()

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def of(self, service: str) -> int:
        return sum(n for key, n in self.calls.items() if key.startswith(f"{service}."))

    def mutating(self) -> dict[str, int]:
        read = ("Get", "List", "Describe", "BatchGet", "Query", "Scan")
        return {k: v for k, v in self.calls.items() if not k.split(".", 1)[1].startswith(read)}


@dataclass
class Subscriber:
    """An SQS queue subscribed to the alert topic, as an alert subscriber would be."""

    sqs: Any
    queue_url: str
    seen_ids: set[str] = field(default_factory=set)
    repeats: int = 0  # messages dropped as repeats of a transition already received (same message id)

    def messages(self, wait: float = 0) -> list[dict[str, Any]]:
        """Drain the queue; returns the SNS envelopes with ``Body`` (incident JSON) parsed."""
        received: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=int(wait)
            )
            batch = response.get("Messages", [])
            if not batch:
                return received
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["Body"] = json.loads(envelope["Message"])
                # a subscriber as the contract asks: SNS is at-least-once and the outbox may re-send a transition
                # after a crash between publish and mark-sent, always under the same message id; drop repeats
                message_id = envelope["Body"].get("message_id")
                if message_id in self.seen_ids:
                    self.repeats += 1
                else:
                    if message_id:
                        self.seen_ids.add(message_id)
                    received.append(envelope)
                self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
