"""Pure rules for a run stuck in RUNNING (runbook "Pipeline Stuck in RUNNING State").

Find the stuck state from the newest history, then

1. *If stuck on crawler wait*: hand the crawler to the crawler remediation ("stop and restart");
2. *If stuck on Athena query*: hand the stuck queries of the pipeline workgroup to the query remediation ("cancel
   stuck query"); a query of the workgroup cancelled recently is a heal already under way (see
   :mod:`watchdogs.runbooks.execution.heal`);
3. *Force stop the execution*: when nothing is fixable, or the run is still stuck on the same cause after the heal
   had its grace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import parse_iso
from watchdogs.models.domain import Condition, Decision, Finding, Outcome, ResourceType, Severity
from watchdogs.runbooks.execution.facts import ExecutionFacts, QueryFact
from watchdogs.runbooks.execution.heal import HealRecord, heal_grace, heal_seen, live_record, next_record
from watchdogs.runbooks.execution.history import WaitsOn, WaitTarget
from watchdogs.runbooks.execution.rules import (
    RUNBOOK_STUCK_ATHENA,
    RUNBOOK_STUCK_CRAWLER,
    decide_recovered,
    ignore,
    name_of,
    stop_decision,
)
from watchdogs.runbooks.execution.steps import Step
from watchdogs.settings import Mode

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import Incident
    from watchdogs.settings import Settings

#: at most this many stuck queries are delegated per round (bounds the blast radius of one decision)
MAX_QUERIES_PER_ROUND = 5


@dataclass(frozen=True)
class _Stuck:
    """One stuck run, as every stuck rule sees it."""

    finding: Finding
    facts: ExecutionFacts
    incident: Incident | None
    settings: Settings
    now: datetime

    @property
    def arn(self) -> str:
        return self.finding.resource_id

    @property
    def state_name(self) -> str:
        return (self.facts.view.current_state if self.facts.view else None) or "an unknown state"

    @property
    def observing(self) -> bool:
        return self.settings.mode is Mode.OBSERVE

    @property
    def running(self) -> Any:
        return (
            self.facts.running_seconds
            if self.facts.running_seconds is not None
            else self.finding.facts.get("running_seconds")
        )

    def stop(self, reason: str, classification: str = "stuck") -> Decision:
        return stop_decision(self.arn, self.facts, reason, classification, self.now)


def decide_stuck(
    finding: Finding, facts: dict[str, Any], incident: Incident | None, settings: Settings, now: datetime
) -> Decision:
    """The decision for a STUCK finding (the sweep's: RUNNING past the run's threshold)."""
    run = _Stuck(finding, ExecutionFacts.from_dict(facts), incident, settings, now)
    moved_on = _moved_on(run)
    if moved_on is not None:
        return moved_on
    target = run.facts.wait
    if target.waits_on is WaitsOn.CRAWLER:
        return _crawler_wait(run, target)
    if target.waits_on is WaitsOn.ATHENA:
        return _athena_wait(run, target)
    return run.stop(f"stuck in {run.state_name}, which waits on nothing the watchdog can heal")


def _moved_on(run: _Stuck) -> Decision | None:
    """The re-read says the run is not (or no longer) stuck: gone, ended, or under its threshold."""
    name, status = name_of(run.arn), run.facts.status
    if status is None or not run.facts.exists:
        return ignore(f"Execution {name} no longer exists.", "gone")
    if status == "SUCCEEDED":
        return decide_recovered(run.finding)
    if status != "RUNNING" and run.incident is not None:
        # no longer stuck: stopped by the watchdog's last resort, or ended on its own (a failure is triaged by
        # its status-change handling under its own FAILED incident) - the STUCK incident must not stay open, and
        # it is closed, not resolved: the run did not recover (resolve means it succeeded)
        how = (
            "after the watchdog stopped it (last resort)" if run.incident.has_action("stop_execution") else "on its own"
        )
        return Decision(
            outcome=Outcome.CLOSE,
            summary=f"Execution {name} is no longer stuck: it ended {status} {how}, without succeeding.",
            classification="ended",
            severity=Severity.INFO,
            # what it closed on (None: absent now, dropped): the CLOSED alert must not show what was true while RUNNING
            facts={"status": status, "redrive_status_reason": run.facts.redrive_status_reason},
        )
    if status != "RUNNING":
        return ignore(f"Execution {name} already ended {status}: its status-change handling applies.", "ended")
    threshold = int(run.finding.facts.get("threshold_seconds") or run.settings.execution_stuck_seconds)
    if run.running is not None and float(run.running) < threshold:
        return ignore(f"Execution {name} has run {run.running} s, under its threshold of {threshold} s.", "not-stuck")
    return None


# ------------------------------------------------------------------------------------------------ heal
def _after_grace(run: _Stuck, target: WaitTarget, live: HealRecord | None) -> Decision | None:
    """The last resort: the heal of this very cause had its grace and the run is still stuck on it."""
    grace = heal_grace(target, run.settings)
    if live is None or run.now < _deadline(run, target, live, grace):
        return None
    healing_for = (run.now - parse_iso(live.started_at)).total_seconds()
    what = (
        f"on crawler {target.crawler}"
        if target.waits_on is WaitsOn.CRAWLER
        else "after its stuck queries were cancelled"
    )
    return run.stop(
        f"still stuck in {run.state_name} {what} {healing_for:.0f} s after the heal began (allowed {grace} s)",
        "stuck-after-heal",
    )


def _deadline(run: _Stuck, target: WaitTarget, live: HealRecord, grace: int) -> datetime:
    """The end of the heal's grace. A heal no delegated action was recorded for (its child could not act then:
    opted out, held, throttled) began when the run's reads first show it -- a recent cancel -- if later."""
    deadline = live.deadline(grace)
    if live.last_action_at is None:
        seen = heal_seen(run.incident, run.facts, target, grace, run.now)
        if seen is not None:
            deadline = max(deadline, seen + timedelta(seconds=grace))
    return deadline


def _heal_step(run: _Stuck, target: WaitTarget, live: HealRecord | None) -> Step | None:
    """The step a heal decision persists. A heal that starts afresh while the incident still waits (step HEAL) on
    a recorded one must change the step for one round (HEAL -> idle -> HEAL): the lifecycle core treats a decision
    with the same status, classification and step as "no change" and would not record the new heal and its grace.
    So for a heal moving to another target of the same kind, and for a recorded heal of this target that is not
    live (only observed, or made before the run was redriven)."""
    stored = HealRecord.of(run.incident)
    pending = Step.parse(run.incident.pending_step) if run.incident else None
    if stored is None or pending is not Step.HEAL:
        return Step.HEAL
    same_kind = stored.target.split(":", 1)[0] == target.waits_on.value
    if stored.target != target.key and same_kind:
        return None
    return None if stored.target == target.key and live is None else Step.HEAL


def _live(run: _Stuck, target: WaitTarget) -> HealRecord | None:
    """The heal in progress for this run: not an observed one (once remediating), nor one that began before the
    run's current attempt (a heal of the run before it was redriven: this attempt's heal starts afresh)."""
    live = live_record(run.incident, target, observing=run.observing)
    if live is None or run.running is None:
        return live
    attempt_started = run.now - timedelta(seconds=float(run.running))
    return None if parse_iso(live.started_at) < attempt_started else live


def _heal_wait(run: _Stuck, target: WaitTarget, live: HealRecord | None, **decision: Any) -> Decision:
    """WAIT on the heal of the cause: record the heal (its start, grace and rounds) on the run's incident."""
    grace = heal_grace(target, run.settings)
    started = heal_seen(run.incident, run.facts, target, grace, run.now) if live is None else None
    record = next_record(live, min(started or run.now, run.now), target, grace, observing=run.observing)
    return Decision(
        outcome=Outcome.WAIT,
        next_step=_heal_step(run, target, live),
        facts={"heal": record.as_dict()},
        **decision,
    )


# ------------------------------------------------------------------------------------------------ crawler
def _crawler_wait(run: _Stuck, target: WaitTarget) -> Decision:
    crawler = target.crawler
    if not crawler:
        return run.stop(f"waits in {run.state_name} on a crawler it does not name")
    if not crawler.startswith(tuple(run.settings.crawler_prefixes)):
        return run.stop(f"waits in {run.state_name} on crawler {crawler}, outside the watchdog's scope")
    live = _live(run, target)
    last_resort = _after_grace(run, target, live)
    if last_resort is not None:
        return last_resort
    rounds = live.rounds + 1 if live else 1
    threshold = int(run.finding.facts.get("threshold_seconds") or run.settings.execution_stuck_seconds)
    return _heal_wait(
        run,
        target,
        live,
        summary=(
            f"Pipeline execution {name_of(run.arn)} is stuck in {run.state_name} waiting on crawler {crawler} "
            f"(running {run.running} s, threshold {threshold} s): healing the crawler (round {rounds})."
        ),
        classification="stuck-on-crawler",
        severity=Severity.WARNING,
        runbook_section=RUNBOOK_STUCK_CRAWLER,
        advice=[f"aws glue get-crawler --name {crawler}"],
        delegate=[
            Finding(
                resource_type=ResourceType.CRAWLER,
                resource_id=crawler,
                condition=Condition.STUCK,
                source="delegated",
                observed_at=run.now,
                scope_key=crawler,
                facts={
                    "waited_on_by": run.arn,
                    "waiting_state": run.state_name,
                    "execution_running_seconds": run.running,
                },
            )
        ],
    )


# ------------------------------------------------------------------------------------------------ athena
def _queries(run: _Stuck, threshold: int) -> tuple[list[QueryFact], list[QueryFact]]:
    """(active, stuck) queries of the workgroup; only the run's own query when the history names it and it runs."""
    active = list(run.facts.active_queries or ())
    own = run.facts.view.query_execution_id if run.facts.view else None
    if own and any(q.id == own for q in active):
        active = [q for q in active if q.id == own]  # the run's own query is known: touch only that one
    return active, [q for q in active if (q.running_seconds or 0) >= threshold]


def _athena_wait(run: _Stuck, target: WaitTarget) -> Decision:
    workgroup = target.workgroup
    if not workgroup or workgroup not in run.settings.workgroups:
        return run.stop(f"runs Athena work in {run.state_name} outside the workgroups in scope ({workgroup})")
    live = _live(run, target)
    last_resort = _after_grace(run, target, live)
    if last_resort is not None:
        return last_resort
    threshold = run.settings.query_threshold(workgroup)
    active, stuck = _queries(run, threshold)
    if stuck:
        return _cancel(run, target, live, stuck[:MAX_QUERIES_PER_ROUND], threshold)
    grace = heal_grace(target, run.settings)
    if live is not None or heal_seen(run.incident, run.facts, target, grace, run.now) is not None:
        return _heal_wait(
            run,
            target,
            live,
            summary=(
                f"Pipeline execution {name_of(run.arn)} waits in {run.state_name} for the heal of its Athena work "
                f"in {workgroup} (a stuck query was cancelled; allowed {grace} s to recover)."
            ),
            classification="stuck-on-athena",
            severity=Severity.INFO,
            runbook_section=RUNBOOK_STUCK_ATHENA,
        )
    if active:
        return Decision(
            outcome=Outcome.WAIT,
            summary=(
                f"Pipeline execution {name_of(run.arn)} waits in {run.state_name} on {len(active)} Athena quer"
                f"{'y' if len(active) == 1 else 'ies'} still under the {threshold} s threshold."
            ),
            classification="stuck-on-athena",
            severity=Severity.INFO,
            runbook_section=RUNBOOK_STUCK_ATHENA,
            next_step=Step.WATCH,
        )
    return run.stop(f"stuck in {run.state_name} with no Athena query running in {workgroup}")


def _cancel(
    run: _Stuck, target: WaitTarget, live: HealRecord | None, chosen: list[QueryFact], threshold: int
) -> Decision:
    """Hand the stuck queries to the query remediation (it re-reads and cancels each one once)."""
    workgroup = str(target.workgroup)
    return _heal_wait(
        run,
        target,
        live,
        summary=(
            f"Pipeline execution {name_of(run.arn)} is stuck in {run.state_name} on Athena work in {workgroup}: "
            f"cancelling {len(chosen)} stuck quer{'y' if len(chosen) == 1 else 'ies'} (threshold {threshold} s)."
        ),
        classification="stuck-on-athena",
        severity=Severity.WARNING,
        runbook_section=RUNBOOK_STUCK_ATHENA,
        advice=[f"aws athena list-query-executions --work-group {workgroup}"],
        delegate=[
            Finding(
                resource_type=ResourceType.QUERY,
                resource_id=q.id,
                condition=Condition.STUCK,
                source="delegated",
                observed_at=run.now,
                scope_key=workgroup,
                facts={
                    "workgroup": workgroup,
                    "state": q.state,
                    "running_seconds": q.running_seconds,
                    "threshold_seconds": threshold,
                    "waited_on_by": run.arn,
                },
            )
            for q in chosen
        ],
    )
