"""Every sample in events/ produces exactly the outcome events/expected/index.json declares, on fresh emulator state.

The same files serve ``sam local invoke -e``, ``make invoke``, ``make emulator`` and these tests. Each sample gets
fresh state (the template deployed, the lakehouse provisioned, the resources the event names seeded as it
describes), is routed through the deployed rule that matches it, and is judged on what it did: the outcome the
function returned, the classification on the incident it wrote, the action it took, the alert the subscriber got.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.aws import EVENTS, load_event
from watchdogs_local.emulator import TEMPLATE, Emulator, free_port
from watchdogs_local.invoke import (
    EMBEDDED_PARAMETERS,
    function_from_template,
    invoke,
    load_env_vars,
    parse_parameter_overrides,
)
from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse
from watchdogs_local.local_lines import env_local_mismatch
from watchdogs_local.router import Router
from watchdogs_local.samples import Observer, Sample, deploy_fresh, load_samples, prepare
from watchdogs_local.seeds import release_queries

pytestmark = pytest.mark.scenario

ROOT = Path(__file__).resolve().parents[2]
STACK = "lakehouse-watchdogs-samples"
SAMPLES = load_samples()
#: the samples whose point is to be ignored (echoes of the watchdogs' own actions)
IGNORED_ON_PURPOSE = {"glue-crawler-started", "stepfunctions-execution-aborted-by-watchdog"}


@pytest.fixture
def samples_emulator(emulator: Emulator) -> Iterator[Emulator]:
    yield emulator
    release_queries()  # the seeds hold queries in place; later tests on this server expect moto's own progression


def _play(emulator: Emulator, sample: Sample) -> tuple[str, Observer, object]:
    """Fresh state for ``sample``, then the sample routed through the deployed rule that matches it."""
    deployment = prepare(emulator, sample)
    router = Router(deployment, emulator.endpoint)
    event = sample.event()
    if event.get("source") == "watchdogs.timer":  # Scheduler invokes the target the timer names, no rule
        named = json.loads(str(deployment.functions[sample.function].environment["TIMER_TARGETS"]))
        target = deployment.function_by_arn(named[event["resource_type"]])
        targets, label = [target.logical_id] if target else [], "timer"
    else:
        if event.get("detail-type") == "Scheduled Event":
            rules = [rule for rule in deployment.rules if rule.schedule]
        else:
            rules = router.matching_rules(event)
        targets = sorted({f.logical_id for rule in rules for f in router.targets(rule)})
        label = rules[0].logical_id if rules else ""
    assert targets == [sample.function], f"{sample.name} is routed to {targets}, declared {sample.function}"
    observer = Observer(emulator, deployment).start()
    try:
        delivery = router.invoke(deployment.functions[sample.function], event, rule=label)
    finally:
        router.release()
    assert delivery.error is None, delivery.error
    return sample.function, observer, delivery.result


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_sample_produces_its_declared_outcome(samples_emulator: Emulator, name: str) -> None:
    # Given fresh state with the sample's resources in the state it describes
    sample = SAMPLES[name]

    # When the sample goes to the function its deployed rule targets
    _function, observer, result = _play(samples_emulator, sample)
    observed = observer.finish(result)

    # Then it did exactly what the index declares: outcome, classification on its incident, action
    expected = sample.expected
    assert (observed.outcome, observed.classification, observed.action) == (
        expected.outcome,
        expected.classification,
        expected.action,
    ), observed.line()
    # and an incident it wrote is announced to the subscriber; nothing written, nothing sent
    if expected.classification is None:
        assert observed.alerts == []
    elif expected.outcome != "unchanged":
        assert observed.alerts, "an incident was written but no alert reached the subscriber"


def test_every_sample_is_declared_and_only_echoes_are_ignored() -> None:
    files = {path.name.removesuffix(".json") for path in EVENTS.glob("*.json")}
    assert files == set(SAMPLES)
    ignored = {name for name, sample in SAMPLES.items() if "ignore" in sample.expected.outcome}
    assert ignored == IGNORED_ON_PURPOSE
    assert all(sample.why for sample in SAMPLES.values())


def test_a_sample_gives_the_same_outcome_again_after_others_on_its_resource(samples_emulator: Emulator) -> None:
    # Given samples that all act on the raw crawler, played one after the other, the first one twice
    order = ["glue-crawler-succeeded", "glue-crawler-failed-access-denied", "glue-crawler-succeeded"]

    # When each is played
    seen = []
    for name in order:
        _function, observer, result = _play(samples_emulator, SAMPLES[name])
        seen.append(observer.finish(result))

    # Then each produced its own declared outcome: no state leaks from one to the next
    assert [o.matches(SAMPLES[n].expected) for o, n in zip(seen, order, strict=True)] == [True, True, True], [
        o.line() for o in seen
    ]


def test_env_local_json_names_the_deployed_stack(samples_emulator: Emulator) -> None:
    # Given the stack as every local target deploys it
    deployment = deploy_fresh(samples_emulator)

    # Then env/local.json (sam local invoke --env-vars) holds exactly each function's deployed environment
    assert env_local_mismatch(deployment) == []


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


def test_invoker_cli_runs_a_sample_on_the_embedded_emulator_from_stdin(tmp_path: Path) -> None:
    # Given a sample event on stdin and no running emulator: a throwaway one, template deployed, lakehouse
    # provisioned, nothing seeded (stdin names no sample)
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
        env={**os.environ, "EMULATOR_STATE_FILE": str(tmp_path / "none.json")},
    )

    # Then it printed the handler's JSON result (the transient failure restarted the crawler), exit status 0
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout)
    assert result["outcome"] == "handled"
    assert result["results"][0]["actions"] == ["start_crawler:started"]
    assert "not a declared sample" in done.stderr


def test_make_emulator_is_reused_by_invoke_and_stops_cleanly(tmp_path: Path) -> None:
    # Given `make emulator` running on a free port (its state file in a private place)
    port = free_port()
    env = {**os.environ, "EMULATOR_STATE_FILE": str(tmp_path / "emulator.json"), "EMULATOR_PORT": str(port)}
    server = subprocess.Popen(
        [sys.executable, "-u", "-m", "watchdogs_local.server", "start"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        while not (tmp_path / "emulator.json").exists():
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the emulator did not come up"
            time.sleep(0.5)

        # When a sample is invoked twice, as `make invoke EVENT=...` does (the function from the index)
        runs = [
            subprocess.run(
                [sys.executable, "-m", "watchdogs_local.invoke", "auto", "events/glue-crawler-failed-throttled.json"],
                capture_output=True,
                text=True,
                cwd=ROOT,
                timeout=180,
                check=False,
                env=env,
            )
            for _ in range(2)
        ]

        # Then both ran on the running emulator, on fresh state, and restarted the crawler as declared
        for done in runs:
            assert done.returncode == 0, done.stderr[-3000:]
            assert f"on emulator at http://127.0.0.1:{port}" in done.stderr
            assert "act (transient), action start_crawler" in done.stderr
            assert "ACT warning: crawler lakehouse-sandbox-curated-crawler restarted" in done.stderr
            assert "matches the declared outcome" in done.stderr
    finally:
        # and `make emulator-stop` ends it and removes its state file
        stop = subprocess.run(
            [sys.executable, "-m", "watchdogs_local.server", "stop"], cwd=ROOT, env=env, timeout=60, check=False
        )
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(server.pid, signal.SIGKILL)
            raise
    assert stop.returncode == 0
    assert server.returncode == 0
    assert not (tmp_path / "emulator.json").exists()
