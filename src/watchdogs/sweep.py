"""The scheduled sweep: the source of truth when no event fires (or an event was lost).

Events are the fast path; the sweep finds what they cannot tell, on a schedule (``rate(N minutes)``):

* **stuck work** -- Glue crawlers RUNNING or STOPPING past their threshold, Athena queries QUEUED/RUNNING past
  theirs, Step Functions executions RUNNING past theirs (runbook "Pipeline Stuck in RUNNING State", "Reset crawler
  if stuck");
* **lost failures** -- a FAILED / TIMED_OUT / ABORTED execution or a failed last crawl within the look-back window
  that no incident knows about: it is fed to the same remediation an event would have reached;
* **resume** -- every active incident is fed back (condition of the incident, ``source="sweep"``): a persisted
  multi-step remediation continues ("wait for READY state, then restart"), and a resource that has recovered
  resolves its incident.

The sweep only *finds*: it hands each :class:`~watchdogs.models.domain.Finding` to ``Engine.handle``, where the
remediations decide and the incident store's conditional writes make sure that of a sweep and an event handler
working on the same resource at the same time exactly one acts. One failing API call (throttling, AccessDenied on
one resource) is recorded in :attr:`SweepReport.errors` and the rest of the sweep goes on.

API calls grow with the resources in scope divided by the page size (see ``docs/sweep.md``); per-resource reads
(tags, incident history) happen only for candidates.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools.metrics import MetricUnit
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, Field

from watchdogs.incidents import (
    ConcurrentUpdate,
    Incident,
    IncidentStore,
    StoreError,
    iso,
    now_utc,
    parse_iso,
)
from watchdogs.models.domain import Condition, Finding, ResourceType
from watchdogs.observability import count, logger, metrics
from watchdogs.shared import (
    crawler_arn,
    state_machine_of,
    tag_floor,
    tags_from_pairs,
    threshold_from_tags,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from mypy_boto3_athena.type_defs import QueryExecutionTypeDef
    from mypy_boto3_glue.type_defs import CrawlerTypeDef
    from mypy_boto3_stepfunctions.type_defs import ExecutionListItemTypeDef

    from watchdogs.clients import AwsClients
    from watchdogs.engine import HandleResult
    from watchdogs.settings import Settings

# ------------------------------------------------------------------------------------------------ AWS limits
#: GetCrawlers ``MaxResults`` (1..1000)
GLUE_PAGE_SIZE = 1000
#: ListStateMachines / ListExecutions ``maxResults`` (0..1000)
SFN_PAGE_SIZE = 1000
#: ListQueryExecutions ``MaxResults`` (0..50)
ATHENA_LIST_PAGE_SIZE = 50
#: BatchGetQueryExecution ``QueryExecutionIds`` (1..50)
ATHENA_BATCH_SIZE = 50
#: Athena's default DML query timeout: a query threshold at or above it never fires (Athena kills the query first)
ATHENA_DML_TIMEOUT_SECONDS = 30 * 60
#: active incidents the sweep resumes per run (newest first)
MAX_OPEN_INCIDENTS = 1000
#: failed runs can be redriven for 14 days (AWS); after that nothing can recover them
REDRIVE_WINDOW = timedelta(days=14)
#: stop handing findings to the engine when the invocation has less time left than this
DEADLINE_MARGIN_MS = 10_000

#: IAM actions discovery uses (the remediations declare their own); template.yaml grants them to SweepFunction
DISCOVERY_PERMISSIONS: tuple[str, ...] = (
    "glue:GetCrawlers",
    "glue:GetTags",
    "states:ListStateMachines",
    "states:ListExecutions",
    "states:ListTagsForResource",
    "athena:ListQueryExecutions",
    "athena:BatchGetQueryExecution",
    "dynamodb:Query",  # open incidents (open-index) and the history of a lost-failure candidate
)

FAILED_EXECUTION_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
ACTIVE_QUERY_STATES = frozenset({"QUEUED", "RUNNING"})
#: what a failed AWS call raises (botocore); the store's own errors besides
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
STORE_ERRORS: tuple[type[Exception], ...] = (StoreError, ClientError, BotoCoreError)
CLOSE_ERRORS: tuple[type[Exception], ...] = (*STORE_ERRORS, ConcurrentUpdate)
_TYPE_ORDER = {ResourceType.CRAWLER: 0, ResourceType.QUERY: 1, ResourceType.EXECUTION: 2}  # causes first


class FindingHandler(Protocol):
    """What the sweep hands findings to: :class:`watchdogs.engine.Engine` (or a recording fake in tests)."""

    def handle(self, finding: Finding) -> HandleResult: ...


# ------------------------------------------------------------------------------------------------ report
class SweepError(BaseModel):
    """One API call that failed; the sweep recorded it and went on."""

    resource_type: str  # crawler | query | execution | incident
    operation: str  # e.g. glue.GetTags, athena.BatchGetQueryExecution, engine.handle
    resource: str = ""
    code: str = ""
    message: str = ""


class SweepItem(BaseModel):
    """A finding the sweep made and what the engine did with it."""

    resource: str
    condition: str
    kind: str  # stuck | lost-failure | resume
    outcome: str = ""  # HandleResult.outcome; "deferred" when the invocation ran out of time
    actions: list[str] = Field(default_factory=list)
    incident_id: str | None = None
    detail: str = ""


class SweepReport(BaseModel):
    """What one sweep checked, found and did (also the handler's return value and its one log line)."""

    started_at: str
    duration_ms: int = 0
    mode: str = ""
    checked: dict[str, int] = Field(default_factory=dict)
    found: dict[str, int] = Field(default_factory=dict)
    outcomes: dict[str, int] = Field(default_factory=dict)
    items: list[SweepItem] = Field(default_factory=list)
    errors: list[SweepError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        """The compact form logged on one line (items are summarised by their outcome counts)."""
        return {
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "mode": self.mode,
            "checked": self.checked,
            "found": self.found,
            "outcomes": self.outcomes,
            "acted": [f"{i.resource}:{','.join(i.actions)}" for i in self.items if i.actions][:20],
            "errors": [e.model_dump() for e in self.errors[:20]],
            "error_count": len(self.errors),
            "warnings": self.warnings,
        }


# ------------------------------------------------------------------------------------------------ pure helpers
def check_thresholds(settings: Settings) -> list[str]:
    """Threshold settings that cannot work as configured (empty: all fine). Pure; logged and reported.

    A stuck-query threshold must sit below Athena's own DML timeout (default 30 min) or Athena cancels the query
    before the watchdog ever sees it stuck; the look-back window must reach further back than the longest
    query threshold, or a stuck query falls out of the window before it is old enough to be flagged.
    """
    problems: list[str] = []
    query_thresholds = {"QUERY_STUCK_SECONDS": settings.query_stuck_seconds} | {
        f"WORKGROUP_QUERY_STUCK_SECONDS[{wg}]": value for wg, value in settings.workgroup_query_stuck_seconds.items()
    }
    for name, value in query_thresholds.items():
        if value >= ATHENA_DML_TIMEOUT_SECONDS:
            problems.append(
                f"{name}={value}s is not below Athena's DML timeout ({ATHENA_DML_TIMEOUT_SECONDS}s): "
                "DML queries are cancelled by Athena before they count as stuck"
            )
    longest_query = max(query_thresholds.values())
    if settings.sweep_lookback_seconds <= longest_query:
        problems.append(
            f"SWEEP_LOOKBACK_SECONDS={settings.sweep_lookback_seconds}s does not exceed the longest query threshold "
            f"({longest_query}s): stuck queries leave the look-back window before they are flagged"
        )
    return problems


def seconds_between(start: datetime | None, now: datetime) -> float | None:
    return None if start is None else max(0.0, (now - start).total_seconds())


def crawler_running_seconds(crawler: CrawlerTypeDef, now: datetime) -> float | None:
    """How long the current crawl has run: ``CrawlElapsedTime`` (ms) when Glue reports it, else since
    ``LastCrawl.StartTime`` (for a running crawler Glue may report the current crawl as the last one)."""
    elapsed_ms = crawler.get("CrawlElapsedTime") or 0
    if elapsed_ms > 0:
        return float(elapsed_ms) / 1000.0
    return seconds_between((crawler.get("LastCrawl") or {}).get("StartTime"), now)


def execution_run_started(execution: ExecutionListItemTypeDef) -> datetime:
    """When the current run began: a redriven execution runs again from its ``redriveDate``."""
    started: datetime = execution["startDate"]
    redriven: datetime | None = execution.get("redriveDate")
    return max(started, redriven) if redriven else started


def already_seen(incidents: list[Incident], since: datetime, *, any_condition: bool) -> bool:
    """Whether the watchdogs already engaged with a run that began at ``since``: an incident about it exists.

    Failures look for a FAILED incident detected after the run began; an ABORTED run accepts any incident (an
    execution the watchdogs stopped as STUCK ends ABORTED: that is the echo of their own action).
    """
    for incident in incidents:
        if parse_iso(incident.detected_at) < since - timedelta(seconds=1):
            continue
        if any_condition or incident.condition is Condition.FAILED:
            return True
    return False


def crawler_recovered(crawler: CrawlerTypeDef, active: list[Incident]) -> bool:
    """A crawler with active STUCK/FAILED incidents has recovered when it is READY and its last crawl SUCCEEDED --
    for a FAILED incident, a crawl that began after the failure was detected (the failed one began before)."""
    last = crawler.get("LastCrawl") or {}
    if crawler.get("State") != "READY" or last.get("Status") != "SUCCEEDED":
        return False
    relevant = [i for i in active if i.condition in {Condition.STUCK, Condition.FAILED}]
    if not relevant:
        return False  # NO_NEW_DATA needs the crawl's counters, which only the event carries
    started: datetime | None = last.get("StartTime")
    failures = [parse_iso(i.detected_at) for i in relevant if i.condition is Condition.FAILED]
    return not failures or (started is not None and started >= min(failures) - timedelta(seconds=1))


def incident_scope_key(incident: Incident) -> str:
    """What the scope rules match for an incident's resource (crawler name, workgroup, state machine ARN)."""
    if incident.resource_type is ResourceType.CRAWLER:
        return incident.resource_id
    if incident.resource_type is ResourceType.EXECUTION:
        return str(incident.facts.get("state_machine_arn") or state_machine_of(incident.resource_id))
    return str(incident.facts.get("workgroup") or incident.facts.get("scope_key") or "")


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def call_bounds(
    *,
    crawlers: int,
    state_machines: int,
    running_per_machine: list[int],
    recent_per_machine: list[int],
    queries_per_workgroup: list[int],
    candidates_with_tags: int,
) -> dict[str, int]:
    """Upper bounds on the list/batch API calls of one sweep (docs/sweep.md; asserted by the scale test)."""

    def pages(n: int, size: int) -> int:
        return max(1, math.ceil(n / size))

    list_queries = sum(pages(n, ATHENA_LIST_PAGE_SIZE) for n in queries_per_workgroup)
    return {
        "glue.GetCrawlers": pages(crawlers, GLUE_PAGE_SIZE),
        "stepfunctions.ListStateMachines": pages(state_machines, SFN_PAGE_SIZE),
        "stepfunctions.ListExecutions": sum(pages(n, SFN_PAGE_SIZE) for n in running_per_machine)
        + sum(pages(n, SFN_PAGE_SIZE) for n in recent_per_machine),
        "athena.ListQueryExecutions": list_queries,
        "athena.BatchGetQueryExecution": sum(math.ceil(n / ATHENA_BATCH_SIZE) for n in queries_per_workgroup),
        "tags": candidates_with_tags,
    }


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__


# ------------------------------------------------------------------------------------------------ the sweep
class Sweep:
    """One sweep over the resources in scope. Takes its adapters; builds nothing at import time.

    ``engine`` is anything with ``handle(finding)`` (the real :class:`~watchdogs.engine.Engine` in production);
    ``store`` defaults to the engine's incident store, ``clock`` to UTC now.
    """

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        engine: FindingHandler,
        *,
        store: IncidentStore | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.engine = engine
        engine_store = getattr(engine, "store", None)
        self.store: IncidentStore = store or (
            engine_store
            if isinstance(engine_store, IncidentStore)
            else IncidentStore(
                settings.incident_table,
                clients.dynamodb,
                ttl_days=settings.incident_ttl_days,
                environment=settings.environment,
            )
        )
        self.clock = clock
        self._report = SweepReport(started_at="")
        self._open: dict[str, list[Incident]] = {}
        self._crawlers: dict[str, CrawlerTypeDef] = {}
        self._now = clock()

    # ------------------------------------------------------------------------------------------ entry
    def run(self, remaining_ms: Callable[[], int] | None = None) -> SweepReport:
        """Discover, then hand every finding to the engine (causes first: crawlers, queries, executions).

        ``remaining_ms`` (the Lambda context's ``get_remaining_time_in_millis``) stops handing findings over when
        the invocation is about to time out; what is left is reported as ``deferred`` for the next sweep.
        """
        started = time.monotonic()
        self._now = self.clock()
        self._report = report = SweepReport(started_at=iso(self._now), mode=self.settings.mode.value)
        self._crawlers = {}
        report.warnings.extend(check_thresholds(self.settings))
        open_incidents = self._load_open()
        found: list[tuple[str, Finding]] = []
        if self.settings.crawler_prefixes:
            found += self._discover_crawlers()
        if self.settings.workgroups:
            found += self._discover_queries()
        if self.settings.state_machine_arn_prefixes:
            found += self._discover_executions()
        found += self._resume(open_incidents, {(f.resource_key, f.condition) for _, f in found})
        found.sort(key=lambda pair: _TYPE_ORDER[pair[1].resource_type])

        report.found = dict(Counter(kind for kind, _ in found))
        for kind, finding in found:
            item = SweepItem(resource=finding.resource_key, condition=finding.condition.value, kind=kind)
            if remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS:
                item.outcome, item.detail = "deferred", "invocation about to time out: left for the next sweep"
            else:
                self._handle(finding, item)
            report.items.append(item)
        report.outcomes = dict(Counter(item.outcome for item in report.items))
        self._flush_outbox()
        report.duration_ms = round((time.monotonic() - started) * 1000)
        self._publish(report)
        return report

    def _handle(self, finding: Finding, item: SweepItem) -> None:
        try:
            result = self.engine.handle(finding)
        except Exception as exc:  # bulkhead: one resource's failure (whatever it is) must not abort the sweep
            logger.exception("sweep: handling a finding failed", resource=finding.resource_key)
            self._error(finding.resource_type.value, "engine.handle", finding.resource_id, exc)
            item.outcome, item.detail = "error", str(exc)[:300]
            return
        item.outcome, item.actions, item.incident_id = result.outcome, list(result.actions), result.incident_id
        item.detail = result.detail
        for sub in result.delegated:
            item.actions += [f"{sub.resource}:{a}" for a in sub.actions]

    def _flush_outbox(self) -> None:
        """Notifications still pending (SNS was down, or an invocation died before publishing) go out now."""
        flush_pending = getattr(self.engine, "flush_pending", None)
        if flush_pending is None:
            return
        try:
            totals = flush_pending()
        except STORE_ERRORS as exc:
            self._error("incident", "dynamodb.Query(outbox-index)", "", exc)
            return
        self._report.checked["outbox_flushed"] = int(totals.get("sent", 0))
        if totals.get("failed"):
            self._report.checked["outbox_failed"] = int(totals["failed"])

    # ------------------------------------------------------------------------------------------ incidents
    def _load_open(self) -> list[Incident]:
        try:
            incidents = self.store.list_open(limit=MAX_OPEN_INCIDENTS)
        except STORE_ERRORS as exc:  # without the list the sweep still finds stuck work
            self._error("incident", "dynamodb.Query(open-index)", "", exc)
            incidents = []
        self._open = {}
        for incident in incidents:
            self._open.setdefault(incident.resource_key, []).append(incident)
        self._report.checked["open_incidents"] = len(incidents)
        return incidents

    def _seen(self, resource_type: ResourceType, resource_id: str, since: datetime, *, any_condition: bool) -> bool:
        """Active incidents come from the open list; closed ones cost one Query of the resource's partition."""
        key = f"{resource_type.value}#{resource_id}"
        if already_seen(self._open.get(key, []), since, any_condition=any_condition):
            return True
        try:
            history = self.store.history(resource_type, resource_id)
        except STORE_ERRORS as exc:  # unknown history: the engine's one-incident-per-slot check still dedups
            self._error(resource_type.value, "dynamodb.Query(history)", resource_id, exc)
            return False
        return already_seen(history, since, any_condition=any_condition)

    def _resume(self, incidents: list[Incident], covered: set[tuple[str, Condition]]) -> list[tuple[str, Finding]]:
        """Every active incident goes back to its remediation: continue a pending step, or resolve if recovered.

        A crawler whose recovery the sweep itself has seen (READY, last crawl SUCCEEDED) gets one RECOVERED finding
        instead -- what the lost ``Succeeded`` event would have brought -- which resolves its incidents.
        """
        findings: list[tuple[str, Finding]] = []
        recovered: set[str] = set()
        for incident in incidents:
            if not incident.is_active or (incident.resource_key, incident.condition) in covered:
                continue
            if incident.resource_key in recovered:
                continue
            if self._expire_if_terminal(incident):
                continue
            recovery = self._crawler_recovery(incident)
            if recovery is not None:
                recovered.add(incident.resource_key)
                findings.append(("recovered", recovery))
                continue
            facts: dict[str, Any] = {"sweep": "resume", "incident_status": incident.status.value}
            if incident.pending_step:
                facts["pending_step"] = incident.pending_step
            findings.append(
                (
                    "resume",
                    Finding(
                        resource_type=incident.resource_type,
                        resource_id=incident.resource_id,
                        condition=incident.condition,
                        source="sweep",
                        observed_at=self._now,
                        scope_key=incident_scope_key(incident),
                        facts=facts,
                    ),
                )
            )
        return findings

    def _expire_if_terminal(self, incident: Incident) -> bool:
        """Close a failure incident whose resource can never recover, so it stops costing a resume every sweep.

        A failed query id never runs again (Athena re-queues within minutes; dbt retries under a new id): closed
        once older than the look-back window. A failed run can be redriven for 14 days: closed after that. Both
        stay in the resource's history (with TTL); the person was told when it opened.
        """
        if incident.condition is not Condition.FAILED or incident.pending_step:
            return False
        horizon = {
            ResourceType.QUERY: timedelta(seconds=self.settings.sweep_lookback_seconds),
            ResourceType.EXECUTION: REDRIVE_WINDOW,
        }.get(incident.resource_type)
        if horizon is None or self._now - parse_iso(incident.detected_at) <= horizon:
            return False
        reason = (
            f"Closed: a failed {incident.resource_type.value} cannot recover after "
            f"{int(horizon.total_seconds())} s; kept in history."
        )
        expire = getattr(self.engine, "expire", None)
        if expire is None:
            return False
        try:
            expire(incident, reason)
        except STORE_ERRORS as exc:
            self._error(incident.resource_type.value, "engine.expire", incident.resource_id, exc)
            return True
        self._report.checked["expired_incidents"] = self._report.checked.get("expired_incidents", 0) + 1
        return True

    def _crawler_recovery(self, incident: Incident) -> Finding | None:
        if incident.resource_type is not ResourceType.CRAWLER or incident.resource_id not in self._crawlers:
            return None
        active = [i for i in self._open.get(incident.resource_key, []) if i.is_active]
        if not crawler_recovered(self._crawlers[incident.resource_id], active):
            return None
        last = self._crawlers[incident.resource_id].get("LastCrawl") or {}
        facts = {"sweep": "recovered", "state": "READY", "last_crawl_status": "SUCCEEDED"}
        if last.get("StartTime"):
            facts["last_crawl_started"] = iso(last["StartTime"])
        return self._finding(
            ResourceType.CRAWLER, incident.resource_id, Condition.RECOVERED, incident.resource_id, facts
        )

    # ------------------------------------------------------------------------------------------ crawlers
    def _discover_crawlers(self) -> list[tuple[str, Finding]]:
        """GetCrawlers (paginated, filtered by prefix client-side): RUNNING/STOPPING past threshold, failed last crawl.

        Runbook "Troubleshoot Crawler Failures", step 3 ("Reset crawler if stuck") starts from here.
        """
        settings, now = self.settings, self._now
        glue = self.clients.glue
        found: list[tuple[str, Finding]] = []
        checked = 0
        kwargs: dict[str, Any] = {"MaxResults": GLUE_PAGE_SIZE}
        while True:
            try:
                page = glue.get_crawlers(**kwargs)
            except AWS_ERRORS as exc:
                self._error("crawler", "glue.GetCrawlers", "", exc)
                break
            for crawler in page.get("Crawlers", []):
                name = crawler["Name"]
                if not name.startswith(tuple(settings.crawler_prefixes)):
                    continue
                checked += 1
                self._crawlers[name] = crawler
                finding = self._crawler_finding(crawler, now)
                if finding is not None:
                    found.append(finding)
            token = page.get("NextToken")
            if not token:
                break
            kwargs["NextToken"] = token
        self._report.checked["crawlers"] = checked
        return found

    def _crawler_finding(self, crawler: CrawlerTypeDef, now: datetime) -> tuple[str, Finding] | None:
        settings = self.settings
        name, state = crawler["Name"], crawler.get("State", "")
        last = crawler.get("LastCrawl") or {}
        base_facts: dict[str, Any] = {"sweep": "discovery", "state": state}
        if state in {"RUNNING", "STOPPING"}:
            running = crawler_running_seconds(crawler, now)
            if running is None:
                return None
            if state == "STOPPING":
                # stopped by someone (or by us: then the incident's resume judges it from the stop's time); stuck
                # while stopping once the crawl overstays both limits, as the crawler runbook escalates it
                threshold, source = settings.crawler_stuck_seconds + settings.crawler_stopping_seconds, "default"
            else:
                default = settings.crawler_stuck_seconds
                if running < tag_floor(default):
                    return None
                threshold, source = self._crawler_threshold(name, default)
            if running < threshold:
                return None
            facts = {**base_facts, "running_seconds": round(running), "threshold_seconds": threshold}
            facts["threshold_source"] = source
            return "stuck", self._finding(ResourceType.CRAWLER, name, Condition.STUCK, name, facts)
        if state == "READY" and last.get("Status") == "FAILED":
            started: datetime | None = last.get("StartTime")
            if started is None or started < now - timedelta(seconds=settings.sweep_lookback_seconds):
                return None
            if self._seen(ResourceType.CRAWLER, name, started, any_condition=False):
                return None
            facts = {**base_facts, "last_crawl_status": "FAILED", "last_crawl_started": iso(started)}
            if last.get("ErrorMessage"):
                facts["error_message"] = last["ErrorMessage"]
            return "lost-failure", self._finding(ResourceType.CRAWLER, name, Condition.FAILED, name, facts)
        return None

    def _crawler_threshold(self, name: str, default: int) -> tuple[int, str]:
        if not self.settings.account_id:
            return default, "default"  # no account id: no crawler ARN to read tags of
        arn = crawler_arn(self.settings.region, self.settings.account_id, name)
        try:
            tags = self.clients.glue.get_tags(ResourceArn=arn).get("Tags", {})
        except AWS_ERRORS as exc:  # unknown tags: the default threshold still applies
            self._error("crawler", "glue.GetTags", name, exc)
            return default, "default"
        threshold, source, problem = threshold_from_tags(tags, self.settings.threshold_tag, default)
        if problem:
            self._report.warnings.append(f"crawler {name}: {problem}")
        return threshold, source

    # ------------------------------------------------------------------------------------------ queries
    def _discover_queries(self) -> list[tuple[str, Finding]]:
        """ListQueryExecutions per workgroup (newest first, 50 a page) + BatchGetQueryExecution (50 a call), paging
        back only until a whole batch is older than the look-back window."""
        found: list[tuple[str, Finding]] = []
        checked = 0
        window_start = self._now - timedelta(seconds=self.settings.sweep_lookback_seconds)
        for workgroup in self.settings.workgroups:
            threshold = self.settings.query_threshold(workgroup)
            kwargs: dict[str, Any] = {"WorkGroup": workgroup, "MaxResults": ATHENA_LIST_PAGE_SIZE}
            done = False
            while not done:
                try:
                    page = self.clients.athena.list_query_executions(**kwargs)
                except AWS_ERRORS as exc:
                    self._error("query", "athena.ListQueryExecutions", workgroup, exc)
                    break
                for batch in chunks(page.get("QueryExecutionIds", []), ATHENA_BATCH_SIZE):
                    executions = self._batch_get_queries(workgroup, batch)
                    checked += len(executions)
                    for execution in executions:
                        finding = self._query_finding(execution, workgroup, threshold)
                        if finding is not None:
                            found.append(finding)
                    submitted = [e.get("Status", {}).get("SubmissionDateTime") for e in executions]
                    if executions and all(s is not None and s < window_start for s in submitted):
                        done = True  # newest first: everything further back is older still
                        break
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        self._report.checked["workgroups"] = len(self.settings.workgroups)
        self._report.checked["queries"] = checked
        return found

    def _batch_get_queries(self, workgroup: str, ids: list[str]) -> list[QueryExecutionTypeDef]:
        try:
            response = self.clients.athena.batch_get_query_execution(QueryExecutionIds=ids)
        except AWS_ERRORS as exc:
            self._error("query", "athena.BatchGetQueryExecution", workgroup, exc)
            return []
        for unprocessed in response.get("UnprocessedQueryExecutionIds", []):
            self._report.errors.append(
                SweepError(
                    resource_type="query",
                    operation="athena.BatchGetQueryExecution",
                    resource=unprocessed.get("QueryExecutionId", ""),
                    code=unprocessed.get("ErrorCode", ""),
                    message=unprocessed.get("ErrorMessage", ""),
                )
            )
        return list(response.get("QueryExecutions", []))

    def _query_finding(
        self, execution: QueryExecutionTypeDef, workgroup: str, threshold: int
    ) -> tuple[str, Finding] | None:
        status = execution.get("Status", {})
        state = status.get("State", "")
        if state not in ACTIVE_QUERY_STATES:
            return None
        running = seconds_between(status.get("SubmissionDateTime"), self._now)
        if running is None or running < threshold:
            return None
        query_id = execution["QueryExecutionId"]
        facts = {
            "sweep": "discovery",
            "state": state,
            "workgroup": execution.get("WorkGroup") or workgroup,
            "statement_type": execution.get("StatementType"),
            "running_seconds": round(running),
            "threshold_seconds": threshold,
        }
        return "stuck", self._finding(ResourceType.QUERY, query_id, Condition.STUCK, workgroup, facts)

    # ------------------------------------------------------------------------------------------ executions
    def _discover_executions(self) -> list[tuple[str, Finding]]:
        """ListStateMachines (filtered by ARN prefix) and, per state machine, ListExecutions twice: RUNNING (all of
        them, however old) and unfiltered newest-first back to the look-back window (lost failures)."""
        found: list[tuple[str, Finding]] = []
        machines = self._state_machines()
        running_total = recent_total = 0
        for machine in machines:
            running, recent, machine_found = self._machine_findings(machine)
            running_total, recent_total = running_total + running, recent_total + recent
            found += machine_found
        self._report.checked["state_machines"] = len(machines)
        self._report.checked["running_executions"] = running_total
        self._report.checked["recent_executions"] = recent_total
        return found

    def _state_machines(self) -> list[str]:
        prefixes = tuple(self.settings.state_machine_arn_prefixes)
        arns: list[str] = []
        kwargs: dict[str, Any] = {"maxResults": SFN_PAGE_SIZE}
        while True:
            try:
                page = self.clients.sfn.list_state_machines(**kwargs)
            except AWS_ERRORS as exc:
                self._error("execution", "stepfunctions.ListStateMachines", "", exc)
                break
            arns += [
                m["stateMachineArn"] for m in page.get("stateMachines", []) if m["stateMachineArn"].startswith(prefixes)
            ]
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return arns

    def _list_executions(
        self, machine: str, *, status: str | None, stop_before: datetime | None
    ) -> list[ExecutionListItemTypeDef]:
        """Executions of one machine, newest first; with ``stop_before`` paging stops at the first older one."""
        kwargs: dict[str, Any] = {"stateMachineArn": machine, "maxResults": SFN_PAGE_SIZE}
        if status:
            kwargs["statusFilter"] = status
        listed: list[ExecutionListItemTypeDef] = []
        while True:
            try:
                page = self.clients.sfn.list_executions(**kwargs)
            except AWS_ERRORS as exc:
                self._error("execution", "stepfunctions.ListExecutions", machine, exc)
                break
            items = page.get("executions", [])
            if stop_before is not None:
                kept = [e for e in items if e["startDate"] >= stop_before]
                listed += kept
                if len(kept) < len(items):
                    break
            else:
                listed += items
            token = page.get("nextToken")
            if not token:
                break
            kwargs["nextToken"] = token
        return listed

    def _machine_findings(self, machine: str) -> tuple[int, int, list[tuple[str, Finding]]]:
        settings, now = self.settings, self._now
        found: list[tuple[str, Finding]] = []
        default = settings.execution_stuck_seconds
        running = self._list_executions(machine, status="RUNNING", stop_before=None)
        ages = {e["executionArn"]: (now - execution_run_started(e)).total_seconds() for e in running}
        over_floor = [e for e in running if ages[e["executionArn"]] >= tag_floor(default)]
        if over_floor:
            threshold, source = self._machine_threshold(machine, default)
            for execution in over_floor:
                age = ages[execution["executionArn"]]
                if age < threshold:
                    continue
                facts = {
                    "sweep": "discovery",
                    "status": "RUNNING",
                    "state_machine_arn": machine,
                    "running_seconds": round(age),
                    "threshold_seconds": threshold,
                    "threshold_source": source,
                }
                found.append(
                    (
                        "stuck",
                        self._finding(
                            ResourceType.EXECUTION, execution["executionArn"], Condition.STUCK, machine, facts
                        ),
                    )
                )

        # lost failures: a run that failed unseen began within the look-back window plus the stuck threshold
        # (a run older than that was flagged STUCK while it ran, so an incident knows it)
        lookback = timedelta(seconds=settings.sweep_lookback_seconds)
        recent = self._list_executions(machine, status=None, stop_before=now - lookback - timedelta(seconds=default))
        for execution in recent:
            status = execution.get("status", "")
            if status not in FAILED_EXECUTION_STATUSES:
                continue
            ended: datetime = execution.get("stopDate") or execution_run_started(execution)
            if ended < now - lookback:
                continue
            arn = execution["executionArn"]
            since = execution_run_started(execution)
            if self._seen(ResourceType.EXECUTION, arn, since, any_condition=status == "ABORTED"):
                continue
            facts = {
                "sweep": "discovery",
                "status": status,
                "state_machine_arn": machine,
                "stop_date": iso(ended),
                "redrive_count": execution.get("redriveCount", 0),
            }
            found.append(("lost-failure", self._finding(ResourceType.EXECUTION, arn, Condition.FAILED, machine, facts)))
        return len(running), len(recent), found

    def _machine_threshold(self, machine: str, default: int) -> tuple[int, str]:
        try:
            response = self.clients.sfn.list_tags_for_resource(resourceArn=machine)
        except AWS_ERRORS as exc:  # unknown tags: the default threshold still applies
            self._error("execution", "stepfunctions.ListTagsForResource", machine, exc)
            return default, "default"
        tags = tags_from_pairs(response.get("tags", []))
        threshold, source, problem = threshold_from_tags(tags, self.settings.threshold_tag, default)
        if problem:
            self._report.warnings.append(f"state machine {machine}: {problem}")
        return threshold, source

    # ------------------------------------------------------------------------------------------ plumbing
    def _finding(
        self, resource_type: ResourceType, resource_id: str, condition: Condition, scope_key: str, facts: dict[str, Any]
    ) -> Finding:
        return Finding(
            resource_type=resource_type,
            resource_id=resource_id,
            condition=condition,
            source="sweep",
            observed_at=self._now,
            scope_key=scope_key,
            facts=facts,
        )

    def _error(self, resource_type: str, operation: str, resource: str, exc: Exception) -> None:
        code = _error_code(exc)
        logger.warning("sweep: call failed, continuing", operation=operation, resource=resource, code=code)
        self._report.errors.append(
            SweepError(
                resource_type=resource_type, operation=operation, resource=resource, code=code, message=str(exc)[:500]
            )
        )

    @staticmethod
    def _publish(report: SweepReport) -> None:
        """One structured log line and a few metrics per sweep."""
        logger.info("sweep finished", **report.summary())
        for name, value in report.checked.items():
            count("SweepChecked", value, kind=name)
        for kind, value in report.found.items():
            count("SweepFound", value, kind=kind)
        for outcome, value in report.outcomes.items():
            count("SweepOutcome", value, outcome=outcome)
        metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=len(report.errors))
        metrics.add_metric(name="SweepDuration", unit=MetricUnit.Milliseconds, value=report.duration_ms)


# ------------------------------------------------------------------------------------------------ entry points
def run_sweep_once(remaining_ms: Callable[[], int] | None = None) -> SweepReport:
    """Run one sweep with this process's settings, clients and engine (the embedded demo calls this per tick)."""
    from watchdogs.runtime import runtime  # noqa: PLC0415 - built on first use, not at import

    rt = runtime()
    return Sweep(rt.settings, rt.clients, rt.engine).run(remaining_ms)


def handle_scheduled_event(event: Any, remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """The sweep function's body: parse the schedule event at the edge (reject anything else), run one sweep."""
    from watchdogs.models.events import ScheduledEvent  # noqa: PLC0415
    from watchdogs.runtime import Rejection, parse_event  # noqa: PLC0415

    parsed = parse_event(event, ScheduledEvent)
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    report = run_sweep_once(remaining_ms)
    return {"outcome": "swept", "event_id": parsed.id, **report.model_dump(mode="json")}
