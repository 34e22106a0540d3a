"""Put the emulator's resources into the state a sample event describes (in-process: moto's own objects).

A sample in ``events/`` names a crawler, a query or an execution; the event alone means nothing if the emulator
has no such resource (the watchdogs re-read everything before deciding). Each seed step below creates or moves one
resource, by the name the sample's event carries, into the state the sample describes: the crawl that failed with
the event's error, the query with the event's id and Athena error, the pipeline execution with the event's name
and a real history (the runbook's pipeline really runs in moto's Step Functions simulation and fails or is
stopped where the sample says).

Steps are named in ``events/expected/index.json`` (``"seed"``); :data:`STEPS` maps each name to its function.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from watchdogs_local.emulator import ACCOUNT, REGION

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdogs_local.emulator import Emulator

#: stuck thresholds of the deployed stack are the template's defaults; seeds backdate past them
CRAWLER_STUCK_FOR = 3000  # > CRAWLER_STUCK_SECONDS 2700
QUERY_STUCK_FOR = 1600  # > QUERY_STUCK_SECONDS 1500
BYTES_SCANNED_CUTOFF = 10 * 1024**3


class SeedError(RuntimeError):
    """A seed step could not put the resource into the state the sample describes."""


# ------------------------------------------------------------------------------------------------ glue
def _crawler_name(event: dict[str, Any]) -> str:
    return str(event["detail"]["crawlerName"])


def crawl_failed(emulator: Emulator, event: dict[str, Any]) -> None:
    """The crawler's last crawl FAILED with the event's ``errorMessage`` (what ``GetCrawler`` then reports)."""
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    set_crawl(_crawler_name(event), "FAILED", error_message=str(event["detail"].get("errorMessage", "")))


def crawl_succeeded(emulator: Emulator, event: dict[str, Any]) -> None:
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    set_crawl(_crawler_name(event), "SUCCEEDED")


def crawl_stuck(emulator: Emulator, event: dict[str, Any]) -> None:
    """The raw crawler has been RUNNING for longer than the stuck threshold (moto's crawls never finish alone)."""
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    set_crawl("lakehouse-sandbox-raw-crawler", "RUNNING", running_for_seconds=CRAWLER_STUCK_FOR)


def crawler_expects_new_data(emulator: Emulator, event: dict[str, Any]) -> None:
    """Tag the crawler ``watchdogs:expect-new-data=true``: a crawl that changed nothing is then a warning."""
    arn = f"arn:aws:glue:{REGION}:{ACCOUNT}:crawler/{_crawler_name(event)}"
    emulator.client("glue").tag_resource(ResourceArn=arn, TagsToAdd={"watchdogs:expect-new-data": "true"})


# ------------------------------------------------------------------------------------------------ athena
def _query(event: dict[str, Any]) -> tuple[str, str]:
    return str(event["detail"]["queryExecutionId"]), str(event["detail"]["workgroupName"])


def query_with_event_id(emulator: Emulator, event: dict[str, Any]) -> None:
    """A query with the event's id in the event's workgroup (moto picks ids itself: re-keyed in place)."""
    from moto.athena.models import athena_backends  # noqa: PLC0415

    query_id, workgroup = _query(event)
    backend = athena_backends[ACCOUNT][REGION]
    if query_id in backend.executions:
        return
    started = emulator.client("athena").start_query_execution(
        QueryString="-- dbt marts (Iceberg)\nSELECT * FROM curated.fct_events", WorkGroup=workgroup
    )["QueryExecutionId"]
    execution = backend.executions.pop(started)
    execution.id = query_id
    location = (execution.config or {}).get("OutputLocation")
    if location:
        execution.config["OutputLocation"] = location.replace(started, query_id)
    backend.executions[query_id] = execution


def query_failed(emulator: Emulator, event: dict[str, Any]) -> None:
    """The query FAILED with the event's ``athenaError`` (category, type, message, retryable)."""
    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    query_with_event_id(emulator, event)
    error = event["detail"].get("athenaError") or {}
    set_query_execution(
        _query(event)[0],
        state="FAILED",
        submitted_seconds_ago=240,
        data_scanned_bytes=3 * 1024**3,
        error_category=int(error["errorCategory"]) if "errorCategory" in error else None,
        error_type=int(error["errorType"]) if "errorType" in error else None,
        error_message=error.get("errorMessage"),
        retryable=error.get("retryable"),
    )


def query_requeued(emulator: Emulator, event: dict[str, Any]) -> None:
    """Athena re-queued the failed query (FAILED -> QUEUED), then it ran again."""
    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    set_query_execution(_query(event)[0], state="QUEUED")


def query_succeeded(emulator: Emulator, event: dict[str, Any]) -> None:
    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    query_with_event_id(emulator, event)
    set_query_execution(_query(event)[0], state="SUCCEEDED")


def query_stuck(emulator: Emulator, event: dict[str, Any]) -> None:
    """The query has been RUNNING for longer than the stuck threshold."""
    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    query_with_event_id(emulator, event)
    set_query_execution(_query(event)[0], state="RUNNING", submitted_seconds_ago=QUERY_STUCK_FOR)


def query_cancelled_by_cutoff(emulator: Emulator, event: dict[str, Any]) -> None:
    """Athena cancelled the query: it reached the workgroup's ``BytesScannedCutoffPerQuery`` (set here)."""
    from moto.athena.models import athena_backends  # noqa: PLC0415

    from watchdogs_local.moto_ext.athena import set_query_execution  # noqa: PLC0415

    query_id, workgroup = _query(event)
    athena_backends[ACCOUNT][REGION].work_groups[workgroup].configuration["BytesScannedCutoffPerQuery"] = (
        BYTES_SCANNED_CUTOFF
    )
    query_with_event_id(emulator, event)
    set_query_execution(
        query_id,
        state="CANCELLED",
        submitted_seconds_ago=600,
        data_scanned_bytes=BYTES_SCANNED_CUTOFF,
        state_change_reason="Query cancelled: the query exceeded the bytes scanned limit (BytesScannedCutoffPerQuery)",
    )


# ------------------------------------------------------------------------------------------------ step functions
def _execution_name(event: dict[str, Any]) -> str:
    return str(event["detail"]["name"])


def _state_machine(event: dict[str, Any]) -> str:
    return str(event["detail"]["stateMachineArn"])


def _start_run(emulator: Emulator, event: dict[str, Any]) -> str:
    name = _execution_name(event)
    return str(
        emulator.client("stepfunctions").start_execution(
            stateMachineArn=_state_machine(event),
            name=name,
            input=json.dumps({"Execution": {"StartTime": "2026-02-24T10:00:00Z", "Id": name}}),
        )["executionArn"]
    )


def wait_for_status(emulator: Emulator, arn: str, statuses: set[str], timeout: float = 30) -> dict[str, Any]:
    sfn = emulator.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        described: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if described["status"] in statuses:
            return described
        if time.monotonic() > deadline:
            raise SeedError(f"execution {arn} is {described['status']}, not {sorted(statuses)} after {timeout:g} s")
        time.sleep(0.2)


def throttle_raw_crawler(emulator: Emulator, event: dict[str, Any]) -> None:
    """The raw crawler's next StartCrawler call is throttled, as Glue does under load (adds up when repeated)."""
    from moto.glue.exceptions import GlueClientError  # noqa: PLC0415

    from watchdogs_local.moto_ext.glue import get_crawler_model  # noqa: PLC0415

    crawler = get_crawler_model("lakehouse-sandbox-raw-crawler")
    crawler._throttled = getattr(crawler, "_throttled", 0) + 1
    cls_start = type(crawler).start_crawler

    def start() -> None:
        if crawler._throttled > 0:
            crawler._throttled -= 1
            raise GlueClientError("ThrottlingException", "Rate exceeded")
        cls_start(crawler)

    crawler.start_crawler = start


def run_failed(emulator: Emulator, event: dict[str, Any]) -> None:
    """The pipeline run is started and fails (in StartRawCrawler when its StartCrawler is throttled)."""
    wait_for_status(emulator, _start_run(emulator, event), {"FAILED"})


def run_failed_again(emulator: Emulator, event: dict[str, Any]) -> None:
    """Wait until the redriven run has failed again."""
    arn = str(event["detail"]["executionArn"])
    sfn = emulator.client("stepfunctions")
    deadline = time.monotonic() + 30
    while sfn.describe_execution(executionArn=arn).get("redriveCount", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    wait_for_status(emulator, arn, {"FAILED"})


def run_completes(emulator: Emulator, event: dict[str, Any]) -> None:
    """The (redriven) run finishes: crawls and queries move on by themselves until it SUCCEEDED."""
    from watchdogs_local import faults  # noqa: PLC0415

    faults.compress_clock(crawl_seconds=0.5, query_step_seconds=0.2)
    try:
        wait_for_status(emulator, str(event["detail"]["executionArn"]), {"SUCCEEDED"}, timeout=60)
    finally:
        faults.restore_clock()
        hold_queries()


def hold_queries() -> None:
    """Queries stay in the state a seed put them in (moto would move each on at every read)."""
    from moto.moto_api import state_manager  # noqa: PLC0415

    state_manager.set_transition("athena::execution", {"progression": "manual", "times": 10**9})


def release_queries() -> None:
    from moto.moto_api import state_manager  # noqa: PLC0415

    state_manager.unset_transition("athena::execution")


def _running_run(emulator: Emulator, event: dict[str, Any]) -> Any:
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends  # noqa: PLC0415

    arn = _start_run(emulator, event)
    wait_for_status(emulator, arn, {"RUNNING"})
    execution = stepfunctions_parser_backends[ACCOUNT][REGION].describe_execution(arn)
    sfn = emulator.client("stepfunctions")
    deadline = time.monotonic() + 30
    while not _entered(sfn, arn, "WaitForRawCrawler") or getattr(_worker(execution), "env", None) is None:
        if time.monotonic() > deadline:  # a loaded machine can take a while to start the simulation
            raise SeedError(f"execution {arn} did not reach WaitForRawCrawler within 30 s")
        time.sleep(0.2)
    return execution, arn


def _worker(execution: Any) -> Any:
    return getattr(execution, "exec_worker", None)


def _entered(sfn: Any, arn: str, state: str) -> bool:
    events = sfn.get_execution_history(executionArn=arn, reverseOrder=True, maxResults=100)["events"]
    return any(e.get("stateEnteredEventDetails", {}).get("name") == state for e in events)


def run_stopped_by_operator(emulator: Emulator, event: dict[str, Any]) -> None:
    """Someone ran ``aws stepfunctions stop-execution`` on the run (no error, no cause)."""
    _execution, arn = _running_run(emulator, event)
    emulator.client("stepfunctions").stop_execution(executionArn=arn)


def run_stopped_by_watchdog(emulator: Emulator, event: dict[str, Any]) -> None:
    """The run was force-stopped with the watchdog's marker error (runbook step 3, the last resort)."""
    from watchdogs.actions import STOP_ERROR  # noqa: PLC0415

    _execution, arn = _running_run(emulator, event)
    emulator.client("stepfunctions").stop_execution(
        executionArn=arn, error=STOP_ERROR, cause="stuck in WaitForRawCrawler past the threshold"
    )


def run_timed_out(emulator: Emulator, event: dict[str, Any]) -> None:
    """The run hit its ``TimeoutSeconds`` while waiting on the raw crawler (``States.Timeout``)."""
    from moto.stepfunctions.parser.api import ExecutionStatus  # noqa: PLC0415

    from watchdogs_local.moto_ext.stepfunctions import _stop  # noqa: PLC0415

    execution, arn = _running_run(emulator, event)
    _stop(execution, "States.Timeout", "The execution timed out waiting in WaitForRawCrawler")
    wait_for_status(emulator, arn, {"ABORTED"})
    time.sleep(0.5)  # the simulation's worker has reflected its stop
    execution.exec_status = ExecutionStatus.TIMED_OUT
    wait_for_status(emulator, arn, {"TIMED_OUT"})


STEPS: dict[str, Callable[[Emulator, dict[str, Any]], None]] = {
    "crawl-failed": crawl_failed,
    "crawl-succeeded": crawl_succeeded,
    "crawl-stuck": crawl_stuck,
    "crawler-expects-new-data": crawler_expects_new_data,
    "query-failed": query_failed,
    "query-requeued": query_requeued,
    "query-succeeded": query_succeeded,
    "query-stuck": query_stuck,
    "query-cancelled-by-cutoff": query_cancelled_by_cutoff,
    "throttle-raw-crawler": throttle_raw_crawler,
    "run-failed": run_failed,
    "run-failed-again": run_failed_again,
    "run-completes": run_completes,
    "run-stopped-by-operator": run_stopped_by_operator,
    "run-stopped-by-watchdog": run_stopped_by_watchdog,
    "run-timed-out": run_timed_out,
}
