"""watchdogs-ops against the incident table in moto: list open incidents, show a resource, acknowledge a quarantine."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import INCIDENT_TABLE
from watchdogs.incidents import Budget, IncidentStore, now_utc
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.ops import main

pytestmark = pytest.mark.integration


def run(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> Any:
    assert main(["--table", INCIDENT_TABLE, "--endpoint", endpoint, "--region", "us-east-1", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_open_show_and_acknowledge(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    store = IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"))
    crawler = "lakehouse-sandbox-raw-crawler"
    # Given an escalated incident on a quarantined crawler
    incident = store.new_incident(
        ResourceType.CRAWLER, crawler, Condition.FAILED, status=IncidentStatus.ESCALATED, detected_at=now_utc()
    )
    store.save(
        incident,
        expected_version=0,
        budget=(Budget(), Budget(action_times=[1.0], quarantined_until=now_utc().timestamp() + 600, version=1)),
    )
    # When on-call lists open incidents / Then it is there (from the open-index, newest first)
    [listed] = run(capsys, aws["endpoint"], "open")
    assert (listed["resource_id"], listed["status"]) == (crawler, "escalated")
    # When they look at the crawler / Then the quarantine shows
    shown = run(capsys, aws["endpoint"], "show", "crawler", crawler)
    assert shown["quarantined_until"] is not None
    assert shown["active"][0]["incident_id"] == incident.incident_id
    # When they acknowledge / Then the quarantine is lifted and the budget reset, with who did it
    acked = run(capsys, aws["endpoint"], "ack", "crawler", crawler, "--by", "oncall@example.com")
    assert acked["quarantined_until"] is None
    assert acked["recent_actions"] == 0
    assert "oncall@example.com" in acked["quarantine_reason"]
    assert not store.load(ResourceType.CRAWLER, crawler).budget.is_quarantined(now_utc())


def test_missing_table_is_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INCIDENT_TABLE", raising=False)
    assert main(["open"]) == 2
    assert "INCIDENT_TABLE" in capsys.readouterr().err
