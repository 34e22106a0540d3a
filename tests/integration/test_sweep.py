"""The sweep against the moto emulator, through the real engine and remediations: stuck resources are found and
remediated, lost failures are found, multi-step remediations resume, recovered resources resolve, a concurrent
sweep and event handler act once, and scope is respected.

Resources are seeded through the API (the same path the product takes); what the emulator cannot do over the API
(backdating a crawl or a query, holding a state) uses the harness hooks in ``watchdogs_local.moto_ext``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.conftest import INCIDENT_TABLE
from tests.support.aws import ACCOUNT, REGION, ApiCalls, Subscriber, load_event
from watchdogs.incidents import Incident, IncidentStore
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.sweep import SweepReport, run_sweep_once

pytestmark = pytest.mark.integration

RAW = "lakehouse-sandbox-raw-crawler"
PROCESSED = "lakehouse-sandbox-processed-crawler"
CURATED = "lakehouse-sandbox-curated-crawler"
WORKGROUP = "lakehouse-mvp-sandbox-workgroup"
PIPELINE = "lakehouse-mvp-sandbox-data-pipeline"
PIPELINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{PIPELINE}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lakehouse-sandbox-role"
RESULTS = "s3://lakehouse-sandbox-athena-results/"
DEFINITION = '{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}'


# ------------------------------------------------------------------------------------------------ emulator
@pytest.fixture
def held_states() -> Iterator[None]:
    """Crawls and queries stay in the state a test puts them in (no progression on reads)."""
    from moto.moto_api import state_manager

    for model in ("glue::crawl", "athena::execution"):
        state_manager.set_transition(model_name=model, transition={"progression": "manual", "times": 10**9})
    yield
    for model in ("glue::crawl", "athena::execution"):
        state_manager.unset_transition(model)


@pytest.fixture
def athena_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    """``ListQueryExecutions`` as Athena answers it: newest first, ``MaxResults`` (<= 50) a page, ``NextToken``.

    Moto returns every id of the workgroup in one page, oldest first. This belongs in
    ``watchdogs_local.moto_ext.athena`` (owned by the query watchdog); patched here per test meanwhile.
    """
    import json

    from moto.athena.responses import AthenaResponse

    def list_query_executions(self: Any) -> str:
        workgroup = self._get_param("WorkGroup") or "primary"
        size = min(int(self._get_param("MaxResults") or 50), 50)
        start = int(self._get_param("NextToken") or 0)
        executions = self.athena_backend.list_query_executions(workgroup)
        newest_first = sorted(executions, key=lambda i: executions[i].start_time, reverse=True)
        page = newest_first[start : start + size]
        body: dict[str, Any] = {"QueryExecutionIds": page}
        if start + size < len(newest_first):
            body["NextToken"] = str(start + size)
        return json.dumps(body)

    monkeypatch.setattr(AthenaResponse, "list_query_executions", list_query_executions)


@pytest.fixture
def lakehouse(aws: dict[str, Any], held_states: None, athena_newest_first: None) -> dict[str, Any]:
    """The runbook's sandbox: three crawlers, the pipeline state machine, the two workgroups."""
    glue = boto3.client("glue")
    for name in (RAW, PROCESSED, CURATED):
        create_crawler(glue, name)
    athena = boto3.client("athena")
    for workgroup in ("lakehouse-sandbox-workgroup", WORKGROUP):
        athena.create_work_group(Name=workgroup, Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}})
    boto3.client("stepfunctions").create_state_machine(name=PIPELINE, definition=DEFINITION, roleArn=ROLE)
    create_metadata_table()
    return aws


def create_metadata_table() -> None:
    """The pipeline-metadata table of the runbook (pipeline_name + execution_date, GSI on status)."""
    from watchdogs_local.lakehouse import create_metadata_table as create

    create(boto3.client("dynamodb"), "lakehouse-sandbox-pipeline-metadata")


def create_crawler(glue: Any, name: str, tags: dict[str, str] | None = None) -> None:
    glue.create_crawler(
        Name=name,
        Role=ROLE,
        DatabaseName="lakehouse_sandbox_lakehouse",
        Targets={"S3Targets": [{"Path": f"s3://lakehouse-sandbox-data-lake/{name}/"}]},
        Tags=tags or {},
    )


def crawl(name: str, state: str, **kwargs: Any) -> None:
    from watchdogs_local.moto_ext.glue import set_crawl

    set_crawl(name, state, **kwargs)  # type: ignore[arg-type]


def crawler_state(name: str) -> tuple[str, str | None]:
    crawler = boto3.client("glue").get_crawler(Name=name)["Crawler"]
    return crawler["State"], crawler.get("LastCrawl", {}).get("Status")


def start_query(workgroup: str = WORKGROUP, *, state: str = "RUNNING", submitted_seconds_ago: float = 0) -> str:
    from watchdogs_local.moto_ext.athena import set_query_execution

    query_id = boto3.client("athena").start_query_execution(
        QueryString="SELECT count(*) FROM curated.fct_events", WorkGroup=workgroup
    )["QueryExecutionId"]
    set_query_execution(query_id, state=state, submitted_seconds_ago=submitted_seconds_ago)
    return query_id


def query_state(query_id: str) -> str:
    from watchdogs_local.moto_ext.athena import query_state as state

    return state(query_id)


def sfn_backend() -> Any:
    from moto.stepfunctions.models import stepfunctions_backends

    return stepfunctions_backends[ACCOUNT][REGION]


def start_execution(machine_arn: str = PIPELINE_ARN, *, running_for: float = 0, name: str | None = None) -> str:
    arn = boto3.client("stepfunctions").start_execution(
        stateMachineArn=machine_arn, **({"name": name} if name else {})
    )["executionArn"]
    if running_for:
        execution = sfn_backend().describe_execution(arn)
        execution.start_date -= timedelta(seconds=running_for)
    return arn


def end_execution(arn: str, status: str, *, stopped_seconds_ago: float = 0) -> None:
    """The run ends (the event it emits is 'lost': no handler is called)."""
    from moto.core.utils import utcnow

    execution = sfn_backend().describe_execution(arn)
    execution.status = status
    execution.stop_date = utcnow() - timedelta(seconds=stopped_seconds_ago)
    execution.error, execution.cause = "States.TaskFailed", "dbt run failed"


def execution_status(arn: str) -> str:
    return str(boto3.client("stepfunctions").describe_execution(executionArn=arn)["status"])


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"), environment="test")


def active(resource_type: ResourceType, resource_id: str) -> dict[Condition, Incident]:
    return store().load(resource_type, resource_id).incidents


def history(resource_type: ResourceType, resource_id: str) -> list[Incident]:
    return store().history(resource_type, resource_id)


def outcomes(subscriber: Subscriber) -> list[tuple[str, str, str]]:
    """(resource_id, condition, outcome) of every notification received."""
    return [
        (m["Body"]["resource_id"], m["Body"]["condition"], m["MessageAttributes"]["outcome"]["Value"])
        for m in subscriber.messages()
    ]


def sweep() -> SweepReport:
    return run_sweep_once()


def by_resource(report: SweepReport) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for item in report.items:
        found.setdefault(item.resource.split("#", 1)[1].rsplit(":", 1)[-1], []).append(
            f"{item.kind}:{item.condition}:{item.outcome}"
        )
    return found


# ------------------------------------------------------------------------------------------------ crawlers
def test_stuck_crawler_is_reset_across_sweeps_and_resolved(lakehouse: dict[str, Any], subscriber: Subscriber) -> None:
    # Given the raw crawler RUNNING for 50 minutes (threshold 45) and the processed one for 5
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    crawl(PROCESSED, "RUNNING", running_for_seconds=300)

    # When the sweep runs
    first = sweep()
    # Then the stuck crawler is stopped (runbook step 3) and the reset's next step is persisted on the incident
    assert by_resource(first) == {RAW: ["stuck:STUCK:act"]}
    assert crawler_state(RAW)[0] == "STOPPING"
    assert crawler_state(PROCESSED)[0] == "RUNNING"
    incident = active(ResourceType.CRAWLER, RAW)[Condition.STUCK]
    assert incident.status is IncidentStatus.REMEDIATING
    assert incident.pending_step == "start_when_ready"
    assert outcomes(subscriber) == [(RAW, "STUCK", "act")]

    # When the crawler is still STOPPING at the next sweep
    waiting = sweep()
    # Then the reset waits: nothing acted, nothing written, nobody notified again
    assert by_resource(waiting) == {RAW: ["resume:STUCK:unchanged"]}
    assert outcomes(subscriber) == []

    # When the stop completes (READY, last crawl CANCELLED) and the sweep runs again
    crawl(RAW, "CANCELLED")
    resumed = sweep()
    # Then the persisted step is resumed: the crawler is started again ("wait for READY state, then restart")
    assert by_resource(resumed) == {RAW: ["resume:STUCK:act"]}
    assert crawler_state(RAW) == ("RUNNING", "CANCELLED")
    incident = active(ResourceType.CRAWLER, RAW)[Condition.STUCK]
    assert [e.step for e in incident.actions_taken()] == ["stop_crawler", "start_crawler"]
    assert incident.pending_step == "await_success"

    # When the restarted crawl succeeds but its Succeeded event is lost
    crawl(RAW, "SUCCEEDED")
    resolved = sweep()
    # Then the sweep resolves the incident from what it sees (READY, last crawl SUCCEEDED)
    assert by_resource(resolved) == {RAW: ["recovered:RECOVERED:resolved"]}
    assert active(ResourceType.CRAWLER, RAW) == {}
    [closed] = history(ResourceType.CRAWLER, RAW)
    assert closed.status is IncidentStatus.RESOLVED
    assert closed.time_to_recover_seconds is not None
    assert outcomes(subscriber)[-1] == (RAW, "STUCK", "resolved")

    # And a further sweep finds nothing to do
    assert sweep().items == []


def test_lost_crawler_failure_is_found_once(lakehouse: dict[str, Any], subscriber: Subscriber) -> None:
    # Given the curated crawler failed with Access Denied and its Failed event never arrived
    crawl(
        CURATED,
        "FAILED",
        error_message="Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)",
    )

    # When the sweep runs
    report = sweep()
    # Then it is fed to the crawler remediation as the event would have been: classified, escalated, never retried
    assert by_resource(report) == {CURATED: ["lost-failure:FAILED:escalate"]}
    incident = active(ResourceType.CRAWLER, CURATED)[Condition.FAILED]
    assert incident.status is IncidentStatus.ESCALATED
    assert incident.facts["failure_class"] == "access-denied"
    assert incident.timeline[0].actor == "sweep"
    assert crawler_state(CURATED) == ("READY", "FAILED")  # no restart
    assert outcomes(subscriber) == [(CURATED, "FAILED", "escalate")]

    # When the sweep runs again / Then the failure is known: resumed, held (escalated), not notified twice
    again = sweep()
    assert by_resource(again) == {CURATED: ["resume:FAILED:held"]}
    assert outcomes(subscriber) == []


def test_lost_transient_crawler_failure_is_restarted_then_resolved(
    lakehouse: dict[str, Any], subscriber: Subscriber
) -> None:
    # Given the raw crawler failed with throttling (transient) and the event was lost
    crawl(
        RAW,
        "FAILED",
        error_message="Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)",
    )
    # When the sweep runs / Then the remediation restarts it
    assert by_resource(sweep()) == {RAW: ["lost-failure:FAILED:act"]}
    assert crawler_state(RAW) == ("RUNNING", "FAILED")
    # When the restart succeeds (event lost too) / Then the next sweep resolves the failure
    crawl(RAW, "SUCCEEDED")
    assert by_resource(sweep()) == {RAW: ["recovered:RECOVERED:resolved"]}
    assert active(ResourceType.CRAWLER, RAW) == {}
    assert [o for _, _, o in outcomes(subscriber)] == ["act", "resolved"]


# ------------------------------------------------------------------------------------------------ queries
def test_stuck_query_is_cancelled_and_resolved(lakehouse: dict[str, Any], subscriber: Subscriber) -> None:
    # Given a query RUNNING for 27 minutes (threshold 25), a young one and a finished one
    stuck = start_query(submitted_seconds_ago=1620)
    young = start_query(submitted_seconds_ago=60)
    done = start_query(state="SUCCEEDED", submitted_seconds_ago=4000)

    # When the sweep runs
    report = sweep()
    # Then only the stuck query is cancelled (runbook: "Cancel stuck query")
    assert by_resource(report) == {stuck: ["stuck:STUCK:act"]}
    assert (query_state(stuck), query_state(young), query_state(done)) == ("CANCELLED", "RUNNING", "SUCCEEDED")
    assert report.checked["queries"] == 3
    incident = active(ResourceType.QUERY, stuck)[Condition.STUCK]
    assert incident.status is IncidentStatus.REMEDIATING

    # When the CANCELLED event is lost / Then the next sweep resumes the incident, sees it cancelled, resolves it
    resumed = sweep()
    assert by_resource(resumed) == {stuck: ["resume:STUCK:resolved"]}
    assert active(ResourceType.QUERY, stuck) == {}
    assert [o for _, _, o in outcomes(subscriber)] == ["act", "resolved"]


# ------------------------------------------------------------------------------------------------ executions
def test_stuck_execution_is_found_and_stopped(lakehouse: dict[str, Any], subscriber: Subscriber) -> None:
    from watchdogs.actions import STOP_ERROR

    # Given a pipeline run RUNNING for 2 h 5 min (threshold 2 h) on no fixable cause, and a fresh run
    stuck = start_execution(running_for=7500, name="stuck-run")
    fresh = start_execution(name="fresh-run")

    # When the sweep runs
    report = sweep()
    # Then the stuck run is handed to the execution remediation, which force-stops it with the watchdog's marker
    assert by_resource(report) == {"stuck-run": ["stuck:STUCK:act"]}
    assert report.checked["running_executions"] == 2
    described = boto3.client("stepfunctions").describe_execution(executionArn=stuck)
    assert (described["status"], described.get("error")) == ("ABORTED", STOP_ERROR)
    assert execution_status(fresh) == "RUNNING"
    incident = active(ResourceType.EXECUTION, stuck)[Condition.STUCK]
    assert [e.step for e in incident.actions_taken()] == ["stop_execution"]
    assert outcomes(subscriber) == [(stuck, "STUCK", "act")]

    # When the next sweep sees the run ABORTED (our own stop; its event lost)
    again = sweep()
    # Then it is not mistaken for a lost failure: only the incident is resumed
    assert [i.kind for i in again.items] == ["resume"]
    assert stuck not in {i.resource.split("#", 1)[1] for i in again.items if i.kind == "lost-failure"}
    # And the stuck incident is closed (not resolved: the run did not recover), nothing stays open to be resumed
    assert active(ResourceType.EXECUTION, stuck) == {}
    assert outcomes(subscriber) == [(stuck, "STUCK", "closed")]
    assert [i.kind for i in sweep().items] == []


def test_lost_execution_failure_is_found_once(lakehouse: dict[str, Any], subscriber: Subscriber) -> None:
    # Given a run that FAILED 10 minutes ago whose event was lost, and one that failed 3 hours ago
    failed = start_execution(running_for=1200, name="failed-run")
    end_execution(failed, "FAILED", stopped_seconds_ago=600)
    old = start_execution(running_for=3.5 * 3600, name="old-run")
    end_execution(old, "FAILED", stopped_seconds_ago=3 * 3600)

    # When the sweep runs
    report = sweep()
    # Then the recent failure is fed to the execution remediation as a FAILED finding; the old one is not
    assert by_resource(report) == {"failed-run": ["lost-failure:FAILED:notify"]}
    assert report.checked["recent_executions"] == 2
    incident = active(ResourceType.EXECUTION, failed)[Condition.FAILED]
    assert incident.timeline[0].actor == "sweep"
    assert active(ResourceType.EXECUTION, old) == {}
    assert outcomes(subscriber) == [(failed, "FAILED", "notify")]

    # When the sweep runs again / Then the failure is known: resumed without a change or a second notification
    again = sweep()
    assert by_resource(again) == {"failed-run": ["resume:FAILED:unchanged"]}
    assert outcomes(subscriber) == []


def test_recovered_execution_resolves_its_incident(lakehouse: dict[str, Any], subscriber: Subscriber) -> None:
    # Given a failed run with an open incident (found by the sweep), then redriven by someone and SUCCEEDED
    failed = start_execution(running_for=1200, name="flaky-run")
    end_execution(failed, "FAILED", stopped_seconds_ago=600)
    sweep()
    end_execution(failed, "SUCCEEDED")
    subscriber.messages()

    # When the sweep runs (the SUCCEEDED event was lost)
    report = sweep()
    # Then the resumed incident resolves with its time to recover
    assert by_resource(report) == {"flaky-run": ["resume:FAILED:resolved"]}
    assert active(ResourceType.EXECUTION, failed) == {}
    [closed] = history(ResourceType.EXECUTION, failed)
    assert closed.status is IncidentStatus.RESOLVED
    assert outcomes(subscriber) == [(failed, "FAILED", "resolved")]


# ------------------------------------------------------------------------------------------------ one actor
def test_concurrent_sweep_and_event_handler_act_once(
    lakehouse: dict[str, Any], subscriber: Subscriber, lambda_context: Any
) -> None:
    from watchdogs.handlers import glue as glue_handler
    from watchdogs.runtime import runtime

    # Given a crawler failed with a throttling error: the event arrives while the sweep finds it too
    event = load_event("glue-crawler-failed-throttled")
    name = event["detail"]["crawlerName"]
    crawl(name, "FAILED", error_message=event["detail"]["errorMessage"])

    # Both invocations load the incident state before either writes (the race the conditional write decides)
    barrier = threading.Barrier(2, timeout=30)
    engine = runtime().engine
    real_load = engine.store.load

    waited: set[int] = set()

    def load_then_wait(*args: Any, **kwargs: Any) -> Any:
        state = real_load(*args, **kwargs)
        if threading.get_ident() not in waited:  # the first load of each (the loser re-reads after losing)
            waited.add(threading.get_ident())
            barrier.wait()
        return state

    engine.store.load = load_then_wait  # type: ignore[method-assign]
    results: dict[str, Any] = {}

    def via_event() -> None:
        results["event"] = glue_handler.lambda_handler(event, lambda_context)

    def via_sweep() -> None:
        results["sweep"] = run_sweep_once()

    # When both run at the same time
    threads = [threading.Thread(target=via_event), threading.Thread(target=via_sweep)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    engine.store.load = real_load  # type: ignore[method-assign]

    # Then exactly one restarted the crawler: one StartCrawler on the timeline, one crawl started, one notification
    [incident] = active(ResourceType.CRAWLER, name).values()
    assert [e.step for e in incident.actions_taken()] == ["start_crawler"]
    assert crawler_state(name) == ("RUNNING", "FAILED")
    assert [o for _, _, o in outcomes(subscriber)] == ["act"]
    event_outcome = results["event"]["results"][0]["outcome"]
    sweep_outcome = results["sweep"].items[0].outcome
    assert sorted([event_outcome, sweep_outcome]) == ["act", "lost-race"]


# ------------------------------------------------------------------------------------------------ scope
def test_scope_is_respected(lakehouse: dict[str, Any], api_calls: ApiCalls, subscriber: Subscriber) -> None:
    # Given stuck resources of another team: a crawler, a state machine's run, a query in their workgroup
    glue, athena = boto3.client("glue"), boto3.client("athena")
    create_crawler(glue, "otherteam-raw-crawler")
    crawl("otherteam-raw-crawler", "RUNNING", running_for_seconds=9 * 3600)
    other_sm = boto3.client("stepfunctions").create_state_machine(
        name="otherteam-pipeline", definition=DEFINITION, roleArn=ROLE
    )["stateMachineArn"]
    theirs = start_execution(other_sm, running_for=9 * 3600)
    athena.create_work_group(
        Name="otherteam-workgroup", Configuration={"ResultConfiguration": {"OutputLocation": RESULTS}}
    )
    their_query = start_query("otherteam-workgroup", submitted_seconds_ago=3000)
    api_calls.reset()

    # When the sweep runs
    report = sweep()

    # Then nothing of theirs is found, touched or recorded
    assert report.items == []
    assert crawler_state("otherteam-raw-crawler")[0] == "RUNNING"
    assert execution_status(theirs) == "RUNNING"
    assert query_state(their_query) == "RUNNING"
    assert store().list_open() == []
    assert outcomes(subscriber) == []
    # And their resources were not even read: no tags, no executions, no query pages of theirs
    assert api_calls.calls["glue.GetTags"] == 0
    assert api_calls.calls["stepfunctions.ListExecutions"] == 2  # RUNNING + recent, for the pipeline only
    assert api_calls.calls["athena.ListQueryExecutions"] == 2  # the two workgroups in scope
    assert api_calls.mutating() == {}
    assert report.checked["crawlers"] == 3
    assert report.checked["state_machines"] == 1


# ------------------------------------------------------------------------------------------------ isolation
def test_access_denied_on_one_crawler_does_not_stop_the_sweep(
    lakehouse: dict[str, Any], subscriber: Subscriber
) -> None:
    from watchdogs.runtime import runtime

    # Given two stuck crawlers and a stuck query, and the raw crawler's tags refused (AccessDenied)
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    crawl(PROCESSED, "RUNNING", running_for_seconds=3000)
    stuck = start_query(submitted_seconds_ago=1620)

    def deny_raw_tags(params: dict[str, Any], **_: Any) -> None:
        if params.get("ResourceArn", "").endswith(f"crawler/{RAW}"):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not for you"}}, "GetTags")

    runtime().clients.glue.meta.events.register("before-parameter-build.glue.GetTags", deny_raw_tags)

    # When the sweep runs
    report = sweep()

    # Then the failure is recorded with its operation and resource, and everything else was still remediated
    assert {(e.operation, e.resource, e.code) for e in report.errors} >= {
        ("glue.GetTags", RAW, "AccessDeniedException")
    }
    assert crawler_state(PROCESSED)[0] == "STOPPING"
    assert query_state(stuck) == "CANCELLED"
    assert crawler_state(RAW)[0] == "RUNNING"  # its remediation could not read the opt-out tag: not touched
    assert {r for r, _, o in outcomes(subscriber) if o == "act"} == {PROCESSED, stuck}


# ------------------------------------------------------------------------------------------------ handler
def test_handler_runs_one_sweep_per_schedule_tick(
    lakehouse: dict[str, Any], lambda_context: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from watchdogs.handlers.sweep import lambda_handler
    from watchdogs.observability import logger

    log = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log)

    # Given a stuck crawler
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    # When the schedule fires
    response = lambda_handler(load_event("sweep-scheduled"), lambda_context)
    # Then one sweep ran and its report is the response; the crawler was stopped
    assert response["outcome"] == "swept"
    assert response["found"] == {"stuck": 1}
    assert crawler_state(RAW)[0] == "STOPPING"
    # And one structured log line says what was checked, found and done
    lines = [line for line in log.getvalue().splitlines() if '"sweep finished"' in line]
    assert len(lines) == 1
    assert '"checked":{' in lines[0]
    assert '"found":{"stuck":1}' in lines[0]


def test_handler_rejects_anything_but_a_schedule_event(
    lakehouse: dict[str, Any], lambda_context: Any, api_calls: ApiCalls
) -> None:
    from watchdogs.handlers.sweep import lambda_handler

    # Given a stuck crawler and a Glue event sent to the sweep by mistake
    crawl(RAW, "RUNNING", running_for_seconds=3000)
    api_calls.reset()
    # When invoked / Then it is rejected without a single AWS call
    response = lambda_handler(load_event("glue-crawler-failed-throttled"), lambda_context)
    assert response["outcome"] == "rejected"
    assert api_calls.total == 0
    assert crawler_state(RAW)[0] == "RUNNING"


def test_terminal_failure_incidents_expire_instead_of_costing_every_sweep(
    lakehouse: dict[str, Any], api_calls: ApiCalls, subscriber: Subscriber
) -> None:
    from watchdogs.incidents import now_utc

    s = store()
    # Given a failed-query incident older than the look-back window, one younger, and a failed run 3 days old
    old_query, new_query = "q-failed-long-ago", "q-failed-just-now"
    run = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lakehouse-mvp-sandbox-data-pipeline:failed-3-days-ago"
    for resource_type, resource_id, age in (
        (ResourceType.QUERY, old_query, timedelta(hours=3)),
        (ResourceType.QUERY, new_query, timedelta(minutes=5)),
        (ResourceType.EXECUTION, run, timedelta(days=3)),
    ):
        draft = s.new_incident(
            resource_type, resource_id, Condition.FAILED, status=IncidentStatus.OPEN, detected_at=now_utc() - age
        )
        s.save(draft, expected_version=0)
    api_calls.reset()

    # When the sweep runs
    report = sweep()

    # Then the old query incident is closed into history (not resumed), the others stay open, nobody is re-alerted
    assert report.checked["expired_incidents"] == 1
    assert active(ResourceType.QUERY, old_query) == {}
    [closed] = history(ResourceType.QUERY, old_query)
    assert closed.status is IncidentStatus.CLOSED  # ended without recovery: resolve means recovered
    assert closed.timeline[-1].kind == "closed"
    assert Condition.FAILED in active(ResourceType.QUERY, new_query)
    assert Condition.FAILED in active(ResourceType.EXECUTION, run)  # redrivable for 14 days
    assert old_query not in {i.resource.split("#", 1)[1] for i in report.items}
    # the expiry is a transition like any other: one "closed" message, which says it ended without recovery
    assert [m["Body"]["event"] for m in subscriber.messages()] == ["closed"]
    assert api_calls.calls["dynamodb.TransactWriteItems"] == 1
