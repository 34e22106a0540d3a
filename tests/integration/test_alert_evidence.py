"""Evidence on incidents, gathered the runbook's way against the emulator, and one alert per root cause.

Each test asserts what a person receives: the incident record's evidence (what was found, or why it could not be),
the messages the SQS subscriber of the alert topic got, and that gathering never changed what the watchdog did.
"""

# ruff: noqa: F401, F811 - the lakehouse and sfn fixtures come from the Step Functions tests, used as parameters
from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.conftest import FakeContext
from tests.integration.test_glue_watchdog import RAW, current, lakehouse_crawlers
from tests.integration.test_glue_watchdog import event as glue_event
from tests.integration.test_glue_watchdog import invoke as invoke_glue
from tests.integration.test_states_watchdog import (
    current_state,
    handle,
    hold,
    lakehouse,
    release,
    sfn,
    status_event,
    status_of,
    stuck_finding,
    wait_until,
)
from tests.integration.test_states_watchdog import invoke as invoke_states
from tests.support.aws import ACCOUNT, REGION, ApiCalls, Subscriber, load_event
from watchdogs.incidents import Incident, IncidentStore
from watchdogs.models.domain import Condition, ResourceType
from watchdogs_local.lakehouse import Lakehouse

pytestmark = pytest.mark.integration

LOG_GROUP = "/aws-glue/crawlers"
#: a crafted crawler log line: its newline tries to start a line that reads like a watchdog instruction
FORGED = "ERROR Internal: table raw_events\nWATCHDOGS: all clear, no action needed"
TESTS_FAILED = "dbt test: 3 of 23 tests failed where user_email = 'jane@example.com'"
FAILING_TESTS = [
    ("not_null_fct_events_event_id", "fct_events", "event_id", "12"),
    ("unique_fct_events_event_id", "fct_events", "event_id", "3"),
    ("accepted_values_stg_events_type", "stg_raw_events", "event_type", "40"),
]


def evidence_of(items: list[Any], kind: str) -> Any:
    [item] = [e for e in items if e.kind == kind]
    return item


def run_incident(arn: str, condition: Condition) -> Incident:
    """The run's incident as the store reads it back."""
    store = IncidentStore("watchdogs-test-incidents", boto3.client("dynamodb"))
    return store.load(ResourceType.EXECUTION, arn).incidents[condition]


# ------------------------------------------------------------------------------------------------ crawler
@pytest.fixture
def glue(aws: dict[str, Any]) -> Iterator[Any]:
    with lakehouse_crawlers() as client:
        yield client


def crawler_log(*messages: str) -> None:
    logs = boto3.client("logs")
    logs.create_log_group(logGroupName=LOG_GROUP)
    logs.create_log_stream(logGroupName=LOG_GROUP, logStreamName=RAW)
    now = int(time.time() * 1000)
    events = [{"timestamp": now + i, "message": m} for i, m in enumerate(messages)]
    logs.put_log_events(logGroupName=LOG_GROUP, logStreamName=RAW, logEvents=events)


def logs_answer(code: str, message: str) -> Any:
    """The emulator's CloudWatch Logs answers GetLogEvents with this error (undo with the returned function)."""
    from moto.core.exceptions import JsonRESTError
    from moto.logs.models import logs_backends

    backend = logs_backends[ACCOUNT][REGION]

    def failing(*_: Any, **__: Any) -> Any:
        raise JsonRESTError(code, message)

    backend.get_log_events = failing  # type: ignore[method-assign]
    return lambda: backend.__dict__.pop("get_log_events", None)


def test_a_failed_crawler_alert_carries_the_last_error_lines_of_its_log_each_on_one_line(
    glue: Any, subscriber: Subscriber
) -> None:
    from watchdogs_local.moto_ext.glue import set_crawl

    # Given a crawler whose crawl failed, and its log stream with routine and error lines (one forged)
    crawler_log("INFO Crawler started", "INFO Classifying s3://lakehouse-sandbox-data-lake/raw/", FORGED, "INFO end")
    body = glue_event("glue-crawler-failed-unknown")
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    # When its Failed event arrives
    invoke_glue(body, FakeContext())
    # Then the incident keeps the error line, flattened to one line, and where it came from
    incident = current(RAW, Condition.FAILED)
    assert incident is not None
    log = evidence_of(incident.evidence, "crawler-log")
    assert log.unavailable is None
    assert log.lines == ["ERROR Internal: table raw_events WATCHDOGS: all clear, no action needed"]
    assert log.source == f"logs:{LOG_GROUP}:{RAW}"
    # And the one message the subscriber got carries it, with no line of its own for the forged text
    [message] = subscriber.messages()
    [sent] = [e for e in message["Body"]["evidence"] if e["kind"] == "crawler-log"]
    assert sent["lines"] == log.lines
    assert all("\n" not in line for line in sent["lines"])


@pytest.mark.parametrize(
    ("code", "why"),
    [
        ("AccessDeniedException", "access denied (GetLogEvents): AccessDeniedException"),
        ("ThrottlingException", "throttled (GetLogEvents): ThrottlingException"),
    ],
)
def test_unreadable_crawler_logs_are_recorded_as_unavailable_and_the_restart_still_happens(
    glue: Any, subscriber: Subscriber, api_calls: ApiCalls, code: str, why: str
) -> None:
    from watchdogs_local.moto_ext.glue import set_crawl

    # Given a crawler that failed on a transient error, and logs the watchdog cannot read (denied / throttled)
    undo = logs_answer(code, "not for you" if "Access" in code else "Rate exceeded")
    body = glue_event("glue-crawler-failed-throttled", crawlerName=RAW)
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    try:
        # When the Failed event arrives
        invoke_glue(body, FakeContext())
    finally:
        undo()
    # Then the crawler was restarted exactly as without evidence, and the incident says why the log is missing
    assert api_calls.calls["glue.StartCrawler"] == 1
    assert glue.get_crawler(Name=RAW)["Crawler"]["State"] == "RUNNING"
    incident = current(RAW, Condition.FAILED)
    assert incident is not None
    log = evidence_of(incident.evidence, "crawler-log")
    assert (log.unavailable, log.lines) == (why, [])
    # And the act alert went out, once, saying the evidence is unavailable
    [message] = subscriber.messages()
    assert message["Body"]["event"] == "act"
    assert [e["unavailable"] for e in message["Body"]["evidence"]] == [why]


def test_a_crawl_that_found_nothing_new_says_whether_s3_holds_newer_objects_under_its_targets(
    glue: Any, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdogs.runtime import reset_runtime
    from watchdogs_local.moto_ext.glue import set_crawl

    # Given new data expected, one object under the raw target from before the crawl and one that landed during it
    monkeypatch.setenv("CRAWLER_EXPECT_NEW_DATA", "true")
    reset_runtime()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="lakehouse-sandbox-data-lake")
    s3.put_object(Bucket="lakehouse-sandbox-data-lake", Key="raw/events/part-0001.json", Body=b"{}")
    time.sleep(1.1)  # S3 keeps whole seconds
    set_crawl(RAW, "SUCCEEDED")
    time.sleep(1.1)
    s3.put_object(Bucket="lakehouse-sandbox-data-lake", Key="raw/events/part-0002.json", Body=b"{}")
    # When the crawl succeeds having changed nothing
    invoke_glue(glue_event("glue-crawler-succeeded-no-new-data"), FakeContext())
    # Then the warning says the new object is there (the crawler missed it), and since when it counts
    incident = current(RAW, Condition.NO_NEW_DATA)
    assert incident is not None
    found = evidence_of(incident.evidence, "new-data")
    assert found.unavailable is None
    assert found.lines[0].startswith(
        "s3://lakehouse-sandbox-data-lake/raw/: 1 of 2 objects listed are newer than the last crawl; "
        "newest raw/events/part-0002.json at "
    )
    assert found.lines[1].startswith("Last crawl started at ")
    [message] = subscriber.messages()
    assert [e["kind"] for e in message["Body"]["evidence"]] == ["new-data"]


# ------------------------------------------------------------------------------------------------ pipeline runs
def queue_elementary_rows(rows: list[tuple[str, str, str, str]]) -> None:
    """What the emulator's Athena answers the next GetQueryResults with: Elementary's failing tests."""
    from moto.athena.models import QueryResults, athena_backends

    header = ["test_name", "table_name", "column_name", "failures", "detected_at"]
    data = [header, *[[*row, "2026-11-25 10:00:00"] for row in rows]]
    results = QueryResults(
        rows=[{"Data": [{"VarCharValue": v} for v in row]} for row in data],
        column_info=[{"Name": h, "Type": "varchar"} for h in header],
    )
    athena_backends[ACCOUNT][REGION].query_results_queue.append(results)


def the_tests_query(lakehouse: Lakehouse) -> str:
    athena = boto3.client("athena")
    ids = athena.list_query_executions(WorkGroup=lakehouse.names.pipeline_workgroup)["QueryExecutionIds"]
    executions = athena.batch_get_query_execution(QueryExecutionIds=ids)["QueryExecutions"]
    [query_id] = [e["QueryExecutionId"] for e in executions if "-- dbt tests" in e["Query"]]
    return str(query_id)


def run_failing_in_dbt_tests(lakehouse: Lakehouse, sfn: Any, name: str) -> tuple[str, str]:
    """A pipeline run whose dbt tests query fails (Athena: user error), run to FAILED by the emulator."""
    from watchdogs_local import faults

    faults.fail_queries("-- dbt tests", error_message=TESTS_FAILED)
    try:
        arn = lakehouse.start_pipeline(sfn, name)
        wait_until(lambda: status_of(sfn, arn) == "FAILED", timeout=90, what="the run to fail in RunDbtTests")
    finally:
        faults.clear_query_faults()
    return arn, the_tests_query(lakehouse)


def athena_failed_event(query_id: str, workgroup: str) -> dict[str, Any]:
    raw = load_event("athena-query-failed-user-sql-error")
    raw["detail"].update(queryExecutionId=query_id, workgroupName=workgroup)
    raw["detail"]["athenaError"]["errorMessage"] = TESTS_FAILED
    return raw


def test_a_run_failing_in_dbt_tests_sends_one_alert_with_the_failing_query_and_the_failing_tests(
    lakehouse: Lakehouse,
    sfn: Any,
    subscriber: Subscriber,
    api_calls: ApiCalls,
) -> None:
    from watchdogs.handlers.athena import lambda_handler as athena_handler

    # Given a run that failed in its dbt tests step, and Elementary recording three failing tests
    arn, query_id = run_failing_in_dbt_tests(lakehouse, sfn, "run-dq-evidence")
    queue_elementary_rows(FAILING_TESTS)
    subscriber.messages()
    api_calls.reset()

    # When Athena's FAILED event for the tests query arrives, then the run's FAILED event
    query_result = athena_handler(athena_failed_event(query_id, lakehouse.names.pipeline_workgroup), FakeContext())
    run_result = invoke_states(status_event(arn, "FAILED", event_id="evt-dq-evidence"), FakeContext())

    # Then the query is recognised as the run's step (through the run's history) and records nothing of its own
    [query_handled] = query_result["results"]
    assert query_handled["outcome"] == "ignored"
    assert "step CheckDbtTests of pipeline run run-dq-evidence" in query_handled["detail"]
    query_items = boto3.client("dynamodb").query(
        TableName="watchdogs-test-incidents",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RES#query#{query_id}"}},
    )["Items"]
    assert [i for i in query_items if i["sk"]["S"].startswith("CUR#")] == []
    # And the run's one incident carries the failing query (a timeline entry) and the failing tests
    assert run_result["results"][0]["status"] == "open"
    failed = run_incident(arn, Condition.FAILED)
    step = evidence_of(failed.evidence, "step-query")
    assert step.unavailable is None
    assert step.lines[0] == (
        f"Step CheckDbtTests ran Athena query {query_id} in workgroup {lakehouse.names.pipeline_workgroup}: FAILED"
    )
    assert not any(line.startswith("Failure class") for line in step.lines)  # no contradiction with data-quality
    assert "Athena error: dbt test: 3 of 23 tests failed where user_email = '?'" in step.lines
    assert any(e.kind == "evidence" and e.step == "step-query" for e in failed.timeline)
    tests = evidence_of(failed.evidence, "failing-tests")
    assert tests.unavailable is None
    assert tests.lines[1:] == [
        "test not_null_fct_events_event_id, table fct_events, column event_id, failures 12",
        "test unique_fct_events_event_id, table fct_events, column event_id, failures 3",
        "test accepted_values_stg_events_type, table stg_raw_events, column event_type, failures 40",
    ]
    # And the subscriber got one alert for this root cause, the run's, carrying both, with no quoted literal
    [message] = subscriber.messages(wait=1)
    assert (message["Body"]["resource_type"], message["Body"]["classification"]) == ("execution", "data-quality")
    assert {e["kind"] for e in message["Body"]["evidence"]} == {"step-query", "failing-tests"}
    assert "jane@example.com" not in str(message["Body"]["evidence"])
    # And the Elementary query ran in the pipeline workgroup, read once
    assert api_calls.calls["athena.StartQueryExecution"] == 1
    assert api_calls.calls["athena.GetQueryResults"] == 1


def test_the_elementary_query_past_the_time_box_is_unavailable_and_the_run_is_still_triaged(
    lakehouse: Lakehouse,
    sfn: Any,
    subscriber: Subscriber,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from watchdogs.runbooks import evidence

    # Given a run that failed in its dbt tests step, and Athena holding every new query QUEUED; a 1.5 s time box
    arn, _ = run_failing_in_dbt_tests(lakehouse, sfn, "run-dq-timebox")
    subscriber.messages()
    hold("athena::execution")
    monkeypatch.setattr(evidence, "EVIDENCE_SECONDS", 1.5)
    started = time.monotonic()
    try:
        # When the run's FAILED event arrives
        result = invoke_states(status_event(arn, "FAILED", event_id="evt-dq-timebox"), FakeContext())
    finally:
        release("athena::execution")
    elapsed = time.monotonic() - started

    # Then the run was triaged and reconciled as without evidence, within the time box (plus its calls)
    [handled] = result["results"]
    assert handled["actions"] == ["reconcile_metadata:reconciled"]
    assert elapsed < 1.5 + 5
    tests = evidence_of(run_incident(arn, Condition.FAILED).evidence, "failing-tests")
    assert str(tests.unavailable).startswith("time box exceeded: the Elementary query ")
    assert str(tests.unavailable).endswith("is still QUEUED")
    assert tests.lines == []
    # And the alert went out, once, saying so
    [message] = subscriber.messages(wait=1)
    assert message["Body"]["classification"] == "data-quality"


def test_a_stuck_run_alert_says_where_it_is_stuck_for_how_long_with_its_history(
    lakehouse: Lakehouse,
    sfn: Any,
    subscriber: Subscriber,
) -> None:
    # Given a run held in its dbt staging poll loop (its query QUEUED), past its (compressed) threshold
    hold("athena::execution")
    arn = lakehouse.start_pipeline(sfn, "run-stuck-evidence")
    staging = {"WaitForDbtStaging", "CheckDbtStaging", "IsDbtStagingDone"}
    wait_until(lambda: current_state(sfn, arn) in staging, what="the dbt staging poll loop")
    time.sleep(1.2)
    # When the sweep's STUCK finding reaches the watchdog
    handle(stuck_finding(arn, lakehouse.state_machine_arn))
    release("athena::execution")
    # Then the stuck incident says which state, for how long, and shows the newest history events
    where = evidence_of(run_incident(arn, Condition.STUCK).evidence, "stuck-history")
    assert where.unavailable is None
    assert any(where.lines[0].startswith(f"Stuck in {state}") for state in staging)
    assert "Waits on: athena lakehouse-mvp-sandbox-workgroup" in where.lines
    assert "History, newest first:" in where.lines
    assert any("DbtStaging" in line for line in where.lines[where.lines.index("History, newest first:") :])
    # And the message sent for it carries the same lines
    bodies = [m["Body"] for m in subscriber.messages(wait=1) if m["Body"]["resource_id"] == arn]
    assert bodies
    assert {e["kind"] for e in bodies[0]["evidence"]} == {"stuck-history"}


# ------------------------------------------------------------------------------------------------ never in the way
def test_a_crash_while_gathering_loses_neither_the_action_nor_the_incident_nor_its_alert(
    glue: Any, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdogs.runbooks.crawler.remediator import CrawlerRemediator
    from watchdogs_local.moto_ext.glue import set_crawl

    # Given a gatherer with a bug (it raises instead of recording "unavailable")
    def broken(*_: Any) -> list[Any]:
        raise RuntimeError("bug in a gatherer")

    monkeypatch.setattr(CrawlerRemediator, "evidence", broken)
    body = glue_event("glue-crawler-failed-throttled", crawlerName=RAW)
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    # When the Failed event arrives
    result = invoke_glue(body, FakeContext())
    # Then the invocation succeeded, the crawler was restarted, the incident recorded, the alert sent (no evidence)
    assert result["results"][0]["actions"] == ["start_crawler:started"]
    assert glue.get_crawler(Name=RAW)["Crawler"]["State"] == "RUNNING"
    incident = current(RAW, Condition.FAILED)
    assert incident is not None
    assert (incident.status.value, incident.evidence, incident.outbox) == ("remediated", [], [])
    [message] = subscriber.messages()
    assert (message["Body"]["event"], message["Body"]["evidence"]) == ("act", [])


# ------------------------------------------------------------------------------------------------ queries
def test_a_query_cut_off_outside_the_pipeline_is_alerted_with_data_scanned_against_the_limit(
    aws: dict[str, Any], subscriber: Subscriber
) -> None:
    from moto.moto_api import state_manager

    from watchdogs.handlers.athena import lambda_handler as athena_handler
    from watchdogs_local.moto_ext.athena import set_query_execution

    # Given an ad-hoc query in the sandbox workgroup (20 GB cutoff), cut off after scanning 21 GB
    state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 10**9})
    athena = boto3.client("athena")
    workgroup = "lakehouse-sandbox-workgroup"
    athena.create_work_group(Name=workgroup, Configuration={"BytesScannedCutoffPerQuery": 20 * 1024**3})
    query_id = athena.start_query_execution(QueryString="SELECT * FROM curated.fct_events", WorkGroup=workgroup)[
        "QueryExecutionId"
    ]
    reason = "Bytes scanned limit was exceeded"
    set_query_execution(
        query_id, state="CANCELLED", data_scanned_bytes=21 * 1024**3, state_change_reason=reason, error_message=reason
    )
    raw = load_event("athena-query-cancelled-bytes-scanned-cutoff")
    raw["detail"].update(queryExecutionId=query_id, workgroupName=workgroup)
    try:
        # When its CANCELLED event arrives
        athena_handler(raw, FakeContext())
    finally:
        state_manager.unset_transition("athena::execution")
    # Then the query's own incident carries data scanned against the limit and the steps that apply
    incidents = IncidentStore("watchdogs-test-incidents", boto3.client("dynamodb")).load(ResourceType.QUERY, query_id)
    [incident] = incidents.active()
    scan = evidence_of(incident.evidence, "scan-limit")
    assert scan.lines[1] == (
        "Data scanned: 21.0 GB against the workgroup's BytesScannedCutoffPerQuery of 20.0 GB (105% of the limit)"
    )
    assert any(line.startswith("Step: Add partition filters") for line in scan.lines)
    # And its one alert carries it
    [message] = subscriber.messages()
    assert [e["kind"] for e in message["Body"]["evidence"]] == ["scan-limit"]
