"""Glue crawler watchdog: the runbook's "Glue Crawler Operations" and "Crawler Not Finding New Data", automated.

The module is two halves:

* pure runbook functions (no I/O): :func:`classify_failure` matches a crawl's error against the runbook's issue
  table, and :func:`decide_failed` / :func:`decide_stuck` / :func:`decide_recovered` / :func:`decide_started` /
  :func:`decide_no_new_data` turn a finding, the facts read about the crawler and its open incidents into a
  :class:`~watchdogs.models.domain.Decision`;
* :class:`CrawlerRemediator`, the thin shell the engine calls: scope, and the AWS reads (``GetCrawler``, and
  ``GetTags`` only when the watchdog is about to act or to judge a crawler stuck).

The stuck-crawler reset is multi-step (stop, wait for READY, start) and never sleeps inside an invocation: the
next step (``start_when_ready``, then ``await_success``) is persisted on the incident and resumed by the next
STUCK finding for the crawler (the sweep, or the Step Functions watchdog delegating to this one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import iso
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
from watchdogs.observability import logger
from watchdogs.shared import (
    ACCESS_DENIED_PATTERNS,
    TRANSIENT_PATTERNS,
    crawler_arn,
    foreign_origin,
    is_opted_out,
    tag_flag,
    threshold_from_tags,
)

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Incident, ResourceState
    from watchdogs.models.events import CrawlerStateChangeEvent
    from watchdogs.settings import Settings

RUNBOOK_FAILURES = "Glue Crawler Operations > Troubleshoot Crawler Failures > Step 2: Common issues and solutions"
RUNBOOK_RESET = "Glue Crawler Operations > Troubleshoot Crawler Failures > Step 3: Reset crawler if stuck"
RUNBOOK_NO_NEW_DATA = "Troubleshooting > Crawler Not Finding New Data"

#: pending steps of the stuck-crawler reset, persisted on the incident
STEP_START_WHEN_READY = "start_when_ready"
STEP_AWAIT_SUCCESS = "await_success"

#: crawler tag that turns the "new data is expected on every crawl" check on ("true") or off ("false")
EXPECT_NEW_DATA_TAG = "watchdogs:expect-new-data"
#: a ``Started`` event this soon after the watchdog's own StartCrawler is the echo of that restart
ECHO_WINDOW_SECONDS = 900


class CrawlerReadError(RuntimeError):
    """GetCrawler/GetTags failed for a reason other than 'no such crawler' (the invocation is retried)."""


# ------------------------------------------------------------------------------------------------ issue table
class FailureClass(StrEnum):
    ACCESS_DENIED = "access-denied"
    SCHEMA_MISMATCH = "schema-mismatch"
    NO_TABLES = "no-tables-created"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FailureRule:
    """One row of the runbook's "Common issues and solutions" table (plus transient service errors)."""

    failure_class: FailureClass
    issue: str
    cause: str
    solution: str
    patterns: tuple[str, ...]

    def matches(self, message: str) -> bool:
        return any(re.search(pattern, message, re.IGNORECASE) for pattern in self.patterns)


#: checked in order: a message that names both a permission and a service fault is a permission problem,
#: because a retry can never fix it
FAILURE_TABLE: tuple[FailureRule, ...] = (
    FailureRule(
        FailureClass.ACCESS_DENIED,
        issue="Access Denied",
        cause="IAM permissions",
        solution="Verify crawler role has S3 read access",
        patterns=(
            *ACCESS_DENIED_PATTERNS,
            r"not authori[sz]ed",
            r"unauthori[sz]ed",
            r"status code: ?403",
            r"permission",
            r"assume ?role",
            r"kms.*(denied|disabled)",
        ),
    ),
    FailureRule(
        FailureClass.SCHEMA_MISMATCH,
        issue="Schema mismatch",
        cause="Inconsistent file formats",
        solution="Ensure consistent schema across files",
        patterns=(
            r"schema",
            r"incompatible",
            r"mismatch",
            r"HIVE_[A-Z_]+",
            r"(cannot|unable to|could not) (parse|infer|read|deserialize)",
            r"malformed",
            r"classifier",
            r"serde",
            r"inconsistent",
            r"not a (valid )?(parquet|orc|avro|json|csv) file",
            r"corrupt",
        ),
    ),
    FailureRule(
        FailureClass.NO_TABLES,
        issue="No tables created",
        cause="Empty S3 prefix",
        solution="Check data exists in target prefix",
        patterns=(
            r"no ?such ?(key|bucket)",
            r"bucket does not exist",
            r"(path|prefix|location|folder) (does not exist|not found|is empty)",
            r"no (files|objects|data) (were )?(found|to crawl)",
            r"no tables (were )?created",
            r"empty (s3 )?(prefix|path|folder)",
        ),
    ),
    FailureRule(
        FailureClass.TRANSIENT,
        issue="Transient service error",
        cause="Throttling, an internal Glue/S3 fault or too many concurrent runs",
        solution="Restart the crawler (aws glue start-crawler) once the service recovers",
        patterns=(
            *TRANSIENT_PATTERNS,
            r"concurrent ?runs? ?exceeded",
            r"concurrent ?modification",
            r"connect(ion)? (reset|refused|closed|timed out)",
            r"temporar(il)?y",
            r"try again",
        ),
    ),
)
UNKNOWN_RULE = FailureRule(
    FailureClass.UNKNOWN,
    issue="Unrecognised failure",
    cause="Not in the runbook's issue table",
    solution="Check the crawler run logs (runbook Step 1) and classify the failure",
    patterns=(),
)
STUCK_RULE = FailureRule(
    FailureClass.UNKNOWN,
    issue="Crawler stuck",
    cause="Large dataset",
    solution="Increase crawler timeout or use sampling",
    patterns=(),
)


def classify_failure(message: str | None) -> FailureRule:
    """The runbook row a crawl's error message belongs to (``UNKNOWN_RULE`` when none matches)."""
    if not message or not message.strip():
        return UNKNOWN_RULE
    return next((rule for rule in FAILURE_TABLE if rule.matches(message)), UNKNOWN_RULE)


# ------------------------------------------------------------------------------------------------ tags
def expects_new_data(tags: dict[str, str], default: bool) -> bool:
    """Whether every successful crawl should create or update something (tag overrides the setting)."""
    flag = tag_flag(tags.get(EXPECT_NEW_DATA_TAG))
    return default if flag is None else flag


# ------------------------------------------------------------------------------------------------ events
def findings_from_event(event: CrawlerStateChangeEvent) -> list[Finding]:
    """``Glue Crawler State Change`` -> one finding: Failed -> FAILED, Succeeded -> RECOVERED, Started -> STARTED."""
    detail = event.detail
    condition = {
        "Failed": Condition.FAILED,
        "Succeeded": Condition.RECOVERED,
        "Started": Condition.STARTED,
    }[detail.state]
    facts: dict[str, Any] = {
        "event_state": detail.state,
        "account_id": detail.account_id or event.account,
        "event_account": event.account,
        "event_region": event.region,
        "error_message": detail.error_message,
        "event_message": detail.message,
        "running_time_sec": detail.running_time_sec,
        "cloudwatch_log_link": detail.cloudwatch_log_link,
    }
    if condition is Condition.RECOVERED:
        facts.update(
            tables_created=detail.tables_created,
            tables_updated=detail.tables_updated,
            tables_deleted=detail.tables_deleted,
            partitions_created=detail.partitions_created,
            partitions_updated=detail.partitions_updated,
            partitions_deleted=detail.partitions_deleted,
            changed_anything=detail.changed_anything,
        )
    return [
        Finding(
            resource_type=ResourceType.CRAWLER,
            resource_id=detail.crawler_name,
            condition=condition,
            source="event",
            event_id=event.id,
            observed_at=event.time,
            scope_key=detail.crawler_name,
            facts={k: v for k, v in facts.items() if v is not None},
        )
    ]


# ------------------------------------------------------------------------------------------------ facts
def crawler_facts(crawler: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The facts worth deciding on, from one ``GetCrawler`` answer (pure; JSON-plain values only)."""
    state = str(crawler.get("State", "READY"))
    facts: dict[str, Any] = {"exists": True, "crawler_state": state}
    elapsed_ms = crawler.get("CrawlElapsedTime")
    if state in {"RUNNING", "STOPPING"} and elapsed_ms is not None:
        facts["running_seconds"] = int(elapsed_ms) // 1000  # 0 is "just started", not unknown
    last = crawler.get("LastCrawl") or {}
    if last:
        facts["last_crawl_status"] = last.get("Status")
        facts["last_crawl_error"] = last.get("ErrorMessage")
        facts["log_group"] = last.get("LogGroup")
        facts["log_stream"] = last.get("LogStream")
        started = last.get("StartTime")
        if isinstance(started, datetime):
            facts["last_crawl_started_at"] = iso(started)
    if crawler.get("Role"):
        facts["role"] = crawler["Role"]
    if crawler.get("DatabaseName"):
        facts["database"] = crawler["DatabaseName"]
    s3_targets = (crawler.get("Targets") or {}).get("S3Targets") or []
    if s3_targets:
        facts["s3_targets"] = [t.get("Path", "") for t in s3_targets]
        exclusions = sorted({e for t in s3_targets for e in t.get("Exclusions") or []})
        if exclusions:
            facts["exclusions"] = exclusions
    facts["read_at"] = iso(now)
    return {k: v for k, v in facts.items() if v is not None}


# ------------------------------------------------------------------------------------------------ decisions
def _start(name: str) -> PlannedAction:
    return PlannedAction(name="start_crawler", params={"crawler": name}, target=name)


def _stop(name: str) -> PlannedAction:
    return PlannedAction(name="stop_crawler", params={"crawler": name}, target=name)


def _ignore(summary: str, classification: str = "benign") -> Decision:
    return Decision(outcome=Outcome.IGNORE, summary=summary, classification=classification, severity=Severity.INFO)


def _same_failure(facts: dict[str, Any], incident: Incident) -> bool:
    """The crawl that failed is the one the incident already handled (a sweep re-check, a late event)."""
    seen = incident.facts.get("failed_crawl_started_at")
    return bool(seen) and facts.get("last_crawl_status") == "FAILED" and facts.get("last_crawl_started_at") == seen


_OUTCOME_KEEPING = {
    IncidentStatus.OPEN: Outcome.NOTIFY,
    IncidentStatus.ESCALATED: Outcome.ESCALATE,
    IncidentStatus.REMEDIATING: Outcome.WAIT,
}


def _keep(incident: Incident, summary: str) -> Decision:
    """Nothing new: the decision that leaves the incident as it is (the engine writes and notifies nothing)."""
    return Decision(
        outcome=_OUTCOME_KEEPING.get(incident.status, Outcome.ACT),
        summary=summary,
        classification=incident.classification,
        severity=incident.severity,
        runbook_section=incident.runbook_section,
        advice=incident.advice,
        next_step=incident.pending_step,
        status_after=incident.status,
    )


def _tags_unavailable(name: str, classification: str, runbook: str) -> Decision:
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"Crawler {name} needs action but its tags (opt-out) could not be read: ACCOUNT_ID is not set.",
        classification=classification,
        severity=Severity.HIGH,
        runbook_section=runbook,
        advice=["Set ACCOUNT_ID for the watchdog so it can read crawler tags before acting."],
    )


def _target_advice(facts: dict[str, Any]) -> list[str]:
    advice = []
    if facts.get("role"):
        advice.append(f"Crawler role: {facts['role']}")
    if facts.get("s3_targets"):
        advice.append("S3 targets: " + ", ".join(facts["s3_targets"]))
    return advice


def _log_advice(name: str, facts: dict[str, Any]) -> str:
    group = facts.get("log_group", "/aws-glue/crawlers")
    stream = facts.get("log_stream", name)
    return (
        f"Check the crawler run logs: aws logs filter-log-events --log-group-name {group} "
        f"--log-stream-name-prefix {stream} --limit 50"
    )


def decide_failed(
    finding: Finding, facts: dict[str, Any], incident: Incident | None, settings: Settings, now: datetime
) -> Decision:
    """Runbook "Troubleshoot Crawler Failures": read the failure, look it up in the issue table, act accordingly.

    Access Denied and schema problems are escalated with the table's solution and never retried; an empty prefix
    is notified with its check; transient service errors restart the crawler (``aws glue start-crawler``) within
    the per-resource budget; anything else is recorded and notified, not acted on.
    """
    name = finding.resource_id
    if not facts.get("exists", True):
        return _ignore(f"Crawler {name} no longer exists.", "gone")
    last = facts.get("last_crawl_status")
    if last == "SUCCEEDED":
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"Crawler {name}: its last crawl succeeded.",
            classification="succeeded",
            severity=Severity.INFO,
        )
    if last == "CANCELLED":
        return _ignore(f"Crawler {name}: its last crawl was stopped, not failed.", "cancelled")
    if incident is not None and _same_failure(facts, incident):
        return _keep(incident, f"Crawler {name}: same failed crawl as the open incident.")
    if incident is not None and incident.pending_step == STEP_AWAIT_SUCCESS and facts.get("crawler_state") != "READY":
        return _keep(incident, f"Crawler {name} was restarted and is {facts.get('crawler_state')}: awaiting success.")
    confirmed = last == "FAILED" and facts.get("last_crawl_error")
    message = (facts.get("last_crawl_error") if confirmed else finding.facts.get("error_message")) or finding.facts.get(
        "event_message"
    )
    rule = classify_failure(message)
    quoted = f'"{message}"' if message else "(no error message)"
    facts_out = {
        "error_message": message,
        "failure_class": rule.failure_class.value,
        "confirmed_by_get_crawler": bool(confirmed),
        "failed_crawl_started_at": facts.get("last_crawl_started_at"),
    }
    common: dict[str, Any] = {
        "classification": rule.failure_class.value,
        "runbook_section": RUNBOOK_FAILURES,
        "facts": facts_out,
    }
    fix = f"Runbook: {rule.issue} | {rule.cause} | {rule.solution}"
    if rule.failure_class in {FailureClass.ACCESS_DENIED, FailureClass.SCHEMA_MISMATCH}:
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=f"Crawler {name} failed: {quoted}. {rule.issue} ({rule.cause}) is not retried: {rule.solution}.",
            severity=Severity.HIGH,
            advice=[fix, *_target_advice(facts), _log_advice(name, facts)],
            **common,
        )
    if rule.failure_class is FailureClass.NO_TABLES:
        return Decision(
            outcome=Outcome.NOTIFY,
            summary=f"Crawler {name} failed: {quoted}. {rule.issue} ({rule.cause}): {rule.solution}.",
            severity=Severity.WARNING,
            advice=[fix, *_target_advice(facts), "aws s3 ls <target path> --recursive | head -20"],
            **common,
        )
    if rule.failure_class is FailureClass.TRANSIENT:
        state = facts.get("crawler_state", "READY")
        if state != "READY":
            return Decision(
                outcome=Outcome.NOTIFY,
                summary=f"Crawler {name} failed transiently ({quoted}) and is {state} again: no restart needed.",
                severity=Severity.INFO,
                advice=[fix],
                **common,
            )
        if facts.get("tags_unavailable"):
            return _tags_unavailable(name, rule.failure_class.value, RUNBOOK_FAILURES)
        return Decision(
            outcome=Outcome.ACT,
            summary=f"Crawler {name} failed transiently ({quoted}): restarting it.",
            severity=Severity.WARNING,
            advice=[fix],
            actions=[_start(name)],
            next_step=STEP_AWAIT_SUCCESS,
            status_after=IncidentStatus.REMEDIATED,
            **common,
        )
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"Crawler {name} failed: {quoted}. Not in the runbook's issue table: recorded, not acted on.",
        severity=Severity.WARNING,
        advice=[_log_advice(name, facts), fix],
        **common,
    )


def decide_stuck(
    finding: Finding, facts: dict[str, Any], incident: Incident | None, settings: Settings, now: datetime
) -> Decision:
    """Runbook "Reset crawler if stuck": ``aws glue stop-crawler``, wait for READY, ``aws glue start-crawler``.

    Step by step across invocations: a RUNNING crawler past its threshold is stopped (next step
    ``start_when_ready``); once READY it is started (status remediated, next step ``await_success``); a crawler
    still STOPPING past ``CRAWLER_STOPPING_SECONDS`` is escalated, and so is one stuck again after our restart
    (the table's "Crawler stuck | Large dataset" needs a human: "Increase crawler timeout or use sampling").
    """
    name = finding.resource_id
    if not facts.get("exists", True):
        return _ignore(f"Crawler {name} no longer exists.", "gone")
    state = facts.get("crawler_state", "READY")
    threshold = int(facts.get("threshold_seconds", settings.crawler_stuck_seconds))
    running = facts.get("running_seconds", finding.facts.get("running_seconds"))
    stopping_limit = settings.crawler_stopping_seconds
    stuck_fix = f"Runbook: {STUCK_RULE.issue} | {STUCK_RULE.cause} | {STUCK_RULE.solution}"
    common: dict[str, Any] = {
        "runbook_section": RUNBOOK_RESET,
        "facts": {"threshold_seconds": threshold, "running_seconds": running, "crawler_state": state},
    }
    pending = incident.pending_step if incident else None

    if pending == STEP_START_WHEN_READY and incident is not None:
        stopped_at = incident.last_action_at("stop_crawler")
        since_stop = (now - stopped_at).total_seconds() if stopped_at else None
        if since_stop is None:  # observe mode: the stop was only recorded, never made
            if state == "READY":
                return _stuck_over(name, facts, incident)
            if state != "RUNNING":
                return _ignore(f"Crawler {name} is {state}: waiting.", "stopping")
            return _stop_decision(name, running, threshold, common)
        if state == "READY":
            if facts.get("tags_unavailable"):
                return _tags_unavailable(name, "crawler-stuck", RUNBOOK_RESET)
            return Decision(
                outcome=Outcome.ACT,
                summary=f"Crawler {name} is READY after the stop: starting it again.",
                classification="crawler-stuck",
                severity=Severity.WARNING,
                actions=[_start(name)],
                next_step=STEP_AWAIT_SUCCESS,
                status_after=IncidentStatus.REMEDIATED,
                **common,
            )
        if state == "RUNNING" and running is not None and running < since_stop:
            return Decision(
                outcome=Outcome.WAIT,
                summary=f"Crawler {name} was restarted by someone else after the stop: awaiting its success.",
                classification="crawler-stuck",
                severity=Severity.INFO,
                next_step=STEP_AWAIT_SUCCESS,
                **common,
            )
        if since_stop > stopping_limit:
            return Decision(
                outcome=Outcome.ESCALATE,
                summary=(
                    f"Crawler {name} is still {state} {since_stop:.0f} s after StopCrawler "
                    f"(limit {stopping_limit} s): a human must look at it."
                ),
                classification="crawler-stuck-stopping",
                severity=Severity.HIGH,
                advice=[stuck_fix, f"aws glue get-crawler --name {name}", "Contact AWS support if it never stops"],
                **common,
            )
        return Decision(
            outcome=Outcome.WAIT,
            summary=f"Crawler {name} is {state} {since_stop:.0f} s after StopCrawler: waiting for READY.",
            classification="crawler-stuck",
            severity=Severity.WARNING,
            next_step=STEP_START_WHEN_READY,
            **common,
        )

    if state == "READY":
        if incident is None:
            return _ignore(f"Crawler {name} is READY: not stuck.", "not-stuck")
        return _stuck_over(name, facts, incident)
    if running is not None and running < threshold:
        return _ignore(f"Crawler {name} has run {running} s, under its threshold of {threshold} s.", "not-stuck")
    if state == "STOPPING":
        # stopped by someone else; escalate only once it overstays both limits
        if running is not None and running > threshold + stopping_limit:
            return Decision(
                outcome=Outcome.ESCALATE,
                summary=f"Crawler {name} has been STOPPING past {stopping_limit} s (running {running} s).",
                classification="crawler-stuck-stopping",
                severity=Severity.HIGH,
                advice=[stuck_fix, f"aws glue get-crawler --name {name}"],
                **common,
            )
        return _ignore(f"Crawler {name} is already STOPPING (not by the watchdog).", "stopping")
    if pending == STEP_AWAIT_SUCCESS and incident is not None and incident.has_action("start_crawler"):
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=(
                f"Crawler {name} is stuck again after the watchdog restarted it (running {running} s, "
                f"threshold {threshold} s): {STUCK_RULE.solution}."
            ),
            classification="crawler-stuck-again",
            severity=Severity.HIGH,
            advice=[stuck_fix, *_target_advice(facts)],
            **common,
        )
    if facts.get("tags_unavailable"):
        return _tags_unavailable(name, "crawler-stuck", RUNBOOK_RESET)
    return _stop_decision(name, running, threshold, common)


def _stuck_over(name: str, facts: dict[str, Any], incident: Incident | None = None) -> Decision:
    """The crawler is READY again: its STUCK incident (only that one: a failed crawl keeps its own) is over.

    Resolve means recovered: only a crawl that SUCCEEDED after the incident was detected resolves it. READY with a
    cancelled or failed last crawl (someone stopped it, or the restarted crawl failed) closes the incident as not
    recovered, and says so: the data was not crawled.
    """
    last = facts.get("last_crawl_status", "unknown")
    started = str(facts.get("last_crawl_started_at") or "")
    fresh = incident is None or not started or started >= incident.detected_at
    if last == "SUCCEEDED" and fresh:
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"Crawler {name} is READY again and its last crawl SUCCEEDED.",
            classification="not-stuck",
            severity=Severity.INFO,
            resolves=[Condition.STUCK],
        )
    return Decision(
        outcome=Outcome.CLOSE,
        summary=(
            f"Crawler {name} is READY, but its last crawl is {last}: not recovered, the data was not crawled. "
            f"Start it again when the cause is fixed: aws glue start-crawler --name {name}"
        ),
        classification="stuck-not-recovered",
        severity=Severity.WARNING,
        resolves=[Condition.STUCK],
    )


def _stop_decision(name: str, running: Any, threshold: int, common: dict[str, Any]) -> Decision:
    ran = f"{running} s" if running is not None else "past its threshold"
    return Decision(
        outcome=Outcome.ACT,
        summary=f"Crawler {name} stuck in RUNNING ({ran}, threshold {threshold} s): stopping it, then restart.",
        classification="crawler-stuck",
        severity=Severity.WARNING,
        advice=[f"Runbook: {STUCK_RULE.issue} | {STUCK_RULE.cause} | {STUCK_RULE.solution}"],
        actions=[_stop(name)],
        next_step=STEP_START_WHEN_READY,
        status_after=IncidentStatus.REMEDIATING,
        **common,
    )


def decide_recovered(
    finding: Finding, facts: dict[str, Any], state: ResourceState, settings: Settings, now: datetime
) -> Decision:
    """A crawl succeeded: resolve what is open for the crawler (time to recover is recorded).

    A success that created/updated nothing while new data is expected is the runbook's "Crawler Not Finding New
    Data": the RESOLVE delegates a NO_NEW_DATA finding, recorded and notified as a warning.
    """
    name = finding.resource_id
    if "crawler_state" in facts and (
        facts["crawler_state"] != "READY" or facts.get("last_crawl_status") != "SUCCEEDED"
    ):
        return _ignore(
            f"Crawler {name}: a success was reported, but GetCrawler shows {facts['crawler_state']} with last crawl "
            f"{facts.get('last_crawl_status')}: not confirmed, nothing resolved.",
            "unconfirmed-success",
        )
    changed = bool(finding.facts.get("changed_anything", True))
    expected = bool(facts.get("expect_new_data", False))
    summary = f"Crawler {name} succeeded" + ("." if changed else " (no tables or partitions changed).")
    if changed or not expected:
        return Decision(outcome=Outcome.RESOLVE, summary=summary, classification="succeeded", severity=Severity.INFO)
    active = {i.condition for i in state.active()}
    others = sorted(active - {Condition.NO_NEW_DATA})
    if Condition.NO_NEW_DATA in active:
        if not others:
            return _ignore(f"Crawler {name} again found no new data; its incident is already open.", "no-new-data")
        # the success ends the failure/stuck incidents; the no-new-data warning stays open as it is
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=summary,
            classification="succeeded",
            severity=Severity.INFO,
            resolves=others,
        )
    counters = {k: v for k, v in finding.facts.items() if k.startswith(("tables_", "partitions_"))}
    no_data = Finding(
        resource_type=ResourceType.CRAWLER,
        resource_id=name,
        condition=Condition.NO_NEW_DATA,
        source="delegated",
        event_id=finding.event_id,
        observed_at=finding.observed_at,
        scope_key=finding.scope_key,
        facts={**counters, "account_id": finding.facts.get("account_id")},
    )
    return Decision(
        outcome=Outcome.RESOLVE,
        summary=summary,
        classification="succeeded",
        severity=Severity.INFO,
        delegate=[no_data],
    )


def decide_no_new_data(finding: Finding, facts: dict[str, Any]) -> Decision:
    """Runbook "Crawler Not Finding New Data": record and notify, with the runbook's checks (path, format,
    exclusions, forced schema update). Nothing is done automatically: each check needs a person's judgement."""
    name = finding.resource_id
    targets = facts.get("s3_targets") or []
    exclusions = facts.get("exclusions") or []
    advice = [
        "1. Verify S3 path matches crawler target: targets must match the exact S3 prefix; check trailing slashes"
        + (f" (targets: {', '.join(targets)})" if targets else ""),
        "   aws s3 ls <target path> --recursive | head -20",
        "2. Check file format compatibility: files must be Parquet, JSON or CSV",
        "3. Force schema update: delete the table (aws glue delete-table) and re-crawl",
        "4. Check exclusion patterns: crawler exclusions must not filter out new files"
        + (f" (exclusions: {', '.join(exclusions)})" if exclusions else ""),
    ]
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"Crawler {name} succeeded but created or updated no tables or partitions while new data is expected.",
        classification="no-new-data",
        severity=Severity.WARNING,
        runbook_section=RUNBOOK_NO_NEW_DATA,
        advice=advice,
    )


def decide_started(finding: Finding, state: ResourceState, now: datetime) -> Decision:
    """``Started`` is informational: the echo of the watchdog's own restart, or a normal run. Never an incident."""
    name = finding.resource_id
    for incident in state.active():
        started = incident.last_action_at("start_crawler")
        recent = started is not None and (now - started).total_seconds() <= ECHO_WINDOW_SECONDS
        if incident.pending_step == STEP_AWAIT_SUCCESS or recent:
            return _ignore(
                f"Crawler {name} started: echo of the watchdog's restart (incident {incident.incident_id}).", "echo"
            )
    return _ignore(f"Crawler {name} started.", "started")


# ------------------------------------------------------------------------------------------------ remediator
class CrawlerRemediator:
    """The Glue crawler watchdog: scope by name prefix, facts from GetCrawler (+ GetTags when acting)."""

    resource_type = ResourceType.CRAWLER
    read_permissions: tuple[str, ...] = ("glue:GetCrawler", "glue:GetTags")
    action_names: tuple[str, ...] = ("stop_crawler", "start_crawler")

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    def in_scope(self, finding: Finding) -> bool:
        """Judged on what is acted on: the crawler's name (``resource_id``), in this account and region."""
        name = finding.resource_id
        if not any(name.startswith(prefix) for prefix in self.settings.crawler_prefixes):
            return False
        foreign = foreign_origin(finding.facts, self.settings.account_id, self.settings.region)
        if foreign is not None:
            logger.warning("crawler finding from elsewhere: ignored", crawler=name, reason=foreign)
            return False
        return True

    # --- reads ----------------------------------------------------------------------------------------------
    def _get_crawler(self, name: str, now: datetime) -> dict[str, Any]:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            crawler = self.clients.glue.get_crawler(Name=name)["Crawler"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EntityNotFoundException":
                return {"exists": False}
            raise CrawlerReadError(f"GetCrawler {name}: {exc}") from exc
        return crawler_facts(dict(crawler), now)

    def _tags(self, finding: Finding) -> dict[str, str] | None:
        account = self.settings.account_id or str(finding.facts.get("account_id") or "")
        if not account:
            logger.warning("cannot read crawler tags: no account id", crawler=finding.resource_id)
            return None
        from botocore.exceptions import ClientError  # noqa: PLC0415

        arn = crawler_arn(self.settings.region, account, finding.resource_id)
        try:
            return dict(self.clients.glue.get_tags(ResourceArn=arn).get("Tags") or {})
        except ClientError as exc:
            raise CrawlerReadError(f"GetTags {arn}: {exc}") from exc

    def _with_tags(self, finding: Finding, facts: dict[str, Any]) -> dict[str, Any]:
        tags = self._tags(finding)
        if tags is None:
            return {**facts, "tags_unavailable": True}
        return {
            **facts,
            "opted_out": is_opted_out(tags, self.settings.opt_out_tag),
            "threshold_seconds": threshold_from_tags(
                tags, self.settings.threshold_tag, self.settings.crawler_stuck_seconds
            ).seconds,
            "expect_new_data": expects_new_data(tags, self.settings.crawler_expect_new_data),
        }

    def inspect(self, finding: Finding, state: ResourceState) -> dict[str, Any]:
        """Read only what the runbook step needs: GetCrawler before any decision that may act (the re-read just
        before the action) and GetTags only when about to act or to judge a crawler stuck."""
        from watchdogs.incidents import now_utc  # noqa: PLC0415

        now = now_utc()
        name = finding.resource_id
        condition = finding.condition
        if condition is Condition.STARTED:
            return {}
        if condition is Condition.RECOVERED:
            # resolve only what the crawler itself confirms: a late or duplicated Succeeded event of an earlier
            # crawl must not close the incident of a crawl that hangs now (one GetCrawler, only if one is open)
            confirmed = self._get_crawler(name, now) if state.active() else {}
            if finding.facts.get("changed_anything", True):
                return confirmed
            tags = self._tags(finding)  # the expect-new-data tag decides; opt-out does not stop a resolve
            return {**confirmed, "expect_new_data": expects_new_data(tags or {}, self.settings.crawler_expect_new_data)}
        facts = self._get_crawler(name, now)
        if not facts.get("exists", True):
            return facts
        if condition is Condition.FAILED:
            message = facts.get("last_crawl_error") or finding.facts.get("error_message")
            incident = state.incidents.get(Condition.FAILED)
            about_to_act = (
                classify_failure(message).failure_class is FailureClass.TRANSIENT
                and facts.get("crawler_state") == "READY"
                and facts.get("last_crawl_status") not in {"SUCCEEDED", "CANCELLED"}
                and not (incident is not None and _same_failure(facts, incident))
            )
            return self._with_tags(finding, facts) if about_to_act else facts
        if condition is Condition.STUCK:
            incident = state.incidents.get(Condition.STUCK)
            resuming = incident is not None and incident.pending_step == STEP_START_WHEN_READY
            judging = facts.get("crawler_state") == "RUNNING"
            if judging or (resuming and facts.get("crawler_state") == "READY"):
                return self._with_tags(finding, facts)
        return facts

    # --- decision (pure) ------------------------------------------------------------------------------------
    def decide(
        self, finding: Finding, facts: dict[str, Any], incident: Incident | None, state: ResourceState, now: datetime
    ) -> Decision:
        condition = finding.condition
        if condition is Condition.FAILED:
            return decide_failed(finding, facts, incident, self.settings, now)
        if condition is Condition.STUCK:
            return decide_stuck(finding, facts, incident, self.settings, now)
        if condition is Condition.RECOVERED:
            return decide_recovered(finding, facts, state, self.settings, now)
        if condition is Condition.NO_NEW_DATA:
            return decide_no_new_data(finding, facts)
        if condition is Condition.STARTED:
            return decide_started(finding, state, now)
        return _ignore(f"Crawler {finding.resource_id}: {condition.value} is not a crawler condition.", "unsupported")
