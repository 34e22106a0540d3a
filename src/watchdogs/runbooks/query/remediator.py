"""The query watchdog's shell: scope, the Athena reads and the decision dispatch.

Every read is declared: :data:`CONDITIONS` names the reads each condition may make, and ``read_permissions`` (what
``template.yaml`` must grant) is their union. Only the reads the decision needs are made: none for SUCCEEDED, for
the echo of our cancel or for a repeat of a failure already recorded; one GetQueryExecution otherwise (and
GetWorkGroup for a timeout); the workgroup's tags only when the rules say the query is due a cancel
(:func:`~.cancel.cancel_due`), never by running the decision.

Scope is judged twice: cheaply on the workgroup the finding claims (no call for an event about another workgroup),
then on the workgroup ``GetQueryExecution`` reports, which alone may lead to an action.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, Decision, Finding, ResourceType
from watchdogs.observability import count, logger
from watchdogs.runbooks.query.cancel import cancel_due, decide_stuck, guard_cancel
from watchdogs.runbooks.query.facts import QueryFacts
from watchdogs.runbooks.query.failures import NEEDS_WORKGROUP_LIMITS, classify_facts
from watchdogs.runbooks.query.permissions import DISCOVERY_PERMISSIONS, EVIDENCE_PERMISSIONS
from watchdogs.runbooks.query.pipeline import CORRELATION_READS, owner_run
from watchdogs.runbooks.query.rules import (
    decide_cancelled,
    decide_failed,
    decide_succeeded,
    ignore,
    scope_refusal,
)
from watchdogs.runbooks.query.steps import STEPS
from watchdogs.settings import Mode
from watchdogs.shared import foreign_origin, is_opted_out, tags_from_pairs, workgroup_arn

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Evidence, Incident, ResourceState
    from watchdogs.runbooks.discovery import DiscoveryContext, Found
    from watchdogs.runbooks.evidence import TimeBox
    from watchdogs.settings import Settings

GET_QUERY_EXECUTION = "athena:GetQueryExecution"
GET_WORK_GROUP = "athena:GetWorkGroup"
LIST_TAGS = "athena:ListTagsForResource"

#: the reads each condition may make (a condition not listed reads nothing)
CONDITIONS: dict[Condition, tuple[str, ...]] = {
    Condition.STUCK: (GET_QUERY_EXECUTION, LIST_TAGS),  # tags only when a cancel is due
    # limits only for the "Athena Query Timeout" family; the runs' histories only for a pipeline-workgroup query
    Condition.FAILED: (GET_QUERY_EXECUTION, GET_WORK_GROUP, *CORRELATION_READS),
    Condition.CANCELLED: (GET_QUERY_EXECUTION, GET_WORK_GROUP, *CORRELATION_READS),  # none for our own cancel's echo
    Condition.RECOVERED: (),
}

_NO_SUCH_RESOURCE = re.compile(r"does not exist|not found", re.IGNORECASE)


class QueryReadError(RuntimeError):
    """Athena could not be read (throttling, permissions, outage): the invocation fails and is retried."""


class QueryRemediator:
    """Reads Athena for query findings and asks the pure runbook functions what to do. Before cancelling, the
    workgroup's tags are read and the opt-out tag honoured."""

    resource_type = ResourceType.QUERY
    read_permissions: tuple[str, ...] = tuple(sorted({p for reads in CONDITIONS.values() for p in reads}))
    #: IAM actions :meth:`discover` needs (the sweep's own reads for this runbook)
    discovery_permissions: tuple[str, ...] = DISCOVERY_PERMISSIONS
    #: IAM actions :meth:`evidence` needs beyond the decision's reads (none: built from the facts)
    evidence_permissions: tuple[str, ...] = EVIDENCE_PERMISSIONS
    action_names: tuple[str, ...] = ("stop_query",)
    steps = STEPS

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    def discover(self, ctx: DiscoveryContext) -> list[Found]:
        """What the scheduled sweep finds for this runbook (:mod:`.discover`): no event needed."""
        from watchdogs.runbooks.query.discover import discover  # noqa: PLC0415 - sweep only (cold start)

        return discover(ctx)

    def in_scope(self, finding: Finding) -> bool:
        """The claimed workgroup must be listed in ``SCOPE_WORKGROUPS`` (findings carry it as ``scope_key``) and an
        event must come from this account and region; the read workgroup is checked again before acting."""
        workgroup = finding.scope_key or str(finding.facts.get("workgroup") or "")
        if workgroup not in self.settings.workgroups:
            return False
        foreign = foreign_origin(finding.facts, self.settings.account_id, self.settings.region)
        if foreign is not None:
            logger.warning("query finding from elsewhere: ignored", query=finding.resource_id, reason=foreign)
            return False
        return True

    # ------------------------------------------------------------------------------------------------ reads
    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """The finding's facts and the declared reads of its condition (:data:`CONDITIONS`)."""
        facts = self._read(finding, state)
        if self._pipeline_candidate(finding.condition, facts, state):
            owner = owner_run(self.clients, self.settings, finding.resource_id, str(facts.workgroup), _at(facts))
            if owner:
                logger.info(
                    "pipeline query ended: left to its run's incident",
                    query=finding.resource_id,
                    run=owner["pipeline_run"],
                    step=owner["pipeline_step"],
                    match=owner["pipeline_match"],
                )
                count("LeftToPipelineRun", resource_type=self.resource_type.value)
                facts = facts.model_copy(update=owner)
        if finding.condition is Condition.STUCK and self._cancel_due(finding, facts, state):
            tags = self.workgroup_tags(str(facts.workgroup), finding)
            if tags is None:
                return {**facts.as_dict(), "tags_unavailable": True}
            if is_opted_out(tags, self.settings.opt_out_tag):
                return {**facts.as_dict(), "opted_out": True}
        return facts.as_dict()

    def _cancel_due(self, finding: Finding, facts: QueryFacts, state: ResourceState) -> bool:
        """A cancel would follow: the workgroup Athena reports is in scope and the query is due a cancel."""
        if not facts.workgroup_verified or scope_refusal(finding.resource_id, facts, "", self.settings.workgroups):
            return False
        threshold = self.settings.query_threshold(str(facts.workgroup))
        return cancel_due(facts, state.incidents.get(Condition.STUCK), threshold)

    def _read(self, finding: Finding, state: ResourceState) -> QueryFacts:
        """The finding's facts, then GetQueryExecution's (whose workgroup replaces the one the finding claims)."""
        claimed = QueryFacts.from_dict(finding.facts)
        condition = finding.condition
        if not CONDITIONS.get(condition) or (condition is Condition.CANCELLED and _open(state, Condition.STUCK)):
            return claimed
        failed = _open(state, Condition.FAILED)
        if condition is Condition.FAILED and failed is not None:  # a repeat: what the event says is enough
            return QueryFacts.from_dict({**failed.facts, **finding.facts})
        if condition is Condition.STUCK and claimed.ended_state:
            return claimed.model_copy(update={"state": claimed.ended_state})
        facts = self._verified(finding, self.read_query(finding.resource_id))
        failure = classify_facts(facts) if condition in (Condition.FAILED, Condition.CANCELLED) else None
        if failure is not None and failure.name in NEEDS_WORKGROUP_LIMITS and facts.workgroup:
            facts = facts.model_copy(update=self.read_workgroup_limits(facts.workgroup))
        return facts

    def _verified(self, finding: Finding, read: QueryFacts) -> QueryFacts:
        """From here on, only the workgroup Athena reports counts; a finding that claimed another is a mismatch."""
        claimed = finding.scope_key or finding.facts.get("workgroup")
        merged = {k: v for k, v in finding.facts.items() if k != "workgroup"} | read.as_dict()
        if read.workgroup:
            merged["workgroup_verified"] = True
            if claimed and read.workgroup != claimed:
                reason = f"the finding names workgroup {claimed}, GetQueryExecution says {read.workgroup}"
                logger.warning(
                    "query finding names another workgroup: ignored", query=finding.resource_id, reason=reason
                )
                count("ScopeMismatch", resource_type=self.resource_type.value)
                merged["scope_mismatch"] = reason
        return QueryFacts.from_dict(merged)

    def read_query(self, query_id: str) -> QueryFacts:
        """``aws athena get-query-execution --query-execution-id <id>`` as facts (``found: False`` if unknown)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            response = self.clients.athena.get_query_execution(QueryExecutionId=query_id)
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if exc.response.get("Error", {}).get("Code") == "InvalidRequestException" and "not found" in message:
                return QueryFacts(found=False)
            raise QueryReadError(f"GetQueryExecution {query_id}: {exc}") from exc
        from watchdogs.incidents import now_utc  # noqa: PLC0415 - the runbooks' one clock (as crawler, execution)

        return QueryFacts.from_execution(dict(response["QueryExecution"]), now_utc())

    def read_workgroup_limits(self, workgroup: str) -> dict[str, Any]:
        """``aws athena get-work-group`` (runbook "Athena Query Timeout": view workgroup limits)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            config = (
                self.clients.athena.get_work_group(WorkGroup=workgroup).get("WorkGroup", {}).get("Configuration", {})
            )
        except ClientError as exc:
            logger.warning("cannot read workgroup limits", workgroup=workgroup, error=str(exc))
            return {}
        limits = {
            "workgroup_bytes_scanned_cutoff": config.get("BytesScannedCutoffPerQuery"),
            "workgroup_enforce_configuration": config.get("EnforceWorkGroupConfiguration"),
        }
        return {k: v for k, v in limits.items() if v is not None}

    def workgroup_tags(self, workgroup: str, finding: Finding) -> dict[str, str] | None:
        """``aws athena list-tags-for-resource`` on the workgroup (``None``: no account id to build its ARN).

        A workgroup Athena does not know has no tags (the emulator answers an untagged one the same way); any
        other failure is raised: the query is never cancelled without knowing whether its workgroup opted out."""
        account = self.settings.account_id or str(finding.facts.get("event_account") or "")
        if not account:
            logger.warning("cannot read workgroup tags: no account id", workgroup=workgroup)
            return None
        from botocore.exceptions import ClientError  # noqa: PLC0415

        arn = workgroup_arn(self.settings.region, account, workgroup)
        tags: dict[str, str] = {}
        kwargs: dict[str, Any] = {"ResourceARN": arn}
        try:
            while True:
                page = self.clients.athena.list_tags_for_resource(**kwargs)
                tags.update(tags_from_pairs(page.get("Tags", []), key="Key", value="Value"))
                if not page.get("NextToken"):
                    return tags
                kwargs["NextToken"] = page["NextToken"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if code == "ResourceNotFoundException" or (
                code == "InvalidRequestException" and _NO_SUCH_RESOURCE.search(message)
            ):
                return {}
            raise QueryReadError(f"ListTagsForResource {arn}: {exc}") from exc

    def _pipeline_candidate(self, condition: Condition, read: QueryFacts, state: ResourceState) -> bool:
        """Whether to ask which run owns the query (:mod:`.pipeline`): it ended in the pipeline workgroup (as Athena
        reports it) in a way that would be notified, and nothing is open for it here (an open one keeps its course)."""
        workgroup = self.settings.pipeline_workgroup
        if not workgroup or not read.workgroup_verified or read.workgroup != workgroup or state.active():
            return False
        if not self.settings.state_machine_arn_prefixes:
            return False
        failure = classify_facts(read)
        return condition is Condition.FAILED or (
            condition is Condition.CANCELLED and failure is not None and failure.name == "bytes-scanned-cutoff"
        )

    def evidence(self, finding: Finding, facts: dict[str, Any], box: TimeBox) -> list[Evidence]:
        """What the runbook tells a person to look at (:mod:`.evidence`): data scanned against the limit."""
        from watchdogs.runbooks.query.evidence import gather  # noqa: PLC0415 - only when gathering (cold start)

        return gather(finding.condition, facts, f"athena:{finding.resource_id}", box)

    # ------------------------------------------------------------------------------------------------ decide
    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        """Pure: dispatch to the runbook function of the finding's condition."""
        query_id, read = finding.resource_id, QueryFacts.from_dict(facts)
        refused = scope_refusal(query_id, read, finding.scope_key, self.settings.workgroups)
        if refused is not None:
            return refused
        if finding.condition is Condition.STUCK:
            threshold = self.settings.query_threshold(str(read.workgroup or finding.scope_key))
            observing = self.settings.mode_for(self.resource_type.value) is Mode.OBSERVE
            decision = decide_stuck(query_id, read, incident, threshold_seconds=threshold, observing=observing, now=now)
            return guard_cancel(query_id, read, decision)
        if finding.condition in (Condition.FAILED, Condition.CANCELLED) and facts.get("pipeline_run"):
            return pipeline_owned(query_id, facts, finding.condition)
        if finding.condition is Condition.FAILED:
            return decide_failed(query_id, read, incident, state, now)
        if finding.condition is Condition.CANCELLED:
            return decide_cancelled(query_id, read, state)
        if finding.condition is Condition.RECOVERED:
            return decide_succeeded(query_id, read, state)
        return ignore(f"query {query_id}: {finding.condition.value} not handled.")


def pipeline_owned(query_id: str, facts: dict[str, Any], condition: Condition) -> Decision:
    """One root cause, one alert: the query is a pipeline step's (:mod:`.pipeline`), so its failure is the run's,
    reported on the run's incident with the query as evidence (:mod:`watchdogs.runbooks.execution.evidence`)."""
    run, step = str(facts.get("pipeline_run")), str(facts.get("pipeline_step") or "?")
    return ignore(
        f"Athena query {query_id} {condition.value}: it is step {step} of pipeline run {run.rsplit(':', 1)[-1]}, "
        "reported with the run's incident (no separate alert)."
    )


def _at(facts: QueryFacts) -> datetime | None:
    """When the query was submitted (timezone-aware), if known."""
    from datetime import UTC, datetime  # noqa: PLC0415 - runtime use; the module imports it for types only

    if not facts.submitted_at:
        return None
    moment = datetime.fromisoformat(facts.submitted_at.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _open(state: ResourceState, condition: Condition) -> Incident | None:
    incident = state.incidents.get(condition)
    return incident if incident is not None and incident.is_active else None
