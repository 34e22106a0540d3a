"""Random histories of the Step Functions pipeline watchdog (and the heals it delegates) through the real handlers,
against the moto emulator.

The execution twin of ``test_moto_histories.py``: every step goes through the deployed entry points
(``watchdogs.handlers.states.lambda_handler`` with status-change events built from
``events/stepfunctions-execution-*.json``, ``watchdogs.handlers.sweep.lambda_handler`` with
``events/sweep-scheduled.json``), their real boto3 clients, the DynamoDB incident store and SNS, all answered by the
in-process moto server. Pipeline runs are moto executions whose status and newest history page the harness sets
(moto's interpreter stays off: the history says what the current state waits on -- the raw crawler, the run's own
Athena query, Athena work through Lambda, or nothing), in an in-scope, an opted-out (tagged) and an out-of-scope
state machine. The crawler and the queries are moto's, held in their state by moto's state manager.

One rule draws each event from a weighted menu: a run that hangs on a stuck child past its threshold (the sweep may
come at once), a run that ends (succeeded, transient, permission, data quality; its event delivered 0..2 times), the
child letting go, a sweep, time passing, a one-shot fault on the next mutating call of any service (throttle, 5xx,
AccessDenied, connect timeout before it; read timeout or 5xx after it landed, via botocore hooks), an SNS outage,
a mode switch, an acknowledgement; stuck and step timers (a hang's RUNNING event, and its crawler's Started, delivered
or lost, make the stuck timers; a stopped crawler arms a step timer) fired when due or early, once or twice, through
the function each names. Checked from observable effects:

* no mutating call in observe mode, none on a run of an out-of-scope or opted-out state machine;
* a run is never stopped (not even attempted) while the heal of its cause is in grace: within the crawler's
  threshold plus stopping time after the heal began, within the query threshold for Athena work; the heal began
  with the first StopCrawler attempt on its crawler / StopQueryExecution attempt on its query (any query of the
  workgroup for a dbt-through-Lambda run) since the run began waiting, or when the run's incident recorded the heal
  (not an observed one), whichever came first -- with the sweep's own order (causes first);
* the per-resource budget is never exceeded by calls that landed; no incident is resolved unless its resource
  recovered (a run SUCCEEDED); every stored item stays under 64 KB;
* at the end, with SNS back, faults gone and two sweeps: no pending outbox or intents, and every message id ever
  enqueued was received by the SQS subscriber exactly once by id.

Budget: ``PROPERTY_MOTO_EXAMPLES`` histories (default 6 in the gate) of ``PROPERTY_MOTO_STEPS`` (default 12);
``make soak`` runs more (``PROPERTY_RANDOM=1``: fresh histories each run).
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from tests.conftest import INCIDENT_TABLE, TOPIC_ARN, TOPIC_NAME
from tests.property.test_execution_histories import Wait, recorded_heals
from tests.property.test_moto_histories import ShiftedClock, incident_of, shift_time
from tests.support.aws import ACCOUNT, REGION, Subscriber, create_tables_from_template, load_event

if TYPE_CHECKING:
    from tests.conftest import FakeContext
    from watchdogs.incidents import Incident

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("PROPERTY_MOTO_EXAMPLES", "6"))
STEPS = int(os.environ.get("PROPERTY_MOTO_STEPS", "12"))
SM = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine"
MACHINES = {
    "in": "lakehouse-mvp-sandbox-data-pipeline",
    "opted-out": "lakehouse-mvp-sandbox-optional-pipeline",
    "out": "other-team-pipeline",
}
RAW = "lakehouse-sandbox-raw-crawler"
WORKGROUP = "lakehouse-mvp-sandbox-workgroup"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lakehouse-sandbox-pipeline-role"
BUDGET_MAX, WINDOW, HOLD = 2, 3600, 7200
EXECUTION_STUCK, CRAWLER_STUCK, CRAWLER_STOPPING, QUERY_STUCK = 900, 600, 300, 600
GRACE = {"crawler": CRAWLER_STUCK + CRAWLER_STOPPING, "athena-own": QUERY_STUCK, "athena-lambda": QUERY_STUCK}
ITEM_LIMIT = 64_000
STATE_NAMES = {
    "crawler": "GetRawCrawlerState",
    "athena-own": "RunDbtModels",
    "athena-lambda": "RunDbtModels",
    "nothing": "WaitForUpstream",
}
FAULTS = ("throttle", "5xx", "denied", "timeout-before", "timeout-after", "5xx-after")
MUTATING = {
    "stepfunctions": ("StopExecution", "RedriveExecution"),
    "glue": ("StopCrawler", "StartCrawler"),
    "athena": ("StopQueryExecution",),
}
ENDINGS = {
    "transient": ("FAILED", "Glue.ThrottlingException", "Rate exceeded (Service: Glue, Status Code: 400)"),
    "permission": ("FAILED", "States.Permissions", "AccessDeniedException: not authorized"),
    "tests": ("FAILED", "DbtTestsFailed", "3 of 41 tests failed"),
    "timeout": ("TIMED_OUT", "States.Timeout", ""),
}
STATS = {"histories": 0, "steps": 0, "runs": 0, "attempts": 0, "landed": 0, "faults": 0, "messages": 0}
STATS |= {"repeats": 0, "stops": 0, "redrives": 0, "heals": 0, "resolved": 0, "seconds": 0, "timers_fired": 0}
TIMER_GROUP = "watchdogs-timers"
#: what a timer firing may answer (never a rejection: the watchdogs made every schedule this test fires)
TIMER_OUTCOMES = {"stuck", "not-stuck", "resumed", "step-done", "error"}
RULES: Counter[str] = Counter()

ENVIRONMENT = {
    "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
    "SCOPE_STATE_MACHINE_ARN_PREFIXES": f"{SM}:lakehouse-mvp-sandbox-",
    "SCOPE_WORKGROUPS": WORKGROUP,
    "PIPELINE_WORKGROUP": WORKGROUP,
    "METADATA_TABLE": "",
    "EXECUTION_STUCK_SECONDS": str(EXECUTION_STUCK),
    "CRAWLER_STUCK_SECONDS": str(CRAWLER_STUCK),
    "CRAWLER_STOPPING_SECONDS": str(CRAWLER_STOPPING),
    "QUERY_STUCK_SECONDS": str(QUERY_STUCK),
    "BUDGET_MAX_ACTIONS": str(BUDGET_MAX),
    "BUDGET_WINDOW_SECONDS": str(WINDOW),
    "QUARANTINE_SECONDS": str(HOLD),
    "LEASE_SECONDS": "120",
    "WATCHDOG_MODE": "remediate",
    "ALERT_TOPIC_ARN": TOPIC_ARN,
    # stuck and step timers (docs/timers.md): made in this group, fired by the ``fire`` event into the function
    # each names
    "TIMER_SCHEDULE_GROUP": TIMER_GROUP,
    "TIMER_TARGETS": json.dumps(
        {
            kind: f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:watchdogs-{kind}"
            for kind in ("crawler", "query", "execution")
        }
    ),
    "TIMER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/watchdogs-timers",
    "STEP_FOLLOW_UP_SECONDS": "30",
}


# ------------------------------------------------------------------------------------------------ the emulator
def shift_moto_time(monkeypatch: pytest.MonkeyPatch, clock: ShiftedClock) -> None:
    """Beyond what ``shift_time`` moves: the Step Functions and Athena extensions' own clocks."""
    import watchdogs_local.moto_ext.athena as athena_ext
    import watchdogs_local.moto_ext.stepfunctions as sfn_ext

    class Shifted(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return clock.now()

    class ShiftedTime:
        @staticmethod
        def time() -> float:
            return clock.now().timestamp()

    monkeypatch.setattr(sfn_ext, "datetime", Shifted)
    monkeypatch.setattr(athena_ext, "time", ShiftedTime)


def serve_history(monkeypatch: pytest.MonkeyPatch) -> None:
    """Moto answers a run's history with the events the harness set on it (``execution.watchdogs_events``)."""
    from moto.stepfunctions.models import Execution

    original = Execution.get_execution_history

    def history(self: Any, roleArn: str) -> Any:  # noqa: N803 - moto's parameter name
        events = getattr(self, "watchdogs_events", None)
        return list(events) if events is not None else original(self, roleArn)

    monkeypatch.setattr(Execution, "get_execution_history", history)


def execution_model(arn: str) -> Any:
    from moto.stepfunctions.models import stepfunctions_backends

    return stepfunctions_backends[ACCOUNT][REGION].describe_execution(arn)


def task(event_id: int, at: datetime, service: str, api: str, parameters: dict[str, Any]) -> dict[str, Any]:
    details = {"resourceType": service, "resource": api, "region": REGION, "parameters": json.dumps(parameters)}
    return {"id": event_id, "timestamp": at, "type": "TaskScheduled", "taskScheduledEventDetails": details}


def entered(event_id: int, at: datetime, name: str, kind: str = "TaskStateEntered") -> dict[str, Any]:
    return {"id": event_id, "timestamp": at, "type": kind, "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def running_events(kind: str, child: str | None, at: datetime) -> list[dict[str, Any]]:
    """The oldest-first events of a run waiting in its current state."""
    if kind == "crawler":
        return [entered(1, at, "GetRawCrawlerState"), task(2, at, "aws-sdk:glue", "getCrawler", {"Name": child})]
    if kind == "athena-own":
        start = {"WorkGroup": WORKGROUP, "QueryString": "select 1"}
        return [
            task(1, at, "aws-sdk:athena", "startQueryExecution", start),
            entered(2, at, "RunDbtModels"),
            task(3, at, "aws-sdk:athena", "getQueryExecution", {"QueryExecutionId": child}),
        ]
    if kind == "athena-lambda":
        return [entered(1, at, "RunDbtModels"), task(2, at, "lambda", "invoke", {"FunctionName": "dbt-runner"})]
    return [entered(1, at, "WaitForUpstream", "WaitStateEntered")]


def ended_events(status: str, error: str, cause: str, state: str, at: datetime) -> list[dict[str, Any]]:
    key = {"FAILED": "executionFailedEventDetails", "TIMED_OUT": "executionTimedOutEventDetails"}[status]
    kind = {"FAILED": "ExecutionFailed", "TIMED_OUT": "ExecutionTimedOut"}[status]
    return [entered(1, at, state), {"id": 2, "timestamp": at, "type": kind, key: {"error": error, "cause": cause}}]


# ------------------------------------------------------------------------------------------------ observation
@dataclass(frozen=True)
class Attempt:
    operation: str
    resource: str
    at: datetime
    seq: int


@dataclass
class World:
    endpoint: str
    context: FakeContext
    clock: ShiftedClock
    ddb: Any
    sns: Any
    sqs: Any
    sfn: Any
    glue: Any
    athena: Any
    scheduler: Any
    observe: bool = False
    faults: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    landed: list[Attempt] = field(default_factory=list)
    waits: dict[str, Wait] = field(default_factory=dict)
    opted_out: set[str] = field(default_factory=set)
    acks: dict[str, datetime] = field(default_factory=dict)
    log: list[Incident] = field(default_factory=list)
    logged: set[tuple[str, int]] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    subscriber: Subscriber | None = None

    def items(self) -> list[tuple[dict[str, Any], int]]:
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[ACCOUNT][REGION].get_table(INCIDENT_TABLE)
        return [(item.to_json()["Attributes"], item.size()) for item in table.all_items()]

    def record_table(self) -> None:
        from watchdogs.incidents.store import incident_from_item

        for item, size in self.items():
            if size >= ITEM_LIMIT:
                self.violations.append(f"item {item['pk']['S']} {item['sk']['S']} is {size} bytes")
            if "incident_id" not in item:
                continue
            incident = incident_from_item(item)
            if (incident.incident_id, incident.version) in self.logged:
                continue
            self.logged.add((incident.incident_id, incident.version))
            self.log.append(incident)
            if incident.status.value == "resolved" and incident.resource_type.value == "execution":
                status = execution_model(incident.resource_id).status
                if str(getattr(status, "value", status)) != "SUCCEEDED":
                    self.violations.append(f"{incident.resource_id} {incident.condition.value} resolved, run {status}")

    # --- botocore hooks ---------------------------------------------------------------------------------
    def before_mutation(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        body = json.loads(params["body"]) if params.get("body") else {}
        resource = str(body.get("executionArn") or body.get("Name") or body.get("QueryExecutionId") or "")
        attempt = Attempt(model.name, resource, self.clock.now(), len(self.attempts))
        self.attempts.append(attempt)
        self._check(attempt)
        fault = self.faults.pop(0) if self.faults else None
        context["watchdogs_fault"] = fault
        if fault == "timeout-before":
            from botocore.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(endpoint_url=self.endpoint)
        refusal = {
            "throttle": (400, "ThrottlingException"),
            "5xx": (500, "InternalServerException"),
            "denied": (400, "AccessDeniedException"),
        }.get(fault or "")
        if refusal is None:
            return None
        from botocore.awsrequest import AWSResponse

        status, code = refusal
        parsed = {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse(self.endpoint, status, {}, None), parsed

    def after_mutation(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        fault = context.get("watchdogs_fault")
        if fault in {"throttle", "5xx", "denied"} or http_response.status_code >= 300:
            return
        self.landed.append(self.attempts[-1])
        if fault == "timeout-after":
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url=self.endpoint)
        if fault == "5xx-after":
            from botocore.exceptions import ClientError

            error = {"Code": "InternalServerException", "Message": "Internal error"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, model.name)

    def after_write(self, http_response: Any, **_: Any) -> None:
        if http_response.status_code < 300:
            self.record_table()

    def install(self, session: boto3.Session) -> None:
        for service, operations in MUTATING.items():
            for operation in operations:
                session.events.register(f"before-call.{service}.{operation}", self.before_mutation)
                session.events.register(f"after-call.{service}.{operation}", self.after_mutation)
        for operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
            session.events.register(f"after-call.dynamodb.{operation}", self.after_write)

    # --- the guards ---------------------------------------------------------------------------------------
    def _check(self, attempt: Attempt) -> None:
        what = f"{attempt.operation} {attempt.resource}"
        if self.observe:
            self.violations.append(f"{what} in observe mode")
        if attempt.operation in MUTATING["stepfunctions"]:
            machine = attempt.resource.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]
            if not machine.startswith(f"{SM}:lakehouse-mvp-sandbox-") or machine in self.opted_out:
                self.violations.append(f"{what} on an out-of-scope or opted-out state machine")
        if attempt.operation == "StopExecution":
            self._not_in_grace(attempt)

    def _not_in_grace(self, stop: Attempt) -> None:
        wait = self.waits.get(stop.resource)
        if wait is None or wait.kind not in GRACE or wait.child is None:
            return
        if wait.kind == "crawler":
            heals = [a for a in self.attempts if a.operation == "StopCrawler" and a.resource == wait.child]
        elif wait.kind == "athena-own":
            heals = [a for a in self.attempts if a.operation == "StopQueryExecution" and a.resource == wait.child]
        else:
            heals = [a for a in self.attempts if a.operation == "StopQueryExecution"]
        began = [a.at for a in heals if a.at >= wait.since and a.seq < stop.seq]
        began += recorded_heals(self.log, stop.resource, wait, stop.at, WORKGROUP)
        if began and (stop.at - min(began)).total_seconds() < GRACE[wait.kind]:
            self.violations.append(
                f"StopExecution {stop.resource} while the heal of its {wait.kind} cause {wait.child} (began "
                f"{min(began).isoformat()}) was in grace"
            )


_kind = st.sampled_from(["crawler", "athena-own", "athena-lambda", "nothing"])
EVENTS = st.one_of(
    st.tuples(st.just("hang"), _kind, st.sampled_from(["in", "in", "opted-out", "out"]), st.booleans(), st.booleans()),
    st.tuples(st.just("hang"), _kind, st.just("in"), st.booleans(), st.booleans()),
    st.tuples(st.just("fire"), st.booleans(), st.integers(1, 2)),
    st.tuples(st.just("fire"), st.booleans(), st.integers(1, 2)),
    st.tuples(st.just("end"), st.sampled_from(["succeed", "succeed", *ENDINGS]), st.integers(0, 2)),
    st.tuples(st.just("end"), st.sampled_from(["succeed", *ENDINGS]), st.integers(0, 2)),
    st.tuples(st.just("let_go"), st.booleans()),
    st.tuples(st.just("tick"), st.sampled_from([60, 300, 700, 1000, 1800, 4000]), st.booleans()),
    st.tuples(st.just("tick"), st.sampled_from([300, 1000]), st.just(True)),
    st.tuples(st.just("fault"), st.sampled_from(FAULTS)),
    st.tuples(st.just("sns"), st.booleans()),
    st.tuples(st.just("mode")),
    st.tuples(st.just("ack")),
)
WORLD: World | None = None


class MotoExecutionHistories(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        from moto.moto_api import state_manager

        from watchdogs.runtime import reset_runtime

        assert WORLD is not None
        w = self.w = WORLD
        requests.post(f"{w.endpoint}/moto-api/reset", timeout=10)
        for model in ("glue::crawl", "athena::execution"):
            state_manager.set_transition(model_name=model, transition={"progression": "manual", "times": 10**9})
        os.environ["WATCHDOG_MODE"] = "remediate"
        reset_runtime()
        w.observe, w.faults, w.attempts, w.landed, w.violations = False, [], [], [], []
        w.log, w.logged, w.waits, w.acks = [], set(), {}, {}
        create_tables_from_template(w.ddb, {"IncidentTable": INCIDENT_TABLE})
        w.scheduler.create_schedule_group(Name=TIMER_GROUP)
        queue_url = w.sqs.create_queue(QueueName="alert-subscriber")["QueueUrl"]
        attributes = w.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.queue_arn = attributes["QueueArn"]
        w.subscriber = Subscriber(w.sqs, queue_url)
        self.sns_down = False
        self._topic_up()
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        for name in MACHINES.values():
            w.sfn.create_state_machine(name=name, definition=definition, roleArn=ROLE)
        optional = f"{SM}:{MACHINES['opted-out']}"
        w.sfn.tag_resource(resourceArn=optional, tags=[{"key": "watchdogs:opt-out", "value": "true"}])
        w.opted_out = {optional}
        w.glue.create_crawler(
            Name=RAW, Role=ROLE, DatabaseName="lakehouse", Targets={"S3Targets": [{"Path": "s3://lake/raw/"}]}
        )
        w.athena.create_work_group(Name=WORKGROUP, Configuration={})
        STATS["histories"] += 1

    # --------------------------------------------------------------------------------------------- entry points
    def _deliver(self, arn: str, status: str, deliveries: int) -> None:
        from watchdogs.handlers.states import lambda_handler

        sample = {"SUCCEEDED": "succeeded", "FAILED": "failed", "TIMED_OUT": "timed-out", "RUNNING": "succeeded"}[
            status
        ]
        body = load_event(f"stepfunctions-execution-{sample}")
        model = execution_model(arn)
        body["id"], body["resources"] = str(uuid.uuid4()), [arn]
        body["time"] = self.w.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        body["detail"].update(
            executionArn=arn,
            stateMachineArn=arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0],
            name=arn.rsplit(":", 1)[-1],
            redriveCount=getattr(model, "redrive_count", 0),
            status=status,
        )
        if status == "RUNNING":  # a start: no end, its start date is the run's (the stuck timer is due from it)
            start = model.start_date if model.start_date.tzinfo else model.start_date.replace(tzinfo=UTC)
            body["detail"].update(startDate=int(start.timestamp() * 1000), stopDate=None, output=None)
        for _ in range(deliveries):
            result = lambda_handler(json.loads(json.dumps(body)), self.w.context)
            assert result["outcome"] in {"handled", "duplicate-in-progress", "duplicate"}, result

    def _sweep(self) -> None:
        from watchdogs.handlers.sweep import lambda_handler

        body = load_event("sweep-scheduled")
        body["id"] = str(uuid.uuid4())
        body["time"] = self.w.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        result = lambda_handler(body, self.w.context)
        assert result["outcome"] == "swept", result

    def _topic_up(self) -> None:
        w = self.w
        w.sns.create_topic(Name=TOPIC_NAME)
        if not w.sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]:
            w.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=self.queue_arn)

    # --------------------------------------------------------------------------------------------- the history
    @rule(event=EVENTS)
    def next(self, event: tuple[Any, ...]) -> None:
        STATS["steps"] += 1
        RULES[event[0]] += 1
        self._sync_redrives()
        getattr(self, f"_{event[0]}")(*event[1:])

    def _sync_redrives(self) -> None:
        """A redriven run waits afresh (a redriven dbt step submits a new query, which hangs)."""
        for arn, wait in list(self.w.waits.items()):
            model = execution_model(arn)
            count = getattr(model, "redrive_count", 0)
            if count > wait.redrives and str(model.status) == "RUNNING":
                child = self._submit() if wait.kind.startswith("athena") else wait.child
                since = self.w.clock.now()
                model.watchdogs_events = running_events(wait.kind, child, since)
                self.w.waits[arn] = Wait(since, wait.kind, child, count)

    def _submit(self) -> str:
        from watchdogs_local.moto_ext.athena import set_query_execution

        query_id = str(
            self.w.athena.start_query_execution(QueryString="select 1", WorkGroup=WORKGROUP)["QueryExecutionId"]
        )
        set_query_execution(query_id, state="RUNNING")
        return query_id

    def _hang(self, kind: str, machine: str, sweep: bool, started: bool) -> None:
        """A run has waited on a stuck child (or on nothing) past its threshold; the sweep may come at once. Its
        RUNNING event (and its crawler's Started) was delivered (``started``: their stuck timers exist) or lost."""
        from watchdogs_local.moto_ext.athena import set_query_execution
        from watchdogs_local.moto_ext.glue import set_crawl

        STATS["runs"] += 1
        w, running_for = self.w, EXECUTION_STUCK + 100
        arn = w.sfn.start_execution(stateMachineArn=f"{SM}:{MACHINES[machine]}")["executionArn"]
        child: str | None = None
        if kind == "crawler":
            child = RAW
            if current_crawl(RAW) == "READY":
                set_crawl(RAW, "RUNNING", running_for_seconds=CRAWLER_STUCK + 100)
                if started:
                    self._crawl_started(w.clock.now() - timedelta(seconds=CRAWLER_STUCK + 100))
        elif kind.startswith("athena"):
            child = self._submit()
            set_query_execution(child, submitted_seconds_ago=running_for)
        model = execution_model(arn)
        began = w.clock.now() - timedelta(seconds=running_for)
        model.start_date = began.replace(tzinfo=None) if model.start_date.tzinfo is None else began
        model.watchdogs_events = running_events(kind, child, began)
        w.waits[arn] = Wait(began, kind, child)
        if started:
            self._deliver(arn, "RUNNING", 1)
        if sweep:
            self._sweep()

    def _crawl_started(self, at: datetime) -> None:
        from watchdogs.handlers.glue import lambda_handler

        body = load_event("glue-crawler-started")
        body["id"], body["time"] = str(uuid.uuid4()), at.strftime("%Y-%m-%dT%H:%M:%SZ")
        body["detail"]["crawlerName"] = RAW
        assert lambda_handler(body, self.w.context)["outcome"] == "handled"

    def _fire(self, early: bool, copies: int) -> None:
        """EventBridge Scheduler fires the timers that are due (``early``: every one), each delivered ``copies``
        times to the function it names (the resource's own watchdog), then deletes it."""
        from watchdogs.handlers import athena, glue, states
        from watchdogs_local.timers import due_schedules

        handlers = {"crawler": glue.lambda_handler, "query": athena.lambda_handler, "execution": states.lambda_handler}
        w = self.w
        for schedule in due_schedules(w.scheduler, TIMER_GROUP, w.clock.now(), early=early):
            payload = json.loads(schedule["Target"]["Input"])
            for _ in range(copies):
                STATS["timers_fired"] += 1
                result = handlers[payload["resource_type"]](dict(payload), w.context)
                assert result["outcome"] in TIMER_OUTCOMES, result
            w.scheduler.delete_schedule(Name=schedule["Name"], GroupName=TIMER_GROUP)

    def _end(self, ending: str, deliveries: int) -> None:
        """The newest running run ends (to succeed, the newest whose child let go); its status change is delivered
        0..2 times."""
        running = [arn for arn in self.w.waits if str(execution_model(arn).status) == "RUNNING"]
        if not running:
            return
        if ending == "succeed":  # a run whose child let go moves on and succeeds
            running = [arn for arn in running if not self._blocked(self.w.waits[arn])]
            if not running:
                return
        arn = running[-1]
        model, wait = execution_model(arn), self.w.waits[arn]
        if ending == "succeed":
            status, error, cause = "SUCCEEDED", "", ""
        else:
            status, error, cause = ENDINGS[ending]
            state = "RunDbtTests" if ending == "tests" else STATE_NAMES[wait.kind]
            model.watchdogs_events = ended_events(status, error, cause, state, self.w.clock.now())
        model.status, model.stop_date = status, self.w.clock.moto_now()
        model.error, model.cause = error or None, cause or None
        self._deliver(arn, status, deliveries)

    def _blocked(self, wait: Wait) -> bool:
        from watchdogs_local.moto_ext.athena import query_state

        if wait.kind == "crawler":
            return current_crawl(RAW) != "READY"
        if wait.kind.startswith("athena") and wait.child:
            return query_state(wait.child) in {"QUEUED", "RUNNING"}
        return False

    def _let_go(self, crawler: bool) -> None:
        """A hung child finishes after all: the crawl succeeds (a STOPPING one ends CANCELLED), or the newest
        running query succeeds."""
        from watchdogs_local.moto_ext.athena import query_state, set_query_execution
        from watchdogs_local.moto_ext.glue import set_crawl

        if crawler:
            state = current_crawl(RAW)
            if state != "READY":
                set_crawl(RAW, "CANCELLED" if state == "STOPPING" else "SUCCEEDED")
            return
        children = [w.child for w in self.w.waits.values() if w.kind.startswith("athena") and w.child]
        running = [q for q in children if query_state(q) in {"QUEUED", "RUNNING"}]
        if running:
            set_query_execution(running[-1], state="SUCCEEDED")

    def _tick(self, seconds: int, sweep: bool) -> None:
        self.w.clock.advance(seconds)
        if sweep:
            self._sweep()

    def _fault(self, fault: str) -> None:
        STATS["faults"] += 1
        self.w.faults.append(fault)

    def _sns(self, down: bool) -> None:
        if down and not self.sns_down:
            self.w.sns.delete_topic(TopicArn=TOPIC_ARN)
        elif not down and self.sns_down:
            self._topic_up()
        self.sns_down = down

    def _mode(self) -> None:
        from watchdogs.runtime import reset_runtime

        self.w.observe = not self.w.observe
        os.environ["WATCHDOG_MODE"] = "observe" if self.w.observe else "remediate"
        reset_runtime()

    def _ack(self) -> None:
        """``watchdogs-ops ack`` on every escalated resource: ends holds, lifts quarantines."""
        from watchdogs.incidents import IncidentStore

        store = IncidentStore(INCIDENT_TABLE, self.w.ddb, environment="test")
        for incident in store.list_open():
            if incident.status.value == "escalated":
                self.w.acks[incident.resource_id] = self.w.clock.now()
                store.acknowledge(incident.resource_type, incident.resource_id, operator="oncall@example.com")
        self.w.record_table()

    # --------------------------------------------------------------------------------------------- invariants
    @invariant()
    def guards_held(self) -> None:
        assert self.w.violations == [], self.w.violations

    @invariant()
    def budget_is_never_exceeded(self) -> None:
        self._budget_held()

    def teardown(self) -> None:
        if not hasattr(self, "w"):
            return
        w = self.w
        if self.sns_down:
            self._topic_up()
            self.sns_down = False
        w.faults.clear()
        for _ in range(2):
            w.clock.advance(1000)
            self._sweep()
        w.record_table()
        STATS["attempts"] += len(w.attempts)
        STATS["landed"] += len(w.landed)
        for op, key in (("StopExecution", "stops"), ("RedriveExecution", "redrives")):
            STATS[key] += sum(a.operation == op for a in w.landed)
        STATS["heals"] += sum(a.operation in {"StopCrawler", "StopQueryExecution"} for a in w.landed)
        STATS["resolved"] += len({i.incident_id for i in w.log if i.status.value == "resolved"})
        self.guards_held()
        self._budget_held()
        self._delivered_exactly_once()

    def _budget_held(self) -> None:
        for resource in {a.resource for a in self.w.landed}:
            since = self.w.acks.get(resource)
            times = [a.at for a in self.w.landed if a.resource == resource and (since is None or a.at > since)]
            for i, start in enumerate(times):
                within = [t for t in times[i:] if (t - start).total_seconds() < WINDOW]
                assert len(within) <= BUDGET_MAX, f"{len(within)} calls landed on {resource} within {WINDOW} s"

    def _delivered_exactly_once(self) -> None:
        w = self.w
        assert w.subscriber is not None
        w.subscriber.messages()
        STATS["messages"] += len(w.subscriber.seen_ids)
        STATS["repeats"] += w.subscriber.repeats
        incidents = [i for i in (incident_of(item) for item, _ in w.items()) if i is not None]
        pending = {i.incident_id: (len(i.outbox), len(i.intents)) for i in incidents if i.outbox or i.intents}
        assert not pending, f"pending (outbox, intents) after SNS came back and two sweeps: {pending}"
        expected: set[str] = set()
        for incident in incidents:
            ids = {f"{incident.incident_id}:{n}" for n in range(1, incident.seq + 1)}
            got = ids & w.subscriber.seen_ids
            assert len(got) == incident.seq - incident.outbox_dropped, (
                f"{incident.resource_id} {incident.condition.value}: seq {incident.seq}, received {sorted(got)}"
            )
            expected |= got if incident.outbox_dropped else ids
        assert w.subscriber.seen_ids == expected, f"unknown messages: {w.subscriber.seen_ids - expected}"


def current_crawl(name: str) -> str:
    from watchdogs_local.moto_ext.glue import get_crawler_model

    crawls = get_crawler_model(name).crawls
    return crawls[-1].status if crawls and crawls[-1].status in {"RUNNING", "STOPPING"} else "READY"


# ------------------------------------------------------------------------------------------------ the test
@pytest.mark.timeout(300 + EXAMPLES * STEPS * 3)
def test_moto_execution_histories(
    aws: dict[str, Any], lambda_context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moto.moto_api import state_manager

    import tests.support.aws as aws_support
    from watchdogs.clients import AwsClients
    from watchdogs.runtime import reset_runtime

    global WORLD  # noqa: PLW0603 - hypothesis state machines take no fixtures: the world is handed over here
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    clock = ShiftedClock()
    shift_time(monkeypatch, clock)
    shift_moto_time(monkeypatch, clock)
    serve_history(monkeypatch)
    WORLD = World(
        endpoint=aws["endpoint"],
        context=lambda_context,
        clock=clock,
        ddb=boto3.client("dynamodb"),
        sns=boto3.client("sns"),
        sqs=boto3.client("sqs"),
        sfn=boto3.client("stepfunctions"),
        glue=boto3.client("glue"),
        athena=boto3.client("athena"),
        scheduler=boto3.client("scheduler"),
    )
    session = boto3.Session()
    WORLD.install(session)
    original = AwsClients.__init__

    def hooked_init(self: AwsClients, session_arg: Any = None, **overrides: Any) -> None:
        original(self, session_arg or session, **overrides)

    monkeypatch.setattr(AwsClients, "__init__", hooked_init)
    template = aws_support.load_template()
    monkeypatch.setattr(aws_support, "load_template", lambda: template)
    started = time.monotonic()
    try:
        run_state_machine_as_test(
            MotoExecutionHistories,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=os.environ.get("PROPERTY_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        WORLD = None
        for model in ("glue::crawl", "athena::execution"):
            state_manager.unset_transition(model_name=model)
        reset_runtime()
        STATS["seconds"] += round(time.monotonic() - started)
    print(f"\nmoto execution histories: {STATS}\nevents: {dict(RULES)}")


def test_zz_report_moto_execution_history_counts() -> None:
    """Prints the budget this run covered (`pytest -s` shows it)."""
    print(f"\nmoto execution property histories: {STATS}")
    assert STATS["histories"] == 0 or STATS["steps"] > 0
