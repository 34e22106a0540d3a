"""watchdogs-ops against the watchdogs' own template deployed into the emulator (``--stack-name``): smoke (test
alert, each function invoked harmlessly, blast radius), replay (a dry run that writes nothing, and predicts what
the real handler then does), execution names resolved through the watched state machines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from watchdogs.ops import main
from watchdogs_local.emulator import FAKE_CREDENTIALS, REGION, TEMPLATE, Deployment, Emulator
from watchdogs_local.lakehouse import SANDBOX_PARAMETERS, Lakehouse, LakehouseNames, provision_lakehouse
from watchdogs_local.moto_ext.glue import set_crawl
from watchdogs_local.router import Router

pytestmark = pytest.mark.integration

STACK = "lakehouse-watchdogs-ops"
CRAWLER = "lakehouse-sandbox-curated-crawler"
THROTTLED = "Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)"
EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class World:
    emulator: Emulator
    deployment: Deployment
    lakehouse: Lakehouse
    router: Router
    queue_url: str

    @property
    def table(self) -> str:
        return self.deployment.outputs["IncidentTableName"]

    def cli(self, capsys: pytest.CaptureFixture[str], *args: str, **hooks: Any) -> tuple[int, str, str]:
        code = main(["--stack-name", STACK, "--endpoint", self.emulator.endpoint, *args], **hooks)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    def items(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.emulator.client("dynamodb").scan(TableName=self.table)["Items"]
        return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))

    def messages(self) -> list[dict[str, Any]]:
        sqs = self.emulator.client("sqs")
        got = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        return [json.loads(m["Body"]) for m in got.get("Messages", [])]

    def invoke(self, name: str, event: dict[str, Any]) -> dict[str, Any]:
        function = next(f for f in self.deployment.functions.values() if f.name == name)
        delivery = self.router.invoke(function, event)
        if delivery.error:
            raise RuntimeError(delivery.error)
        result: dict[str, Any] = delivery.result
        return result


@pytest.fixture
def world(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    from watchdogs.runtime import reset_runtime

    for key in ("INCIDENT_TABLE", "ALERT_TOPIC_ARN", "AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    emulator = Emulator(endpoint=moto_server).start()
    emulator.reset()
    deployment = emulator.deploy(TEMPLATE, SANDBOX_PARAMETERS, stack_name=STACK)
    lakehouse = provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type]
    sqs = emulator.client("sqs")
    queue_url = sqs.create_queue(QueueName="ops-subscriber")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    emulator.client("sns").subscribe(TopicArn=deployment.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn)
    router = Router(deployment, emulator.endpoint)
    try:
        yield World(emulator, deployment, lakehouse, router, queue_url)
    finally:
        router.release()
        emulator.stop()
        reset_runtime()


def test_smoke_publishes_a_test_alert_invokes_each_function_harmlessly_and_prints_the_blast_radius(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # When on-call runs the smoke test after a deploy (functions invoked in-process: moto runs no Lambda code)
    code, out, err = world.cli(capsys, "smoke", invoke=world.invoke)
    # Then every function answered its harmless event as expected
    assert (code, err) == (0, ""), out
    assert "SMOKE PASSED: 4/4 functions" in out
    for logical_id in world.deployment.functions:
        assert f"{logical_id}" in out
    # And subscribers received the test alert, marked as one
    [alert] = world.messages()
    assert alert["MessageAttributes"]["test"]["Value"] == "true"
    assert "TEST" in alert["Subject"]
    # And the blast radius says what each prefix lets the stack change, and what it matches now
    assert "CrawlerPrefixes = lakehouse-sandbox-" in out
    assert "glue:StartCrawler, glue:StopCrawler" in out
    assert f"matches now: {len(world.lakehouse.crawlers)}" in out
    assert "states:RedriveExecution, states:StopExecution" in out
    # And nothing was recorded as an incident
    assert world.items() == []


def test_smoke_reports_a_broken_function(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(name: str, event: dict[str, Any]) -> dict[str, Any]:
        if name.endswith("-sweep"):
            raise RuntimeError("Runtime.ImportModuleError: No module named 'watchdogs'")
        return world.invoke(name, event)

    code, out, _ = world.cli(capsys, "--json", "smoke", invoke=broken)
    report = json.loads(out)
    assert code == 3
    failed = [f for f in report["functions"] if not f["ok"]]
    assert [f["function"] for f in failed] == ["SweepFunction"]
    assert "ImportModuleError" in failed[0]["error"]


def test_replay_is_a_dry_run_that_predicts_what_the_handler_does(
    world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Given a crawler whose last crawl failed on throttling, and an archive with its Failed event, a schedule tick,
    # an event of a source no watchdog handles and a malformed one
    glue = world.emulator.client("glue")
    set_crawl(CRAWLER, "FAILED", error_message=THROTTLED)
    crawler_before = glue.get_crawler(Name=CRAWLER)["Crawler"]
    failed = json.loads((EVENTS / "glue-crawler-failed-throttled.json").read_text())
    tick = json.loads((EVENTS / "sweep-scheduled.json").read_text())
    archive = tmp_path / "archive.jsonl"
    copy = {**failed, "id": "copy-of-the-failure"}  # EventBridge delivers at least once
    lines = [failed, copy, tick, {**failed, "id": "x1", "source": "aws.s3"}, {**failed, "id": "x2", "account": "nope"}]
    archive.write_text("\n".join(json.dumps(e) for e in lines) + "\n")
    # When on-call replays it
    code, out, err = world.cli(capsys, "--json", "replay", str(archive))
    # Then the real decision is reported: restart the crawler, an incident that would be notified
    assert (code, err) == (0, "")
    replay = json.loads(out)
    first, again, second, third, fourth = replay["events"]
    assert first["results"][0]["actions"] == ["start_crawler:not-called"]
    assert first["notifications"]
    assert "lakehouse-sandbox-curated-crawler" in first["notifications"][0]
    # And the copy sees what the first would have written (the overlay): no second restart
    assert again["results"][0]["actions"] == []
    assert again["outcome"] == "unchanged"
    assert second["outcome"].startswith("schedule tick: not replayed")
    assert third["outcome"] == "no watchdog handles source aws.s3"
    assert fourth["outcome"].startswith("rejected")
    assert replay["writes_not_applied"]
    # And nothing changed: no incident written, the crawler untouched, nothing published
    assert world.items() == []
    assert glue.get_crawler(Name=CRAWLER)["Crawler"] == crawler_before
    assert world.messages() == []
    # And the handler, given the same event for real, does what the replay said
    [delivery] = world.router.route(failed)
    [result] = delivery.result["results"]
    assert [a.split(":")[0] for a in result["actions"]] == ["start_crawler"]
    assert result["status"] == first["results"][0]["status"]


def test_replay_text_output_and_mode_override(world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    set_crawl(CRAWLER, "FAILED", error_message=THROTTLED)
    archive = tmp_path / "archive.json"  # an archive export: a JSON array
    archive.write_text(json.dumps([json.loads((EVENTS / "glue-crawler-failed-throttled.json").read_text())]))
    code, out, _ = world.cli(capsys, "replay", "--mode", "observe", str(archive))
    assert code == 0
    assert out.startswith("Replay (DRY RUN, mode observe): 1 event(s)")
    assert "would:start_crawler" in out
    assert world.items() == []
    # And --since leaves out older events (the sample event is from 2024)
    code, out, _ = world.cli(capsys, "--json", "replay", "--since", "1d", str(archive))
    assert code == 0
    assert json.loads(out)["events"] == []


def test_execution_names_resolve_through_the_watched_state_machines(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a pipeline run with no incident
    arn = world.lakehouse.start_pipeline(world.emulator.client("stepfunctions"), "ops-run-1")
    # When on-call shows it by name / Then its ARN is found; an unknown name is not found (exit 1)
    code, out, _ = world.cli(capsys, "--json", "show", "execution", "ops-run-1")
    assert code == 0
    assert json.loads(out)["resource_id"] == arn
    code, out, err = world.cli(capsys, "show", "execution", "ops-run-2")
    assert (code, out) == (1, "")
    assert err.startswith("not found: execution ops-run-2")


def test_stack_name_finds_the_table(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = world.cli(capsys, "open")
    assert (code, err) == (0, "")
    assert out.strip() == f"No open incidents in {world.table}."
