"""Step Functions watchdog: heal stuck pipelines at the cause, triage failed runs, reconcile pipeline metadata.

Automates the runbook's "Pipeline Stuck in RUNNING State" and "DynamoDB Metadata Query Issues":

* **stuck** (RUNNING past its threshold; found by the sweep): read the newest history events
  (``get-execution-history --reverse-order --max-results``), find the state the run is in and what it waits on,
  then heal *the cause*: a crawler wait is handed to the crawler remediation (stop -> READY -> start), Athena work
  to the query remediation (cancel the stuck query); the run then continues by itself. Only when nothing is
  fixable, or it is still stuck after healing had its time, is the execution stopped, with an ``error``/``cause``
  marking the stop as the watchdog's own;
* **failed / timed out / aborted**: failed state, error and cause from DescribeExecution and the history; transient
  errors are redriven (standard workflows, within the 14-day redrive window, within the budget), data-quality
  failures (the dbt tests step) notify the data owners and are never retried, permission errors are escalated,
  anything else is notified; the ABORTED echo of the watchdog's own stop opens nothing;
* **succeeded**: resolves what is open for the execution, with time to recover;
* **metadata**: a run that ended without the pipeline recording it leaves its pipeline-metadata row RUNNING; the row
  is set to the real status by a conditional update (the ``reconcile_metadata`` action), never overwriting a row
  the pipeline finalised itself.

The module is pure runbook functions (:func:`read_history`, :func:`wait_target`, :func:`classify_failure`,
:func:`decide_stuck`, :func:`decide_failed`, ...) and :class:`ExecutionRemediator`, the thin shell that reads AWS.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from watchdogs.actions import STOP_ERROR
from watchdogs.incidents import iso, parse_iso
from watchdogs.models.domain import (
    Condition,
    Decision,
    Finding,
    IncidentStatus,
    Outcome,
    PlannedAction,
    ResourceType,
    Severity,
)
from watchdogs.observability import count, logger
from watchdogs.shared import (
    ACCESS_DENIED_PATTERNS,
    TRANSIENT_PATTERNS,
    compile_patterns,
    is_express_execution,
    is_opted_out,
    state_machine_of,
    tags_from_pairs,
    unqualified_state_machine,
)

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Incident, ResourceState
    from watchdogs.models.events import ExecutionStatusChangeEvent
    from watchdogs.settings import Settings

RUNBOOK_STUCK = "Troubleshooting > Pipeline Stuck in RUNNING State"
RUNBOOK_STUCK_CRAWLER = f"{RUNBOOK_STUCK} > 1. If stuck on crawler wait"
RUNBOOK_STUCK_ATHENA = f"{RUNBOOK_STUCK} > 2. If stuck on Athena query"
RUNBOOK_STUCK_STOP = f"{RUNBOOK_STUCK} > 3. Force stop the execution"
RUNBOOK_STATUS = "Pipeline Operations > Check Pipeline Status"
RUNBOOK_TESTS = "Elementary & Data Quality > Investigate Failed Tests"
RUNBOOK_PERMISSIONS = "Troubleshooting > dbt Model Failures > 3. Permission errors"

#: newest history events read per page (one wait-loop iteration of the runbook's pipeline is 9 events)
HISTORY_PAGE = 10
#: AWS keeps a failed standard execution redrivable for 14 days after it stopped
REDRIVE_WINDOW = timedelta(days=14)
#: at most this many stuck queries are delegated per round (bounds the blast radius of one decision)
MAX_QUERIES_PER_ROUND = 5
#: pending-step prefix of a heal in progress: ``heal:crawler:<name>`` / ``heal:athena:<workgroup>``
HEAL = "heal:"
AWAIT_REDRIVE = "await_redrive"
FINAL_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})

_CRAWLER_APIS = frozenset({"startCrawler", "getCrawler", "stopCrawler", "startCrawlerSchedule"})
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


class WaitsOn(StrEnum):
    CRAWLER = "crawler"
    ATHENA = "athena"
    NOTHING = "nothing"


class ExecutionReadError(RuntimeError):
    """Step Functions could not be read (translated from botocore; the invocation fails and is retried)."""


# ------------------------------------------------------------------------------------------------ wait rules
@dataclass(frozen=True)
class WaitRule:
    """Which states wait on what: ``state`` is a regex on the state name."""

    pattern: re.Pattern[str]
    waits_on: WaitsOn
    crawler: str | None = None
    data_quality: bool = False

    @classmethod
    def parse(cls, raw: dict[str, str]) -> WaitRule:
        return cls(
            pattern=re.compile(raw["state"]),
            waits_on=WaitsOn(raw.get("waits_on", WaitsOn.NOTHING.value)),
            crawler=raw.get("crawler") or None,
            data_quality=str(raw.get("data_quality", "")).lower() in {"true", "1", "yes"},
        )


#: defaults for the runbook's pipeline (RunDbtTests is the data-quality step; every dbt step runs Athena work;
#: StartRawCrawler / WaitForRawCrawler / StartCuratedCrawler / WaitForCuratedCrawler wait on a crawler)
DEFAULT_WAIT_RULES: tuple[dict[str, str], ...] = (
    {"state": r"(?i)dbt.?tests?", "waits_on": "athena", "data_quality": "true"},
    {"state": r"(?i)dbt", "waits_on": "athena"},
    {"state": r"(?i)crawler", "waits_on": "crawler"},
)


def wait_rules(configured: list[dict[str, str]]) -> tuple[list[WaitRule], list[WaitRule]]:
    """(configured rules, default rules), both parsed. Configured rules win over the task resource, which wins
    over the defaults."""
    return [WaitRule.parse(r) for r in configured], [WaitRule.parse(r) for r in DEFAULT_WAIT_RULES]


# ------------------------------------------------------------------------------------------------ history
@dataclass(frozen=True)
class HistoryView:
    """What the newest history events say (events given newest first, as ``reverseOrder=True`` returns them)."""

    current_state: str | None = None
    current_state_type: str | None = None
    task_state: str | None = None  # the state of the newest TaskScheduled
    task_service: str | None = None  # "glue", "athena", "lambda", "dynamodb", ...
    task_api: str | None = None  # "getCrawler", "startQueryExecution", ...
    task_parameters: dict[str, Any] | None = None
    crawler: str | None = None  # newest Glue crawler named by a task in the window
    workgroup: str | None = None  # newest Athena workgroup named by a task in the window
    query_execution_id: str | None = None  # newest Athena query started/polled in the window
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None
    last_event_at: str | None = None

    def as_facts(self) -> dict[str, Any]:
        return {
            "current_state": self.current_state,
            "current_state_type": self.current_state_type,
            "task_state": self.task_state,
            "task_resource": f"{self.task_service}:{self.task_api}" if self.task_service else None,
            "history_crawler": self.crawler,
            "history_workgroup": self.workgroup,
            "history_query_execution_id": self.query_execution_id,
            "failed_state": self.failed_state,
            "history_error": self.error,
            "history_cause": (self.cause or "")[:500] or None,
            "last_event_at": self.last_event_at,
        }


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _service(resource_type: str) -> str:
    # "aws-sdk:glue" -> "glue"; "lambda" -> "lambda"; "dynamodb" -> "dynamodb"
    return resource_type.split(":")[-1] if resource_type else ""


def read_history(events: list[dict[str, Any]]) -> HistoryView:
    """Pure: the current state, what its newest task calls, and the failure, from newest-first history events."""
    current: str | None = None
    current_type: str | None = None
    task_state: str | None = None
    scheduled: dict[str, Any] | None = None
    crawler = workgroup = query_id = None
    error = cause = failed_state = None
    last_at: str | None = None
    pending_task = False
    for event in events:
        kind = str(event.get("type", ""))
        if last_at is None and event.get("timestamp") is not None:
            stamp = event["timestamp"]
            last_at = iso(stamp) if isinstance(stamp, datetime) else str(stamp)
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if current is None and (entered or exited):
            current = (entered or exited or {}).get("name")
            current_type = kind.removesuffix("StateEntered").removesuffix("StateExited") or None
        if entered and failed_state is None and error is not None:
            failed_state = entered.get("name")
        if entered and pending_task:
            task_state, pending_task = entered.get("name"), False
        for details_key in (
            "executionFailedEventDetails",
            "executionTimedOutEventDetails",
            "executionAbortedEventDetails",
            "taskFailedEventDetails",
            "taskTimedOutEventDetails",
            "lambdaFunctionFailedEventDetails",
            "lambdaFunctionTimedOutEventDetails",
        ):
            details = event.get(details_key)
            if details is not None and error is None:
                error = details.get("error") or ("States.Timeout" if "TimedOut" in details_key else None)
                cause = details.get("cause")
        task = event.get("taskScheduledEventDetails")
        if task is not None:
            params = _loads(task.get("parameters"))
            service = _service(str(task.get("resourceType", "")))
            if scheduled is None:
                scheduled = {"service": service, "api": task.get("resource"), "parameters": params}
                pending_task = True
            if service == "glue" and crawler is None and task.get("resource") in _CRAWLER_APIS:
                crawler = params.get("Name")
            if service == "athena":
                workgroup = workgroup or params.get("WorkGroup")
                query_id = query_id or params.get("QueryExecutionId")
        succeeded = event.get("taskSucceededEventDetails")
        if succeeded is not None and query_id is None and _service(str(succeeded.get("resourceType", ""))) == "athena":
            query_id = _loads(succeeded.get("output")).get("QueryExecutionId")
    if error is not None and failed_state is None:
        failed_state = current
    return HistoryView(
        current_state=current,
        current_state_type=current_type,
        task_state=task_state,
        task_service=scheduled["service"] if scheduled else None,
        task_api=scheduled["api"] if scheduled else None,
        task_parameters=scheduled["parameters"] if scheduled else None,
        crawler=crawler,
        workgroup=workgroup,
        query_execution_id=query_id,
        error=error,
        cause=cause,
        failed_state=failed_state,
        last_event_at=last_at,
    )


@dataclass(frozen=True)
class WaitTarget:
    """What a state waits on, and how that was decided (``rule``, ``resource`` or ``default``)."""

    waits_on: WaitsOn
    crawler: str | None = None
    workgroup: str | None = None
    data_quality: bool = False
    how: str = "default"

    @property
    def key(self) -> str:
        if self.waits_on is WaitsOn.CRAWLER:
            return f"crawler:{self.crawler or '?'}"
        if self.waits_on is WaitsOn.ATHENA:
            return f"athena:{self.workgroup or '?'}"
        return "nothing"


def wait_target(
    state_name: str | None, view: HistoryView, settings_rules: list[dict[str, str]], pipeline_workgroup: str
) -> WaitTarget:
    """Pure: what ``state_name`` waits on. Configured rules first, then the task's resource
    (``arn:aws:states:::aws-sdk:glue:*`` -> crawler named by ``Parameters.Name``; ``...athena:*`` -> Athena), then
    the defaults for the runbook's pipeline."""
    if not state_name:
        return WaitTarget(WaitsOn.NOTHING, how="no-state")
    configured, defaults = wait_rules(settings_rules)
    data_quality = any(r.data_quality for r in (*configured, *defaults) if r.pattern.search(state_name))
    workgroup = view.workgroup or pipeline_workgroup or None

    def target(rule: WaitRule, how: str) -> WaitTarget:
        return WaitTarget(
            rule.waits_on,
            crawler=(rule.crawler or view.crawler) if rule.waits_on is WaitsOn.CRAWLER else None,
            workgroup=workgroup if rule.waits_on is WaitsOn.ATHENA else None,
            data_quality=data_quality,
            how=how,
        )

    for rule in configured:
        if rule.pattern.search(state_name):
            return target(rule, "rule")
    if view.task_state == state_name and view.task_service:
        params = view.task_parameters or {}
        if view.task_service == "glue" and view.task_api in _CRAWLER_APIS:
            return WaitTarget(WaitsOn.CRAWLER, crawler=params.get("Name"), data_quality=data_quality, how="resource")
        if view.task_service == "athena":
            return WaitTarget(
                WaitsOn.ATHENA,
                workgroup=params.get("WorkGroup") or workgroup,
                data_quality=data_quality,
                how="resource",
            )
    for rule in defaults:
        if rule.pattern.search(state_name):
            return target(rule, "default")
    return WaitTarget(WaitsOn.NOTHING, data_quality=data_quality, how="no-rule")


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


def redrive_refusal(execution_arn: str, facts: dict[str, Any], now: datetime) -> str | None:
    """Pure: why AWS would refuse RedriveExecution (None: it is allowed)."""
    if is_express_execution(execution_arn) or facts.get("state_machine_type") == "EXPRESS":
        return "express workflows cannot be redriven"
    if facts.get("redrive_status") == "NOT_REDRIVABLE":
        return f"not redrivable: {facts.get('redrive_status_reason') or 'AWS says so'}"
    stopped = facts.get("stop_date")
    if stopped and now - parse_iso(str(stopped)) > REDRIVE_WINDOW:
        return "stopped more than 14 days ago (outside the redrive window)"
    return None


# ------------------------------------------------------------------------------------------------ decisions
def _ignore(summary: str, classification: str = "benign") -> Decision:
    return Decision(outcome=Outcome.IGNORE, summary=summary, classification=classification, severity=Severity.INFO)


def _name(execution_arn: str) -> str:
    return execution_arn.rsplit(":", 1)[-1]


def _reconcile(
    execution_arn: str, facts: dict[str, Any], final_status: str, error: str, now: datetime
) -> list[PlannedAction]:
    """The metadata reconciliation, when inspect found this run's row still RUNNING."""
    row = facts.get("metadata_row")
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
    name = _name(finding.resource_id)
    redriven = int(finding.facts.get("redrive_count") or 0)
    how = f" after {redriven} redrive(s)" if redriven else ""
    return Decision(
        outcome=Outcome.RESOLVE,
        summary=f"Pipeline execution {name} SUCCEEDED{how}.",
        classification="recovered",
        severity=Severity.INFO,
        runbook_section=RUNBOOK_STATUS,
    )


def _stop_decision(
    execution_arn: str, facts: dict[str, Any], reason: str, classification: str, now: datetime
) -> Decision:
    name = _name(execution_arn)
    actions = [
        PlannedAction(
            name="stop_execution",
            target=name,
            params={"execution_arn": execution_arn, "reason": reason},
        ),
        *_reconcile(execution_arn, facts, "ABORTED", f"{STOP_ERROR}: {reason}", now),
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


def _heal_grace(target: WaitTarget, settings: Settings) -> int:
    """How long a heal may take before the run is declared still stuck: the restarted crawler gets its own
    threshold (plus the time a stop may take); a cancelled query's step gets the workgroup's query threshold."""
    if target.waits_on is WaitsOn.CRAWLER:
        return settings.crawler_stuck_seconds + settings.crawler_stopping_seconds
    return settings.query_threshold(target.workgroup or "")


def decide_stuck(
    finding: Finding, facts: dict[str, Any], incident: Incident | None, settings: Settings, now: datetime
) -> Decision:
    """Runbook "Pipeline Stuck in RUNNING State": find the stuck state from the newest history, then

    1. *If stuck on crawler wait*: hand the crawler to the crawler remediation ("stop and restart");
    2. *If stuck on Athena query*: hand the stuck queries of the pipeline workgroup to the query remediation
       ("cancel stuck query");
    3. *Force stop the execution* (``stop-execution --cause``): when nothing is fixable, or the run is still stuck
       on the same cause after the heal had its time.
    """
    arn = finding.resource_id
    name = _name(arn)
    status = facts.get("status")
    if status is None or facts.get("exists") is False:
        return _ignore(f"Execution {name} no longer exists.", "gone")
    if status == "SUCCEEDED":
        return decide_recovered(finding)
    if status != "RUNNING" and incident is not None:
        # no longer stuck: stopped by the watchdog's last resort, or ended on its own (a failure is triaged by
        # its status-change handling under its own FAILED incident) - the STUCK incident must not stay open
        how = "after the watchdog stopped it (last resort)" if incident.has_action("stop_execution") else "on its own"
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"Execution {name} is no longer stuck: it ended {status} {how}.",
            classification="ended",
            resolves=[Condition.STUCK],
        )
    if status != "RUNNING":
        return _ignore(f"Execution {name} already ended {status}: its status-change handling applies.", "ended")
    running = facts.get("running_seconds", finding.facts.get("running_seconds"))
    threshold = int(finding.facts.get("threshold_seconds") or settings.execution_stuck_seconds)
    if running is not None and float(running) < threshold:
        return _ignore(f"Execution {name} has run {running} s, under its threshold of {threshold} s.", "not-stuck")

    target = WaitTarget(
        WaitsOn(facts.get("waits_on", WaitsOn.NOTHING.value)),
        crawler=facts.get("wait_crawler"),
        workgroup=facts.get("wait_workgroup"),
        how=str(facts.get("wait_how", "")),
    )
    state_name = facts.get("current_state") or "an unknown state"
    pending = incident.pending_step if incident else None
    heal_step = f"{HEAL}{target.key}"
    same_heal = pending == heal_step and incident is not None
    started = incident.facts.get("heal_started_at") if same_heal and incident is not None else None
    healing_for = (now - parse_iso(str(started))).total_seconds() if started else 0.0
    grace = _heal_grace(target, settings)
    rounds = int(incident.facts.get("heal_rounds", 0)) + 1 if same_heal and incident is not None else 1
    heal_facts = {"heal_target": target.key, "heal_started_at": started or iso(now), "heal_rounds": rounds}

    if target.waits_on is WaitsOn.CRAWLER:
        crawler = target.crawler
        if not crawler:
            return _stop_decision(arn, facts, f"waits in {state_name} on a crawler it does not name", "stuck", now)
        if not any(crawler.startswith(prefix) for prefix in settings.crawler_prefixes):
            return _stop_decision(
                arn, facts, f"waits in {state_name} on crawler {crawler}, outside the watchdog's scope", "stuck", now
            )
        if healing_for > grace:
            return _stop_decision(
                arn,
                facts,
                f"still waiting in {state_name} on crawler {crawler} {healing_for:.0f} s after the heal began "
                f"(allowed {grace} s)",
                "stuck-after-heal",
                now,
            )
        return Decision(
            outcome=Outcome.WAIT,
            summary=(
                f"Pipeline execution {name} is stuck in {state_name} waiting on crawler {crawler} "
                f"(running {running} s, threshold {threshold} s): healing the crawler (round {rounds})."
            ),
            classification="stuck-on-crawler",
            severity=Severity.WARNING,
            runbook_section=RUNBOOK_STUCK_CRAWLER,
            advice=[f"aws glue get-crawler --name {crawler}"],
            next_step=heal_step,
            facts=heal_facts,
            delegate=[
                Finding(
                    resource_type=ResourceType.CRAWLER,
                    resource_id=crawler,
                    condition=Condition.STUCK,
                    source="delegated",
                    observed_at=now,
                    scope_key=crawler,
                    facts={"waited_on_by": arn, "waiting_state": state_name, "execution_running_seconds": running},
                )
            ],
        )

    if target.waits_on is WaitsOn.ATHENA:
        workgroup = target.workgroup
        if not workgroup or workgroup not in settings.workgroups:
            return _stop_decision(
                arn,
                facts,
                f"runs Athena work in {state_name} outside the workgroups in scope ({workgroup})",
                "stuck",
                now,
            )
        if healing_for > grace:
            return _stop_decision(
                arn,
                facts,
                f"still stuck in {state_name} {healing_for:.0f} s after its stuck queries were cancelled "
                f"(allowed {grace} s)",
                "stuck-after-heal",
                now,
            )
        query_threshold = settings.query_threshold(workgroup)
        active: list[dict[str, Any]] = list(facts.get("active_queries") or [])
        own = facts.get("history_query_execution_id")
        if own and any(q["id"] == own for q in active):
            active = [q for q in active if q["id"] == own]  # the run's own query is known: touch only that one
        stuck = [q for q in active if float(q.get("running_seconds") or 0) >= query_threshold]
        if stuck:
            chosen = stuck[:MAX_QUERIES_PER_ROUND]
            return Decision(
                outcome=Outcome.WAIT,
                summary=(
                    f"Pipeline execution {name} is stuck in {state_name} on Athena work in {workgroup}: cancelling "
                    f"{len(chosen)} stuck quer{'y' if len(chosen) == 1 else 'ies'} (threshold {query_threshold} s)."
                ),
                classification="stuck-on-athena",
                severity=Severity.WARNING,
                runbook_section=RUNBOOK_STUCK_ATHENA,
                advice=[f"aws athena list-query-executions --work-group {workgroup}"],
                next_step=heal_step,
                facts=heal_facts,
                delegate=[
                    Finding(
                        resource_type=ResourceType.QUERY,
                        resource_id=q["id"],
                        condition=Condition.STUCK,
                        source="delegated",
                        observed_at=now,
                        scope_key=workgroup,
                        facts={
                            "workgroup": workgroup,
                            "state": q.get("state"),
                            "running_seconds": q.get("running_seconds"),
                            "threshold_seconds": query_threshold,
                            "waited_on_by": arn,
                        },
                    )
                    for q in chosen
                ],
            )
        if active:
            return Decision(
                outcome=Outcome.WAIT,
                summary=(
                    f"Pipeline execution {name} waits in {state_name} on {len(active)} Athena quer"
                    f"{'y' if len(active) == 1 else 'ies'} still under the {query_threshold} s threshold."
                ),
                classification="stuck-on-athena",
                severity=Severity.INFO,
                runbook_section=RUNBOOK_STUCK_ATHENA,
                next_step=f"watch:{target.key}",
            )
        return _stop_decision(
            arn, facts, f"stuck in {state_name} with no Athena query running in {workgroup}", "stuck", now
        )

    return _stop_decision(
        arn, facts, f"stuck in {state_name}, which waits on nothing the watchdog can heal", "stuck", now
    )


def _healed_target(state: ResourceState | None) -> str | None:
    if state is None:
        return None
    stuck = state.incidents.get(Condition.STUCK)
    if stuck is None or not stuck.is_active:
        return None
    target = stuck.facts.get("heal_target")
    return str(target) if target else None


def decide_failed(
    finding: Finding,
    facts: dict[str, Any],
    incident: Incident | None,
    state: ResourceState | None,
    settings: Settings,
    now: datetime,
) -> Decision:
    """Triage of a FAILED / TIMED_OUT / ABORTED run (the event has no error: DescribeExecution + history).

    Transient -> RedriveExecution (standard workflows, 14-day window, budget); data quality (the dbt tests step) ->
    notify the data owners, never retry; permission -> escalate; unknown -> notify. Every outcome but a redrive
    reconciles the pipeline-metadata row ("DynamoDB Metadata Query Issues"); the echo of our own stop is ignored.
    """
    arn = finding.resource_id
    name = _name(arn)
    status = str(facts.get("status") or finding.facts.get("status") or "")
    if facts.get("exists") is False:
        return _ignore(f"Execution {name} no longer exists.", "gone")
    if status == "SUCCEEDED":
        return decide_recovered(finding)
    if status in {"RUNNING", "PENDING_REDRIVE"}:
        return _ignore(f"Execution {name} is {status} again (redriven): nothing to triage.", "running")
    error = facts.get("error") or facts.get("history_error")
    cause = facts.get("cause") or facts.get("history_cause")
    target = WaitTarget(
        WaitsOn(facts.get("waits_on", WaitsOn.NOTHING.value)),
        crawler=facts.get("wait_crawler"),
        workgroup=facts.get("wait_workgroup"),
        data_quality=bool(facts.get("data_quality")),
    )
    failure = classify_failure(status, error, cause, target, _healed_target(state))
    if failure is FailureClass.OWN_STOP:
        return _ignore(f"Execution {name} ABORTED by the watchdog's own stop (echo).", "own-stop")

    failed_state = facts.get("failed_state") or "an unknown state"
    what = f"Pipeline execution {name} {status} in {failed_state}: {error or 'no error'}"
    reconcile = _reconcile(arn, facts, status, f"{error or status}: {(cause or '')[:400]}", now)
    common: dict[str, Any] = {"classification": failure.value, "consumes_budget": False}
    outcome_facts = {"failure_class": failure.value}

    if failure in {FailureClass.TRANSIENT, FailureClass.FAILED_AFTER_HEAL}:
        refusal = redrive_refusal(arn, facts, now)
        redrives = max(
            int(facts.get("redrive_count") or 0),
            len(
                [
                    e
                    for e in (incident.timeline if incident else [])
                    if e.kind == "action" and e.step == "redrive_execution"
                ]
            ),
        )
        if refusal is None and redrives < settings.budget_max_actions:
            token = f"watchdogs-{name}-{redrives + 1}"
            return Decision(
                outcome=Outcome.ACT,
                summary=f"{what}. Transient: redriving it from the failed state (redrive {redrives + 1}).",
                classification=failure.value,
                severity=Severity.WARNING,
                runbook_section=RUNBOOK_STATUS,
                actions=[
                    PlannedAction(
                        name="redrive_execution",
                        target=name,
                        params={"execution_arn": arn, "client_token": token},
                    )
                ],
                next_step=AWAIT_REDRIVE,
                status_after=IncidentStatus.REMEDIATING,
                facts={**outcome_facts, "redrives": redrives + 1},
            )
        why = refusal or f"redrive budget used ({redrives}/{settings.budget_max_actions})"
        return Decision(
            outcome=Outcome.ESCALATE if refusal is None else Outcome.NOTIFY,
            summary=f"{what}. Transient, but not redriven: {why}.",
            severity=Severity.HIGH,
            runbook_section=RUNBOOK_STATUS,
            actions=reconcile,
            advice=["Start a new run (runbook: Manually Trigger a Pipeline Run) once the service recovers."],
            facts={**outcome_facts, "not_redriven": why},
            **common,
        )
    if failure is FailureClass.PERMISSION:
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=f"{what}. A permission error: a human must fix the role or policy; not retried.",
            severity=Severity.HIGH,
            runbook_section=RUNBOOK_PERMISSIONS,
            actions=reconcile,
            advice=[
                "Verify the Athena workgroup has write access to the S3 curated prefix.",
                "Check the IAM role of the state machine and of the dbt Lambdas.",
            ],
            facts=outcome_facts,
            **common,
        )
    if failure is FailureClass.DATA_QUALITY:
        return Decision(
            outcome=Outcome.NOTIFY,
            summary=f"{what}. Data-quality tests failed: data owners must look; the run is not retried.",
            severity=Severity.WARNING,
            runbook_section=RUNBOOK_TESTS,
            actions=reconcile,
            advice=[
                "Query Elementary's test results for the failed tests of this run.",
                "Fix the data (or the test), then start a new run.",
            ],
            facts={**outcome_facts, "audience": "data-owners"},
            **common,
        )
    if failure is FailureClass.ABORTED:
        return Decision(
            outcome=Outcome.NOTIFY,
            summary=f"Pipeline execution {name} was ABORTED by someone else ({error or 'no error given'}).",
            severity=Severity.INFO,
            runbook_section=RUNBOOK_STATUS,
            actions=reconcile,
            facts=outcome_facts,
            **common,
        )
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"{what}. Not a known transient, permission or data-quality failure: recorded, not retried.",
        severity=Severity.WARNING,
        runbook_section=RUNBOOK_STATUS,
        actions=reconcile,
        advice=[f"aws stepfunctions describe-execution --execution-arn {arn}"],
        facts=outcome_facts,
        **common,
    )


# ------------------------------------------------------------------------------------------------ events
_CONDITION_BY_STATUS = {
    "SUCCEEDED": Condition.RECOVERED,
    "FAILED": Condition.FAILED,
    "TIMED_OUT": Condition.FAILED,
    "ABORTED": Condition.FAILED,
}


def findings_from_event(event: ExecutionStatusChangeEvent) -> list[Finding]:
    """One finding per status change the watchdog acts on (RUNNING / PENDING_REDRIVE: none)."""
    detail = event.detail
    condition = _CONDITION_BY_STATUS.get(detail.status)
    if condition is None:
        return []
    stopped = detail.stopped_at
    return [
        Finding(
            resource_type=ResourceType.EXECUTION,
            resource_id=detail.execution_arn,
            condition=condition,
            source="event",
            event_id=event.id,
            observed_at=event.time,
            scope_key=detail.state_machine_arn,
            facts={
                "status": detail.status,
                "execution_name": detail.name,
                "state_machine_arn": detail.state_machine_arn,
                "redrive_count": detail.redrive_count,
                "stop_date": iso(stopped) if stopped else None,
            },
        )
    ]


def dedup_key(event: ExecutionStatusChangeEvent) -> str:
    """A status change is the same whatever event id delivers it; a redriven run's next end is a new one."""
    detail = event.detail
    return f"{detail.execution_arn}#{detail.status}#{detail.redrive_count}"


# ------------------------------------------------------------------------------------------------ remediator
def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


class ExecutionRemediator:
    """The Step Functions watchdog: scope by state-machine ARN prefix; facts from DescribeExecution and the newest
    history page; Athena reads only for a run stuck on Athena work; the metadata row only when about to finalise it;
    the state machine's tags only when about to act on the run."""

    resource_type = ResourceType.EXECUTION
    read_permissions: tuple[str, ...] = (
        "states:DescribeExecution",
        "states:GetExecutionHistory",
        "states:ListTagsForResource",
        "athena:ListQueryExecutions",
        "athena:BatchGetQueryExecution",
        "dynamodb:Query",
    )
    action_names: tuple[str, ...] = ("stop_execution", "redrive_execution", "reconcile_metadata")
    #: heal at the cause: stuck crawler / query findings are handed to these remediations (same function)
    delegates_to: tuple[ResourceType, ...] = (ResourceType.CRAWLER, ResourceType.QUERY)

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    def in_scope(self, finding: Finding) -> bool:
        """Judged on what is acted on: the state machine parsed from the execution's own ARN, never the one a
        finding or an event claims (the edge already refuses events whose two ARNs disagree)."""
        machine = state_machine_of(finding.resource_id)
        in_scope = bool(machine) and machine.startswith(tuple(self.settings.state_machine_arn_prefixes))
        if in_scope and finding.scope_key and unqualified_state_machine(finding.scope_key) != machine:
            logger.warning(
                "execution finding claims another state machine: ignored",
                execution=finding.resource_id,
                claimed=finding.scope_key,
                parsed=machine,
            )
            count("ScopeMismatch", resource_type=self.resource_type.value)
            return False
        return in_scope

    # --- reads ----------------------------------------------------------------------------------------------
    def describe(self, execution_arn: str, now: datetime) -> dict[str, Any]:
        """``aws stepfunctions describe-execution`` as facts."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            described = self.clients.sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return {"exists": False}
            raise ExecutionReadError(f"DescribeExecution {execution_arn}: {exc}") from exc
        run_started: datetime = described.get("redriveDate") or described["startDate"]
        facts = {
            "status": described["status"],
            "start_date": _plain(described["startDate"]),
            "stop_date": _plain(described.get("stopDate")),
            "running_seconds": round((now - run_started).total_seconds()),
            "error": described.get("error"),
            "cause": (described.get("cause") or "")[:1000] or None,
            "redrive_count": described.get("redriveCount", 0),
            "redrive_status": described.get("redriveStatus"),
            "redrive_status_reason": described.get("redriveStatusReason"),
            "state_machine_arn": described.get("stateMachineArn"),
        }
        return {k: v for k, v in facts.items() if v is not None}

    def history(self, execution_arn: str) -> HistoryView:
        """``aws stepfunctions get-execution-history --reverse-order --max-results 10``: one page, newest first."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            page = self.clients.sfn.get_execution_history(
                executionArn=execution_arn, reverseOrder=True, maxResults=HISTORY_PAGE
            )
        except ClientError as exc:
            raise ExecutionReadError(f"GetExecutionHistory {execution_arn}: {exc}") from exc
        return read_history([dict(e) for e in page.get("events", [])])

    def active_queries(self, workgroup: str, now: datetime) -> list[dict[str, Any]]:
        """Runbook: ``aws athena list-query-executions --work-group`` (newest page) + BatchGetQueryExecution: the
        QUEUED/RUNNING queries with how long they have run."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            ids = self.clients.athena.list_query_executions(WorkGroup=workgroup, MaxResults=50).get(
                "QueryExecutionIds", []
            )
            if not ids:
                return []
            executions = self.clients.athena.batch_get_query_execution(QueryExecutionIds=ids[:50]).get(
                "QueryExecutions", []
            )
        except ClientError as exc:
            raise ExecutionReadError(f"Athena queries of {workgroup}: {exc}") from exc
        active = []
        for execution in executions:
            status = execution.get("Status", {})
            if status.get("State") not in {"QUEUED", "RUNNING"}:
                continue
            submitted = status.get("SubmissionDateTime")
            running = (now - submitted).total_seconds() if isinstance(submitted, datetime) else None
            active.append(
                {
                    "id": execution["QueryExecutionId"],
                    "state": status.get("State"),
                    "running_seconds": round(running) if running is not None else None,
                }
            )
        return active

    def metadata_row(self, execution_arn: str) -> dict[str, Any] | None:
        """The run's pipeline-metadata row if still RUNNING (runbook: "Use GSI for status queries")."""
        from watchdogs.metadata import find_running_row  # noqa: PLC0415

        return find_running_row(self.clients.dynamodb, self.settings, execution_arn)

    def opted_out(self, state_machine_arn: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            tags = self.clients.sfn.list_tags_for_resource(resourceArn=state_machine_arn).get("tags", [])
        except ClientError as exc:
            raise ExecutionReadError(f"ListTagsForResource {state_machine_arn}: {exc}") from exc
        return is_opted_out(tags_from_pairs(tags), self.settings.opt_out_tag)

    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """Only what the runbook step needs: nothing for a success; DescribeExecution (the re-read before any
        action), then one newest-first history page unless it is our own stop's echo; the Athena queries of the
        workgroup only for a run stuck on Athena work; the metadata row and the tags only when about to act."""
        from watchdogs.incidents import now_utc  # noqa: PLC0415

        if finding.condition is Condition.RECOVERED:
            return {}
        now = now_utc()
        arn = finding.resource_id
        facts = self.describe(arn, now)
        status = facts.get("status")
        if facts.get("exists") is False or status == "SUCCEEDED":
            return facts
        if finding.condition is Condition.FAILED and (status == "RUNNING" or facts.get("error") == STOP_ERROR):
            return facts
        if finding.condition is Condition.STUCK and status != "RUNNING":
            return facts
        view = self.history(arn)
        facts.update({k: v for k, v in view.as_facts().items() if v is not None})
        state_name = view.current_state if finding.condition is Condition.STUCK else view.failed_state
        target = wait_target(state_name, view, self.settings.state_wait_rules, self.settings.pipeline_workgroup)
        facts.update(
            {
                "waits_on": target.waits_on.value,
                "wait_crawler": target.crawler,
                "wait_workgroup": target.workgroup,
                "wait_how": target.how,
                "data_quality": target.data_quality,
            }
        )
        stuck_on_athena = finding.condition is Condition.STUCK and target.waits_on is WaitsOn.ATHENA
        if stuck_on_athena and target.workgroup and target.workgroup in self.settings.workgroups:
            facts["active_queries"] = self.active_queries(target.workgroup, now)
        facts = {k: v for k, v in facts.items() if v is not None}
        preview = self.decide(finding, facts, state.incidents.get(finding.condition), state, now)
        planned = {a.name for a in preview.actions}
        finalising = "stop_execution" in planned or (
            finding.condition is Condition.FAILED
            and preview.outcome not in {Outcome.IGNORE, Outcome.RESOLVE}
            and "redrive_execution" not in planned
        )
        if finalising and self.settings.metadata_table:
            row = self.metadata_row(arn)
            if row is not None:
                facts["metadata_row"] = row
        if planned or "metadata_row" in facts:  # about to act on the run: honour the state machine's opt-out tag
            machine = str(facts.get("state_machine_arn") or state_machine_of(arn))
            if self.opted_out(machine):
                return {**facts, "opted_out": True}
        return facts

    # --- decision (pure) ------------------------------------------------------------------------------------
    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        condition = finding.condition
        if condition is Condition.RECOVERED:
            return decide_recovered(finding)
        if condition is Condition.STUCK:
            return decide_stuck(finding, facts, incident, self.settings, now)
        if condition is Condition.FAILED:
            return decide_failed(finding, facts, incident, state, self.settings, now)
        logger.info("execution condition not handled", condition=condition.value, resource=finding.resource_key)
        return _ignore(f"Execution {_name(finding.resource_id)}: {condition.value} is not handled.", "unsupported")
