"""Fuzzing the edge: mutated events never crash a handler and never lead to an action.

Every handler (Glue, Athena and Step Functions watchdogs, and the sweep's scheduled-event handler) receives
mutated copies of the real samples in ``events/``, generated from one fixed seed: missing fields (``id``,
``detail``, ``source`` ...), wrong types, strings of 100 KB and more, unicode and control characters, another
service's ``source``/``detail-type``, nested garbage, non-objects at the top level (numbers, ``None``, lists),
ARNs of other partitions, accounts and regions, names out of scope, numbers out of range, another handler's
samples, and benign changes that keep an event valid (new id and time, added fields, other states, other
messages, names that exist or not), so a share of them parse and reach real reads.

10,400 events in all (2,600 per handler). Sending all of them through moto takes about 80 s (a valid schedule event
runs a whole sweep), so a seeded half of them (about 5,200, over 1,000 per handler) go through the full handler
(edge parsing, idempotency, engine, remediator reads) against the in-process moto server, and the other half
through the pure edge: the handler's parsing, the findings built from the event and the remediators' scope checks,
without AWS. The moto server holds the watchdogs' tables and a small healthy lakehouse: the sample crawlers READY
after a successful crawl, the in-scope workgroups with one succeeded query, the in-scope pipeline with one run in
progress. Nothing there warrants an action, so the test asserts, through a botocore ``before-call`` hook on the
watchdogs' own session:

* no unhandled exception (every call returns a dict);
* every result is a typed rejection (``outcome: rejected`` with its reason) or a handled outcome;
* no mutating call but the watchdogs' own bookkeeping: writes to the incident and idempotency tables and SNS
  publishes; in particular no StartCrawler, StopCrawler, StopQueryExecution, StopExecution, RedriveExecution, or
  UpdateItem on the pipeline-metadata table;
* a share of the events did reach real reads (GetCrawler, GetQueryExecution, DescribeExecution, the sweep's lists),
  so the run cannot pass by rejecting everything.

The counts per handler are printed (shown even without ``-s``, unless run under xdist) and carried in the
assertion messages.
"""

from __future__ import annotations

import copy
import importlib
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import INCIDENT_TABLE, FakeContext
from tests.support.aws import ACCOUNT, EVENTS, REGION, ApiCalls, load_event

pytestmark = pytest.mark.fuzz

SEED = 20261201
#: events per handler: 4 x 2,600 = 10,400 in all
EVENTS_PER_HANDLER = 2600
#: the seeded share of them that goes through the full handler against moto (the rest: the pure edge)
FULL_HANDLER_SHARE = 0.5

CRAWLERS = ("lakehouse-sandbox-raw-crawler", "lakehouse-sandbox-processed-crawler", "lakehouse-sandbox-curated-crawler")
WORKGROUPS = ("lakehouse-mvp-sandbox-workgroup", "lakehouse-sandbox-workgroup")
MACHINE_NAME = "lakehouse-mvp-sandbox-data-pipeline"
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{MACHINE_NAME}"

#: the calls that change a watched resource: the fuzz must never make one
FORBIDDEN = frozenset(
    {
        "glue.StartCrawler",
        "glue.StopCrawler",
        "athena.StopQueryExecution",
        "stepfunctions.StopExecution",
        "stepfunctions.RedriveExecution",
        "stepfunctions.StartExecution",
    }
)
#: the watchdogs' own bookkeeping: the only writes allowed (so never an UpdateItem on the pipeline-metadata table)
ALLOWED_WRITES = {
    "dynamodb.PutItem": {INCIDENT_TABLE},
    "dynamodb.UpdateItem": {INCIDENT_TABLE},
    "dynamodb.DeleteItem": {INCIDENT_TABLE},
    "dynamodb.TransactWriteItems": {INCIDENT_TABLE},
    "sns.Publish": {None},
}
READ_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query")
#: ``not-stuck``/``step-done``: a timer's input (``events/timer-*.json``) that still parses, for a resource
#: that is not stuck (the fuzz world has none): read, nothing done
HANDLED_OUTCOMES = frozenset({"rejected", "handled", "duplicate-in-progress", "swept", "not-stuck", "step-done"})
RESULT_OUTCOMES = frozenset(
    {
        "out-of-scope",
        "opted-out",
        "ignored",
        "unsupported",
        "resolved",
        "nothing-open",
        "unchanged",
        "busy",
        "lost-race",
        "notify",
        "escalate",
        "wait",
        "observed",
    }
)


# ------------------------------------------------------------------------------------------------ samples
def samples() -> dict[str, list[dict[str, Any]]]:
    """The real samples in events/, by the handler their rule routes them to."""
    by_handler: dict[str, list[dict[str, Any]]] = {"glue": [], "athena": [], "states": [], "sweep": []}
    handler_of = {"glue": "glue", "athena": "athena", "stepfunctions": "states", "sweep": "sweep", "timer": "glue"}
    for path in sorted(EVENTS.glob("*.json")):
        by_handler[handler_of[path.name.split("-", 1)[0]]].append(load_event(path.name))
    return by_handler


# ------------------------------------------------------------------------------------------------ mutations
WEIRD = (
    "\x00",
    "\x07",
    "\x1b[31m",
    "\r\n",
    "\t",
    "\u202e",
    "\u200b",
    "\ufeff",
    "\u00a0",
    "e\u0301",
    "\U0001f525",
    "\ud800",
    "\udfff",
    "\uffff",
    "\\",
    '"',
    "'; DROP TABLE x; --",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "%s%n",
    "\u0000\u0000",
)
ERROR_MESSAGES = (
    "Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)",
    "Internal Service Exception",
    "Access Denied (Service: Amazon S3; Status Code: 403)",
    "Schema mismatch: HIVE_PARTITION_SCHEMA_MISMATCH",
    "No such key",
    "ConcurrentRunsExceededException",
    "Query exhausted resources at this scale factor",
    "Query timeout",
    "Bytes scanned limit was exceeded",
    "",
)


def huge(rng: random.Random) -> str:
    """100,000 to 160,000 characters of one repeated piece."""
    size = 100_000 + rng.randint(0, 60_000)
    piece = rng.choice(["x", "lakehouse-sandbox-", "\U0001f525", "arn:aws:states:", "\x00"])
    return (piece * (size // len(piece) + 1))[:size]


def weird_text(rng: random.Random, base: str = "") -> str:
    pieces = [base] + [rng.choice(WEIRD) for _ in range(rng.randint(1, 4))]
    rng.shuffle(pieces)
    return "".join(pieces)


def junk(rng: random.Random, depth: int = 0) -> Any:
    kinds = [
        lambda: rng.randint(-(2**70), 2**70),
        lambda: rng.choice([0, -1, 1, 2**31, 2**63, -(2**63)]),
        lambda: rng.choice([float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 3.14]),
        lambda: rng.choice([True, False]),
        lambda: None,
        lambda: "",
        lambda: weird_text(rng),
        lambda: huge(rng),
        lambda: str(rng.randint(0, 10**30)),
        lambda: [],
        lambda: {},
    ]
    if depth < 6:
        kinds += [
            lambda: [junk(rng, depth + 1) for _ in range(rng.randint(1, 4))],
            lambda: {weird_text(rng, "k"): junk(rng, depth + 1) for _ in range(rng.randint(1, 4))},
        ]
    return rng.choice(kinds)()


def nested(rng: random.Random, depth: int) -> Any:
    value: Any = junk(rng)
    for _ in range(depth):
        value = {"detail": value} if rng.random() < 0.5 else [value, junk(rng, 5)]
    return value


def string_paths(event: dict[str, Any]) -> list[tuple[Any, Any]]:
    """(container, key) of every string value in the event (top level and detail, one level deeper)."""
    paths: list[tuple[Any, Any]] = []
    for key, value in event.items():
        if isinstance(value, str):
            paths.append((event, key))
    detail = event.get("detail")
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(value, str):
                paths.append((detail, key))
            elif isinstance(value, dict):
                paths += [(value, k) for k, v in value.items() if isinstance(v, str)]
    resources = event.get("resources")
    if isinstance(resources, list):
        paths += [(resources, i) for i, v in enumerate(resources) if isinstance(v, str)]
    return paths


def any_field(rng: random.Random, event: dict[str, Any]) -> tuple[Any, Any]:
    detail = event.get("detail")
    if isinstance(detail, dict) and detail and rng.random() < 0.6:
        return detail, rng.choice(list(detail))
    return event, rng.choice(list(event)) if event else "id"


@dataclass
class Mutator:
    """Seeded mutations of a sample event (each returns the new event, which may not be a dict at all)."""

    rng: random.Random
    known: dict[str, Any]
    applied: Counter[str] = field(default_factory=Counter)

    def mutate(self, event: dict[str, Any]) -> Any:
        event = copy.deepcopy(event)
        rounds = self.rng.choice([1, 1, 1, 2, 2, 3])
        current: Any = event
        for _ in range(rounds):
            if not isinstance(current, dict):
                break
            name, mutation = self.rng.choice(MUTATIONS)
            self.applied[name] += 1
            current = mutation(self, current)
        return current

    # --- structure ----------------------------------------------------------------------------------------
    def drop_top(self, event: dict[str, Any]) -> Any:
        key = self.rng.choice(["id", "id", "detail", "source", "detail-type", "time", "account", "region", "version"])
        event.pop(key, None)
        return event

    def drop_detail(self, event: dict[str, Any]) -> Any:
        detail = event.get("detail")
        if isinstance(detail, dict) and detail:
            detail.pop(self.rng.choice(list(detail)), None)
        return event

    def wrong_type(self, event: dict[str, Any]) -> Any:
        container, key = any_field(self.rng, event)
        container[key] = junk(self.rng)
        return event

    def huge_string(self, event: dict[str, Any]) -> Any:
        paths = string_paths(event)
        if paths:
            container, key = self.rng.choice(paths)
            container[key] = (container[key] if self.rng.random() < 0.5 else "") + huge(self.rng)
        return event

    def unicode(self, event: dict[str, Any]) -> Any:
        paths = string_paths(event)
        if paths:
            container, key = self.rng.choice(paths)
            container[key] = weird_text(self.rng, str(container[key]))
        return event

    def other_source(self, event: dict[str, Any]) -> Any:
        sources = ["aws.glue", "aws.athena", "aws.states", "aws.events", "aws.scheduler", "aws.s3", "custom.x", ""]
        types = [
            "Glue Crawler State Change",
            "Athena Query State Change",
            "Step Functions Execution Status Change",
            "Scheduled Event",
            "Object Created",
            "",
        ]
        if self.rng.random() < 0.6:
            event["source"] = self.rng.choice(sources)
        if self.rng.random() < 0.6:
            event["detail-type"] = self.rng.choice(types)
        return event

    def nested_garbage(self, event: dict[str, Any]) -> Any:
        target = self.rng.choice(["detail", "resources", "extra", "time"])
        event[target] = nested(self.rng, self.rng.randint(1, 30))
        return event

    def not_an_object(self, event: dict[str, Any]) -> Any:
        return self.rng.choice(
            [
                None,
                0,
                -1,
                3.5,
                float("nan"),
                True,
                "",
                json.dumps(event)[:500],
                [],
                [event],
                [None, 1, "x"],
                {},
                nested(self.rng, 10),
            ]
        )

    # --- elsewhere / out of scope ----------------------------------------------------------------------------
    def elsewhere(self, event: dict[str, Any]) -> Any:
        partition, region = self.rng.choice(
            [("aws-cn", "cn-north-1"), ("aws-us-gov", "us-gov-west-1"), ("aws", "eu-west-1"), ("aws-iso-b", "x")]
        )
        account = self.rng.choice([ACCOUNT, "210987654321", "000000000000"])
        text = json.dumps(event).replace("arn:aws:", f"arn:{partition}:").replace(f":{REGION}:", f":{region}:")
        text = text.replace(f":{ACCOUNT}:", f":{account}:")
        moved = json.loads(text)
        if self.rng.random() < 0.5:
            moved["account"] = account
        if self.rng.random() < 0.5:
            moved["region"] = region
        if isinstance(moved.get("detail"), dict) and "accountId" in moved["detail"]:
            moved["detail"]["accountId"] = account
        return moved

    def out_of_scope(self, event: dict[str, Any]) -> Any:
        detail = event.get("detail")
        if not isinstance(detail, dict):
            return event
        other = self.rng.choice(["otherteam-", "lakehouse-prod-", "", "LAKEHOUSE-SANDBOX-"])
        if "crawlerName" in detail:
            detail["crawlerName"] = other + "raw-crawler"
        if "workgroupName" in detail:
            detail["workgroupName"] = self.rng.choice(["primary", "otherteam-analytics", "lakehouse-sandbox-wg"])
        if "executionArn" in detail:
            machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{other}data-pipeline"
            run = f"run-{self.rng.randint(0, 99)}"
            detail["executionArn"] = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{other}data-pipeline:{run}"
            # half the time the event still claims the in-scope machine (a spoof the edge must refuse)
            detail["stateMachineArn"] = MACHINE if self.rng.random() < 0.5 else machine
        return event

    def numbers(self, event: dict[str, Any]) -> Any:
        detail = event.get("detail")
        if not isinstance(detail, dict):
            return event
        keys = [
            k
            for k in (
                "startDate",
                "stopDate",
                "redriveCount",
                "sequenceNumber",
                "tablesCreated",
                "runningTime (sec)",
                "partitionsUpdated",
            )
            if k in detail
        ] or ["sequenceNumber"]
        detail[self.rng.choice(keys)] = self.rng.choice(
            [-1, 2**63, 10**40, -(10**40), 1.5, float("nan"), float("inf"), "12", "-3", "N/A", "1e9", 253402300800000]
        )
        error = detail.get("athenaError")
        if isinstance(error, dict) and self.rng.random() < 0.5:
            error["errorCategory"] = self.rng.choice([0, 4, -1, 2.5, 10**20, "2"])
        return event

    # --- still valid ------------------------------------------------------------------------------------------
    def benign(self, event: dict[str, Any]) -> Any:
        """Changes an event could really carry: it stays valid and reaches the engine and real reads."""
        rng = self.rng
        event["id"] = str(uuid.UUID(int=rng.getrandbits(128)))
        event["time"] = (datetime.now(UTC) - timedelta(seconds=rng.randint(0, 86_400))).strftime("%Y-%m-%dT%H:%M:%SZ")
        event[f"x-{rng.randint(0, 9)}"] = junk(rng, 5)
        detail = event.get("detail")
        if not isinstance(detail, dict):
            return event
        detail["unexpectedField"] = junk(rng, 5)
        if "crawlerName" in detail:
            detail["crawlerName"] = rng.choice([*CRAWLERS, f"lakehouse-sandbox-missing-{rng.randint(0, 999)}"])
            detail["state"] = rng.choice(["Started", "Succeeded", "Failed"])
            detail["errorMessage"] = rng.choice(ERROR_MESSAGES) + (huge(rng) if rng.random() < 0.1 else "")
        if "queryExecutionId" in detail:
            detail["queryExecutionId"] = rng.choice([self.known["query"], str(uuid.UUID(int=rng.getrandbits(128)))])
            detail["workgroupName"] = rng.choice(WORKGROUPS)
            detail["currentState"] = rng.choice(["FAILED", "CANCELLED", "SUCCEEDED", "QUEUED", "RUNNING"])
            detail["sequenceNumber"] = rng.randint(0, 50)
            error = detail.get("athenaError")
            if isinstance(error, dict):
                error["errorMessage"] = rng.choice(ERROR_MESSAGES) + weird_text(rng)
        if "executionArn" in detail:
            name = rng.choice([self.known["run"], f"missing-{rng.randint(0, 999)}"])
            detail["executionArn"] = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{MACHINE_NAME}:{name}"
            detail["stateMachineArn"] = MACHINE
            detail["name"] = name
            detail["status"] = rng.choice(["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "RUNNING", "PENDING_REDRIVE"])
            detail["redriveCount"] = rng.randint(0, 3)
        return event


MUTATIONS = [
    ("drop_top", Mutator.drop_top),
    ("drop_detail", Mutator.drop_detail),
    ("wrong_type", Mutator.wrong_type),
    ("huge_string", Mutator.huge_string),
    ("unicode", Mutator.unicode),
    ("other_source", Mutator.other_source),
    ("nested_garbage", Mutator.nested_garbage),
    ("not_an_object", Mutator.not_an_object),
    ("elsewhere", Mutator.elsewhere),
    ("out_of_scope", Mutator.out_of_scope),
    ("numbers", Mutator.numbers),
    ("benign", Mutator.benign),
    ("benign", Mutator.benign),
    ("benign", Mutator.benign),
]


# ------------------------------------------------------------------------------------------------ the world
def healthy_lakehouse() -> dict[str, Any]:
    """Resources the sample names point at, in states that warrant nothing: crawlers READY after a successful
    crawl, the in-scope workgroups with one succeeded query, the pipeline with one run in progress."""
    from moto.moto_api import state_manager

    from watchdogs_local.moto_ext.athena import set_query_execution
    from watchdogs_local.moto_ext.glue import set_crawl

    glue, athena, sfn = boto3.client("glue"), boto3.client("athena"), boto3.client("stepfunctions")
    for name in CRAWLERS:
        glue.create_crawler(
            Name=name,
            Role=f"arn:aws:iam::{ACCOUNT}:role/crawler",
            DatabaseName="lakehouse",
            Targets={"S3Targets": [{"Path": f"s3://lake/{name}/"}]},
        )
        set_crawl(name, "SUCCEEDED")
    state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 10**9})
    for name in WORKGROUPS:
        athena.create_work_group(Name=name, Configuration={"BytesScannedCutoffPerQuery": 10 * 1024**3})
    query = athena.start_query_execution(QueryString="SELECT 1", WorkGroup=WORKGROUPS[0])["QueryExecutionId"]
    set_query_execution(query, state="SUCCEEDED")
    definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
    sfn.create_state_machine(
        name=MACHINE_NAME, definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/pipeline"
    )
    run = "fuzz-run-in-progress"
    sfn.start_execution(stateMachineArn=MACHINE, name=run)
    return {"query": query, "run": run}


@dataclass
class CallLog:
    """Every AWS call the watchdogs make (botocore ``before-call`` on their session), with the table written."""

    calls: Counter[str] = field(default_factory=Counter)
    writes: list[tuple[str, str | None]] = field(default_factory=list)

    def __call__(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = f"{model.service_model.service_name}.{model.name}"
        self.calls[name] += 1
        if model.name.startswith(READ_PREFIXES):
            return
        # ``params`` is the serialised request: DynamoDB's is a JSON body naming the table(s) written
        body = params.get("body") or b""
        request = json.loads(body) if name.startswith("dynamodb.") and body else {}
        tables = {request.get("TableName")}
        for item in request.get("TransactItems", []):
            tables |= {op.get("TableName") for op in item.values()}
        tables.discard(None)
        self.writes += [(name, table) for table in tables] or [(name, None)]

    def forbidden(self) -> dict[str, int]:
        found = Counter({k: v for k, v in self.calls.items() if k in FORBIDDEN})
        for name, table in self.writes:
            if name not in FORBIDDEN and table not in ALLOWED_WRITES.get(name, set()):
                found[f"{name} on {table}"] += 1
        return dict(found)


# ------------------------------------------------------------------------------------------------ the run
@pytest.fixture
def world(aws: dict[str, Any], api_calls: ApiCalls) -> dict[str, Any]:
    known = healthy_lakehouse()
    log = CallLog()
    api_calls.session.events.register("before-call", log)
    return {"known": known, "log": log}


def invoke(handler: Any, event: Any) -> tuple[str, Any]:
    try:
        result = handler(event, FakeContext())
    except Exception as exc:  # the property under test: nothing escapes
        return "exception", f"{type(exc).__name__}: {str(exc)[:300]}"
    return "result", result


def pure_edge(handler_name: str) -> Any:
    """The handler's edge without AWS: parse (typed rejection or model), findings, the remediators' scope checks."""
    from watchdogs.clients import AwsClients
    from watchdogs.models import events
    from watchdogs.remediators import build_remediators
    from watchdogs.runbooks import crawler, execution, query
    from watchdogs.runtime import Rejection, parse_event
    from watchdogs.settings import load_settings

    model, to_findings = {
        "glue": (events.CrawlerStateChangeEvent, crawler.findings_from_event),
        "athena": (events.QueryStateChangeEvent, query.findings_from_event),
        "states": (events.ExecutionStatusChangeEvent, execution.findings_from_event),
        "sweep": (events.ScheduledEvent, lambda _: []),
    }[handler_name]
    remediators = build_remediators(load_settings(), AwsClients())

    def edge(event: Any, _context: Any) -> dict[str, Any]:
        parsed = parse_event(event, model)
        if isinstance(parsed, Rejection):
            return parsed.as_dict()
        findings = to_findings(parsed)
        scoped = [remediators[f.resource_type].in_scope(f) for f in findings]
        return {"outcome": "handled", "results": [], "findings": len(findings), "in_scope": sum(scoped)}

    return edge


def problems_of(result: Any) -> list[str]:
    """What is wrong with one handler result (empty: a typed rejection or a handled outcome, no action)."""
    if not isinstance(result, dict):
        return [f"not a dict: {type(result).__name__}"]
    outcome = result.get("outcome")
    if outcome not in HANDLED_OUTCOMES:
        return [f"unknown outcome {outcome!r}"]
    if outcome == "rejected" and not (result.get("reason") and result.get("detail")):
        return ["a rejection without its reason"]
    found = []
    pending = list(result.get("results", []))
    pending += [{"outcome": i["outcome"], "actions": i["actions"]} for i in result.get("items", [])]
    while pending:
        item = pending.pop()
        if item["outcome"] not in RESULT_OUTCOMES:
            found.append(f"result outcome {item['outcome']!r}")
        if item.get("actions"):
            found.append(f"actions taken: {item['actions']}")
        pending += item.get("delegated", [])
    return found


@pytest.mark.parametrize("handler_name", ["glue", "athena", "states", "sweep"])
def test_mutated_events_never_crash_and_never_act(
    handler_name: str, world: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    handlers = {
        "full": importlib.import_module(f"watchdogs.handlers.{handler_name}").lambda_handler,
        "edge": pure_edge(handler_name),
    }
    by_handler = samples()
    everything = [e for events in by_handler.values() for e in events]
    rng = random.Random(f"{SEED}-{handler_name}")
    mutator = Mutator(rng, world["known"])
    log: CallLog = world["log"]
    outcomes: Counter[str] = Counter()
    results: Counter[str] = Counter()  # what the engine made of the handled events (full handler)
    failures: list[str] = []
    started = time.monotonic()

    for index in range(EVENTS_PER_HANDLER):
        # mostly this handler's own samples; sometimes another source's (what a wrong rule would route here)
        pool = by_handler[handler_name] if rng.random() < 0.85 else everything
        event = mutator.mutate(rng.choice(pool))
        path = "full" if rng.random() < FULL_HANDLER_SHARE else "edge"
        kind, result = invoke(handlers[path], event)
        outcomes[path] += 1
        if kind == "exception":
            outcomes["exception"] += 1
            failures.append(f"#{index} ({path}) raised {result} on {json.dumps(event, default=str)[:300]}")
            continue
        outcome = str(result.get("outcome")) if isinstance(result, dict) else "not-a-dict"
        outcomes[f"{path}:{outcome}"] += 1
        outcomes[outcome] += 1
        if path == "full" and isinstance(result, dict):
            results.update(
                ["duplicate" if result.get("duplicate") else r["outcome"] for r in result.get("results", [])]
            )
        failures += [f"#{index} ({path}): {p} on {json.dumps(event, default=str)[:300]}" for p in problems_of(result)]

    elapsed = time.monotonic() - started
    reads = {k: v for k, v in log.calls.items() if k.split(".", 1)[1].startswith(READ_PREFIXES)}
    summary = (
        f"fuzz {handler_name}: {EVENTS_PER_HANDLER} events in {elapsed:.1f}s ({outcomes['full']} full handler, "
        f"{outcomes['edge']} pure edge): rejected {outcomes['rejected']}, handled {outcomes['handled']}, "
        f"swept {outcomes['swept']}, exceptions {outcomes['exception']}; by path {dict(sorted(outcomes.items()))}; "
        f"engine results {dict(sorted(results.items()))}; "
        f"AWS reads {sum(reads.values())}, writes {len(log.writes)}, forbidden {log.forbidden()}; "
        f"mutations {dict(sorted(mutator.applied.items()))}"
    )
    with capsys.disabled():
        print(f"\n{summary}")
    assert outcomes["exception"] == 0, f"{summary}\n" + "\n".join(failures[:10])
    assert failures == [], f"{summary}\n" + "\n".join(failures[:10])
    assert log.forbidden() == {}, summary
    # the run is not vacuous: both paths ran; events were rejected, others handled and reaching real reads
    assert min(outcomes["full"], outcomes["edge"]) >= 1000, summary
    assert outcomes["full:rejected"] >= 250, summary
    assert outcomes["full:handled"] + outcomes["full:swept"] >= 250, summary
    expected_read = {
        "glue": "glue.GetCrawler",
        "athena": "athena.GetQueryExecution",
        "states": "stepfunctions.DescribeExecution",
        "sweep": "glue.GetCrawlers",
    }[handler_name]
    assert reads.get(expected_read, 0) >= 50, summary
