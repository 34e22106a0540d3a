"""A parent waits for its child's heal, pure: the run's STUCK decision in every order the sweep may visit things.

The sweep visits causes first (crawlers, queries, then runs) and the run's own decision delegates the heal, so a
heal is seen either as the run's own record (run visited first) or in the run's reads (child visited first: a
query of the workgroup CANCELLED recently). Either way the run waits within the grace and is stopped after it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from watchdogs.incidents import Incident, iso
from watchdogs.lifecycle.steps import StepTable
from watchdogs.models.domain import Condition, Decision, Finding, IncidentStatus, Outcome, ResourceType
from watchdogs.runbooks.execution import CONDITIONS, STEPS, ExecutionRemediator, Step
from watchdogs.runbooks.execution.heal import HealRecord
from watchdogs.runbooks.execution.remediator import query_facts
from watchdogs.runbooks.execution.steps import legacy_target
from watchdogs.runbooks.execution.stuck import decide_stuck
from watchdogs.settings import Mode, Settings

NOW = datetime(2026, 2, 24, 12, 0, tzinfo=UTC)
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-data-pipeline"
ARN = "arn:aws:states:us-east-1:123456789012:execution:lakehouse-mvp-sandbox-data-pipeline:run-1"
RAW = "lakehouse-sandbox-raw-crawler"
CURATED = "lakehouse-sandbox-curated-crawler"
WG = "lakehouse-mvp-sandbox-workgroup"
QUERY_GRACE = 900  # QUERY_STUCK_SECONDS
CRAWLER_GRACE = 2400  # CRAWLER_STUCK_SECONDS + CRAWLER_STOPPING_SECONDS


def settings() -> Settings:
    return Settings.model_validate(
        {
            "ENVIRONMENT": "test",
            "WATCHDOG_MODE": "remediate",
            "INCIDENT_TABLE": "incidents",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
            "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
            "SCOPE_STATE_MACHINE_ARN_PREFIXES": SM.rsplit(":", 1)[0] + ":lakehouse-mvp-sandbox-",
            "SCOPE_WORKGROUPS": WG,
            "PIPELINE_WORKGROUP": WG,
            "EXECUTION_STUCK_SECONDS": "3600",
            "CRAWLER_STUCK_SECONDS": "1800",
            "CRAWLER_STOPPING_SECONDS": "600",
            "QUERY_STUCK_SECONDS": str(QUERY_GRACE),
        }
    )


def finding() -> Finding:
    return Finding(
        resource_type=ResourceType.EXECUTION,
        resource_id=ARN,
        condition=Condition.STUCK,
        source="sweep",
        observed_at=NOW,
        scope_key=SM,
        facts={"running_seconds": 7200, "threshold_seconds": 3600},
    )


def incident(*, pending: str | None = Step.HEAL, **facts: Any) -> Incident:
    return Incident(
        incident_id="i-1",
        resource_type=ResourceType.EXECUTION,
        resource_id=ARN,
        condition=Condition.STUCK,
        status=IncidentStatus.REMEDIATING,
        detected_at=iso(NOW - timedelta(hours=1)),
        updated_at=iso(NOW - timedelta(minutes=5)),
        pending_step=pending,
        facts=facts,
        version=2,
    )


def healing(target: str, started: datetime, grace: int, **more: Any) -> dict[str, Any]:
    return {
        "target": target,
        "started_at": iso(started),
        "grace_until": iso(started + timedelta(seconds=grace)),
        **more,
    }


def athena(
    *,
    active: list[dict[str, Any]] | None = None,
    cancelled: list[dict[str, Any]] | None = None,
    own: str | None = "q-1",
) -> dict[str, Any]:
    return {
        "status": "RUNNING",
        "running_seconds": 7200,
        "current_state": "WaitForDbtStaging",
        "waits_on": "athena",
        "wait_workgroup": WG,
        "history_query_execution_id": own,
        "active_queries": active or [],
        "cancelled_queries": cancelled or [],
    }


def crawler_wait(crawler: str = RAW) -> dict[str, Any]:
    return {
        "status": "RUNNING",
        "running_seconds": 7200,
        "current_state": "WaitForRawCrawler",
        "waits_on": "crawler",
        "wait_crawler": crawler,
    }


def stuck_query(qid: str = "q-1") -> dict[str, Any]:
    return {"id": qid, "state": "RUNNING", "running_seconds": QUERY_GRACE + 100}


def cancelled_at(at: datetime, qid: str = "q-1") -> dict[str, Any]:
    return {"id": qid, "state": "CANCELLED", "completed_at": iso(at)}


def decide(facts: dict[str, Any], prior: Incident | None = None, now: datetime = NOW) -> Decision:
    return decide_stuck(finding(), facts, prior, settings(), now)


def is_stop(decision: Decision) -> bool:
    return [a.name for a in decision.actions][:1] == ["stop_execution"]


# ------------------------------------------------------------------------------------------------ athena
def test_run_visited_first_delegates_the_cancel_and_records_the_heal() -> None:
    # Given the run's own query stuck, no incident yet (the sweep reached the run before the query)
    decision = decide(athena(active=[stuck_query()]))
    # Then the query is handed over and the heal recorded from now, with its grace
    assert (decision.outcome, decision.next_step) == (Outcome.WAIT, Step.HEAL)
    assert [f.resource_id for f in decision.delegate] == ["q-1"]
    assert decision.facts["heal"] == healing(f"athena:{WG}", NOW, QUERY_GRACE, rounds=1)


def test_query_visited_first_the_run_waits_for_the_heal_instead_of_being_stopped() -> None:
    # Given the query watchdog cancelled the run's query 5 s ago in this sweep: no query runs, no incident yet
    decision = decide(athena(cancelled=[cancelled_at(NOW - timedelta(seconds=5))]))
    # Then the run waits for the heal (nothing left to delegate), its heal started at the cancel
    assert (decision.outcome, decision.next_step) == (Outcome.WAIT, Step.HEAL)
    assert decision.actions == []
    assert decision.delegate == []
    assert decision.facts["heal"] == healing(f"athena:{WG}", NOW - timedelta(seconds=5), QUERY_GRACE, rounds=1)


def test_both_orders_give_the_same_deadline() -> None:
    # Given the same cancel at T, seen by the run before (it delegated at T) or after (the query watchdog did it)
    t = NOW - timedelta(minutes=3)
    run_first = HealRecord(**healing(f"athena:{WG}", t, QUERY_GRACE, last_action_at=iso(t)))
    query_first = HealRecord(**decide(athena(cancelled=[cancelled_at(t)])).facts["heal"])
    # Then the run's grace ends at the same time either way
    assert run_first.deadline(QUERY_GRACE) == query_first.deadline(QUERY_GRACE) == t + timedelta(seconds=QUERY_GRACE)


def test_the_pipeline_resubmitted_its_model_within_the_grace_the_run_waits() -> None:
    # Given the own query cancelled a minute ago and the pipeline's re-submitted model running 50 s
    facts = athena(
        active=[{"id": "q-2", "state": "RUNNING", "running_seconds": 50}],
        cancelled=[cancelled_at(NOW - timedelta(minutes=1))],
    )
    # Then, run first (its heal recorded) or query first (only the cancel seen), it waits on the heal
    recorded = incident(heal=healing(f"athena:{WG}", NOW - timedelta(minutes=1), QUERY_GRACE))
    for prior in (recorded, None):
        decision = decide(facts, prior)
        assert (decision.outcome, decision.next_step, decision.delegate) == (Outcome.WAIT, Step.HEAL, [])


@pytest.mark.parametrize("order", ["run-first", "query-first"])
def test_after_the_grace_the_run_still_stuck_on_athena_is_stopped_in_every_order(order: str) -> None:
    # Given a heal begun just past its grace ago, and the re-submitted model stuck again
    began = NOW - timedelta(seconds=QUERY_GRACE + 1)
    prior = incident(heal=healing(f"athena:{WG}", began, QUERY_GRACE, last_action_at=iso(began)))
    if order == "run-first":  # the run is visited while the new query is still stuck
        facts = athena(active=[stuck_query("q-2")], cancelled=[cancelled_at(began)])
    else:  # the query watchdog already cancelled the new query, a second ago
        facts = athena(cancelled=[cancelled_at(NOW - timedelta(seconds=1), "q-2"), cancelled_at(began)], own="q-2")
    decision = decide(facts, prior)
    # Then the last resort applies either way: a fresh heal step does not extend a grace that has passed
    assert is_stop(decision)
    assert decision.classification == "stuck-after-heal"


def test_a_heal_recorded_in_observe_mode_is_no_heal_once_remediating() -> None:
    # Given a run whose heal was only observed (observe mode: the stuck query was never cancelled) long past its
    # grace, and the watchdog now remediating; the query watchdog cancels the query in this sweep (found by the
    # execution property histories: the run was stopped as "stuck after heal" in the very sweep that healed it)
    began = NOW - timedelta(hours=2)
    prior = incident(heal=healing(f"athena:{WG}", began, QUERY_GRACE, observed=True))
    for facts in (athena(active=[stuck_query()]), athena(cancelled=[cancelled_at(NOW - timedelta(seconds=1))])):
        # When the run is decided (run first: its query still stuck; query first: the cancel just landed)
        decision = decide(facts, prior)
        # Then the heal starts now (or at the cancel): the run waits, and the fresh record is written (one idle step)
        assert not is_stop(decision)
        assert decision.outcome is Outcome.WAIT
        assert decision.next_step is None
        heal = HealRecord(**decision.facts["heal"])
        assert not heal.observed
        assert heal.deadline(QUERY_GRACE) > NOW
    # And in observe mode the observed heal keeps its grace (observe reports the last resort remediate would take)
    observing = settings().model_copy(update={"mode": Mode.OBSERVE})
    would = decide_stuck(finding(), athena(active=[stuck_query()]), prior, observing, NOW)
    assert is_stop(would)
    assert would.classification == "stuck-after-heal"


def test_a_heal_no_action_was_recorded_for_begins_at_the_first_cancel_seen() -> None:
    # Given a heal recorded long ago that never acted (the workgroup was opted out: the cancel was refused), and
    # the query watchdog cancelling the run's query a second ago, in this sweep (found by the execution property
    # histories: the run was stopped in the very sweep that healed its cause)
    prior = incident(heal=healing(f"athena:{WG}", NOW - timedelta(hours=1), QUERY_GRACE))
    decision = decide(athena(cancelled=[cancelled_at(NOW - timedelta(seconds=1))]), prior)
    # Then the run waits: the heal's grace runs from that cancel
    assert (decision.outcome, decision.next_step) == (Outcome.WAIT, Step.HEAL)
    # And once that grace has passed with the run still stuck, it is stopped
    later = NOW + timedelta(seconds=QUERY_GRACE)
    assert is_stop(decide(athena(cancelled=[cancelled_at(NOW - timedelta(seconds=1))]), prior, later))


def test_a_heal_from_before_a_redrive_is_no_heal_of_the_redriven_run() -> None:
    # Given a crawler heal recorded two hours ago, then the run failed and was redriven 4000 s ago, and is stuck
    # on the same crawler again: its STUCK incident stayed open across the redrive (found by the moto execution
    # histories: the redriven run was stopped at once, in the sweep that healed its crawler again)
    prior = incident(heal=healing(f"crawler:{RAW}", NOW - timedelta(hours=2), CRAWLER_GRACE))
    redriven = {**crawler_wait(), "running_seconds": 4000, "redrive_count": 1}
    # When the sweep visits the run
    decision = decide(redriven, prior)
    # Then the old heal does not count: this attempt's heal starts now, written with one idle round
    assert not is_stop(decision)
    assert (decision.outcome, decision.next_step) == (Outcome.WAIT, None)
    assert HealRecord(**decision.facts["heal"]).started_at == iso(NOW)
    # And the next round, with the fresh heal recorded, keeps waiting within its grace
    fresh = incident(pending=None, heal=decision.facts["heal"])
    again = decide({**redriven, "running_seconds": 4300}, fresh, NOW + timedelta(minutes=5))
    assert (again.outcome, again.next_step) == (Outcome.WAIT, Step.HEAL)


def test_a_cancel_older_than_the_grace_is_no_heal() -> None:
    decision = decide(athena(cancelled=[cancelled_at(NOW - timedelta(seconds=QUERY_GRACE + 1))]))
    assert is_stop(decision)
    assert "no Athena query running" in decision.actions[0].params["reason"]


def test_the_runs_own_query_is_preferred_as_evidence() -> None:
    # Given another user's query cancelled recently, but not the run's own (known from its history)
    others = athena(cancelled=[cancelled_at(NOW - timedelta(seconds=5), "q-other")], own="q-1")
    # Then that is not a heal of this run's cause
    assert is_stop(decide(others))
    # but with the run's query id unknown, any recent cancel in the workgroup counts
    unknown = athena(cancelled=[cancelled_at(NOW - timedelta(seconds=5), "q-other")], own=None)
    assert decide(unknown).outcome is Outcome.WAIT


def test_a_delegated_action_recorded_by_the_engine_is_a_heal_under_way() -> None:
    # Given the engine recorded a delegated child's action 2 minutes ago (no heal start: an older incident)
    prior = incident(pending=None, heal={"last_action_at": iso(NOW - timedelta(minutes=2))})
    decision = decide(athena(), prior)
    # Then the run waits, its heal counted from that action
    assert (decision.outcome, decision.next_step) == (Outcome.WAIT, Step.HEAL)
    assert decision.facts["heal"]["started_at"] == iso(NOW - timedelta(minutes=2))
    # and an action older than the grace is not
    stale = incident(pending=None, heal={"last_action_at": iso(NOW - timedelta(seconds=QUERY_GRACE + 1))})
    assert is_stop(decide(athena(), stale))


def test_a_watch_ends_a_heal_a_later_stuck_query_starts_a_new_one() -> None:
    # Given an old heal of the workgroup, then a WATCH (the run progressed), now a stuck query again
    prior = incident(pending=Step.WATCH, heal=healing(f"athena:{WG}", NOW - timedelta(hours=1), QUERY_GRACE))
    decision = decide(athena(active=[stuck_query()]), prior)
    # Then it is healed again with a new grace, not stopped on the old one
    assert [f.resource_id for f in decision.delegate] == ["q-1"]
    assert decision.facts["heal"]["started_at"] == iso(NOW)


def test_the_last_action_is_kept_when_the_heal_is_recorded_again() -> None:
    prior = incident(
        heal=healing(f"athena:{WG}", NOW - timedelta(minutes=5), QUERY_GRACE, rounds=1, last_action_at="x")
    )
    decision = decide(athena(active=[stuck_query()]), prior)
    assert decision.facts["heal"]["last_action_at"] == "x"
    assert decision.facts["heal"]["rounds"] == 2


# ------------------------------------------------------------------------------------------------ crawler
@pytest.mark.parametrize("order", ["run-first", "crawler-first"])
def test_crawler_wait_within_the_grace_waits_and_after_it_stops_in_every_order(order: str) -> None:
    # The run's reads do not depend on whether the crawler watchdog acted first in this sweep (it reads no crawler
    # state), and its grace is measured from the heal's start: the crawler's own threshold plus the stopping limit,
    # which covers a stop (STOPPING) and the restart that follows it.
    del order
    assert decide(crawler_wait()).outcome is Outcome.WAIT  # no heal yet: it begins now
    began = incident(heal=healing(f"crawler:{RAW}", NOW - timedelta(seconds=CRAWLER_GRACE - 1), CRAWLER_GRACE))
    within = decide(crawler_wait(), began)
    assert (within.outcome, within.next_step, [f.resource_id for f in within.delegate]) == (
        Outcome.WAIT,
        Step.HEAL,
        [RAW],
    )
    late = incident(heal=healing(f"crawler:{RAW}", NOW - timedelta(seconds=CRAWLER_GRACE), CRAWLER_GRACE))
    stop = decide(crawler_wait(), late)
    assert is_stop(stop)
    assert stop.classification == "stuck-after-heal"


def test_a_heal_moving_to_another_crawler_changes_the_step_for_one_round_so_it_is_recorded() -> None:
    # Given a heal of the raw crawler pending, and the run now stuck on the curated one
    raw = incident(heal=healing(f"crawler:{RAW}", NOW - timedelta(days=1), CRAWLER_GRACE))
    moved = decide(crawler_wait(CURATED), raw)
    # Then the new heal is recorded with a step change (same status and class would be "no change" to the core)
    assert moved.outcome is Outcome.WAIT
    assert moved.next_step is None
    assert moved.facts["heal"] == healing(f"crawler:{CURATED}", NOW, CRAWLER_GRACE, rounds=1)
    # and the next round continues that heal under its step
    curated = incident(pending=None, heal=moved.facts["heal"])
    later = decide(crawler_wait(CURATED), curated, NOW + timedelta(minutes=5))
    assert (later.next_step, later.facts["heal"]["started_at"], later.facts["heal"]["rounds"]) == (
        Step.HEAL,
        iso(NOW),
        2,
    )


# ------------------------------------------------------------------------------------------------ steps
@pytest.mark.parametrize(
    ("raw", "step", "target"),
    [
        ("heal", Step.HEAL, None),
        ("heal:crawler:lakehouse-sandbox-raw-crawler", Step.HEAL, "crawler:lakehouse-sandbox-raw-crawler"),
        (f"heal:athena:{WG}", Step.HEAL, f"athena:{WG}"),
        (f"watch:athena:{WG}", Step.WATCH, f"athena:{WG}"),
        ("await_redrive", Step.AWAIT_REDRIVE, None),
        ("start_when_ready", None, None),
        (None, None, None),
    ],
)
def test_old_steps_are_read_as_plain_steps_with_their_target(
    raw: str | None, step: Step | None, target: str | None
) -> None:
    assert Step.parse(raw) is step
    assert legacy_target(raw) == target


def test_an_incident_written_before_the_heal_record_is_read() -> None:
    old = incident(pending=f"heal:athena:{WG}", heal_started_at=iso(NOW), heal_rounds=3)
    assert HealRecord.of(old) == HealRecord(target=f"athena:{WG}", started_at=iso(NOW), rounds=3)


def test_the_step_table() -> None:
    table: StepTable = ExecutionRemediator.steps
    assert table is STEPS
    assert set(table.steps) == {"heal", "watch", "await_redrive"}
    assert table.allows(None, Step.HEAL)
    assert table.allows(Step.HEAL, Step.WATCH)
    assert table.allows(Step.WATCH, None)
    assert table.allows("heal:crawler:x", Step.HEAL)  # an old incident's step moves on
    assert not table.allows(Step.AWAIT_REDRIVE, "start_when_ready")


# ------------------------------------------------------------------------------------------------ declared reads
def test_every_declared_read_is_a_declared_permission() -> None:
    declared = {read for reads in CONDITIONS.values() for read in reads}
    assert declared == set(ExecutionRemediator.read_permissions)
    assert CONDITIONS[Condition.RECOVERED] == ()


def test_query_facts_keep_the_active_queries_and_the_newest_cancels_own_first() -> None:
    def q(qid: str, state: str, at: datetime) -> dict[str, Any]:
        status: dict[str, Any] = {"State": state, "SubmissionDateTime": at - timedelta(minutes=1)}
        if state != "RUNNING":
            status["CompletionDateTime"] = at
        return {"QueryExecutionId": qid, "Status": status}

    page = [q(f"c-{i}", "CANCELLED", NOW - timedelta(minutes=i)) for i in range(1, 9)]
    page += [q("own", "CANCELLED", NOW - timedelta(hours=1)), q("r", "RUNNING", NOW), q("s", "SUCCEEDED", NOW)]
    active, cancelled = query_facts(page, NOW, own="own")
    assert [(a.id, a.running_seconds) for a in active] == [("r", 60)]
    assert [c.id for c in cancelled] == ["own", "c-1", "c-2", "c-3", "c-4", "c-5"]
