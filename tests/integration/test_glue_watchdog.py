"""The Glue crawler watchdog end to end: the handler with each sample event against moto (crawlers created in moto,
crawl states held with moto's state manager), asserting the crawler's state, the incident record, the SNS messages
at the SQS subscriber, and the AWS API calls each scenario costs (the table in docs/glue.md)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from tests.conftest import INCIDENT_TABLE, FakeContext
from tests.support.aws import ACCOUNT, REGION, ApiCalls, Subscriber, load_event
from watchdogs.engine import HandleResult
from watchdogs.handlers.glue import lambda_handler
from watchdogs.incidents import Incident, IncidentStore, now_utc
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.runbooks.crawler.facts import EXPECT_NEW_DATA_TAG
from watchdogs.runbooks.crawler.steps import Step
from watchdogs.runtime import reset_runtime, runtime
from watchdogs_local.moto_ext.glue import set_crawl

pytestmark = pytest.mark.integration

RAW = "lakehouse-sandbox-raw-crawler"
PROCESSED = "lakehouse-sandbox-processed-crawler"
CURATED = "lakehouse-sandbox-curated-crawler"
OTHER = "otherteam-raw-crawler"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lakehouse-sandbox-glue-crawler-role"
OPT_OUT = "watchdogs:opt-out"
THRESHOLD = "watchdogs:stuck-after-seconds"


# ------------------------------------------------------------------------------------------------ fixtures
@contextmanager
def lakehouse_crawlers() -> Iterator[Any]:
    """The runbook's three crawlers (and another team's) in moto; crawls held in their state by the state manager:
    a crawl moves only when a test moves it (``set_crawl``)."""
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="glue::crawl", transition={"progression": "manual", "times": 10**9})
    client = boto3.client("glue")
    for name, layer in ((RAW, "raw"), (PROCESSED, "processed"), (CURATED, "curated"), (OTHER, "raw")):
        client.create_crawler(
            Name=name,
            Role=ROLE,
            DatabaseName="lakehouse_sandbox_lakehouse",
            Targets={
                "S3Targets": [{"Path": f"s3://lakehouse-sandbox-data-lake/{layer}/", "Exclusions": ["**/_tmp/**"]}]
            },
            Tags={"project": "lakehouse"},
        )
    try:
        yield client
    finally:
        state_manager.unset_transition(model_name="glue::crawl")


@pytest.fixture
def glue(aws: dict[str, Any]) -> Iterator[Any]:
    with lakehouse_crawlers() as client:
        yield client


def tag(client: Any, name: str, tags: dict[str, str]) -> None:
    client.tag_resource(ResourceArn=f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{name}", TagsToAdd=tags)


def crawler_state(client: Any, name: str) -> str:
    return str(client.get_crawler(Name=name)["Crawler"]["State"])


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"), environment="test")


def current(name: str, condition: Condition) -> Incident | None:
    return store().load(ResourceType.CRAWLER, name).incidents.get(condition)


def event(sample: str, **detail: Any) -> dict[str, Any]:
    """A sample event as EventBridge would deliver it now: fresh id and time (time to recover is measured from it)."""
    body = load_event(sample)
    body["id"] = str(uuid.uuid4())
    body["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["detail"].update(detail)
    return body


def invoke(body: dict[str, Any], context: FakeContext) -> dict[str, Any]:
    result: dict[str, Any] = lambda_handler(body, context)
    return result


def stuck_finding(name: str, running_seconds: int | None = None) -> Finding:
    """What the sweep (or the Step Functions watchdog, delegating) hands over for a crawler running too long."""
    facts = {"running_seconds": running_seconds} if running_seconds is not None else {}
    return Finding(
        resource_type=ResourceType.CRAWLER,
        resource_id=name,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=now_utc(),
        scope_key=name,
        facts=facts,
    )


def sweep(finding: Finding) -> HandleResult:
    return runtime().engine.handle(finding)


def outcomes(subscriber: Subscriber) -> list[str]:
    return [m["MessageAttributes"]["outcome"]["Value"] for m in subscriber.messages()]


def glue_mutations(api_calls: ApiCalls) -> dict[str, int]:
    return {k: v for k, v in api_calls.mutating().items() if k.startswith("glue.")}


def use_env(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_runtime()


# ------------------------------------------------------------------------------------------------ failed: escalate
@pytest.mark.parametrize(
    ("sample", "crawler", "classification", "fix"),
    [
        ("glue-crawler-failed-access-denied", RAW, "access-denied", "Verify crawler role has S3 read access"),
        ("glue-crawler-failed-schema-mismatch", PROCESSED, "schema-mismatch", "Ensure consistent schema across files"),
    ],
)
def test_access_and_schema_failures_are_escalated_with_the_runbook_fix_never_retried(
    glue: Any,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: FakeContext,
    sample: str,
    crawler: str,
    classification: str,
    fix: str,
) -> None:
    # Given a crawler whose last crawl failed with the error in the event
    body = event(sample)
    set_crawl(crawler, "FAILED", error_message=body["detail"]["errorMessage"])
    # When the Failed event arrives
    invoke(body, lambda_context)
    # Then the crawler is left alone (READY, no StartCrawler), the incident is escalated with the fix
    assert crawler_state(glue, crawler) == "READY"
    assert glue_mutations(api_calls) == {}
    incident = current(crawler, Condition.FAILED)
    assert incident is not None
    assert (incident.status, incident.classification, incident.attempts) == (
        IncidentStatus.ESCALATED,
        classification,
        0,
    )
    assert any(fix in line for line in incident.advice)
    assert incident.facts["confirmed_by_get_crawler"] is True
    assert incident.facts["role"] == ROLE
    # And one escalation reached the subscriber, severity high, carrying the fix
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["outcome"]["Value"] == "escalate"
    assert message["MessageAttributes"]["severity"]["Value"] == "high"
    assert any(fix in line for line in message["Body"]["advice"])
    # Cost: GetCrawler to confirm (no tags: nothing to act on), one incident write, one publish, one mark-sent
    assert api_calls.calls["glue.GetCrawler"] == 1
    assert api_calls.calls["glue.GetTags"] == 0
    assert api_calls.calls["sns.Publish"] == 1
    assert api_calls.calls["dynamodb.PutItem"] == 2  # incident (its claim records the event key) + mark-sent
    assert api_calls.calls["dynamodb.Query"] == 1  # load the crawler's incidents and budget
    assert api_calls.calls["logs.GetLogEvents"] == 1  # evidence: the crawl's log lines (runbook Step 1)
    assert api_calls.total == 6  # + outbox mark-sent


def test_the_same_failure_again_is_not_news(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given an escalated access-denied incident
    body = event("glue-crawler-failed-access-denied")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    before = current(RAW, Condition.FAILED)
    subscriber.messages()
    # When the crawler fails the same way again (a new run, a new event)
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(event("glue-crawler-failed-access-denied"), lambda_context)
    # Then nothing is re-written and nobody is paged twice
    after = current(RAW, Condition.FAILED)
    assert before is not None
    assert after is not None
    assert after.version == before.version
    assert subscriber.messages() == []


def test_empty_prefix_failure_is_notified_with_its_check(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    body = event("glue-crawler-failed-no-data")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    assert glue_mutations(api_calls) == {}
    incident = current(RAW, Condition.FAILED)
    assert incident is not None
    assert (incident.status, incident.classification) == (IncidentStatus.OPEN, "no-tables-created")
    assert any("Check data exists in target prefix" in line for line in incident.advice)
    assert any("s3://lakehouse-sandbox-data-lake/raw/" in line for line in incident.advice)
    assert outcomes(subscriber) == ["notify"]


def test_unknown_failure_is_recorded_and_notified_not_acted_on(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    body = event("glue-crawler-failed-unknown")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    assert crawler_state(glue, RAW) == "READY"
    assert glue_mutations(api_calls) == {}
    incident = current(RAW, Condition.FAILED)
    assert incident is not None
    assert (incident.status, incident.classification) == (IncidentStatus.OPEN, "unknown")
    assert outcomes(subscriber) == ["notify"]
    assert api_calls.total == 6  # Query, GetCrawler, claim, Publish, outbox mark-sent, the evidence read (GetLogEvents)


# ------------------------------------------------------------------------------------------------ failed: restart
@pytest.mark.parametrize(
    ("sample", "crawler"),
    [
        ("glue-crawler-failed-internal-service-exception", RAW),
        ("glue-crawler-failed-throttled", CURATED),
        ("glue-crawler-failed-concurrent-runs", PROCESSED),
    ],
)
def test_transient_failure_restarts_the_crawler(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext, sample: str, crawler: str
) -> None:
    # Given a crawler that failed on a transient service error
    body = event(sample)
    set_crawl(crawler, "FAILED", error_message=body["detail"]["errorMessage"])
    # When the Failed event arrives
    invoke(body, lambda_context)
    # Then the crawler was restarted once and is RUNNING
    assert api_calls.calls["glue.StartCrawler"] == 1
    assert crawler_state(glue, crawler) == "RUNNING"
    incident = current(crawler, Condition.FAILED)
    assert incident is not None
    assert (incident.status, incident.pending_step, incident.attempts) == (
        IncidentStatus.REMEDIATED,
        Step.AWAIT_SUCCESS,
        1,
    )
    assert [e.kind for e in incident.timeline] == ["detected", "decided", "action"]
    assert incident.timeline[-1].outcome == "started"
    assert outcomes(subscriber) == ["act"]
    # Cost: GetCrawler + GetTags (opt-out, just before acting) + StartCrawler; DynamoDB: load, claim (incident +
    # budget + the event key in one transaction), final save; one publish; outbox mark-sent
    assert dict(api_calls.calls) == {
        "dynamodb.PutItem": 2,  # final save + outbox mark-sent
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 1,
        "glue.GetCrawler": 1,
        "glue.GetTags": 1,
        "glue.StartCrawler": 1,
        "logs.GetLogEvents": 1,  # evidence, after the restart is recorded
        "sns.Publish": 1,
    }


def test_restart_then_own_started_echo_then_success_resolves(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given a transient failure the watchdog restarted
    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    restarted = current(RAW, Condition.FAILED)
    assert restarted is not None
    api_calls.reset()
    # When the Started event of that restart arrives
    invoke(event("glue-crawler-started"), lambda_context)
    # Then it is recognised as the echo: no new incident, the open one untouched, no Glue call
    state = store().load(ResourceType.CRAWLER, RAW)
    assert set(state.incidents) == {Condition.FAILED}
    assert state.incidents[Condition.FAILED].version == restarted.version
    assert api_calls.of("glue") == 0
    assert api_calls.total == 1  # one Query
    # When the restarted crawl succeeds
    set_crawl(RAW, "SUCCEEDED")
    api_calls.reset()
    invoke(event("glue-crawler-succeeded"), lambda_context)
    # Then the incident is closed into history with its time to recover, and "resolved" is sent
    assert store().list_open() == []
    [closed] = store().history(ResourceType.CRAWLER, RAW)
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.time_to_recover_seconds is not None
    assert 0 <= closed.time_to_recover_seconds < 120
    assert outcomes(subscriber) == ["act", "resolved"]
    # one GetCrawler confirms the success before resolving: a late Succeeded of an earlier crawl must not close
    # the incident of a crawl that hangs now
    assert api_calls.of("glue") == 1
    assert api_calls.calls["dynamodb.TransactWriteItems"] == 1


def test_transient_failure_in_observe_mode_only_records_the_restart(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, WATCHDOG_MODE="observe")
    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    # Then no StartCrawler: the crawler stays READY; the incident says what would have been done
    assert glue_mutations(api_calls) == {}
    assert crawler_state(glue, RAW) == "READY"
    incident = current(RAW, Condition.FAILED)
    assert incident is not None
    assert incident.status is IncidentStatus.OBSERVED
    assert incident.timeline[-1].kind == "would-act"
    assert incident.timeline[-1].step == "start_crawler"
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["outcome"]["Value"] == "observed"


def test_duplicate_delivery_acts_once_and_costs_one_dynamodb_call(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given a transient failure event, handled once
    body = event("glue-crawler-failed-throttled")
    set_crawl(CURATED, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    api_calls.reset()
    # When EventBridge delivers the very same event again
    again = invoke(body, lambda_context)
    # Then no second action, no second message, and the duplicate cost one DynamoDB call
    assert again.get("duplicate") is True
    assert api_calls.total <= 1
    assert api_calls.of("glue") == 0
    assert crawler_state(glue, CURATED) == "RUNNING"
    assert outcomes(subscriber) == ["act"]
    incident = current(CURATED, Condition.FAILED)
    assert incident is not None
    assert incident.attempts == 1


# ------------------------------------------------------------------------------------------------ scope
def test_crawler_outside_the_scope_is_never_touched(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given another team's crawler that failed transiently (the watchdog would restart one in scope)
    body = event("glue-crawler-failed-internal-service-exception", crawlerName=OTHER)
    set_crawl(OTHER, "FAILED", error_message="Internal Service Exception")
    # When its event reaches the function anyway
    result = invoke(body, lambda_context)
    # Then not a single Glue call, no incident, no message
    assert result["results"][0]["outcome"] == "out-of-scope"
    assert api_calls.of("glue") == 0
    assert crawler_state(glue, OTHER) == "READY"
    assert store().load(ResourceType.CRAWLER, OTHER).incidents == {}
    assert subscriber.messages() == []


@pytest.mark.parametrize(
    ("where", "envelope", "detail"),
    [
        ("another account", {"account": "210987654321"}, {"accountId": "210987654321"}),
        ("another account, claimed in the detail only", {}, {"accountId": "210987654321"}),
        ("another region", {"region": "eu-west-1"}, {}),
    ],
)
def test_event_about_a_crawler_elsewhere_never_touches_the_local_one_of_that_name(
    glue: Any,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: FakeContext,
    where: str,
    envelope: dict[str, str],
    detail: dict[str, str],
) -> None:
    # Given our in-scope crawler whose last crawl failed transiently (its own event would restart it)
    set_crawl(RAW, "FAILED", error_message="Internal Service Exception")
    # When a Failed event about a crawler of the same name in another account or region arrives (a forwarding bus)
    body = {**event("glue-crawler-failed-internal-service-exception", **detail), **envelope}
    result = invoke(body, lambda_context)
    # Then scope is judged on the resource the event is about: out of scope, not a single Glue call
    assert result["results"][0]["outcome"] == "out-of-scope", where
    assert api_calls.of("glue") == 0
    assert crawler_state(glue, RAW) == "READY"
    assert store().load(ResourceType.CRAWLER, RAW).incidents == {}
    assert subscriber.messages() == []
    # When our own account's event arrives / Then it still acts: the crawler is restarted once
    invoke(event("glue-crawler-failed-internal-service-exception"), lambda_context)
    assert glue_mutations(api_calls) == {"glue.StartCrawler": 1}
    assert crawler_state(glue, RAW) == "RUNNING"


def test_opted_out_crawler_is_not_restarted(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    tag(glue, RAW, {OPT_OUT: "true"})
    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    result = invoke(body, lambda_context)
    assert result["results"][0]["outcome"] == "opted-out"
    assert glue_mutations(api_calls) == {}
    assert crawler_state(glue, RAW) == "READY"
    assert store().load(ResourceType.CRAWLER, RAW).incidents == {}
    assert subscriber.messages() == []


# ------------------------------------------------------------------------------------------------ stuck
def test_stuck_crawler_is_stopped_then_started_when_ready_then_resolved(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given the raw crawler RUNNING for 50 minutes (threshold 45)
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    # When the sweep hands it over
    first = sweep(stuck_finding(RAW, running_seconds=3000))
    # Then it is stopped, and the restart is pending
    assert first.actions == ["stop_crawler:stopping"]
    assert crawler_state(glue, RAW) == "STOPPING"
    incident = current(RAW, Condition.STUCK)
    assert incident is not None
    assert (incident.status, incident.pending_step) == (IncidentStatus.REMEDIATING, Step.START_WHEN_READY)
    assert dict(api_calls.calls) == {
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 1,
        "dynamodb.PutItem": 2,  # + outbox mark-sent
        "glue.GetCrawler": 1,
        "glue.GetTags": 1,
        "glue.StopCrawler": 1,
        "sns.Publish": 1,
    }
    # When the next sweep finds it still STOPPING (held by the state manager)
    api_calls.reset()
    waiting = sweep(stuck_finding(RAW))
    # Then nothing changes: no action, no write, no message; one Query and one GetCrawler
    assert waiting.outcome == "unchanged"
    assert dict(api_calls.calls) == {"dynamodb.Query": 1, "glue.GetCrawler": 1}
    # When the stop completes (READY) and the next sweep comes
    set_crawl(RAW, "CANCELLED")
    api_calls.reset()
    resumed = sweep(stuck_finding(RAW))
    # Then it is started again, remediated, awaiting success
    assert resumed.actions == ["start_crawler:started"]
    assert crawler_state(glue, RAW) == "RUNNING"
    incident = current(RAW, Condition.STUCK)
    assert incident is not None
    assert (incident.status, incident.pending_step, incident.attempts) == (
        IncidentStatus.REMEDIATED,
        Step.AWAIT_SUCCESS,
        2,
    )
    assert [e.step for e in incident.actions_taken()] == ["stop_crawler", "start_crawler"]
    assert (api_calls.calls["glue.GetCrawler"], api_calls.calls["glue.GetTags"]) == (1, 1)
    # When the Started event of our restart arrives: no new incident
    invoke(event("glue-crawler-started"), lambda_context)
    assert set(store().load(ResourceType.CRAWLER, RAW).incidents) == {Condition.STUCK}
    # When the restarted crawl succeeds: resolved, with time to recover
    set_crawl(RAW, "SUCCEEDED")
    invoke(event("glue-crawler-succeeded"), lambda_context)
    assert store().list_open() == []
    [closed] = store().history(ResourceType.CRAWLER, RAW)
    assert closed.condition is Condition.STUCK
    assert closed.time_to_recover_seconds is not None
    assert outcomes(subscriber) == ["act", "act", "resolved"]


def test_crawler_stuck_in_stopping_past_its_threshold_is_escalated(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, CRAWLER_STOPPING_SECONDS="1")
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    sweep(stuck_finding(RAW))
    assert crawler_state(glue, RAW) == "STOPPING"
    # When it is still STOPPING after the stopping threshold
    time.sleep(1.2)
    escalated = sweep(stuck_finding(RAW))
    # Then it is escalated, not started; the pending restart is dropped
    assert escalated.status == "escalated"
    assert api_calls.calls["glue.StartCrawler"] == 0
    incident = current(RAW, Condition.STUCK)
    assert incident is not None
    assert (incident.classification, incident.pending_step) == ("crawler-stuck-stopping", None)
    assert outcomes(subscriber) == ["act", "escalate"]


def test_threshold_tag_and_opt_out_tag_per_crawler(glue: Any, api_calls: ApiCalls, subscriber: Subscriber) -> None:
    # Given raw tagged to tolerate 2 hours, processed opted out, both RUNNING for 50 minutes
    tag(glue, RAW, {THRESHOLD: "7200"})
    tag(glue, PROCESSED, {OPT_OUT: "true"})
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    set_crawl(PROCESSED, "RUNNING", running_for_seconds=3000)
    # When the sweep hands both over
    raw = sweep(stuck_finding(RAW, running_seconds=3000))
    processed = sweep(stuck_finding(PROCESSED, running_seconds=3000))
    # Then neither is touched, nothing is recorded
    assert (raw.outcome, processed.outcome) == ("ignored", "opted-out")
    assert glue_mutations(api_calls) == {}
    assert (crawler_state(glue, RAW), crawler_state(glue, PROCESSED)) == ("RUNNING", "RUNNING")
    assert store().list_open() == []
    assert subscriber.messages() == []
    # And a lower threshold tag makes a shorter crawl stuck
    tag(glue, CURATED, {THRESHOLD: "600"})
    set_crawl(CURATED, "RUNNING", running_for_seconds=700)
    assert sweep(stuck_finding(CURATED)).actions == ["stop_crawler:stopping"]


def test_stuck_crawler_in_observe_mode_is_reported_once(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, WATCHDOG_MODE="observe")
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    first = sweep(stuck_finding(RAW))
    second = sweep(stuck_finding(RAW))
    assert first.actions == ["would:stop_crawler"]
    assert second.outcome == "unchanged"
    assert glue_mutations(api_calls) == {}
    assert crawler_state(glue, RAW) == "RUNNING"
    incident = current(RAW, Condition.STUCK)
    assert incident is not None
    assert incident.status is IncidentStatus.OBSERVED
    assert outcomes(subscriber) == ["observed"]


# ------------------------------------------------------------------------------------------------ no new data
def test_success_with_nothing_new_is_quiet_by_default(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    set_crawl(RAW, "SUCCEEDED")
    result = invoke(event("glue-crawler-succeeded-no-new-data"), lambda_context)
    assert result["results"][0]["outcome"] == "nothing-open"
    assert store().list_open() == []
    assert subscriber.messages() == []
    assert api_calls.calls["glue.GetTags"] == 1  # the crawler's expect-new-data tag, nothing else from Glue
    assert api_calls.calls["glue.GetCrawler"] == 0


@pytest.mark.parametrize("how", ["tag", "setting"])
def test_success_with_nothing_new_while_expected_is_a_warning_with_the_runbook_checks(
    glue: Any,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: FakeContext,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
) -> None:
    # Given new data expected on every raw crawl (by the crawler's tag, or by the setting)
    if how == "tag":
        tag(glue, RAW, {EXPECT_NEW_DATA_TAG: "true"})
    else:
        use_env(monkeypatch, CRAWLER_EXPECT_NEW_DATA="true")
    set_crawl(RAW, "SUCCEEDED")
    # When a crawl succeeds having changed nothing
    invoke(event("glue-crawler-succeeded-no-new-data"), lambda_context)
    # Then a NO_NEW_DATA warning is open, with the runbook's checks and the crawler's real targets
    incident = current(RAW, Condition.NO_NEW_DATA)
    assert incident is not None
    assert (incident.status, incident.severity.value) == (IncidentStatus.OPEN, "warning")
    advice = "\n".join(incident.advice)
    assert "s3://lakehouse-sandbox-data-lake/raw/" in advice
    assert "**/_tmp/**" in advice
    assert "Parquet, JSON or CSV" in advice
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["outcome"]["Value"] == "notify"
    assert message["MessageAttributes"]["severity"]["Value"] == "warning"
    assert message["Body"]["runbook_section"] == "Troubleshooting > Crawler Not Finding New Data"
    # When the next crawl again finds nothing: no second warning
    invoke(event("glue-crawler-succeeded-no-new-data"), lambda_context)
    assert subscriber.messages() == []
    # When a crawl finally brings new data: the warning is resolved
    invoke(event("glue-crawler-succeeded"), lambda_context)
    assert store().list_open() == []
    assert outcomes(subscriber) == ["resolved"]


# ------------------------------------------------------------------------------------------------ lost events
def test_lost_success_event_the_sweep_resume_closes_the_incident(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given a transient failure restarted by the watchdog
    body = event("glue-crawler-failed-internal-service-exception")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    # When the restarted crawl succeeds but its Succeeded event never arrives, and the sweep resumes the incident
    set_crawl(RAW, "SUCCEEDED")
    resumed = sweep(
        Finding(
            resource_type=ResourceType.CRAWLER,
            resource_id=RAW,
            condition=Condition.FAILED,
            source="sweep",
            observed_at=now_utc(),
            scope_key=RAW,
            facts={"sweep": "resume", "pending_step": Step.AWAIT_SUCCESS},
        )
    )
    # Then GetCrawler's LastCrawl (SUCCEEDED) closes it, with its time to recover
    assert resumed.outcome == "resolved"
    assert store().list_open() == []
    [closed] = store().history(ResourceType.CRAWLER, RAW)
    assert closed.time_to_recover_seconds is not None
    assert outcomes(subscriber) == ["act", "resolved"]


def test_stuck_incident_closes_when_ready_but_a_failed_crawl_keeps_its_own_incident(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext
) -> None:
    # Given a stuck crawler the watchdog stopped and restarted
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    sweep(stuck_finding(RAW))
    set_crawl(RAW, "CANCELLED")
    sweep(stuck_finding(RAW))
    # When the restarted crawl fails for lack of permissions
    body = event("glue-crawler-failed-access-denied")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    invoke(body, lambda_context)
    # And the sweep resumes the stuck incident: the crawler is READY
    result = sweep(stuck_finding(RAW))
    # Then the stuck incident is closed as not recovered (resolve means recovered) and the access-denied
    # escalation stays open
    assert result.outcome == "closed"
    [still_open] = store().list_open()
    assert (still_open.condition, still_open.status) == (Condition.FAILED, IncidentStatus.ESCALATED)
    [closed] = store().history(ResourceType.CRAWLER, RAW)
    assert closed.condition is Condition.STUCK
    assert outcomes(subscriber) == ["act", "act", "escalate", "closed"]
