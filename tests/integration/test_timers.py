"""One-shot stuck timers against moto (issue 15): a start event creates one EventBridge Scheduler schedule at start
+ threshold (duplicates: still one), a terminal event deletes it, a firing timer re-reads its resource and hands a
still-running one to the normal stuck remediation (a finished one: nothing), a timer that cannot be made never fails
the event, and a resource whose start event was lost is still caught by the sweep."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import FakeContext
from tests.integration.test_sweep import (  # noqa: F401 - fixtures
    PIPELINE_ARN,
    RAW,
    WORKGROUP,
    active,
    athena_newest_first,
    crawl,
    crawler_state,
    execution_status,
    held_states,
    lakehouse,
    outcomes,
    query_state,
    start_execution,
    start_query,
    sweep,
)
from tests.support.aws import ACCOUNT, REGION, Subscriber, load_event
from watchdogs.handlers import athena, glue, states
from watchdogs.handlers import sweep as sweep_handler
from watchdogs.incidents import IncidentStore
from watchdogs.models.domain import Condition, ResourceType
from watchdogs.runtime import reset_runtime, runtime
from watchdogs.timers import SLACK_SECONDS, STEP_FOLLOW_UPS, timer_name

pytestmark = pytest.mark.integration

GROUP = "lakehouse-watchdogs-timers"
FUNCTIONS = {"crawler": "watchdogs-glue", "query": "watchdogs-athena", "execution": "watchdogs-states"}
TARGETS = {kind: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}" for kind, name in FUNCTIONS.items()}
TARGET = TARGETS["crawler"]
#: what each target ARN runs: the resource's own event function
HANDLERS = {"crawler": glue.lambda_handler, "query": athena.lambda_handler, "execution": states.lambda_handler}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/watchdogs-timer-role"
THRESHOLD_TAG = "watchdogs:stuck-after-seconds"


@pytest.fixture
def timers(lakehouse: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:  # noqa: F811
    """The lakehouse with timers on: the schedule group exists, the settings name it, the target and the role."""
    scheduler = boto3.client("scheduler")
    scheduler.create_schedule_group(Name=GROUP)
    targets = json.dumps(TARGETS)
    for key, value in {"TIMER_SCHEDULE_GROUP": GROUP, "TIMER_TARGETS": targets, "TIMER_ROLE_ARN": ROLE}.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    return scheduler


def schedules(scheduler: Any) -> list[str]:
    return [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]]


def at(expression: str) -> datetime:
    return datetime.strptime(expression, "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)


def event(sample: str, when: datetime, **detail: Any) -> dict[str, Any]:
    body = load_event(sample)
    body["id"] = str(uuid.uuid4())
    body["time"] = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    body["detail"].update(detail)
    return body


def deliver(payload: dict[str, Any]) -> dict[str, Any]:
    """What Scheduler does when a timer fires: invoke the target its schedule names (the resource's own event
    function) with the schedule's input."""
    result: dict[str, Any] = HANDLERS[payload["resource_type"]](payload, FakeContext())  # type: ignore[operator]
    return result


def fire(resource_type: ResourceType, resource_id: str) -> dict[str, Any]:
    return deliver({"source": "watchdogs.timer", "resource_type": resource_type.value, "resource_id": resource_id})


def crawler_started(when: datetime) -> dict[str, Any]:
    return event("glue-crawler-started", when, crawlerName=RAW)


# ------------------------------------------------------------------------------------------------ create / delete
def test_duplicate_crawler_starts_create_one_timer_at_start_plus_threshold(timers: Any) -> None:
    started = datetime.now(UTC).replace(microsecond=0)
    crawl(RAW, "RUNNING")
    # When the Started event is delivered twice (EventBridge delivers at least once)
    first = glue.lambda_handler(crawler_started(started), FakeContext())  # type: ignore[arg-type]
    second = glue.lambda_handler(crawler_started(started), FakeContext())  # type: ignore[arg-type]
    # Then both are handled and there is one timer, named after the crawler, due at start + 45 min (+ slack)
    assert first["outcome"] == second["outcome"] == "handled"
    name = timer_name(ResourceType.CRAWLER, RAW)
    assert schedules(timers) == [name]
    schedule = timers.get_schedule(Name=name, GroupName=GROUP)
    assert at(schedule["ScheduleExpression"]) == started + timedelta(seconds=2700 + SLACK_SECONDS)
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert (schedule["Target"]["Arn"], schedule["Target"]["RoleArn"]) == (TARGET, ROLE)
    assert json.loads(schedule["Target"]["Input"]) == {
        "source": "watchdogs.timer",
        "resource_type": "crawler",
        "resource_id": RAW,
    }


def test_a_threshold_tag_moves_the_timer_and_its_floor_applies(timers: Any) -> None:
    glue_client = boto3.client("glue")
    arn = f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{RAW}"
    started = datetime.now(UTC).replace(microsecond=0)
    glue_client.tag_resource(ResourceArn=arn, TagsToAdd={THRESHOLD_TAG: "60"})  # below the 300 s floor
    glue.lambda_handler(crawler_started(started), FakeContext())  # type: ignore[arg-type]
    schedule = timers.get_schedule(Name=timer_name(ResourceType.CRAWLER, RAW), GroupName=GROUP)
    assert at(schedule["ScheduleExpression"]) == started + timedelta(seconds=300 + SLACK_SECONDS)


def test_a_terminal_event_deletes_the_timer_and_a_missing_one_is_fine(timers: Any) -> None:
    now = datetime.now(UTC)
    glue.lambda_handler(crawler_started(now), FakeContext())  # type: ignore[arg-type]
    assert schedules(timers) == [timer_name(ResourceType.CRAWLER, RAW)]
    crawl(RAW, "SUCCEEDED")
    done = event("glue-crawler-succeeded", now, crawlerName=RAW)
    assert glue.lambda_handler(done, FakeContext())["outcome"] == "handled"  # type: ignore[arg-type]
    assert schedules(timers) == []
    # the same terminal event again (or a timer that already fired): nothing to delete, still handled
    again = event("glue-crawler-succeeded", now, crawlerName=RAW)
    assert glue.lambda_handler(again, FakeContext())["outcome"] == "handled"  # type: ignore[arg-type]


def test_query_and_run_starts_create_timers_their_ends_delete_them(timers: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    query_id = start_query()
    running = event("athena-query-succeeded", now, currentState="RUNNING", queryExecutionId=query_id)
    athena.lambda_handler(running, FakeContext())  # type: ignore[arg-type]
    run = start_execution(name="timed-run")
    started_ms = int(now.timestamp() * 1000)
    run_event = event(
        "stepfunctions-execution-succeeded", now, executionArn=run, stateMachineArn=PIPELINE_ARN, name="timed-run"
    )
    run_event["detail"] |= {"status": "RUNNING", "startDate": started_ms, "stopDate": None}
    states.lambda_handler(run_event, FakeContext())  # type: ignore[arg-type]
    query_timer, run_timer = timer_name(ResourceType.QUERY, query_id), timer_name(ResourceType.EXECUTION, run)
    assert sorted(schedules(timers)) == sorted([query_timer, run_timer])
    due = {n: at(timers.get_schedule(Name=n, GroupName=GROUP)["ScheduleExpression"]) for n in schedules(timers)}
    assert due == {
        query_timer: now + timedelta(seconds=1500 + SLACK_SECONDS),
        run_timer: now + timedelta(seconds=7200 + SLACK_SECONDS),
    }
    ended = event("athena-query-succeeded", now, queryExecutionId=query_id, sequenceNumber="10")
    athena.lambda_handler(ended, FakeContext())  # type: ignore[arg-type]
    assert schedules(timers) == [run_timer]


def test_a_timer_that_cannot_be_made_never_fails_the_event(lakehouse: dict[str, Any], monkeypatch: Any) -> None:  # noqa: F811
    # the group does not exist: CreateSchedule fails
    for key, value in {"TIMER_SCHEDULE_GROUP": "no-such-group", "TIMER_TARGETS": json.dumps(TARGETS)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("TIMER_ROLE_ARN", ROLE)
    reset_runtime()
    result = glue.lambda_handler(crawler_started(datetime.now(UTC)), FakeContext())  # type: ignore[arg-type]
    assert result["outcome"] == "handled"


# ------------------------------------------------------------------------------------------------ firing
def test_firing_on_a_crawler_still_running_stops_it_like_the_sweep(timers: Any, subscriber: Subscriber) -> None:
    crawl(RAW, "RUNNING", running_for_seconds=2700 + SLACK_SECONDS)
    result = fire(ResourceType.CRAWLER, RAW)
    assert result["outcome"] == "stuck"
    assert crawler_state(RAW)[0] == "STOPPING"  # runbook step 3: the reset begins
    assert Condition.STUCK in active(ResourceType.CRAWLER, RAW)
    assert outcomes(subscriber) == [(RAW, "STUCK", "act")]


def test_firing_on_a_finished_or_young_resource_does_nothing(timers: Any, subscriber: Subscriber) -> None:
    crawl(RAW, "SUCCEEDED")
    assert fire(ResourceType.CRAWLER, RAW)["outcome"] == "not-stuck"
    young = start_query(submitted_seconds_ago=60)
    assert fire(ResourceType.QUERY, young)["outcome"] == "not-stuck"
    assert query_state(young) == "RUNNING"
    assert active(ResourceType.CRAWLER, RAW) == {}
    assert active(ResourceType.QUERY, young) == {}
    assert outcomes(subscriber) == []


def test_firing_on_a_stuck_query_and_run_remediates_them(timers: Any, subscriber: Subscriber) -> None:
    query_id = start_query(submitted_seconds_ago=1500 + SLACK_SECONDS)
    run = start_execution(running_for=7200 + SLACK_SECONDS, name="stuck-run")
    assert fire(ResourceType.QUERY, query_id)["outcome"] == "stuck"
    assert fire(ResourceType.EXECUTION, run)["outcome"] == "stuck"
    assert query_state(query_id) == "CANCELLED"
    assert execution_status(run) == "ABORTED"
    assert sorted(o for _, _, o in outcomes(subscriber)) == ["act", "act"]


def test_a_malformed_timer_payload_is_rejected_and_nothing_is_read(timers: Any, subscriber: Subscriber) -> None:
    for handler in (*HANDLERS.values(), sweep_handler.lambda_handler):
        result = handler({"source": "watchdogs.timer", "resource_type": "bucket", "resource_id": RAW}, FakeContext())  # type: ignore[operator]
        assert result["outcome"] == "rejected"
    assert outcomes(subscriber) == []


def test_an_event_function_answers_only_its_own_resource_type(timers: Any, subscriber: Subscriber) -> None:
    # Given a crawler past its threshold, and its timer delivered to the Athena function (a misrouted target)
    crawl(RAW, "RUNNING", running_for_seconds=2700 + SLACK_SECONDS)
    payload = {"source": "watchdogs.timer", "resource_type": "crawler", "resource_id": RAW}
    result = athena.lambda_handler(payload, FakeContext())  # type: ignore[arg-type]
    # Then it is refused (typed, nothing read or done), while its own function acts on it
    assert (result["outcome"], result["reason"]) == ("rejected", "not a valid TimerFired")
    assert crawler_state(RAW)[0] == "RUNNING"
    assert glue.lambda_handler(payload, FakeContext())["outcome"] == "stuck"  # type: ignore[arg-type]
    assert crawler_state(RAW)[0] == "STOPPING"


def test_a_timer_made_before_the_upgrade_still_works_in_the_sweep_function(timers: Any, subscriber: Subscriber) -> None:
    # schedules in flight across an upgrade still target the sweep function: it answers any resource type
    query_id = start_query(submitted_seconds_ago=1500 + SLACK_SECONDS)
    payload = {"source": "watchdogs.timer", "resource_type": "query", "resource_id": query_id}
    assert sweep_handler.lambda_handler(payload, FakeContext())["outcome"] == "stuck"  # type: ignore[arg-type]
    assert query_state(query_id) == "CANCELLED"


# ------------------------------------------------------------------------------------------------ the safety net
def test_a_lost_start_event_is_still_caught_by_the_sweep(timers: Any, subscriber: Subscriber) -> None:
    # Given a crawler past its threshold whose Started event never arrived: no timer exists
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    assert schedules(timers) == []
    # When the sweep runs / Then it finds and remediates the crawler as before
    report = sweep()
    assert [(i.kind, i.outcome) for i in report.items] == [("stuck", "act")]
    assert crawler_state(RAW)[0] == "STOPPING"
    assert outcomes(subscriber) == [(RAW, "STUCK", "act")]


# ------------------------------------------------------------------------------------------------ step timers
def step_timers(scheduler: Any) -> list[dict[str, Any]]:
    """The armed step timers, oldest attempt first: their schedule and what they will deliver."""
    found = []
    for name in schedules(scheduler):
        if name.startswith("wd-step-"):
            schedule = scheduler.get_schedule(Name=name, GroupName=GROUP)
            found.append({**schedule, "payload": json.loads(schedule["Target"]["Input"])})
    return sorted(found, key=lambda s: s["payload"]["attempt"])


def fire_step(scheduler: Any, timer: dict[str, Any]) -> dict[str, Any]:
    """What Scheduler does when the step timer comes due: deliver its input, delete it (ActionAfterCompletion)."""
    scheduler.delete_schedule(Name=timer["Name"], GroupName=GROUP)
    assert timer["Target"]["Arn"] == TARGETS[timer["payload"]["resource_type"]]
    return deliver(timer["payload"])


def crawler_incident(condition: Condition = Condition.STUCK) -> Any:
    settings = runtime().settings
    store = IncidentStore(settings.incident_table, boto3.client("dynamodb"))
    return store.load(ResourceType.CRAWLER, RAW).incidents.get(condition)


def stop_a_stuck_crawler(scheduler: Any) -> datetime:
    crawl(RAW, "RUNNING", running_for_seconds=2700 + SLACK_SECONDS)
    stopped_at = datetime.now(UTC)
    assert fire(ResourceType.CRAWLER, RAW)["outcome"] == "stuck"
    assert crawler_state(RAW)[0] == "STOPPING"
    return stopped_at


def test_stopping_a_stuck_crawler_arms_a_step_timer_that_restarts_it_once_ready(
    timers: Any, subscriber: Subscriber
) -> None:
    # Given the stuck timer fired and the watchdog stopped the crawler (reset step 1: pending start_when_ready)
    stopped_at = stop_a_stuck_crawler(timers)
    # Then a step timer looks again 30 s later (STEP_FOLLOW_UP_SECONDS), in the same group, to the same target
    [timer] = step_timers(timers)
    assert timer["payload"] == {
        "source": "watchdogs.timer",
        "resource_type": "crawler",
        "resource_id": RAW,
        "step": "start_when_ready",
        "attempt": 1,
    }
    due = at(timer["ScheduleExpression"])
    assert timedelta(seconds=30) <= due - stopped_at <= timedelta(seconds=32)
    assert (timer["Target"]["Arn"], timer["ActionAfterCompletion"]) == (TARGET, "DELETE")
    assert timer["Target"]["RetryPolicy"] == {"MaximumRetryAttempts": 5, "MaximumEventAgeInSeconds": 900}
    # When the crawler is READY by then and the step timer fires
    crawl(RAW, "CANCELLED")
    result = fire_step(timers, timer)
    # Then the reset's step 2 is taken now (not at the next sweep): the crawler runs again, once
    assert result["outcome"] == "resumed"
    assert result["results"][0]["actions"] == ["start_crawler:started"]
    assert crawler_state(RAW)[0] == "RUNNING"
    incident = crawler_incident()
    assert [e.step for e in incident.timeline if e.kind == "action"] == ["stop_crawler", "start_crawler"]
    assert incident.pending_step == "await_success"
    # and nothing more is armed: the restarted crawl's own events (and its stuck timer) take it from here
    assert step_timers(timers) == []


def test_a_crawler_still_stopping_is_looked_at_again_with_backoff_then_left_to_the_sweep(
    timers: Any, subscriber: Subscriber
) -> None:
    stop_a_stuck_crawler(timers)
    delays = []
    for attempt in range(1, STEP_FOLLOW_UPS + 1):
        # When the step timer fires while the crawler is still STOPPING
        [timer] = step_timers(timers)
        assert timer["payload"]["attempt"] == attempt
        fired_at = datetime.now(UTC)
        result = fire_step(timers, timer)
        # Then nothing is started, and the next look is armed twice as far out, until the looks are spent
        assert result["outcome"] == "resumed"
        assert not any(a.startswith("start_crawler") for a in result["results"][0]["actions"])
        assert crawler_state(RAW)[0] == "STOPPING"
        armed = step_timers(timers)
        if attempt < STEP_FOLLOW_UPS:
            assert result["next_look"] == "created"
            delays.append(round((at(armed[0]["ScheduleExpression"]) - fired_at).total_seconds()))
        else:
            assert (result["next_look"], armed) == ("spent", [])
    assert [d // 30 for d in delays] == [2, 4, 8]
    # the incident still waits at start_when_ready: the sweep resumes it from here
    assert crawler_incident().pending_step == "start_when_ready"


def test_a_step_timer_that_fires_after_the_step_was_taken_does_nothing(timers: Any, subscriber: Subscriber) -> None:
    stop_a_stuck_crawler(timers)
    [timer] = step_timers(timers)
    # Given the sweep took the step first (the crawler was READY at its visit)
    crawl(RAW, "CANCELLED")
    sweep()
    assert crawler_state(RAW)[0] == "RUNNING"
    before = [e.step for e in crawler_incident().timeline if e.kind == "action"]
    # When the step timer fires late / Then nothing happens: no second StartCrawler, no message
    subscriber.messages()  # drained: what the sweep's restart sent
    result = fire_step(timers, timer)
    assert result["outcome"] == "step-done"
    assert (
        [e.step for e in crawler_incident().timeline if e.kind == "action"]
        == before
        == ["stop_crawler", "start_crawler"]
    )
    assert subscriber.messages() == []


def test_the_sweep_arms_a_step_timer_for_the_crawler_it_stopped(timers: Any, subscriber: Subscriber) -> None:
    crawl(RAW, "RUNNING", running_for_seconds=3000)  # its Started event was lost: no stuck timer
    sweep()
    assert crawler_state(RAW)[0] == "STOPPING"
    assert [t["payload"]["step"] for t in step_timers(timers)] == ["start_when_ready"]


def test_observe_mode_arms_no_step_timer(timers: Any, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WATCHDOG_MODE", "observe")
    reset_runtime()
    crawl(RAW, "RUNNING", running_for_seconds=2700 + SLACK_SECONDS)
    assert fire(ResourceType.CRAWLER, RAW)["outcome"] == "stuck"
    assert crawler_state(RAW)[0] == "RUNNING"  # observed, not stopped
    assert step_timers(timers) == []


def test_a_forged_step_payload_is_rejected(timers: Any, subscriber: Subscriber) -> None:
    forged = {
        "source": "watchdogs.timer",
        "resource_type": "crawler",
        "resource_id": RAW,
        "step": "rm -rf",
        "attempt": 1,
    }
    assert deliver(forged)["outcome"] == "rejected"
    too_many = {**forged, "step": "start_when_ready", "attempt": STEP_FOLLOW_UPS + 1}
    assert deliver(too_many)["outcome"] == "rejected"
    assert outcomes(subscriber) == []


def test_a_step_timer_that_cannot_be_armed_leaves_the_restart_to_the_sweep(
    timers: Any, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given Scheduler refuses new schedules (the group is gone) when the stuck timer's stop arms the step timer
    monkeypatch.setenv("TIMER_SCHEDULE_GROUP", "a-group-that-was-deleted")
    reset_runtime()
    stop_a_stuck_crawler(timers)
    # Then the stop stands, recorded once, and nothing is armed
    assert step_timers(timers) == []
    assert crawler_incident().pending_step == "start_when_ready"
    # When the crawler is READY and the sweep comes / Then the sweep takes the step, once
    crawl(RAW, "CANCELLED")
    sweep()
    assert crawler_state(RAW)[0] == "RUNNING"
    assert [e.step for e in crawler_incident().timeline if e.kind == "action"] == ["stop_crawler", "start_crawler"]
