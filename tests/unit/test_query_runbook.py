"""The Athena query runbook, pure: classification, facts, every decision branch. No network."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import load_event
from tests.support.steps import guard_steps
from watchdogs.incidents import Budget, Incident, ResourceState, TimelineEntry, iso
from watchdogs.lifecycle.plan import Policy, Verdict, plan
from watchdogs.models.domain import Condition, Finding, IncidentStatus, Outcome, ResourceType, Severity
from watchdogs.models.events import QueryStateChangeEvent
from watchdogs.runbooks.query import STEPS, QueryRemediator, dedup_key, findings_from_event
from watchdogs.runbooks.query.cancel import CANCEL_CONFIRM_SECONDS, decide_stuck
from watchdogs.runbooks.query.facts import QueryFacts, execution_facts, mask_query
from watchdogs.runbooks.query.failures import OPTIMISATION_ADVICE, classify_failure
from watchdogs.runbooks.query.remediator import QueryReadError
from watchdogs.runbooks.query.rules import decide_cancelled, decide_failed, decide_succeeded
from watchdogs.runbooks.query.steps import Step
from watchdogs.settings import Settings
from watchdogs.shared.humanize import human_bytes, human_duration

NOW = datetime(2024, 1, 15, 7, 0, tzinfo=UTC)
QID = "7c1d4b2e-9a3f-4e61-b0d5-2f8e6a1c9d01"
WG = "lakehouse-mvp-sandbox-workgroup"
SECRET_SQL = (
    "SELECT customer_id, email FROM curated.fct_events\n  WHERE ssn = '123-45-6789' AND event_date > "
    "DATE '2024-01-01' AND note = 'it''s private' ORDER BY 1"
)


def incident(
    condition: Condition,
    status: IncidentStatus = IncidentStatus.OPEN,
    *,
    classification: str = "unclassified",
    timeline: list[TimelineEntry] | None = None,
    facts: dict[str, Any] | None = None,
) -> Incident:
    return Incident(
        incident_id="inc-1",
        resource_type=ResourceType.QUERY,
        resource_id=QID,
        condition=condition,
        status=status,
        classification=classification,
        detected_at=iso(NOW - timedelta(minutes=30)),
        updated_at=iso(NOW - timedelta(minutes=30)),
        timeline=timeline or [],
        facts=facts or {},
    )


def state_of(*incidents: Incident) -> ResourceState:
    return ResourceState(
        resource_type=ResourceType.QUERY, resource_id=QID, incidents={i.condition: i for i in incidents}
    )


def cancelled_at(moment: datetime) -> TimelineEntry:
    return TimelineEntry(at=iso(moment), kind="action", step="stop_query", outcome="cancelled")


def running_facts(seconds: float, state: str = "RUNNING") -> dict[str, Any]:
    """What inspect reads about a running query (its workgroup confirmed by GetQueryExecution)."""
    return {
        "state": state,
        "workgroup": WG,
        "workgroup_verified": True,
        "statement_type": "DML",
        "elapsed_seconds": seconds,
        "ran_for": human_duration(seconds),
        "data_scanned": "1.5 GB",
    }


@pytest.fixture(autouse=True)
def every_step_is_declared(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every decision made below moves its incident only along the query's declared step table (STEPS)."""
    decisions = ("decide_stuck", "decide_failed", "decide_cancelled", "decide_succeeded")
    guard_steps(monkeypatch, sys.modules[__name__], decisions, STEPS)
    guard_steps(monkeypatch, QueryRemediator, ("decide",), STEPS)


def typed(facts: dict[str, Any]) -> QueryFacts:
    """Facts as the rules take them (the shell builds the same from what it read)."""
    return QueryFacts.from_dict(facts)


def settings(**overrides: Any) -> Settings:
    env = {
        "ENVIRONMENT": "test",
        "WATCHDOG_MODE": "remediate",
        "INCIDENT_TABLE": "incidents",
        "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        "SCOPE_WORKGROUPS": f"lakehouse-sandbox-workgroup,{WG}",
        **overrides,
    }
    return Settings.model_validate(env)


# ============================================================================================ classification
@pytest.mark.parametrize(
    ("category", "error_type", "message", "retryable", "reason", "expected"),
    [
        (2, 1000, "Permission denied on S3 path: s3://lake/curated/fct_events", False, None, "permission-denied"),
        (2, 1000, "Access Denied (Service: Amazon S3; Status Code: 403)", False, None, "permission-denied"),
        (2, 234, "Lake Formation error", False, None, "permission-denied"),
        (2, 1000, "Insufficient Lake Formation permission(s) on fct_events", False, None, "permission-denied"),
        (
            3,
            None,
            "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: glue:GetTable",
            None,
            None,
            "permission-denied",
        ),
        # Athena's missing-column message mentions "not authorized" but is the query's own error
        (
            2,
            1000,
            "COLUMN_NOT_FOUND: line 3:8: Column 'event_tz' cannot be resolved or requester is not authorized "
            "to access requested resources",
            False,
            None,
            "user-sql-error",
        ),
        (None, None, None, None, "Query cancelled! : Bytes scanned limit was exceeded", "bytes-scanned-cutoff"),
        (
            2,
            1000,
            "Query exceeded the BytesScannedCutoffPerQuery of the workgroup",
            False,
            None,
            "bytes-scanned-cutoff",
        ),
        (1, 206, "Query timeout", False, None, "query-timeout"),
        (1, 210, "anything", True, None, "query-timeout"),
        (2, 1000, "Query timed out after 30 minutes", False, None, "query-timeout"),
        (1, 3, "Query exhausted resources at this scale factor", False, None, "resources-exhausted"),
        (1, 100, "Internal service error", True, None, "transient-system-error"),
        (3, 400, "Internal service error", True, None, "transient-system-error"),
        (2, 1000, "line 1:8: mismatched input 'FORM'. Expecting: ','", False, None, "user-sql-error"),
        (2, 1000, "Column 'timeout_ms' cannot be resolved", False, None, "user-sql-error"),
        (1, 100, "Internal service error", False, None, "system-error"),
        (3, 300, "Internal service error", False, None, "system-error"),
        (None, None, "something odd", None, None, "unclassified-failure"),
    ],
)
def test_failures_are_classified_by_category_type_message_and_retryable_flag(
    category: int | None,
    error_type: int | None,
    message: str | None,
    retryable: bool | None,
    reason: str | None,
    expected: str,
) -> None:
    # Given an Athena error / When classified / Then it lands in the expected runbook class
    assert classify_failure(category, error_type, message, retryable, reason).name == expected


@pytest.mark.parametrize(
    ("name", "outcome", "severity"),
    [
        ("permission-denied", Outcome.ESCALATE, Severity.HIGH),
        ("query-timeout", Outcome.NOTIFY, Severity.WARNING),
        ("bytes-scanned-cutoff", Outcome.NOTIFY, Severity.WARNING),
        ("user-sql-error", Outcome.NOTIFY, Severity.WARNING),
        ("transient-system-error", Outcome.NOTIFY, Severity.INFO),
    ],
)
def test_each_class_maps_to_its_outcome_and_severity(name: str, outcome: Outcome, severity: Severity) -> None:
    # Given facts of a failed query classified as `name`
    messages = {
        "permission-denied": (2, 1000, "Access Denied", False),
        "query-timeout": (1, 206, "Query timeout", False),
        "bytes-scanned-cutoff": (2, 1000, "Bytes scanned limit was exceeded", False),
        "user-sql-error": (2, 1000, "SYNTAX_ERROR: line 1:1", False),
        "transient-system-error": (1, 100, "Internal service error", True),
    }
    category, error_type, message, retryable = messages[name]
    facts = {
        "state": "FAILED",
        "workgroup": WG,
        "error_category": category,
        "error_type": error_type,
        "error_message": message,
        "retryable": retryable,
    }
    # When decided
    decision = decide_failed(QID, typed(facts), None, state_of(), NOW)
    # Then outcome, severity and classification follow the class; no action is ever taken on a failure
    assert (decision.outcome, decision.severity, decision.classification) == (outcome, severity, name)
    assert decision.actions == []
    assert message in decision.summary


# ============================================================================================ facts
def test_mask_query_hides_literals_collapses_whitespace_and_truncates() -> None:
    # Given SQL with string literals / When previewed
    preview = mask_query(SECRET_SQL, limit=60)
    # Then no literal survives, whitespace is one space, and it is cut to the limit with an ellipsis
    assert "123-45-6789" not in preview
    assert "\n" not in preview
    assert len(preview) == 60
    assert preview.endswith("\u2026")
    assert mask_query("SELECT 'x'") == "SELECT '?'"
    assert mask_query(None) == ""


def test_execution_facts_record_what_ran_but_never_the_query_text() -> None:
    # Given a RUNNING query as GetQueryExecution returns it
    execution = {
        "QueryExecutionId": QID,
        "Query": SECRET_SQL,
        "StatementType": "DML",
        "SubstatementType": "SELECT",
        "QueryExecutionContext": {"Database": "curated"},
        "Status": {"State": "RUNNING", "SubmissionDateTime": NOW - timedelta(minutes=31, seconds=5)},
        "Statistics": {"DataScannedInBytes": 3 * 1024**3, "EngineExecutionTimeInMillis": 1000},
        "WorkGroup": WG,
    }
    # When turned into facts
    facts = execution_facts(execution, NOW)
    # Then id, workgroup, statement type, run time and data scanned are there ...
    assert facts["query_execution_id"] == QID
    assert facts["workgroup"] == WG
    assert (facts["statement_type"], facts["substatement_type"], facts["database"]) == ("DML", "SELECT", "curated")
    assert facts["elapsed_seconds"] == 31 * 60 + 5
    assert facts["ran_for"] == "31m 05s"
    assert (facts["data_scanned_bytes"], facts["data_scanned"]) == (3 * 1024**3, "3.0 GB")
    assert "completed_at" not in facts
    # ... and the query text only as a masked preview under a key the notifier never sends
    assert [k for k, v in facts.items() if isinstance(v, str) and "FROM curated" in v] == ["query_preview"]
    assert all("123-45-6789" not in str(v) for v in facts.values())


def test_execution_facts_of_a_failed_query_carry_its_error() -> None:
    # Given a FAILED query with an AthenaError
    execution = {
        "QueryExecutionId": QID,
        "Status": {
            "State": "FAILED",
            "SubmissionDateTime": NOW - timedelta(minutes=30),
            "CompletionDateTime": NOW - timedelta(minutes=1),
            "StateChangeReason": "Query timeout",
            "AthenaError": {"ErrorCategory": 1, "ErrorType": 206, "Retryable": False, "ErrorMessage": "Query timeout"},
        },
        "Statistics": {},
        "WorkGroup": WG,
    }
    # When turned into facts
    facts = execution_facts(execution, NOW)
    # Then the error and the run time up to completion are recorded
    assert (facts["error_category"], facts["error_category_name"], facts["error_type"]) == (1, "SYSTEM", 206)
    assert (facts["error_message"], facts["retryable"]) == ("Query timeout", False)
    assert facts["elapsed_seconds"] == 29 * 60
    assert "query_preview" not in facts


def test_human_units() -> None:
    # Given sizes and durations / When rendered / Then readable
    assert [human_bytes(n) for n in (None, 512, 2048, 5 * 1024**4)] == ["unknown", "512 B", "2.0 KB", "5.0 TB"]
    assert [human_duration(s) for s in (None, 42, 125, 3 * 3600 + 60)] == ["unknown", "42s", "2m 05s", "3h 01m"]


# ============================================================================================ events
@pytest.mark.parametrize(
    ("sample", "condition"),
    [
        ("athena-query-failed-timeout", Condition.FAILED),
        ("athena-query-failed-access-denied", Condition.FAILED),
        ("athena-query-failed-user-sql-error", Condition.FAILED),
        ("athena-query-failed-retryable-system-error", Condition.FAILED),
        ("athena-query-failed-after-requeue", Condition.FAILED),
        ("athena-query-cancelled", Condition.CANCELLED),
        ("athena-query-cancelled-bytes-scanned-cutoff", Condition.CANCELLED),
        ("athena-query-succeeded", Condition.RECOVERED),
    ],
)
def test_each_sample_event_becomes_one_finding_scoped_by_workgroup(sample: str, condition: Condition) -> None:
    # Given a sample event
    event = QueryStateChangeEvent.model_validate(load_event(sample))
    # When turned into findings
    findings = findings_from_event(event)
    # Then one finding on the query, scoped by its workgroup, carrying the event's statement type
    assert [f.condition for f in findings] == [condition]
    finding = findings[0]
    assert finding.resource_id == event.detail.query_execution_id
    assert finding.scope_key == event.detail.workgroup_name
    assert finding.facts["statement_type"] == event.detail.statement_type
    assert finding.event_id == event.id
    if event.detail.athena_error is not None:
        assert finding.facts["error_category"] == event.detail.athena_error.error_category


@pytest.mark.parametrize("state", ["QUEUED", "RUNNING"])
def test_queued_and_running_events_are_not_findings(state: str) -> None:
    # Given a QUEUED/RUNNING event (the rule does not route them; a stray one must be harmless)
    raw = load_event("athena-query-succeeded")
    raw["detail"]["currentState"] = state
    # When turned into findings / Then there are none
    assert findings_from_event(QueryStateChangeEvent.model_validate(raw)) == []


def test_dedup_key_collapses_duplicate_deliveries_but_not_requeues() -> None:
    # Given the same transition twice, and the FAILED of the same query after a re-queue
    first = QueryStateChangeEvent.model_validate(load_event("athena-query-failed-retryable-system-error"))
    duplicate_raw = load_event("athena-query-failed-retryable-system-error")
    duplicate_raw["id"] = "another-delivery-id"
    duplicate = QueryStateChangeEvent.model_validate(duplicate_raw)
    requeued = QueryStateChangeEvent.model_validate(load_event("athena-query-failed-after-requeue"))
    # When keyed / Then the duplicate shares the key (whatever its event id) and the re-queue does not
    assert dedup_key(first) == dedup_key(duplicate)
    assert dedup_key(first) != dedup_key(requeued)
    assert first.detail.query_execution_id == requeued.detail.query_execution_id


# ============================================================================================ stuck
def test_stuck_query_past_threshold_is_cancelled_and_awaits_confirmation() -> None:
    # Given a query RUNNING 31 minutes against a 25-minute threshold, no incident yet
    # When decided in remediate mode
    decision = decide_stuck(QID, typed(running_facts(31 * 60)), None, threshold_seconds=1500, observing=False, now=NOW)
    # Then it is cancelled once, and the incident waits for Athena's CANCELLED
    assert decision.outcome is Outcome.ACT
    assert [(a.name, a.params) for a in decision.actions] == [("stop_query", {"query_execution_id": QID})]
    assert decision.next_step == Step.CONFIRM_CANCEL
    assert decision.status_after is IncidentStatus.REMEDIATING
    assert decision.runbook_section.startswith("Pipeline Stuck in RUNNING State")
    assert "31m 00s" in decision.summary
    assert "1.5 GB" in decision.summary
    assert "cancelling" in decision.summary


@pytest.mark.parametrize("state", ["QUEUED", "RUNNING"])
def test_stuck_query_in_observe_mode_is_reported_with_nothing_pending(state: str) -> None:
    # Given a query stuck QUEUED/RUNNING / When decided in observe mode
    decision = decide_stuck(
        QID, typed(running_facts(3600, state)), None, threshold_seconds=1500, observing=True, now=NOW
    )
    # Then the cancel is planned (the engine records it as would-act) and nothing is left pending
    assert [a.name for a in decision.actions] == ["stop_query"]
    assert decision.next_step is None
    assert "would cancel" in decision.summary


def test_observed_stuck_query_is_not_reported_again() -> None:
    # Given an observed incident whose would-act is recorded
    observed = incident(
        Condition.STUCK,
        IncidentStatus.OBSERVED,
        timeline=[TimelineEntry(at=iso(NOW), kind="would-act", step="stop_query", outcome="skipped (observe mode)")],
    )
    # When the sweep finds it again in observe mode
    decision = decide_stuck(QID, typed(running_facts(3600)), observed, threshold_seconds=1500, observing=True, now=NOW)
    # Then the runbook decides the same cancel (observe mode is not its concern)
    assert (decision.outcome, [a.name for a in decision.actions], decision.next_step) == (
        Outcome.ACT,
        ["stop_query"],
        None,
    )
    # And the core turns the repeat into a no-op: no write, no second report
    policy = Policy(
        observe=True,
        budget_max=3,
        budget_window_seconds=3600,
        quarantine_seconds=3600,
        hold_seconds=3600,
        lease_seconds=60,
        actor="test",
    )
    first = plan(decision, None, Budget(), policy, NOW)
    assert (first.verdict, first.status, first.actions) == (Verdict.WRITE, IncidentStatus.OBSERVED, ())
    recorded = observed.model_copy(update={"decision_key": first.decision_key})
    assert plan(decision, recorded, Budget(), policy, NOW).verdict is Verdict.NOOP


def test_observed_stuck_query_is_cancelled_once_remediate_mode_is_on() -> None:
    # Given an observed incident, and the watchdog switched to remediate
    observed = incident(
        Condition.STUCK,
        IncidentStatus.OBSERVED,
        timeline=[TimelineEntry(at=iso(NOW), kind="would-act", step="stop_query")],
    )
    # When the sweep finds the query still running
    decision = decide_stuck(QID, typed(running_facts(3600)), observed, threshold_seconds=1500, observing=False, now=NOW)
    # Then it is cancelled now
    assert [a.name for a in decision.actions] == ["stop_query"]


def test_cancelled_query_still_running_within_grace_waits_without_a_second_cancel() -> None:
    # Given our cancel two minutes ago and the query still RUNNING
    cancelled = incident(
        Condition.STUCK, IncidentStatus.REMEDIATING, timeline=[cancelled_at(NOW - timedelta(minutes=2))]
    )
    # When the sweep or a duplicate finding comes
    decision = decide_stuck(
        QID, typed(running_facts(3600)), cancelled, threshold_seconds=1500, observing=False, now=NOW
    )
    # Then no second cancel: wait on the same pending step
    assert (decision.outcome, decision.actions, decision.next_step) == (Outcome.WAIT, [], Step.CONFIRM_CANCEL)


def test_cancelled_query_still_running_after_grace_is_escalated_not_cancelled_again() -> None:
    # Given our cancel long ago and the query still RUNNING
    long_ago = NOW - timedelta(seconds=CANCEL_CONFIRM_SECONDS + 1)
    cancelled = incident(Condition.STUCK, IncidentStatus.REMEDIATING, timeline=[cancelled_at(long_ago)])
    # When decided
    decision = decide_stuck(
        QID, typed(running_facts(3600)), cancelled, threshold_seconds=1500, observing=False, now=NOW
    )
    # Then a human is called and nothing is retried
    assert (decision.outcome, decision.actions, decision.severity) == (Outcome.ESCALATE, [], Severity.HIGH)


def test_query_under_threshold_is_not_stuck() -> None:
    # Given a query running 10 minutes against 25 / When decided / Then ignored
    decision = decide_stuck(QID, typed(running_facts(600)), None, threshold_seconds=1500, observing=False, now=NOW)
    assert decision.outcome is Outcome.IGNORE
    assert decision.actions == []


@pytest.mark.parametrize("ended", ["SUCCEEDED", "FAILED", "CANCELLED"])
def test_query_that_ended_before_the_cancel_is_left_alone(ended: str) -> None:
    # Given the re-read shows the query already ended, no incident / When decided / Then nothing to do
    decision = decide_stuck(
        QID, typed(running_facts(3600, ended)), None, threshold_seconds=1500, observing=False, now=NOW
    )
    assert (decision.outcome, decision.actions) == (Outcome.IGNORE, [])


@pytest.mark.parametrize(
    ("ended", "ours", "wording"),
    [
        ("CANCELLED", True, "cancel confirmed"),
        ("CANCELLED", False, "ended CANCELLED on its own"),
        ("SUCCEEDED", False, "ended SUCCEEDED on its own"),
        ("FAILED", False, "ended FAILED on its own"),
    ],
)
def test_ended_query_closes_only_the_stuck_incident(ended: str, ours: bool, wording: str) -> None:
    # Given an active stuck incident (with or without our cancel) and the query has ended
    timeline = [cancelled_at(NOW - timedelta(minutes=1))] if ours else []
    stuck = incident(Condition.STUCK, IncidentStatus.REMEDIATING, timeline=timeline)
    # When decided
    decision = decide_stuck(
        QID, typed(running_facts(3600, ended)), stuck, threshold_seconds=1500, observing=False, now=NOW
    )
    # Then the stuck incident (only) is resolved
    assert (decision.outcome, decision.resolves) == (Outcome.RESOLVE, [Condition.STUCK])
    assert wording in decision.summary


def test_stuck_query_that_vanished() -> None:
    # Given Athena no longer knows the query
    gone = {"found": False}
    # When decided with and without an open stuck incident / Then resolve it, or ignore
    assert decide_stuck(QID, typed(gone), None, threshold_seconds=1, observing=False, now=NOW).outcome is Outcome.IGNORE
    open_stuck = incident(Condition.STUCK, IncidentStatus.OBSERVED)
    decision = decide_stuck(QID, typed(gone), open_stuck, threshold_seconds=1, observing=False, now=NOW)
    assert (decision.outcome, decision.resolves) == (Outcome.RESOLVE, [Condition.STUCK])


# ============================================================================================ failed
def test_timeout_carries_the_runbook_optimisation_advice_and_the_workgroup_cutoff() -> None:
    # Given a timed-out query and the workgroup's limits read from GetWorkGroup
    facts = {
        "state": "FAILED",
        "workgroup": WG,
        "error_category": 1,
        "error_type": 206,
        "error_message": "Query timeout",
        "retryable": False,
        "workgroup_bytes_scanned_cutoff": 20 * 1024**3,
    }
    # When decided
    decision = decide_failed(QID, typed(facts), None, state_of(), NOW)
    # Then the runbook's "Athena Query Timeout" advice, with the workgroup cutoff in it
    assert decision.runbook_section == "Athena Query Timeout"
    assert decision.advice[: len(OPTIMISATION_ADVICE)] == OPTIMISATION_ADVICE
    assert decision.advice[-1] == "Workgroup BytesScannedCutoffPerQuery is 20.0 GB."
    joined = " ".join(decision.advice)
    for words in ("partition filters", "LIMIT", "required columns", "data size", "workgroup limits"):
        assert words in joined


def test_repeat_failure_without_error_details_keeps_the_recorded_classification() -> None:
    # Given an open FAILED incident classified as a user SQL error, and a repeat FAILED without athenaError
    recorded = incident(Condition.FAILED, classification="user-sql-error", facts={"workgroup": WG})
    # When decided
    decision = decide_failed(QID, typed({"workgroup": WG, "sequence_number": 6}), recorded, state_of(recorded), NOW)
    # Then the same classification and outcome: the engine sees no change
    assert (decision.classification, decision.outcome) == ("user-sql-error", Outcome.NOTIFY)
    assert decision.delegate == []


def test_failed_query_already_requeued_is_recorded_as_transient() -> None:
    # Given a FAILED event without error details and a re-read showing Athena re-queued it
    decision = decide_failed(QID, typed({"state": "QUEUED", "workgroup": WG}), None, state_of(), NOW)
    # Then recorded as a transient failure (info)
    assert (decision.classification, decision.severity) == ("transient-system-error", Severity.INFO)


def test_failed_query_that_since_succeeded_is_ignored() -> None:
    # Given the re-read shows SUCCEEDED (Athena retried it) / When decided / Then nothing to record
    decision = decide_failed(
        QID, typed({"state": "SUCCEEDED", "workgroup": WG, "retryable": True}), None, state_of(), NOW
    )
    assert decision.outcome is Outcome.IGNORE


def test_failed_query_not_found_is_ignored() -> None:
    # Given Athena does not know the query / When decided / Then ignored
    assert decide_failed(QID, typed({"found": False}), None, state_of(), NOW).outcome is Outcome.IGNORE


def test_failure_of_a_query_with_an_open_stuck_incident_delegates_its_closure() -> None:
    # Given an observed stuck incident and the query then times out
    stuck = incident(Condition.STUCK, IncidentStatus.OBSERVED)
    facts = {"state": "FAILED", "workgroup": WG, "error_category": 1, "error_type": 206, "error_message": "timeout"}
    # When decided
    decision = decide_failed(QID, typed(facts), None, state_of(stuck), NOW)
    # Then the failure is notified and a finding closes the stuck incident (query no longer running)
    assert decision.classification == "query-timeout"
    assert [(f.condition, f.resource_id, f.facts, f.scope_key) for f in decision.delegate] == [
        (Condition.STUCK, QID, {"ended_state": "FAILED"}, WG)
    ]


# ============================================================================================ cancelled / succeeded
def test_echo_of_our_cancel_confirms_and_closes_the_stuck_incident() -> None:
    # Given our cancel on the stuck incident / When the CANCELLED event arrives
    stuck = incident(Condition.STUCK, IncidentStatus.REMEDIATING, timeline=[cancelled_at(NOW)])
    decision = decide_cancelled(QID, typed({"workgroup": WG}), state_of(stuck))
    # Then the stuck incident (only) is resolved, as confirmed
    assert (decision.outcome, decision.resolves) == (Outcome.RESOLVE, [Condition.STUCK])
    assert "StopQueryExecution is confirmed" in decision.summary


def test_cancel_by_someone_else_closes_an_open_stuck_incident() -> None:
    # Given an observed stuck incident and an operator cancels the query
    stuck = incident(Condition.STUCK, IncidentStatus.OBSERVED)
    decision = decide_cancelled(QID, typed({"workgroup": WG}), state_of(stuck))
    # Then it is resolved as cancelled outside the watchdog
    assert (decision.outcome, decision.resolves) == (Outcome.RESOLVE, [Condition.STUCK])
    assert "outside the watchdog" in decision.summary


def test_cancel_by_someone_else_without_incident_is_ignored() -> None:
    # Given no incident and a plain user cancel / When decided / Then nothing is recorded
    facts = {"state": "CANCELLED", "workgroup": WG, "state_change_reason": "Query was cancelled by the user"}
    assert decide_cancelled(QID, typed(facts), state_of()).outcome is Outcome.IGNORE


def test_cancel_for_the_bytes_scanned_cutoff_gets_the_timeout_advice() -> None:
    # Given Athena cancelled the query for the workgroup's data-usage control
    facts = {"state": "CANCELLED", "workgroup": WG, "state_change_reason": "Bytes scanned limit was exceeded"}
    # When decided
    decision = decide_cancelled(QID, typed(facts), state_of())
    # Then the runbook's optimisation advice is notified
    assert (decision.outcome, decision.classification) == (Outcome.NOTIFY, "bytes-scanned-cutoff")
    assert decision.runbook_section == "Athena Query Timeout"
    assert "was cancelled" in decision.summary


def test_success_resolves_whatever_is_open_and_otherwise_does_nothing() -> None:
    # Given an open failure (Athena re-queued it) / When the query SUCCEEDS / Then everything open is resolved
    failed = incident(Condition.FAILED, classification="transient-system-error")
    decision = decide_succeeded(QID, typed({"workgroup": WG}), state_of(failed))
    assert (decision.outcome, decision.resolves) == (Outcome.RESOLVE, [])
    # Given nothing open / When SUCCEEDED / Then ignored (no write)
    assert decide_succeeded(QID, typed({"workgroup": WG}), state_of()).outcome is Outcome.IGNORE


# ============================================================================================ the shell
class FakeAthena:
    """An in-memory Athena: answers GetQueryExecution / GetWorkGroup / ListTagsForResource and counts the calls."""

    def __init__(
        self,
        execution: dict[str, Any] | None,
        error: ClientError | None = None,
        *,
        tags: dict[str, str] | None = None,
        tags_error: ClientError | None = None,
    ) -> None:
        self.execution = execution
        self.error = error
        self.tags = tags or {}
        self.tags_error = tags_error
        self.calls: list[str] = []
        self.tagged_arns: list[str] = []

    def list_tags_for_resource(self, **request: str) -> dict[str, Any]:
        self.calls.append("ListTagsForResource")
        self.tagged_arns.append(request["ResourceARN"])
        if self.tags_error is not None:
            raise self.tags_error
        return {"Tags": [{"Key": k, "Value": v} for k, v in self.tags.items()]}

    def get_query_execution(self, **request: str) -> dict[str, Any]:
        assert request == {"QueryExecutionId": QID}
        self.calls.append("GetQueryExecution")
        if self.error is not None:
            raise self.error
        return {"QueryExecution": self.execution}

    def get_work_group(self, **request: str) -> dict[str, Any]:
        self.calls.append("GetWorkGroup")
        return {
            "WorkGroup": {"Name": request["WorkGroup"], "Configuration": {"BytesScannedCutoffPerQuery": 10 * 1024**3}}
        }


class FakeClients:
    def __init__(self, athena: FakeAthena) -> None:
        self.athena = athena


def remediator(athena: FakeAthena, **overrides: Any) -> QueryRemediator:
    return QueryRemediator(settings(**overrides), FakeClients(athena))  # type: ignore[arg-type]


def finding(condition: Condition, scope_key: str = WG, **facts: Any) -> Finding:
    return Finding(
        resource_type=ResourceType.QUERY,
        resource_id=QID,
        condition=condition,
        observed_at=NOW,
        scope_key=scope_key,
        facts=facts,
    )


def failed_execution(error_type: int, message: str) -> dict[str, Any]:
    return {
        "QueryExecutionId": QID,
        "Query": SECRET_SQL,
        "StatementType": "DML",
        "Status": {
            "State": "FAILED",
            "SubmissionDateTime": NOW - timedelta(minutes=30),
            "CompletionDateTime": NOW,
            "AthenaError": {"ErrorCategory": 1, "ErrorType": error_type, "ErrorMessage": message, "Retryable": False},
        },
        "Statistics": {"DataScannedInBytes": 42},
        "WorkGroup": WG,
    }


def test_scope_is_the_workgroup_allow_list() -> None:
    # Given the allow-list / When findings on various workgroups are checked / Then only listed ones are in scope
    shell = remediator(FakeAthena(None))
    assert shell.in_scope(finding(Condition.FAILED))
    assert not shell.in_scope(finding(Condition.FAILED, scope_key="otherteam-workgroup"))
    assert shell.in_scope(finding(Condition.STUCK, scope_key="", workgroup=WG))
    assert not shell.in_scope(finding(Condition.STUCK, scope_key=""))


def test_decide_refuses_a_query_whose_reread_workgroup_is_out_of_scope() -> None:
    # Given a finding claiming an in-scope workgroup but the re-read shows another
    shell = remediator(FakeAthena(None))
    facts = {**running_facts(3600), "workgroup": "otherteam-workgroup"}
    # When decided / Then ignored: nothing is cancelled outside scope
    decision = shell.decide(finding(Condition.STUCK), facts, None, state_of(), NOW)
    assert (decision.outcome, decision.actions) == (Outcome.IGNORE, [])


def test_decide_refuses_to_cancel_when_athena_did_not_confirm_the_workgroup() -> None:
    # Given facts whose workgroup is only what the finding claimed (GetQueryExecution named none)
    shell = remediator(FakeAthena(None))
    facts = {k: v for k, v in running_facts(3600).items() if k != "workgroup_verified"}
    # When decided / Then nothing is cancelled
    decision = shell.decide(finding(Condition.STUCK), facts, None, state_of(), NOW)
    assert (decision.outcome, decision.actions) == (Outcome.IGNORE, [])


def test_decide_ignores_a_finding_whose_workgroup_athena_contradicts() -> None:
    shell = remediator(FakeAthena(None))
    facts = {**running_facts(3600), "scope_mismatch": "the finding names workgroup a, GetQueryExecution says b"}
    decision = shell.decide(finding(Condition.STUCK), facts, None, state_of(), NOW)
    assert (decision.outcome, decision.actions) == (Outcome.IGNORE, [])
    assert "GetQueryExecution says b" in decision.summary


def test_decide_does_not_cancel_when_the_workgroup_tags_could_not_be_read() -> None:
    shell = remediator(FakeAthena(None))
    decision = shell.decide(
        finding(Condition.STUCK), {**running_facts(3600), "tags_unavailable": True}, None, state_of(), NOW
    )
    assert (decision.outcome, decision.actions, decision.severity) == (Outcome.NOTIFY, [], Severity.HIGH)
    assert "ACCOUNT_ID" in decision.advice[0]


def running_execution(workgroup: str = WG) -> dict[str, Any]:
    return {
        "QueryExecutionId": QID,
        "Query": SECRET_SQL,
        "StatementType": "DML",
        "Status": {"State": "RUNNING", "SubmissionDateTime": datetime.now(UTC) - timedelta(hours=1)},
        "Statistics": {"DataScannedInBytes": 42},
        "WorkGroup": workgroup,
    }


def test_inspect_reads_the_workgroup_tags_only_before_a_cancel() -> None:
    # Given a query stuck for an hour in its (untagged) workgroup
    athena = FakeAthena(running_execution())
    shell = remediator(athena, ACCOUNT_ID="123456789012")
    # When inspected
    facts = shell.inspect(finding(Condition.STUCK), state_of())
    # Then the workgroup's tags are read (its ARN built for the region) and the query is not opted out
    assert athena.calls == ["GetQueryExecution", "ListTagsForResource"]
    assert athena.tagged_arns == [f"arn:aws:athena:us-east-1:123456789012:workgroup/{WG}"]
    assert not facts.get("opted_out")
    assert facts["workgroup_verified"] is True
    # And the decision on those facts cancels it
    assert [a.name for a in shell.decide(finding(Condition.STUCK), facts, None, state_of(), NOW).actions] == [
        "stop_query"
    ]


@pytest.mark.parametrize(("value", "opted_out"), [("true", True), ("disabled", True), ("false", False)])
def test_inspect_honours_the_workgroup_opt_out_tag(value: str, opted_out: bool) -> None:
    athena = FakeAthena(running_execution(), tags={"watchdogs:opt-out": value})
    facts = remediator(athena, ACCOUNT_ID="123456789012").inspect(finding(Condition.STUCK), state_of())
    assert bool(facts.get("opted_out")) is opted_out


def test_workgroup_tag_read_failures() -> None:
    # A workgroup Athena does not know has no tags (also how the emulator answers an untagged one)
    missing = ClientError(
        {"Error": {"Code": "InvalidRequestException", "Message": "Athena Resource, arn Does Not Exist"}},
        "ListTagsForResource",
    )
    athena = FakeAthena(running_execution(), tags_error=missing)
    facts = remediator(athena, ACCOUNT_ID="123456789012").inspect(finding(Condition.STUCK), state_of())
    assert not facts.get("opted_out")
    # Anything else is raised: a query is never cancelled without knowing whether its workgroup opted out
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "ListTagsForResource")
    athena = FakeAthena(running_execution(), tags_error=denied)
    with pytest.raises(QueryReadError):
        remediator(athena, ACCOUNT_ID="123456789012").inspect(finding(Condition.STUCK), state_of())
    # Without an account id the tags cannot be read: not cancelled, a person is told why
    facts = remediator(FakeAthena(running_execution())).inspect(finding(Condition.STUCK), state_of())
    assert facts["tags_unavailable"] is True


def test_inspect_flags_a_finding_whose_workgroup_athena_contradicts() -> None:
    # Given a finding claiming an in-scope workgroup for a query Athena runs in another in-scope workgroup
    athena = FakeAthena(running_execution("lakehouse-sandbox-workgroup"))
    shell = remediator(athena, ACCOUNT_ID="123456789012")
    # When inspected and decided
    facts = shell.inspect(finding(Condition.STUCK), state_of())
    decision = shell.decide(finding(Condition.STUCK), facts, None, state_of(), NOW)
    # Then the mismatch is recorded, the decision ignores it and no tag is read (nothing will be cancelled)
    assert "GetQueryExecution says lakehouse-sandbox-workgroup" in facts["scope_mismatch"]
    assert (decision.outcome, decision.actions) == (Outcome.IGNORE, [])
    assert athena.calls == ["GetQueryExecution"]


def test_scope_refuses_events_from_another_account_or_region() -> None:
    shell = remediator(FakeAthena(None), ACCOUNT_ID="123456789012")
    assert shell.in_scope(finding(Condition.FAILED, event_account="123456789012", event_region="us-east-1"))
    assert not shell.in_scope(finding(Condition.FAILED, event_account="210987654321", event_region="us-east-1"))
    assert not shell.in_scope(finding(Condition.FAILED, event_account="123456789012", event_region="eu-west-1"))


def test_threshold_comes_from_the_workgroup_override() -> None:
    # Given a 10-minute override for the workgroup and a query running 15 minutes
    shell = remediator(FakeAthena(None), WORKGROUP_QUERY_STUCK_SECONDS=f'{{"{WG}": 600}}')
    # When decided / Then it is stuck under the override (the 25-minute default would not fire)
    decision = shell.decide(finding(Condition.STUCK), running_facts(900), None, state_of(), NOW)
    assert [a.name for a in decision.actions] == ["stop_query"]
    assert decision.facts["threshold_seconds"] == 600


@pytest.mark.parametrize(
    ("condition", "open_incident", "calls"),
    [
        (Condition.RECOVERED, None, []),
        (Condition.CANCELLED, Condition.STUCK, []),
        (Condition.FAILED, Condition.FAILED, []),
        (Condition.CANCELLED, None, ["GetQueryExecution"]),
        (Condition.STUCK, None, ["GetQueryExecution"]),
        (Condition.STUCK, Condition.STUCK, ["GetQueryExecution"]),
    ],
)
def test_inspect_reads_only_what_the_decision_needs(
    condition: Condition, open_incident: Condition | None, calls: list[str]
) -> None:
    # Given a finding and what is open for the query
    athena = FakeAthena(failed_execution(100, "Internal service error"))
    state = state_of(incident(open_incident)) if open_incident else state_of()
    # When inspected
    remediator(athena).inspect(finding(condition), state)
    # Then only the reads listed are made
    assert athena.calls == calls


def test_inspect_of_a_timeout_reads_the_workgroup_limits() -> None:
    # Given a first FAILED of a timed-out query
    athena = FakeAthena(failed_execution(206, "Query timeout"))
    # When inspected
    facts = remediator(athena).inspect(finding(Condition.FAILED), state_of())
    # Then GetQueryExecution and GetWorkGroup (runbook diagnosis), and the cutoff is a fact
    assert athena.calls == ["GetQueryExecution", "GetWorkGroup"]
    assert facts["workgroup_bytes_scanned_cutoff"] == 10 * 1024**3


def test_inspect_of_a_repeat_failure_reuses_the_recorded_facts() -> None:
    # Given an open FAILED incident with recorded facts
    recorded = incident(Condition.FAILED, facts={"workgroup": WG, "data_scanned": "1.0 GB"})
    athena = FakeAthena(None)
    # When the re-queued query's next FAILED is inspected
    facts = remediator(athena).inspect(finding(Condition.FAILED, sequence_number=6), state_of(recorded))
    # Then no read, and the recorded facts plus the event's are the facts
    assert athena.calls == []
    assert (facts["data_scanned"], facts["sequence_number"]) == ("1.0 GB", 6)


def test_inspect_of_a_delegated_ended_query_needs_no_read() -> None:
    # Given the failure handler's delegated finding "the query ended FAILED"
    athena = FakeAthena(None)
    facts = remediator(athena).inspect(finding(Condition.STUCK, ended_state="FAILED"), state_of())
    # When inspected / Then the state is taken from it
    assert (athena.calls, facts["state"]) == ([], "FAILED")


def test_unknown_query_and_read_errors() -> None:
    # Given Athena answers "not found" / When read / Then found is False (a fact, not an error)
    not_found = ClientError(
        {"Error": {"Code": "InvalidRequestException", "Message": "QueryExecution x was not found"}},
        "GetQueryExecution",
    )
    assert remediator(FakeAthena(None, not_found)).read_query(QID).as_dict() == {"found": False}
    # Given Athena throttles / When read / Then a typed error the handler lets Lambda retry
    throttled = ClientError(
        {"Error": {"Code": "TooManyRequestsException", "Message": "slow down"}}, "GetQueryExecution"
    )
    with pytest.raises(QueryReadError):
        remediator(FakeAthena(None, throttled)).read_query(QID)
