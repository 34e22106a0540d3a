"""Every sample in events/ is invoked through the function its deployed rule targets, and is accepted.

The same files serve ``sam local invoke -e``, ``watchdogs-invoke`` and these tests, so a sample that drifts from
the rules (no rule matches it, or two functions would get it) or from the handlers' models fails here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.aws import EVENTS, load_event
from watchdogs_local.emulator import TEMPLATE, Emulator
from watchdogs_local.invoke import (
    EMBEDDED_PARAMETERS,
    function_from_template,
    invoke,
    load_env_vars,
    parse_parameter_overrides,
)
from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse
from watchdogs_local.router import Router

pytestmark = pytest.mark.scenario

ROOT = Path(__file__).resolve().parents[2]
STACK = "lakehouse-watchdogs-samples"


def test_every_sample_event_is_accepted_by_the_function_its_rule_targets(emulator: Emulator) -> None:
    # Given the template deployed into the emulator and the runbook's lakehouse provisioned
    deployment = emulator.deploy(TEMPLATE, EMBEDDED_PARAMETERS, stack_name=STACK)
    provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type]
    router = Router(deployment, emulator.endpoint)
    samples = sorted(EVENTS.glob("*.json"))
    assert samples

    # When each sample goes to the function of the rule that matches it (the schedule rule's for a Scheduled Event)
    problems: list[str] = []
    try:
        for path in samples:
            event = load_event(path.name)
            if event.get("detail-type") == "Scheduled Event":
                rules = [rule for rule in deployment.rules if rule.schedule]
            else:
                rules = router.matching_rules(event)
            functions = {f.logical_id: (rule, f) for rule in rules for f in router.targets(rule)}
            if len(functions) != 1:
                problems.append(f"{path.name}: targeted by {sorted(functions) or 'no deployed rule'}")
                continue
            rule, function = next(iter(functions.values()))
            delivery = router.invoke(function, event, rule=rule.logical_id)
            if not delivery.ok:
                problems.append(f"{path.name} -> {function.logical_id}: {delivery.error or delivery.result}")
    finally:
        router.release()

    # Then every one was accepted (handled, not rejected, no error)
    assert not problems, "\n".join(problems)
    assert len(router.deliveries) == len(samples)
    # and the invocations had effects in the deployed incident table
    table = deployment.outputs["IncidentTableName"]
    assert emulator.client("dynamodb").scan(TableName=table, Select="COUNT")["Count"] > 0


def test_invoker_reads_the_deployed_function_of_a_stack(emulator: Emulator) -> None:
    # Given a deployed stack and a lakehouse in an emulator reached by its endpoint
    deployment = emulator.deploy(TEMPLATE, EMBEDDED_PARAMETERS, stack_name=STACK)
    provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type]
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    try:
        # When the invoker runs a sample against that endpoint and stack
        result, error = invoke(
            "GlueCrawlerWatchdogFunction",
            load_event("glue-crawler-failed-access-denied"),
            endpoint=emulator.endpoint,
            stack_name=STACK,
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # Then the handler ran with the stack's environment: the incident is in the stack's table, escalated
    assert error is None
    assert result["outcome"] == "handled"
    assert [r["outcome"] for r in result["results"]] == ["escalate"]
    table = deployment.outputs["IncidentTableName"]
    items = emulator.client("dynamodb").scan(TableName=table)["Items"]
    assert any(item.get("status", {}).get("S") == "escalated" for item in items)


def test_template_resolution_follows_sam_local(tmp_path: Path) -> None:
    # Given parameter overrides in both of SAM's forms and an --env-vars file in SAM's format
    overrides = parse_parameter_overrides(
        ["EnvironmentName=qa WatchdogMode=remediate", "ParameterKey=CrawlerStuckSeconds,ParameterValue=600"]
    )
    env_file = tmp_path / "env.json"
    env_file.write_text(
        json.dumps(
            {"Parameters": {"INCIDENT_TABLE": "all-functions"}, "SweepFunction": {"INCIDENT_TABLE": "sweep-only"}}
        )
    )

    # When the sweep function is resolved from the template
    function = function_from_template(TEMPLATE, "SweepFunction", overrides)
    env_vars = load_env_vars(env_file, "SweepFunction")

    # Then parameters are substituted, a resource Ref is its logical id (as sam local does) and env-vars win
    assert function.handler == "watchdogs.handlers.sweep.lambda_handler"
    assert function.environment["ENVIRONMENT"] == "qa"
    assert function.environment["WATCHDOG_MODE"] == "remediate"
    assert function.environment["CRAWLER_STUCK_SECONDS"] == "600"
    assert function.environment["INCIDENT_TABLE"] == "IncidentTable"
    assert function.environment["SCOPE_STATE_MACHINE_ARN_PREFIXES"].startswith(
        "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-"
    )
    assert env_vars == {"INCIDENT_TABLE": "sweep-only"}
    assert load_env_vars(env_file, "GlueCrawlerWatchdogFunction") == {"INCIDENT_TABLE": "all-functions"}


def test_invoker_cli_runs_a_sample_on_the_embedded_emulator_from_stdin() -> None:
    # Given a sample event on stdin and no target: the embedded emulator, template deployed, lakehouse provisioned
    event = (EVENTS / "glue-crawler-failed-throttled.json").read_text()

    # When the CLI invokes the crawler watchdog with it (a separate process, as `make invoke` runs it)
    done = subprocess.run(
        [sys.executable, "-m", "watchdogs_local.invoke", "GlueCrawlerWatchdogFunction", "-"],
        input=event,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=240,
        check=False,
    )

    # Then it printed the handler's JSON result: the transient failure restarted the crawler, exit status 0
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["outcome"] == "handled"
    assert result["results"][0]["actions"] == ["start_crawler:started"]
