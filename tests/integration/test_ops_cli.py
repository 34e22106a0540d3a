"""watchdogs-ops against the incident table in moto: open, show (short names), ack, resolve, note, exit codes.

Assertions are on the table (through the store), the messages an SQS subscriber of the alert topic received, and
what the CLI printed (stdout for people or scripts, one line on stderr for problems)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from tests.conftest import INCIDENT_TABLE
from tests.support.aws import ACCOUNT, REGION, Subscriber
from watchdogs.incidents import Budget, Incident, IncidentStore, now_utc
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs.ops import main

pytestmark = pytest.mark.integration

CRAWLER = "lakehouse-sandbox-raw-crawler"
EXECUTION = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:lakehouse-mvp-sandbox-data-pipeline:manual-20260101"


def cli(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> tuple[int, str, str]:
    code = main(["--table", INCIDENT_TABLE, "--endpoint", endpoint, "--region", REGION, *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def ok_json(capsys: pytest.CaptureFixture[str], endpoint: str, *args: str) -> Any:
    code, out, err = cli(capsys, endpoint, "--json", *args)
    assert (code, err) == (0, "")
    return json.loads(out)


def store() -> IncidentStore:
    return IncidentStore(INCIDENT_TABLE, boto3.client("dynamodb"), environment="test")


def escalated_quarantined(resource_type: ResourceType = ResourceType.CRAWLER, resource_id: str = CRAWLER) -> Incident:
    s = store()
    incident = s.new_incident(
        resource_type,
        resource_id,
        Condition.FAILED,
        status=IncidentStatus.ESCALATED,
        detected_at=now_utc(),
        hold_until="2999-01-01T00:00:00.000Z",
        summary="Access denied",
    )
    quarantine = Budget(action_times=[now_utc().timestamp()], quarantined_until=now_utc().timestamp() + 600, version=1)
    return s.save(incident, expected_version=0, budget=(Budget(), quarantine))


def table_items() -> list[dict[str, Any]]:
    return boto3.client("dynamodb").scan(TableName=INCIDENT_TABLE)["Items"]


def test_open_is_a_table_for_people_and_json_for_scripts(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given an escalated crawler incident and an open execution incident
    escalated_quarantined()
    s = store()
    s.save(
        s.new_incident(
            ResourceType.EXECUTION, EXECUTION, Condition.FAILED, status=IncidentStatus.OPEN, detected_at=now_utc()
        ),
        expected_version=0,
    )
    # When on-call lists open incidents
    code, out, err = cli(capsys, aws["endpoint"], "open")
    # Then people get aligned rows with the execution's name (not its ARN), scripts get JSON
    assert (code, err) == (0, "")
    assert out.splitlines()[1].split() == [
        *["RESOURCE", "CONDITION", "STATUS", "SEVERITY", "CLASSIFICATION", "DETECTED", "ACTIONS"]
    ]
    assert f"crawler {CRAWLER}" in out
    assert "execution manual-20260101 " in out
    assert EXECUTION not in out
    listed = ok_json(capsys, aws["endpoint"], "open")
    assert {(i["resource_id"], i["status"]) for i in listed} == {(CRAWLER, "escalated"), (EXECUTION, "open")}


def test_show_resolves_an_execution_name_and_a_query_id_prefix(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # Given open incidents on an execution (ARN) and a query
    s = store()
    query_id = "9310e210-5e27-4e6d-8a52-9638cc78389e"
    for rtype, rid in ((ResourceType.EXECUTION, EXECUTION), (ResourceType.QUERY, query_id)):
        s.save(
            s.new_incident(rtype, rid, Condition.STUCK, status=IncidentStatus.OPEN, detected_at=now_utc()),
            expected_version=0,
        )
    # When on-call shows them by the names an alert prints
    shown = ok_json(capsys, aws["endpoint"], "show", "execution", "manual-20260101")
    by_prefix = ok_json(capsys, aws["endpoint"], "show", "query", "9310e210")
    # Then the full identifiers were found
    assert shown["resource_id"] == EXECUTION
    assert shown["active"][0]["condition"] == "STUCK"
    assert by_prefix["resource_id"] == query_id


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["show", "execution", "no-such-run"], "execution no-such-run"),
        (["show", "crawler", "no-such-crawler"], "crawler no-such-crawler"),
        (["ack", "crawler", "no-such-crawler", "--by", "me", "--reason", "x"], "crawler no-such-crawler"),
        (["resolve", "query", "00000000-0000-0000-0000-000000000000", "--by", "me", "--note", "x"], "query 0000"),
    ],
)
def test_unknown_resources_are_not_found(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], args: list[str], what: str
) -> None:
    # Given an empty table, when on-call names a resource that exists nowhere
    code, out, err = cli(capsys, aws["endpoint"], *args)
    # Then: exit 1, one line on stderr naming it, nothing written
    assert code == 1
    assert out == ""
    assert err.startswith("not found: ")
    assert what in err
    assert len(err.strip().splitlines()) == 1
    assert table_items() == []


def test_ack_ends_the_hold_resets_the_budget_records_and_publishes(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], subscriber: Subscriber
) -> None:
    # Given an escalated incident on a quarantined crawler
    incident = escalated_quarantined()
    # When on-call acknowledges it with a reason
    code, out, err = cli(
        capsys, aws["endpoint"], "ack", "crawler", CRAWLER, "--by", "ana@example.com", "--reason", "fixed the role"
    )
    # Then the quarantine is lifted, the budget reset, the hold ended
    assert (code, err) == (0, "")
    assert "acknowledged: crawler" in out
    assert "quarantine lifted" in out
    state = store().load(ResourceType.CRAWLER, CRAWLER)
    assert not state.budget.is_quarantined(now_utc())
    assert state.budget.action_times == []
    acked = state.incidents[Condition.FAILED]
    assert not acked.is_held(now_utc())
    assert acked.version == incident.version + 2  # the acknowledgement, then the outbox marked sent
    # And who/why is on the timeline
    entry = acked.timeline[-1]
    assert (entry.kind, entry.actor) == ("acknowledged", "ana@example.com")
    assert "fixed the role" in entry.detail
    # And the transition was published through the outbox (nothing left pending)
    assert acked.outbox == []
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["outcome"]["Value"] == "acknowledged"
    assert message["Body"]["incident_id"] == incident.incident_id


def test_resolve_closes_as_resolved_by_a_person_and_publishes(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], subscriber: Subscriber
) -> None:
    # Given an escalated incident
    incident = escalated_quarantined()
    # When on-call resolves it with a note
    code, _out, err = cli(
        capsys, aws["endpoint"], "resolve", "crawler", CRAWLER, "--by", "ana", "--note", "re-ran the crawl by hand"
    )
    # Then it left the active slot and is in history as resolved, with the note and who
    assert (code, err) == (0, "")
    assert store().load(ResourceType.CRAWLER, CRAWLER).active() == []
    [closed] = store().history(ResourceType.CRAWLER, CRAWLER)
    assert (closed.incident_id, closed.status) == (incident.incident_id, IncidentStatus.RESOLVED)
    assert closed.time_to_recover_seconds is not None
    assert (closed.timeline[-1].kind, closed.timeline[-1].actor) == ("resolved", "ana")
    assert "re-ran the crawl by hand" in closed.timeline[-1].detail
    # And subscribers were told
    [message] = subscriber.messages()
    assert message["MessageAttributes"]["outcome"]["Value"] == "resolved"
    assert message["MessageAttributes"]["status"]["Value"] == "resolved"
    # And a second resolve finds nothing active: not found
    assert cli(capsys, aws["endpoint"], "resolve", "crawler", CRAWLER, "--by", "ana", "--note", "again")[0] == 1


def test_note_goes_on_the_timeline_only(
    aws: dict[str, Any], capsys: pytest.CaptureFixture[str], subscriber: Subscriber
) -> None:
    incident = escalated_quarantined()
    # When on-call adds a note
    code, _, err = cli(capsys, aws["endpoint"], "note", "crawler", CRAWLER, "--by", "ana", "waiting for the IAM team")
    # Then it is on the timeline, the incident is otherwise unchanged, and nothing was published
    assert (code, err) == (0, "")
    noted = store().load(ResourceType.CRAWLER, CRAWLER).incidents[Condition.FAILED]
    assert (noted.timeline[-1].kind, noted.timeline[-1].actor) == ("note", "ana")
    assert "waiting for the IAM team" in noted.timeline[-1].detail
    assert (noted.status, noted.hold_until) == (incident.status, incident.hold_until)
    assert store().load(ResourceType.CRAWLER, CRAWLER).budget.is_quarantined(now_utc())
    assert subscriber.messages() == []
    # And `show` prints it for people
    code, out, _ = cli(capsys, aws["endpoint"], "show", "crawler", CRAWLER)
    assert code == 0
    assert "waiting for the IAM team" in out
    assert "QUARANTINED" in out


def test_usage_errors_exit_2(aws: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(capsys, aws["endpoint"], "ack", "crawler", CRAWLER)[0] == 2  # --by/--reason missing
    assert cli(capsys, aws["endpoint"], "show", "bucket", "x")[0] == 2
    assert cli(capsys, aws["endpoint"], "report", "--since", "last tuesday")[0] == 2


def test_the_dry_run_guard_refuses_writes_before_sending_them(aws: dict[str, Any]) -> None:
    from watchdogs.ops.dryrun import ReadOnlyViolation, read_only_session

    # Given a client from the replay's read-only session
    ddb = read_only_session(None, REGION).client("dynamodb", endpoint_url=aws["endpoint"])
    # When it reads / Then that works; when it writes / Then it is refused and nothing lands
    assert ddb.scan(TableName=INCIDENT_TABLE)["Items"] == []
    with pytest.raises(ReadOnlyViolation, match="dynamodb:PutItem"):
        ddb.put_item(TableName=INCIDENT_TABLE, Item={"pk": {"S": "x"}, "sk": {"S": "y"}})
    sns = read_only_session(None, REGION).client("sns", endpoint_url=aws["endpoint"])
    with pytest.raises(ReadOnlyViolation, match="sns:Publish"):
        sns.publish(TopicArn="arn:aws:sns:us-east-1:123456789012:watchdogs-test-alerts", Message="x")
    assert table_items() == []
    assert aws["subscriber"].messages() == []
