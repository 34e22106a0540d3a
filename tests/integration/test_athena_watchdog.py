"""The Athena query watchdog against the moto emulator: stuck queries cancelled exactly once, failed queries
classified per category, duplicates and re-queues collapsing to one incident, out-of-scope workgroups untouched,
SNS messages without query text, in remediate and observe modes, with the AWS API calls of each scenario counted.

Query states are held with moto's state manager (``athena::execution``, manual progression) and set with the
emulator extension :func:`watchdogs_local.moto_ext.athena.set_query_execution`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import INCIDENT_TABLE, FakeContext
from tests.support.aws import ACCOUNT, REGION, ApiCalls, Subscriber, load_event
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine, HandleResult
from watchdogs.incidents import Incident, IncidentStore
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.runbooks.query import QueryRemediator
from watchdogs.settings import load_settings
from watchdogs_local.moto_ext.athena import query_state, set_query_execution

pytestmark = pytest.mark.integration

PIPELINE_WG = "lakehouse-mvp-sandbox-workgroup"
SANDBOX_WG = "lakehouse-sandbox-workgroup"
OTHER_WG = "otherteam-analytics-workgroup"
CUTOFF = 20 * 1024**3
SECRET = "4111-1111-1111-1111"
SQL = f"SELECT customer_id, SUM(amount) FROM curated.fct_events WHERE card = '{SECRET}' GROUP BY 1"


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def athena(aws: dict[str, Any]) -> Iterator[Any]:
    """The lakehouse workgroups (and one out of scope), with queries held where the test puts them."""
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 10**9})
    client = boto3.client("athena")
    for name in (PIPELINE_WG, SANDBOX_WG, OTHER_WG):
        client.create_work_group(
            Name=name,
            Configuration={"BytesScannedCutoffPerQuery": CUTOFF, "EnforceWorkGroupConfiguration": True},
        )
    yield client
    state_manager.unset_transition("athena::execution")


def start_query(client: Any, workgroup: str = PIPELINE_WG, sql: str = SQL) -> str:
    query_id: str = client.start_query_execution(QueryString=sql, WorkGroup=workgroup)["QueryExecutionId"]
    return query_id


def stuck_query(client: Any, workgroup: str = PIPELINE_WG, *, minutes: int = 31) -> str:
    query_id = start_query(client, workgroup)
    set_query_execution(query_id, state="RUNNING", submitted_seconds_ago=minutes * 60, data_scanned_bytes=3 * 1024**3)
    return query_id


def stuck_finding(query_id: str, workgroup: str = PIPELINE_WG, source: str = "sweep") -> Finding:
    """What the sweep (or the Step Functions watchdog's delegation) hands the engine."""
    return Finding(
        resource_type=ResourceType.QUERY,
        resource_id=query_id,
        condition=Condition.STUCK,
        source=source,
        observed_at=datetime.now(UTC),
        scope_key=workgroup,
        facts={"workgroup": workgroup, "state": "RUNNING"},
    )


def engine(actor: str = "test-sweep") -> Engine:
    """An engine with the query remediator, as a Lambda container builds it (clients counted by ``api_calls``)."""
    settings = load_settings()
    clients = AwsClients()
    return Engine(settings, clients, {ResourceType.QUERY: QueryRemediator(settings, clients)}, actor=actor)


def event(sample: str, query_id: str, *, workgroup: str | None = None, **detail: Any) -> dict[str, Any]:
    raw = load_event(sample)
    raw["detail"]["queryExecutionId"] = query_id
    if workgroup is not None:
        raw["detail"]["workgroupName"] = workgroup
    raw["detail"].update(detail)
    return raw


def invoke(raw: dict[str, Any]) -> dict[str, Any]:
    from watchdogs.handlers.athena import lambda_handler

    response: dict[str, Any] = lambda_handler(raw, FakeContext())
    return response


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"))


def active(query_id: str) -> dict[Condition, Incident]:
    return store().load(ResourceType.QUERY, query_id).incidents


def closed(query_id: str) -> list[Incident]:
    return store().history(ResourceType.QUERY, query_id)


def fail(query_id: str, sample: str) -> None:
    """Make the query FAIL in the emulator with the error the sample event carries."""
    error = load_event(sample)["detail"]["athenaError"]
    set_query_execution(
        query_id,
        state="FAILED",
        error_category=int(error["errorCategory"]),
        error_type=int(error["errorType"]),
        error_message=error["errorMessage"],
        retryable=error["retryable"],
    )


def assert_no_query_text(messages: list[dict[str, Any]]) -> None:
    for message in messages:
        raw = json.dumps(message)
        assert SECRET not in raw
        assert "fct_events WHERE" not in raw
        assert "query_preview" not in raw


def attributes(message: dict[str, Any]) -> dict[str, str]:
    return {k: v["Value"] for k, v in message.get("MessageAttributes", {}).items()}


# ------------------------------------------------------------------------------------------------ the emulator
def test_batch_get_query_execution_works_through_the_moto_extension(athena: Any) -> None:
    # Given two queries, one RUNNING and one FAILED with an Athena error, and an id Athena does not know
    running = stuck_query(athena)
    failed = start_query(athena, SANDBOX_WG)
    set_query_execution(
        failed, state="FAILED", error_category=2, error_type=1000, error_message="SYNTAX_ERROR", retryable=False
    )
    # When BatchGetQueryExecution is called through boto3 against the server
    response = athena.batch_get_query_execution(QueryExecutionIds=[running, failed, "no-such-query"])
    # Then both come back as the real API shapes them, and the unknown id is reported unprocessed
    by_id = {q["QueryExecutionId"]: q for q in response["QueryExecutions"]}
    assert set(by_id) == {running, failed}
    assert by_id[running]["Status"]["State"] == "RUNNING"
    assert by_id[running]["WorkGroup"] == PIPELINE_WG
    assert by_id[running]["Statistics"]["DataScannedInBytes"] == 3 * 1024**3
    assert "CompletionDateTime" not in by_id[running]["Status"]
    assert by_id[failed]["Status"]["AthenaError"] == {
        "ErrorCategory": 2,
        "ErrorType": 1000,
        "Retryable": False,
        "ErrorMessage": "SYNTAX_ERROR",
    }
    assert [u["QueryExecutionId"] for u in response["UnprocessedQueryExecutionIds"]] == ["no-such-query"]
    # And the API's bounds hold: more than 50 ids is refused
    with pytest.raises(ClientError):
        athena.batch_get_query_execution(QueryExecutionIds=[running] * 51)
    # And GetQueryExecution of an unknown id is Athena's InvalidRequestException, not a server error
    with pytest.raises(ClientError) as unknown:
        athena.get_query_execution(QueryExecutionId="no-such-query")
    assert unknown.value.response["Error"]["Code"] == "InvalidRequestException"


def test_stopping_a_finished_query_changes_nothing_in_the_emulator(athena: Any) -> None:
    # Given a query that SUCCEEDED / When StopQueryExecution is called / Then it stays SUCCEEDED (as in Athena)
    query_id = start_query(athena)
    set_query_execution(query_id, state="SUCCEEDED")
    athena.stop_query_execution(QueryExecutionId=query_id)
    assert query_state(query_id) == "SUCCEEDED"


# ------------------------------------------------------------------------------------------------ stuck queries
def test_stuck_query_is_cancelled_once_and_the_cancel_echo_resolves_it(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a query RUNNING for 31 minutes (threshold 25) in the pipeline workgroup
    query_id = stuck_query(athena)
    # When the sweep hands the stuck finding to the engine
    result = engine().handle(stuck_finding(query_id))
    # Then the query is cancelled, with one re-read and its workgroup's tags (opt-out) read before the cancel
    assert query_state(query_id) == "CANCELLED"
    assert result.actions == ["stop_query:cancelled"]
    assert dict(api_calls.calls) == {
        "dynamodb.Query": 1,
        "athena.GetQueryExecution": 1,
        "athena.ListTagsForResource": 1,
        "dynamodb.TransactWriteItems": 1,
        "athena.StopQueryExecution": 1,
        "dynamodb.PutItem": 2,  # + outbox mark-sent
        "sns.Publish": 1,
    }
    # And the incident records which query, where, what kind, how long, how much data, and waits for CANCELLED
    incident = active(query_id)[Condition.STUCK]
    assert incident.status is IncidentStatus.REMEDIATING
    assert incident.pending_step == "confirm-cancel"
    assert incident.has_action("stop_query")
    facts = incident.facts
    assert (facts["query_execution_id"], facts["workgroup"], facts["statement_type"]) == (query_id, PIPELINE_WG, "DML")
    assert facts["elapsed_seconds"] >= 31 * 60
    assert facts["data_scanned_bytes"] == 3 * 1024**3
    assert SECRET not in facts["query_preview"]
    # And one notification, without the query text
    messages = subscriber.messages()
    assert [m["Body"]["event"] for m in messages] == ["act"]
    assert attributes(messages[0])["resource_type"] == "query"
    assert "3.0 GB" in messages[0]["Body"]["summary"]
    assert_no_query_text(messages)

    # When the CANCELLED event of that cancel arrives
    api_calls.reset()
    response = invoke(event("athena-query-cancelled", query_id))
    # Then it starts nothing new: the stuck incident is confirmed and closed, with no Athena call
    assert response["results"][0]["outcome"] == "resolved"
    assert active(query_id) == {}
    [history] = closed(query_id)
    assert history.status is IncidentStatus.RESOLVED
    assert history.time_to_recover_seconds is not None
    assert "confirmed" in history.timeline[-1].detail
    # (closing the incident costs one transaction; marking its outbox entry sent one PutItem on the closed record)
    assert dict(api_calls.calls) == {
        "dynamodb.PutItem": 1,  # outbox mark-sent
        "dynamodb.Query": 1,
        "dynamodb.TransactWriteItems": 1,
        "sns.Publish": 1,
    }
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["resolved"]

    # When the sweep, which listed the query before the cancel landed, hands it over again
    api_calls.reset()
    again = engine().handle(stuck_finding(query_id))
    # Then nothing: one re-read shows CANCELLED, no second cancel, no incident, no message
    assert again.outcome == "ignored"
    assert api_calls.calls["athena.StopQueryExecution"] == 0
    assert dict(api_calls.calls) == {"dynamodb.Query": 1, "athena.GetQueryExecution": 1}
    assert active(query_id) == {}
    assert subscriber.messages() == []


def test_stuck_query_found_by_the_sweep_is_cancelled_once(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a stuck query in the pipeline workgroup and one that is young in the other workgroup
    query_id = stuck_query(athena)
    young = stuck_query(athena, SANDBOX_WG, minutes=5)
    from watchdogs.handlers.sweep import lambda_handler as sweep

    # When the scheduled sweep runs (ListQueryExecutions + BatchGetQueryExecution through the emulator extension)
    sweep(load_event("sweep-scheduled"), FakeContext())
    # Then the stuck one is cancelled, the young one is left alone
    assert (query_state(query_id), query_state(young)) == ("CANCELLED", "RUNNING")
    assert api_calls.calls["athena.BatchGetQueryExecution"] >= 1
    assert api_calls.calls["athena.StopQueryExecution"] == 1
    assert active(query_id)[Condition.STUCK].has_action("stop_query")
    assert active(young) == {}
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["act"]

    # When the next sweep runs
    api_calls.reset()
    sweep(load_event("sweep-scheduled"), FakeContext())
    # Then no second cancel
    assert api_calls.calls["athena.StopQueryExecution"] == 0


def test_duplicate_stuck_finding_before_the_echo_does_not_cancel_twice(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a stuck query the watchdog cancelled, whose cancel Athena has not completed yet (still RUNNING)
    query_id = stuck_query(athena)
    engine().handle(stuck_finding(query_id))
    set_query_execution(query_id, state="RUNNING")
    subscriber.messages()
    api_calls.reset()
    # When the same stuck finding comes again (a duplicate, or the next sweep)
    result = engine("another-container").handle(stuck_finding(query_id, source="delegated"))
    # Then no second StopQueryExecution: the incident waits for the confirmation, unchanged, unannounced
    assert result.outcome == "unchanged"
    assert api_calls.calls["athena.StopQueryExecution"] == 0
    assert dict(api_calls.calls) == {"dynamodb.Query": 1, "athena.GetQueryExecution": 1}
    assert active(query_id)[Condition.STUCK].pending_step == "confirm-cancel"
    assert subscriber.messages() == []


def test_two_concurrent_invocations_cancel_a_stuck_query_exactly_once(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a stuck query and two Lambda containers (own clients, own actor) handed the same finding
    query_id = stuck_query(athena)
    engines = [engine("container-a"), engine("container-b")]
    barrier = threading.Barrier(2)
    results: list[HandleResult] = []
    errors: list[BaseException] = []

    def run(worker: Engine) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(worker.handle(stuck_finding(query_id)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    # When both run at the same time
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    # Then exactly one StopQueryExecution was made, the query is cancelled, and one incident exists
    assert errors == []
    assert api_calls.calls["athena.StopQueryExecution"] == 1
    assert query_state(query_id) == "CANCELLED"
    assert sum(r.actions == ["stop_query:cancelled"] for r in results) == 1
    assert len(active(query_id)) + len(closed(query_id)) == 1
    assert [m["Body"]["event"] for m in subscriber.messages()].count("act") == 1


def test_stuck_query_in_observe_mode_is_reported_once_and_left_running(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given observe mode and a stuck query
    monkeypatch.setenv("WATCHDOG_MODE", "observe")
    query_id = stuck_query(athena)
    # When the sweep hands it over
    result = engine().handle(stuck_finding(query_id))
    # Then the query keeps running; the incident says what the watchdog would have done
    assert query_state(query_id) == "RUNNING"
    assert result.actions == ["would:stop_query"]
    assert api_calls.calls["athena.StopQueryExecution"] == 0
    incident = active(query_id)[Condition.STUCK]
    assert incident.status is IncidentStatus.OBSERVED
    assert incident.pending_step is None
    assert [e.kind for e in incident.timeline if e.step == "stop_query"] == ["would-act"]
    messages = subscriber.messages()
    assert [(m["Body"]["event"], attributes(m)["status"]) for m in messages] == [("observed", "observed")]
    assert_no_query_text(messages)

    # When the next sweep finds it again
    api_calls.reset()
    again = engine().handle(stuck_finding(query_id))
    # Then no new write and no new message: one Query, one re-read and the workgroup's opt-out tags (read before
    # any planned action, observe mode included; the core then finds the repeat is not news)
    assert again.outcome == "unchanged"
    assert dict(api_calls.calls) == {
        "dynamodb.Query": 1,
        "athena.GetQueryExecution": 1,
        "athena.ListTagsForResource": 1,
    }
    assert subscriber.messages() == []

    # When an operator cancels the query and its CANCELLED event arrives
    athena.stop_query_execution(QueryExecutionId=query_id)
    response = invoke(event("athena-query-cancelled", query_id))
    # Then the observed incident is closed as cancelled outside the watchdog
    assert response["results"][0]["outcome"] == "resolved"
    assert active(query_id) == {}
    assert "outside the watchdog" in closed(query_id)[0].timeline[-1].detail


def test_failure_of_an_observed_stuck_query_opens_the_failure_and_closes_the_stuck_incident(
    athena: Any, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given observe mode, a stuck query reported, and then Athena's own 30-minute timeout kills it
    monkeypatch.setenv("WATCHDOG_MODE", "observe")
    query_id = stuck_query(athena)
    engine().handle(stuck_finding(query_id))
    fail(query_id, "athena-query-failed-timeout")
    subscriber.messages()
    # When the FAILED event arrives
    response = invoke(event("athena-query-failed-timeout", query_id))
    # Then one FAILED incident with the timeout advice is open and the stuck one is closed
    assert response["results"][0]["delegated"][0]["outcome"] == "resolved"
    assert set(active(query_id)) == {Condition.FAILED}
    assert active(query_id)[Condition.FAILED].classification == "query-timeout"
    assert [i.condition for i in closed(query_id)] == [Condition.STUCK]
    assert sorted(m["Body"]["event"] for m in subscriber.messages()) == ["notify", "resolved"]


# ------------------------------------------------------------------------------------------------ failed queries
@pytest.mark.parametrize(
    ("sample", "classification", "status", "severity", "outcome", "athena_calls"),
    [
        ("athena-query-failed-timeout", "query-timeout", "open", "warning", "notify", 2),
        ("athena-query-failed-access-denied", "permission-denied", "escalated", "high", "escalate", 1),
        ("athena-query-failed-user-sql-error", "user-sql-error", "open", "warning", "notify", 1),
        ("athena-query-failed-retryable-system-error", "transient-system-error", "open", "info", "notify", 1),
    ],
)
@pytest.mark.parametrize("mode", ["remediate", "observe"])
def test_failed_queries_are_classified_and_notified_per_category(
    athena: Any,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    monkeypatch: pytest.MonkeyPatch,
    mode: str,
    sample: str,
    classification: str,
    status: str,
    severity: str,
    outcome: str,
    athena_calls: int,
) -> None:
    # Given a query that FAILED in the emulator with the sample's Athena error, in either mode
    monkeypatch.setenv("WATCHDOG_MODE", mode)
    query_id = start_query(athena)
    fail(query_id, sample)
    # When its FAILED event arrives
    response = invoke(event(sample, query_id))
    # Then one incident, classified, with the error, statement type and data scanned; nothing is acted on
    assert response["results"][0]["actions"] == []
    incident = active(query_id)[Condition.FAILED]
    assert (incident.classification, incident.status.value, incident.severity.value) == (
        classification,
        status,
        severity,
    )
    assert incident.facts["error_message"] == load_event(sample)["detail"]["athenaError"]["errorMessage"]
    assert incident.facts["statement_type"] == "DML"
    assert query_state(query_id) == "FAILED"
    # And the reads are GetQueryExecution (plus GetWorkGroup for a timeout), and no mutation of Athena:
    # incident load (Query) and creation (PutItem, with the event key), one Publish, the outbox mark-sent (PutItem);
    # a query of the pipeline workgroup: is it a run's step? (ListStateMachines; no run here)
    reads = {"athena.GetQueryExecution": 1} | ({"athena.GetWorkGroup": 1} if athena_calls == 2 else {})
    reads["stepfunctions.ListStateMachines"] = 1
    assert dict(api_calls.calls) == {
        **reads,
        "dynamodb.PutItem": 2,  # + outbox mark-sent
        "dynamodb.Query": 1,
        "sns.Publish": 1,
    }
    # And one message whose attributes route it, without the query text
    messages = subscriber.messages()
    assert [(m["Body"]["event"], attributes(m)["severity"]) for m in messages] == [(outcome, severity)]
    assert messages[0]["Body"]["classification"] == classification
    assert_no_query_text(messages)
    if classification == "query-timeout":
        advice = " ".join(messages[0]["Body"]["advice"])
        assert "partition filters" in advice
        assert "Workgroup BytesScannedCutoffPerQuery is 20.0 GB." in advice


def test_duplicates_and_requeues_collapse_to_one_incident_and_success_resolves_it(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a query that failed on a retryable system error, and its FAILED event handled
    query_id = start_query(athena)
    fail(query_id, "athena-query-failed-retryable-system-error")
    first = event("athena-query-failed-retryable-system-error", query_id)
    invoke(first)
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["notify"]
    incident = active(query_id)[Condition.FAILED]

    # When EventBridge delivers the same transition again (same sequenceNumber, another event id)
    api_calls.reset()
    duplicate = {**first, "id": "5d0c7f8e-duplicate-delivery"}
    response = invoke(duplicate)
    # Then it is recognised by its key on the incident: one DynamoDB call, no Athena call, no message
    assert response.get("duplicate") is True
    assert dict(api_calls.calls) == {"dynamodb.Query": 1}
    assert subscriber.messages() == []

    # When Athena re-queues the query (FAILED -> QUEUED) and it fails again (new sequenceNumber)
    set_query_execution(query_id, state="QUEUED")
    fail(query_id, "athena-query-failed-retryable-system-error")
    api_calls.reset()
    response = invoke(event("athena-query-failed-after-requeue", query_id))
    # Then it lands on the same incident, unchanged: no Athena call, no incident write, no message
    assert response["results"][0]["outcome"] == "unchanged"
    assert dict(api_calls.calls) == {"dynamodb.Query": 1}
    assert active(query_id)[Condition.FAILED].version == incident.version
    assert subscriber.messages() == []

    # When the re-queued query finally SUCCEEDS
    set_query_execution(query_id, state="SUCCEEDED")
    response = invoke(event("athena-query-succeeded", query_id))
    # Then the one incident is resolved, and it was the only incident the query ever had
    assert response["results"][0]["outcome"] == "resolved"
    assert active(query_id) == {}
    assert [(i.incident_id, i.status) for i in closed(query_id)] == [(incident.incident_id, IncidentStatus.RESOLVED)]
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["resolved"]


def test_success_with_nothing_open_writes_nothing(athena: Any, api_calls: ApiCalls, subscriber: Subscriber) -> None:
    # Given an ordinary query that succeeded (most events the function receives)
    query_id = start_query(athena)
    set_query_execution(query_id, state="SUCCEEDED")
    # When its SUCCEEDED event arrives
    response = invoke(event("athena-query-succeeded", query_id))
    # Then one incident-table Query, no Athena call, no incident, no message
    assert response["results"][0]["outcome"] == "ignored"
    assert dict(api_calls.calls) == {"dynamodb.Query": 1}
    assert active(query_id) == {}
    assert closed(query_id) == []
    assert subscriber.messages() == []


def test_cancel_by_a_client_is_ignored_but_a_bytes_scanned_cutoff_gets_the_timeout_advice(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a query its client cancelled, and one Athena cancelled for the workgroup's bytes-scanned cutoff
    by_client = start_query(athena)
    athena.stop_query_execution(QueryExecutionId=by_client)
    cutoff = start_query(athena)
    set_query_execution(
        cutoff, state="CANCELLED", state_change_reason="Query cancelled! : Bytes scanned limit was exceeded"
    )
    # When their CANCELLED events arrive
    ignored = invoke(event("athena-query-cancelled", by_client))
    notified = invoke(event("athena-query-cancelled-bytes-scanned-cutoff", cutoff))
    # Then the client's cancel leaves nothing behind
    assert ignored["results"][0]["outcome"] == "ignored"
    assert active(by_client) == {}
    # And the cutoff is notified with the runbook's optimisation advice and the workgroup's limit
    assert notified["results"][0]["outcome"] == "notify"
    incident = active(cutoff)[Condition.CANCELLED]
    assert (incident.classification, incident.runbook_section) == ("bytes-scanned-cutoff", "Athena Query Timeout")
    assert "Workgroup BytesScannedCutoffPerQuery is 20.0 GB." in incident.advice
    assert api_calls.calls["athena.GetQueryExecution"] == 2
    assert api_calls.calls["athena.GetWorkGroup"] == 1
    messages = subscriber.messages()
    assert [m["Body"]["classification"] for m in messages] == ["bytes-scanned-cutoff"]
    assert_no_query_text(messages)


# ------------------------------------------------------------------------------------------------ scope
def test_out_of_scope_workgroups_are_untouched(athena: Any, api_calls: ApiCalls, subscriber: Subscriber) -> None:
    # Given a stuck query and a failed query in another team's workgroup
    stuck = stuck_query(athena, OTHER_WG)
    failed = start_query(athena, OTHER_WG)
    fail(failed, "athena-query-failed-user-sql-error")
    # When the stuck finding and the FAILED event reach the watchdog
    result = engine().handle(stuck_finding(stuck, OTHER_WG))
    response = invoke(event("athena-query-failed-user-sql-error", failed, workgroup=OTHER_WG))
    # Then neither is read nor touched; no incident, no message
    assert result.outcome == "out-of-scope"
    assert response["results"][0]["outcome"] == "out-of-scope"
    assert query_state(stuck) == "RUNNING"
    assert dict(api_calls.calls) == {}  # judged on the event's workgroup: not even the incident table
    assert active(stuck) == {}
    assert active(failed) == {}
    assert subscriber.messages() == []


def test_a_finding_that_misnames_the_workgroup_is_refused_after_the_reread(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a stuck query in another team's workgroup, delegated with an in-scope workgroup by mistake
    query_id = stuck_query(athena, OTHER_WG)
    # When the engine handles it
    result = engine().handle(stuck_finding(query_id, PIPELINE_WG, source="delegated"))
    # Then the re-read shows the real workgroup: nothing is cancelled or recorded
    assert result.outcome == "ignored"
    assert query_state(query_id) == "RUNNING"
    assert api_calls.calls["athena.StopQueryExecution"] == 0
    assert active(query_id) == {}
    assert subscriber.messages() == []


# ------------------------------------------------------------------------------------------------ opt-out, scope
def tag_workgroup(client: Any, workgroup: str, tags: dict[str, str]) -> None:
    arn = f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{workgroup}"
    client.tag_resource(ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


@pytest.mark.parametrize("value", ["true", "disabled", ""])
def test_stuck_query_in_an_opted_out_workgroup_is_not_stopped(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber, value: str
) -> None:
    # Given a stuck query in an in-scope workgroup that carries the opt-out tag
    tag_workgroup(athena, SANDBOX_WG, {"watchdogs:opt-out": value, "team": "analytics"})
    query_id = stuck_query(athena, SANDBOX_WG)
    # When the sweep hands its stuck finding to the engine
    result = engine().handle(stuck_finding(query_id, SANDBOX_WG))
    # Then the workgroup's tags were read before acting, and the query is left running: no incident, no message
    assert result.outcome == "opted-out"
    assert api_calls.calls["athena.ListTagsForResource"] == 1
    assert "athena.StopQueryExecution" not in api_calls.calls
    assert query_state(query_id) == "RUNNING"
    assert active(query_id) == {}
    assert subscriber.messages() == []


def test_sweep_leaves_an_opted_out_workgroup_alone_and_cancels_in_the_others(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    from watchdogs.handlers.sweep import lambda_handler as sweep

    # Given stuck queries in two in-scope workgroups, one opted out, the other's tag explicitly off
    tag_workgroup(athena, SANDBOX_WG, {"watchdogs:opt-out": "true"})
    tag_workgroup(athena, PIPELINE_WG, {"watchdogs:opt-out": "false"})
    kept, cancelled = stuck_query(athena, SANDBOX_WG), stuck_query(athena, PIPELINE_WG)
    # When the scheduled sweep runs
    report = sweep(load_event("sweep-scheduled"), FakeContext())
    # Then only the query of the workgroup that did not opt out is cancelled
    assert (query_state(kept), query_state(cancelled)) == ("RUNNING", "CANCELLED")
    assert api_calls.calls["athena.StopQueryExecution"] == 1
    assert report["outcomes"] == {"opted-out": 1, "act": 1}
    assert [m["Body"]["resource_id"] for m in subscriber.messages()] == [cancelled]


def test_event_naming_another_workgroup_than_athena_is_ignored(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a query that failed in another team's workgroup
    query_id = start_query(athena, OTHER_WG)
    fail(query_id, "athena-query-failed-user-sql-error")
    capsys.readouterr()
    # When an event about it names an in-scope workgroup
    response = invoke(event("athena-query-failed-user-sql-error", query_id, workgroup=PIPELINE_WG))
    # Then the workgroup Athena reports decides: ignored, no incident, no message, and the mismatch is counted
    assert response["results"][0]["outcome"] == "ignored"
    assert f"GetQueryExecution says {OTHER_WG}" in response["results"][0]["detail"]
    assert active(query_id) == {}
    assert subscriber.messages() == []
    assert api_calls.mutating() == {}
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert any("ScopeMismatch" in blob for blob in emf)


def test_stuck_finding_naming_another_in_scope_workgroup_is_not_cancelled(
    athena: Any, api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    # Given a stuck query in the pipeline workgroup, and a finding that names the (also in-scope) sandbox one
    query_id = stuck_query(athena, PIPELINE_WG)
    # When the engine handles it
    result = engine().handle(stuck_finding(query_id, SANDBOX_WG))
    # Then the finding is not trusted: nothing is cancelled or recorded
    assert result.outcome == "ignored"
    assert "athena.StopQueryExecution" not in api_calls.calls
    assert query_state(query_id) == "RUNNING"
    assert active(query_id) == {}
    # While the finding that names the query's real workgroup cancels it
    assert engine().handle(stuck_finding(query_id, PIPELINE_WG)).actions == ["stop_query:cancelled"]
