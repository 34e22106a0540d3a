"""The Step Functions watchdog's shell: scope, the reads each condition declares, and the decision dispatch.

Every read is declared per condition in :data:`CONDITIONS` (as the IAM actions it takes) and taken whenever the run
is what the condition is about (a STUCK finding on a RUNNING run, a FAILED finding on a run that ended on its own),
never because the shell guessed the decision: the metadata row and the state machine's tags are read for every
such finding, since any of its decisions may finalise the run or act on it (one Query and one ListTagsForResource).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from watchdogs.actions import STOP_ERROR
from watchdogs.incidents import iso
from watchdogs.models.domain import Condition, Decision, Finding, ResourceType
from watchdogs.observability import count, logger
from watchdogs.runbooks.execution.facts import ExecutionFacts, QueryFact
from watchdogs.runbooks.execution.failed import decide_failed
from watchdogs.runbooks.execution.history import HISTORY_PAGE, HistoryView, WaitsOn, read_history, wait_target
from watchdogs.runbooks.execution.permissions import DISCOVERY_PERMISSIONS, EVIDENCE_PERMISSIONS
from watchdogs.runbooks.execution.rules import FINAL_STATUSES, decide_recovered, ignore, name_of
from watchdogs.runbooks.execution.steps import STEPS
from watchdogs.runbooks.execution.stuck import decide_stuck
from watchdogs.shared import is_opted_out, state_machine_of, tags_from_pairs, unqualified_state_machine

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Evidence, Incident, ResourceState
    from watchdogs.runbooks.discovery import DiscoveryContext, Found
    from watchdogs.runbooks.evidence import TimeBox
    from watchdogs.settings import Settings

DESCRIBE = "states:DescribeExecution"
HISTORY = "states:GetExecutionHistory"
QUERIES = "athena:ListQueryExecutions"
QUERY_DETAILS = "athena:BatchGetQueryExecution"
METADATA = "dynamodb:Query"
TAGS = "states:ListTagsForResource"

#: the reads each condition needs. STUCK: the run, its newest history page, the workgroup's newest queries (for a
#: run on Athena work: stuck ones to cancel, recently cancelled ones = a heal under way), the metadata row and the
#: tags (a stop finalises the run). FAILED: the same without Athena (a redrive, or a finalising notify/escalate).
#: RECOVERED: nothing (the event says SUCCEEDED; resolving acts on nothing).
CONDITIONS: dict[Condition, tuple[str, ...]] = {
    Condition.STUCK: (DESCRIBE, HISTORY, QUERIES, QUERY_DETAILS, METADATA, TAGS),
    Condition.FAILED: (DESCRIBE, HISTORY, METADATA, TAGS),
    Condition.RECOVERED: (),
}
#: finished queries kept in the facts besides the run's own (the newest cancels: the heal evidence)
MAX_CANCELLED = 5


class ExecutionReadError(RuntimeError):
    """Step Functions could not be read (translated from botocore; the invocation fails and is retried)."""


def _plain(value: Any) -> Any:
    return iso(value) if isinstance(value, datetime) else value


def _about(condition: Condition, facts: ExecutionFacts) -> bool:
    """Whether the run is what the condition is about (otherwise DescribeExecution alone decides)."""
    if not facts.exists:
        return False
    if condition is Condition.STUCK:
        return facts.status == "RUNNING"
    return condition is Condition.FAILED and facts.status in FINAL_STATUSES and facts.error != STOP_ERROR


def query_facts(
    executions: list[dict[str, Any]], now: datetime, own: str | None
) -> tuple[tuple[QueryFact, ...], tuple[QueryFact, ...]]:
    """(QUEUED/RUNNING queries with how long they have run, CANCELLED ones with when: the run's own and the
    newest few) from one ``BatchGetQueryExecution`` answer."""
    active: list[QueryFact] = []
    cancelled: list[QueryFact] = []
    for execution in executions:
        status = execution.get("Status", {})
        state, qid = status.get("State"), str(execution.get("QueryExecutionId", ""))
        if state in {"QUEUED", "RUNNING"}:
            submitted = status.get("SubmissionDateTime")
            running = round((now - submitted).total_seconds()) if isinstance(submitted, datetime) else None
            active.append(QueryFact(id=qid, state=state, running_seconds=running))
        elif state == "CANCELLED" and isinstance(status.get("CompletionDateTime"), datetime):
            cancelled.append(QueryFact(id=qid, state=state, completed_at=iso(status["CompletionDateTime"])))
    cancelled.sort(key=lambda q: (q.id != own, -(datetime.fromisoformat(str(q.completed_at)).timestamp())))
    return tuple(active), tuple(cancelled[: MAX_CANCELLED + 1])


class ExecutionRemediator:
    """The Step Functions watchdog: scope by state-machine ARN prefix, the reads its conditions declare, the pure
    runbook's decision (:mod:`~watchdogs.runbooks.execution.stuck`, :mod:`~watchdogs.runbooks.execution.rules`)."""

    resource_type = ResourceType.EXECUTION
    CONDITIONS: ClassVar[dict[Condition, tuple[str, ...]]] = CONDITIONS
    read_permissions: tuple[str, ...] = tuple(dict.fromkeys(r for reads in CONDITIONS.values() for r in reads))
    #: IAM actions :meth:`discover` needs (the sweep's own reads for this runbook)
    discovery_permissions: tuple[str, ...] = DISCOVERY_PERMISSIONS
    #: IAM actions :meth:`evidence` needs (the failing step's query, the Elementary query in the pipeline workgroup)
    evidence_permissions: tuple[str, ...] = EVIDENCE_PERMISSIONS
    action_names: tuple[str, ...] = ("stop_execution", "redrive_execution", "reconcile_metadata")
    steps = STEPS
    #: heal at the cause: stuck crawler / query findings are handed to these remediations (same function)
    delegates_to: tuple[ResourceType, ...] = (ResourceType.CRAWLER, ResourceType.QUERY)

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    def discover(self, ctx: DiscoveryContext) -> list[Found]:
        """What the scheduled sweep finds for this runbook (:mod:`.discover`): no event needed."""
        from watchdogs.runbooks.execution.discover import discover  # noqa: PLC0415 - sweep only (cold start)

        return discover(ctx)

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
    def describe(self, execution_arn: str, now: datetime) -> ExecutionFacts:
        """``aws stepfunctions describe-execution`` as facts."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            described = self.clients.sfn.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return ExecutionFacts(exists=False)
            raise ExecutionReadError(f"DescribeExecution {execution_arn}: {exc}") from exc
        run_started: datetime = described.get("redriveDate") or described["startDate"]
        return ExecutionFacts(
            status=described["status"],
            start_date=_plain(described["startDate"]),
            stop_date=_plain(described.get("stopDate")),
            running_seconds=round((now - run_started).total_seconds()),
            error=described.get("error"),
            cause=(described.get("cause") or "")[:1000] or None,
            redrive_count=described.get("redriveCount", 0),
            redrive_status=described.get("redriveStatus"),
            redrive_status_reason=described.get("redriveStatusReason"),
            state_machine_arn=described.get("stateMachineArn"),
        )

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

    def queries(self, workgroup: str, now: datetime, own: str | None) -> tuple[tuple[QueryFact, ...], ...]:
        """Runbook: ``aws athena list-query-executions --work-group`` (newest page) + BatchGetQueryExecution."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            ids = self.clients.athena.list_query_executions(WorkGroup=workgroup, MaxResults=50).get(
                "QueryExecutionIds", []
            )
            if not ids:
                return (), ()
            executions = self.clients.athena.batch_get_query_execution(QueryExecutionIds=ids[:50]).get(
                "QueryExecutions", []
            )
        except ClientError as exc:
            raise ExecutionReadError(f"Athena queries of {workgroup}: {exc}") from exc
        return query_facts([dict(e) for e in executions], now, own)

    def metadata_row(self, execution_arn: str) -> dict[str, Any] | None:
        """The run's pipeline-metadata row if still RUNNING (runbook: "Use GSI for status queries").

        The reconciliation is secondary to the triage: a metadata table that cannot be read (missing, denied,
        throttled) is logged and counted, and the run is triaged without it (nothing to reconcile)."""
        from watchdogs.metadata import MetadataReadError, find_running_row  # noqa: PLC0415

        try:
            return find_running_row(self.clients.dynamodb, self.settings, execution_arn)
        except MetadataReadError as exc:
            logger.warning("metadata row unavailable; triaged without it", execution=execution_arn, error=str(exc))
            count("MetadataUnavailable")
            return None

    def opted_out(self, state_machine_arn: str) -> bool:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            tags = self.clients.sfn.list_tags_for_resource(resourceArn=state_machine_arn).get("tags", [])
        except ClientError as exc:
            raise ExecutionReadError(f"ListTagsForResource {state_machine_arn}: {exc}") from exc
        return is_opted_out(tags_from_pairs(tags), self.settings.opt_out_tag)

    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """The reads :data:`CONDITIONS` declares for the finding's condition; beyond DescribeExecution (the re-read
        before any action) only while the run is what the condition is about."""
        from watchdogs.incidents import now_utc  # noqa: PLC0415

        reads = self.CONDITIONS.get(finding.condition, ())
        if not reads:
            return {}
        now, arn = now_utc(), finding.resource_id
        facts = self.describe(arn, now)
        if not _about(finding.condition, facts):
            return facts.as_dict()
        view = self.history(arn)
        state_name = view.current_state if finding.condition is Condition.STUCK else view.failed_state
        target = wait_target(state_name, view, self.settings.state_wait_rules, self.settings.pipeline_workgroup)
        facts = replace(facts, view=view, target=target)
        workgroup = target.workgroup if target.waits_on is WaitsOn.ATHENA else None
        if QUERIES in reads and workgroup and workgroup in self.settings.workgroups:
            active, cancelled = self.queries(workgroup, now, view.query_execution_id)
            facts = replace(facts, active_queries=active, cancelled_queries=cancelled)
        if TAGS in reads and self.opted_out(facts.state_machine_arn or state_machine_of(arn)):
            return replace(facts, opted_out=True).as_dict()  # never touched: no further read
        if METADATA in reads and self.settings.metadata_table:
            facts = replace(facts, metadata_row=self.metadata_row(arn))
        return facts.as_dict()

    def evidence(self, finding: Finding, facts: dict[str, Any], box: TimeBox) -> list[Evidence]:
        """What the runbook tells a person to look at (:mod:`.evidence`): where a stuck run is stuck; the failing
        step's query and, in the dbt tests step, the failing tests."""
        from watchdogs.runbooks.execution.evidence import gather  # noqa: PLC0415 - only when gathering (cold start)

        return gather(self.clients, self.settings, finding.condition, facts, box)

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
        return ignore(f"Execution {name_of(finding.resource_id)}: {condition.value} is not handled.", "unsupported")
