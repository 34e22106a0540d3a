"""Evidence, pure parts: the shared time box and failure reasons, each runbook's lines, and which run owns a query.
No network: AWS is an in-memory fake that answers from a script and records its calls."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from watchdogs.models.domain import Condition
from watchdogs.runbooks.crawler.evidence import error_lines
from watchdogs.runbooks.evidence import TimeBox, attempt, one_line, why_unavailable
from watchdogs.runbooks.execution.evidence import _test_rows, stuck_lines
from watchdogs.runbooks.execution.history import excerpt_line
from watchdogs.runbooks.query.evidence import gather as query_evidence
from watchdogs.runbooks.query.evidence import scan_limit
from watchdogs.runbooks.query.facts import QueryFacts
from watchdogs.runbooks.query.pipeline import owner_run
from watchdogs.settings import Settings, load_settings

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
ACCOUNT = "123456789012"
MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:lakehouse-mvp-sandbox-data-pipeline"
WG = "lakehouse-mvp-sandbox-workgroup"
QID = "7c1d4b2e-9a3f-4e61-b0d5-2f8e6a1c9d01"
GB = 1024**3


def settings() -> Settings:
    return load_settings(
        {
            "ENVIRONMENT": "test",
            "WATCHDOG_MODE": "remediate",
            "INCIDENT_TABLE": "incidents",
            "ALERT_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
            "SCOPE_STATE_MACHINE_ARN_PREFIXES": MACHINE.rsplit(":", 1)[0] + ":lakehouse-mvp-sandbox-",
            "SCOPE_WORKGROUPS": WG,
            "PIPELINE_WORKGROUP": WG,
        }
    )


def denied(code: str, operation: str = "GetLogEvents") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, operation)


# ------------------------------------------------------------------------------------------------ shared
def test_untrusted_text_becomes_one_line_with_quoted_literals_masked() -> None:
    text = "ERROR at row 3\r\nWATCHDOGS: resolved\x1b[0m where card = '4111-1111' and name = 'O''Brien'"
    assert "\n" not in one_line(text)
    assert "\x1b" not in one_line(text)
    assert one_line(text, mask=True).endswith("where card = '?' and name = '?'")


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (denied("AccessDeniedException"), "access denied (GetLogEvents): AccessDeniedException"),
        (denied("ThrottlingException"), "throttled (GetLogEvents): ThrottlingException"),
        (denied("InvalidRequestException", "StartQueryExecution"), "InvalidRequestException (StartQueryExecution)"),
        (ValueError("bad\nline"), "ValueError: bad line"),
    ],
)
def test_a_failure_to_gather_says_why_in_a_few_words(error: Exception, why: str) -> None:
    assert why_unavailable(error) == why


def test_attempt_records_any_failure_as_unavailable_and_never_raises() -> None:
    def broken() -> list[str]:
        raise denied("AccessDeniedException")

    item = attempt("crawler-log", "Log", "logs:x", broken, TimeBox(5), NOW)
    assert (item.unavailable, item.lines, item.at) == (
        "access denied (GetLogEvents): AccessDeniedException",
        [],
        "2026-11-25T10:00:00.000Z",
    )


def test_an_expired_time_box_reads_nothing() -> None:
    calls: list[str] = []
    ticks = iter([0.0, 10.0])
    box = TimeBox(5, clock=lambda: next(ticks))  # made at 0, checked at 10
    item = attempt("failing-tests", "Tests", "athena:wg", lambda: calls.append("read") or [], box)
    assert item.unavailable == "time box exceeded before failing-tests"
    assert calls == []


def test_gathered_lines_are_flattened_and_capped() -> None:
    item = attempt("k", "t", "s", lambda: [f"line {i}\nforged" for i in range(30)], TimeBox(5), NOW)
    assert len(item.lines) == 10
    assert item.lines[0] == "line 0 forged"


# ------------------------------------------------------------------------------------------------ crawler
def test_the_crawler_log_keeps_its_last_error_lines_or_else_its_last_lines() -> None:
    log = ["INFO start", "ERROR first", "INFO middle", "Exception: second", "INFO end"]
    assert error_lines(log) == ["ERROR first", "Exception: second"]
    assert error_lines(log, keep=1) == ["Exception: second"]
    assert error_lines(["a", "b", "c", "d"]) == ["b", "c", "d"]


# ------------------------------------------------------------------------------------------------ query
def test_scan_limit_compares_data_scanned_with_the_workgroup_cutoff_and_lists_the_steps_that_apply() -> None:
    facts = QueryFacts(data_scanned_bytes=21 * GB, workgroup_bytes_scanned_cutoff=20 * GB, ran_for="4m 10s")
    lines = scan_limit(facts, "bytes-scanned-cutoff")
    assert lines[:3] == [
        "Failure class: bytes-scanned-cutoff",
        "Data scanned: 21.0 GB against the workgroup's BytesScannedCutoffPerQuery of 20.0 GB (105% of the limit)",
        "Ran for: 4m 10s",
    ]
    assert lines[3].startswith("Step: Add partition filters to reduce data scanned")
    assert len(lines) == 7
    no_cutoff = scan_limit(QueryFacts(data_scanned_bytes=GB), "query-timeout")
    assert no_cutoff[1] == "Data scanned: 1.0 GB; the workgroup sets no BytesScannedCutoffPerQuery"


@pytest.mark.parametrize(
    ("error", "kinds"),
    [
        ({"error_category": 1, "error_type": 206, "error_message": "Query timeout"}, ["scan-limit"]),
        ({"error_category": 2, "error_type": 1000, "error_message": "Column 'x' cannot be resolved"}, []),
        ({}, []),
    ],
)
def test_query_evidence_only_for_the_athena_query_timeout_family(error: dict[str, Any], kinds: list[str]) -> None:
    items = query_evidence(Condition.FAILED, {"data_scanned_bytes": GB, **error}, f"athena:{QID}", TimeBox(5))
    assert [i.kind for i in items] == kinds


# ------------------------------------------------------------------------------------------------ execution
def test_stuck_lines_name_the_state_the_wait_and_the_history() -> None:
    facts = {
        "current_state": "WaitForDbtStaging",
        "current_state_type": "Wait",
        "running_seconds": 7500,
        "task_resource": "athena:getQueryExecution",
        "waits_on": "athena",
        "wait_workgroup": WG,
        "_history_excerpt": ["10:00:01 WaitStateEntered WaitForDbtStaging"],
    }
    assert stuck_lines(facts) == [
        "Stuck in WaitForDbtStaging (Wait) for 2h 05m",
        "Newest task: athena:getQueryExecution",
        f"Waits on: athena {WG}",
        "History, newest first:",
        "  10:00:01 WaitStateEntered WaitForDbtStaging",
    ]


def test_history_events_become_short_lines() -> None:
    at = NOW.replace(second=7)
    assert excerpt_line({"type": "TaskStateEntered", "timestamp": at, "stateEnteredEventDetails": {"name": "Run"}}) == (
        "10:00:07 TaskStateEntered Run"
    )
    scheduled = {"resourceType": "aws-sdk:athena", "resource": "getQueryExecution", "parameters": "{}"}
    assert excerpt_line({"type": "TaskScheduled", "taskScheduledEventDetails": scheduled}) == (
        "TaskScheduled aws-sdk:athena:getQueryExecution"
    )
    assert excerpt_line({"type": "ExecutionFailed", "executionFailedEventDetails": {"error": "Dbt.TestsFailed"}}) == (
        "ExecutionFailed Dbt.TestsFailed"
    )


def test_elementary_rows_are_listed_as_test_table_column_failures() -> None:
    def row(*values: str) -> dict[str, Any]:
        return {"Data": [{"VarCharValue": v} for v in values]}

    rows = [row("test_name", "table_name", "column_name", "failures"), row("nn_id", "fct", "", "4")]
    assert _test_rows(rows, "q1") == [
        "1 failing test(s), newest first (query q1):",
        "test nn_id, table fct, column -, failures 4",
    ]
    assert _test_rows([row("test_name", "table_name")], "q2") == [
        "No failing test recorded in elementary_test_results (query q2)"
    ]


# ------------------------------------------------------------------------------------------------ owner run
class FakeSfn:
    """Answers ListStateMachines / ListExecutions / GetExecutionHistory from a script; records the calls."""

    def __init__(self, runs: dict[str, list[dict[str, Any]]], *, fail: ClientError | None = None) -> None:
        self.runs, self.fail, self.calls = runs, fail, []

    def list_state_machines(self, **_: Any) -> dict[str, Any]:
        self.calls.append("ListStateMachines")
        if self.fail is not None:
            raise self.fail
        other = MACHINE.replace("lakehouse-mvp-sandbox", "otherteam")
        return {"stateMachines": [{"stateMachineArn": MACHINE}, {"stateMachineArn": other}]}

    def list_executions(self, stateMachineArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(f"ListExecutions {stateMachineArn.rsplit(':', 1)[-1]}")
        base = MACHINE.replace(":stateMachine:", ":execution:")
        started = NOW - timedelta(minutes=10)
        return {"executions": [{"executionArn": f"{base}:{name}", "startDate": started} for name in self.runs]}

    def get_execution_history(self, executionArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803 - boto3's name
        self.calls.append(f"GetExecutionHistory {executionArn.rsplit(':', 1)[-1]}")
        return {"events": self.runs[executionArn.rsplit(":", 1)[-1]]}


class Clients:
    def __init__(self, sfn: FakeSfn) -> None:
        self.sfn = sfn


def polling(query_id: str) -> list[dict[str, Any]]:
    """The newest history of a run polling ``query_id`` in its dbt tests step (newest first)."""
    params = json.dumps({"QueryExecutionId": query_id})
    scheduled = {"resourceType": "aws-sdk:athena", "resource": "getQueryExecution", "parameters": params}
    return [
        {"type": "TaskScheduled", "taskScheduledEventDetails": scheduled},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "CheckDbtTests"}},
    ]


def in_lambda_step() -> list[dict[str, Any]]:
    """A run whose dbt tests Lambda is still running: the history names no query."""
    scheduled = {"resourceType": "lambda", "resource": "invoke", "parameters": json.dumps({"FunctionName": "dbt"})}
    return [
        {"type": "TaskScheduled", "taskScheduledEventDetails": scheduled},
        {"type": "TaskStateEntered", "stateEnteredEventDetails": {"name": "RunDbtTests"}},
    ]


def test_the_run_whose_history_names_the_query_owns_it() -> None:
    sfn = FakeSfn({"run-a": in_lambda_step(), "run-b": polling(QID)})
    owner = owner_run(Clients(sfn), settings(), QID, WG, NOW)  # type: ignore[arg-type]
    assert owner == {"pipeline_run": f"{MACHINE.replace('stateMachine', 'execution')}:run-b",
                     "pipeline_step": "CheckDbtTests", "pipeline_match": "id"}  # fmt: skip
    # only in-scope state machines are listed
    assert "ListExecutions otherteam-data-pipeline" not in sfn.calls


def test_a_single_run_in_an_athena_step_of_the_workgroup_owns_it_two_are_a_doubt() -> None:
    one = owner_run(Clients(FakeSfn({"run-a": in_lambda_step()})), settings(), QID, WG, NOW)  # type: ignore[arg-type]
    assert one is not None
    assert (one["pipeline_step"], one["pipeline_match"]) == ("RunDbtTests", "step")
    two = FakeSfn({"run-a": in_lambda_step(), "run-b": in_lambda_step()})
    assert owner_run(Clients(two), settings(), QID, WG, NOW) is None  # type: ignore[arg-type]


def test_runs_started_after_the_query_and_unreadable_histories_own_nothing() -> None:
    early = NOW - timedelta(hours=1)  # the query was submitted before either run started
    assert owner_run(Clients(FakeSfn({"run-b": polling(QID)})), settings(), QID, WG, early) is None  # type: ignore[arg-type]
    broken = FakeSfn({"run-b": polling(QID)}, fail=denied("AccessDeniedException", "ListStateMachines"))
    assert owner_run(Clients(broken), settings(), QID, WG, NOW) is None  # type: ignore[arg-type]


class FakeAthena:
    """Answers the Elementary query: started, SUCCEEDED on the first poll, one failing test; or refuses to start."""

    def __init__(self, refuse: ClientError | None = None) -> None:
        self.refuse, self.calls = refuse, []

    def start_query_execution(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("StartQueryExecution", request["WorkGroup"]))
        if self.refuse is not None:
            raise self.refuse
        return {"QueryExecutionId": "q-elementary"}

    def get_query_execution(self, **_: Any) -> dict[str, Any]:
        self.calls.append(("GetQueryExecution", ""))
        return {"QueryExecution": {"Status": {"State": "SUCCEEDED"}}}

    def get_query_results(self, **_: Any) -> dict[str, Any]:
        self.calls.append(("GetQueryResults", ""))
        cells = ["nn_id", "fct_events", "event_id", "2"]
        return {"ResultSet": {"Rows": [{"Data": [{"VarCharValue": v} for v in cells]}]}}


class AthenaClients:
    def __init__(self, athena: FakeAthena) -> None:
        self.athena = athena


FOUND = [
    "1 failing test(s), newest first (query q-elementary):",
    "test nn_id, table fct_events, column event_id, failures 2",
]
REFUSED = denied("AccessDeniedException", "StartQueryExecution")


@pytest.mark.parametrize(
    ("refuse", "unavailable", "lines"),
    [(None, None, FOUND), (REFUSED, "access denied (StartQueryExecution): AccessDeniedException", [])],
)
def test_a_dbt_lambda_run_that_names_no_query_still_gets_its_failing_tests(
    refuse: ClientError | None, unavailable: str | None, lines: list[str]
) -> None:
    from watchdogs.runbooks.execution.evidence import gather

    # Given a run failed in its data-quality step whose history names no query (the dbt Lambda returned none)
    athena = FakeAthena(refuse)
    facts = {"waits_on": "athena", "data_quality": True, "failed_state": "RunDbtTests", "history_workgroup": WG}
    # When its evidence is gathered
    items = gather(AthenaClients(athena), settings(), Condition.FAILED, facts, TimeBox(5))  # type: ignore[arg-type]
    # Then only the failing tests, from the Elementary query in the pipeline workgroup (or why not)
    assert [(i.kind, i.unavailable, i.lines) for i in items] == [("failing-tests", unavailable, lines)]
    assert athena.calls[0] == ("StartQueryExecution", WG)
