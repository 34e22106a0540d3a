"""The registry of remediation actions: the only code that changes AWS resources.

Every action declares the IAM actions it uses (and the kind of resource they are scoped to); a meta-test checks
that ``template.yaml`` grants each function exactly what its actions and reads declare, scoped to resources.
"Already stopped / already running" answers are outcomes, not errors.
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


ACTIONS: dict[str, Action] = {}


def action(
    name: str, *, iam: tuple[str, ...], resource_kind: str
) -> Callable[
    [Callable[[AwsClients, dict[str, Any]], ActionResult]], Callable[[AwsClients, dict[str, Any]], ActionResult]
]:
    def register(
        func: Callable[[AwsClients, dict[str, Any]], ActionResult],
    ) -> Callable[[AwsClients, dict[str, Any]], ActionResult]:
        ACTIONS[name] = Action(
            name=name, iam_actions=iam, resource_kind=resource_kind, run=func, doc=func.__doc__ or ""
        )
        return func

    return register


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


@action("stop_crawler", iam=("glue:StopCrawler",), resource_kind="crawler")
def stop_crawler(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Reset crawler if stuck", step 1: ``aws glue stop-crawler --name <crawler>``."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.glue.stop_crawler(Name=params["crawler"])
    except ClientError as exc:
        if _code(exc) == "CrawlerNotRunningException":
            return ActionResult("already-stopped", "crawler was not running", changed=False)
        if _code(exc) == "CrawlerStoppingException":
            return ActionResult("already-stopping", "crawler was already stopping", changed=False)
        raise ActionError(f"StopCrawler {params['crawler']}: {exc}") from exc
    return ActionResult("stopping", "StopCrawler accepted")


@action("start_crawler", iam=("glue:StartCrawler",), resource_kind="crawler")
def start_crawler(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Reset crawler if stuck", step 2: wait for READY, then ``aws glue start-crawler``."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.glue.start_crawler(Name=params["crawler"])
    except ClientError as exc:
        if _code(exc) == "CrawlerRunningException":
            return ActionResult("already-running", "crawler was already running", changed=False)
        raise ActionError(f"StartCrawler {params['crawler']}: {exc}") from exc
    return ActionResult("started", "StartCrawler accepted")


@action("stop_query", iam=("athena:StopQueryExecution",), resource_kind="workgroup")
def stop_query(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Pipeline Stuck in RUNNING State" 2: ``aws athena stop-query-execution --query-execution-id``."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.athena.stop_query_execution(QueryExecutionId=params["query_execution_id"])
    except ClientError as exc:
        raise ActionError(f"StopQueryExecution {params['query_execution_id']}: {exc}") from exc
    return ActionResult("cancelled", "StopQueryExecution accepted")


@action("stop_execution", iam=("states:StopExecution",), resource_kind="execution")
def stop_execution(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "Pipeline Stuck in RUNNING State" 3 (last resort): ``aws stepfunctions stop-execution``.

    The ``error``/``cause`` mark the stop as the watchdogs' own, so the ABORTED event it produces is an echo.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415

    cause = (
        f"{STOP_CAUSE_PREFIX}: {params.get('reason', 'stuck execution')} (incident {params.get('incident_id', '-')})"
    )
    try:
        clients.sfn.stop_execution(executionArn=params["execution_arn"], error=STOP_ERROR, cause=cause[:32768])
    except ClientError as exc:
        if _code(exc) == "ExecutionDoesNotExist":
            return ActionResult("gone", "execution does not exist", changed=False)
        raise ActionError(f"StopExecution {params['execution_arn']}: {exc}") from exc
    return ActionResult("stopped", cause)


@action("redrive_execution", iam=("states:RedriveExecution",), resource_kind="execution")
def redrive_execution(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Retry a transient failure from the failed state (standard workflows, within the redrive window)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        clients.sfn.redrive_execution(executionArn=params["execution_arn"], clientToken=params["client_token"][:64])
    except ClientError as exc:
        if _code(exc) == "ExecutionNotRedrivable":
            return ActionResult("not-redrivable", str(exc), changed=False)
        raise ActionError(f"RedriveExecution {params['execution_arn']}: {exc}") from exc
    return ActionResult("redriven", "RedriveExecution accepted")


@action("reconcile_metadata", iam=("dynamodb:UpdateItem",), resource_kind="metadata-table")
def reconcile_metadata(clients: AwsClients, params: dict[str, Any]) -> ActionResult:
    """Runbook "DynamoDB Metadata Query Issues": a run that died is no longer reported as RUNNING.

    Conditional update: only a row still ``RUNNING`` for this very execution changes, so a row the pipeline
    already finalised is never overwritten and a repeat is a no-op.
    """
    from botocore.exceptions import ClientError  # noqa: PLC0415

    status_attr = params["status_attr"]
    execution_attr = params["execution_attr"]
    try:
        clients.dynamodb.update_item(
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
                ":by": {"S": "lakehouse-watchdogs"},
            },
        )
    except ClientError as exc:
        if _code(exc) == "ConditionalCheckFailedException":
            return ActionResult("already-final", "row no longer RUNNING for this execution", changed=False)
        raise ActionError(f"UpdateItem {params['table']}: {exc}") from exc
    return ActionResult("reconciled", f"{status_attr} RUNNING -> {params['final_status']}")
