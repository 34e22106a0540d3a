"""The pure lifecycle core, without any emulator: holds, budget, quarantine, observe, quiet repeats, resolve."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.incidents.record import Budget, Incident, iso
from watchdogs.lifecycle.plan import Policy, Verdict, decision_key, plan
from watchdogs.lifecycle.steps import StepTable
from watchdogs.models.domain import Condition, Decision, IncidentStatus, Outcome, PlannedAction, ResourceType

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(
    observe=False,
    budget_max=3,
    budget_window_seconds=3600,
    quarantine_seconds=7200,
    hold_seconds=7200,
    lease_seconds=120,
    actor="me",
)
RESTART = PlannedAction(name="start_crawler", params={"crawler": "c"}, target="c")


def act(next_step: str | None = "await_success") -> Decision:
    return Decision(
        outcome=Outcome.ACT,
        summary="restart",
        classification="transient",
        actions=[RESTART],
        next_step=next_step,
        status_after=IncidentStatus.REMEDIATED,
    )


def incident(status: IncidentStatus = IncidentStatus.OPEN, **fields: object) -> Incident:
    return MemoryIncidentStore().new_incident(
        ResourceType.CRAWLER, "c", Condition.FAILED, status=status, detected_at=NOW - timedelta(minutes=5), **fields
    )


def test_a_first_act_spends_budget_takes_a_lease_and_notifies() -> None:
    transition = plan(act(), None, Budget(), POLICY, NOW)
    assert transition.verdict is Verdict.WRITE
    assert [a.name for a in transition.actions] == ["start_crawler"]
    assert transition.budget is not None
    assert len(transition.budget.action_times) == 1
    assert transition.lease_until == iso(NOW + timedelta(seconds=120))
    assert transition.notify == "act"


def test_an_escalated_incident_is_held_until_its_hold_expires() -> None:
    # Given an escalated incident whose hold runs another hour
    held = incident(IncidentStatus.ESCALATED, hold_until=iso(NOW + timedelta(hours=1)), decision_key="k")
    # When a runbook wants to act on it again (e.g. the next sweep sees it stuck again)
    transition = plan(act(), held, Budget(), POLICY, NOW)
    # Then nothing is done, written or sent
    assert (transition.verdict, transition.held, transition.actions, transition.notify) == (
        Verdict.NOOP,
        True,
        (),
        None,
    )
    # And once the hold expired (or was acknowledged) it may act again
    expired = held.model_copy(update={"hold_until": iso(NOW - timedelta(seconds=1))})
    assert plan(act(), expired, Budget(), POLICY, NOW).actions == (RESTART,)


def test_a_new_escalation_reason_on_a_held_incident_is_news_but_the_same_one_is_not() -> None:
    escalate = Decision(outcome=Outcome.ESCALATE, summary="stuck again", classification="crawler-stuck-again")
    key = decision_key(escalate, IncidentStatus.ESCALATED)
    held = incident(IncidentStatus.ESCALATED, hold_until=iso(NOW + timedelta(hours=1)), decision_key=key)
    assert plan(escalate, held, Budget(), POLICY, NOW).verdict is Verdict.NOOP
    other = escalate.model_copy(update={"classification": "crawler-stuck-stopping"})
    transition = plan(other, held, Budget(), POLICY, NOW)
    assert (transition.verdict, transition.notify) == (Verdict.WRITE, "escalate")


def test_the_action_over_budget_quarantines_and_escalates_instead() -> None:
    spent = Budget(action_times=[(NOW - timedelta(minutes=m)).timestamp() for m in (1, 2, 3)], version=4)
    transition = plan(act(), incident(), spent, POLICY, NOW)
    assert transition.actions == ()
    assert transition.status is IncidentStatus.ESCALATED
    assert transition.budget is not None
    assert transition.budget.quarantined_until == (NOW + timedelta(hours=2)).timestamp()
    assert "budget exhausted" in transition.summary
    # and a quarantined resource gets no action either, even for a fresh incident
    assert plan(act(), None, transition.budget, POLICY, NOW).actions == ()


def test_budget_outside_the_window_is_forgotten() -> None:
    old = Budget(action_times=[(NOW - timedelta(hours=2)).timestamp()] * 3)
    transition = plan(act(), None, old, POLICY, NOW)
    assert transition.actions == (RESTART,)
    assert transition.budget is not None
    assert transition.budget.action_times == [NOW.timestamp()]


def test_observe_mode_acts_never_and_reports_each_decision_once() -> None:
    observe = Policy(**{**POLICY.__dict__, "observe": True})
    first = plan(act(), None, Budget(), observe, NOW)
    assert (first.actions, first.would_act, first.status, first.notify) == (
        (),
        (RESTART,),
        IncidentStatus.OBSERVED,
        "observed",
    )
    assert first.budget is None
    recorded = incident(IncidentStatus.OBSERVED, decision_key=first.decision_key)
    again = plan(act(), recorded, Budget(), observe, NOW + timedelta(minutes=5))
    assert (again.verdict, again.notify) == (Verdict.NOOP, None)


def test_a_wait_after_the_act_that_started_its_step_is_quiet() -> None:
    started = plan(act("confirm-cancel"), None, Budget(), POLICY, NOW)
    current = incident(IncidentStatus.REMEDIATING, decision_key=started.decision_key)
    current = current.model_copy(update={"status": started.status})
    wait = Decision(
        outcome=Outcome.WAIT, summary="waiting", classification="transient", next_step="confirm-cancel"
    ).model_copy(update={"status_after": started.status})
    # a WAIT leads to REMEDIATING; the ACT led to REMEDIATED: that is a change of status and is told once
    first = plan(wait, current, Budget(), POLICY, NOW)
    settled = current.model_copy(update={"status": first.status, "decision_key": first.decision_key})
    assert plan(wait, settled, Budget(), POLICY, NOW).verdict is Verdict.NOOP


def test_resolve_and_close_need_an_open_incident_and_say_which_it_is() -> None:
    resolve = Decision(outcome=Outcome.RESOLVE, summary="succeeded")
    close = Decision(outcome=Outcome.CLOSE, summary="expired")
    assert plan(resolve, None, Budget(), POLICY, NOW).verdict is Verdict.NOOP
    resolved = plan(resolve, incident(), Budget(), POLICY, NOW)
    closed = plan(close, incident(), Budget(), POLICY, NOW)
    assert (resolved.verdict, resolved.status, resolved.notify) == (Verdict.CLOSE, IncidentStatus.RESOLVED, "resolved")
    assert (closed.verdict, closed.status, closed.notify) == (Verdict.CLOSE, IncidentStatus.CLOSED, "closed")


def test_a_lease_held_by_another_invocation_is_busy_and_ours_is_not() -> None:
    leased = incident(IncidentStatus.REMEDIATING, lease_owner="other", lease_until=iso(NOW + timedelta(seconds=30)))
    assert plan(act(), leased, Budget(), POLICY, NOW).verdict is Verdict.BUSY
    assert plan(act(), leased, Budget(), POLICY, NOW + timedelta(seconds=31)).verdict is Verdict.WRITE
    mine = leased.model_copy(update={"lease_owner": "me"})
    assert plan(act(), mine, Budget(), POLICY, NOW).verdict is Verdict.WRITE


def test_ignore_is_nothing() -> None:
    assert plan(Decision(outcome=Outcome.IGNORE, summary="x"), incident(), Budget(), POLICY, NOW).verdict is (
        Verdict.NOOP
    )


@pytest.mark.parametrize(
    ("current", "nxt", "allowed"),
    [(None, "stop", True), (None, "start", False), ("stop", "start", True), ("start", "stop", True), ("x", "y", False)],
)
def test_step_tables_allow_only_declared_transitions(current: str | None, nxt: str, allowed: bool) -> None:
    table = StepTable("reset", starts=frozenset({"stop"}), transitions={"stop": frozenset({"start"})})
    assert table.allows(current, nxt) is allowed
    assert table.allows(current, None) is True


def test_the_incident_item_stays_bounded_through_10000_transitions_with_huge_errors() -> None:
    # Given an incident that lives through 10,000 transitions, each with a 120 KB error message read from AWS
    huge = "E" * 120_000
    record = incident()
    for n in range(10_000):
        record = record.model_copy(update={"facts": {**record.facts, "error": huge, f"n{n % 50}": huge}})
        from watchdogs.incidents.record import TimelineEntry

        record = record.append(TimelineEntry(at=iso(NOW), kind="decided", detail=huge)).enqueue("notify", iso(NOW))
        record = record.model_copy(update={"summary": huge, "advice": [huge] * 30}).bounded()
    # Then the stored item stays far under DynamoDB's limit, and the counters still know everything happened
    size = len(record.model_dump_json().encode())
    assert size < 64_000, size
    assert record.timeline_counts["decided"] == 10_000
    assert (record.seq, len(record.outbox), record.outbox_dropped) == (10_000, 10, 9_990)
