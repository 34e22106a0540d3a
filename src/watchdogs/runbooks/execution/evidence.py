"""Evidence for a pipeline run, the way the runbook tells a person to look:

* stuck (*Pipeline Stuck in RUNNING State > Diagnosis*): the state it is stuck in, for how long, what it waits on,
  and an excerpt of the newest history page the decision already read (no further call);
* failed in an Athena step (one root cause, one alert): the query the failing step recorded in the run's history
  (``history_query_execution_id``, from the dbt task's parameters or output), re-read with ``GetQueryExecution``:
  its state, failure class, Athena's message (literals masked) and, for a timeout or cutoff, data scanned against
  the workgroup's limit. The query watchdog leaves pipeline-workgroup failures to this incident;
* failed in the dbt tests step (*Elementary & Data Quality > Investigate Failed Tests*): the runbook's "find failing
  tests" query, run in the pipeline workgroup in the database of the step's own query, ``LIMIT`` ed, polled within
  the time box, its rows listed as test, table, column, failures.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition
from watchdogs.runbooks.evidence import EvidenceUnavailableError, TimeBox, attempt, one_line
from watchdogs.runbooks.query.evidence import failure_of, scan_limit
from watchdogs.runbooks.query.facts import QueryFacts
from watchdogs.runbooks.query.failures import classify_facts
from watchdogs.shared.humanize import human_duration

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Evidence
    from watchdogs.settings import Settings

#: failing tests listed (the query's LIMIT; Athena bills the data scanned, which the workgroup's cutoff bounds)
FAILING_TESTS_LIMIT = 20
FAILING_TESTS_SQL = (
    "SELECT test_name, table_name, column_name, failures, detected_at FROM elementary_test_results "
    "WHERE status = 'fail' ORDER BY detected_at DESC LIMIT {limit}"
)
POLL_SECONDS = 0.5


def stuck_lines(facts: dict[str, Any]) -> list[str]:
    """Where the run is stuck, for how long, what on, and the newest history events (pure)."""
    state = facts.get("current_state") or "an unknown state"
    kind = f" ({facts['current_state_type']})" if facts.get("current_state_type") else ""
    lines = [f"Stuck in {state}{kind} for {human_duration(facts.get('running_seconds'))}"]
    if facts.get("task_resource"):
        lines.append(f"Newest task: {facts['task_resource']}")
    on = facts.get("wait_crawler") or facts.get("wait_workgroup")
    if facts.get("waits_on") and facts.get("waits_on") != "nothing":
        lines.append(f"Waits on: {facts['waits_on']}{f' {on}' if on else ''}")
    excerpt = facts.get("_history_excerpt") or []
    if excerpt:
        lines.append("History, newest first:")
        lines += [f"  {entry}" for entry in excerpt]
    return lines


def step_query(
    clients: AwsClients, query_id: str, step: str, box: TimeBox, *, data_quality: bool = False
) -> tuple[list[str], QueryFacts]:
    """The failing step's query as Athena reports it (one GetQueryExecution; GetWorkGroup for a timeout). In the
    data-quality step a failed tests query *is* the failing tests, so Athena's own class (a user error) is left out:
    it would contradict the run's classification."""
    from datetime import UTC, datetime  # noqa: PLC0415

    box.check("GetQueryExecution")
    execution = clients.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    read = QueryFacts.from_execution(dict(execution), datetime.now(UTC))
    failure = classify_facts(read)
    lines = [f"Step {step} ran Athena query {query_id} in workgroup {read.workgroup or '?'}: {read.state or '?'}"]
    if not data_quality:
        lines.append(f"Failure class: {failure.name if failure else 'none reported'}")
    if read.error_message or read.state_change_reason:
        lines.append(f"Athena error: {one_line(read.error_message or read.state_change_reason, mask=True)}")
    if failure_of(read) and read.workgroup:
        box.check("GetWorkGroup")
        config = clients.athena.get_work_group(WorkGroup=read.workgroup)["WorkGroup"].get("Configuration", {})
        limits = {"workgroup_bytes_scanned_cutoff": config.get("BytesScannedCutoffPerQuery")}
        read = read.model_copy(update=limits)
        lines += scan_limit(read, str(failure_of(read)))[1:]
    return lines, read


def failing_tests(clients: AwsClients, workgroup: str, database: str | None, box: TimeBox) -> list[str]:
    """The runbook's "find failing tests" query: started, polled within the time box, its rows listed."""
    if not workgroup:
        raise EvidenceUnavailableError("no pipeline workgroup configured (PIPELINE_WORKGROUP)")
    box.check("StartQueryExecution")
    request: dict[str, Any] = {
        "QueryString": FAILING_TESTS_SQL.format(limit=FAILING_TESTS_LIMIT),
        "WorkGroup": workgroup,
    }
    if database:
        request["QueryExecutionContext"] = {"Database": database}
    query_id = str(clients.athena.start_query_execution(**request)["QueryExecutionId"])
    while True:
        status = clients.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] == "SUCCEEDED":
            break
        if status["State"] in {"FAILED", "CANCELLED"}:
            reason = one_line(status.get("StateChangeReason") or status["State"], mask=True)[:300]
            raise EvidenceUnavailableError(f"the Elementary query {query_id} ended {status['State']}: {reason}")
        if box.remaining() < POLL_SECONDS:
            raise EvidenceUnavailableError(
                f"time box exceeded: the Elementary query {query_id} is still {status['State']}"
            )
        time.sleep(POLL_SECONDS)
    box.check("GetQueryResults")
    rows = clients.athena.get_query_results(QueryExecutionId=query_id, MaxResults=FAILING_TESTS_LIMIT + 1)
    return _test_rows(rows.get("ResultSet", {}).get("Rows", []), query_id)


def _test_rows(rows: list[Any], query_id: str) -> list[str]:
    values = [[str(c.get("VarCharValue", "")) for c in row.get("Data", [])] for row in rows]
    if values and values[0][:1] == ["test_name"]:
        values = values[1:]  # Athena returns the header as the first row
    if not values:
        return [f"No failing test recorded in elementary_test_results (query {query_id})"]
    lines = [f"{len(values)} failing test(s), newest first (query {query_id}):"]
    for row in values:
        test, table, column, failures = [*row, "", "", "", ""][:4]
        lines.append(f"test {test}, table {table}, column {column or '-'}, failures {failures}")
    return lines


def gather(
    clients: AwsClients, settings: Settings, condition: Condition, facts: dict[str, Any], box: TimeBox
) -> list[Evidence]:
    """The evidence the runbook asks for about this run (each item may be unavailable, none raises)."""
    if condition is Condition.STUCK:
        title = "Where the run is stuck (runbook: Pipeline Stuck in RUNNING State, Diagnosis)"
        return [attempt("stuck-history", title, "states:GetExecutionHistory", lambda: stuck_lines(facts), box)]
    if condition is not Condition.FAILED or facts.get("waits_on") != "athena":
        return []
    data_quality = bool(facts.get("data_quality"))
    query_id = facts.get("history_query_execution_id")
    # the task state that polled or started the query (the Fail state after it names no query)
    step = str(facts.get("task_state") or facts.get("failed_state") or facts.get("current_state") or "?")
    found: dict[str, QueryFacts] = {}

    def read_step() -> list[str]:
        lines, found["query"] = step_query(clients, str(query_id), step, box, data_quality=data_quality)
        return lines

    items: list[Evidence] = []
    if query_id:  # a dbt Lambda's run may not name its query: then only the failing tests
        title = f"The failing step's Athena query ({step})"
        items.append(attempt("step-query", title, f"athena:{query_id}", read_step, box))
    if data_quality:
        workgroup = settings.pipeline_workgroup or str(facts.get("history_workgroup") or "")
        database = found["query"].database if "query" in found else None
        title = "Failing dbt tests (runbook: Elementary & Data Quality, find failing tests)"
        items.append(
            attempt(
                "failing-tests",
                title,
                f"athena:{workgroup}",
                lambda: failing_tests(clients, workgroup, database, box),
                box,
            )
        )
    return items
