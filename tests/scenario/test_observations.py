"""One scenario per observation of issue 10, on the *deployed* template.

Each test deploys ``template.yaml`` into the embedded emulator (one emulator per module: the session's moto server,
wiped and redeployed per test so every test starts from the template alone), provisions the runbook's lakehouse,
and drives the watchdogs only through AWS state, state-change events (synthesised from that state by
:class:`~watchdogs_local.observer.StateObserver`) and schedule ticks, all routed through the deployed rules to the
deployed functions' handlers. Assertions are on observable effects only: resource state in the emulator, incident
records in the deployed incident table, messages an SQS subscriber of the deployed topic received.

Faults at AWS calls are injected on the wire (a botocore ``before-send`` hook active only inside a routed
invocation): a timeout *after* the request landed sends it for real, then raises ``ReadTimeoutError``; a throttle
answers ``ThrottlingException`` without sending.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watchdogs_local.emulator import ACCOUNT, REGION, TEMPLATE, Emulator
from watchdogs_local.lakehouse import SANDBOX_PARAMETERS, Lakehouse, LakehouseNames, provision_lakehouse
from watchdogs_local.moto_ext.athena import set_query_execution
from watchdogs_local.moto_ext.glue import set_crawl
from watchdogs_local.observer import StateObserver, execution_event
from watchdogs_local.router import Delivery, Router, _invocation

pytestmark = pytest.mark.scenario

STACK = "lakehouse-watchdogs-observations"
CRAWLER_STUCK = 600
QUERY_STUCK = 600
EXECUTION_STUCK = 1200
PARAMETERS: dict[str, str] = {
    **SANDBOX_PARAMETERS,
    "CrawlerStuckSeconds": str(CRAWLER_STUCK),
    "CrawlerStoppingSeconds": "300",
    "QueryStuckSeconds": str(QUERY_STUCK),
    "ExecutionStuckSeconds": str(EXECUTION_STUCK),
    "SweepLookbackSeconds": "7200",
    "BudgetMaxActions": "3",
}
HELD = {"progression": "manual", "times": 10**9}
IMMEDIATE = {"progression": "immediate"}
THROTTLED = "Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)"
ACCESS_DENIED = "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied) for s3://lake/raw/"
OPT_OUT = "watchdogs:opt-out"
THRESHOLD_TAG = "watchdogs:stuck-after-seconds"


# ------------------------------------------------------------------------------------------------ faults on the wire
@dataclass
class Fault:
    kind: str  # "timeout-after" | "throttle" | "pass" (only run ``then``)
    times: int = 1
    then: Callable[[], None] | None = None  # run (once) when the fault fires, before it answers


class WireFaults:
    """A botocore ``before-send`` hook for the watchdogs' own calls (inside a routed invocation only).

    Counts every request the handlers *sent* per ``service.Operation`` (what landed on the emulator), and fires
    armed faults."""

    def __init__(self) -> None:
        self.sent: Counter[str] = Counter()
        self.armed: dict[str, Fault] = {}
        self._entry = ("before-send", self._on_send)

    def install(self) -> WireFaults:
        from botocore import handlers

        if self._entry not in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.append(self._entry)
        return self

    def uninstall(self) -> None:
        from botocore import handlers

        if self._entry in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.remove(self._entry)

    def clear(self) -> None:
        self.sent.clear()
        self.armed.clear()

    def arm(self, operation: str, fault: Fault) -> None:
        self.armed[operation] = fault

    def _on_send(self, request: Any, event_name: str = "", **_: Any) -> Any:
        if not getattr(_invocation, "label", None):
            return None  # the test's own calls, the emulator's Step Functions tasks
        _, service, operation = event_name.split(".", 2)
        key = f"{service}.{operation}"
        fault = self.armed.get(key)
        if fault is None or fault.times <= 0:
            self.sent[key] += 1
            return None
        fault.times -= 1
        if fault.then is not None:
            then, fault.then = fault.then, None
            then()
        if fault.kind == "pass":
            self.sent[key] += 1
            return None
        if fault.kind == "throttle":
            return _error_response(request.url, 400, "ThrottlingException", "Rate exceeded")
        from botocore.exceptions import ReadTimeoutError
        from botocore.httpsession import URLLib3Session

        URLLib3Session().send(request)  # the call lands ...
        self.sent[key] += 1
        raise ReadTimeoutError(endpoint_url=request.url, error="read timed out (injected)")  # ... its answer is lost


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


def _error_response(url: str, status: int, code: str, message: str) -> Any:
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": code, "message": message}).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "x-amzn-RequestId": str(uuid.uuid4())}
    return AWSResponse(url, status, headers, _Raw(body))


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """The deployed stack, the lakehouse, the router, the observer and the alert subscriber of one test."""

    emulator: Emulator
    faults: WireFaults
    lakehouse: Lakehouse
    router: Router
    observer: StateObserver
    queue_url: str
    table: str
    notifications: list[dict[str, Any]] = field(default_factory=list)
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.emulator.client(service)
        return self._clients[service]

    # ---------------------------------------------------------------------------------------- driving
    def pump(self) -> list[Delivery]:
        """Route the events of everything that changed since the last look."""
        return [d for event in self.observer.poll() for d in self.router.route(event)]

    def sweep(self) -> list[Delivery]:
        """Events first, then one schedule tick, then the events of what the sweep changed."""
        delivered = self.pump()
        ticks = self.router.tick()
        assert all(d.error is None for d in ticks), [d.error for d in ticks]
        return [*delivered, *ticks, *self.pump()]

    def function(self, logical_id: str) -> Any:
        return self.router.deployment.functions[logical_id]

    # ---------------------------------------------------------------------------------------- reads
    def items(self, resource_type: str, resource_id: str) -> list[dict[str, Any]]:
        found = self.client("dynamodb").query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": f"RES#{resource_type}#{resource_id}"}},
        )["Items"]
        return list(found)

    def incidents(self, resource_type: str, resource_id: str, condition: str | None = None) -> list[Any]:
        from watchdogs.incidents import incident_from_item

        return [
            incident_from_item(item)
            for item in self.items(resource_type, resource_id)
            if item["sk"]["S"].startswith(("CUR#", "HIST#"))
            and (condition is None or item.get("condition", {}).get("S") == condition)
        ]

    def incident(self, resource_type: str, resource_id: str, condition: str) -> Any:
        current = [i for i in self.incidents(resource_type, resource_id, condition) if i.status.value in ACTIVE]
        return current[0] if current else None

    def item(self, resource_type: str, resource_id: str, condition: str) -> dict[str, Any] | None:
        sk = f"CUR#{condition}"
        return next((i for i in self.items(resource_type, resource_id) if i["sk"]["S"] == sk), None)

    def budget(self, resource_type: str, resource_id: str) -> dict[str, Any]:
        return next((i for i in self.items(resource_type, resource_id) if i["sk"]["S"] == "BUDGET"), {})

    def messages(self, resource_id: str) -> list[dict[str, Any]]:
        """Every notification the subscriber received for ``resource_id`` so far."""
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                break
            for message in batch:
                envelope = json.loads(message["Body"])
                envelope["Body"] = json.loads(envelope["Message"])
                self.notifications.append(envelope)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [n for n in self.notifications if n["Body"].get("resource_id") == resource_id]

    def outcomes(self, resource_id: str) -> list[str]:
        return [m["MessageAttributes"]["outcome"]["Value"] for m in self.messages(resource_id)]

    def crawler(self, name: str) -> dict[str, Any]:
        return dict(self.client("glue").get_crawler(Name=name)["Crawler"])

    def query_state(self, query_id: str) -> str:
        answer = self.client("athena").get_query_execution(QueryExecutionId=query_id)
        return str(answer["QueryExecution"]["Status"]["State"])

    def execution(self, arn: str) -> dict[str, Any]:
        return dict(self.client("stepfunctions").describe_execution(executionArn=arn))


ACTIVE = {"open", "remediating", "remediated", "escalated", "observed"}


def crawl_count(name: str) -> int:
    from watchdogs_local import faults

    return faults.crawl_count(name)


def backdate_execution(arn: str, seconds: float) -> None:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    execution = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(arn)
    execution.start_date -= timedelta(seconds=seconds)


def hold(model: str) -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name=model, transition=HELD)


def release(model: str) -> None:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name=model, transition=IMMEDIATE)


def wait_until(check: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def shared(moto_server: str) -> Iterator[tuple[Emulator, WireFaults]]:
    """One emulator for the module (the session's moto server, execution simulation on, extensions installed)."""
    from watchdogs.runtime import reset_runtime

    emulator = Emulator(endpoint=moto_server).start()
    faults = WireFaults().install()
    try:
        yield emulator, faults
    finally:
        faults.uninstall()
        emulator.stop()
        reset_runtime()


@pytest.fixture
def deploy(shared: tuple[Emulator, WireFaults]) -> Iterator[Callable[..., World]]:
    """``deploy(**parameters)``: wipe the emulator, deploy the template, provision the lakehouse, subscribe."""
    from moto.moto_api import state_manager

    from watchdogs_local import faults as lake_faults

    emulator, faults = shared
    made: list[World] = []

    def make(**overrides: str) -> World:
        emulator.reset()
        faults.clear()
        hold("glue::crawl")
        hold("athena::execution")
        deployment = emulator.deploy(TEMPLATE, {**PARAMETERS, **overrides}, stack_name=STACK)
        lakehouse = provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type]
        sqs = emulator.client("sqs")
        queue_url = sqs.create_queue(QueueName="observations-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        emulator.client("sns").subscribe(
            TopicArn=deployment.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn
        )
        router = Router(deployment, emulator.endpoint)
        router.release()  # fresh clients, built with the fault hook installed
        observer = StateObserver(
            clients=_ObserverClients(emulator),
            workgroups=list(lakehouse.workgroups),
            state_machine_arns=[lakehouse.state_machine_arn],
        )
        observer.prime()
        world = World(
            emulator=emulator,
            faults=faults,
            lakehouse=lakehouse,
            router=router,
            observer=observer,
            queue_url=queue_url,
            table=deployment.outputs["IncidentTableName"],
        )
        made.append(world)
        return world

    try:
        yield make
    finally:
        from watchdogs_local.moto_ext.stepfunctions import stop_running_executions

        faults.clear()
        lake_faults.clear_query_faults()
        stop_running_executions()
        for model in ("glue::crawl", "athena::execution"):
            state_manager.unset_transition(model)
        for world in made:
            world.router.release()


class _ObserverClients:
    def __init__(self, emulator: Emulator) -> None:
        self.glue = emulator.client("glue")
        self.athena = emulator.client("athena")
        self.sfn = emulator.client("stepfunctions")


# ------------------------------------------------------------------------------------------------ shared setups
def stuck_crawler(world: World, name: str, seconds: float = CRAWLER_STUCK + 60) -> None:
    """The crawler's crawl is RUNNING, started ``seconds`` ago (its Started event is routed)."""
    set_crawl(name, "RUNNING", running_for_seconds=seconds)
    world.pump()


def failed_crawl(world: World, name: str, error: str) -> list[Delivery]:
    """A crawl of ``name`` starts, then fails with ``error``: its Started and Failed events are routed."""
    set_crawl(name, "RUNNING")
    world.pump()
    set_crawl(name, "FAILED", error_message=error)
    return world.pump()


def stuck_query(world: World, workgroup: str, seconds: float = QUERY_STUCK + 60) -> str:
    athena = world.client("athena")
    query_id = str(
        athena.start_query_execution(QueryString="SELECT * FROM big CROSS JOIN big", WorkGroup=workgroup)[
            "QueryExecutionId"
        ]
    )
    set_query_execution(query_id, state="RUNNING", submitted_seconds_ago=seconds)
    world.pump()
    return query_id


def pipeline_in(world: World, states: set[str], run_id: str) -> str:
    sfn = world.client("stepfunctions")
    arn = world.lakehouse.start_pipeline(sfn, run_id)

    def current() -> str | None:
        for event in sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=5)["events"]:
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
            if details:
                return str(details["name"])
        return None

    wait_until(lambda: current() in states, what=f"the run to reach {sorted(states)}")
    world.pump()
    return arn


RAW_WAIT = {"WaitForRawCrawler", "GetRawCrawlerState", "IsRawCrawlerDone"}
STAGING_WAIT = {"WaitForDbtStaging", "CheckDbtStaging", "IsDbtStagingDone"}


# ================================================================================================ 1
def test_obs1_stuck_again_is_held_not_stopped_again_not_quarantined_never_resolved_while_stopped(
    deploy: Callable[..., World],
) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("raw")
    glue = world.client("glue")

    # Given a crawler stuck in RUNNING: the sweep stops it, and restarts it once READY
    stuck_crawler(world, name)
    world.sweep()
    assert world.crawler(name)["State"] == "STOPPING"
    set_crawl(name, "CANCELLED")  # Glue finished the stop
    crawls = crawl_count(name)
    world.sweep()
    assert crawl_count(name) == crawls + 1
    assert world.crawler(name)["State"] == "RUNNING"
    # When the restarted crawl hangs too
    set_crawl(name, "RUNNING", running_for_seconds=CRAWLER_STUCK + 60)
    world.sweep()

    # Then it is escalated as stuck again
    incident = world.incident("crawler", name, "STUCK")
    assert incident is not None
    assert (incident.status.value, incident.classification) == ("escalated", "crawler-stuck-again")
    assert world.outcomes(name) == ["act", "act", "escalate"]
    world.faults.sent.clear()

    # When further sweeps come while it still hangs
    for _ in range(4):
        world.sweep()

    # Then it is not stopped again, nobody gets a fresh ACT alert, it is not quarantined, it stays escalated
    assert world.faults.sent["glue.StopCrawler"] == 0
    assert world.faults.sent["glue.StartCrawler"] == 0
    assert world.crawler(name)["State"] == "RUNNING"
    assert world.outcomes(name) == ["act", "act", "escalate"]
    budget = world.budget("crawler", name)
    assert not float(budget.get("quarantined_until", {}).get("N", 0) or 0), budget
    incident = world.incident("crawler", name, "STUCK")
    assert incident is not None
    assert incident.status.value == "escalated"

    # When a person stops the crawl and it is left stopped (READY, last crawl CANCELLED)
    glue.stop_crawler(Name=name)
    set_crawl(name, "CANCELLED")
    for _ in range(2):
        world.sweep()

    # Then the incident is never closed as resolved, and the watchdog did not restart the crawler behind the hold
    assert all(i.status.value != "resolved" for i in world.incidents("crawler", name, "STUCK"))
    assert "resolved" not in world.outcomes(name)
    assert world.faults.sent["glue.StartCrawler"] == 0
    assert world.crawler(name)["LastCrawl"]["Status"] == "CANCELLED"


# ================================================================================================ 2
def test_obs2_run_stuck_on_a_stuck_dbt_query_is_healed_not_force_stopped(deploy: Callable[..., World]) -> None:
    world = deploy()
    release("glue::crawl")  # crawls finish; the pipeline's dbt queries stay where Athena puts them (held)
    arn = pipeline_in(world, STAGING_WAIT, f"obs2-{uuid.uuid4().hex[:8]}")
    athena = world.client("athena")
    [query_id] = athena.list_query_executions(WorkGroup=world.lakehouse.names.pipeline_workgroup)["QueryExecutionIds"]
    # Given the run stuck in its dbt step past its threshold, on a query past the query threshold
    set_query_execution(query_id, state="RUNNING", submitted_seconds_ago=QUERY_STUCK + 60)
    backdate_execution(arn, EXECUTION_STUCK + 60)
    world.pump()

    # When the sweep runs (and again, well inside the heal's grace: the query threshold)
    world.sweep()
    first = world.execution(arn)["status"]
    cancelled = world.query_state(query_id)
    for _ in range(2):
        world.sweep()

    # Then the query was cancelled, and the run was not stopped in that sweep nor in the following ones
    assert cancelled == "CANCELLED"
    assert first == "RUNNING"
    assert world.faults.sent["sfn.StopExecution"] == 0
    assert world.execution(arn)["status"] == "RUNNING"
    stuck = world.incident("execution", arn, "STUCK")
    assert stuck is None or "stop_execution" not in stuck.actions_done


# ================================================================================================ 3
def test_obs3_observe_mode_notifies_a_transiently_failed_run_once_and_its_item_does_not_grow(
    deploy: Callable[..., World],
) -> None:
    world = deploy(WatchdogMode="observe")
    sfn = world.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="lakehouse-mvp-sandbox-flaky",
        definition=json.dumps(
            {
                "StartAt": "Boom",
                "States": {
                    "Boom": {"Type": "Fail", "Error": "Lambda.TooManyRequestsException", "Cause": "Rate exceeded"}
                },
            }
        ),
        roleArn=world.lakehouse.names.role_arn,
    )["stateMachineArn"]
    world.observer.state_machine_arns.append(machine)
    # Given a run that failed transiently, its FAILED event routed in observe mode
    arn = sfn.start_execution(stateMachineArn=machine, name="flaky-1")["executionArn"]
    wait_until(lambda: world.execution(arn)["status"] == "FAILED", what="the run to fail")
    world.pump()
    incident = world.incident("execution", arn, "FAILED")
    assert incident is not None
    assert incident.status.value == "observed"

    # When the sweep runs many times
    sizes = []
    for _ in range(8):
        world.sweep()
        item = world.item("execution", arn, "FAILED")
        assert item is not None
        sizes.append(len(json.dumps(item)))

    # Then one notification was sent, the run was never redriven, and the item did not grow per sweep
    assert world.outcomes(arn) == ["observed"]
    assert world.execution(arn).get("redriveCount", 0) == 0
    assert world.faults.sent["sfn.RedriveExecution"] == 0
    assert max(sizes) == min(sizes), sizes


# ================================================================================================ 4
def test_obs4_an_escalation_whose_publish_failed_is_resent_by_the_next_sweep_exactly_once(
    deploy: Callable[..., World],
) -> None:
    from watchdogs_local import faults

    world = deploy()
    name = world.lakehouse.names.crawler("processed")
    # Given an AccessDenied crawl failure escalated while SNS refuses to publish
    undo = faults.deny("sns", "Publish")
    try:
        deliveries = failed_crawl(world, name, ACCESS_DENIED)
    finally:
        undo()
    assert all(d.error is None for d in deliveries)
    incident = world.incident("crawler", name, "FAILED")
    assert incident is not None
    assert incident.status.value == "escalated"
    assert world.messages(name) == []
    assert len(incident.outbox) == 1

    # When SNS works again and the sweep runs, then runs again, and EventBridge redelivers the same event
    world.sweep()
    world.sweep()
    failed = next(d.event for d in deliveries if d.event["detail"].get("state") == "Failed")
    world.router.route(failed)

    # Then the escalation arrived exactly once by message id
    messages = world.messages(name)
    assert [m["MessageAttributes"]["outcome"]["Value"] for m in messages] == ["escalate"]
    ids = {m["MessageAttributes"]["message_id"]["Value"] for m in messages}
    assert len(ids) == 1
    incident = world.incident("crawler", name, "FAILED")
    assert incident is not None
    assert incident.outbox == []


# ================================================================================================ 5


def test_obs5a_start_crawler_timing_out_after_success_is_recorded_and_not_repeated(
    deploy: Callable[..., World],
) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("curated")
    crawls = crawl_count(name)
    world.faults.arm("glue.StartCrawler", Fault("timeout-after"))
    # Given a transient crawl failure whose restart lands but whose answer times out
    deliveries = failed_crawl(world, name, THROTTLED)
    assert all(d.error is None for d in deliveries), [d.error for d in deliveries]
    crawls += 1  # the failed crawl itself
    world.sweep()
    world.sweep()

    # Then the crawler was restarted, the incident says so, and somebody was told
    assert crawl_count(name) == crawls + 1
    [incident] = world.incidents("crawler", name, "FAILED")
    assert "start_crawler" in incident.actions_done
    assert "act" in world.outcomes(name)
    # And StartCrawler, whose effect had landed, was not sent again
    assert world.faults.sent["glue.StartCrawler"] == 1

    # And when the restarted crawl succeeds, the incident resolves
    set_crawl(name, "SUCCEEDED")
    world.sweep()
    [incident] = world.incidents("crawler", name, "FAILED")
    assert incident.status.value == "resolved"


def test_obs5b_stop_query_timing_out_after_success_stops_the_query_once(deploy: Callable[..., World]) -> None:
    world = deploy()
    query_id = stuck_query(world, world.lakehouse.names.workgroup)
    world.faults.arm("athena.StopQueryExecution", Fault("timeout-after"))

    # When the sweep cancels the stuck query and the answer is lost, then sweeps again
    for _ in range(3):
        world.sweep()

    # Then the query was stopped exactly once, and the incident records the stop and ends resolved
    assert world.query_state(query_id) == "CANCELLED"
    assert world.faults.sent["athena.StopQueryExecution"] == 1
    incidents = world.incidents("query", query_id, "STUCK")
    assert len(incidents) == 1
    assert "stop_query" in incidents[0].actions_done
    assert incidents[0].status.value == "resolved"
    assert world.outcomes(query_id).count("act") == 1


def test_obs5c_claim_write_timing_out_after_landing_loses_nothing(deploy: Callable[..., World]) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("curated")
    world.faults.arm("dynamodb.TransactWriteItems", Fault("timeout-after"))
    # Given a transient crawl failure whose incident claim lands but whose answer times out
    deliveries = failed_crawl(world, name, THROTTLED)
    assert all(d.error is None for d in deliveries), [d.error for d in deliveries]
    assert world.faults.armed["dynamodb.TransactWriteItems"].times == 0  # the fault fired
    crawls = crawl_count(name)
    world.sweep()

    # Then the incident exists and records the restart, which was made once, and somebody was told once
    [incident] = world.incidents("crawler", name, "FAILED")
    assert "start_crawler" in incident.actions_done
    assert world.faults.sent["glue.StartCrawler"] == 1
    assert crawl_count(name) == crawls
    assert world.outcomes(name).count("act") == 1


def test_obs5d_throttled_start_crawler_is_retried_later_not_escalated(deploy: Callable[..., World]) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("curated")
    world.faults.arm("glue.StartCrawler", Fault("throttle", times=10**6))
    # Given a transient crawl failure whose restart is throttled (every attempt, while the event is handled)
    deliveries = failed_crawl(world, name, THROTTLED)
    world.faults.armed.clear()
    assert all(d.error is None for d in deliveries), [d.error for d in deliveries]
    crawls = crawl_count(name)
    assert world.faults.sent["glue.StartCrawler"] == 0
    incident = world.incident("crawler", name, "FAILED")
    assert incident is not None
    assert incident.status.value != "escalated"

    # When the next sweeps run, before and after the retry time the incident remembers
    world.sweep()
    assert world.faults.sent["glue.StartCrawler"] == 0  # not before its time
    [intent] = incident.intents
    assert intent.retry_at
    wait = (datetime.fromisoformat(intent.retry_at.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()
    assert wait <= 120
    time.sleep(max(0.0, wait) + 0.5)
    world.sweep()
    world.sweep()

    # Then the restart was retried and made once, and nothing was escalated
    assert world.faults.sent["glue.StartCrawler"] == 1
    assert crawl_count(name) == crawls + 1
    assert "escalate" not in world.outcomes(name)
    [incident] = world.incidents("crawler", name, "FAILED")
    assert incident.status.value != "escalated"
    assert "start_crawler" in incident.actions_done


# ================================================================================================ 6
def test_obs6a_a_120_kb_crawl_error_is_recorded_capped_and_still_restarted_and_notified(
    deploy: Callable[..., World],
) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("raw")
    error = THROTTLED + " " + "x" * 120_000
    # Given a transient crawl failure with a 120 KB LastCrawl.ErrorMessage
    deliveries = failed_crawl(world, name, error)
    crawls = crawl_count(name)

    # Then the handler did not fail, the incident is recorded and small, the crawler restarted, somebody told
    assert all(d.error is None and d.ok for d in deliveries), [d.error or d.result for d in deliveries]
    item = world.item("crawler", name, "FAILED")
    assert item is not None
    assert len(json.dumps(item)) < 64 * 1024
    assert world.faults.sent["glue.StartCrawler"] == 1
    assert crawls == 2  # the failed crawl, then the restart
    assert world.outcomes(name) == ["act"]


def test_obs6b_an_event_without_id_is_rejected_without_an_error(deploy: Callable[..., World]) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("raw")
    set_crawl(name, "RUNNING")
    world.pump()
    set_crawl(name, "FAILED", error_message=THROTTLED)
    [event] = world.observer.poll()  # the Failed event, not delivered yet
    del event["id"]

    # When it is routed through the deployed rule
    [delivery] = world.router.route(event)

    # Then the function returned a typed rejection (no exception: no Lambda retry, nothing for the DLQ), acted on
    # nothing and recorded nothing
    assert delivery.error is None
    assert delivery.result["outcome"] == "rejected"
    assert world.faults.sent["glue.StartCrawler"] == 0
    assert world.incidents("crawler", name) == []


def test_obs6c_a_run_waiting_on_a_crawler_being_healed_is_not_renotified_every_sweep(
    deploy: Callable[..., World],
) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("raw")
    # Given a run stuck waiting on its raw crawler, both past their thresholds
    arn = pipeline_in(world, RAW_WAIT, f"obs6c-{uuid.uuid4().hex[:8]}")
    set_crawl(name, "RUNNING", running_for_seconds=CRAWLER_STUCK + 60)
    backdate_execution(arn, EXECUTION_STUCK + 60)
    world.pump()

    # When the sweep runs again and again while the crawler is being healed (stopped, still STOPPING)
    for _ in range(6):
        world.sweep()

    # Then the crawler heal began, the run was not stopped, and the run was notified at most once
    assert world.faults.sent["glue.StopCrawler"] == 1
    assert world.execution(arn)["status"] == "RUNNING"
    assert len(world.messages(arn)) <= 1, world.outcomes(arn)


# ================================================================================================ 7
def test_obs7_a_concurrent_duplicate_delivery_is_no_lambda_error(deploy: Callable[..., World]) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("curated")
    set_crawl(name, "RUNNING")
    world.pump()
    set_crawl(name, "FAILED", error_message=THROTTLED)
    [event] = world.observer.poll()
    redelivered: list[Delivery] = []

    def redeliver() -> None:  # EventBridge delivers the same event again while the first is still acting
        redelivered.extend(world.router.route(json.loads(json.dumps(event))))

    world.faults.arm("glue.StartCrawler", Fault("pass", then=redeliver))
    [first] = world.router.route(event)

    # Then the duplicate returned without error as duplicate-in-progress; the first acted exactly once
    assert [d.error for d in redelivered] == [None]
    assert redelivered[0].result["outcome"] == "duplicate-in-progress"
    assert first.error is None
    assert first.result["outcome"] == "handled"
    assert world.faults.sent["glue.StartCrawler"] == 1
    assert world.outcomes(name) == ["act"]


# ================================================================================================ 8
def test_obs8a_in_scope_machine_with_out_of_scope_execution_is_never_redriven(deploy: Callable[..., World]) -> None:
    world = deploy()
    sfn = world.client("stepfunctions")
    definition = json.dumps(
        {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Lambda.TooManyRequestsException"}}}
    )
    role = world.lakehouse.names.role_arn
    other = sfn.create_state_machine(name="otherteam-pipeline", definition=definition, roleArn=role)["stateMachineArn"]
    # Given another team's run that failed transiently (redrivable)
    arn = sfn.start_execution(stateMachineArn=other, name="theirs-1")["executionArn"]
    wait_until(lambda: world.execution(arn)["status"] == "FAILED", what="their run to fail")
    event = execution_event(world.execution(arn))
    # When an event names an in-scope state machine but their execution
    event["detail"]["stateMachineArn"] = world.lakehouse.state_machine_arn
    deliveries = world.router.route(event)
    world.sweep()

    # Then the deployed rule delivered it, nothing crashed, and their execution was not redriven nor recorded
    assert [d.function for d in deliveries] == ["StepFunctionsWatchdogFunction"]
    assert all(d.error is None for d in deliveries)
    assert world.faults.sent["sfn.RedriveExecution"] == 0
    assert world.execution(arn)["status"] == "FAILED"
    assert world.execution(arn).get("redriveCount", 0) == 0
    assert world.incidents("execution", arn) == []


def test_obs8b_a_workgroup_tagged_opt_out_gets_no_stop_query_execution(deploy: Callable[..., World]) -> None:
    world = deploy()
    workgroup = world.lakehouse.names.workgroup
    athena = world.client("athena")
    athena.tag_resource(
        ResourceARN=f"arn:aws:athena:{REGION}:{ACCOUNT}:workgroup/{workgroup}", Tags=[{"Key": OPT_OUT, "Value": "true"}]
    )
    # Given a stuck query in the opted-out workgroup
    query_id = stuck_query(world, workgroup)

    # When the sweep runs
    world.sweep()
    world.sweep()

    # Then the query is left alone: no StopQueryExecution, nothing recorded, nobody told
    assert world.faults.sent["athena.StopQueryExecution"] == 0
    assert world.query_state(query_id) == "RUNNING"
    assert world.incidents("query", query_id) == []
    assert world.messages(query_id) == []


# ================================================================================================ 9
def test_obs9a_the_threshold_tag_floor_holds_in_the_crawler_runbook_as_in_the_sweep(
    deploy: Callable[..., World],
) -> None:
    world = deploy()
    name = world.lakehouse.names.crawler("raw")
    glue = world.client("glue")
    glue.tag_resource(ResourceArn=f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{name}", TagsToAdd={THRESHOLD_TAG: "1"})
    # Given a run stuck waiting on a crawler tagged with a 1 s threshold, running 100 s (under the 300 s floor)
    arn = pipeline_in(world, RAW_WAIT, f"obs9a-{uuid.uuid4().hex[:8]}")
    set_crawl(name, "RUNNING", running_for_seconds=100)
    backdate_execution(arn, EXECUTION_STUCK + 60)
    world.pump()

    # When the sweep runs: the sweep itself does not find the crawler stuck, the run hands it to the crawler runbook
    world.sweep()

    # Then the crawler runbook applies the same floor: the crawler is not stopped
    assert world.faults.sent["glue.StopCrawler"] == 0
    assert world.crawler(name)["State"] == "RUNNING"
    stuck = world.incident("crawler", name, "STUCK")
    assert stuck is None or "stop_crawler" not in stuck.actions_done

    # And a crawler tagged the same way but running past the floor is stopped by the sweep
    other = world.lakehouse.names.crawler("processed")
    glue.tag_resource(ResourceArn=f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{other}", TagsToAdd={THRESHOLD_TAG: "1"})
    stuck_crawler(world, other, seconds=400)
    world.sweep()
    assert world.crawler(other)["State"] == "STOPPING"


def test_obs9b_express_execution_arns_parse(deploy: Callable[..., World]) -> None:
    world = deploy()
    sfn = world.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="lakehouse-mvp-sandbox-express",
        definition=json.dumps(
            {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Lambda.TooManyRequestsException"}}}
        ),
        roleArn=world.lakehouse.names.role_arn,
        type="EXPRESS",
    )["stateMachineArn"]
    express_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:express:lakehouse-mvp-sandbox-express:run-1:{uuid.uuid4()}"
    event = execution_event(
        {
            "executionArn": express_arn,
            "stateMachineArn": machine,
            "name": "run-1",
            "status": "FAILED",
            "startDate": datetime.now(UTC) - timedelta(minutes=5),
            "stopDate": datetime.now(UTC),
        }
    )

    # When its FAILED event is routed through the deployed rule
    deliveries = world.router.route(event)

    # Then the one shared parser maps the express execution to its state machine (observation 9: the copies
    # disagreed), and the edge rejects the event with a typed reason, without error or action: AWS emits no
    # status-change events for express workflows and DescribeExecution does not serve them, so there is nothing
    # the watchdog could read or do for one
    from watchdogs.shared import state_machine_of

    assert state_machine_of(express_arn) == machine
    assert [d.function for d in deliveries] == ["StepFunctionsWatchdogFunction"]
    [delivery] = deliveries
    assert delivery.error is None
    assert delivery.result["outcome"] == "rejected", delivery.result
    assert world.faults.sent["sfn.RedriveExecution"] == 0


@pytest.mark.parametrize("partition", ["aws-cn", "aws-us-gov"])
def test_obs9c_arns_in_another_partition_are_handled(deploy: Callable[..., World], partition: str) -> None:
    world = deploy()
    region = {"aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}[partition]
    machine = f"arn:{partition}:states:{region}:{ACCOUNT}:stateMachine:lakehouse-mvp-sandbox-data-pipeline"
    execution = f"arn:{partition}:states:{region}:{ACCOUNT}:execution:lakehouse-mvp-sandbox-data-pipeline:run-1"
    event = execution_event(
        {
            "executionArn": execution,
            "stateMachineArn": machine,
            "name": "run-1",
            "status": "FAILED",
            "startDate": datetime.now(UTC) - timedelta(minutes=5),
            "stopDate": datetime.now(UTC),
        }
    )
    event["region"] = region

    # When the event reaches the function (the deployed rule, scoped to this partition, does not route it)
    assert world.router.matching_rules(event) == []
    delivery = world.router.invoke(world.function("StepFunctionsWatchdogFunction"), event)

    # Then the ARNs parse: no exception, no action, nothing recorded for a resource outside this deployment
    assert delivery.error is None
    assert delivery.result["outcome"] in {"handled", "rejected"}, delivery.result
    assert all(not r.get("actions") for r in delivery.result.get("results", []))
    assert world.incidents("execution", execution) == []
    assert sum(n for op, n in world.faults.sent.items() if op.startswith("sfn.") and "Redrive" in op) == 0
