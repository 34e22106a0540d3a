"""Cost of one sweep at scale: 1,000 crawlers, 1,000 running executions across 10 state machines and 5,000 recent
queries (plus older ones beyond the look-back window). The API calls of one sweep are counted (``api_calls``) and
must stay within ``ceil(n / page size)`` bounds; per-resource reads happen only for candidates.

Seeding goes through moto's backend objects in-process (the server is in-process): the same objects the HTTP API
serves, minus 7,000 round trips.
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import timedelta
from typing import Any

import boto3
import pytest

from tests.integration.test_sweep import (  # noqa: F401 - fixtures
    ROLE,
    athena_newest_first,
    create_metadata_table,
    held_states,
)
from tests.support.aws import ACCOUNT, REGION, ApiCalls
from watchdogs.engine import HandleResult
from watchdogs.models.domain import Finding
from watchdogs.runbooks.crawler.discover import GLUE_PAGE_SIZE
from watchdogs.runbooks.execution.discover import SFN_PAGE_SIZE
from watchdogs.runbooks.query.discover import ATHENA_BATCH_SIZE, ATHENA_LIST_PAGE_SIZE
from watchdogs.sweep import Sweep, SweepReport, run_sweep_once

pytestmark = pytest.mark.integration

#: 1 in the gate; `make bench-sweep` runs 1, 5 and 10 (docs/performance.md records the growth)
SCALE = int(os.environ.get("SWEEP_SCALE", "1"))
CRAWLERS = 1000 * SCALE
STUCK_CRAWLERS = 10  # RUNNING 50 min (threshold 45)
YOUNG_CRAWLERS = 20  # RUNNING 2 min: under the tag floor, their tags are never read
MIDDLE_CRAWLERS = 5  # RUNNING 10 min: past the floor (tags read), under the threshold
MACHINES = 10
EXECUTIONS = 1000 * SCALE
STUCK_EXECUTIONS = 3  # RUNNING 2 h 2 min (threshold 2 h), in 3 different state machines
WORKGROUPS = {"lakehouse-sandbox-workgroup": 4000 * SCALE, "lakehouse-mvp-sandbox-workgroup": 1000 * SCALE}
OLD_QUERIES = 250  # beyond the 2 h window, in the first workgroup: paging stops at them
STUCK_QUERIES = 5  # RUNNING 27 min (threshold 25)


def pages(n: int, size: int) -> int:
    return max(1, math.ceil(n / size))


def seed() -> None:
    from moto.athena.models import athena_backends
    from moto.core.utils import utcnow
    from moto.glue.models import glue_backends
    from moto.stepfunctions.models import stepfunctions_backends

    from watchdogs_local.moto_ext.glue import set_crawl

    create_metadata_table()
    glue = glue_backends[ACCOUNT][REGION]
    for i in range(CRAWLERS):
        glue.create_crawler(
            name=f"lakehouse-sandbox-c{i:04}-crawler",
            role=ROLE,
            database_name="lakehouse_sandbox_lakehouse",
            description="",
            targets={"S3Targets": [{"Path": f"s3://lakehouse-sandbox-data-lake/raw/t{i:04}/"}]},
            schedule="",
            classifiers=[],
            table_prefix="",
            schema_change_policy={},
            recrawl_policy={},
            lineage_configuration={},
            configuration="",
            crawler_security_configuration="",
            tags={},
        )
    for i in range(STUCK_CRAWLERS + YOUNG_CRAWLERS + MIDDLE_CRAWLERS):
        running_for = 3000 if i < STUCK_CRAWLERS else 120 if i < STUCK_CRAWLERS + YOUNG_CRAWLERS else 600
        set_crawl(f"lakehouse-sandbox-c{i:04}-crawler", "RUNNING", running_for_seconds=running_for)

    sfn = boto3.client("stepfunctions")
    backend = stepfunctions_backends[ACCOUNT][REGION]
    definition = '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}'
    now = utcnow()
    for m in range(MACHINES):
        arn = sfn.create_state_machine(name=f"lakehouse-mvp-sandbox-sm-{m:02}", definition=definition, roleArn=ROLE)[
            "stateMachineArn"
        ]
        machine = backend.describe_state_machine(arn)
        for e in range(EXECUTIONS // MACHINES):
            execution = machine.start_execution(
                region_name=REGION, account_id=ACCOUNT, execution_name=f"run-{m:02}-{e:03}", execution_input="{}"
            )
            stuck = m < STUCK_EXECUTIONS and e == 0
            young = 1 + e * min(1.0, 100 / (EXECUTIONS // MACHINES))  # under the tag floor at every scale
            execution.start_date = now - timedelta(seconds=7320 if stuck else young)

    athena = athena_backends[ACCOUNT][REGION]
    start = time.time()
    for w, (workgroup, recent) in enumerate(WORKGROUPS.items()):
        athena.create_work_group(
            name=workgroup,
            configuration={"ResultConfiguration": {"OutputLocation": "s3://lakehouse-sandbox-athena-results/"}},
            description="",
            tags=[],
        )
        old = OLD_QUERIES if w == 0 else 0
        for i in range(recent + old):
            qid = athena.start_query_execution(
                query="SELECT 1", context={}, config={}, workgroup=workgroup, execution_parameters=None
            )
            query = athena.executions[qid]
            stuck = w == 1 and i < STUCK_QUERIES
            query.status = "RUNNING" if stuck else "SUCCEEDED"
            spread = min(1.0, 6000 / recent)  # recent queries stay inside the 2 h look-back at every scale
            query.start_time = start - (1620 if stuck else 1 + i * spread if i < recent else 3 * 3600 + i)


class CountingOnly:
    """Discovery only: records findings, acts on nothing."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def handle(self, finding: Finding) -> HandleResult:
        self.findings.append(finding)
        return HandleResult(outcome="recorded", resource=finding.resource_key, condition=finding.condition.value)


@pytest.mark.usefixtures("held_states", "athena_newest_first")
def test_one_sweep_stays_within_page_bounds(aws: dict[str, Any], api_calls: ApiCalls) -> None:
    from watchdogs.runtime import runtime

    # Given 1,000 crawlers, 1,000 running executions in 10 state machines and 5,000 recent queries (+250 older)
    began = time.monotonic()
    seed()
    seeded = time.monotonic() - began
    rt = runtime()
    api_calls.reset()

    # When the sweep discovers (findings recorded, not handled)
    recorder = CountingOnly()
    started, cpu = time.monotonic(), time.thread_time()
    discovery: SweepReport = Sweep(rt.settings, rt.clients, recorder).run()
    discovery_seconds = time.monotonic() - started
    discovery_cpu = time.thread_time() - cpu  # this thread only: the sweep's own work, not the emulator's
    discovery_calls = dict(api_calls.calls)

    # Then it found exactly the stuck ones
    assert discovery.found == {"stuck": STUCK_CRAWLERS + STUCK_EXECUTIONS + STUCK_QUERIES}
    assert discovery.checked["crawlers"] == CRAWLERS
    assert discovery.checked["running_executions"] == EXECUTIONS
    assert discovery.checked["queries"] == sum(WORKGROUPS.values()) + ATHENA_LIST_PAGE_SIZE  # + the one older page
    assert discovery.errors == []

    # And its calls stay within ceil(n / page) bounds for lists, and candidates only for per-resource reads
    recent_workgroup_pages = [
        pages(n, ATHENA_LIST_PAGE_SIZE) + (1 if i == 0 else 0) for i, n in enumerate(WORKGROUPS.values())
    ]
    per_machine = EXECUTIONS // MACHINES
    bounds = {
        "glue.GetCrawlers": pages(CRAWLERS, GLUE_PAGE_SIZE),
        "glue.GetTags": STUCK_CRAWLERS + MIDDLE_CRAWLERS,
        "stepfunctions.ListStateMachines": pages(MACHINES, SFN_PAGE_SIZE),
        "stepfunctions.ListExecutions": MACHINES * (pages(per_machine, SFN_PAGE_SIZE) * 2),
        "stepfunctions.ListTagsForResource": STUCK_EXECUTIONS,
        "athena.ListQueryExecutions": sum(recent_workgroup_pages),
        "athena.BatchGetQueryExecution": sum(recent_workgroup_pages),
        "dynamodb.Query": 1,  # the open incidents (sparse index)
        "dynamodb.GetItem": 1,  # the sweep cursor
    }
    assert set(discovery_calls) <= set(bounds), discovery_calls
    for operation, bound in bounds.items():
        assert discovery_calls.get(operation, 0) <= bound, (operation, discovery_calls.get(operation), bound)
    assert discovery_calls["athena.BatchGetQueryExecution"] == math.ceil(
        (sum(WORKGROUPS.values()) + ATHENA_BATCH_SIZE) / ATHENA_BATCH_SIZE
    )

    # When the same sweep runs for real (findings handed to the engine and remediated)
    api_calls.reset()
    started, cpu = time.monotonic(), time.thread_time()
    report = run_sweep_once()
    full_seconds = time.monotonic() - started
    full_cpu = time.thread_time() - cpu
    full_calls = dict(api_calls.calls)

    # Then every stuck resource was acted on, and handling cost a bounded number of calls per finding
    acted = report.outcomes.get("act", 0)
    assert acted == STUCK_CRAWLERS + STUCK_EXECUTIONS + STUCK_QUERIES, report.outcomes
    handling = sum(full_calls.values()) - sum(discovery_calls.values())
    assert handling <= 12 * acted, full_calls
    print(  # the numbers docs/sweep.md records (pytest -s)
        f"\nseeded in {seeded:.1f}s; discovery {discovery_seconds:.1f}s {sum(discovery_calls.values())} calls "
        f"{sorted(discovery_calls.items())}\nfull sweep {full_seconds:.1f}s {sum(full_calls.values())} calls "
        f"{sorted(full_calls.items())}"
    )
    measured = {
        "scale": SCALE,
        "resources": {"crawlers": CRAWLERS, "executions": EXECUTIONS, "queries": sum(WORKGROUPS.values())},
        "discovery": {"calls": sum(discovery_calls.values()), "cpu_s": round(discovery_cpu, 2)},
        "full": {"calls": sum(full_calls.values()), "cpu_s": round(full_cpu, 2), "wall_s": round(full_seconds, 1)},
    }
    print(f"SWEEP-SCALE {json.dumps(measured)}")
