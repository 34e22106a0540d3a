"""The Step Functions watchdog against moto running the runbook's pipeline for real.

Moto executes the pipeline state machine (its aws-sdk Glue / Athena / DynamoDB tasks call the same in-process
emulator), so a crawler or query held by moto's state manager really stalls a run in its wait loop. The tests hand
the watchdog the STUCK finding the sweep would produce, and the status-change events through the Lambda handler.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.support.aws import ApiCalls, Subscriber, load_event
from watchdogs.actions import STOP_ERROR
from watchdogs.models.domain import Condition, Finding, ResourceType
from watchdogs_local.lakehouse import Lakehouse, LakehouseNames, provision_lakehouse
from watchdogs_local.moto_ext import stepfunctions as sfn_ext

pytestmark = pytest.mark.integration

HOLD = {"progression": "manual", "times": 10**9}
RELEASE = {"progression": "immediate"}
INCIDENT_TABLE = "watchdogs-test-incidents"
RAW_LOOP = {"WaitForRawCrawler", "GetRawCrawlerState", "IsRawCrawlerDone"}


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def lakehouse(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Iterator[Lakehouse]:
    """The runbook's lakehouse in the emulator, with moto's state-machine interpreter on."""
    from moto.moto_api import state_manager

    from watchdogs.runtime import reset_runtime

    for key, value in {
        "EXECUTION_STUCK_SECONDS": "1",
        "CRAWLER_STUCK_SECONDS": "1",
        "QUERY_STUCK_SECONDS": "1",
        "BUDGET_MAX_ACTIONS": "5",
    }.items():
        monkeypatch.setenv(key, value)
    reset_runtime()
    previous = sfn_ext.execution_simulation(True)
    state_manager.set_transition(model_name="glue::crawl", transition=RELEASE)
    state_manager.set_transition(model_name="athena::execution", transition=RELEASE)
    try:
        yield provision_lakehouse(boto3.Session(), LakehouseNames(env="sandbox"))
    finally:
        sfn_ext.stop_running_executions()
        state_manager.unset_transition("glue::crawl")
        state_manager.unset_transition("athena::execution")
        sfn_ext.execution_simulation(previous)


@pytest.fixture
def sfn() -> Any:
    return boto3.client("stepfunctions")


def hold(model: str) -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name=model, transition=HOLD)


def release(model: str) -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name=model, transition=RELEASE)


def current_state(sfn: Any, arn: str) -> str | None:
    for event in sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=5)["events"]:
        details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
        if details:
            return str(details["name"])
    return None


def status_of(sfn: Any, arn: str) -> str:
    return str(sfn.describe_execution(executionArn=arn)["status"])


def stuck_finding(arn: str, machine: str) -> Finding:
    """The finding the sweep produces for a run RUNNING past its threshold."""
    return Finding(
        resource_type=ResourceType.EXECUTION,
        resource_id=arn,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=datetime.now(UTC),
        scope_key=machine,
        facts={"status": "RUNNING", "state_machine_arn": machine, "running_seconds": 5, "threshold_seconds": 1},
    )


def handle(finding: Finding) -> Any:
    from watchdogs.runtime import runtime

    return runtime().engine.handle(finding)


def status_event(arn: str, status: str, *, event_id: str, redrive_count: int = 0) -> dict[str, Any]:
    sample = {"SUCCEEDED": "succeeded", "FAILED": "failed", "ABORTED": "aborted", "TIMED_OUT": "timed-out"}[status]
    event = load_event(f"stepfunctions-execution-{sample}")
    machine = arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
    event["id"] = event_id
    event["resources"] = [arn]
    event["detail"].update(
        {"executionArn": arn, "stateMachineArn": machine, "name": arn.rsplit(":", 1)[-1], "redriveCount": redrive_count}
    )
    return event


def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
    from watchdogs.handlers.states import lambda_handler

    result: dict[str, Any] = lambda_handler(event, context)
    return result


def incident_items(arn: str) -> list[dict[str, Any]]:
    ddb = boto3.client("dynamodb")
    items = ddb.query(
        TableName=INCIDENT_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"RES#execution#{arn}"}},
    )["Items"]
    from boto3.dynamodb.types import TypeDeserializer

    plain = TypeDeserializer()
    return [{k: plain.deserialize(v) for k, v in item.items()} for item in items]


def metadata_rows(names: LakehouseNames) -> list[dict[str, Any]]:
    items = boto3.client("dynamodb").scan(TableName=names.metadata_table)["Items"]
    return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]


def service_calls(api_calls: ApiCalls, *services: str) -> dict[str, int]:
    return {k: v for k, v in sorted(api_calls.calls.items()) if k.split(".", 1)[0] in services}


# ------------------------------------------------------------------------------------------------ stuck
def test_stuck_on_raw_crawler_is_healed_and_the_same_run_completes(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: Any
) -> None:
    # Given a pipeline run whose raw crawler is held RUNNING: the run really loops in WaitForRawCrawler
    hold("glue::crawl")
    arn = lakehouse.start_pipeline(sfn, "run-stuck-crawler")
    wait_until(lambda: current_state(sfn, arn) in RAW_LOOP, what="the raw crawler wait loop")
    time.sleep(1.2)  # past the (compressed) crawler and execution thresholds
    raw = lakehouse.names.crawler("raw")
    glue = boto3.client("glue")
    api_calls.reset()

    # When the sweep's STUCK finding reaches the watchdog
    first = handle(stuck_finding(arn, lakehouse.state_machine_arn))

    # Then it finds the crawler wait in the newest history and hands the crawler to the crawler remediation
    assert first.outcome == "wait"
    [crawler_result] = first.delegated
    assert crawler_result.resource == f"crawler#{raw}"
    assert crawler_result.actions == ["stop_crawler:stopping"]
    assert glue.get_crawler(Name=raw)["Crawler"]["State"] == "STOPPING"
    assert status_of(sfn, arn) == "RUNNING"  # the run is not touched
    assert service_calls(api_calls, "stepfunctions", "glue", "athena") == {
        "glue.GetCrawler": 1,
        "glue.GetTags": 1,
        "glue.StopCrawler": 1,
        "stepfunctions.DescribeExecution": 1,
        "stepfunctions.GetExecutionHistory": 1,
        "stepfunctions.ListTagsForResource": 1,  # declared for STUCK: any of its decisions may stop the run
    }
    assert api_calls.calls["stepfunctions.GetExecutionHistory"] == 1
    round_one = api_calls.total
    # + outbox mark-sent for each of the two notifications (execution wait, crawler act), and the reads STUCK declares
    # whatever it decides: the state machine's tags and the metadata row (a stop would finalise the run)
    assert round_one <= 17
    assert api_calls.calls["sns.Publish"] == 2

    # When the stop completes (the crawler is READY with a CANCELLED crawl: the run keeps waiting) and the next
    # sweep comes
    release("glue::crawl")
    wait_until(lambda: glue.get_crawler(Name=raw)["Crawler"]["State"] == "READY", what="crawler READY")
    time.sleep(1.5)
    assert status_of(sfn, arn) == "RUNNING"
    assert current_state(sfn, arn) in RAW_LOOP
    api_calls.reset()
    second = handle(stuck_finding(arn, lakehouse.state_machine_arn))

    # Then the crawler remediation restarts the crawler, and the same run completes without being stopped
    assert second.delegated[0].actions == ["start_crawler:started"]
    assert service_calls(api_calls, "stepfunctions", "glue", "athena") == {
        "glue.GetCrawler": 1,
        "glue.GetTags": 1,
        "glue.StartCrawler": 1,
        "stepfunctions.DescribeExecution": 1,
        "stepfunctions.GetExecutionHistory": 1,
        "stepfunctions.ListTagsForResource": 1,
    }
    wait_until(lambda: status_of(sfn, arn) == "SUCCEEDED", timeout=30, what="the run to succeed")
    described = sfn.describe_execution(executionArn=arn)
    assert "error" not in described
    assert [row["status"] for row in metadata_rows(lakehouse.names)] == ["SUCCEEDED"]  # the pipeline's own write

    # When its SUCCEEDED event arrives
    api_calls.reset()
    subscriber.messages()
    result = invoke(status_event(arn, "SUCCEEDED", event_id="evt-succeeded-1"), lambda_context)

    # Then the execution's incident is resolved with its time to recover, costing no Step Functions call
    assert result["results"][0]["outcome"] == "resolved"
    [closed] = [i for i in incident_items(arn) if i["sk"].startswith("HIST#STUCK")]
    assert closed["status"] == "resolved"
    assert float(closed["time_to_recover_seconds"]) > 0
    assert api_calls.of("stepfunctions") == 0
    events = [m["Body"]["event"] for m in subscriber.messages()]
    assert events == ["resolved"]


def test_stuck_on_athena_cancels_the_runs_query_and_the_run_completes(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls
) -> None:
    # Given a run whose dbt staging query is held QUEUED in the pipeline workgroup
    hold("athena::execution")
    arn = lakehouse.start_pipeline(sfn, "run-stuck-query")
    staging = {"WaitForDbtStaging", "CheckDbtStaging", "IsDbtStagingDone"}
    wait_until(lambda: current_state(sfn, arn) in staging, what="the dbt staging poll loop")
    time.sleep(1.2)
    athena = boto3.client("athena")
    [query_id] = athena.list_query_executions(WorkGroup=lakehouse.names.pipeline_workgroup)["QueryExecutionIds"]
    api_calls.reset()

    # When the STUCK finding reaches the watchdog
    result = handle(stuck_finding(arn, lakehouse.state_machine_arn))

    # Then the run's own stuck query is cancelled through the query remediation; the run is not stopped
    assert result.outcome == "wait"
    assert [(d.resource, d.actions) for d in result.delegated] == [(f"query#{query_id}", ["stop_query:cancelled"])]
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "CANCELLED"
    assert service_calls(api_calls, "stepfunctions", "athena") == {
        "athena.BatchGetQueryExecution": 1,
        "athena.GetQueryExecution": 1,
        "athena.ListQueryExecutions": 1,
        "athena.ListTagsForResource": 1,
        "athena.StopQueryExecution": 1,
        "stepfunctions.DescribeExecution": 1,
        "stepfunctions.GetExecutionHistory": 1,
        "stepfunctions.ListTagsForResource": 1,  # declared for STUCK: any of its decisions may stop the run
    }

    # When Athena runs queries again, the pipeline re-submits the cancelled model and finishes
    release("athena::execution")
    wait_until(lambda: status_of(sfn, arn) == "SUCCEEDED", timeout=30, what="the run to succeed")
    assert [row["status"] for row in metadata_rows(lakehouse.names)] == ["SUCCEEDED"]


def query_finding(query_id: str, workgroup: str, running: int, threshold: int) -> Finding:
    """The finding the sweep's query discovery produces for a query QUEUED/RUNNING past its threshold."""
    return Finding(
        resource_type=ResourceType.QUERY,
        resource_id=query_id,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=datetime.now(UTC),
        scope_key=workgroup,
        facts={
            "sweep": "discovery",
            "state": "QUEUED",
            "workgroup": workgroup,
            "running_seconds": running,
            "threshold_seconds": threshold,
        },
    )


def test_query_cancelled_first_in_the_same_sweep_the_run_waits_for_the_heal_then_is_stopped_after_its_grace(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls, monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdogs.runtime import reset_runtime
    from watchdogs_local.moto_ext.athena import set_query_execution

    # Given a run whose dbt staging query is held QUEUED past the workgroup threshold (15 s: also the heal's grace,
    # long enough that a loaded machine cannot let it pass between the cancel and the run's visit)
    monkeypatch.setenv("QUERY_STUCK_SECONDS", "15")
    reset_runtime()
    hold("athena::execution")
    arn = lakehouse.start_pipeline(sfn, "run-cancelled-first")
    staging = {"WaitForDbtStaging", "CheckDbtStaging", "IsDbtStagingDone"}
    wait_until(lambda: current_state(sfn, arn) in staging, what="the dbt staging poll loop")
    workgroup = lakehouse.names.pipeline_workgroup
    athena = boto3.client("athena")
    [query_id] = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    set_query_execution(query_id, submitted_seconds_ago=60)
    time.sleep(1.2)  # past the (compressed) execution threshold

    # When one sweep visits the stuck query first (causes first) and cancels it ...
    cancelled = handle(query_finding(query_id, workgroup, running=60, threshold=15))
    assert cancelled.actions == ["stop_query:cancelled"]
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"] == "CANCELLED"
    # ... and then the run, which no longer has any query running
    api_calls.reset()
    waited = handle(stuck_finding(arn, lakehouse.state_machine_arn))
    resubmitted = set(athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]) - {query_id}
    if resubmitted and waited.outcome == "wait" and status_of(sfn, arn) == "RUNNING":
        # moto's pipeline re-submitted the model before the run's visit (a loaded machine): the run now waits on its
        # own new query (watched, still not stopped); the heal-then-grace path this test follows cannot be reached
        pytest.skip("the pipeline re-submitted its query before the run's visit; the run waits on the new one")

    # Then the run waits for the heal of its cause: not stopped, nothing delegated (the heal is done), heal recorded
    assert waited.outcome == "wait"
    assert waited.delegated == []
    assert "stepfunctions.StopExecution" not in api_calls.calls
    assert status_of(sfn, arn) == "RUNNING"
    [stuck] = [i for i in incident_items(arn) if i["sk"] == "CUR#STUCK"]
    assert (stuck["pending_step"], stuck["classification"]) == ("heal", "stuck-on-athena")
    heal = stuck["facts"]["heal"]
    assert heal["target"] == f"athena:{workgroup}"
    started = datetime.fromisoformat(heal["started_at"].replace("Z", "+00:00"))
    assert datetime.fromisoformat(heal["grace_until"].replace("Z", "+00:00")) == started + timedelta(seconds=15)
    assert datetime.now(UTC) - started < timedelta(seconds=15)  # the heal began at the cancel, not at this visit

    # When the grace has passed and the run is still stuck on Athena work (its re-submitted model is held too)
    wait_until(
        lambda: datetime.now(UTC) > started + timedelta(seconds=15.2), what="the heal's grace to pass", timeout=40
    )
    api_calls.reset()
    stopped = handle(stuck_finding(arn, lakehouse.state_machine_arn))

    # Then the last resort applies: the run is stopped, once, as still stuck after the heal
    assert stopped.actions[0] == "stop_execution:stopped"
    assert api_calls.calls["stepfunctions.StopExecution"] == 1
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["error"]) == ("ABORTED", STOP_ERROR)
    [stuck] = [i for i in incident_items(arn) if i["sk"] == "CUR#STUCK"]
    assert (stuck["status"], stuck["classification"]) == ("remediated", "stuck-after-heal")


def upstream_machine(lakehouse: Lakehouse, sfn: Any, name: str) -> str:
    """An in-scope pipeline that records its start, then waits on an upstream signal nothing can heal."""
    names = lakehouse.names
    definition = {
        "StartAt": "RecordPipelineStart",
        "States": {
            "RecordPipelineStart": {
                "Type": "Task",
                "Resource": "arn:aws:states:::dynamodb:putItem",
                "Parameters": {
                    "TableName": names.metadata_table,
                    "Item": {
                        "pipeline_name": {"S": "upstream"},
                        "execution_date": {"S.$": "$$.Execution.StartTime"},
                        "status": {"S": "RUNNING"},
                        "execution_arn": {"S.$": "$$.Execution.Id"},
                    },
                },
                "ResultPath": None,
                "Next": "AwaitUpstreamSignal",
            },
            "AwaitUpstreamSignal": {"Type": "Wait", "Seconds": 3600, "End": True},
        },
    }
    return str(
        sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=names.role_arn)[
            "stateMachineArn"
        ]
    )


def test_stuck_on_something_else_is_stopped_once_and_its_echo_ignored(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: Any
) -> None:
    # Given an in-scope run waiting on something no remediation can heal, its metadata row RUNNING
    machine = upstream_machine(lakehouse, sfn, "lakehouse-mvp-sandbox-upstream-pipeline")
    arn = sfn.start_execution(stateMachineArn=machine, name="run-upstream")["executionArn"]
    wait_until(lambda: current_state(sfn, arn) == "AwaitUpstreamSignal", what="the wait state")
    time.sleep(1.2)  # past the (compressed) execution threshold
    assert [row["status"] for row in metadata_rows(lakehouse.names)] == ["RUNNING"]
    api_calls.reset()
    subscriber.messages()

    # When the STUCK finding reaches the watchdog
    result = handle(stuck_finding(arn, machine))

    # Then the run is force-stopped with the watchdog's marker, and its metadata row finalised as ABORTED
    assert result.actions == ["stop_execution:stopped", "reconcile_metadata:reconciled"]
    described = sfn.describe_execution(executionArn=arn)
    assert (described["status"], described["error"]) == ("ABORTED", STOP_ERROR)
    assert "Stopped by lakehouse-watchdogs" in described["cause"]
    [row] = metadata_rows(lakehouse.names)
    assert (row["status"], row["reconciled_by"]) == ("ABORTED", "lakehouse-watchdogs")
    assert row["error"].startswith(STOP_ERROR)
    assert service_calls(api_calls, "stepfunctions", "dynamodb") == {
        "dynamodb.PutItem": 2,  # the incident's final record (timeline, lease released) + outbox mark-sent
        "dynamodb.Query": 2,  # the incident partition + the metadata row on status-index
        "dynamodb.TransactWriteItems": 1,  # incident claim + budget
        "dynamodb.UpdateItem": 1,  # the reconciliation
        "stepfunctions.DescribeExecution": 1,
        "stepfunctions.GetExecutionHistory": 1,
        "stepfunctions.ListTagsForResource": 1,  # opt-out tag, read only because it is about to act
        "stepfunctions.StopExecution": 1,
    }
    [stuck] = [i for i in incident_items(arn) if i["sk"] == "CUR#STUCK"]
    assert (stuck["status"], stuck["classification"]) == ("remediated", "stuck")
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["act"]

    # When the ABORTED event of our own stop arrives (twice)
    api_calls.reset()
    echo = status_event(arn, "ABORTED", event_id="evt-aborted-1")
    first = invoke(echo, lambda_context)
    echo_calls = dict(api_calls.calls)
    api_calls.reset()
    again = invoke(echo, lambda_context)

    # Then it opens no incident, notifies nobody, changes nothing; the copy changed no incident either, so it
    # takes the same read-only path again (nothing was written that could mark it as seen)
    assert first["results"][0]["outcome"] == "ignored"
    assert again["results"][0]["outcome"] == "ignored"
    assert api_calls.calls == echo_calls
    assert not [i for i in incident_items(arn) if i["sk"].startswith("CUR#FAILED")]
    assert subscriber.messages() == []
    assert echo_calls == {
        "dynamodb.Query": 1,  # the execution's incidents
        "stepfunctions.DescribeExecution": 1,  # error == the watchdog's marker: no history needed
    }
    [row] = metadata_rows(lakehouse.names)
    assert row["status"] == "ABORTED"  # reconciled exactly once


# ------------------------------------------------------------------------------------------------ failed
def test_transient_failure_is_redriven_and_the_run_completes(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: Any
) -> None:
    # Given the raw crawler already busy (a scheduled crawl), so StartRawCrawler fails with CrawlerRunningException
    hold("glue::crawl")
    boto3.client("glue").start_crawler(Name=lakehouse.names.crawler("raw"))
    arn = lakehouse.start_pipeline(sfn, "run-transient")
    wait_until(lambda: status_of(sfn, arn) == "FAILED", what="the run to fail")
    assert sfn.describe_execution(executionArn=arn)["error"] == "Glue.CrawlerRunningException"
    release("glue::crawl")  # the busy crawl finishes
    api_calls.reset()
    subscriber.messages()

    # When the FAILED event arrives
    result = invoke(status_event(arn, "FAILED", event_id="evt-failed-transient"), lambda_context)

    # Then it is classified transient and redriven from the failed state; the metadata row is left RUNNING
    [handled] = result["results"]
    assert handled["actions"] == ["redrive_execution:redriven"]
    [failed] = [i for i in incident_items(arn) if i["sk"] == "CUR#FAILED"]
    assert (failed["classification"], failed["status"], failed["pending_step"]) == (
        "transient",
        "remediating",
        "await_redrive",
    )
    assert service_calls(api_calls, "stepfunctions") == {
        "stepfunctions.DescribeExecution": 1,
        "stepfunctions.GetExecutionHistory": 1,
        "stepfunctions.ListTagsForResource": 1,
        "stepfunctions.RedriveExecution": 1,
    }
    wait_until(lambda: status_of(sfn, arn) == "SUCCEEDED", timeout=30, what="the redriven run to succeed")
    assert sfn.describe_execution(executionArn=arn)["redriveCount"] == 1
    assert [row["status"] for row in metadata_rows(lakehouse.names)] == ["SUCCEEDED"]

    # When its SUCCEEDED event arrives, the FAILED incident resolves
    invoke(status_event(arn, "SUCCEEDED", event_id="evt-succeeded-redriven", redrive_count=1), lambda_context)
    assert not [i for i in incident_items(arn) if i["sk"].startswith("CUR#")]
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["act", "resolved"]


def test_event_naming_an_in_scope_machine_for_an_out_of_scope_execution_is_rejected_and_acts_on_nothing(
    lakehouse: Lakehouse,
    sfn: Any,
    api_calls: ApiCalls,
    subscriber: Subscriber,
    lambda_context: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Given another team's copy of the pipeline and ours, both failed on the same transient error (busy crawler)
    definition = sfn.describe_state_machine(stateMachineArn=lakehouse.state_machine_arn)["definition"]
    other_machine = sfn.create_state_machine(
        name="otherteam-data-pipeline", definition=definition, roleArn=lakehouse.names.role_arn
    )["stateMachineArn"]
    hold("glue::crawl")
    boto3.client("glue").start_crawler(Name=lakehouse.names.crawler("raw"))
    other = sfn.start_execution(stateMachineArn=other_machine, name="run-other-transient")["executionArn"]
    ours = lakehouse.start_pipeline(sfn, "run-ours-transient")
    wait_until(lambda: {status_of(sfn, other), status_of(sfn, ours)} == {"FAILED"}, what="both runs to fail")
    release("glue::crawl")
    api_calls.reset()
    subscriber.messages()

    # When an event names our (in-scope) state machine but the other team's execution
    spoofed = status_event(other, "FAILED", event_id="evt-spoofed")
    spoofed["detail"]["stateMachineArn"] = lakehouse.state_machine_arn
    response = invoke(spoofed, lambda_context)

    # Then it is rejected at the edge with the reason: no AWS call at all, no redrive, no incident, no message
    assert response["outcome"] == "rejected"
    [logged] = [r for r in caplog.records if r.getMessage() == "rejected event"]
    assert "is not the state machine of executionArn" in str(getattr(logged, "reason", ""))
    assert api_calls.total == 0
    assert status_of(sfn, other) == "FAILED"
    assert sfn.describe_execution(executionArn=other).get("redriveCount", 0) == 0
    assert incident_items(other) == []
    assert subscriber.messages() == []

    # When a finding claims the in-scope machine for the other execution past the edge (engine directly)
    claimed = Finding(
        resource_type=ResourceType.EXECUTION,
        resource_id=other,
        condition=Condition.FAILED,
        observed_at=datetime.now(UTC),
        scope_key=lakehouse.state_machine_arn,
        facts={"status": "FAILED"},
    )
    # Then scope is judged on the execution's own ARN: out of scope, nothing read in Step Functions
    assert handle(claimed).outcome == "out-of-scope"
    assert api_calls.of("stepfunctions") == 0

    # When our own run's genuine event arrives
    result = invoke(status_event(ours, "FAILED", event_id="evt-ours"), lambda_context)
    # Then it still acts: redriven, exactly one mutating Step Functions call, on our run
    assert result["results"][0]["actions"] == ["redrive_execution:redriven"]
    assert api_calls.calls["stepfunctions.RedriveExecution"] == 1
    assert sfn.describe_execution(executionArn=other).get("redriveCount", 0) == 0
    wait_until(lambda: status_of(sfn, ours) == "SUCCEEDED", timeout=30, what="our redriven run to succeed")


def test_data_quality_failure_notifies_owners_reconciles_once_never_retries(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: Any
) -> None:
    from watchdogs_local.moto_ext.athena import set_query_execution

    # Given a run whose dbt tests query fails (the data-quality step)
    hold("athena::execution")
    arn = lakehouse.start_pipeline(sfn, "run-dq")
    for step in ("Staging", "Marts"):  # let the models run
        wait_until(lambda s=step: current_state(sfn, arn) == f"CheckDbt{s}" or _ran(sfn, arn, s), what=step)
        _finish_newest_query(lakehouse, "SUCCEEDED")
    wait_until(lambda: current_state(sfn, arn) in {"WaitForDbtTests", "CheckDbtTests"}, what="the dbt tests step")
    tests_query = _newest_query(lakehouse)
    set_query_execution(tests_query, state="FAILED", error_category=2, error_type=1, error_message="3 tests failed")
    wait_until(lambda: status_of(sfn, arn) == "FAILED", what="the run to fail")
    api_calls.reset()
    subscriber.messages()

    # When the FAILED event arrives, then again (a duplicate delivery with another id)
    result = invoke(status_event(arn, "FAILED", event_id="evt-failed-dq"), lambda_context)
    again = invoke(status_event(arn, "FAILED", event_id="evt-failed-dq-bis"), lambda_context)

    # Then data owners are notified (data-quality), nothing is redriven, the metadata row is FAILED exactly once
    [handled] = result["results"]
    assert handled["actions"] == ["reconcile_metadata:reconciled"]
    assert again.get("duplicate") is True
    [failed] = [i for i in incident_items(arn) if i["sk"] == "CUR#FAILED"]
    assert (failed["classification"], failed["status"]) == ("data-quality", "open")
    assert failed["facts"]["audience"] == "data-owners"
    assert failed["facts"]["failed_state"] == "DbtTestsFailed"
    [row] = metadata_rows(lakehouse.names)
    assert (row["status"], row["reconciled_by"]) == ("FAILED", "lakehouse-watchdogs")
    assert "Dbt.TestsFailed" in row["error"]
    assert "stepfunctions.RedriveExecution" not in api_calls.calls
    assert api_calls.calls["dynamodb.UpdateItem"] == 1  # the reconciliation
    messages = subscriber.messages()
    assert [(m["Body"]["event"], m["Body"]["classification"]) for m in messages] == [("notify", "data-quality")]
    assert sfn.describe_execution(executionArn=arn)["status"] == "FAILED"


def _ran(sfn: Any, arn: str, step: str) -> bool:
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return any((e.get("stateEnteredEventDetails") or {}).get("name") == f"CheckDbt{step}" for e in events)


def _newest_query(lakehouse: Lakehouse) -> str:
    from moto.athena.models import athena_backends

    executions = athena_backends["123456789012"]["us-east-1"].executions
    return str(max(executions.values(), key=lambda e: e.start_time).id)


def _finish_newest_query(lakehouse: Lakehouse, state: str) -> None:
    from watchdogs_local.moto_ext.athena import set_query_execution

    set_query_execution(_newest_query(lakehouse), state=state)


def test_out_of_scope_state_machine_is_untouched(
    lakehouse: Lakehouse, sfn: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: Any
) -> None:
    # Given another team's failed pipeline
    machine = upstream_machine(lakehouse, sfn, "otherteam-data-pipeline")
    arn = sfn.start_execution(stateMachineArn=machine, name="run-other")["executionArn"]
    wait_until(lambda: current_state(sfn, arn) == "AwaitUpstreamSignal", what="the wait state")
    api_calls.reset()
    subscriber.messages()

    # When its FAILED event and a STUCK finding reach the watchdog
    result = invoke(status_event(arn, "FAILED", event_id="evt-other"), lambda_context)
    stuck = handle(stuck_finding(arn, machine))

    # Then nothing is read or changed in Step Functions, no incident, no message
    assert result["results"][0]["outcome"] == "out-of-scope"
    assert stuck.outcome == "out-of-scope"
    assert api_calls.of("stepfunctions") == 0
    assert status_of(sfn, arn) == "RUNNING"
    assert incident_items(arn) == []
    assert subscriber.messages() == []
