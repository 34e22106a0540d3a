"""watchdogs-ops report against incidents in moto: per service incidents, actions by outcome, what observe mode
would have done, time to recover (median/p90), budget use, quarantines."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from tests.conftest import INCIDENT_TABLE
from tests.support.aws import REGION
from watchdogs.incidents import Budget, IncidentStore, TimelineEntry, iso, now_utc
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.ops import main

pytestmark = pytest.mark.integration


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"), environment="test")


def resolved_crawler_incident(name: str, recover: float, actions: list[tuple[str, str]]) -> None:
    s = store()
    now = now_utc()
    entries = [TimelineEntry(at=iso(now), kind="action", step=step, outcome=outcome) for step, outcome in actions]
    incident = s.new_incident(
        ResourceType.CRAWLER,
        name,
        Condition.FAILED,
        status=IncidentStatus.REMEDIATING,
        detected_at=now - timedelta(seconds=recover),
        classification="transient",
        mode="remediate",
        attempts=len(actions),
        budget_max=3,
    ).append(*entries)
    saved = s.save(incident, expected_version=0)
    s.close(saved.model_copy(update={"time_to_recover_seconds": recover}), status=IncidentStatus.RESOLVED)


def observed_query_incident(query_id: str) -> None:
    s = store()
    incident = s.new_incident(
        ResourceType.QUERY,
        query_id,
        Condition.STUCK,
        status=IncidentStatus.OBSERVED,
        detected_at=now_utc(),
        classification="stuck-query",
        mode="observe",
    ).append(TimelineEntry(at=iso(now_utc()), kind="would-act", step="stop_query", outcome="skipped (observe mode)"))
    s.save(incident, expected_version=0)


def test_report_per_service(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    # Given three crawler incidents the watchdogs healed (10 s, 20 s, 100 s), one with a failed first try
    resolved_crawler_incident("lakehouse-sandbox-a", 10, [("start_crawler", "started")])
    resolved_crawler_incident("lakehouse-sandbox-b", 20, [("start_crawler", "started")])
    resolved_crawler_incident("lakehouse-sandbox-c", 100, [("stop_crawler", "failed"), ("start_crawler", "started")])
    # And two stuck queries observe mode would have cancelled, and a quarantined execution
    observed_query_incident("q-1")
    observed_query_incident("q-2")
    store().put_budget(
        ResourceType.EXECUTION, "arn:x", Budget(action_times=[1.0], quarantined_until=now_utc().timestamp() + 60)
    )
    # When on-call asks for the last week's report
    code = main(["--table", INCIDENT_TABLE, "--endpoint", aws["endpoint"], "--region", REGION, "--json", "report"])
    report = {s["service"]: s for s in json.loads(capsys.readouterr().out)["services"]}
    # Then each service's evidence is there
    assert code == 0
    crawler, query, execution = report["crawler"], report["query"], report["execution"]
    assert crawler["incidents"] == 3
    assert crawler["by_status"] == {"resolved": 3}
    assert crawler["actions_by_outcome"] == {"start_crawler:started": 3, "stop_crawler:failed": 1}
    assert crawler["time_to_recover_seconds"] == {"count": 3, "median": 20, "p90": 100}
    assert crawler["budget"] == {"actions_spent": 4, "max_per_incident": 2, "budget_max": 3}
    assert query["observe_would_have_done"] == {"stop_query": 2}
    assert query["by_status"] == {"observed": 2}
    assert (execution["quarantines"], execution["quarantined_now"]) == (1, 1)
    # And people get one row per service
    main(["--table", INCIDENT_TABLE, "--endpoint", aws["endpoint"], "--region", REGION, "report", "--since", "1d"])
    out = capsys.readouterr().out
    [crawler_row] = [line for line in out.splitlines() if line.strip().startswith("crawler ")]
    assert "20s / 100s" in crawler_row
    assert "stop_query 2" in out
