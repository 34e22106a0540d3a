"""docs/deploy.md, followed end to end against the embedded emulator.

The walkthrough's own names and parameters (an "acme" lakehouse, not the runbook's) are deployed from
``template.yaml`` exactly as ``sam deploy`` would pass them, with the embedded deployment in place of
``sam deploy``. Each step checks what the document claims: the stack's names, who is alerted, what each scope lets
the stack touch, the subscription filter recipes, crawlers remediated while pipelines are only observed, the
dashboard's metrics in the EMF the functions print, and what ``sam delete`` keeps.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from watchdogs.incidents import IncidentStore
from watchdogs_local.emulator import TEMPLATE, Deployment, Emulator
from watchdogs_local.lakehouse import Lakehouse, LakehouseNames, provision_lakehouse
from watchdogs_local.metrics_catalogue import dashboard_metrics, emf_metrics, emitted_catalogue
from watchdogs_local.moto_ext.glue import set_crawl
from watchdogs_local.observer import StateObserver
from watchdogs_local.router import Router
from watchdogs_local.template import load_template

pytestmark = pytest.mark.scenario

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
STACK = "acme-watchdogs-prod"
ENVIRONMENT = "acme-prod"
EMAIL = "data-oncall@acme.example"
#: docs/deploy.md step 2, as `sam deploy --guided` answers (every one of them is quoted in the document)
PARAMETERS = {
    "EnvironmentName": ENVIRONMENT,
    "AlertEmail": EMAIL,
    "WatchdogMode": "observe",
    "CrawlerMode": "remediate",
    "CrawlerPrefixes": "acme-lake-prod-",
    "StateMachineNamePrefixes": "acme-orders-prod-",
    "Workgroups": "acme-analysts-prod,acme-dbt-prod",
    "PipelineWorkgroup": "acme-dbt-prod",
    "MetadataTableName": "acme-pipeline-runs-prod",
}
NAMES = LakehouseNames(
    env="prod",
    bucket="acme-lake-prod-data",
    database="acme_lake_prod",
    crawler_prefix="acme-lake-prod-",
    workgroup="acme-analysts-prod",
    pipeline_workgroup="acme-dbt-prod",
    metadata_table="acme-pipeline-runs-prod",
    state_machine="acme-orders-prod-pipeline",
)
THROTTLED = "Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)"
PAGE = {"severity": ["high", "critical"]}
CHANNEL = {"environment": [ENVIRONMENT]}


@dataclass
class Walk:
    emulator: Emulator
    deployment: Deployment
    lakehouse: Lakehouse
    router: Router
    observer: StateObserver
    emf: io.StringIO
    queues: dict[str, str] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        return self.emulator.client(service)

    def sweep(self) -> None:
        for event in self.observer.poll():
            self.router.route(event)
        ticks = self.router.tick()
        assert all(d.error is None for d in ticks), [d.error for d in ticks]
        for event in self.observer.poll():
            self.router.route(event)

    def store(self) -> IncidentStore:
        return IncidentStore(self.deployment.outputs["IncidentTableName"], self.client("dynamodb"))

    def received(self, queue: str) -> list[dict[str, str]]:
        """Message attributes of every alert a subscriber queue received."""
        sqs, found = self.client("sqs"), []
        while batch := sqs.receive_message(QueueUrl=self.queues[queue], MaxNumberOfMessages=10).get("Messages"):
            for message in batch:
                attributes = json.loads(message["Body"])["MessageAttributes"]
                found.append({k: v["Value"] for k, v in attributes.items()})
                sqs.delete_message(QueueUrl=self.queues[queue], ReceiptHandle=message["ReceiptHandle"])
        return found


class _ObserverClients:
    def __init__(self, emulator: Emulator) -> None:
        self.glue, self.athena = emulator.client("glue"), emulator.client("athena")
        self.sfn = emulator.client("stepfunctions")


@pytest.fixture
def walk(emulator: Emulator) -> Iterator[Walk]:
    from moto.moto_api import state_manager

    state_manager.set_transition(model_name="glue::crawl", transition={"progression": "manual", "times": 10**9})
    deployment = emulator.deploy(TEMPLATE, PARAMETERS, stack_name=STACK)  # step 3: `sam deploy --guided`
    lakehouse = provision_lakehouse(emulator, NAMES)  # type: ignore[arg-type]
    emf = io.StringIO()
    router = Router(deployment, emulator.endpoint, log_stream=emf)
    observer = StateObserver(_ObserverClients(emulator), list(lakehouse.workgroups), [lakehouse.state_machine_arn])
    observer.prime()
    try:
        yield Walk(emulator, deployment, lakehouse, router, observer, emf)
    finally:
        from watchdogs_local.moto_ext.stepfunctions import stop_running_executions

        stop_running_executions()
        state_manager.unset_transition("glue::crawl")
        router.release()


# ------------------------------------------------------------------------------------------------ the steps
def step_2_the_parameters_are_the_documents(walk: Walk) -> None:
    for name, value in PARAMETERS.items():
        assert f"{name}={value}" in DOC, f"docs/deploy.md does not quote {name}={value}"


def step_3_the_stack_is_named_after_you_and_says_who_is_alerted(walk: Walk) -> None:
    functions = {f.name for f in walk.deployment.functions.values()}
    assert functions == {f"{STACK}-{suffix}" for suffix in ("glue", "athena", "states", "sweep")}
    # the output evaluates the HasAlertEmail condition the e-mail subscription is created under (moto has no
    # AWS::SNS::Subscription resource: the emulator leaves it out and says so)
    assert EMAIL in walk.deployment.outputs["AlertsGoTo"]
    assert ("AlertEmailSubscription", "AWS::SNS::Subscription") in walk.deployment.skipped
    sweep = next(f for f in walk.deployment.functions.values() if f.name.endswith("-sweep"))
    assert (sweep.environment["WATCHDOG_MODE"], sweep.environment["WATCHDOG_MODE_CRAWLER"]) == ("observe", "remediate")


def step_4_each_scope_grants_what_the_document_says(walk: Walk) -> None:
    # the mutating grants of the deployed managed policies, per resource ARN pattern (read back from IAM)
    iam, mutating = walk.client("iam"), {}
    for logical_id, physical in walk.deployment.resources.items():
        if not logical_id.endswith("Policy") or not physical.startswith("arn:"):
            continue
        version = iam.get_policy(PolicyArn=physical)["Policy"]["DefaultVersionId"]
        document = iam.get_policy_version(PolicyArn=physical, VersionId=version)["PolicyVersion"]["Document"]
        document = json.loads(document) if isinstance(document, str) else document
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            for action in actions:
                if re.match(r"\w+:(Stop|Start|Redrive|Update|Put|Delete)", action):
                    for resource in resources:
                        mutating.setdefault(resource.split(":", 5)[-1], set()).add(action)
    stack_tables = {k for k in mutating if k.startswith(f"table/{STACK}")}
    scoped = {k: sorted(v) for k, v in mutating.items() if k not in stack_tables}
    assert scoped == {
        "crawler/acme-lake-prod-*": ["glue:StartCrawler", "glue:StopCrawler"],
        "execution:acme-orders-prod-*:*": ["states:RedriveExecution", "states:StopExecution"],
        "workgroup/acme-analysts-prod": ["athena:StopQueryExecution"],
        # + the evidence query (Elementary's failing tests, read-only SQL) runs in the pipeline workgroup
        "workgroup/acme-dbt-prod": ["athena:StartQueryExecution", "athena:StopQueryExecution"],
        "table/acme-pipeline-runs-prod": ["dynamodb:UpdateItem"],
        # + the stuck timers (docs/timers.md): only in the stack's own schedule group
        "schedule/acme-watchdogs-prod-timers/*": ["scheduler:DeleteSchedule"],
    }
    for pattern, actions in scoped.items():  # the blast-radius table of step 4 says the same
        row = next((line for line in DOC.splitlines() if f"`{pattern}`" in line), "")
        assert row, f"docs/deploy.md step 4 has no row for {pattern}"
        assert all(f"`{a}`" in row for a in actions), f"docs/deploy.md step 4: {pattern} may change {actions}"


def step_5_subscribe_with_filter_recipes(walk: Walk) -> None:
    sqs, sns = walk.client("sqs"), walk.client("sns")
    for queue, policy in (("page", PAGE), ("channel", CHANNEL)):
        url = sqs.create_queue(QueueName=f"acme-alerts-{queue}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes = {"FilterPolicy": json.dumps(policy), "RawMessageDelivery": "false"}
        sns.subscribe(
            TopicArn=walk.deployment.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=arn, Attributes=attributes
        )
        walk.queues[queue] = url
        assert json.dumps(policy) in DOC, f"docs/deploy.md does not give the {queue} filter policy {policy}"


def step_6_crawlers_are_remediated(walk: Walk) -> str:
    from watchdogs_local import faults

    name = NAMES.crawler("raw")
    crawls = faults.crawl_count(name)
    set_crawl(name, "RUNNING")
    walk.sweep()
    set_crawl(name, "FAILED", error_message=THROTTLED)  # a transient failure: the runbook restarts the crawler
    walk.sweep()
    walk.sweep()
    assert faults.crawl_count(name) == crawls + 2, "the watchdog (crawler mode: remediate) did not restart it"
    set_crawl(name, "SUCCEEDED")
    walk.sweep()
    [incident] = walk.store().history(_type("crawler"), name)
    assert (incident.status.value, incident.mode) == ("resolved", "remediate")
    assert incident.time_to_recover_seconds is not None
    return name


def step_6_pipelines_are_only_observed(walk: Walk) -> str:
    sfn = walk.client("stepfunctions")
    flaky = {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Lambda.TooManyRequestsException"}}}
    machine = sfn.create_state_machine(
        name="acme-orders-prod-flaky", definition=json.dumps(flaky), roleArn=NAMES.role_arn
    )["stateMachineArn"]
    walk.observer.state_machine_arns.append(machine)
    arn = sfn.start_execution(stateMachineArn=machine, name="flaky-1")["executionArn"]
    deadline = time.monotonic() + 20
    while sfn.describe_execution(executionArn=arn)["status"] != "FAILED":
        assert time.monotonic() < deadline, "the flaky run did not fail"
        time.sleep(0.1)
    for _ in range(2):
        walk.sweep()
    incident = walk.store().load(_type("execution"), arn).incidents[_condition("FAILED")]
    assert (incident.status.value, incident.mode) == ("observed", "observe")
    assert [e.step for e in incident.timeline if e.kind == "would-act"] == ["redrive_execution"]
    assert sfn.describe_execution(executionArn=arn).get("redriveCount", 0) == 0
    return arn


def step_6_a_malformed_event_is_rejected(walk: Walk) -> None:
    glue = next(f for f in walk.deployment.functions.values() if f.name.endswith("-glue"))
    delivery = walk.router.invoke(glue, {"source": "aws.glue", "detail-type": "Glue Crawler State Change"})
    assert isinstance(delivery.result, dict)
    assert delivery.result["outcome"] == "rejected"


def step_6_smoke_test(walk: Walk, capsys: pytest.CaptureFixture[str]) -> None:
    # `watchdogs-ops --stack-name acme-watchdogs-prod smoke` (functions invoked in-process: moto runs no Lambda code)
    from watchdogs.ops import main

    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        function = next(f for f in walk.deployment.functions.values() if f.name == name)
        delivery = walk.router.invoke(function, event)
        assert delivery.error is None, delivery.error
        result: dict[str, Any] = delivery.result
        return result

    capsys.readouterr()
    code = main(["--stack-name", STACK, "--endpoint", walk.emulator.endpoint, "smoke"], invoke=invoke)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SMOKE PASSED: 4/4 functions" in out
    # the blast radius it prints is step 4's, for these names
    assert "CrawlerPrefixes = acme-lake-prod-" in out
    assert "glue:StartCrawler, glue:StopCrawler" in out


def step_7_the_report_drives_the_rollout(walk: Walk, capsys: pytest.CaptureFixture[str]) -> None:
    # `watchdogs-ops --stack-name acme-watchdogs-prod report --since 7d`: crawlers acted, pipelines only observed
    from watchdogs.ops import main

    capsys.readouterr()
    code = main(["--stack-name", STACK, "--endpoint", walk.emulator.endpoint, "report", "--since", "7d"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip().split(" ", 1)[0] in SERVICES}
    assert "start_crawler" in rows["crawler"], out  # what the crawler watchdog did
    assert "redrive_execution" in rows["execution"], out  # what observe mode would have done
    assert "resolved 1" in rows["crawler"], out


SERVICES = ("crawler", "query", "execution")


def step_5_filters_route_alerts(walk: Walk) -> None:
    page, channel = walk.received("page"), walk.received("channel")
    assert channel, "the environment's channel received nothing"
    assert all(m["environment"] == ENVIRONMENT for m in channel)
    assert page == [m for m in channel if m["severity"] in PAGE["severity"]]


def step_7_the_dashboard_has_data(walk: Walk) -> None:
    printed = emf_metrics(walk.emf.getvalue().splitlines())
    catalogue = emitted_catalogue()
    for namespace, name, dimensions in printed:
        if namespace == "LakehouseWatchdogs":  # what ran printed what the catalogue says, dimension for dimension
            assert any(e.matches(name) and e.dimensions == dimensions for e in catalogue), (name, dimensions)
    plotted = {(p.name, p.dimensions) for p in dashboard_metrics(load_template(TEMPLATE))}
    shown = {name for namespace, name, dims in printed if (name, dims) in plotted}
    assert {"OpenIncidents", "TimeToRecover", "QuarantinedResources", "Acted", "RejectedEvent", "Notified"} <= shown


def step_8_sam_delete_keeps_the_incident_history(walk: Walk, crawler: str, execution: str) -> None:
    table = walk.deployment.outputs["IncidentTableName"]
    key = walk.deployment.physical("WatchdogKey")
    _detach_role_policies(walk)
    walk.client("cloudformation").delete_stack(StackName=STACK)
    names = walk.client("lambda").list_functions()["Functions"]
    assert not [f for f in names if f["FunctionName"].startswith(STACK)]
    # the table and the key it is encrypted with are kept, with the history in them
    assert key.rsplit("/", 1)[-1] in {k["KeyId"] for k in walk.client("kms").list_keys()["Keys"]}
    kept = IncidentStore(table, walk.client("dynamodb"))
    assert [i.status.value for i in kept.history(_type("crawler"), crawler)] == ["resolved"]
    assert kept.load(_type("execution"), execution).incidents


def _detach_role_policies(walk: Walk) -> None:
    """What CloudFormation does before it deletes a role and moto's stack deletion does not: detach its policies."""
    iam = walk.client("iam")
    for logical_id, physical in walk.deployment.resources.items():
        if logical_id.endswith("Role") and not physical.startswith("arn:"):
            for attached in iam.list_attached_role_policies(RoleName=physical)["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=physical, PolicyArn=attached["PolicyArn"])


def _type(value: str) -> Any:
    from watchdogs.models.domain import ResourceType

    return ResourceType(value)


def _condition(value: str) -> Any:
    from watchdogs.models.domain import Condition

    return Condition(value)


def test_the_deploy_walkthrough_holds_end_to_end(
    walk: Walk, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from watchdogs_local.emulator import FAKE_CREDENTIALS, REGION

    for key in ("INCIDENT_TABLE", "ALERT_TOPIC_ARN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    steps: list[Callable[[Walk], Any]] = [
        step_2_the_parameters_are_the_documents,
        step_3_the_stack_is_named_after_you_and_says_who_is_alerted,
        step_4_each_scope_grants_what_the_document_says,
        step_5_subscribe_with_filter_recipes,
    ]
    for step in steps:
        step(walk)
    crawler = step_6_crawlers_are_remediated(walk)
    execution = step_6_pipelines_are_only_observed(walk)
    step_6_a_malformed_event_is_rejected(walk)
    step_6_smoke_test(walk, capsys)
    step_5_filters_route_alerts(walk)
    step_7_the_report_drives_the_rollout(walk, capsys)
    step_7_the_dashboard_has_data(walk)
    step_8_sam_delete_keeps_the_incident_history(walk, crawler, execution)
