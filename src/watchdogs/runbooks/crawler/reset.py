"""Runbook "Glue Crawler Operations > Troubleshoot Crawler Failures > Step 3: Reset crawler if stuck", pure.

``aws glue stop-crawler``, wait for READY, ``aws glue start-crawler``: one step per invocation, the next step
(:class:`~.steps.Step`) persisted on the incident and resumed by the next STUCK finding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition, Decision, Finding, IncidentStatus, Outcome, Severity
from watchdogs.runbooks.crawler.failures import RUNBOOK_RESET, STUCK_RULE
from watchdogs.runbooks.crawler.rules import (
    ignore,
    start_crawler,
    stop_crawler,
    tags_unavailable,
    target_advice,
)
from watchdogs.runbooks.crawler.steps import Step

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import Incident
    from watchdogs.runbooks.crawler.facts import CrawlerFacts
    from watchdogs.settings import Settings


def reset_due(facts: CrawlerFacts, incident: Incident | None) -> bool:
    """STUCK: the runbook judges a RUNNING crawler (threshold tag) or resumes the reset on a READY one: read GetTags."""
    resuming = incident is not None and incident.pending_step == Step.START_WHEN_READY
    return facts.crawler_state == "RUNNING" or (resuming and facts.crawler_state == "READY")


@dataclass(frozen=True)
class _Stuck:
    """A STUCK finding and what it is judged against."""

    name: str
    facts: CrawlerFacts
    threshold: int
    running: int | None
    stopping_limit: int

    @property
    def state(self) -> str:
        return self.facts.state

    def common(self) -> dict[str, Any]:
        return {
            "runbook_section": RUNBOOK_RESET,
            "facts": {
                "threshold_seconds": self.threshold,
                "running_seconds": self.running,
                "crawler_state": self.state,
            },
        }


def decide_stuck(
    finding: Finding, facts: CrawlerFacts, incident: Incident | None, settings: Settings, now: datetime
) -> Decision:
    """Runbook "Reset crawler if stuck": ``aws glue stop-crawler``, wait for READY, ``aws glue start-crawler``.

    Step by step across invocations: a RUNNING crawler past its threshold is stopped (next step
    ``start_when_ready``); once READY it is started (status remediated, next step ``await_success``); a crawler
    still STOPPING past ``CRAWLER_STOPPING_SECONDS`` is escalated, and so is one stuck again after our restart
    (the table's "Crawler stuck | Large dataset" needs a human: "Increase crawler timeout or use sampling").
    """
    if facts.gone:
        return ignore(f"Crawler {finding.resource_id} no longer exists.", "gone")
    running = facts.running_seconds
    stuck = _Stuck(
        name=finding.resource_id,
        facts=facts,
        threshold=facts.threshold_seconds if facts.threshold_seconds is not None else settings.crawler_stuck_seconds,
        running=running if running is not None else finding.facts.get("running_seconds"),
        stopping_limit=settings.crawler_stopping_seconds,
    )
    if incident is not None and incident.pending_step == Step.START_WHEN_READY:
        return _resume_reset(stuck, incident, now)
    return _judge_stuck(stuck, incident)


def _resume_reset(stuck: _Stuck, incident: Incident, now: datetime) -> Decision:
    """Step ``start_when_ready``: StopCrawler was sent; start the crawler once READY, escalate if it never stops."""
    stopped_at = incident.last_action_at("stop_crawler")
    if stopped_at is None:  # observe mode: the stop was only recorded, never made
        return _resume_observed(stuck, incident)
    since_stop = (now - stopped_at).total_seconds()
    name, state = stuck.name, stuck.state
    if state == "READY":
        return _restart_after_stop(stuck)
    if state == "RUNNING" and stuck.running is not None and stuck.running < since_stop:
        return Decision(
            outcome=Outcome.WAIT,
            summary=f"Crawler {name} was restarted by someone else after the stop: awaiting its success.",
            classification="crawler-stuck",
            severity=Severity.INFO,
            next_step=Step.AWAIT_SUCCESS,
            **stuck.common(),
        )
    if since_stop > stuck.stopping_limit:
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=f"Crawler {name} is still {state} {since_stop:.0f} s after StopCrawler "
            f"(limit {stuck.stopping_limit} s): a human must look at it.",
            classification="crawler-stuck-stopping",
            severity=Severity.HIGH,
            advice=[STUCK_RULE.fix, f"aws glue get-crawler --name {name}", "Contact AWS support if it never stops"],
            **stuck.common(),
        )
    return Decision(
        outcome=Outcome.WAIT,
        summary=f"Crawler {name} is {state} {since_stop:.0f} s after StopCrawler: waiting for READY.",
        classification="crawler-stuck",
        severity=Severity.WARNING,
        next_step=Step.START_WHEN_READY,
        **stuck.common(),
    )


def _resume_observed(stuck: _Stuck, incident: Incident) -> Decision:
    if stuck.state == "READY":
        return _stuck_over(stuck.name, stuck.facts, incident)
    if stuck.state != "RUNNING":
        return ignore(f"Crawler {stuck.name} is {stuck.state}: waiting.", "stopping")
    return _stop_decision(stuck)


def _restart_after_stop(stuck: _Stuck) -> Decision:
    if stuck.facts.tags_unavailable:
        return tags_unavailable(stuck.name, "crawler-stuck", RUNBOOK_RESET)
    return Decision(
        outcome=Outcome.ACT,
        summary=f"Crawler {stuck.name} is READY after the stop: starting it again.",
        classification="crawler-stuck",
        severity=Severity.WARNING,
        actions=[start_crawler(stuck.name)],
        next_step=Step.AWAIT_SUCCESS,
        status_after=IncidentStatus.REMEDIATED,
        **stuck.common(),
    )


def _judge_stuck(stuck: _Stuck, incident: Incident | None) -> Decision:
    """No reset under way: is the crawler stuck, and may the watchdog stop it?"""
    name, running, threshold = stuck.name, stuck.running, stuck.threshold
    if stuck.state == "READY" and incident is None:
        return ignore(f"Crawler {name} is READY: not stuck.", "not-stuck")
    if stuck.state == "READY" and incident is not None:
        return _stuck_over(name, stuck.facts, incident)
    if running is not None and running < threshold:
        return ignore(f"Crawler {name} has run {running} s, under its threshold of {threshold} s.", "not-stuck")
    if stuck.state == "STOPPING":
        return _stopping_elsewhere(stuck)
    if incident is not None and incident.pending_step == Step.AWAIT_SUCCESS and incident.has_action("start_crawler"):
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=f"Crawler {name} is stuck again after the watchdog restarted it (running {running} s, "
            f"threshold {threshold} s): {STUCK_RULE.solution}.",
            classification="crawler-stuck-again",
            severity=Severity.HIGH,
            advice=[STUCK_RULE.fix, *target_advice(stuck.facts)],
            **stuck.common(),
        )
    if stuck.facts.tags_unavailable:
        return tags_unavailable(name, "crawler-stuck", RUNBOOK_RESET)
    return _stop_decision(stuck)


def _stopping_elsewhere(stuck: _Stuck) -> Decision:
    """Stopped by someone else; escalated only once it overstays both limits."""
    if stuck.running is not None and stuck.running > stuck.threshold + stuck.stopping_limit:
        return Decision(
            outcome=Outcome.ESCALATE,
            summary=f"Crawler {stuck.name} has been STOPPING past {stuck.stopping_limit} s "
            f"(running {stuck.running} s).",
            classification="crawler-stuck-stopping",
            severity=Severity.HIGH,
            advice=[STUCK_RULE.fix, f"aws glue get-crawler --name {stuck.name}"],
            **stuck.common(),
        )
    return ignore(f"Crawler {stuck.name} is already STOPPING (not by the watchdog).", "stopping")


def _stop_decision(stuck: _Stuck) -> Decision:
    ran = f"{stuck.running} s" if stuck.running is not None else "past its threshold"
    return Decision(
        outcome=Outcome.ACT,
        summary=f"Crawler {stuck.name} stuck in RUNNING ({ran}, threshold {stuck.threshold} s): "
        "stopping it, then restart.",
        classification="crawler-stuck",
        severity=Severity.WARNING,
        advice=[STUCK_RULE.fix],
        actions=[stop_crawler(stuck.name)],
        next_step=Step.START_WHEN_READY,
        status_after=IncidentStatus.REMEDIATING,
        **stuck.common(),
    )


def _stuck_over(name: str, facts: CrawlerFacts, incident: Incident) -> Decision:
    """The crawler is READY again: its STUCK incident (only that one: a failed crawl keeps its own) is over.

    Resolve means recovered: only a crawl that SUCCEEDED after the incident was detected resolves it. READY with a
    cancelled or failed last crawl (someone stopped it, or the restarted crawl failed) closes the incident as not
    recovered, and says so: the data was not crawled.
    """
    last = facts.last_crawl_status or "unknown"
    started = facts.last_crawl_started_at or ""
    if last == "SUCCEEDED" and (not started or started >= incident.detected_at):
        return Decision(
            outcome=Outcome.RESOLVE,
            summary=f"Crawler {name} is READY again and its last crawl SUCCEEDED.",
            classification="not-stuck",
            severity=Severity.INFO,
            resolves=[Condition.STUCK],
        )
    return Decision(
        outcome=Outcome.CLOSE,
        summary=f"Crawler {name} is READY, but its last crawl is {last}: not recovered, the data was not crawled. "
        f"Start it again when the cause is fixed: aws glue start-crawler --name {name}",
        classification="stuck-not-recovered",
        severity=Severity.WARNING,
        resolves=[Condition.STUCK],
    )
