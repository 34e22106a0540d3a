"""The crawler runbook's rules, pure: "Glue Crawler Operations > Troubleshoot Crawler Failures".

:mod:`.failures` is the runbook's issue table (Step 2, "Common issues and solutions"); :func:`decide_failed` turns
a FAILED finding, the facts read about the crawler (:class:`~.facts.CrawlerFacts`) and its open incident into a
:class:`~watchdogs.models.domain.Decision`. The parts every crawler decision shares live here too; the stuck-crawler
reset (Step 3) is :mod:`.reset`, successes and starts are :mod:`.recovery`. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdogs.incidents.record import iso
from watchdogs.models.domain import Decision, Finding, IncidentStatus, Outcome, PlannedAction, Severity
from watchdogs.runbooks.crawler.failures import (
    RUNBOOK_FAILURES,
    FailureClass,
    FailureRule,
    classify_failure,
)
from watchdogs.runbooks.crawler.steps import Step

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from watchdogs.incidents import Incident
    from watchdogs.runbooks.crawler.facts import CrawlerFacts
    from watchdogs.settings import Settings


# ------------------------------------------------------------------------------------------------ decision parts
def restart_due(finding: Finding, facts: CrawlerFacts, incident: Incident | None) -> bool:
    """FAILED: the failure is transient and the crawler READY, so the runbook may restart it: read GetTags first."""
    message = facts.last_crawl_error or finding.facts.get("error_message")
    return (
        classify_failure(message).failure_class is FailureClass.TRANSIENT
        and facts.crawler_state == "READY"
        and facts.last_crawl_status not in {"SUCCEEDED", "CANCELLED"}
        and not (incident is not None and same_failure(facts, incident))
    )


def start_crawler(name: str) -> PlannedAction:
    return PlannedAction(name="start_crawler", params={"crawler": name}, target=name)


def stop_crawler(name: str) -> PlannedAction:
    return PlannedAction(name="stop_crawler", params={"crawler": name}, target=name)


def ignore(summary: str, classification: str = "benign") -> Decision:
    """Nothing to record: an informational outcome."""
    return Decision(outcome=Outcome.IGNORE, summary=summary, classification=classification, severity=Severity.INFO)


def same_failure(facts: CrawlerFacts, incident: Incident) -> bool:
    """The crawl that failed is the one the incident already handled (a sweep re-check, a late event).

    A transient failure is handled only once its restart happened: a StartCrawler that was throttled or whose
    intent was abandoned leaves the same failed crawl still to be restarted."""
    seen = incident.facts.get("failed_crawl_started_at")
    if not (bool(seen) and facts.last_crawl_status == "FAILED" and facts.last_crawl_started_at == seen):
        return False
    if incident.classification != FailureClass.TRANSIENT.value:
        return True
    restarted = incident.last_action_at("start_crawler")
    return restarted is not None and iso(restarted) >= str(seen)


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


def tags_unavailable(name: str, classification: str, runbook: str) -> Decision:
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"Crawler {name} needs action but its tags (opt-out) could not be read: ACCOUNT_ID is not set.",
        classification=classification,
        severity=Severity.HIGH,
        runbook_section=runbook,
        advice=["Set ACCOUNT_ID for the watchdog so it can read crawler tags before acting."],
    )


def target_advice(facts: CrawlerFacts) -> list[str]:
    advice = []
    if facts.role:
        advice.append(f"Crawler role: {facts.role}")
    if facts.s3_targets:
        advice.append("S3 targets: " + ", ".join(facts.s3_targets))
    return advice


def _log_advice(name: str, facts: CrawlerFacts) -> str:
    group = facts.log_group or "/aws-glue/crawlers"
    stream = facts.log_stream or name
    return (
        f"Check the crawler run logs: aws logs filter-log-events --log-group-name {group} "
        f"--log-stream-name-prefix {stream} --limit 50"
    )


# ------------------------------------------------------------------------------------------------ failed
def decide_failed(
    finding: Finding, facts: CrawlerFacts, incident: Incident | None, settings: Settings, now: datetime
) -> Decision:
    """Runbook "Troubleshoot Crawler Failures": read the failure, look it up in the issue table, act accordingly.

    Access Denied and schema problems are escalated with the table's solution and never retried; an empty prefix
    is notified with its check; transient service errors restart the crawler (``aws glue start-crawler``) within
    the per-resource budget; anything else is recorded and notified, not acted on.
    """
    settled = _failure_settled(finding.resource_id, facts, incident)
    if settled is not None:
        return settled
    confirmed = bool(facts.last_crawl_status == "FAILED" and facts.last_crawl_error)
    message = (facts.last_crawl_error if confirmed else finding.facts.get("error_message")) or finding.facts.get(
        "event_message"
    )
    rule = classify_failure(message)
    failure = _Failure(finding.resource_id, facts, rule, f'"{message}"' if message else "(no error message)")
    common: dict[str, Any] = {
        "classification": rule.failure_class.value,
        "runbook_section": RUNBOOK_FAILURES,
        "facts": {
            "error_message": message,
            "failure_class": rule.failure_class.value,
            "confirmed_by_get_crawler": confirmed,
            "failed_crawl_started_at": facts.last_crawl_started_at,
        },
    }
    return _FAILURE_DECISIONS.get(rule.failure_class, _unknown_failure)(failure, common)


def _failure_settled(name: str, facts: CrawlerFacts, incident: Incident | None) -> Decision | None:
    """What a FAILED finding means before its message is read: gone, superseded, or already being handled."""
    if facts.gone:
        return ignore(f"Crawler {name} no longer exists.", "gone")
    if facts.last_crawl_status == "SUCCEEDED":
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"Crawler {name}: its last crawl succeeded.",
            classification="succeeded",
            severity=Severity.INFO,
        )
    if facts.last_crawl_status == "CANCELLED":
        return ignore(f"Crawler {name}: its last crawl was stopped, not failed.", "cancelled")
    if incident is not None and same_failure(facts, incident):
        return _keep(incident, f"Crawler {name}: same failed crawl as the open incident.")
    if incident is not None and incident.pending_step == Step.AWAIT_SUCCESS and facts.crawler_state != "READY":
        return _keep(incident, f"Crawler {name} was restarted and is {facts.crawler_state}: awaiting success.")
    return None


@dataclass(frozen=True)
class _Failure:
    name: str
    facts: CrawlerFacts
    rule: FailureRule
    quoted: str


def _escalate_failure(f: _Failure, common: dict[str, Any]) -> Decision:
    rule = f.rule
    return Decision(
        outcome=Outcome.ESCALATE,
        summary=f"Crawler {f.name} failed: {f.quoted}. {rule.issue} ({rule.cause}) is not retried: {rule.solution}.",
        severity=Severity.HIGH,
        advice=[rule.fix, *target_advice(f.facts), _log_advice(f.name, f.facts)],
        **common,
    )


def _empty_prefix(f: _Failure, common: dict[str, Any]) -> Decision:
    rule = f.rule
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"Crawler {f.name} failed: {f.quoted}. {rule.issue} ({rule.cause}): {rule.solution}.",
        severity=Severity.WARNING,
        advice=[rule.fix, *target_advice(f.facts), "aws s3 ls <target path> --recursive | head -20"],
        **common,
    )


def _transient_failure(f: _Failure, common: dict[str, Any]) -> Decision:
    """A transient failure: restart a READY crawler once (then await its success); one already running is noted."""
    state = f.facts.state
    if state != "READY":
        return Decision(
            outcome=Outcome.NOTIFY,
            summary=f"Crawler {f.name} failed transiently ({f.quoted}) and is {state} again: no restart needed.",
            severity=Severity.INFO,
            advice=[f.rule.fix],
            **common,
        )
    if f.facts.tags_unavailable:
        return tags_unavailable(f.name, f.rule.failure_class.value, RUNBOOK_FAILURES)
    return Decision(
        outcome=Outcome.ACT,
        summary=f"Crawler {f.name} failed transiently ({f.quoted}): restarting it.",
        severity=Severity.WARNING,
        advice=[f.rule.fix],
        actions=[start_crawler(f.name)],
        next_step=Step.AWAIT_SUCCESS,
        status_after=IncidentStatus.REMEDIATED,
        **common,
    )


def _unknown_failure(f: _Failure, common: dict[str, Any]) -> Decision:
    return Decision(
        outcome=Outcome.NOTIFY,
        summary=f"Crawler {f.name} failed: {f.quoted}. Not in the runbook's issue table: recorded, not acted on.",
        severity=Severity.WARNING,
        advice=[_log_advice(f.name, f.facts), f.rule.fix],
        **common,
    )


_FAILURE_DECISIONS: dict[FailureClass, Callable[[_Failure, dict[str, Any]], Decision]] = {
    FailureClass.ACCESS_DENIED: _escalate_failure,
    FailureClass.SCHEMA_MISMATCH: _escalate_failure,
    FailureClass.NO_TABLES: _empty_prefix,
    FailureClass.TRANSIENT: _transient_failure,
}
