"""The template deployed into the emulator, events routed through the *deployed* rules: ``make demo``'s machinery.

A template/code mismatch (an environment variable name, a key schema, a missing rule or handler path) fails here,
because nothing below reads the template's intent: functions, environments and rules are read back from the
emulator after CloudFormation created them, and the handlers run with exactly that environment.
"""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from botocore.exceptions import ClientError

from tests.support.aws import load_event
from watchdogs.settings import load_settings
from watchdogs_local.demo import DEMO_PARAMETERS, SCENARIOS, STACK, Demo, alert_text, main
from watchdogs_local.emulator import ACCOUNT, REGION, TEMPLATE, Emulator
from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse
from watchdogs_local.router import Router, resolve_handler

if TYPE_CHECKING:
    import boto3

pytestmark = pytest.mark.scenario

FUNCTIONS = {
    "GlueCrawlerWatchdogFunction",
    "AthenaQueryWatchdogFunction",
    "StepFunctionsWatchdogFunction",
    "SweepFunction",
}


def test_template_deploys_with_functions_rules_and_valid_settings(emulator: Emulator) -> None:
    # Given the watchdogs' template
    # When it is SAM-translated and created as a CloudFormation stack in the emulator
    deployment = emulator.deploy(TEMPLATE, DEMO_PARAMETERS, stack_name=STACK)

    # Then the four functions exist with importable handlers and an environment the settings model accepts
    assert set(deployment.functions) == FUNCTIONS
    for function in deployment.functions.values():
        assert callable(resolve_handler(function.handler)), function.handler
        settings = load_settings(function.environment)
        assert settings.mode.value == "remediate"
        assert settings.crawler_stuck_seconds == int(DEMO_PARAMETERS["CrawlerStuckSeconds"])
    # and every table and topic the environment names was created by the stack
    env = deployment.functions["SweepFunction"].environment
    tables = emulator.client("dynamodb").list_tables()["TableNames"]
    assert env["INCIDENT_TABLE"] in tables
    assert "IDEMPOTENCY_TABLE" not in env  # de-duplication is the incident claim's own
    topics = [t["TopicArn"] for t in emulator.client("sns").list_topics()["Topics"]]
    assert env["ALERT_TOPIC_ARN"] in topics
    # and each event source has a rule targeting its function; the sweep has a schedule
    targets = {
        rule.logical_id: {f.logical_id for f in Router(deployment, emulator.endpoint).targets(rule)}
        for rule in deployment.rules
    }
    assert {frozenset(t) for t in targets.values()} == {frozenset({name}) for name in FUNCTIONS}
    assert any(rule.schedule for rule in deployment.rules)


@pytest.mark.parametrize(
    ("sample", "function"),
    [
        ("glue-crawler-failed-access-denied", "GlueCrawlerWatchdogFunction"),
        ("athena-query-failed-user-sql-error", "AthenaQueryWatchdogFunction"),
        ("stepfunctions-execution-failed", "StepFunctionsWatchdogFunction"),
    ],
)
def test_deployed_rules_route_events_to_their_function_only(emulator: Emulator, sample: str, function: str) -> None:
    # Given the deployed rules
    deployment = emulator.deploy(TEMPLATE, DEMO_PARAMETERS, stack_name=STACK)
    router = Router(deployment, emulator.endpoint)
    event = load_event(sample)

    # When an in-scope event and its out-of-scope twin are matched against them
    targets = {f.logical_id for rule in router.matching_rules(event) for f in router.targets(rule)}
    twin = _out_of_scope(event)
    twin_targets = [rule.logical_id for rule in router.matching_rules(twin)]

    # Then only the event's own function is targeted, and nothing for a resource outside the scope
    assert targets == {function}
    assert twin_targets == []


def _out_of_scope(event: dict[str, Any]) -> dict[str, Any]:
    detail = dict(event["detail"])
    if "crawlerName" in detail:
        detail["crawlerName"] = "otherteam-raw-crawler"
    if "workgroupName" in detail:
        detail["workgroupName"] = "otherteam-workgroup"
    if "stateMachineArn" in detail:
        detail["stateMachineArn"] = detail["stateMachineArn"].replace("lakehouse-mvp-sandbox-", "otherteam-")
    return {**event, "detail": detail}


def test_demo_plays_every_scenario_through_the_deployed_rules(emulator: Emulator, tmp_path: Path) -> None:
    # Given the demo on the embedded emulator, verbose and with every alert body (make demo ALERTS=1)
    out = io.StringIO()
    demo = Demo(out, emulator=emulator, log_path=tmp_path / "handlers.log", verbose=True, alerts=True)

    # When it plays every scenario
    code = demo.run()

    # Then every scenario turned out as the runbook says and the run exits 0
    text = out.getvalue()
    failed = {p.scenario.key: [c for c in p.checks if not c.ok] for p in demo.played if not p.passed}
    assert code == 0, f"{failed}\n{text[-4000:]}"
    assert [p.scenario.key for p in demo.played] == [s.key for s in SCENARIOS]
    # and the handlers ran only through rules: every delivery went to a deployed function, none failed
    assert demo.router is not None
    assert demo.router.deliveries
    assert all(d.error is None for d in demo.router.deliveries), [d.error for d in demo.router.deliveries if d.error]
    # and the report shows the timeline, the incident table and the subscriber's notifications
    assert "Timeline" in text
    assert "Incident table" in text
    assert f"Notifications received by the subscriber (SQS demo-alert-subscriber): {len(demo.notifications)}" in text
    assert demo.notifications
    # and every alert body the subscriber received, as the notifier renders it for a person
    for note in demo.notifications:
        body = alert_text(note)
        assert body.strip(), note
        assert not body.lstrip().startswith("{"), body
        assert note["Body"]["resource_id"] in body
        assert all(f"      {line}" in text for line in body.splitlines() if line.strip())
    statuses = {(i.resource_type.value, i.condition.value): i.status.value for i in demo.incidents()}
    assert statuses[("crawler", "STUCK")] == "resolved"
    assert statuses[("query", "STUCK")] == "resolved"
    assert ("execution", "FAILED") in statuses
    assert statuses[("execution", "STUCK")] == "closed"  # the stuck run: stopped, then closed (it did not recover)
    # and its CLOSED alert tells the truth of that transition: the run is ABORTED, a person starts a new one
    stuck_run = next(
        i for i in demo.incidents() if (i.resource_type.value, i.condition.value) == ("execution", "STUCK")
    )
    assert stuck_run.facts["status"] == "ABORTED"
    closing = [n for n in demo.notifications if n["Body"]["incident_id"] == stuck_run.incident_id]
    assert [n["Body"]["status"] for n in closing][-1] == "closed"
    closed_text = alert_text(closing[-1])
    facts = closed_text.split("FACTS", 1)[1].split("LINKS", 1)[0]
    assert "ABORTED" in facts
    assert "RUNNING" not in facts
    assert "Start a new run once the cause is fixed" in closed_text


def test_a_broken_scenario_makes_the_demo_fail(emulator: Emulator, tmp_path: Path) -> None:
    # Given the AccessDenied scenario, sabotaged: the emulator denies the watchdogs sns:Publish
    out = io.StringIO()
    demo = Demo(out, emulator=emulator, only=["access-denied"], sabotage={"access-denied"}, log_path=tmp_path / "l")

    # When the demo runs it
    code = demo.run()

    # Then the escalation was recorded but nobody was told: the demo says the scenario failed and exits non-zero
    assert code == 1
    assert "DEMO FAILED: access-denied" in out.getvalue()
    # and the default output is the quiet one: no rules, per-incident timelines or API-call tables
    assert "Timeline (" not in out.getvalue()
    assert "AWS API calls made by the watchdogs, per scenario" not in out.getvalue()
    assert "rule " not in out.getvalue()
    incident = demo.incident("crawler", "lakehouse-sandbox-processed-crawler", "FAILED")
    assert incident is not None
    assert incident.status.value == "escalated"
    [pending] = incident.outbox  # kept pending for the next flush, with why it failed
    assert pending.event == "escalate"
    assert pending.attempts >= 1
    assert pending.last_error
    assert not demo.notifications_for("lakehouse-sandbox-processed-crawler")
    # and the same scenario unsabotaged passes (the failure above is the sabotage's, not the scenario's)
    again = Demo(io.StringIO(), emulator=emulator, only=["access-denied"], log_path=tmp_path / "l2")
    assert again.run() == 0
    assert again.notifications_for("lakehouse-sandbox-processed-crawler")


def test_a_stuck_run_is_detected_by_its_timer_and_a_denied_stop_fails_the_demo(
    emulator: Emulator, tmp_path: Path
) -> None:
    # Given the stuck-run scenario with the sweep as good as off (one sweep every 10 minutes: only the run's stuck
    # timer can detect it within the scenario), sabotaged: the emulator denies the watchdogs states:StopExecution
    out = io.StringIO()
    demo = Demo(
        out, emulator=emulator, only=["stuck-run"], sabotage={"stuck-run"}, sweep_every=600, log_path=tmp_path / "l"
    )

    # When the demo runs it
    code = demo.run()

    # Then the run's timer fired and detected it within a few seconds of its threshold
    [played] = demo.played
    arn = played.context["execution"]
    incident = demo.incident("execution", arn, "STUCK")
    assert incident is not None, out.getvalue()[-3000:]
    assert demo.router is not None
    fired = [d for d in demo.router.deliveries if d.rule.startswith("timer:") and d.result.get("resource") == arn]
    assert [d.result["outcome"] for d in fired] == ["stuck"]
    assert not [d for d in demo.router.deliveries if d.function == "SweepFunction" and not d.rule.startswith("timer:")]
    started = demo.sfn.describe_execution(executionArn=arn)["startDate"]
    detected = datetime.fromisoformat(incident.detected_at.replace("Z", "+00:00"))
    lag = (detected - started).total_seconds() - float(DEMO_PARAMETERS["ExecutionStuckSeconds"])
    assert 0 <= lag < 6, lag
    # and its one StopExecution was refused: the run is still RUNNING, its row too, the incident escalated
    assert [(e.step, e.outcome) for e in incident.timeline if e.kind == "action"] == [("stop_execution", "failed")]
    assert incident.status.value == "escalated"
    assert demo.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert demo.metadata_status(arn) == "RUNNING"
    # so the demo says the scenario failed and exits non-zero
    assert code == 1
    assert "DEMO FAILED: stuck-run" in out.getvalue()
    assert not played.passed


def test_a_held_task_state_keeps_its_run_running_until_stopped_and_a_denied_stop_is_refused(
    emulator: Emulator,
) -> None:
    # Given the runbook's lakehouse in the emulator and a run whose RunDbtStaging task is held (the stuck-run fault)
    from watchdogs_local import faults

    names = LakehouseNames(env="sandbox", account_id=ACCOUNT, region=REGION, poll_seconds=1)
    lakehouse = provision_lakehouse(cast("boto3.Session", emulator), names)
    sfn, athena = emulator.client("stepfunctions"), emulator.client("athena")
    arn = names.execution_arn("held-run")
    faults.compress_clock()
    try:
        faults.hold_state(arn, "RunDbtStaging")
        assert lakehouse.start_pipeline(sfn, "held-run") == arn

        # When it reaches the held task / Then the task was scheduled and started, and never returns: no query
        newest = _wait_for_history(sfn, arn, _entered("RunDbtStaging"))
        assert [e["type"] for e in newest[:3]] == ["TaskStarted", "TaskScheduled", "TaskStateEntered"]
        assert newest[1]["taskScheduledEventDetails"]["resource"] == "startQueryExecution"
        time.sleep(1.5)
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"
        assert athena.list_query_executions(WorkGroup=names.pipeline_workgroup)["QueryExecutionIds"] == []

        # and a StopExecution denied by the fault (--break stuck-run) is refused: the run keeps running
        undo = faults.deny("states", "StopExecution")
        try:
            with pytest.raises(ClientError) as refused:
                sfn.stop_execution(executionArn=arn, error="Watchdog.Stop", cause="stuck")
        finally:
            undo()
        assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
        assert sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"

        # and an allowed StopExecution aborts it at once, keeping its error, and ends its history
        sfn.stop_execution(executionArn=arn, error="Watchdog.Stop", cause="stuck")
        stopped = sfn.describe_execution(executionArn=arn)
        assert (stopped["status"], stopped["error"]) == ("ABORTED", "Watchdog.Stop")
        _wait_for_history(sfn, arn, lambda events: events[0]["type"] == "ExecutionAborted")
    finally:
        faults.restore_clock()


def _entered(state: str) -> Any:
    """The newest history events are ``state`` entered (its task scheduled and started, or not yet)."""

    def condition(events: list[dict[str, Any]]) -> bool:
        entered = next((e for e in events if "stateEnteredEventDetails" in e), {})
        newest_task = next((e["type"] for e in events if e["type"].startswith("Task") and "State" not in e["type"]), "")
        return entered.get("stateEnteredEventDetails", {}).get("name") == state and newest_task == "TaskStarted"

    return condition


def _wait_for_history(sfn: Any, arn: str, condition: Any, timeout: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        events: list[dict[str, Any]] = sfn.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
        if (events and condition(events)) or time.monotonic() > deadline:
            assert events, "no history"
            assert condition(events), [e["type"] for e in events[:5]]
            return events
        time.sleep(0.1)


def test_cli_rejects_unknown_scenarios(capsys: pytest.CaptureFixture[str]) -> None:
    # Given a scenario name the demo does not know / When the CLI is asked to play it / Then it exits 2 first
    assert main(["--only", "no-such-scenario"]) == 2
    assert "unknown scenario(s): no-such-scenario" in capsys.readouterr().out
