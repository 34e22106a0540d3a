"""The sweep's pure rules: threshold validation and tag overrides, running time, run start, "already seen",
crawler recovery, scope keys of resumed incidents and the API-call bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watchdogs.incidents import Incident, iso
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.resume import incident_scope_key
from watchdogs.runbooks.crawler import CrawlerRemediator
from watchdogs.runbooks.crawler.discover import crawler_recovered, crawler_running_seconds
from watchdogs.runbooks.discovery import already_seen
from watchdogs.runbooks.execution import ExecutionRemediator
from watchdogs.runbooks.execution.discover import execution_run_started
from watchdogs.runbooks.query import QueryRemediator
from watchdogs.runbooks.query.discover import ATHENA_DML_TIMEOUT_SECONDS, check_thresholds
from watchdogs.settings import load_settings
from watchdogs.sweep import SWEEP_PERMISSIONS, call_bounds

#: every read of one sweep: what each runbook's discovery declares, and the sweep's own
DISCOVERY_PERMISSIONS = {
    *SWEEP_PERMISSIONS,
    *(p for r in (CrawlerRemediator, QueryRemediator, ExecutionRemediator) for p in r.discovery_permissions),
}
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
BASE = {
    "ENVIRONMENT": "sandbox",
    "WATCHDOG_MODE": "remediate",
    "INCIDENT_TABLE": "incidents",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
    "SCOPE_WORKGROUPS": "lakehouse-sandbox-workgroup",
}
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-data-pipeline"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:lakehouse-mvp-sandbox-data-pipeline:run-1"


def incident(condition: Condition, detected: datetime, **fields: Any) -> Incident:
    return Incident(
        incident_id=f"i-{condition.value}",
        resource_type=fields.pop("resource_type", ResourceType.CRAWLER),
        resource_id=fields.pop("resource_id", "lakehouse-sandbox-raw-crawler"),
        condition=condition,
        status=fields.pop("status", IncidentStatus.REMEDIATING),
        detected_at=iso(detected),
        updated_at=iso(detected),
        **fields,
    )


# ------------------------------------------------------------------------------------------------ thresholds
def test_default_thresholds_are_valid() -> None:
    # Given the defaults / When checked / Then nothing to report, and the query default is below Athena's timeout
    settings = load_settings(BASE)
    assert check_thresholds(settings) == []
    assert settings.query_stuck_seconds < ATHENA_DML_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"QUERY_STUCK_SECONDS": "1800"}, "QUERY_STUCK_SECONDS=1800s is not below Athena's DML timeout"),
        (
            {"WORKGROUP_QUERY_STUCK_SECONDS": '{"lakehouse-sandbox-workgroup": 3600}'},
            "WORKGROUP_QUERY_STUCK_SECONDS[lakehouse-sandbox-workgroup]=3600s",
        ),
        ({"SWEEP_LOOKBACK_SECONDS": "1500"}, "SWEEP_LOOKBACK_SECONDS=1500s does not exceed"),
    ],
)
def test_thresholds_that_cannot_work_are_named(overrides: dict[str, str], named: str) -> None:
    # Given a threshold that can never fire (or fires too late) / When checked
    problems = check_thresholds(load_settings({**BASE, **overrides}))
    # Then exactly that problem is reported, naming the variable
    assert len(problems) == 1
    assert named in problems[0]


# ------------------------------------------------------------------------------------------------ running time
def test_crawler_running_time_prefers_elapsed_time() -> None:
    crawler: Any = {"CrawlElapsedTime": 90_500, "LastCrawl": {"StartTime": NOW - timedelta(hours=5)}}
    assert crawler_running_seconds(crawler, NOW) == 90.5


def test_crawler_running_time_falls_back_to_last_crawl_start() -> None:
    crawler: Any = {"CrawlElapsedTime": 0, "LastCrawl": {"StartTime": NOW - timedelta(minutes=50)}}
    assert crawler_running_seconds(crawler, NOW) == 3000


def test_crawler_running_time_unknown_without_either() -> None:
    assert crawler_running_seconds({"Name": "x"}, NOW) is None


def test_redriven_execution_runs_from_its_redrive_date() -> None:
    started, redriven = NOW - timedelta(hours=5), NOW - timedelta(minutes=3)
    assert execution_run_started({"startDate": started, "redriveDate": redriven}) == redriven  # type: ignore[typeddict-item]
    assert execution_run_started({"startDate": started}) == started  # type: ignore[typeddict-item]


# ------------------------------------------------------------------------------------------------ already seen
def test_failure_is_seen_when_a_failed_incident_follows_the_run_start() -> None:
    run_start = NOW - timedelta(minutes=30)
    seen = [incident(Condition.FAILED, NOW - timedelta(minutes=10))]
    assert already_seen(seen, run_start, any_condition=False)


def test_failure_of_an_earlier_run_does_not_count() -> None:
    run_start = NOW - timedelta(minutes=30)
    earlier = [incident(Condition.FAILED, NOW - timedelta(hours=3))]
    assert not already_seen(earlier, run_start, any_condition=False)


def test_stuck_incident_counts_only_for_aborted_runs() -> None:
    # Given a STUCK incident on the run (the watchdog stopped it: the run ended ABORTED)
    run_start = NOW - timedelta(hours=3)
    stuck = [incident(Condition.STUCK, NOW - timedelta(hours=1))]
    # Then an ABORTED run is the echo of our stop; a FAILED one is news
    assert already_seen(stuck, run_start, any_condition=True)
    assert not already_seen(stuck, run_start, any_condition=False)


# ------------------------------------------------------------------------------------------------ recovery
def _crawler(state: str, status: str | None, started: datetime | None) -> Any:
    last: dict[str, Any] = {}
    if status:
        last["Status"] = status
    if started:
        last["StartTime"] = started
    return {"Name": "lakehouse-sandbox-raw-crawler", "State": state, "LastCrawl": last}


@pytest.mark.parametrize(
    ("crawler", "conditions", "expected"),
    [
        # stuck, stopped and restarted by us, the restart succeeded
        (_crawler("READY", "SUCCEEDED", NOW - timedelta(minutes=5)), [Condition.STUCK], True),
        # stuck crawl finished by itself (observe mode): recovered too
        (_crawler("READY", "SUCCEEDED", NOW - timedelta(hours=3)), [Condition.STUCK], True),
        # failed, then a newer crawl succeeded
        (_crawler("READY", "SUCCEEDED", NOW - timedelta(minutes=5)), [Condition.FAILED], True),
        # the success is older than the failure: not a recovery
        (_crawler("READY", "SUCCEEDED", NOW - timedelta(hours=3)), [Condition.FAILED], False),
        (_crawler("RUNNING", "SUCCEEDED", NOW - timedelta(minutes=5)), [Condition.STUCK], False),
        (_crawler("READY", "CANCELLED", NOW - timedelta(minutes=5)), [Condition.STUCK], False),
        (_crawler("READY", "FAILED", NOW - timedelta(minutes=5)), [Condition.FAILED], False),
        # no new data needs the crawl's counters: only the event can resolve it
        (_crawler("READY", "SUCCEEDED", NOW - timedelta(minutes=5)), [Condition.NO_NEW_DATA], False),
    ],
)
def test_crawler_recovery(crawler: Any, conditions: list[Condition], expected: bool) -> None:
    # Given active incidents detected an hour ago / When the sweep sees the crawler / Then recovered or not
    active = [incident(c, NOW - timedelta(hours=1)) for c in conditions]
    assert crawler_recovered(crawler, active) is expected


# ------------------------------------------------------------------------------------------------ scope keys
def test_scope_key_of_resumed_incidents() -> None:
    crawler = incident(Condition.STUCK, NOW)
    execution = incident(
        Condition.STUCK, NOW, resource_type=ResourceType.EXECUTION, resource_id=EXECUTION, facts={"other": 1}
    )
    query = incident(
        Condition.STUCK, NOW, resource_type=ResourceType.QUERY, resource_id="q-1", facts={"workgroup": "wg"}
    )
    assert incident_scope_key(crawler) == "lakehouse-sandbox-raw-crawler"
    assert incident_scope_key(execution) == SM
    assert incident_scope_key(query) == "wg"


# ------------------------------------------------------------------------------------------------ cost
def test_call_bounds_grow_with_resources_over_page_size() -> None:
    bounds = call_bounds(
        crawlers=1000,
        state_machines=10,
        running_per_machine=[100] * 10,
        recent_per_machine=[100] * 10,
        queries_per_workgroup=[5000, 0],
        candidates_with_tags=3,
    )
    assert bounds == {
        "glue.GetCrawlers": 1,
        "stepfunctions.ListStateMachines": 1,
        "stepfunctions.ListExecutions": 20,
        "athena.ListQueryExecutions": 101,
        "athena.BatchGetQueryExecution": 100,
        "tags": 3,
    }


def test_template_grants_the_sweep_what_discovery_reads() -> None:
    from tests.unit.test_template import granted

    # Given the SweepFunction's policies in template.yaml / Then every read discovery makes is granted
    sweep = granted("SweepFunction")
    assert set(DISCOVERY_PERMISSIONS) <= set(sweep)
    # And per-resource reads are scoped to resources; only the list calls without resource-level support are on "*"
    assert {action for action in DISCOVERY_PERMISSIONS if "*" in sweep[action]} <= {
        "glue:GetCrawlers",
        "states:ListStateMachines",
    }
