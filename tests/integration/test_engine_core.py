"""The core guarantees every watchdog shares, on the real incident table (built from template.yaml in moto):
lifecycle, one open incident per (resource, condition), concurrent-writer exclusion with real threads,
budget -> escalation + quarantine, observe mode, and no incident lost when a notification fails."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

import boto3
import pytest

from tests.conftest import INCIDENT_TABLE
from tests.support.aws import Subscriber
from watchdogs.actions import ACTIONS, Action, ActionResult
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine
from watchdogs.incidents import ConcurrentUpdate, Incident, IncidentStore, ResourceState, iso, now_utc
from watchdogs.models.domain import (
    Condition,
    Decision,
    Finding,
    IncidentStatus,
    Outcome,
    PlannedAction,
    ResourceType,
    Severity,
)
from watchdogs.settings import load_settings

pytestmark = pytest.mark.integration

EFFECTS: list[str] = []  # the fake action's observable effect
_lock = threading.Lock()


def _fake_restart(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    with _lock:
        EFFECTS.append(params["target"])
    return ActionResult("restarted", "fake")


@pytest.fixture(autouse=True)
def fake_action() -> Any:
    EFFECTS.clear()
    ACTIONS["fake_restart"] = Action("fake_restart", ("glue:StartCrawler",), "crawler", _fake_restart, "test double")
    yield
    del ACTIONS["fake_restart"]


class FakeRemediator:
    """A remediator whose decision is scripted: restart on FAILED, resolve on RECOVERED."""

    resource_type = ResourceType.CRAWLER
    read_permissions: tuple[str, ...] = ()
    action_names: tuple[str, ...] = ("fake_restart",)

    def in_scope(self, finding: Finding) -> bool:
        return finding.resource_id.startswith("lakehouse-sandbox-")

    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        return {"opted_out": finding.facts.get("opt_out", False)}

    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        if finding.condition is Condition.RECOVERED:
            return Decision(outcome=Outcome.RESOLVE, summary="crawl succeeded")
        return Decision(
            outcome=Outcome.ACT,
            summary="transient failure: restart",
            classification="transient",
            severity=Severity.WARNING,
            runbook_section="Glue Crawler Operations",
            actions=[
                PlannedAction(name="fake_restart", params={"target": finding.resource_id}, target=finding.resource_id)
            ],
            status_after=IncidentStatus.REMEDIATED,
        )


def make_engine(**env: str) -> Engine:
    import os

    settings = load_settings({**os.environ, **env})
    clients = AwsClients()
    return Engine(settings, clients, {ResourceType.CRAWLER: FakeRemediator()})  # type: ignore[dict-item]


def finding(
    name: str = "lakehouse-sandbox-raw-crawler", condition: Condition = Condition.FAILED, **facts: Any
) -> Finding:
    return Finding(
        resource_type=ResourceType.CRAWLER,
        resource_id=name,
        condition=condition,
        observed_at=now_utc(),
        scope_key=name,
        facts=facts,
    )


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"), environment="test")


def test_lifecycle_open_act_resolve_with_timeline_and_history(aws: dict[str, Any], subscriber: Subscriber) -> None:
    engine = make_engine()
    # Given a failed crawler / When handled
    first = engine.handle(finding())
    # Then one action, an active incident with its timeline, one notification
    assert EFFECTS == ["lakehouse-sandbox-raw-crawler"]
    assert first.status == "remediated"
    [incident] = store().list_open()
    assert [e.kind for e in incident.timeline] == ["detected", "decided", "action"]
    assert incident.attempts == 1
    # When the crawler recovers
    resolved = engine.handle(finding(condition=Condition.RECOVERED))
    # Then the incident is closed into history with time to recover, and the open list is empty
    assert resolved.outcome == "resolved"
    assert store().list_open() == []
    [closed] = store().history(ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler")
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.time_to_recover_seconds is not None
    assert closed.timeline[-1].kind == "resolved"
    events = [m["MessageAttributes"]["outcome"]["Value"] for m in subscriber.messages()]
    assert events == ["act", "resolved"]


def test_one_active_incident_per_resource_and_condition(aws: dict[str, Any]) -> None:
    s = store()
    draft = s.new_incident(
        ResourceType.CRAWLER,
        "lakehouse-sandbox-raw-crawler",
        Condition.STUCK,
        status=IncidentStatus.OPEN,
        detected_at=now_utc(),
    )
    s.save(draft, expected_version=0)
    # A second incident for the same (resource, condition) cannot be created
    with pytest.raises(ConcurrentUpdate):
        s.save(draft.model_copy(update={"incident_id": "other"}), expected_version=0)
    # A stale writer cannot overwrite a newer version
    with pytest.raises(ConcurrentUpdate):
        s.save(draft, expected_version=5)
    state = s.load(ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler")
    assert state.incidents[Condition.STUCK].version == 1


def test_concurrent_writers_exactly_one_wins(aws: dict[str, Any]) -> None:
    # Given 8 threads racing to open the same incident (as 8 concurrent invocations would)
    s = store()
    results: list[str] = []
    barrier = threading.Barrier(8)

    def writer(i: int) -> None:
        own = IncidentStore(INCIDENT_TABLE, boto3.session.Session().client("dynamodb"))
        draft = own.new_incident(
            ResourceType.QUERY,
            "q-1",
            Condition.STUCK,
            status=IncidentStatus.OPEN,
            detected_at=now_utc(),
            summary=f"writer {i}",
        )
        barrier.wait()
        try:
            own.save(draft, expected_version=0)
            results.append("won")
        except ConcurrentUpdate:
            results.append("lost")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then exactly one won and the table holds that one
    assert sorted(results) == ["lost"] * 7 + ["won"]
    assert len(s.load(ResourceType.QUERY, "q-1").incidents) == 1


def test_concurrent_engines_act_once(aws: dict[str, Any]) -> None:
    # Given 6 invocations handling the same failure at the same time (event + sweep + retries)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def invoke() -> None:
        engine = make_engine()
        barrier.wait()
        outcomes.append(engine.handle(finding()).outcome)

    threads = [threading.Thread(target=invoke) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the action ran exactly once; the others lost the race or saw the lease
    assert EFFECTS == ["lakehouse-sandbox-raw-crawler"]
    assert outcomes.count("act") == 1
    assert set(outcomes) <= {"act", "lost-race", "busy", "unchanged"}


def test_budget_exhaustion_escalates_and_quarantines(aws: dict[str, Any], subscriber: Subscriber) -> None:
    engine = make_engine(BUDGET_MAX_ACTIONS="2", BUDGET_WINDOW_SECONDS="3600", QUARANTINE_SECONDS="600")
    s = store()
    # Given two failures already remediated (budget 2), each incident resolved in between
    for _ in range(2):
        engine.handle(finding())
        engine.handle(finding(condition=Condition.RECOVERED))
    assert len(EFFECTS) == 2
    # When it fails a third time within the window
    third = engine.handle(finding())
    # Then no action: escalated, and the resource is quarantined
    assert len(EFFECTS) == 2
    assert third.status == "escalated"
    state = s.load(ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler")
    assert state.budget.is_quarantined(now_utc())
    incident = state.incidents[Condition.FAILED]
    assert "budget exhausted" in incident.summary
    # And while quarantined, even a fresh incident takes no action
    engine.handle(finding(condition=Condition.RECOVERED))
    engine.handle(finding())
    assert len(EFFECTS) == 2
    # When an operator acknowledges, automatic action resumes
    s.acknowledge(ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler", operator="oncall@example.com")
    engine.handle(finding(condition=Condition.RECOVERED))
    engine.handle(finding())
    assert len(EFFECTS) == 3
    escalations = [m for m in subscriber.messages() if m["MessageAttributes"]["outcome"]["Value"] == "escalate"]
    assert escalations


def test_observe_mode_records_what_it_would_do(aws: dict[str, Any], subscriber: Subscriber) -> None:
    engine = make_engine(WATCHDOG_MODE="observe")
    result = engine.handle(finding())
    assert EFFECTS == []
    assert result.actions == ["would:fake_restart"]
    [incident] = store().list_open()
    assert incident.status is IncidentStatus.OBSERVED
    assert incident.timeline[-1].kind == "would-act"
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["outcome"]["Value"] == "observed"
    assert message["Body"]["status"] == "observed"


def test_scope_and_opt_out_take_no_action_and_record_nothing(aws: dict[str, Any], subscriber: Subscriber) -> None:
    engine = make_engine()
    assert engine.handle(finding(name="otherteam-crawler")).outcome == "out-of-scope"
    assert engine.handle(finding(opt_out=True)).outcome == "opted-out"
    assert EFFECTS == []
    assert store().list_open() == []
    assert subscriber.messages() == []


def test_failed_notification_never_loses_the_incident(aws: dict[str, Any], subscriber: Subscriber) -> None:
    # Given a topic that does not exist (publish fails)
    engine = make_engine(ALERT_TOPIC_ARN="arn:aws:sns:us-east-1:123456789012:deleted-topic")
    # When a failure is handled
    result = engine.handle(finding())
    # Then the action happened, the incident is recorded, and the failed publish stays pending in its outbox
    # (no notify-failed timeline entry any more: the outbox entry carries the attempt and the error)
    assert EFFECTS == ["lakehouse-sandbox-raw-crawler"]
    assert result.notified is False
    [incident] = store().list_open()
    assert incident.timeline[-1].kind == "action"
    assert "notify-failed" not in {e.kind for e in incident.timeline}
    [pending] = incident.outbox
    assert (pending.event, pending.attempts) == ("act", 1)
    assert pending.last_error
    assert pending.message_id == f"{incident.incident_id}:{incident.seq}"
    assert iso(now_utc())[:4] == incident.detected_at[:4]
    # And the incident is flagged PENDING on the sparse outbox-index, where the sweep finds it
    item = boto3.client("dynamodb").get_item(
        TableName=INCIDENT_TABLE,
        Key={"pk": {"S": "RES#crawler#lakehouse-sandbox-raw-crawler"}, "sk": {"S": "CUR#FAILED"}},
    )["Item"]
    assert item["outbox_flag"] == {"S": "PENDING"}
    assert [i.incident_id for i in store().list_pending()] == [incident.incident_id]
    assert subscriber.messages() == []
    # When SNS is reachable again and the next flush runs (the sweep's)
    totals = make_engine().flush_pending()
    # Then the pending notification is sent once, under the same message id, and the outbox is empty
    assert (totals["sent"], totals["failed"]) == (1, 0)
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["message_id"]["Value"] == pending.message_id
    assert message["Body"]["message_id"] == pending.message_id
    assert message["MessageAttributes"]["outcome"]["Value"] == "act"
    [flushed] = store().list_open()
    assert flushed.outbox == []
    assert store().list_pending() == []
    assert EFFECTS == ["lakehouse-sandbox-raw-crawler"]  # flushing never acts again


def test_an_action_the_remediator_does_not_declare_is_refused(aws: dict[str, Any], subscriber: Subscriber) -> None:
    # Given a remediator whose runbook plans an action it does not declare (and template.yaml would not grant)
    class Sloppy(FakeRemediator):
        action_names: tuple[str, ...] = ()

    import os

    engine = Engine(load_settings(dict(os.environ)), AwsClients(), {ResourceType.CRAWLER: Sloppy()})  # type: ignore[dict-item]
    # When it handles a failure
    result = engine.handle(finding())
    # Then nothing runs: the incident is escalated with the reason
    assert EFFECTS == []
    assert result.status == "escalated"
    [incident] = store().list_open()
    assert "Not acted on: undeclared action fake_restart (a watchdog bug)." in incident.summary
    assert incident.classification == "refused-decision"
    assert [m["MessageAttributes"]["outcome"]["Value"] for m in subscriber.messages()] == ["escalate"]
