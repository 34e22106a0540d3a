"""The sweep's discovery against in-memory fakes of Glue, Athena, Step Functions and the incident store (no
network): what it finds, what it reads (and does not), how it pages, and that one failing call does not stop it."""

# ruff: noqa: N803 - the fakes take boto3's own keyword arguments (MaxResults, NextToken, ...)
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from watchdogs.engine import HandleResult
from watchdogs.incidents import Incident, iso
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.settings import Settings, load_settings
from watchdogs.sweep import Sweep

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
SM_PREFIX = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:lakehouse-mvp-sandbox-"
PIPELINE = f"{SM_PREFIX}data-pipeline"
OTHER_SM = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:otherteam-pipeline"
WG = "lakehouse-sandbox-workgroup"
WG2 = "lakehouse-mvp-sandbox-workgroup"
TAG = "watchdogs:stuck-after-seconds"


def settings(**env: str) -> Settings:
    return load_settings(
        {
            "ENVIRONMENT": "test",
            "WATCHDOG_MODE": "remediate",
            "INCIDENT_TABLE": "incidents",
            "ALERT_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
            "ACCOUNT_ID": ACCOUNT,
            "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
            "SCOPE_STATE_MACHINE_ARN_PREFIXES": SM_PREFIX,
            "SCOPE_WORKGROUPS": f"{WG},{WG2}",
            **env,
        }
    )


def denied(operation: str, code: str = "AccessDeniedException") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": f"{operation} refused"}}, operation)


def ago(**delta: float) -> datetime:
    return NOW - timedelta(**delta)


# ------------------------------------------------------------------------------------------------ fakes
@dataclass
class Calls:
    counter: Counter[str] = field(default_factory=Counter)
    fail: dict[tuple[str, str], ClientError] = field(default_factory=dict)  # (operation, resource) -> error

    def record(self, operation: str, resource: str = "") -> None:
        self.counter[operation] += 1
        error = self.fail.get((operation, resource)) or self.fail.get((operation, "*"))
        if error is not None:
            raise error


class FakeGlue:
    def __init__(self, calls: Calls, crawlers: list[dict[str, Any]], tags: dict[str, dict[str, str]]) -> None:
        self.calls, self.crawlers, self.tags = calls, crawlers, tags

    def get_crawlers(self, MaxResults: int, NextToken: str | None = None) -> dict[str, Any]:
        self.calls.record("glue.GetCrawlers")
        start = int(NextToken or 0)
        page = self.crawlers[start : start + MaxResults]
        more = start + MaxResults < len(self.crawlers)
        return {"Crawlers": page, **({"NextToken": str(start + MaxResults)} if more else {})}

    def get_tags(self, ResourceArn: str) -> dict[str, Any]:
        name = ResourceArn.rsplit("/", 1)[1]
        self.calls.record("glue.GetTags", name)
        return {"Tags": self.tags.get(name, {})}


class FakeAthena:
    """Newest first, 50 ids a page, as Athena answers."""

    def __init__(self, calls: Calls, queries: dict[str, list[dict[str, Any]]]) -> None:
        self.calls = calls
        self.queries = {
            wg: sorted(qs, key=lambda q: q["Status"]["SubmissionDateTime"], reverse=True) for wg, qs in queries.items()
        }
        self.by_id = {q["QueryExecutionId"]: q for qs in queries.values() for q in qs}

    def list_query_executions(self, WorkGroup: str, MaxResults: int, NextToken: str | None = None) -> dict[str, Any]:
        self.calls.record("athena.ListQueryExecutions", WorkGroup)
        start = int(NextToken or 0)
        ids = [q["QueryExecutionId"] for q in self.queries.get(WorkGroup, [])]
        more = start + MaxResults < len(ids)
        return {
            "QueryExecutionIds": ids[start : start + MaxResults],
            **({"NextToken": str(start + MaxResults)} if more else {}),
        }

    def batch_get_query_execution(self, QueryExecutionIds: list[str]) -> dict[str, Any]:
        assert 1 <= len(QueryExecutionIds) <= 50
        self.calls.record("athena.BatchGetQueryExecution")
        return {"QueryExecutions": [self.by_id[i] for i in QueryExecutionIds], "UnprocessedQueryExecutionIds": []}


class FakeSfn:
    def __init__(
        self, calls: Calls, executions: dict[str, list[dict[str, Any]]], tags: dict[str, dict[str, str]]
    ) -> None:
        self.calls, self.tags = calls, tags
        self.executions = {sm: sorted(es, key=lambda e: e["startDate"], reverse=True) for sm, es in executions.items()}

    def list_state_machines(self, maxResults: int, nextToken: str | None = None) -> dict[str, Any]:
        self.calls.record("stepfunctions.ListStateMachines")
        return {"stateMachines": [{"stateMachineArn": arn} for arn in self.executions]}

    def list_executions(
        self, stateMachineArn: str, maxResults: int, statusFilter: str | None = None, nextToken: str | None = None
    ) -> dict[str, Any]:
        self.calls.record("stepfunctions.ListExecutions", stateMachineArn)
        items = [e for e in self.executions[stateMachineArn] if statusFilter in (None, e["status"])]
        start = int(nextToken or 0)
        more = start + maxResults < len(items)
        return {
            "executions": items[start : start + maxResults],
            **({"nextToken": str(start + maxResults)} if more else {}),
        }

    def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:
        self.calls.record("stepfunctions.ListTagsForResource", resourceArn)
        return {"tags": [{"key": k, "value": v} for k, v in self.tags.get(resourceArn, {}).items()]}


class FakeClients:
    def __init__(self, glue: FakeGlue, athena: FakeAthena, sfn: FakeSfn) -> None:
        self.glue, self.athena, self.sfn = glue, athena, sfn


class FakeStore:
    def __init__(self, calls: Calls, open_incidents: list[Incident], history: list[Incident]) -> None:
        self.calls, self.open_incidents, self._history = calls, open_incidents, history

    def list_open(self, limit: int = 100) -> list[Incident]:
        self.calls.record("dynamodb.ListOpen")
        return self.open_incidents[:limit]

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]:
        self.calls.record("dynamodb.History", resource_id)
        return [i for i in self._history if i.resource_type is resource_type and i.resource_id == resource_id]


class RecordingEngine:
    def __init__(self, fail_on: str = "") -> None:
        self.findings: list[Finding] = []
        self.fail_on = fail_on

    def handle(self, finding: Finding) -> HandleResult:
        self.findings.append(finding)
        if finding.resource_id == self.fail_on:
            raise RuntimeError("remediation blew up")
        return HandleResult(outcome="act", resource=finding.resource_key, condition=finding.condition.value)


def crawler(
    name: str, state: str = "READY", status: str | None = "SUCCEEDED", started: datetime | None = None
) -> dict[str, Any]:
    last = {"Status": status, "StartTime": started or ago(hours=5)} if status else {}
    return {"Name": name, "State": state, "CrawlElapsedTime": 0, "LastCrawl": last}


def query(qid: str, state: str, submitted: datetime, wg: str = WG) -> dict[str, Any]:
    return {"QueryExecutionId": qid, "WorkGroup": wg, "Status": {"State": state, "SubmissionDateTime": submitted}}


def execution(name: str, status: str, started: datetime, sm: str = PIPELINE, **extra: Any) -> dict[str, Any]:
    arn = sm.replace(":stateMachine:", ":execution:") + f":{name}"
    return {"executionArn": arn, "name": name, "status": status, "startDate": started, **extra}


@dataclass
class World:
    crawlers: list[dict[str, Any]] = field(default_factory=list)
    crawler_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    queries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    executions: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    machine_tags: dict[str, dict[str, str]] = field(default_factory=dict)
    open_incidents: list[Incident] = field(default_factory=list)
    history: list[Incident] = field(default_factory=list)
    calls: Calls = field(default_factory=Calls)

    def sweep(self, engine: RecordingEngine | None = None, **env: str) -> tuple[Sweep, RecordingEngine]:
        clients = FakeClients(
            FakeGlue(self.calls, self.crawlers, self.crawler_tags),
            FakeAthena(self.calls, self.queries),
            FakeSfn(self.calls, self.executions, self.machine_tags),
        )
        engine = engine or RecordingEngine()
        store: Any = FakeStore(self.calls, self.open_incidents, self.history)
        return Sweep(settings(**env), clients, engine, store=store, clock=lambda: NOW), engine  # type: ignore[arg-type]


def found(engine: RecordingEngine) -> set[tuple[str, str]]:
    return {(f.resource_id.rsplit(":", 1)[-1], f.condition.value) for f in engine.findings}


def open_incident(
    resource_type: ResourceType, resource_id: str, condition: Condition, detected: datetime, **fields: Any
) -> Incident:
    return Incident(
        incident_id=f"inc-{resource_id[-12:]}-{condition.value}",
        resource_type=resource_type,
        resource_id=resource_id,
        condition=condition,
        status=fields.pop("status", IncidentStatus.REMEDIATING),
        detected_at=iso(detected),
        updated_at=iso(detected),
        **fields,
    )


# ------------------------------------------------------------------------------------------------ crawlers
def test_crawlers_stuck_past_threshold_and_tags_read_only_for_candidates() -> None:
    # Given crawlers: long-running (default 2700 s), one with a longer tag threshold, one just started, one
    # stopping past both limits (2700 + 900 s) and one not yet, one in another team's prefix, and idle ones
    world = World(
        crawlers=[
            crawler("lakehouse-sandbox-raw-crawler", "RUNNING", "SUCCEEDED", ago(seconds=3000)),
            crawler("lakehouse-sandbox-processed-crawler", "RUNNING", "SUCCEEDED", ago(seconds=3000)),
            crawler("lakehouse-sandbox-curated-crawler", "RUNNING", "SUCCEEDED", ago(seconds=60)),
            crawler("lakehouse-sandbox-stopping-crawler", "STOPPING", "SUCCEEDED", ago(seconds=3700)),
            crawler("lakehouse-sandbox-stopped-crawler", "STOPPING", "SUCCEEDED", ago(seconds=3000)),
            crawler("otherteam-raw-crawler", "RUNNING", "SUCCEEDED", ago(hours=9)),
            *[crawler(f"lakehouse-sandbox-idle-{i}") for i in range(5)],
        ],
        crawler_tags={"lakehouse-sandbox-processed-crawler": {TAG: "7200"}},
    )
    sweep, engine = world.sweep()
    # When the sweep runs
    report = sweep.run()
    # Then the stuck running and the stuck stopping crawler are found; the tag raised the other's threshold
    assert found(engine) == {
        ("lakehouse-sandbox-raw-crawler", "STUCK"),
        ("lakehouse-sandbox-stopping-crawler", "STUCK"),
    }
    raw = next(f for f in engine.findings if f.resource_id == "lakehouse-sandbox-raw-crawler")
    assert raw.source == "sweep"
    assert raw.scope_key == "lakehouse-sandbox-raw-crawler"
    assert raw.facts["threshold_seconds"] == 2700
    # And tags were read only for the two running past the floor (not the new one, idle ones or other teams)
    assert world.calls.counter["glue.GetTags"] == 2
    assert world.calls.counter["glue.GetCrawlers"] == 1
    assert report.checked["crawlers"] == 10


def test_crawler_tag_can_lower_the_threshold_down_to_the_floor() -> None:
    # Given a crawler running 10 minutes, tagged to be stuck after 5 minutes
    world = World(
        crawlers=[crawler("lakehouse-sandbox-raw-crawler", "RUNNING", "SUCCEEDED", ago(seconds=600))],
        crawler_tags={"lakehouse-sandbox-raw-crawler": {TAG: "300"}},
    )
    sweep, engine = world.sweep()
    # When / Then it is stuck by its tag
    sweep.run()
    assert found(engine) == {("lakehouse-sandbox-raw-crawler", "STUCK")}
    assert engine.findings[0].facts["threshold_source"] == "tag"


def test_crawlers_are_paged() -> None:
    world = World(crawlers=[crawler(f"lakehouse-sandbox-c{i:04}") for i in range(2500)])
    sweep, _ = world.sweep()
    report = sweep.run()
    assert world.calls.counter["glue.GetCrawlers"] == 3
    assert report.checked["crawlers"] == 2500


def test_failed_last_crawl_without_incident_is_a_lost_failure() -> None:
    # Given failed last crawls: one recent and unknown, one recent with a FAILED incident in history, one old
    world = World(
        crawlers=[
            crawler("lakehouse-sandbox-raw-crawler", "READY", "FAILED", ago(minutes=20)),
            crawler("lakehouse-sandbox-processed-crawler", "READY", "FAILED", ago(minutes=20)),
            crawler("lakehouse-sandbox-curated-crawler", "READY", "FAILED", ago(hours=5)),
        ],
        history=[
            open_incident(
                ResourceType.CRAWLER,
                "lakehouse-sandbox-processed-crawler",
                Condition.FAILED,
                ago(minutes=18),
                status=IncidentStatus.RESOLVED,
            )
        ],
    )
    world.crawlers[0]["LastCrawl"]["ErrorMessage"] = "Access Denied (Service: Amazon S3; Status Code: 403)"
    sweep, engine = world.sweep()
    # When the sweep runs
    report = sweep.run()
    # Then only the unknown recent failure is fed to the remediation, with the crawl's error
    assert found(engine) == {("lakehouse-sandbox-raw-crawler", "FAILED")}
    assert engine.findings[0].facts["error_message"].startswith("Access Denied")
    assert report.found == {"lost-failure": 1}
    # And the incident history was read only for the two failures inside the window
    assert world.calls.counter["dynamodb.History"] == 2


# ------------------------------------------------------------------------------------------------ queries
def test_queries_stuck_past_their_workgroup_threshold() -> None:
    # Given queries in two workgroups; the second workgroup has a 10-minute threshold
    world = World(
        queries={
            WG: [
                query("q-stuck", "RUNNING", ago(seconds=1600)),
                query("q-queued", "QUEUED", ago(seconds=1700)),
                query("q-young", "RUNNING", ago(seconds=100)),
                query("q-done", "SUCCEEDED", ago(seconds=4000)),
            ],
            WG2: [query("q-wg2", "RUNNING", ago(seconds=700), WG2)],
        }
    )
    sweep, engine = world.sweep(WORKGROUP_QUERY_STUCK_SECONDS=f'{{"{WG2}": 600}}')
    # When / Then stuck ones are found in each workgroup, with the workgroup as scope key
    sweep.run()
    assert found(engine) == {("q-stuck", "STUCK"), ("q-queued", "STUCK"), ("q-wg2", "STUCK")}
    assert {f.scope_key for f in engine.findings} == {WG, WG2}


def test_query_paging_stops_at_the_first_batch_older_than_the_window() -> None:
    # Given 120 queries in the 2-hour window and 500 older ones (newest first, 50 a page)
    recent = [query(f"r{i:04}", "SUCCEEDED", ago(seconds=60 + i)) for i in range(120)]
    old = [query(f"o{i:04}", "SUCCEEDED", ago(hours=3, seconds=i)) for i in range(500)]
    world = World(queries={WG: recent + old})
    sweep, _ = world.sweep(SCOPE_WORKGROUPS=WG)
    # When the sweep runs
    report = sweep.run()
    # Then it reads pages 1-3 (3rd mixes recent and old) and page 4 (all old), then stops: 4 + 4 calls, not 13 + 13
    assert world.calls.counter["athena.ListQueryExecutions"] == 4
    assert world.calls.counter["athena.BatchGetQueryExecution"] == 4
    assert report.checked["queries"] == 200


# ------------------------------------------------------------------------------------------------ executions
def test_executions_running_past_threshold_with_tag_override_per_state_machine() -> None:
    # Given two state machines in scope (one tagged for 4 h runs) and one out of scope
    slow = f"{SM_PREFIX}backfill"
    world = World(
        executions={
            PIPELINE: [
                execution("stuck", "RUNNING", ago(hours=3)),
                execution("young", "RUNNING", ago(minutes=2)),
                execution("redriven", "RUNNING", ago(hours=5), redriveDate=ago(minutes=10)),
            ],
            slow: [execution("long", "RUNNING", ago(hours=3), sm=slow)],
            f"{SM_PREFIX}idle": [],
            OTHER_SM: [execution("theirs", "RUNNING", ago(hours=30), sm=OTHER_SM)],
        },
        machine_tags={slow: {TAG: str(4 * 3600)}},
    )
    sweep, engine = world.sweep()
    # When the sweep runs
    report = sweep.run()
    # Then only the 3-hour run of the default-threshold pipeline is stuck (the redriven one restarted 10 min ago)
    assert found(engine) == {("stuck", "STUCK")}
    assert engine.findings[0].scope_key == PIPELINE
    # And tags were read only for machines with a run past the floor; the other team's machine was never listed
    assert world.calls.counter["stepfunctions.ListTagsForResource"] == 2
    assert report.checked["state_machines"] == 3
    assert world.calls.counter["stepfunctions.ListExecutions"] == 6  # RUNNING + recent, per machine in scope


def test_failed_executions_without_incident_are_lost_failures() -> None:
    stuck_run = execution("stopped-by-us", "ABORTED", ago(hours=3), stopDate=ago(minutes=30))
    world = World(
        executions={
            PIPELINE: [
                execution("failed", "FAILED", ago(minutes=40), stopDate=ago(minutes=30)),
                execution("timed-out", "TIMED_OUT", ago(minutes=50), stopDate=ago(minutes=20)),
                execution("known", "FAILED", ago(minutes=40), stopDate=ago(minutes=35)),
                stuck_run,
                execution("ok", "SUCCEEDED", ago(minutes=40), stopDate=ago(minutes=30)),
                execution("long-ago", "FAILED", ago(hours=3), stopDate=ago(hours=2, minutes=30)),
            ]
        },
        history=[
            open_incident(
                ResourceType.EXECUTION,
                PIPELINE.replace(":stateMachine:", ":execution:") + ":known",
                Condition.FAILED,
                ago(minutes=34),
                status=IncidentStatus.RESOLVED,
            ),
            open_incident(
                ResourceType.EXECUTION,
                stuck_run["executionArn"],
                Condition.STUCK,
                ago(hours=1),
                status=IncidentStatus.RESOLVED,
            ),
        ],
    )
    sweep, engine = world.sweep()
    # When the sweep runs
    report = sweep.run()
    # Then the failures nobody saw are fed as FAILED; the one with an incident and our own stop's echo are not
    assert found(engine) == {("failed", "FAILED"), ("timed-out", "FAILED")}
    assert report.found == {"lost-failure": 2}


def test_recent_execution_listing_stops_at_the_window() -> None:
    # Given 2,500 succeeded runs, one a minute, and a window of 2 h + the 2 h stuck threshold
    runs = [execution(f"r{i}", "SUCCEEDED", ago(minutes=i), stopDate=ago(minutes=i)) for i in range(2500)]
    world = World(executions={PIPELINE: runs})
    sweep, _ = world.sweep()
    # When the sweep runs
    report = sweep.run()
    # Then one RUNNING call, and one page of 1,000 for the recent runs (the first older run ends the paging)
    assert world.calls.counter["stepfunctions.ListExecutions"] == 2
    assert report.checked["recent_executions"] == 241  # minutes 0..240: the window's edge is inclusive


# ------------------------------------------------------------------------------------------------ resume/resolve
def test_open_incidents_are_resumed_and_recovered_crawlers_resolved() -> None:
    query_incident = open_incident(ResourceType.QUERY, "q-1", Condition.STUCK, ago(minutes=10), facts={"workgroup": WG})
    exec_arn = PIPELINE.replace(":stateMachine:", ":execution:") + ":run-7"
    world = World(
        crawlers=[
            crawler("lakehouse-sandbox-raw-crawler", "READY", "CANCELLED", ago(minutes=30)),
            crawler("lakehouse-sandbox-processed-crawler", "READY", "SUCCEEDED", ago(minutes=5)),
        ],
        open_incidents=[
            open_incident(
                ResourceType.CRAWLER,
                "lakehouse-sandbox-raw-crawler",
                Condition.STUCK,
                ago(minutes=31),
                pending_step="start_when_ready",
            ),
            open_incident(ResourceType.CRAWLER, "lakehouse-sandbox-processed-crawler", Condition.STUCK, ago(hours=1)),
            open_incident(
                ResourceType.CRAWLER, "lakehouse-sandbox-processed-crawler", Condition.FAILED, ago(minutes=50)
            ),
            query_incident,
            open_incident(ResourceType.EXECUTION, exec_arn, Condition.STUCK, ago(minutes=10)),
        ],
    )
    sweep, engine = world.sweep()
    # When the sweep runs
    report = sweep.run()
    # Then the pending crawler reset is resumed with its condition; the recovered crawler gets one RECOVERED
    assert found(engine) == {
        ("lakehouse-sandbox-raw-crawler", "STUCK"),
        ("lakehouse-sandbox-processed-crawler", "RECOVERED"),
        ("q-1", "STUCK"),
        ("run-7", "STUCK"),
    }
    assert report.found == {"resume": 3, "recovered": 1}
    resumed = {f.resource_id: f for f in engine.findings}
    assert resumed["lakehouse-sandbox-raw-crawler"].facts["pending_step"] == "start_when_ready"
    assert resumed["q-1"].scope_key == WG
    assert resumed[exec_arn].scope_key == PIPELINE
    # And causes come first: crawlers, then queries, then executions
    assert [f.resource_type for f in engine.findings] == [
        ResourceType.CRAWLER,
        ResourceType.CRAWLER,
        ResourceType.QUERY,
        ResourceType.EXECUTION,
    ]


def test_a_discovered_finding_is_not_duplicated_by_its_open_incident() -> None:
    # Given a stuck crawler that already has an active STUCK incident
    world = World(
        crawlers=[crawler("lakehouse-sandbox-raw-crawler", "RUNNING", "SUCCEEDED", ago(hours=1))],
        open_incidents=[
            open_incident(ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler", Condition.STUCK, ago(minutes=5))
        ],
    )
    sweep, engine = world.sweep()
    # When / Then the remediation gets it once (with the fresh discovery facts)
    report = sweep.run()
    assert len(engine.findings) == 1
    assert report.found == {"stuck": 1}


# ------------------------------------------------------------------------------------------------ isolation
def test_one_failing_call_does_not_abort_the_sweep() -> None:
    # Given AccessDenied on one crawler's tags, throttling on one workgroup, and a remediation that blows up
    world = World(
        crawlers=[
            crawler("lakehouse-sandbox-raw-crawler", "RUNNING", "SUCCEEDED", ago(hours=1)),
            crawler("lakehouse-sandbox-processed-crawler", "RUNNING", "SUCCEEDED", ago(hours=1)),
        ],
        queries={WG: [query("q-1", "RUNNING", ago(hours=1))], WG2: [query("q-2", "RUNNING", ago(hours=1), WG2)]},
        executions={PIPELINE: [execution("stuck", "RUNNING", ago(hours=3))]},
    )
    world.calls.fail[("glue.GetTags", "lakehouse-sandbox-raw-crawler")] = denied("GetTags")
    world.calls.fail[("athena.ListQueryExecutions", WG)] = denied("ListQueryExecutions", "ThrottlingException")
    sweep, engine = world.sweep(engine=RecordingEngine(fail_on="lakehouse-sandbox-processed-crawler"))
    # When the sweep runs
    report = sweep.run()
    # Then everything else was still found and handed over (the crawler without tags on its default threshold)
    assert found(engine) == {
        ("lakehouse-sandbox-raw-crawler", "STUCK"),
        ("lakehouse-sandbox-processed-crawler", "STUCK"),
        ("q-2", "STUCK"),
        ("stuck", "STUCK"),
    }
    # And each failure is recorded with its operation, resource and code
    assert {(e.operation, e.resource, e.code) for e in report.errors} == {
        ("glue.GetTags", "lakehouse-sandbox-raw-crawler", "AccessDeniedException"),
        ("athena.ListQueryExecutions", WG, "ThrottlingException"),
        ("engine.handle", "lakehouse-sandbox-processed-crawler", "RuntimeError"),
    }
    assert report.outcomes == {"act": 3, "error": 1}


def test_unreadable_incident_store_still_finds_stuck_work() -> None:
    world = World(crawlers=[crawler("lakehouse-sandbox-raw-crawler", "RUNNING", "SUCCEEDED", ago(hours=1))])
    world.calls.fail[("dynamodb.ListOpen", "*")] = denied("Query")
    sweep, engine = world.sweep()
    report = sweep.run()
    assert found(engine) == {("lakehouse-sandbox-raw-crawler", "STUCK")}
    assert [e.operation for e in report.errors] == ["dynamodb.Query(open-index)"]


def test_findings_are_deferred_when_the_invocation_is_about_to_time_out() -> None:
    # Given two stuck crawlers and an invocation with 5 s left
    world = World(
        crawlers=[
            crawler("lakehouse-sandbox-raw-crawler", "RUNNING", "SUCCEEDED", ago(hours=1)),
            crawler("lakehouse-sandbox-processed-crawler", "RUNNING", "SUCCEEDED", ago(hours=1)),
        ]
    )
    sweep, engine = world.sweep()
    # When the sweep runs / Then nothing is handed over and both are reported deferred
    report = sweep.run(remaining_ms=lambda: 5_000)
    assert engine.findings == []
    assert report.outcomes == {"deferred": 2}


@pytest.mark.parametrize("scope", ["SCOPE_CRAWLER_PREFIXES", "SCOPE_WORKGROUPS", "SCOPE_STATE_MACHINE_ARN_PREFIXES"])
def test_resource_types_out_of_scope_are_not_listed(scope: str) -> None:
    # Given a scope without one resource type
    world = World()
    sweep, _ = world.sweep(**{scope: ""})
    # When the sweep runs / Then that type's API is never called
    sweep.run()
    service = {
        "SCOPE_CRAWLER_PREFIXES": "glue.",
        "SCOPE_WORKGROUPS": "athena.",
        "SCOPE_STATE_MACHINE_ARN_PREFIXES": "stepfunctions.",
    }[scope]
    assert not [op for op in world.calls.counter if op.startswith(service)]
    assert world.calls.counter  # the others were
