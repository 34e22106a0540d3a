"""The pure parts of watchdogs-ops: the report's window and statistics, archive parsing, the read-only rule, and
the operator operations on the in-memory store (refusals and races)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from watchdogs.incidents import Budget, ConcurrentUpdate, iso, now_utc
from watchdogs.incidents import operator as op
from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.ops.dryrun import is_read
from watchdogs.ops.replay import load_events
from watchdogs.ops.report import build, parse_since, percentile

NOW = datetime(2026, 1, 31, 12, 0, tzinfo=UTC)


def test_since_accepts_durations_and_iso_times_only() -> None:
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("30m", NOW) == NOW - timedelta(minutes=30)
    assert parse_since("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    for bad in ("7 days", "yesterday", "2026-01-01T00:00:00"):
        with pytest.raises(ValueError, match="--since"):
            parse_since(bad, NOW)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 11)]
    assert (percentile(values, 50), percentile(values, 90), percentile([], 50)) == (5.0, 9.0, None)


def test_report_window_keeps_active_and_recent_incidents_only() -> None:
    store = MemoryIncidentStore()
    old = store.new_incident(
        ResourceType.CRAWLER, "c", Condition.FAILED, status=IncidentStatus.RESOLVED, detected_at=NOW
    ).model_copy(update={"updated_at": iso(NOW - timedelta(days=30)), "detected_at": iso(NOW - timedelta(days=30))})
    active_old = old.model_copy(update={"status": IncidentStatus.ESCALATED, "incident_id": "x"})
    recent = old.model_copy(update={"updated_at": iso(now_utc()), "incident_id": "y"})
    reports = {r.service: r for r in build([old, active_old, recent], [], now_utc() - timedelta(days=7))}
    assert reports["crawler"].incidents == 2
    assert dict(reports["crawler"].by_status) == {"escalated": 1, "resolved": 1}


def test_archive_formats(tmp_path: Path) -> None:
    event = {"id": "1", "source": "aws.glue", "detail-type": "Glue Crawler State Change", "detail": {"state": "x"}}
    entry = {"Source": "aws.glue", "DetailType": "Glue Crawler State Change", "Detail": json.dumps({"state": "x"})}
    for name, text in {
        "array.json": json.dumps([event]),
        "export.json": json.dumps({"Events": [event]}),
        "lines.jsonl": json.dumps(event) + "\n\n",
        "entries.json": json.dumps([entry]),
    }.items():
        (tmp_path / name).write_text(text)
        [loaded] = load_events(str(tmp_path / name))
        assert (loaded["source"], loaded["detail"]) == ("aws.glue", {"state": "x"}), name


def test_only_reads_pass_the_guard() -> None:
    assert all(is_read(op_) for op_ in ("GetCrawler", "ListExecutions", "DescribeExecution", "Query", "Scan"))
    assert not any(is_read(op_) for op_ in ("PutItem", "StartCrawler", "StopQueryExecution", "Publish", "Invoke"))


def test_every_read_the_runbooks_declare_passes_the_guard() -> None:
    # replay runs the real remediators behind the read-only guard: a declared read the guard refused would turn
    # replay's answer for that service into an error
    from watchdogs.remediators import build_remediators
    from watchdogs.settings import load_settings

    settings = load_settings(
        {
            "ENVIRONMENT": "t",
            "WATCHDOG_MODE": "observe",
            "INCIDENT_TABLE": "tbl",
            "SCOPE_WORKGROUPS": "wg",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:t",
        }
    )
    reads = {p for r in build_remediators(settings, None).values() for p in r.read_permissions}  # type: ignore[arg-type]
    assert reads
    assert [p for p in reads if not is_read(p.split(":", 1)[1])] == []


def escalated(store: MemoryIncidentStore) -> None:
    incident = store.new_incident(
        ResourceType.CRAWLER, "c", Condition.FAILED, status=IncidentStatus.ESCALATED, detected_at=now_utc()
    )
    store.save(incident, expected_version=0, budget=(Budget(), Budget(action_times=[1.0], quarantined_until=9e9)))


def test_operations_refuse_a_resource_with_nothing_to_act_on() -> None:
    store = MemoryIncidentStore()
    for call in (
        lambda: op.acknowledge(store, ResourceType.CRAWLER, "c", by="a", reason="r"),
        lambda: op.resolve(store, ResourceType.CRAWLER, "c", by="a", note="n"),
        lambda: op.annotate(store, ResourceType.CRAWLER, "c", by="a", text="t"),
    ):
        with pytest.raises(op.NothingToDo):
            call()
    assert store.writes == 0


def test_ack_retries_a_lost_race_on_fresh_state_and_gives_up_when_it_keeps_losing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = MemoryIncidentStore()
    escalated(store)
    real_save = store.save
    losses = [1]

    def racing_save(*args: object, **kwargs: object) -> object:
        if losses:
            losses.pop()
            raise ConcurrentUpdate("a watchdog wrote first")
        return real_save(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "save", racing_save)
    result = op.acknowledge(store, ResourceType.CRAWLER, "c", by="a", reason="r")
    assert result.quarantine_lifted
    assert not store.load(ResourceType.CRAWLER, "c").budget.is_quarantined(now_utc())

    losses.extend([1] * op.ATTEMPTS)
    with pytest.raises(op.StillChanging):
        op.annotate(store, ResourceType.CRAWLER, "c", by="a", text="t")


@pytest.mark.parametrize(
    ("code", "fix"),
    [
        ("ExpiredTokenException", "`aws sso login`"),
        ("UnrecognizedClientException", "another --profile"),
        ("AccessDeniedException", "access denied to Query: your role needs that permission"),
    ],
)
def test_credential_and_permission_errors_become_one_line(code: str, fix: str) -> None:
    from botocore.exceptions import ClientError

    from watchdogs.incidents import StoreError
    from watchdogs.ops.target import explain

    error = ClientError({"Error": {"Code": code, "Message": "no"}}, "Query")
    wrapped = StoreError("cannot load")  # as the store raises it: the botocore error is its cause
    wrapped.__cause__ = error
    for exc in (error, wrapped):
        line = explain(exc)
        assert line is not None
        assert fix in line
        assert "\n" not in line
    assert explain(ClientError({"Error": {"Code": "ValidationException"}}, "Query")) is None
