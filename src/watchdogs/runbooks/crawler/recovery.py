"""What a successful or started crawl means: resolve, "Crawler Not Finding New Data", or the echo of a restart. Pure."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, Decision, Finding, Outcome, ResourceType, Severity
from watchdogs.runbooks.crawler.failures import RUNBOOK_NO_NEW_DATA
from watchdogs.runbooks.crawler.rules import ignore
from watchdogs.runbooks.crawler.steps import Step

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import ResourceState
    from watchdogs.runbooks.crawler.facts import CrawlerFacts
    from watchdogs.settings import Settings

#: a ``Started`` event this soon after the watchdog's own StartCrawler is the echo of that restart
ECHO_WINDOW_SECONDS = 900


def decide_recovered(
    finding: Finding, facts: CrawlerFacts, state: ResourceState, settings: Settings, now: datetime
) -> Decision:
    """A crawl succeeded: resolve what is open for the crawler (time to recover is recorded).

    A success that created/updated nothing while new data is expected is the runbook's "Crawler Not Finding New
    Data": the RESOLVE delegates a NO_NEW_DATA finding, recorded and notified as a warning.
    """
    name = finding.resource_id
    if facts.crawler_state is not None and (facts.crawler_state != "READY" or facts.last_crawl_status != "SUCCEEDED"):
        return ignore(
            f"Crawler {name}: a success was reported, but GetCrawler shows {facts.crawler_state} with last crawl "
            f"{facts.last_crawl_status}: not confirmed, nothing resolved.",
            "unconfirmed-success",
        )
    changed = bool(finding.facts.get("changed_anything", True))
    summary = f"Crawler {name} succeeded" + ("." if changed else " (no tables or partitions changed).")
    succeeded: dict[str, Any] = {"summary": summary, "classification": "succeeded", "severity": Severity.INFO}
    if changed or not facts.expect_new_data:
        return Decision(outcome=Outcome.RESOLVE, **succeeded)
    active = {i.condition for i in state.active()}
    others = sorted(active - {Condition.NO_NEW_DATA})
    if Condition.NO_NEW_DATA not in active:
        return Decision(outcome=Outcome.RESOLVE, delegate=[_no_new_data_finding(finding)], **succeeded)
    if not others:
        return ignore(f"Crawler {name} again found no new data; its incident is already open.", "no-new-data")
    # the success ends the failure/stuck incidents; the no-new-data warning stays open as it is
    return Decision(outcome=Outcome.RESOLVE, resolves=others, **succeeded)


def _no_new_data_finding(finding: Finding) -> Finding:
    counters = {k: v for k, v in finding.facts.items() if k.startswith(("tables_", "partitions_"))}
    return Finding(
        resource_type=ResourceType.CRAWLER,
        resource_id=finding.resource_id,
        condition=Condition.NO_NEW_DATA,
        source="delegated",
        event_id=finding.event_id,
        observed_at=finding.observed_at,
        scope_key=finding.scope_key,
        facts={**counters, "account_id": finding.facts.get("account_id")},
    )


def decide_no_new_data(finding: Finding, facts: CrawlerFacts) -> Decision:
    """Runbook "Crawler Not Finding New Data": record and notify, with the runbook's checks (path, format,
    exclusions, forced schema update). Nothing is done automatically: each check needs a person's judgement."""
    targets = facts.s3_targets or []
    exclusions = facts.exclusions or []
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
        summary=f"Crawler {finding.resource_id} succeeded but created or updated no tables or partitions while new "
        "data is expected.",
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
        if incident.pending_step == Step.AWAIT_SUCCESS or recent:
            return ignore(
                f"Crawler {name} started: echo of the watchdog's restart (incident {incident.incident_id}).", "echo"
            )
    return ignore(f"Crawler {name} started.", "started")
