"""Pure runbook rules: failure classification and the decision builders every execution rule shares.

* :func:`classify_failure` -- the runbook's triage of a FAILED / TIMED_OUT / ABORTED run;
* :func:`redrive_refusal` -- why AWS would refuse ``RedriveExecution``;
* :func:`decide_recovered` -- the decision for a SUCCEEDED run;
* :func:`stop_decision`, :func:`reconcile`, :func:`ignore` -- the builders the stuck rules
  (:mod:`~watchdogs.runbooks.execution.stuck`) and the failed-run triage (:mod:`~watchdogs.runbooks.execution.failed`)
  share.

Decisions only: facts in (:class:`~watchdogs.runbooks.execution.facts.ExecutionFacts`), a ``Decision`` out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from watchdogs.actions import STOP_ERROR
from watchdogs.incidents import iso, parse_iso
from watchdogs.models.domain import Decision, IncidentStatus, Outcome, PlannedAction, Severity
from watchdogs.runbooks.execution.facts import ExecutionFacts
from watchdogs.runbooks.execution.history import WaitsOn, WaitTarget
from watchdogs.shared import ACCESS_DENIED_PATTERNS, TRANSIENT_PATTERNS, compile_patterns, is_express_execution

if TYPE_CHECKING:
    from watchdogs.models.domain import Finding

RUNBOOK_STUCK = "Troubleshooting > Pipeline Stuck in RUNNING State"
RUNBOOK_STUCK_CRAWLER = f"{RUNBOOK_STUCK} > 1. If stuck on crawler wait"
RUNBOOK_STUCK_ATHENA = f"{RUNBOOK_STUCK} > 2. If stuck on Athena query"
RUNBOOK_STUCK_STOP = f"{RUNBOOK_STUCK} > 3. Force stop the execution"
RUNBOOK_STATUS = "Pipeline Operations > Check Pipeline Status"
RUNBOOK_TESTS = "Elementary & Data Quality > Investigate Failed Tests"
RUNBOOK_PERMISSIONS = "Troubleshooting > dbt Model Failures > 3. Permission errors"

#: AWS keeps a failed standard execution redrivable for 14 days after it stopped
REDRIVE_WINDOW = timedelta(days=14)
FINAL_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})

#: the AWS-wide denial patterns plus Step Functions' own error names and the credential errors of a task's role
_PERMISSION = compile_patterns(
    ACCESS_DENIED_PATTERNS,
    (
        r"States\.Permissions",
        r"Unauthori[sz]ed",
        r"NotAuthorized",
        r"AuthorizationError",
        r"not authori[sz]ed",
        r"InvalidClientTokenId",
        r"ExpiredToken",
    ),
)
#: the AWS-wide throttling / service-fault patterns plus the errors a task surfaces for them (SDK integrations,
#: Lambda, Glue and DynamoDB conflicts, network)
_TRANSIENT = compile_patterns(
    TRANSIENT_PATTERNS,
    (
        r"ServiceException",
        r"SdkClientException",
        r"AWSLambdaException",
        r"Lambda\.Unknown",
        r"ConcurrentRunsExceeded",
        r"ConcurrentModification",
        r"CrawlerRunningException",
        r"TransactionConflict",
        r"ResourceNotReady",
        r"OperationTimeout",
        r"ConnectionError",
        r"EndpointConnectionError",
    ),
)


# ------------------------------------------------------------------------------------------------ classification
class FailureClass(StrEnum):
    OWN_STOP = "own-stop"  # the ABORTED echo of the watchdog's StopExecution
    PERMISSION = "permission"
    TRANSIENT = "transient"
    FAILED_AFTER_HEAL = "failed-after-heal"
    DATA_QUALITY = "data-quality"
    TIMED_OUT = "timed-out"
    ABORTED = "aborted"
    UNKNOWN = "unknown"


def classify_failure(
    status: str,
    error: str | None,
    cause: str | None,
    target: WaitTarget,
    healed_target: str | None,
) -> FailureClass:
    """Pure: the runbook's triage of an ended run. ``healed_target`` is the key of a heal the watchdog made on this
    run (from its STUCK incident), e.g. ``crawler:lakehouse-sandbox-raw-crawler``."""
    error_text, cause_text = error or "", cause or ""
    if status == "ABORTED":
        return FailureClass.OWN_STOP if error_text == STOP_ERROR else FailureClass.ABORTED
    if _PERMISSION.search(error_text) or _PERMISSION.search(cause_text):
        return FailureClass.PERMISSION
    if _TRANSIENT.search(error_text) or "Rate exceeded" in cause_text:
        return FailureClass.TRANSIENT
    if healed_target is not None and target.waits_on is not WaitsOn.NOTHING and not target.data_quality:
        healed_kind = healed_target.split(":", 1)[0]
        if healed_kind == target.waits_on.value:  # e.g. States.Timeout on the crawler wait after the crawler heal
            return FailureClass.FAILED_AFTER_HEAL
    if target.data_quality:
        return FailureClass.DATA_QUALITY
    if status == "TIMED_OUT" or error_text == "States.Timeout":
        return FailureClass.TIMED_OUT
    return FailureClass.UNKNOWN


def redrive_refusal(execution_arn: str, facts: dict[str, Any] | ExecutionFacts, now: datetime) -> str | None:
    """Pure: why AWS would refuse RedriveExecution (None: it is allowed)."""
    read = facts if isinstance(facts, ExecutionFacts) else ExecutionFacts.from_dict(facts)
    if is_express_execution(execution_arn) or read.state_machine_type == "EXPRESS":
        return "express workflows cannot be redriven"
    if read.redrive_status == "NOT_REDRIVABLE":
        return f"not redrivable: {read.redrive_status_reason or 'AWS says so'}"
    if read.stop_date and now - parse_iso(read.stop_date) > REDRIVE_WINDOW:
        return "stopped more than 14 days ago (outside the redrive window)"
    return None


# ------------------------------------------------------------------------------------------------ builders
def ignore(summary: str, classification: str = "benign") -> Decision:
    return Decision(outcome=Outcome.IGNORE, summary=summary, classification=classification, severity=Severity.INFO)


def name_of(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def reconcile(
    execution_arn: str, facts: ExecutionFacts, final_status: str, error: str, now: datetime
) -> list[PlannedAction]:
    """The metadata reconciliation, when inspect found this run's row still RUNNING."""
    row = facts.metadata_row
    if not row:
        return []
    return [
        PlannedAction(
            name="reconcile_metadata",
            target=f"{row['table']} {row['label']}",
            params={
                "table": row["table"],
                "key": row["key"],
                "status_attr": row["status_attr"],
                "execution_attr": row["execution_attr"],
                "final_status": final_status,
                "execution_arn": execution_arn,
                "error": error,
                "at": iso(now),
            },
        )
    ]


def decide_recovered(finding: Finding) -> Decision:
    """A SUCCEEDED run: closes what is open for the execution (time to recover is recorded by the engine)."""
    redriven = int(finding.facts.get("redrive_count") or 0)
    how = f" after {redriven} redrive(s)" if redriven else ""
    return Decision(
        outcome=Outcome.RESOLVE,
        summary=f"Pipeline execution {name_of(finding.resource_id)} SUCCEEDED{how}.",
        classification="recovered",
        severity=Severity.INFO,
        runbook_section=RUNBOOK_STATUS,
    )


def stop_decision(
    execution_arn: str, facts: ExecutionFacts, reason: str, classification: str, now: datetime
) -> Decision:
    """Runbook step 3, the last resort: ``stop-execution`` with the watchdog's error marker, row set to ABORTED."""
    name = name_of(execution_arn)
    actions = [
        PlannedAction(name="stop_execution", target=name, params={"execution_arn": execution_arn, "reason": reason}),
        *reconcile(execution_arn, facts, "ABORTED", f"{STOP_ERROR}: {reason}", now),
    ]
    return Decision(
        outcome=Outcome.ACT,
        summary=f"Pipeline execution {name} is stuck and cannot be healed: {reason}. Stopping it.",
        classification=classification,
        severity=Severity.HIGH,
        runbook_section=RUNBOOK_STUCK_STOP,
        advice=[
            f"aws stepfunctions get-execution-history --execution-arn {execution_arn} --reverse-order --max-results 5",
            "Start a new run once the cause is fixed (runbook: Manually Trigger a Pipeline Run).",
        ],
        actions=actions,
        status_after=IncidentStatus.REMEDIATED,
        facts={"stop_reason": reason},
    )
