"""The Step Functions runbook, pure: history reading, wait targets, failure triage and every decision branch."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.support.aws import EVENTS, load_event
from watchdogs.actions import STOP_ERROR
from watchdogs.incidents import Incident, ResourceState, TimelineEntry, iso
from watchdogs.models.domain import Condition, Finding, IncidentStatus, Outcome, ResourceType
from watchdogs.models.events import ExecutionStatusChangeEvent
from watchdogs.runbooks.execution import ExecutionRemediator, Step, dedup_key, findings_from_event
from watchdogs.runbooks.execution.failed import decide_failed
from watchdogs.runbooks.execution.history import HistoryView, WaitsOn, WaitTarget, read_history, wait_target
from watchdogs.runbooks.execution.rules import FailureClass, classify_failure, redrive_refusal
from watchdogs.runbooks.execution.stuck import decide_stuck
from watchdogs.settings import Settings
from watchdogs.shared import state_machine_of

NOW = datetime(2026, 2, 24, 12, 0, tzinfo=UTC)
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-data-pipeline"
ARN = "arn:aws:states:us-east-1:123456789012:execution:lakehouse-mvp-sandbox-data-pipeline:run-1"
RAW = "lakehouse-sandbox-raw-crawler"
WG = "lakehouse-mvp-sandbox-workgroup"
#: the step an incident written before steps were plain values carries (``heal:<target>``): still read
LEGACY_HEAL = "heal:"
ROW = {
    "table": "lakehouse-sandbox-pipeline-metadata",
    "key": {"pipeline_name": {"S": "raw_to_curated"}, "execution_date": {"S": "2026-02-24T10:00:00.000Z"}},
    "label": "raw_to_curated/2026-02-24T10:00:00.000Z",
    "status_attr": "status",
    "execution_attr": "execution_arn",
}


def settings(**overrides: Any) -> Settings:
    env = {
        "ENVIRONMENT": "test",
        "WATCHDOG_MODE": "remediate",
        "INCIDENT_TABLE": "incidents",
        "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
        "SCOPE_STATE_MACHINE_ARN_PREFIXES": SM.rsplit(":", 1)[0] + ":lakehouse-mvp-sandbox-",
        "SCOPE_WORKGROUPS": f"lakehouse-sandbox-workgroup,{WG}",
        "PIPELINE_WORKGROUP": WG,
        "METADATA_TABLE": "lakehouse-sandbox-pipeline-metadata",
        "EXECUTION_STUCK_SECONDS": "3600",
        "CRAWLER_STUCK_SECONDS": "1800",
        "CRAWLER_STOPPING_SECONDS": "600",
        "QUERY_STUCK_SECONDS": "900",
    }
    env.update(overrides)
    return Settings.model_validate(env)


def finding(condition: Condition = Condition.STUCK, **facts: Any) -> Finding:
    return Finding(
        resource_type=ResourceType.EXECUTION,
        resource_id=ARN,
        condition=condition,
        source="sweep",
        observed_at=NOW,
        scope_key=SM,
        facts={"running_seconds": 7200, "threshold_seconds": 3600, **facts},
    )


def incident(condition: Condition, *, pending: str | None = None, **facts: Any) -> Incident:
    return Incident(
        incident_id="i-1",
        resource_type=ResourceType.EXECUTION,
        resource_id=ARN,
        condition=condition,
        status=IncidentStatus.REMEDIATING,
        detected_at=iso(NOW - timedelta(hours=1)),
        updated_at=iso(NOW - timedelta(minutes=5)),
        pending_step=pending,
        facts=facts,
        version=2,
    )


# ------------------------------------------------------------------------------------------------ history
def entered(kind: str, name: str, event_id: int) -> dict[str, Any]:
    return {"id": event_id, "type": f"{kind}StateEntered", "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def exited(kind: str, name: str, event_id: int) -> dict[str, Any]:
    return {"id": event_id, "type": f"{kind}StateExited", "stateExitedEventDetails": {"name": name, "output": "{}"}}


def scheduled(service: str, api: str, params: dict[str, Any], event_id: int) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "TaskScheduled",
        "taskScheduledEventDetails": {
            "resourceType": f"aws-sdk:{service}",
            "resource": api,
            "region": "us-east-1",
            "parameters": json.dumps(params),
        },
    }


def crawler_wait_loop() -> list[dict[str, Any]]:
    """One iteration of WaitForRawCrawler, newest first (as reverseOrder=True returns it)."""
    return [
        entered("Wait", "WaitForRawCrawler", 37),
        exited("Choice", "IsRawCrawlerDone", 36),
        entered("Choice", "IsRawCrawlerDone", 35),
        exited("Task", "GetRawCrawlerState", 34),
        {"id": 33, "type": "TaskSucceeded", "taskSucceededEventDetails": {"resourceType": "aws-sdk:glue"}},
        {"id": 32, "type": "TaskStarted", "taskStartedEventDetails": {"resourceType": "aws-sdk:glue"}},
        scheduled("glue", "getCrawler", {"Name": RAW}, 31),
        entered("Task", "GetRawCrawlerState", 30),
        exited("Wait", "WaitForRawCrawler", 29),
        entered("Wait", "WaitForRawCrawler", 28),
    ]


def test_read_history_finds_the_wait_state_and_the_crawler_it_polls() -> None:
    # Given the newest page of a run stuck in the raw crawler wait loop
    # When it is read
    view = read_history(crawler_wait_loop())
    # Then the current state is the Wait, and the polled crawler comes from the task's Parameters.Name
    assert view.current_state == "WaitForRawCrawler"
    assert view.current_state_type == "Wait"
    assert view.task_state == "GetRawCrawlerState"
    assert (view.task_service, view.task_api) == ("glue", "getCrawler")
    assert view.crawler == RAW
    assert view.error is None
    assert view.failed_state is None


def test_read_history_finds_the_query_of_a_dbt_step() -> None:
    # Given a run polling its staging query (the start task's output holds the query id)
    events = [
        entered("Wait", "WaitForDbtStaging", 12),
        exited("Task", "RunDbtStaging", 11),
        {
            "id": 10,
            "type": "TaskSucceeded",
            "taskSucceededEventDetails": {"resourceType": "aws-sdk:athena", "output": '{"QueryExecutionId": "q-1"}'},
        },
        scheduled("athena", "startQueryExecution", {"QueryString": "SELECT 1", "WorkGroup": WG}, 9),
        entered("Task", "RunDbtStaging", 8),
    ]
    # When it is read
    view = read_history(events)
    # Then workgroup and query id are known
    assert (view.current_state, view.workgroup, view.query_execution_id) == ("WaitForDbtStaging", WG, "q-1")


def test_read_history_finds_the_failed_state_error_and_cause() -> None:
    # Given a run that failed in a task
    events = [
        {"id": 9, "type": "ExecutionFailed", "executionFailedEventDetails": {"error": "Lambda.ServiceException"}},
        {
            "id": 8,
            "type": "TaskFailed",
            "taskFailedEventDetails": {"error": "Lambda.ServiceException", "cause": "internal error"},
        },
        {"id": 7, "type": "TaskStarted"},
        scheduled("lambda", "invoke", {"FunctionName": "dbt"}, 6),
        entered("Task", "RunDbtMarts", 5),
    ]
    # When it is read
    view = read_history(events)
    # Then the failed state, error and cause are those of the failure
    assert (view.failed_state, view.error) == ("RunDbtMarts", "Lambda.ServiceException")


def test_read_history_names_a_timed_out_task() -> None:
    # Given a task that timed out (no error field: the event type says it)
    events = [
        {"id": 5, "type": "ExecutionTimedOut", "executionTimedOutEventDetails": {}},
        entered("Task", "GetRawCrawlerState", 4),
    ]
    # Then the error is States.Timeout
    assert read_history(events).error == "States.Timeout"
    assert read_history([]) == HistoryView()


# ------------------------------------------------------------------------------------------------ wait rules
@pytest.mark.parametrize(
    ("state", "expected", "data_quality"),
    [
        ("WaitForRawCrawler", WaitsOn.CRAWLER, False),
        ("StartCuratedCrawler", WaitsOn.CRAWLER, False),
        ("RunDbtStaging", WaitsOn.ATHENA, False),
        ("CheckDbtMarts", WaitsOn.ATHENA, False),
        ("RunDbtTests", WaitsOn.ATHENA, True),
        ("DbtTestsFailed", WaitsOn.ATHENA, True),
        ("RecordPipelineStart", WaitsOn.NOTHING, False),
        (None, WaitsOn.NOTHING, False),
    ],
)
def test_default_rules_cover_the_runbook_pipeline(state: str | None, expected: WaitsOn, data_quality: bool) -> None:
    # Given no configured rules and a history with no task for the state
    # When the target of each of the runbook's states is asked
    target = wait_target(state, HistoryView(crawler=RAW), [], WG)
    # Then the defaults map crawler states to crawlers, dbt steps to Athena, RunDbtTests to data quality
    assert target.waits_on is expected
    assert target.data_quality is data_quality
    if expected is WaitsOn.ATHENA:
        assert target.workgroup == WG


def test_configured_rule_wins_and_names_its_crawler() -> None:
    # Given a rule mapping a custom state to a crawler by name
    rules = [{"state": "^Ingest", "waits_on": "crawler", "crawler": "lakehouse-sandbox-ingest"}]
    # When the state is looked up
    target = wait_target("IngestOrders", HistoryView(), rules, WG)
    # Then the rule decides, with its crawler
    assert (target.waits_on, target.crawler, target.how) == (WaitsOn.CRAWLER, "lakehouse-sandbox-ingest", "rule")
    # and a rule can also say a state waits on nothing fixable
    assert wait_target("RunDbtMarts", HistoryView(), [{"state": "Marts", "waits_on": "nothing"}], WG).waits_on is (
        WaitsOn.NOTHING
    )


def test_task_resource_decides_for_states_the_names_do_not_explain() -> None:
    # Given a task state with an unhelpful name calling glue:startCrawler / athena:startQueryExecution
    glue = HistoryView(task_state="Step3", task_service="glue", task_api="startCrawler", task_parameters={"Name": RAW})
    athena = HistoryView(
        task_state="Step4", task_service="athena", task_api="startQueryExecution", task_parameters={"WorkGroup": "wg2"}
    )
    # Then the resource says what it waits on, with the crawler name / workgroup from its Parameters
    assert wait_target("Step3", glue, [], WG) == WaitTarget(WaitsOn.CRAWLER, crawler=RAW, how="resource")
    assert wait_target("Step4", athena, [], WG).workgroup == "wg2"
    # but a task of another state does not (it is not what the current state waits on)
    assert wait_target("Step5", glue, [], WG).waits_on is WaitsOn.NOTHING


# ------------------------------------------------------------------------------------------------ classification
CRAWLER_WAIT = WaitTarget(WaitsOn.CRAWLER, crawler=RAW)
TESTS = WaitTarget(WaitsOn.ATHENA, workgroup=WG, data_quality=True)
NOTHING = WaitTarget(WaitsOn.NOTHING)


@pytest.mark.parametrize(
    ("status", "error", "cause", "target", "healed", "expected"),
    [
        ("ABORTED", STOP_ERROR, "Stopped by lakehouse-watchdogs", NOTHING, None, FailureClass.OWN_STOP),
        ("ABORTED", None, None, NOTHING, None, FailureClass.ABORTED),
        ("FAILED", "States.Permissions", None, NOTHING, None, FailureClass.PERMISSION),
        (
            "FAILED",
            "States.TaskFailed",
            "User is not authorized to perform glue:StartCrawler",
            NOTHING,
            None,
            FailureClass.PERMISSION,
        ),
        ("FAILED", "Glue.AccessDeniedException", None, TESTS, None, FailureClass.PERMISSION),
        ("FAILED", "Lambda.ServiceException", None, NOTHING, None, FailureClass.TRANSIENT),
        ("FAILED", "Glue.ThrottlingException", None, CRAWLER_WAIT, None, FailureClass.TRANSIENT),
        ("FAILED", "Glue.ConcurrentRunsExceededException", None, CRAWLER_WAIT, None, FailureClass.TRANSIENT),
        ("FAILED", "Glue.CrawlerRunningException", None, CRAWLER_WAIT, None, FailureClass.TRANSIENT),
        ("FAILED", "Athena.TooManyRequestsException", None, TESTS, None, FailureClass.TRANSIENT),
        ("FAILED", "States.TaskFailed", "Rate exceeded", NOTHING, None, FailureClass.TRANSIENT),
        ("FAILED", "DynamoDb.ServiceUnavailableException", None, NOTHING, None, FailureClass.TRANSIENT),
        ("FAILED", "States.Timeout", None, CRAWLER_WAIT, f"crawler:{RAW}", FailureClass.FAILED_AFTER_HEAL),
        ("TIMED_OUT", "States.Timeout", None, CRAWLER_WAIT, f"crawler:{RAW}", FailureClass.FAILED_AFTER_HEAL),
        ("FAILED", "States.Timeout", None, CRAWLER_WAIT, f"athena:{WG}", FailureClass.TIMED_OUT),
        ("TIMED_OUT", "States.Timeout", None, CRAWLER_WAIT, None, FailureClass.TIMED_OUT),
        ("FAILED", "Dbt.TestsFailed", "3 tests failed", TESTS, None, FailureClass.DATA_QUALITY),
        ("FAILED", "Dbt.TestsFailed", "3 tests failed", TESTS, f"athena:{WG}", FailureClass.DATA_QUALITY),
        ("FAILED", "Dbt.ModelFailed", None, WaitTarget(WaitsOn.ATHENA, workgroup=WG), None, FailureClass.UNKNOWN),
        ("FAILED", None, None, NOTHING, None, FailureClass.UNKNOWN),
    ],
)
def test_classify_failure(
    status: str, error: str | None, cause: str | None, target: WaitTarget, healed: str | None, expected: FailureClass
) -> None:
    # Given an ended run's status, error, cause, failed-state target and any heal made on it
    # Then the runbook's triage class is
    assert classify_failure(status, error, cause, target, healed) is expected


def test_redrive_refusal() -> None:
    # Given executions in and out of what AWS can redrive
    recent = {"stop_date": iso(NOW - timedelta(days=1))}
    # Then only standard, redrivable, recently stopped runs may be redriven
    assert redrive_refusal(ARN, recent, NOW) is None
    assert "express" in str(redrive_refusal(ARN.replace(":execution:", ":express:"), recent, NOW))
    assert "14 days" in str(redrive_refusal(ARN, {"stop_date": iso(NOW - timedelta(days=15))}, NOW))
    assert "not redrivable" in str(redrive_refusal(ARN, {**recent, "redrive_status": "NOT_REDRIVABLE"}, NOW))


# ------------------------------------------------------------------------------------------------ stuck
def stuck_facts(**overrides: Any) -> dict[str, Any]:
    facts = {
        "status": "RUNNING",
        "running_seconds": 7200,
        "current_state": "WaitForRawCrawler",
        "waits_on": "crawler",
        "wait_crawler": RAW,
        "wait_how": "default",
    }
    facts.update(overrides)
    return facts


def test_stuck_on_crawler_delegates_to_the_crawler_remediation() -> None:
    # Given a run stuck waiting on the raw crawler, no incident yet
    decision = decide_stuck(finding(), stuck_facts(), None, settings(), NOW)
    # Then the crawler is handed over (a STUCK finding, delegated), the run is not touched, the heal is pending
    assert decision.outcome is Outcome.WAIT
    assert decision.actions == []
    assert decision.next_step == Step.HEAL
    assert decision.facts["heal"]["target"] == f"crawler:{RAW}"
    assert decision.facts["heal"]["started_at"] == iso(NOW)
    assert decision.facts["heal"]["grace_until"] == iso(NOW + timedelta(seconds=2400))
    [delegated] = decision.delegate
    assert (delegated.resource_type, delegated.resource_id, delegated.condition) == (
        ResourceType.CRAWLER,
        RAW,
        Condition.STUCK,
    )
    assert delegated.source == "delegated"
    assert delegated.scope_key == RAW
    assert delegated.facts["waited_on_by"] == ARN


def test_stuck_on_crawler_keeps_healing_within_the_grace_then_stops() -> None:
    # Given a heal begun 10 minutes ago on the same crawler (grace = crawler threshold + stopping limit = 2400 s)
    began = incident(
        Condition.STUCK, pending=f"{LEGACY_HEAL}crawler:{RAW}", heal_target=f"crawler:{RAW}", heal_rounds=1
    )
    began.facts["heal_started_at"] = iso(NOW - timedelta(minutes=10))
    again = decide_stuck(finding(), stuck_facts(), began, settings(), NOW)
    # Then it delegates again (the crawler remediation resumes its restart), keeping the start time
    assert again.outcome is Outcome.WAIT
    assert again.delegate
    assert again.facts["heal"]["started_at"] == began.facts["heal_started_at"]
    assert again.facts["heal"]["rounds"] == 2
    assert again.next_step == Step.HEAL
    # When the grace has passed and the run still waits on the same crawler
    began.facts["heal_started_at"] = iso(NOW - timedelta(seconds=2401))
    stop = decide_stuck(finding(), stuck_facts(metadata_row=ROW), began, settings(), NOW)
    # Then the run is stopped (with the watchdog's marker) and its metadata row reconciled to ABORTED
    assert stop.outcome is Outcome.ACT
    assert stop.classification == "stuck-after-heal"
    assert [a.name for a in stop.actions] == ["stop_execution", "reconcile_metadata"]
    assert stop.actions[0].params["execution_arn"] == ARN
    assert stop.actions[1].params["final_status"] == "ABORTED"
    assert stop.actions[1].params["error"].startswith(STOP_ERROR)
    assert stop.status_after is IncidentStatus.REMEDIATED


def test_a_heal_of_another_target_starts_a_new_grace() -> None:
    # Given a heal long ago of the raw crawler, and the run now stuck on the curated one
    old = incident(Condition.STUCK, pending=f"{LEGACY_HEAL}crawler:{RAW}", heal_started_at=iso(NOW - timedelta(days=1)))
    curated = "lakehouse-sandbox-curated-crawler"
    decision = decide_stuck(finding(), stuck_facts(wait_crawler=curated), old, settings(), NOW)
    # Then the curated crawler is healed (a new heal, new start time), not the run stopped
    assert decision.outcome is Outcome.WAIT
    assert decision.delegate[0].resource_id == curated
    assert decision.facts["heal"]["started_at"] == iso(NOW)
    assert decision.facts["heal"]["target"] == f"crawler:{curated}"


@pytest.mark.parametrize(
    ("facts", "reason"),
    [
        (stuck_facts(wait_crawler=None), "does not name"),
        (stuck_facts(wait_crawler="otherteam-raw-crawler"), "outside the watchdog's scope"),
        (stuck_facts(waits_on="nothing", current_state="RecordPipelineStart"), "waits on nothing"),
        (stuck_facts(waits_on="athena", wait_workgroup="otherteam-wg"), "outside the workgroups"),
        (stuck_facts(waits_on="athena", wait_workgroup=WG, active_queries=[]), "no Athena query running"),
    ],
)
def test_stuck_on_something_unfixable_is_stopped(facts: dict[str, Any], reason: str) -> None:
    # Given a run stuck on something the watchdog cannot heal
    decision = decide_stuck(finding(), facts, None, settings(), NOW)
    # Then it is force-stopped (runbook step 3), with the reason
    assert decision.outcome is Outcome.ACT
    assert [a.name for a in decision.actions] == ["stop_execution"]
    assert reason in decision.actions[0].params["reason"]
    assert decision.delegate == []


def test_stuck_on_athena_cancels_only_the_runs_own_stuck_query() -> None:
    # Given the run's own query running past the workgroup threshold, and another user's query too
    queries = [
        {"id": "q-own", "state": "RUNNING", "running_seconds": 1000},
        {"id": "q-other", "state": "RUNNING", "running_seconds": 5000},
    ]
    facts = stuck_facts(
        current_state="WaitForDbtMarts",
        waits_on="athena",
        wait_workgroup=WG,
        active_queries=queries,
        history_query_execution_id="q-own",
    )
    decision = decide_stuck(finding(), facts, None, settings(), NOW)
    # Then only its own query is handed to the query remediation
    assert decision.outcome is Outcome.WAIT
    assert [(f.resource_type, f.resource_id, f.scope_key) for f in decision.delegate] == [
        (ResourceType.QUERY, "q-own", WG)
    ]
    assert decision.next_step == Step.HEAL
    assert decision.facts["heal"]["target"] == f"athena:{WG}"
    # and without a known query id, every stuck query of the pipeline workgroup is
    unknown = decide_stuck(finding(), {**facts, "history_query_execution_id": None}, None, settings(), NOW)
    assert sorted(f.resource_id for f in unknown.delegate) == ["q-other", "q-own"]


def test_stuck_on_athena_waits_for_queries_under_their_threshold() -> None:
    # Given the run's queries still under the workgroup threshold (900 s)
    facts = stuck_facts(
        waits_on="athena", wait_workgroup=WG, active_queries=[{"id": "q", "state": "RUNNING", "running_seconds": 60}]
    )
    decision = decide_stuck(finding(), facts, None, settings(), NOW)
    # Then nothing is done yet
    assert decision.outcome is Outcome.WAIT
    assert decision.actions == []
    assert decision.delegate == []


def test_stuck_finding_for_a_run_that_moved_on() -> None:
    # Given the re-read says the run ended, or runs under its threshold
    # Then: success resolves, other ends are left to their status events, a young run is not stuck
    assert decide_stuck(finding(), {"status": "SUCCEEDED"}, None, settings(), NOW).outcome is Outcome.RESOLVE
    assert decide_stuck(finding(), {"status": "FAILED"}, None, settings(), NOW).outcome is Outcome.IGNORE
    assert decide_stuck(finding(), {"exists": False}, None, settings(), NOW).outcome is Outcome.IGNORE
    young = decide_stuck(finding(), stuck_facts(running_seconds=60), None, settings(), NOW)
    assert young.outcome is Outcome.IGNORE
    assert young.classification == "not-stuck"


@pytest.mark.parametrize("status", ["ABORTED", "FAILED", "TIMED_OUT"])
def test_stuck_incident_of_a_run_that_ended_unsuccessfully_is_closed_not_resolved(status: str) -> None:
    # Given an open STUCK incident on a run the re-read shows ended without succeeding (found by the execution
    # property histories: it was RESOLVED, though "resolve means recovered": the run must have succeeded)
    # When the sweep resumes it
    decision = decide_stuck(finding(), {"status": status}, incident(Condition.STUCK), settings(), NOW)
    # Then the incident is closed as ended, never resolved
    assert (decision.outcome, decision.classification) == (Outcome.CLOSE, "ended")


# ------------------------------------------------------------------------------------------------ failed
def failed_facts(**overrides: Any) -> dict[str, Any]:
    facts = {
        "status": "FAILED",
        "error": "Lambda.ServiceException",
        "cause": "Lambda service error",
        "failed_state": "RunDbtMarts",
        "waits_on": "athena",
        "wait_workgroup": WG,
        "stop_date": iso(NOW - timedelta(minutes=2)),
        "redrive_count": 0,
        "redrive_status": "REDRIVABLE",
    }
    facts.update(overrides)
    return facts


def test_transient_failure_is_redriven_with_an_idempotent_token() -> None:
    # Given a run failed with a transient Lambda service error
    decision = decide_failed(finding(Condition.FAILED), failed_facts(), None, None, settings(), NOW)
    # Then it is redriven (one action, a token stable for this redrive number), metadata left to the pipeline
    assert decision.outcome is Outcome.ACT
    [redrive] = decision.actions
    assert redrive.name == "redrive_execution"
    assert redrive.params == {"execution_arn": ARN, "client_token": "watchdogs-run-1-1"}
    assert decision.next_step == Step.AWAIT_REDRIVE
    assert decision.classification == "transient"


def test_redrive_budget_spent_escalates_and_reconciles() -> None:
    # Given a run already redriven as often as the budget allows
    facts = failed_facts(redrive_count=3, metadata_row=ROW)
    decision = decide_failed(finding(Condition.FAILED), facts, None, None, settings(), NOW)
    # Then it is escalated, not redriven, and the metadata row is set to FAILED
    assert decision.outcome is Outcome.ESCALATE
    assert [a.name for a in decision.actions] == ["reconcile_metadata"]
    assert decision.actions[0].params["final_status"] == "FAILED"
    assert decision.consumes_budget is False
    # and redrives recorded on the incident count too
    prior = incident(Condition.FAILED)
    prior.timeline.extend(
        TimelineEntry(at=iso(NOW), kind="action", step="redrive_execution", outcome="redriven") for _ in range(3)
    )
    counted = decide_failed(finding(Condition.FAILED), failed_facts(), prior, None, settings(), NOW)
    assert counted.outcome is Outcome.ESCALATE


def test_transient_failure_outside_what_aws_redrives_is_notified() -> None:
    # Given a transient failure stopped 15 days ago
    facts = failed_facts(stop_date=iso(NOW - timedelta(days=15)), metadata_row=ROW)
    decision = decide_failed(finding(Condition.FAILED), facts, None, None, settings(), NOW)
    # Then it is notified with the reason, and the row reconciled
    assert decision.outcome is Outcome.NOTIFY
    assert "14 days" in decision.facts["not_redriven"]
    assert [a.name for a in decision.actions] == ["reconcile_metadata"]


def test_crawler_wait_timeout_after_the_heal_is_redriven() -> None:
    # Given the run's STUCK incident healed the raw crawler, and the crawler wait then timed out
    stuck = incident(Condition.STUCK, pending=f"{LEGACY_HEAL}crawler:{RAW}", heal_target=f"crawler:{RAW}")
    state = ResourceState(ResourceType.EXECUTION, ARN, incidents={Condition.STUCK: stuck})
    facts = failed_facts(error="States.Timeout", failed_state="GetRawCrawlerState", waits_on="crawler")
    decision = decide_failed(finding(Condition.FAILED), facts, None, state, settings(), NOW)
    # Then it counts as transient and is redriven
    assert decision.classification == "failed-after-heal"
    assert [a.name for a in decision.actions] == ["redrive_execution"]


def test_data_quality_failure_notifies_owners_and_never_retries() -> None:
    # Given the dbt tests step failed
    facts = failed_facts(
        error="Dbt.TestsFailed", failed_state="DbtTestsFailed", data_quality=True, metadata_row=ROW, redrive_count=0
    )
    decision = decide_failed(finding(Condition.FAILED), facts, None, None, settings(), NOW)
    # Then data owners are notified, nothing is redriven, the row says FAILED
    assert decision.outcome is Outcome.NOTIFY
    assert decision.classification == "data-quality"
    assert decision.facts["audience"] == "data-owners"
    assert [a.name for a in decision.actions] == ["reconcile_metadata"]


def test_permission_failure_escalates() -> None:
    facts = failed_facts(error="States.Permissions", metadata_row=ROW)
    decision = decide_failed(finding(Condition.FAILED), facts, None, None, settings(), NOW)
    assert decision.outcome is Outcome.ESCALATE
    assert decision.classification == "permission"
    assert "redrive_execution" not in [a.name for a in decision.actions]


def test_unknown_failure_and_foreign_abort_notify() -> None:
    unknown = decide_failed(
        finding(Condition.FAILED), failed_facts(error="Dbt.ModelFailed"), None, None, settings(), NOW
    )
    assert (unknown.outcome, unknown.classification, unknown.actions) == (Outcome.NOTIFY, "unknown", [])
    aborted = decide_failed(
        finding(Condition.FAILED),
        failed_facts(status="ABORTED", error=None, metadata_row=ROW),
        None,
        None,
        settings(),
        NOW,
    )
    assert (aborted.outcome, aborted.classification) == (Outcome.NOTIFY, "aborted")
    assert aborted.actions[0].params["final_status"] == "ABORTED"


def test_own_stop_echo_running_again_and_success() -> None:
    # Given the ABORTED echo of our stop, a run redriven meanwhile, a run that succeeded after all
    echo = decide_failed(
        finding(Condition.FAILED), failed_facts(status="ABORTED", error=STOP_ERROR), None, None, settings(), NOW
    )
    running = decide_failed(finding(Condition.FAILED), {"status": "RUNNING"}, None, None, settings(), NOW)
    done = decide_failed(finding(Condition.FAILED), {"status": "SUCCEEDED"}, None, None, settings(), NOW)
    # Then: no incident for the echo or the running run; success resolves
    assert echo.outcome is Outcome.IGNORE
    assert echo.classification == "own-stop"
    assert running.outcome is Outcome.IGNORE
    assert done.outcome is Outcome.RESOLVE


# ------------------------------------------------------------------------------------------------ events
@pytest.mark.parametrize("path", sorted(EVENTS.glob("stepfunctions-*.json")), ids=lambda p: p.stem)
def test_sample_events_map_to_findings(path: Any) -> None:
    # Given every Step Functions sample event
    event = ExecutionStatusChangeEvent.model_validate(load_event(path.name))
    # When turned into findings
    findings = findings_from_event(event)
    # Then RUNNING gives none; SUCCEEDED recovers; the ends are FAILED findings scoped to their state machine
    expected = {"RUNNING": None, "SUCCEEDED": Condition.RECOVERED}.get(event.detail.status, Condition.FAILED)
    assert [f.condition for f in findings] == ([] if expected is None else [expected])
    for f in findings:
        assert f.scope_key == event.detail.state_machine_arn == state_machine_of(f.resource_id)
        assert f.facts["status"] == event.detail.status
    assert dedup_key(event) == f"{event.detail.execution_arn}#{event.detail.status}#{event.detail.redrive_count}"


# ------------------------------------------------------------------------------------------------ scope
def test_scope_is_judged_on_the_executions_own_arn_not_the_claimed_machine() -> None:
    shell = ExecutionRemediator(settings(), None)  # type: ignore[arg-type]
    other = "arn:aws:states:us-east-1:123456789012:execution:otherteam-data-pipeline:run-1"
    express = "arn:aws:states:us-east-1:123456789012:express:lakehouse-mvp-sandbox-data-pipeline:run-1:abc"
    base = finding(Condition.FAILED)
    # an in-scope execution, claimed by its own machine, by a version of it, or with no claim (resume)
    assert shell.in_scope(base)
    assert shell.in_scope(base.model_copy(update={"scope_key": SM + ":3"}))
    assert shell.in_scope(base.model_copy(update={"scope_key": ""}))
    assert shell.in_scope(base.model_copy(update={"resource_id": express, "scope_key": ""}))
    # another team's execution claimed by the in-scope machine: out of scope
    assert not shell.in_scope(base.model_copy(update={"resource_id": other}))
    # an in-scope execution claimed by another machine: not trusted either
    claimed_elsewhere = SM.replace("lakehouse-mvp-sandbox-data-pipeline", "lakehouse-mvp-sandbox-other")
    assert not shell.in_scope(base.model_copy(update={"scope_key": claimed_elsewhere}))
    # the same name in another partition, account or region
    for arn in (
        ARN.replace("arn:aws:", "arn:aws-cn:"),
        ARN.replace(":123456789012:", ":210987654321:"),
        ARN.replace(":us-east-1:", ":us-gov-west-1:"),
        "not-an-arn",
    ):
        assert not shell.in_scope(base.model_copy(update={"resource_id": arn, "scope_key": ""}))
