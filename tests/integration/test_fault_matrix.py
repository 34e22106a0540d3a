"""The fault matrix: proof of "crash-consistent actions" against moto, one cell per (path, AWS call, fault).

For every AWS call of every remediation path (the mutating call, the incident claim, the record of the outcome,
the SNS publish) each fault in :data:`FAULTS` is injected once, into the first matching call, through a botocore
event hook on the runtime's own session (the ``api_calls`` fixture's). Then the world goes on as in production:
an invocation that raised is retried by Lambda with the same event, anything else is picked up by the next
sweep, with the clock moved past the retry back-off and any lease, until the incident settles. Each cell checks:

* the effect happened at most once on the resource (successful mutating calls counted by the hook, the resource
  state read from moto), and exactly once unless the fault was AccessDenied on the mutating call itself;
* the incident records the action exactly once when it happened (``action`` timeline entries, ``actions_done``);
* no intent and no notification is left pending;
* every transition reached the subscriber exactly once by message id (ids ``<incident>:1..seq``, repeats dropped);
* AccessDenied on a mutating call escalates; throttling, 5xx and timeouts end with the action done, not escalated.

The observed outcome of each cell must equal :data:`EXPECTED`; ``docs/faults.md`` is rendered from it and a test
fails when the file differs (regenerate: ``python -m tests.integration.test_fault_matrix``).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from tests.conftest import INCIDENT_TABLE, FakeContext
from tests.support.aws import ACCOUNT, REGION, ApiCalls, Subscriber, load_event
from watchdogs.actions import STOP_ERROR
from watchdogs.incidents import Incident, IncidentStore, now_utc, parse_iso
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "faults.md"

FAULTS = ("throttle", "5xx", "AccessDenied", "timeout before sending", "timeout after success")
MAX_ROUNDS = 6

RAW = "lakehouse-sandbox-raw-crawler"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lakehouse-sandbox-glue-crawler-role"
PIPELINE_WG = "lakehouse-mvp-sandbox-workgroup"
SANDBOX_WG = "lakehouse-sandbox-workgroup"
MACHINE = "lakehouse-mvp-sandbox-data-pipeline"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{MACHINE}"
METADATA_TABLE = "lakehouse-sandbox-pipeline-metadata"
DEFINITION = '{"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}'

#: the mutating call of each action (service as botocore names it, operation)
ACTION_OPS = {
    "start_crawler": "glue.StartCrawler",
    "stop_crawler": "glue.StopCrawler",
    "stop_query": "athena.StopQueryExecution",
    "redrive_execution": "stepfunctions.RedriveExecution",
    "stop_execution": "stepfunctions.StopExecution",
    "reconcile_metadata": "dynamodb.UpdateItem",
}


# ------------------------------------------------------------------------------------------------ the matrix
@dataclass(frozen=True)
class PathSpec:
    key: str
    title: str
    resource_type: ResourceType
    condition: Condition
    actions: tuple[str, ...]  # the actions the path takes, in order


PATHS = {
    p.key: p
    for p in (
        PathSpec(
            "crawler-failed",
            "1. crawler failed transiently -> StartCrawler",
            ResourceType.CRAWLER,
            Condition.FAILED,
            ("start_crawler",),
        ),
        PathSpec(
            "crawler-stuck-stop",
            "2a. stuck crawler -> StopCrawler",
            ResourceType.CRAWLER,
            Condition.STUCK,
            ("stop_crawler",),
        ),
        PathSpec(
            "crawler-stuck-start",
            "2b. stopped crawler READY -> StartCrawler",
            ResourceType.CRAWLER,
            Condition.STUCK,
            ("start_crawler",),
        ),
        PathSpec(
            "query-stuck",
            "3. stuck query -> StopQueryExecution",
            ResourceType.QUERY,
            Condition.STUCK,
            ("stop_query",),
        ),
        PathSpec(
            "run-failed",
            "4a. failed run, transient -> RedriveExecution",
            ResourceType.EXECUTION,
            Condition.FAILED,
            ("redrive_execution",),
        ),
        PathSpec(
            "run-stuck",
            "4b. stuck run, nothing healable -> StopExecution + metadata UpdateItem",
            ResourceType.EXECUTION,
            Condition.STUCK,
            ("stop_execution", "reconcile_metadata"),
        ),
    )
}


@dataclass(frozen=True)
class Target:
    """Which call of a path a fault goes into: the mutating call of ``action`` (``act``), the incident write that
    claims it (``claim``), the write that records its outcome (``record``), or the publish after it (``publish``)."""

    role: str
    action: str
    label: str


def _targets(path: PathSpec) -> list[Target]:
    rows: list[Target] = []
    for action in path.actions:
        op = ACTION_OPS[action]
        label = f"{op} (metadata row)" if action == "reconcile_metadata" else op
        rows.append(Target("act", action, label))
    first = path.actions[0]
    rows += [
        Target("claim", first, "claim: dynamodb.TransactWriteItems"),
        Target("record", first, "record: dynamodb.PutItem"),
        Target("publish", first, "sns.Publish"),
    ]
    return rows


ROWS = [(path, target) for path in PATHS.values() for target in _targets(path)]

# What each cell must end as. ok: retried = the call (or the invocation) failed and a later one made it;
# ok: verified = the call landed but its answer (or the write recording it) was lost: a re-read saw the effect,
#   recorded it, never repeated it;
# ok: recognised = a store write landed but its answer was lost: its write token was found on re-read;
# ok: re-sent = the publish landed but its answer was lost: sent again under the same message id, dropped as repeat;
# ok: flushed later = the publish failed: the outbox kept it and a later flush sent it;
# escalated = AccessDenied on a mutating call: not retried, a human must look.
RETRIED, VERIFIED, RECOGNISED, RESENT, FLUSHED, ESCALATED = (
    "ok: retried",
    "ok: verified",
    "ok: recognised",
    "ok: re-sent",
    "ok: flushed later",
    "escalated",
)


def _expected(target: Target, fault: str) -> str:
    if target.role == "act":
        return {"AccessDenied": ESCALATED, "timeout after success": VERIFIED}.get(fault, RETRIED)
    if target.role == "claim":
        return RECOGNISED if fault == "timeout after success" else RETRIED
    if target.role == "record":  # the calls were made; the intents on the stored claim say so to the next one
        return RECOGNISED if fault == "timeout after success" else VERIFIED
    return RESENT if fault == "timeout after success" else FLUSHED


EXPECTED: dict[tuple[str, str, str], str] = {
    (path.key, target.label, fault): _expected(target, fault) for path, target in ROWS for fault in FAULTS
}
#: cells that reveal a product bug not fixed here: (path, call, fault) -> reason (strict xfail)
KNOWN_BUGS: dict[tuple[str, str, str], str] = {}


def render_doc() -> str:
    lines = [
        "# Fault matrix: crash-consistent actions, proven per call",
        "",
        "`tests/integration/test_fault_matrix.py` runs every remediation path against the moto emulator and injects",
        "one fault into one AWS call of the path (a botocore event hook on the watchdogs' own clients; the fault fires",
        "on the first matching call only). Then the world goes on as in production: an invocation that raised is",
        "retried by Lambda with the same event, anything else is picked up by the next sweep, with the clock moved",
        "past the retry back-off and any lease, until the incident settles. Every cell asserts that the effect",
        "happened at most once on the resource (and exactly once unless the fault was AccessDenied on the mutating",
        "call), that the incident records the action exactly once when it happened, that no intent or notification",
        "is left pending, and that every transition reached the subscriber exactly once by message id.",
        "",
        "Faults: *throttle* (`ThrottlingException` / `Throttling`, HTTP 400), *5xx* (an internal error, HTTP 500, not",
        "applied), *AccessDenied* (`AccessDeniedException`, SNS `AuthorizationError`), *timeout before sending*",
        "(`ConnectTimeoutError`: the request never left), *timeout after success* (the call was applied, then",
        "`ReadTimeoutError`: the answer was lost). Rows: the path and the call; *claim* is the incident write that",
        "records the intent (and spends the budget) before the mutating call, *record* the write of its outcome.",
        "",
        "Cells: **ok: retried** the call (or the invocation) failed and a later one made it; **ok: verified** the",
        "call landed but its answer (or the write recording it) was lost: a re-read saw the effect, recorded it and",
        "never repeated it;",
        "**ok: recognised** a store write landed but its answer was lost: found by its write token on re-read;",
        "**ok: re-sent** the publish landed but its answer was lost: sent again under the same message id and",
        "dropped by the subscriber as a repeat; **ok: flushed later** the publish failed: the outbox kept the",
        "notification and a later flush (the end of the sweep, or the next invocation) sent it; **escalated**",
        "AccessDenied on a mutating call: not retried, a human must look.",
        "",
        "This file is generated from the test's expectations (`python -m tests.integration.test_fault_matrix`);",
        "a test fails when it differs.",
        "",
        "| path | call | " + " | ".join(FAULTS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in FAULTS) + " |",
    ]
    for path, target in ROWS:
        cells = []
        for fault in FAULTS:
            cell = EXPECTED[(path.key, target.label, fault)]
            if (path.key, target.label, fault) in KNOWN_BUGS:
                cell += " (BUG, xfail)"
            cells.append(cell)
        lines.append(f"| {path.title} | {target.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ fault injection
_CODES = {
    "throttle": {
        "dynamodb": "ProvisionedThroughputExceededException",
        "sns": "Throttling",
        "athena": "TooManyRequestsException",
    },
    "5xx": {"dynamodb": "InternalServerError", "sns": "InternalError", "glue": "InternalServiceException"},
    "AccessDenied": {"sns": "AuthorizationError"},
}
_DEFAULT_CODE = {"throttle": "ThrottlingException", "5xx": "InternalFailure", "AccessDenied": "AccessDeniedException"}
_STATUS = {"throttle": 400, "5xx": 500, "AccessDenied": 400}


def fault_error(fault: str, service: str, operation: str) -> Exception:
    url = f"https://{service}.{REGION}.amazonaws.com/"
    if fault == "timeout before sending":
        return ConnectTimeoutError(endpoint_url=url)
    if fault == "timeout after success":
        return ReadTimeoutError(endpoint_url=url)
    code = _CODES.get(fault, {}).get(service, _DEFAULT_CODE[fault])
    status = 403 if code == "AuthorizationError" else _STATUS[fault]
    return ClientError(
        {"Error": {"Code": code, "Message": f"injected {fault}"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        operation,
    )


def _intent_actions(item: dict[str, Any]) -> list[str]:
    return [i.get("M", {}).get("action", {}).get("S", "") for i in item.get("intents", {}).get("L", [])]


@dataclass
class Injector:
    """Hooks the runtime's session: counts mutating calls, fires one fault into the first call ``target`` names."""

    session: boto3.Session
    target: Target
    fault: str
    fired: bool = False
    attempts: Counter[str] = field(default_factory=Counter)  # mutating calls tried, per action
    applied: Counter[str] = field(default_factory=Counter)  # mutating calls AWS applied (2xx), per action

    def __post_init__(self) -> None:
        self.session.events.register("before-parameter-build", self._params)
        self.session.events.register("before-call", self._before)
        self.session.events.register("after-call", self._after)

    @staticmethod
    def _params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fm_params"] = params

    @staticmethod
    def _action_of(op: str, params: dict[str, Any]) -> str | None:
        for action, action_op in ACTION_OPS.items():
            if action_op == op and (action != "reconcile_metadata" or params.get("TableName") == METADATA_TABLE):
                return action
        return None

    def _matches(self, op: str, params: dict[str, Any]) -> bool:
        role, action = self.target.role, self.target.action
        if role == "act":
            return self._action_of(op, params) == action
        if role == "claim":
            items = [params.get("Item", {})] if op == "dynamodb.PutItem" else []
            if op == "dynamodb.TransactWriteItems":
                items = [t["Put"]["Item"] for t in params.get("TransactItems", []) if "Put" in t]
            return params.get("TableName", INCIDENT_TABLE) == INCIDENT_TABLE and any(
                action in _intent_actions(item) for item in items
            )
        if not self.attempts[action]:
            return False
        if role == "record":
            return op == "dynamodb.PutItem" and params.get("TableName") == INCIDENT_TABLE
        return op == "sns.Publish"

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        service, op = model.service_model.service_name, model.name
        key = f"{service}.{op}"
        params = context.get("fm_params") or {}
        action = self._action_of(key, params)
        if action is not None:
            self.attempts[action] += 1
            context["fm_action"] = action
        if self.fired or not self._matches(key, params):
            return
        self.fired = True
        if self.fault == "timeout after success":
            context["fm_lose_answer"] = True
            return
        raise fault_error(self.fault, service, op)

    def _after(self, model: Any, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if getattr(http_response, "status_code", 500) >= 300:
            return
        if context.get("fm_action"):
            self.applied[context["fm_action"]] += 1
        if context.pop("fm_lose_answer", False):
            raise fault_error(self.fault, model.service_model.service_name, model.name)


# ------------------------------------------------------------------------------------------------ the world
@dataclass
class World:
    """The clock the engine and the sweep run on (moved past back-offs and leases) and what happened."""

    offset: timedelta = timedelta()
    invocations: int = 0
    raised: list[str] = field(default_factory=list)
    retry_event: bool = False  # the last event invocation raised: Lambda retries it
    messages: list[dict[str, Any]] = field(default_factory=list)

    def now(self) -> datetime:
        return now_utc() + self.offset


def _engine(world: World) -> Any:
    """A fresh container: new runtime (new actor), on the world's clock, clients hooked by ``api_calls``."""
    from watchdogs.runtime import reset_runtime, runtime

    reset_runtime()
    engine = runtime().engine
    engine.clock = world.now
    return engine


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"), environment="test")


def incident_of(path: PathSpec, resource_id: str) -> Incident | None:
    """The path's incident: active, else the newest closed one."""
    current = store().load(path.resource_type, resource_id).incidents.get(path.condition)
    if current is not None:
        return current
    closed = [i for i in store().history(path.resource_type, resource_id) if i.condition is path.condition]
    return max(closed, key=lambda i: i.detected_at) if closed else None


@dataclass
class Scenario:
    """One path set up in the emulator: how it is triggered, what the world does between invocations, and the
    effect each action must have on the resource."""

    path: PathSpec
    resource_id: str
    trigger: Callable[[World], None]
    effect: dict[str, Callable[[], bool]]
    event: dict[str, Any] | None = None  # the Lambda event, retried as is when the invocation raised
    handler: Callable[[dict[str, Any], Any], Any] | None = None


def invoke_event(scenario: Scenario, world: World) -> None:
    assert scenario.event is not None
    assert scenario.handler is not None
    _engine(world)
    world.invocations += 1
    try:
        scenario.handler(scenario.event, FakeContext())
    except Exception as exc:  # Lambda: the asynchronous invocation failed and will be retried with the same event
        world.raised.append(f"{type(exc).__name__}: {exc}"[:200])
        world.retry_event = True
        return
    world.retry_event = False


def handle_finding(finding: Finding, world: World) -> None:
    """What the sweep does with one finding (its bulkhead included)."""
    engine = _engine(world)
    world.invocations += 1
    try:
        engine.handle(finding)
    except Exception as exc:
        world.raised.append(f"{type(exc).__name__}: {exc}"[:200])
    try:
        engine.flush_pending()
    except Exception as exc:
        world.raised.append(f"{type(exc).__name__}: {exc}"[:200])


def sweep(world: World) -> None:
    from watchdogs.runtime import runtime
    from watchdogs.sweep import Sweep

    engine = _engine(world)
    rt = runtime()
    world.invocations += 1
    Sweep(rt.settings, rt.clients, engine, clock=world.now).run()


def advance_past_waits(world: World, incident: Incident | None) -> None:
    """Move the clock past the retry back-off of pending intents and past a dead invocation's lease."""
    if incident is None:
        return
    moments = [parse_iso(i.retry_at) for i in incident.intents if i.retry_at]
    if incident.lease_until:
        moments.append(parse_iso(incident.lease_until))
    later = [m for m in moments if m > world.now()]
    if later:
        world.offset += max(later) - world.now() + timedelta(seconds=1)


def settled(path: PathSpec, incident: Incident | None) -> bool:
    if incident is None or incident.intents or incident.outbox:
        return False
    if incident.status is IncidentStatus.ESCALATED or not incident.is_active:
        return True
    return all(a in incident.actions_done for a in path.actions)


def drain(world: World, subscriber: Subscriber) -> None:
    world.messages += subscriber.messages()


# ------------------------------------------------------------------------------------------------ the paths
def _crawlers() -> Any:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="glue::crawl", transition={"progression": "manual", "times": 10**9})
    glue = boto3.client("glue")
    glue.create_crawler(
        Name=RAW,
        Role=ROLE,
        DatabaseName="lakehouse_sandbox_lakehouse",
        Targets={"S3Targets": [{"Path": "s3://lakehouse-sandbox-data-lake/raw/"}]},
    )
    return glue


def _crawl_count() -> int:
    from watchdogs_local.moto_ext.glue import get_crawler_model

    return len(get_crawler_model(RAW).crawls)


def _crawler_stuck_finding() -> Finding:
    return Finding(
        resource_type=ResourceType.CRAWLER,
        resource_id=RAW,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=now_utc(),
        scope_key=RAW,
        facts={"running_seconds": 3000},
    )


def setup_crawler_failed(world: World) -> Scenario:
    from watchdogs.handlers.glue import lambda_handler
    from watchdogs_local.moto_ext.glue import set_crawl

    glue = _crawlers()
    body = load_event("glue-crawler-failed-internal-service-exception")
    body["id"] = str(uuid.uuid4())
    body["time"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    body["detail"]["crawlerName"] = RAW
    set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
    crawls = _crawl_count()
    scenario = Scenario(
        PATHS["crawler-failed"],
        RAW,
        trigger=lambda w: invoke_event(scenario, w),
        effect={
            "start_crawler": lambda: (
                glue.get_crawler(Name=RAW)["Crawler"]["State"] == "RUNNING" and _crawl_count() == crawls + 1
            )
        },
        event=body,
        handler=lambda_handler,
    )
    return scenario


def setup_crawler_stuck_stop(world: World) -> Scenario:
    from watchdogs_local.moto_ext.glue import set_crawl

    glue = _crawlers()
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    return Scenario(
        PATHS["crawler-stuck-stop"],
        RAW,
        trigger=lambda w: handle_finding(_crawler_stuck_finding(), w),
        effect={"stop_crawler": lambda: glue.get_crawler(Name=RAW)["Crawler"]["State"] == "STOPPING"},
    )


def setup_crawler_stuck_start(world: World) -> Scenario:
    from watchdogs_local.moto_ext.glue import set_crawl

    glue = _crawlers()
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    handle_finding(_crawler_stuck_finding(), world)  # step 1, no fault yet: StopCrawler
    set_crawl(RAW, "CANCELLED")  # the stop completes: READY
    crawls = _crawl_count()
    return Scenario(
        PATHS["crawler-stuck-start"],
        RAW,
        trigger=lambda w: handle_finding(_crawler_stuck_finding(), w),
        effect={
            "start_crawler": lambda: (
                glue.get_crawler(Name=RAW)["Crawler"]["State"] == "RUNNING" and _crawl_count() == crawls + 1
            )
        },
    )


def setup_query_stuck(world: World) -> Scenario:
    from moto.moto_api import state_manager

    from watchdogs_local.moto_ext.athena import query_state, set_query_execution

    state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 10**9})
    athena = boto3.client("athena")
    for name in (PIPELINE_WG, SANDBOX_WG):
        athena.create_work_group(Name=name, Configuration={"EnforceWorkGroupConfiguration": True})
    query_id = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=PIPELINE_WG)["QueryExecutionId"]
    set_query_execution(query_id, state="RUNNING", submitted_seconds_ago=31 * 60)
    finding = Finding(
        resource_type=ResourceType.QUERY,
        resource_id=query_id,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=now_utc(),
        scope_key=PIPELINE_WG,
        facts={"workgroup": PIPELINE_WG, "state": "RUNNING"},
    )
    return Scenario(
        PATHS["query-stuck"],
        query_id,
        trigger=lambda w: handle_finding(finding, w),
        effect={"stop_query": lambda: query_state(query_id) == "CANCELLED"},
    )


def _execution(name: str) -> tuple[str, Any]:
    """A Step Functions run (moto without its interpreter: the run stays where the test puts it)."""
    from moto.stepfunctions.models import stepfunctions_backends

    from watchdogs_local.moto_ext import stepfunctions as sfn_ext

    sfn_ext.execution_simulation(False)
    sfn = boto3.client("stepfunctions")
    if not sfn.list_state_machines()["stateMachines"]:
        sfn.create_state_machine(name=MACHINE, definition=DEFINITION, roleArn=ROLE)
    arn = sfn.start_execution(stateMachineArn=MACHINE_ARN, name=name)["executionArn"]
    backend = stepfunctions_backends[ACCOUNT][REGION]
    return arn, backend.describe_execution(arn)


def setup_run_failed(world: World) -> Scenario:
    from watchdogs.handlers.states import lambda_handler

    arn, execution = _execution("run-transient")
    execution.status = "FAILED"
    execution.stop_date = datetime.now(UTC)
    execution.error = "Glue.CrawlerRunningException"
    execution.cause = "Crawler with name lakehouse-sandbox-raw-crawler has already started (Service: Glue)"
    event = load_event("stepfunctions-execution-failed")
    event["id"] = str(uuid.uuid4())
    event["resources"] = [arn]
    event["detail"].update(
        {"executionArn": arn, "stateMachineArn": MACHINE_ARN, "name": "run-transient", "redriveCount": 0}
    )
    sfn = boto3.client("stepfunctions")
    scenario = Scenario(
        PATHS["run-failed"],
        arn,
        trigger=lambda w: invoke_event(scenario, w),
        effect={
            "redrive_execution": lambda: (
                sfn.describe_execution(executionArn=arn).get("redriveCount") == 1
                and sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
            )
        },
        event=event,
        handler=lambda_handler,
    )
    return scenario


def setup_run_stuck(world: World) -> Scenario:
    from watchdogs_local.lakehouse import create_metadata_table

    arn, execution = _execution("run-stuck")
    execution.start_date = datetime.now(UTC) - timedelta(hours=3)
    ddb = boto3.client("dynamodb")
    create_metadata_table(ddb, METADATA_TABLE)
    key = {"pipeline_name": {"S": "lakehouse-mvp"}, "execution_date": {"S": "2024-01-01T00:00:00Z"}}
    ddb.put_item(TableName=METADATA_TABLE, Item={**key, "status": {"S": "RUNNING"}, "execution_arn": {"S": arn}})
    finding = Finding(
        resource_type=ResourceType.EXECUTION,
        resource_id=arn,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=now_utc(),
        scope_key=MACHINE_ARN,
        facts={"status": "RUNNING", "state_machine_arn": MACHINE_ARN, "running_seconds": 10800},
    )
    sfn = boto3.client("stepfunctions")

    def stopped() -> bool:
        described = sfn.describe_execution(executionArn=arn)
        return described["status"] == "ABORTED" and described.get("error") == STOP_ERROR

    def reconciled() -> bool:
        row = ddb.get_item(TableName=METADATA_TABLE, Key=key)["Item"]
        return row["status"]["S"] == "ABORTED" and row.get("reconciled_by", {}).get("S") == "lakehouse-watchdogs"

    return Scenario(
        PATHS["run-stuck"],
        arn,
        trigger=lambda w: handle_finding(finding, w),
        effect={"stop_execution": stopped, "reconcile_metadata": reconciled},
    )


SETUPS: dict[str, Callable[[World], Scenario]] = {
    "crawler-failed": setup_crawler_failed,
    "crawler-stuck-stop": setup_crawler_stuck_stop,
    "crawler-stuck-start": setup_crawler_stuck_start,
    "query-stuck": setup_query_stuck,
    "run-failed": setup_run_failed,
    "run-stuck": setup_run_stuck,
}


@pytest.fixture
def emulator(aws: dict[str, Any]) -> Iterator[None]:
    from moto.moto_api import state_manager

    from watchdogs_local.moto_ext import stepfunctions as sfn_ext

    previous = sfn_ext.execution_simulation(False)
    yield
    for model in ("glue::crawl", "athena::execution"):
        state_manager.unset_transition(model)
    sfn_ext.execution_simulation(previous)


# ------------------------------------------------------------------------------------------------ one cell
@dataclass
class Observed:
    label: str
    problems: list[str]
    detail: dict[str, Any]


def run_cell(path_key: str, target: Target, fault: str, api_calls: ApiCalls, subscriber: Subscriber) -> Observed:
    world = World()
    scenario = SETUPS[path_key](world)
    path = scenario.path
    drain(world, subscriber)
    repeats_before = subscriber.repeats
    injector = Injector(api_calls.session, target, fault)
    invocations_before = world.invocations

    scenario.trigger(world)
    drain(world, subscriber)
    incident = incident_of(path, scenario.resource_id)
    for _ in range(MAX_ROUNDS):
        if settled(path, incident):
            break
        advance_past_waits(world, incident)
        if scenario.event is not None and world.retry_event:
            invoke_event(scenario, world)  # Lambda's retry of the failed invocation
        else:
            sweep(world)
        drain(world, subscriber)
        incident = incident_of(path, scenario.resource_id)

    problems: list[str] = []
    if not injector.fired:
        problems.append("the fault never fired: the call was not made")
    if incident is None:
        return Observed("lost: no incident", [*problems, "no incident recorded"], {})
    denied_action = target.action if target.role == "act" and fault == "AccessDenied" else None
    for action in path.actions:
        done_entries = [
            e for e in incident.timeline if e.kind == "action" and e.step == action and e.outcome != "failed"
        ]
        applied = injector.applied[action]
        if denied_action is not None and path.actions.index(action) >= path.actions.index(denied_action):
            if applied:
                problems.append(f"{action}: applied {applied}x after AccessDenied")
            if action in incident.actions_done or done_entries:
                problems.append(f"{action}: recorded as done though refused")
            continue
        if applied != 1:
            problems.append(f"{action}: applied {applied}x on the resource (want exactly 1)")
        if not scenario.effect[action]():
            problems.append(f"{action}: its effect is not visible on the resource")
        if action not in incident.actions_done:
            problems.append(f"{action}: not in actions_done (unrecorded)")
        if len(done_entries) != 1:
            problems.append(f"{action}: {len(done_entries)} action entries on the timeline (want 1)")
    if incident.intents:
        problems.append(f"intents left pending: {[i.action for i in incident.intents]}")
    if incident.outbox or incident.outbox_dropped:
        problems.append(f"notifications left pending: {len(incident.outbox)} (dropped {incident.outbox_dropped})")
    ours = [m for m in world.messages if m["Body"].get("incident_id") == incident.incident_id]
    ids = [m["Body"]["message_id"] for m in ours]
    want = [f"{incident.incident_id}:{k}" for k in range(1, incident.seq + 1)]
    if sorted(ids) != sorted(want):
        problems.append(f"messages received {ids} != transitions {want}")
    events = [m["Body"]["event"] for m in ours]
    escalated = incident.status is IncidentStatus.ESCALATED
    if denied_action is not None and not escalated:
        problems.append(f"AccessDenied on {denied_action} did not escalate (status {incident.status.value})")
    if denied_action is None and escalated:
        problems.append(f"escalated after a {fault} on {target.label}: {incident.summary[:200]}")
    if not settled(path, incident):
        problems.append(f"not settled after {MAX_ROUNDS} follow-ups (status {incident.status.value})")

    verified = any(e.kind == "action" and e.outcome == "verified" for e in incident.timeline)
    repeats = subscriber.repeats - repeats_before
    if escalated:
        label = ESCALATED
    elif verified:
        label = VERIFIED
    elif target.role == "publish" and repeats:
        label = RESENT
    elif target.role == "publish":  # the publish failed and the notification still arrived: the outbox kept it
        label = FLUSHED
    elif target.role in {"claim", "record"} and world.invocations - invocations_before == 1:
        label = RECOGNISED
    elif world.invocations - invocations_before > 1 or injector.attempts[target.action] > 1:
        label = RETRIED
    else:
        label = "ok"
    detail = {
        "status": incident.status.value,
        "events": events,
        "invocations": world.invocations - invocations_before,
        "raised": world.raised,
        "attempts": dict(injector.attempts),
        "applied": dict(injector.applied),
        "repeats": repeats,
        "timeline": [(e.kind, e.step, e.outcome) for e in incident.timeline],
    }
    return Observed(label, problems, detail)


CELLS = [
    pytest.param(
        path.key,
        target,
        fault,
        id=f"{path.key}|{target.label}|{fault}",
        marks=[pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[(path.key, target.label, fault)])]
        if (path.key, target.label, fault) in KNOWN_BUGS
        else [],
    )
    for path, target in ROWS
    for fault in FAULTS
]


@pytest.mark.parametrize(("path_key", "target", "fault"), CELLS)
def test_fault_cell(
    emulator: None, api_calls: ApiCalls, subscriber: Subscriber, path_key: str, target: Target, fault: str
) -> None:
    observed = run_cell(path_key, target, fault, api_calls, subscriber)
    expected = EXPECTED[(path_key, target.label, fault)]
    assert observed.problems == [], f"{observed.problems}\n{observed.detail}"
    assert observed.label == expected, f"observed {observed.label}, expected {expected}\n{observed.detail}"


def test_docs_faults_md_is_the_matrix_the_tests_assert() -> None:
    assert DOC.read_text() == render_doc(), "docs/faults.md is stale: python -m tests.integration.test_fault_matrix"


if __name__ == "__main__":
    DOC.write_text(render_doc())
    print(f"wrote {DOC.relative_to(ROOT)}")
