"""The Glue crawler runbook as pure functions: the issue table, tags, event mapping and every decision branch."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.aws import load_event
from tests.support.steps import guard_steps
from watchdogs.incidents import Budget, Incident, ResourceState, TimelineEntry, iso
from watchdogs.lifecycle.plan import Policy, Verdict, plan
from watchdogs.models.domain import Condition, Finding, IncidentStatus, Outcome, ResourceType, Severity
from watchdogs.models.events import CrawlerStateChangeEvent
from watchdogs.runbooks.crawler import STEPS, CrawlerRemediator, findings_from_event
from watchdogs.runbooks.crawler.facts import EXPECT_NEW_DATA_TAG, CrawlerFacts, crawler_facts, expects_new_data
from watchdogs.runbooks.crawler.failures import (
    RUNBOOK_FAILURES,
    RUNBOOK_NO_NEW_DATA,
    RUNBOOK_RESET,
    FailureClass,
    classify_failure,
)
from watchdogs.runbooks.crawler.recovery import decide_no_new_data, decide_recovered, decide_started
from watchdogs.runbooks.crawler.reset import decide_stuck
from watchdogs.runbooks.crawler.rules import decide_failed
from watchdogs.runbooks.crawler.steps import Step
from watchdogs.settings import Settings, load_settings

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
RAW = "lakehouse-sandbox-raw-crawler"


def settings(**env: str) -> Settings:
    base = {
        "ENVIRONMENT": "test",
        "WATCHDOG_MODE": "remediate",
        "INCIDENT_TABLE": "incidents",
        "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
        "CRAWLER_STUCK_SECONDS": "2700",
        "CRAWLER_STOPPING_SECONDS": "900",
    }
    return load_settings({**base, **env})


SETTINGS = settings()


@pytest.fixture(autouse=True)
def every_step_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decision made below moves its incident only along the crawler's declared step table (STEPS)."""
    decisions = ("decide_failed", "decide_stuck", "decide_recovered", "decide_no_new_data", "decide_started")
    guard_steps(monkeypatch, sys.modules[__name__], decisions, STEPS)
    guard_steps(monkeypatch, CrawlerRemediator, ("decide",), STEPS)


def finding(condition: Condition, name: str = RAW, source: str = "event", **facts: Any) -> Finding:
    return Finding(
        resource_type=ResourceType.CRAWLER,
        resource_id=name,
        condition=condition,
        source=source,
        observed_at=NOW,
        scope_key=name,
        facts=facts,
    )


def incident(
    condition: Condition = Condition.STUCK,
    status: IncidentStatus = IncidentStatus.REMEDIATING,
    pending: str | None = None,
    actions: tuple[tuple[str, datetime], ...] = (),
    **fields: Any,
) -> Incident:
    timeline = [TimelineEntry(at=iso(at), kind="action", step=step, outcome="ok") for step, at in actions]
    return Incident(
        incident_id="inc-1",
        resource_type=ResourceType.CRAWLER,
        resource_id=RAW,
        condition=condition,
        status=status,
        detected_at=iso(NOW - timedelta(hours=1)),
        updated_at=iso(NOW - timedelta(minutes=5)),
        pending_step=pending,
        timeline=timeline,
        **fields,
    )


OBSERVE = Policy(
    observe=True,
    budget_max=3,
    budget_window_seconds=3600,
    quarantine_seconds=3600,
    hold_seconds=3600,
    lease_seconds=60,
    actor="test",
)


def repeat_in_observe_mode(decision: Any, observed: Incident) -> Verdict:
    """Plan ``decision`` once in observe mode, record it on ``observed``, and plan the same decision again."""
    first = plan(decision, None, Budget(), OBSERVE, NOW)
    assert (first.verdict, first.status, first.actions) == (Verdict.WRITE, IncidentStatus.OBSERVED, ())
    assert first.would_act == tuple(decision.actions)
    recorded = observed.model_copy(update={"decision_key": first.decision_key, "status": first.status})
    return plan(decision, recorded, Budget(), OBSERVE, NOW).verdict


def state_with(*incidents: Incident) -> ResourceState:
    return ResourceState(ResourceType.CRAWLER, RAW, incidents={i.condition: i for i in incidents})


def crawler(state: str = "READY", **extra: Any) -> CrawlerFacts:
    return CrawlerFacts(exists=True, crawler_state=state, **extra)


# ------------------------------------------------------------------------------------------------ issue table
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)", FailureClass.ACCESS_DENIED),
        ("User: arn:aws:sts::1:assumed-role/x is not authorized to perform: s3:GetObject", FailureClass.ACCESS_DENIED),
        ("Insufficient Lake Formation permission(s) on raw_events", FailureClass.ACCESS_DENIED),
        ("Internal Service Exception: Access Denied", FailureClass.ACCESS_DENIED),
        (
            "HIVE_PARTITION_SCHEMA_MISMATCH: There is a mismatch between the table and partition schemas",
            FailureClass.SCHEMA_MISMATCH,
        ),
        ("Unable to infer schema for Parquet", FailureClass.SCHEMA_MISMATCH),
        ("s3://lakehouse/raw/x.parquet is not a Parquet file (too small)", FailureClass.SCHEMA_MISMATCH),
        ("The specified bucket does not exist (Error Code: NoSuchBucket)", FailureClass.NO_TABLES),
        ("The specified S3 path does not exist: s3://lakehouse-sandbox-data-lake/raw/", FailureClass.NO_TABLES),
        ("Internal Service Exception", FailureClass.TRANSIENT),
        ("Rate exceeded (Service: AWSGlue; Error Code: ThrottlingException)", FailureClass.TRANSIENT),
        ("ConcurrentRunsExceededException: Concurrent runs exceeded", FailureClass.TRANSIENT),
        ("Please reduce your request rate. (Error Code: SlowDown)", FailureClass.TRANSIENT),
        ("Service Unavailable", FailureClass.TRANSIENT),
        ("Crawler encountered an unexpected condition", FailureClass.UNKNOWN),
        ("", FailureClass.UNKNOWN),
        (None, FailureClass.UNKNOWN),
    ],
)
def test_failure_messages_are_classified_against_the_runbook_table(message: str | None, expected: FailureClass) -> None:
    # Given a crawl error message / When classified / Then it lands in its runbook row
    assert classify_failure(message).failure_class is expected


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("glue-crawler-failed-access-denied", FailureClass.ACCESS_DENIED),
        ("glue-crawler-failed-schema-mismatch", FailureClass.SCHEMA_MISMATCH),
        ("glue-crawler-failed-no-data", FailureClass.NO_TABLES),
        ("glue-crawler-failed-internal-service-exception", FailureClass.TRANSIENT),
        ("glue-crawler-failed-throttled", FailureClass.TRANSIENT),
        ("glue-crawler-failed-concurrent-runs", FailureClass.TRANSIENT),
        ("glue-crawler-failed-unknown", FailureClass.UNKNOWN),
    ],
)
def test_every_failed_sample_event_is_in_its_runbook_row(sample: str, expected: FailureClass) -> None:
    # Given a sample Failed event / When its error message is classified
    event = CrawlerStateChangeEvent.model_validate(load_event(sample))
    # Then the class is the one its name promises
    assert classify_failure(event.detail.error_message).failure_class is expected


def test_runbook_solutions_are_quoted_verbatim() -> None:
    assert classify_failure("Access Denied").solution == "Verify crawler role has S3 read access"
    assert classify_failure("schema mismatch").solution == "Ensure consistent schema across files"
    assert classify_failure("NoSuchKey").solution == "Check data exists in target prefix"


# ------------------------------------------------------------------------------------------------ tags
def test_expect_new_data_tag_overrides_the_setting_both_ways() -> None:
    assert expects_new_data({EXPECT_NEW_DATA_TAG: "true"}, default=False)
    assert not expects_new_data({EXPECT_NEW_DATA_TAG: "false"}, default=True)
    assert expects_new_data({}, default=True)
    assert not expects_new_data({EXPECT_NEW_DATA_TAG: "maybe"}, default=False)


# ------------------------------------------------------------------------------------------------ events
@pytest.mark.parametrize(
    ("sample", "condition"),
    [
        ("glue-crawler-failed-access-denied", Condition.FAILED),
        ("glue-crawler-started", Condition.STARTED),
        ("glue-crawler-succeeded", Condition.RECOVERED),
        ("glue-crawler-succeeded-no-new-data", Condition.RECOVERED),
    ],
)
def test_events_map_to_one_finding_keyed_by_the_event(sample: str, condition: Condition) -> None:
    raw = load_event(sample)
    [found] = findings_from_event(CrawlerStateChangeEvent.model_validate(raw))
    assert found.condition is condition
    assert found.resource_type is ResourceType.CRAWLER
    assert found.resource_id == raw["detail"]["crawlerName"] == found.scope_key
    assert found.event_id == raw["id"]
    assert found.facts["account_id"] == "123456789012"


def test_succeeded_events_carry_whether_anything_changed() -> None:
    [changed] = findings_from_event(CrawlerStateChangeEvent.model_validate(load_event("glue-crawler-succeeded")))
    [nothing] = findings_from_event(
        CrawlerStateChangeEvent.model_validate(load_event("glue-crawler-succeeded-no-new-data"))
    )
    assert changed.facts["changed_anything"] is True
    assert changed.facts["partitions_created"] == 4
    assert nothing.facts["changed_anything"] is False


def test_get_crawler_answer_becomes_plain_facts() -> None:
    # Given a GetCrawler answer for a running crawler with a failed previous crawl
    answer = {
        "Name": RAW,
        "State": "RUNNING",
        "Role": "arn:aws:iam::123456789012:role/crawler",
        "DatabaseName": "lakehouse_sandbox_lakehouse",
        "CrawlElapsedTime": 3_000_500,
        "Targets": {"S3Targets": [{"Path": "s3://lake/raw/", "Exclusions": ["**/_tmp/**"]}]},
        "LastCrawl": {"Status": "FAILED", "ErrorMessage": "Rate exceeded", "StartTime": NOW - timedelta(hours=2)},
    }
    facts = crawler_facts(answer, NOW)
    assert facts["crawler_state"] == "RUNNING"
    assert facts["running_seconds"] == 3000
    assert facts["last_crawl_status"] == "FAILED"
    assert facts["last_crawl_error"] == "Rate exceeded"
    assert facts["last_crawl_started_at"] == iso(NOW - timedelta(hours=2))
    assert facts["s3_targets"] == ["s3://lake/raw/"]
    assert facts["exclusions"] == ["**/_tmp/**"]
    assert "log_group" not in facts  # absent keys are dropped, never None


# ------------------------------------------------------------------------------------------------ failed
def test_access_denied_is_escalated_with_the_runbook_fix_and_never_retried() -> None:
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Access Denied", role="arn:aws:iam::1:role/c")
    decision = decide_failed(finding(Condition.FAILED, error_message="x"), facts, None, SETTINGS, NOW)
    assert decision.outcome is Outcome.ESCALATE
    assert decision.actions == []
    assert decision.severity is Severity.HIGH
    assert decision.classification == "access-denied"
    assert decision.runbook_section == RUNBOOK_FAILURES
    assert any("Verify crawler role has S3 read access" in line for line in decision.advice)
    assert any("arn:aws:iam::1:role/c" in line for line in decision.advice)
    assert decision.facts["confirmed_by_get_crawler"] is True


def test_schema_mismatch_is_escalated_and_never_retried() -> None:
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="HIVE_PARTITION_SCHEMA_MISMATCH")
    decision = decide_failed(finding(Condition.FAILED), facts, None, SETTINGS, NOW)
    assert (decision.outcome, decision.actions, decision.classification) == (Outcome.ESCALATE, [], "schema-mismatch")
    assert any("Ensure consistent schema across files" in line for line in decision.advice)


def test_empty_prefix_is_notified_with_its_check_not_retried() -> None:
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="NoSuchKey", s3_targets=["s3://lake/raw/"])
    decision = decide_failed(finding(Condition.FAILED), facts, None, SETTINGS, NOW)
    assert (decision.outcome, decision.actions) == (Outcome.NOTIFY, [])
    assert any("Check data exists in target prefix" in line for line in decision.advice)
    assert any("s3://lake/raw/" in line for line in decision.advice)


def test_transient_failure_restarts_a_ready_crawler_and_awaits_success() -> None:
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Rate exceeded", last_crawl_started_at="T1")
    decision = decide_failed(finding(Condition.FAILED), facts, None, SETTINGS, NOW)
    assert decision.outcome is Outcome.ACT
    assert [(a.name, a.params) for a in decision.actions] == [("start_crawler", {"crawler": RAW})]
    assert decision.next_step == Step.AWAIT_SUCCESS
    assert decision.status_after is IncidentStatus.REMEDIATED
    assert decision.consumes_budget is True
    assert decision.facts["failed_crawl_started_at"] == "T1"


def test_transient_failure_of_a_crawler_already_running_again_is_only_noted() -> None:
    facts = crawler("RUNNING", last_crawl_status="FAILED", last_crawl_error="Internal Service Exception")
    decision = decide_failed(finding(Condition.FAILED), facts, None, SETTINGS, NOW)
    assert (decision.outcome, decision.actions, decision.severity) == (Outcome.NOTIFY, [], Severity.INFO)


def test_unknown_failure_is_recorded_and_notified_not_acted_on() -> None:
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Something odd", log_group="/aws-glue/crawlers")
    decision = decide_failed(finding(Condition.FAILED), facts, None, SETTINGS, NOW)
    assert (decision.outcome, decision.actions, decision.classification) == (Outcome.NOTIFY, [], "unknown")
    assert any("filter-log-events" in line for line in decision.advice)


def test_get_crawler_error_wins_over_the_event_message_and_the_event_is_the_fallback() -> None:
    confirmed = crawler(last_crawl_status="FAILED", last_crawl_error="Access Denied")
    from_event = crawler()
    f = finding(Condition.FAILED, error_message="Internal Service Exception")
    assert decide_failed(f, confirmed, None, SETTINGS, NOW).classification == "access-denied"
    assert decide_failed(f, from_event, None, SETTINGS, NOW).classification == "transient"
    assert decide_failed(f, from_event, None, SETTINGS, NOW).facts["confirmed_by_get_crawler"] is False


def test_failure_superseded_by_a_success_resolves_and_a_cancel_is_ignored() -> None:
    f = finding(Condition.FAILED, error_message="Internal Service Exception")
    assert decide_failed(f, crawler(last_crawl_status="SUCCEEDED"), None, SETTINGS, NOW).outcome is Outcome.RESOLVE
    assert decide_failed(f, crawler(last_crawl_status="CANCELLED"), None, SETTINGS, NOW).outcome is Outcome.IGNORE
    assert decide_failed(f, CrawlerFacts(exists=False), None, SETTINGS, NOW).outcome is Outcome.IGNORE


def test_the_same_failed_crawl_seen_again_changes_nothing() -> None:
    # Given an incident that already restarted after the crawl that started at T1
    t1 = iso(NOW - timedelta(minutes=30))
    open_incident = incident(
        Condition.FAILED,
        IncidentStatus.REMEDIATED,
        Step.AWAIT_SUCCESS,
        actions=(("start_crawler", NOW - timedelta(minutes=20)),),
        facts={"failed_crawl_started_at": t1},
        classification="transient",
    )
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Rate exceeded", last_crawl_started_at=t1)
    # When the sweep sees the same failed crawl
    decision = decide_failed(finding(Condition.FAILED, source="sweep"), facts, open_incident, SETTINGS, NOW)
    # Then the decision keeps the incident as it is: no action, same status and pending step
    assert decision.actions == []
    assert (decision.status_after, decision.next_step) == (IncidentStatus.REMEDIATED, Step.AWAIT_SUCCESS)


def test_the_same_transient_failure_whose_restart_never_happened_is_restarted() -> None:
    # Given an incident whose StartCrawler was throttled and its intent abandoned: no restart since the failure
    t1 = iso(NOW - timedelta(minutes=30))
    open_incident = incident(
        Condition.FAILED,
        IncidentStatus.REMEDIATING,
        Step.AWAIT_SUCCESS,
        facts={"failed_crawl_started_at": t1},
        classification="transient",
    )
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Rate exceeded", last_crawl_started_at=t1)
    # When the sweep sees the same failed crawl / Then the restart is planned again (retry later, remembered)
    decision = decide_failed(finding(Condition.FAILED, source="sweep"), facts, open_incident, SETTINGS, NOW)
    assert [a.name for a in decision.actions] == ["start_crawler"]


def test_a_new_transient_failure_after_the_restart_restarts_again() -> None:
    open_incident = incident(
        Condition.FAILED, IncidentStatus.REMEDIATED, Step.AWAIT_SUCCESS, facts={"failed_crawl_started_at": "T1"}
    )
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Rate exceeded", last_crawl_started_at="T2")
    decision = decide_failed(finding(Condition.FAILED), facts, open_incident, SETTINGS, NOW)
    assert [a.name for a in decision.actions] == ["start_crawler"]


def test_restarted_crawler_still_running_is_awaited() -> None:
    open_incident = incident(Condition.FAILED, IncidentStatus.REMEDIATED, Step.AWAIT_SUCCESS)
    facts = crawler("RUNNING", last_crawl_status="FAILED", last_crawl_error="Rate exceeded")
    decision = decide_failed(finding(Condition.FAILED, source="sweep"), facts, open_incident, SETTINGS, NOW)
    assert decision.actions == []
    assert decision.next_step == Step.AWAIT_SUCCESS


def test_no_action_when_tags_cannot_be_read() -> None:
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Rate exceeded", tags_unavailable=True)
    decision = decide_failed(finding(Condition.FAILED), facts, None, SETTINGS, NOW)
    assert (decision.outcome, decision.actions) == (Outcome.NOTIFY, [])


def test_observe_mode_does_not_renotify_the_same_would_be_restart() -> None:
    observed = incident(Condition.FAILED, IncidentStatus.OBSERVED, Step.AWAIT_SUCCESS, classification="transient")
    facts = crawler(last_crawl_status="FAILED", last_crawl_error="Rate exceeded", last_crawl_started_at="T9")
    decision = decide_failed(finding(Condition.FAILED), facts, observed, SETTINGS, NOW)
    # the runbook decides the same restart every time (observe mode is not its concern)
    assert [a.name for a in decision.actions] == ["start_crawler"]
    # and the core turns the same would-be restart on an incident already observed into a no-op
    assert repeat_in_observe_mode(decision, observed) is Verdict.NOOP


# ------------------------------------------------------------------------------------------------ stuck
def test_running_past_threshold_is_stopped_with_the_restart_pending() -> None:
    facts = crawler("RUNNING", running_seconds=3000, threshold_seconds=2700)
    decision = decide_stuck(finding(Condition.STUCK, source="sweep"), facts, None, SETTINGS, NOW)
    assert decision.outcome is Outcome.ACT
    assert [a.name for a in decision.actions] == ["stop_crawler"]
    assert decision.next_step == Step.START_WHEN_READY
    assert decision.status_after is IncidentStatus.REMEDIATING
    assert decision.runbook_section == RUNBOOK_RESET


def test_threshold_from_the_tag_decides_stuck() -> None:
    # Given a crawler running 3000 s whose tag raises its threshold to 7200 s / Then it is not stuck
    facts = crawler("RUNNING", running_seconds=3000, threshold_seconds=7200)
    assert decide_stuck(finding(Condition.STUCK), facts, None, SETTINGS, NOW).outcome is Outcome.IGNORE
    # And a tag lowering it to 600 s makes a 700 s crawl stuck
    facts = crawler("RUNNING", running_seconds=700, threshold_seconds=600)
    assert decide_stuck(finding(Condition.STUCK), facts, None, SETTINGS, NOW).outcome is Outcome.ACT


def test_running_seconds_from_the_finding_are_the_fallback() -> None:
    facts = crawler("RUNNING", threshold_seconds=2700)
    delegated = finding(Condition.STUCK, source="delegated", running_seconds=100)
    assert decide_stuck(delegated, facts, None, SETTINGS, NOW).outcome is Outcome.IGNORE
    assert decide_stuck(finding(Condition.STUCK), facts, None, SETTINGS, NOW).outcome is Outcome.ACT


def test_ready_after_the_stop_is_started_and_awaits_success() -> None:
    stopped = incident(pending=Step.START_WHEN_READY, actions=(("stop_crawler", NOW - timedelta(minutes=3)),))
    decision = decide_stuck(finding(Condition.STUCK, source="sweep"), crawler("READY"), stopped, SETTINGS, NOW)
    assert [a.name for a in decision.actions] == ["start_crawler"]
    assert decision.next_step == Step.AWAIT_SUCCESS
    assert decision.status_after is IncidentStatus.REMEDIATED


def test_still_stopping_waits_then_escalates_past_the_stopping_threshold() -> None:
    recent = incident(pending=Step.START_WHEN_READY, actions=(("stop_crawler", NOW - timedelta(seconds=300)),))
    old = incident(pending=Step.START_WHEN_READY, actions=(("stop_crawler", NOW - timedelta(seconds=901)),))
    waiting = decide_stuck(finding(Condition.STUCK), crawler("STOPPING"), recent, SETTINGS, NOW)
    assert (waiting.outcome, waiting.actions, waiting.next_step) == (Outcome.WAIT, [], Step.START_WHEN_READY)
    escalated = decide_stuck(finding(Condition.STUCK), crawler("STOPPING"), old, SETTINGS, NOW)
    assert (escalated.outcome, escalated.actions) == (Outcome.ESCALATE, [])
    assert escalated.classification == "crawler-stuck-stopping"


def test_restarted_by_someone_else_after_our_stop_is_awaited() -> None:
    stopped = incident(pending=Step.START_WHEN_READY, actions=(("stop_crawler", NOW - timedelta(seconds=600)),))
    decision = decide_stuck(finding(Condition.STUCK), crawler("RUNNING", running_seconds=60), stopped, SETTINGS, NOW)
    assert (decision.outcome, decision.actions, decision.next_step) == (Outcome.WAIT, [], Step.AWAIT_SUCCESS)


def test_stuck_again_after_our_restart_is_escalated_with_the_table_fix() -> None:
    restarted = incident(
        status=IncidentStatus.REMEDIATED,
        pending=Step.AWAIT_SUCCESS,
        actions=(("stop_crawler", NOW - timedelta(hours=2)), ("start_crawler", NOW - timedelta(hours=1))),
    )
    facts = crawler("RUNNING", running_seconds=3600, threshold_seconds=2700)
    decision = decide_stuck(finding(Condition.STUCK), facts, restarted, SETTINGS, NOW)
    assert (decision.outcome, decision.actions) == (Outcome.ESCALATE, [])
    assert any("Increase crawler timeout or use sampling" in line for line in decision.advice)


def test_ready_crawler_resolves_only_its_stuck_incident() -> None:
    restarted = incident(status=IncidentStatus.REMEDIATED, pending=Step.AWAIT_SUCCESS)
    # resolve means recovered: a SUCCEEDED crawl resolves; a FAILED one closes STUCK as not recovered (and keeps
    # its own FAILED incident: only STUCK is closed)
    for last, outcome in (("SUCCEEDED", Outcome.RESOLVE), ("FAILED", Outcome.CLOSE), ("CANCELLED", Outcome.CLOSE)):
        ready = crawler("READY", last_crawl_status=last)
        decision = decide_stuck(finding(Condition.STUCK, source="sweep"), ready, restarted, SETTINGS, NOW)
        assert (decision.outcome, decision.resolves) == (outcome, [Condition.STUCK])
    ready = crawler("READY", last_crawl_status="SUCCEEDED")
    assert decide_stuck(finding(Condition.STUCK), ready, None, SETTINGS, NOW).outcome is Outcome.IGNORE


def test_stopping_by_someone_else_is_left_alone_until_it_overstays() -> None:
    young = crawler("STOPPING", running_seconds=3000)
    overdue = crawler("STOPPING", running_seconds=2700 + 900 + 1)
    assert decide_stuck(finding(Condition.STUCK), young, None, SETTINGS, NOW).outcome is Outcome.IGNORE
    assert decide_stuck(finding(Condition.STUCK), overdue, None, SETTINGS, NOW).outcome is Outcome.ESCALATE


def test_observe_mode_stuck_crawler_is_reported_once() -> None:
    # Given an incident observed (the stop was only recorded, never made)
    observed = incident(status=IncidentStatus.OBSERVED, pending=Step.START_WHEN_READY, classification="crawler-stuck")
    facts = crawler("RUNNING", running_seconds=4000, threshold_seconds=2700)
    # When the next sweep finds it still running / Then the runbook decides the same stop
    decision = decide_stuck(finding(Condition.STUCK, source="sweep"), facts, observed, SETTINGS, NOW)
    assert [a.name for a in decision.actions] == ["stop_crawler"]
    assert decision.next_step == Step.START_WHEN_READY
    # and the core makes the repeat a no-op: nothing changes
    assert repeat_in_observe_mode(decision, observed) is Verdict.NOOP
    # And once READY after a successful crawl, the observed incident resolves
    ready = decide_stuck(
        finding(Condition.STUCK), crawler("READY", last_crawl_status="SUCCEEDED"), observed, SETTINGS, NOW
    )
    assert (ready.outcome, ready.resolves) == (Outcome.RESOLVE, [Condition.STUCK])


def test_missing_crawler_or_unreadable_tags_never_act() -> None:
    assert (
        decide_stuck(finding(Condition.STUCK), CrawlerFacts(exists=False), None, SETTINGS, NOW).outcome
        is Outcome.IGNORE
    )
    facts = crawler("RUNNING", running_seconds=4000, tags_unavailable=True)
    decision = decide_stuck(finding(Condition.STUCK), facts, None, SETTINGS, NOW)
    assert (decision.outcome, decision.actions) == (Outcome.NOTIFY, [])


# ------------------------------------------------------------------------------------------------ recovered
def test_success_resolves_and_new_data_needs_no_warning() -> None:
    changed = finding(Condition.RECOVERED, changed_anything=True)
    decision = decide_recovered(changed, CrawlerFacts(expect_new_data=True), state_with(), SETTINGS, NOW)
    assert (decision.outcome, decision.delegate) == (Outcome.RESOLVE, [])


def test_success_with_nothing_new_is_fine_when_no_data_is_expected() -> None:
    nothing = finding(Condition.RECOVERED, changed_anything=False)
    decision = decide_recovered(nothing, CrawlerFacts(expect_new_data=False), state_with(), SETTINGS, NOW)
    assert (decision.outcome, decision.delegate) == (Outcome.RESOLVE, [])


def test_success_with_nothing_new_while_expected_delegates_a_no_new_data_finding() -> None:
    nothing = finding(Condition.RECOVERED, changed_anything=False, tables_created=0, account_id="123456789012")
    decision = decide_recovered(nothing, CrawlerFacts(expect_new_data=True), state_with(), SETTINGS, NOW)
    assert decision.outcome is Outcome.RESOLVE
    [delegated] = decision.delegate
    assert (delegated.condition, delegated.resource_id) == (Condition.NO_NEW_DATA, RAW)
    assert delegated.facts["tables_created"] == 0


def test_repeated_no_new_data_keeps_the_open_incident() -> None:
    open_no_data = incident(Condition.NO_NEW_DATA, IncidentStatus.OPEN)
    nothing = finding(Condition.RECOVERED, changed_anything=False)
    decision = decide_recovered(nothing, CrawlerFacts(expect_new_data=True), state_with(open_no_data), SETTINGS, NOW)
    assert decision.outcome is Outcome.IGNORE
    # But with a failure open too, the success resolves the failure only; the warning stays open as it is
    failure = incident(Condition.FAILED, IncidentStatus.ESCALATED)
    decision = decide_recovered(
        nothing, CrawlerFacts(expect_new_data=True), state_with(open_no_data, failure), SETTINGS, NOW
    )
    assert (decision.outcome, decision.resolves, decision.delegate) == (Outcome.RESOLVE, [Condition.FAILED], [])


def test_no_new_data_warning_carries_the_runbook_checks() -> None:
    facts = crawler(s3_targets=["s3://lakehouse-sandbox-data-lake/raw/"], exclusions=["**/_tmp/**"])
    decision = decide_no_new_data(finding(Condition.NO_NEW_DATA, source="delegated"), facts)
    assert (decision.outcome, decision.severity, decision.actions) == (Outcome.NOTIFY, Severity.WARNING, [])
    assert decision.runbook_section == RUNBOOK_NO_NEW_DATA
    text = "\n".join(decision.advice)
    for check in ("S3 path", "trailing slashes", "Parquet, JSON or CSV", "exclusion", "delete-table"):
        assert check in text
    assert "s3://lakehouse-sandbox-data-lake/raw/" in text
    assert "**/_tmp/**" in text


# ------------------------------------------------------------------------------------------------ started
def test_started_after_our_restart_is_an_echo_and_otherwise_benign() -> None:
    awaiting = incident(status=IncidentStatus.REMEDIATED, pending=Step.AWAIT_SUCCESS)
    recent = incident(Condition.FAILED, IncidentStatus.REMEDIATED, actions=(("start_crawler", NOW),))
    stale = incident(Condition.FAILED, IncidentStatus.ESCALATED, actions=(("start_crawler", NOW - timedelta(hours=2)),))
    started = finding(Condition.STARTED)
    for state, classification in ((state_with(awaiting), "echo"), (state_with(recent), "echo")):
        decision = decide_started(started, state, NOW)
        assert (decision.outcome, decision.classification) == (Outcome.IGNORE, classification)
    assert decide_started(started, state_with(stale), NOW).classification == "started"
    assert decide_started(started, state_with(), NOW).classification == "started"


# ------------------------------------------------------------------------------------------------ remediator
def test_scope_is_the_crawler_name_prefix() -> None:
    remediator = CrawlerRemediator(SETTINGS, clients=None)  # type: ignore[arg-type]
    assert remediator.in_scope(finding(Condition.FAILED, name="lakehouse-sandbox-curated-crawler"))
    assert not remediator.in_scope(finding(Condition.FAILED, name="otherteam-raw-crawler"))
    assert remediator.read_permissions == ("glue:GetCrawler", "glue:GetTags")


def test_scope_is_judged_on_the_crawler_acted_on_in_this_account_and_region() -> None:
    remediator = CrawlerRemediator(settings(ACCOUNT_ID="123456789012"), clients=None)  # type: ignore[arg-type]
    home = {"account_id": "123456789012", "event_account": "123456789012", "event_region": "us-east-1"}
    assert remediator.in_scope(finding(Condition.FAILED, **home))
    # the name acted on decides, whatever scope key a finding claims
    claimed = finding(Condition.FAILED, name="otherteam-raw-crawler").model_copy(update={"scope_key": RAW})
    assert not remediator.in_scope(claimed)
    # a crawler of the same name in another account or region is not this one
    assert not remediator.in_scope(finding(Condition.FAILED, **{**home, "account_id": "210987654321"}))
    assert not remediator.in_scope(finding(Condition.FAILED, **{**home, "event_account": "210987654321"}))
    assert not remediator.in_scope(finding(Condition.FAILED, **{**home, "event_region": "eu-west-1"}))


def test_the_event_carries_its_origin_into_the_finding() -> None:
    event = CrawlerStateChangeEvent.model_validate(load_event("glue-crawler-failed-throttled"))
    [found] = findings_from_event(event)
    assert (found.facts["event_account"], found.facts["event_region"]) == (event.account, event.region)


def test_remediator_routes_every_crawler_condition() -> None:
    remediator = CrawlerRemediator(SETTINGS, clients=None)  # type: ignore[arg-type]
    no_data = remediator.decide(finding(Condition.NO_NEW_DATA), crawler().as_dict(), None, state_with(), NOW)
    started = remediator.decide(finding(Condition.STARTED), {}, None, state_with(), NOW)
    cancelled = remediator.decide(finding(Condition.CANCELLED), {}, None, state_with(), NOW)
    assert (no_data.classification, started.outcome, cancelled.outcome) == (
        "no-new-data",
        Outcome.IGNORE,
        Outcome.IGNORE,
    )
