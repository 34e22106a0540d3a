"""The benchmark's rows: each names one path and prepares, before every run, a fresh event that takes that path.

Before each function run the incident table is emptied (so no run finds an earlier run's incident and takes the
duplicate or "unchanged" path instead) and the event gets a new id; the Athena and Step Functions rows also get
a new query / run each time. ``expect`` is the handler outcome that shows the run took the named path.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdogs_local.emulator import Deployment, Emulator

EVENTS = Path(__file__).resolve().parents[1] / "events"
NAMES = LakehouseNames(env="sandbox")
ACCESS_DENIED = "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)"
SQL_ERROR = "COLUMN_NOT_FOUND: line 3:8: Column 'event_tz' cannot be resolved"


@dataclass
class Bench:
    emulator: Emulator
    deployment: Deployment
    env: dict[str, str]
    _client_cache: dict[str, Any] = field(default_factory=dict)
    failed_queries: list[str] = field(default_factory=list)

    def client(self, service: str) -> Any:
        if service not in self._client_cache:
            self._client_cache[service] = self.emulator.client(service)
        return self._client_cache[service]

    def provision(self) -> None:
        provision_lakehouse(self.emulator.session(), NAMES)

    def clear_state(self) -> None:
        """Empty the tables the functions write (incidents; and main's de-duplication table, for a before/after)."""
        env = next(iter(self.deployment.functions.values())).environment
        dynamodb = self.client("dynamodb")
        for table in filter(None, (env.get("INCIDENT_TABLE"), env.get("IDEMPOTENCY_TABLE"))):
            keys = [a["AttributeName"] for a in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})


def sample(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    event["id"] = str(uuid.uuid4())
    return event


def glue_failed(bench: Bench, run: int) -> dict[str, Any]:
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    bench.clear_state()
    crawler = NAMES.crawler("raw")
    set_crawl(crawler, "FAILED", error_message=ACCESS_DENIED)
    event = sample("glue-crawler-failed-access-denied.json")
    event["detail"]["crawlerName"] = crawler
    return event


def athena_failed(bench: Bench, run: int) -> dict[str, Any]:
    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    bench.clear_state()
    workgroup = NAMES.pipeline_workgroup
    query_id = bench.client("athena").start_query_execution(QueryString="SELECT event_tz FROM t", WorkGroup=workgroup)[
        "QueryExecutionId"
    ]
    set_query_execution(query_id, state="FAILED", error_category=2, error_type=1000, error_message=SQL_ERROR)
    bench.failed_queries.append(query_id)
    event = sample("athena-query-failed-user-sql-error.json")
    event["detail"].update(queryExecutionId=query_id, workgroupName=workgroup, sequenceNumber=str(run + 3))
    event["detail"]["athenaError"]["errorMessage"] = SQL_ERROR
    return event


def states_succeeded(bench: Bench, run: int) -> dict[str, Any]:
    bench.clear_state()
    event = sample("stepfunctions-execution-succeeded.json")
    name = f"bench-{uuid.uuid4().hex[:12]}"
    arn = NAMES.execution_arn(name)
    event["resources"] = [arn]
    event["detail"].update(executionArn=arn, stateMachineArn=NAMES.state_machine_arn, name=name)
    return event


def sweep_quiet(bench: Bench, run: int) -> dict[str, Any]:
    """Nothing stuck and nothing failed: what the other rows failed is made to succeed first."""
    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    bench.clear_state()
    set_crawl(NAMES.crawler("raw"), "SUCCEEDED")
    for query_id in bench.failed_queries:
        set_query_execution(query_id, state="SUCCEEDED")
    return sample("sweep-scheduled.json")


@dataclass(frozen=True)
class Row:
    key: str
    title: str
    function: str = ""
    expect: str = ""
    prepare: Callable[[Bench, int], dict[str, Any]] = sweep_quiet
    target: float = 0.0
    code: str = ""  # a floor-like row: this code instead of a handler


ROWS: list[Row] = [
    Row(
        "libs",
        "floor + the chosen libraries imported (pydantic BaseModel, Powertools Logger/Metrics/Tracer)",
        code="import boto3; from pydantic import BaseModel; from aws_lambda_powertools import Logger, Metrics, Tracer; "
        "boto3.client('dynamodb').list_tables()",
    ),
    Row(
        "glue",
        "crawler Failed (AccessDenied) → escalate",
        "GlueCrawlerWatchdogFunction",
        "handled/escalate",
        glue_failed,
        1.5,
    ),
    Row(
        "athena",
        "query FAILED (user SQL error) → notify",
        "AthenaQueryWatchdogFunction",
        "handled/notify",
        athena_failed,
        1.5,
    ),
    Row(
        "states",
        "run SUCCEEDED, nothing open",
        "StepFunctionsWatchdogFunction",
        "handled/nothing-open",
        states_succeeded,
        1.5,
    ),
    Row("sweep", "scheduled sweep of the lakehouse, nothing stuck", "SweepFunction", "swept", sweep_quiet, 1.8),
]
