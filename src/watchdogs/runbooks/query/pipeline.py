"""One root cause, one alert: does a pipeline run own this failed (or cancelled) query?

Asked only for a query that ended in the pipeline workgroup (``PIPELINE_WORKGROUP``) with nothing open for it. The
answer comes from what the runs expose, their execution history (runbook *Check Pipeline Status*:
``list-executions``, ``get-execution-history --reverse-order``), read for the newest runs of the state machines in
scope that were running when the query was submitted:

* **by id**: the query execution id appears in the newest history page (a dbt step that starts the query itself
  records it in ``startQueryExecution``'s output and in the ``getQueryExecution`` poll's parameters);
* **by step**: the run is (or ended) in a step that waits on Athena in this workgroup (the dbt Lambda still runs, so
  its output with the id is not in the history yet) and it is the only such run.

A run that owns the query reports it on its own incident (:mod:`watchdogs.runbooks.execution.evidence`); the query
watchdog then sends nothing. Any doubt (two candidate runs, a read that fails, no state machine in scope) means no
owner: the query is reported on its own, as before. Bounded: :data:`MAX_RUNS` runs per state machine.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.observability import logger
from watchdogs.runbooks.execution.history import HISTORY_PAGE, WaitsOn, read_history, wait_target

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.settings import Settings

LIST_MACHINES = "states:ListStateMachines"
LIST_EXECUTIONS = "states:ListExecutions"
HISTORY = "states:GetExecutionHistory"
CORRELATION_READS: tuple[str, ...] = (LIST_MACHINES, LIST_EXECUTIONS, HISTORY)
#: newest runs read per state machine (ListExecutions maxResults): a pipeline rarely runs more than a few at once
MAX_RUNS = 5
#: a run that ended this long after the query's completion is not the one it failed
SLACK = timedelta(minutes=15)


def _histories(clients: AwsClients, settings: Settings, submitted: datetime | None) -> list[tuple[str, list[Any]]]:
    """(execution ARN, newest history page) of the newest runs in scope alive when the query was submitted."""
    prefixes = tuple(settings.state_machine_arn_prefixes)
    machines = [
        m["stateMachineArn"]
        for m in clients.sfn.list_state_machines(maxResults=100).get("stateMachines", [])
        if m["stateMachineArn"].startswith(prefixes)
    ]
    pages: list[tuple[str, list[Any]]] = []
    for machine in machines:
        for run in clients.sfn.list_executions(stateMachineArn=machine, maxResults=MAX_RUNS).get("executions", []):
            stopped = run.get("stopDate")
            if submitted is not None and (run["startDate"] > submitted or (stopped and stopped + SLACK < submitted)):
                continue
            arn = run["executionArn"]
            page = clients.sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=HISTORY_PAGE)
            pages.append((arn, [dict(e) for e in page.get("events", [])]))
    return pages


def _names(query_id: str, events: list[dict[str, Any]]) -> bool:
    return any(query_id in json.dumps(event, default=str) for event in events)


def _in_athena_step(events: list[dict[str, Any]], workgroup: str, settings: Settings) -> str | None:
    view = read_history(events)
    state = view.failed_state or view.current_state
    target = wait_target(state, view, settings.state_wait_rules, settings.pipeline_workgroup)
    return state if target.waits_on is WaitsOn.ATHENA and target.workgroup == workgroup else None


def owner_run(
    clients: AwsClients, settings: Settings, query_id: str, workgroup: str, submitted: datetime | None
) -> dict[str, str] | None:
    """``{"pipeline_run": arn, "pipeline_step": state, "pipeline_match": "id"|"step"}`` or ``None`` (no owner, or
    in doubt). Never raises: a failed read means the query is reported on its own."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        pages = _histories(clients, settings, submitted)
    except (BotoCoreError, ClientError) as exc:
        logger.warning("cannot tell which run owns the query: reported on its own", query=query_id, error=str(exc))
        return None
    for arn, events in pages:
        if _names(query_id, events):
            view = read_history(events)
            step = view.task_state or view.failed_state or view.current_state or "?"
            return {"pipeline_run": arn, "pipeline_step": step, "pipeline_match": "id"}
    by_step = [(arn, _in_athena_step(events, workgroup, settings)) for arn, events in pages]
    matched = [(arn, step) for arn, step in by_step if step]
    if len(matched) == 1:
        arn, step = matched[0]
        return {"pipeline_run": arn, "pipeline_step": str(step), "pipeline_match": "step"}
    return None
