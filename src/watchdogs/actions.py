"""The registry of remediation actions: the only code that changes AWS resources.

Every action declares the IAM actions it uses (and the kind of resource they are scoped to); a meta-test checks
that ``template.yaml`` grants each function exactly what its actions and reads declare, scoped to resources.
"Already stopped / already running" answers are outcomes, not errors; every other error is raised as botocore
raised it, for the engine to classify (retry later, outcome unknown, refused).

Each action also declares how to **verify** it: a re-read that says whether its effect is visible. The engine
uses it when a call's outcome is unknown (a timeout, a 5xx) or an earlier invocation died between writing the
intent and recording the outcome: a visible effect is recorded, never repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdogs.clients import AwsClients

#: Marker put into StopExecution's ``error``: how an ABORTED event is recognised as the watchdogs' own echo.
STOP_ERROR = "Watchdogs.StoppedStuckExecution"
STOP_CAUSE_PREFIX = "Stopped by lakehouse-watchdogs"
#: what ``reconcile_metadata`` writes into the row's ``reconciled_by`` (how its verifier recognises its own write)
RECONCILED_BY = "lakehouse-watchdogs"


class ActionError(RuntimeError):
    """An action was refused by AWS for a reason that is not a benign 'already done' answer."""


@dataclass(frozen=True)
class ActionResult:
    outcome: str  # e.g. "stopped", "already-stopped", "started", "cancelled", "redriven", "not-redrivable"
    detail: str = ""
    changed: bool = True  # False: nothing changed (benign 'already' answers)


@dataclass(frozen=True)
class Action:
    name: str
    iam_actions: tuple[str, ...]
    resource_kind: str  # crawler | workgroup | execution | state-machine | metadata-table
    run: Callable[[AwsClients, dict[str, Any]], ActionResult]
    doc: str
    verify: Callable[[AwsClients, dict[str, Any], dict[str, Any]], bool | None] | None = None
    #: repeating the call is harmless (a conditional write, an API with an idempotency token)
    idempotent: bool = False


ACTIONS: dict[str, Action] = {}


def action(
    name: str,
    *,
    iam: tuple[str, ...],
    resource_kind: str,
    verify: Callable[[AwsClients, dict[str, Any], dict[str, Any]], bool | None] | None = None,
    idempotent: bool = False,
) -> Callable[
    [Callable[[AwsClients, dict[str, Any]], ActionResult]], Callable[[AwsClients, dict[str, Any]], ActionResult]
]:
    def register(
        func: Callable[[AwsClients, dict[str, Any]], ActionResult],
    ) -> Callable[[AwsClients, dict[str, Any]], ActionResult]:
        ACTIONS[name] = Action(
            name=name,
            iam_actions=iam,
            resource_kind=resource_kind,
            run=func,
            doc=func.__doc__ or "",
            verify=verify,
            idempotent=idempotent,
        )
        return func

    return register


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


# ------------------------------------------------------------------------------------------------ verifiers
def crawler_stopped(clients: AwsClients, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """StopCrawler is visible once the crawler is STOPPING or READY."""
    state = clients.glue.get_crawler(Name=params["crawler"])["Crawler"].get("State")
    return state in {"STOPPING", "READY"}


def crawler_started(clients: AwsClients, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """StartCrawler is visible once a crawl newer than the one before the intent has started (or is running)."""
    crawler = clients.glue.get_crawler(Name=params["crawler"])["Crawler"]
    if crawler.get("State") in {"RUNNING", "STOPPING"}:
        return True
    started = (crawler.get("LastCrawl") or {}).get("StartTime")
    before = baseline.get("last_crawl_started_at")
    if started is None:
        return False
    from watchdogs.incidents.record import iso  # noqa: PLC0415

    return before is None or iso(started) > str(before)


def query_stopped(clients: AwsClients, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """StopQueryExecution is visible once the query is no longer QUEUED or RUNNING."""
    execution = clients.athena.get_query_execution(QueryExecutionId=params["query_execution_id"])
    return execution["QueryExecution"].get("Status", {}).get("State") not in {"QUEUED", "RUNNING"}


def execution_stopped(clients: AwsClients, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """StopExecution is visible once the run is no longer RUNNING."""
    return clients.sfn.describe_execution(executionArn=params["execution_arn"]).get("status") != "RUNNING"


def execution_redriven(clients: AwsClients, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """RedriveExecution is visible once the run's redrive count grew past the one before the intent."""
    described = clients.sfn.describe_execution(executionArn=params["execution_arn"])
    return int(described.get("redriveCount", 0) or 0) > int(baseline.get("redrive_count", 0) or 0)


def metadata_reconciled(clients: AwsClients, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """The reconciliation is visible once the row shows it: the final status, set by the watchdogs. Read with a
    consistent Query on the row's key (the reconcile policy grants Query and UpdateItem on the table, nothing more)."""
    names = {f"#k{i}": attr for i, attr in enumerate(params["key"])}
    values = {f":k{i}": value for i, value in enumerate(params["key"].values())}
    rows = clients.dynamodb.query(
        TableName=params["table"],
        KeyConditionExpression=" AND ".join(f"{n} = :k{i}" for i, n in enumerate(names)),
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
    ).get("Items", [])
    if not rows:
        return None
    row = rows[0]
    status = row.get(params["status_attr"], {}).get("S")
    return status == params["final_status"] and row.get("reconciled_by", {}).get("S") == RECONCILED_BY


# ------------------------------------------------------------------------------------------------ actions
@action("stop_crawler", iam=("glue:StopCrawler",), resource_kind="crawler", verify=crawler_stopped)
def stop_crawler(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Reset crawler if stuck", step 1: ``aws glue stop-crawler --name <crawler>``."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.acting("glue").stop_crawler(Name=params["crawler"])
    except ClientError as exc:
        if _code(exc) == "CrawlerNotRunningException":
            return ActionResult("already-stopped", "crawler was not running", changed=False)
        if _code(exc) == "CrawlerStoppingException":
            return ActionResult("already-stopping", "crawler was already stopping", changed=False)
        raise
    return ActionResult("stopping", "StopCrawler accepted")


@action("start_crawler", iam=("glue:StartCrawler",), resource_kind="crawler", verify=crawler_started)
def start_crawler(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Reset crawler if stuck", step 2: wait for READY, then ``aws glue start-crawler``."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.acting("glue").start_crawler(Name=params["crawler"])
    except ClientError as exc:
        if _code(exc) == "CrawlerRunningException":
            return ActionResult("already-running", "crawler was already running", changed=False)
        raise
    return ActionResult("started", "StartCrawler accepted")


@action("stop_query", iam=("athena:StopQueryExecution",), resource_kind="workgroup", verify=query_stopped)
def stop_query(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Pipeline Stuck in RUNNING State" 2: ``aws athena stop-query-execution --query-execution-id``."""
    clients.acting("athena").stop_query_execution(QueryExecutionId=params["query_execution_id"])
    return ActionResult("cancelled", "StopQueryExecution accepted")


@action("stop_execution", iam=("states:StopExecution",), resource_kind="execution", verify=execution_stopped)
def stop_execution(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Pipeline Stuck in RUNNING State" 3 (last resort): ``aws stepfunctions stop-execution``.

    The ``error``/``cause`` mark the stop as the watchdogs' own, so the ABORTED event it produces is an echo.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415

    cause = (
        f"{STOP_CAUSE_PREFIX}: {params.get('reason', 'stuck execution')} (incident {params.get('incident_id', '-')})"
    )
    try:
        clients.acting("sfn").stop_execution(
            executionArn=params["execution_arn"], error=STOP_ERROR, cause=cause[:32768]
        )
    except ClientError as exc:
        if _code(exc) == "ExecutionDoesNotExist":
            return ActionResult("gone", "execution does not exist", changed=False)
        raise
    return ActionResult("stopped", cause)


@action(
    "redrive_execution",
    iam=("states:RedriveExecution",),
    resource_kind="execution",
    verify=execution_redriven,
    idempotent=True,
)
def redrive_execution(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Retry a transient failure from the failed state (standard workflows, within the redrive window). The
    ``clientToken`` is the intent's token: a repeat of the same intent is the same redrive for AWS."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.acting("sfn").redrive_execution(
            executionArn=params["execution_arn"], clientToken=params["client_token"][:64]
        )
    except ClientError as exc:
        if _code(exc) == "ExecutionNotRedrivable":
            return ActionResult("not-redrivable", str(exc), changed=False)
        raise
    return ActionResult("redriven", "RedriveExecution accepted")


@action(
    "reconcile_metadata",
    iam=("dynamodb:UpdateItem",),
    resource_kind="metadata-table",
    verify=metadata_reconciled,
    idempotent=True,
)
def reconcile_metadata(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "DynamoDB Metadata Query Issues": a run that died is no longer reported as RUNNING.

    Conditional update: only a row still ``RUNNING`` for this very execution changes, so a row the pipeline
    already finalised is never overwritten and a repeat is a no-op.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415

    status_attr = params["status_attr"]
    execution_attr = params["execution_attr"]
    try:
        clients.acting("dynamodb").update_item(
            TableName=params["table"],
            Key=params["key"],
            UpdateExpression="SET #s = :final, #err = :error, #at = :at, #by = :by",
            ConditionExpression="#s = :running AND #x = :arn",
            ExpressionAttributeNames={
                "#s": status_attr,
                "#x": execution_attr,
                "#err": "error",
                "#at": "reconciled_at",
                "#by": "reconciled_by",
            },
            ExpressionAttributeValues={
                ":final": {"S": params["final_status"]},
                ":running": {"S": "RUNNING"},
                ":arn": {"S": params["execution_arn"]},
                ":error": {"S": params.get("error", "")[:1000] or "-"},
                ":at": {"S": params["at"]},
                ":by": {"S": RECONCILED_BY},
            },
        )
    except ClientError as exc:
        if _code(exc) == "ConditionalCheckFailedException":
            return ActionResult("already-final", "row no longer RUNNING for this execution", changed=False)
        raise
    return ActionResult("reconciled", f"{status_attr} RUNNING -> {params['final_status']}")
