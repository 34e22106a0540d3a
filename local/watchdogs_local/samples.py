"""The sample events and what each must produce (``events/expected/index.json``), against fresh emulator state.

:func:`prepare` gives one sample a fresh emulator: everything forgotten, ``template.yaml`` deployed again as the
same stack (its physical names, which ``env/local.json`` carries, derived from stack and logical id alone:
:func:`stable_names`), the runbook's lakehouse provisioned, an SQS subscriber on the alert topic, and the
resources the sample names put into the state it describes (:mod:`watchdogs_local.seeds`; ``sample:<name>``
first plays an earlier sample through its function, ``sweep`` runs one sweep). Order therefore never matters.

:class:`Observer` snapshots the incident table and drains the subscriber before an invocation and reads both
after it, so the result is judged on what the invocation did: the function's outcome, the classification on the
incident it wrote, the action it took, the alerts the subscriber received. The scenario test, ``make invoke``,
``make emulator`` and ``make sam-local`` all go through here.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdogs_local.emulator import ROOT, TEMPLATE

if TYPE_CHECKING:
    from collections.abc import Iterator

    from watchdogs_local.emulator import Deployment, Emulator

EVENTS = ROOT / "events"
EXPECTED = EVENTS / "expected" / "index.json"  # a subdirectory: events/*.json stays only events
ENV_LOCAL = ROOT / "env" / "local.json"
#: the stack every local target deploys (its physical names are in env/local.json)
STACK = "lakehouse-watchdogs-local"
SUBSCRIBER = "local-alert-subscriber"
#: a second subscriber, read only by the emulator's console (``make emulator``), so it never steals an alert
CONSOLE_SUBSCRIBER = "local-alert-console"


class SampleError(RuntimeError):
    """An unknown sample or seed step (the message says which)."""


@dataclass(frozen=True)
class Expected:
    outcome: str
    classification: str | None
    action: str | None


@dataclass(frozen=True)
class Sample:
    name: str
    function: str
    seed: tuple[str, ...]
    expected: Expected
    why: str

    @property
    def path(self) -> Path:
        return EVENTS / f"{self.name}.json"

    def event(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        return loaded


def load_samples(path: Path = EXPECTED) -> dict[str, Sample]:
    document = json.loads(path.read_text(encoding="utf-8"))
    samples: dict[str, Sample] = {}
    for name, spec in document["samples"].items():
        samples[name] = Sample(
            name=name,
            function=spec["function"],
            seed=tuple(spec.get("seed", [])),
            expected=Expected(spec["outcome"], spec.get("classification"), spec.get("action")),
            why=spec.get("why", ""),
        )
    return samples


def sample_of(event_path: str | Path | None) -> Sample | None:
    """The declared sample an event file is (by name), else None."""
    if event_path is None or str(event_path) == "-":
        return None
    return load_samples().get(Path(event_path).name.removesuffix(".json"))


# ------------------------------------------------------------------------------------------------ fresh state
def deploy_fresh(emulator: Emulator) -> Deployment:
    """Forget everything, deploy the stack (same physical names every time), provision the lakehouse, subscribe."""
    from watchdogs_local.invoke import EMBEDDED_PARAMETERS  # noqa: PLC0415
    from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse  # noqa: PLC0415
    from watchdogs_local.seeds import hold_queries  # noqa: PLC0415

    emulator.reset()
    with stable_names():
        deployment = emulator.deploy(TEMPLATE, EMBEDDED_PARAMETERS, stack_name=STACK)
    hold_queries()
    provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type] # .client(service)
    sqs = emulator.client("sqs")
    for name in (SUBSCRIBER, CONSOLE_SUBSCRIBER):
        queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        emulator.client("sns").subscribe(TopicArn=deployment.outputs["AlertTopicArn"], Protocol="sqs", Endpoint=arn)
    return deployment


@contextlib.contextmanager
def stable_names() -> Iterator[None]:
    """moto names a stack's resources ``<stack>-<LogicalId>-<12 random characters>``; while deploying, the random
    part is derived from the stack and logical id alone, so a name never changes, whatever else the template holds
    (``env/local.json`` carries the names)."""
    from moto.cloudformation import parsing  # noqa: PLC0415 - dev-only dependency
    from moto.moto_api._internal import mock_random  # noqa: PLC0415

    original = parsing.generate_resource_name

    def generate(resource_type: str, stack_name: str, logical_id: str) -> str:
        state = mock_random.getstate()
        mock_random.seed(f"{stack_name}/{logical_id}")
        try:
            return original(resource_type, stack_name, logical_id)
        finally:
            mock_random.setstate(state)

    parsing.generate_resource_name = generate
    try:
        yield
    finally:
        parsing.generate_resource_name = original


def prepare(emulator: Emulator, sample: Sample | None) -> Deployment:
    """Fresh state for ``sample`` (None: the bare lakehouse), its resources seeded as the sample describes."""
    deployment = deploy_fresh(emulator)
    if sample is not None:
        play_seed(emulator, deployment, sample)
    return deployment


def play_seed(emulator: Emulator, deployment: Deployment, sample: Sample) -> None:
    from watchdogs_local.seeds import STEPS  # noqa: PLC0415

    event = sample.event()
    for step in sample.seed:
        if step.startswith("sample:"):
            earlier = load_samples().get(step.split(":", 1)[1])
            if earlier is None:
                raise SampleError(f"{sample.name}: seed step {step!r} names no sample")
            play_seed(emulator, deployment, earlier)
            _invoke(emulator, deployment, earlier.function, earlier.event())
        elif step == "sweep":
            sweep = load_samples()["sweep-scheduled"]
            _invoke(emulator, deployment, sweep.function, {**sweep.event(), "id": str(uuid.uuid4())})
        elif step in STEPS:
            STEPS[step](emulator, event)
        else:
            raise SampleError(f"{sample.name}: unknown seed step {step!r}")


def _invoke(emulator: Emulator, deployment: Deployment, function: str, event: dict[str, Any]) -> Any:
    from watchdogs_local.router import Router  # noqa: PLC0415

    router = Router(deployment, emulator.endpoint)
    try:
        delivery = router.invoke(deployment.functions[function], event)
    finally:
        router.release()
    if not delivery.ok:
        raise SampleError(f"seeding through {function} failed: {delivery.error or delivery.result}")
    return delivery.result


# ------------------------------------------------------------------------------------------------ observing
@dataclass
class Observed:
    outcome: str
    classification: str | None
    action: str | None
    alerts: list[dict[str, Any]] = field(default_factory=list)
    incident_status: str | None = None

    def matches(self, expected: Expected) -> bool:
        return (self.outcome, self.classification, self.action) == (
            expected.outcome,
            expected.classification,
            expected.action,
        )

    def line(self) -> str:
        """What happened and which alert went out, in one line."""
        text = self.outcome
        if self.classification:
            text += f" ({self.classification})"
        text += f", action {self.action}" if self.action else ", no action"
        if self.incident_status:
            text += f", incident {self.incident_status}"
        subjects = [str(a.get("Subject") or "-") for a in self.alerts]
        text += "; alert: " + " | ".join(subjects) if subjects else "; no alert"
        return text


class Observer:
    """What one invocation changed: incident records (by version) and the subscriber's messages."""

    def __init__(self, emulator: Emulator, deployment: Deployment, queue: str = SUBSCRIBER) -> None:
        self.emulator = emulator
        self.table = deployment.outputs["IncidentTableName"]
        self.queue_url = emulator.client("sqs").get_queue_url(QueueName=queue)["QueueUrl"]
        self.before: dict[tuple[str, str], str] = {}
        self.said: dict[tuple[str, str], str] = {}  # the console's last line per incident

    def start(self) -> Observer:
        rows = self._incidents()
        self.before = {key: version for key, version, _ in rows}
        self.said = {
            key: f"{i.get('status', {}).get('S')} ({i.get('classification', {}).get('S')})" for key, _, i in rows
        }
        self.drain()
        return self

    def _incidents(self) -> list[tuple[tuple[str, str], str, dict[str, Any]]]:
        rows = []
        for page in self.emulator.client("dynamodb").get_paginator("scan").paginate(TableName=self.table):
            for item in page["Items"]:
                sk = item.get("sk", {}).get("S", "")
                if sk.startswith(("CUR#", "HIST#")):
                    rows.append(((item["pk"]["S"], sk), item.get("version", {}).get("N", "0"), item))
        return rows

    def drain(self) -> list[dict[str, Any]]:
        sqs = self.emulator.client("sqs")
        received: list[dict[str, Any]] = []
        while batch := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                received.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return received

    def news(self) -> list[str]:
        """Console lines for what arrived since the last call: alerts received, incidents written."""
        lines = [f"alert    {a.get('Subject') or '-'}" for a in self.drain()]
        for key, _version, item in self._incidents():
            said = _said(item)
            if self.said.get(key) != said:
                self.said[key] = said
                lines.append(f"incident {key[0].removeprefix('RES#')} {key[1].split('#')[1]}: {said}")
        return lines

    def finish(self, result: Any) -> Observed:
        changed = [item for key, version, item in self._incidents() if self.before.get(key) != version]
        classes = sorted({item["classification"]["S"] for item in changed if item.get("classification")})
        statuses = sorted({item["status"]["S"] for item in changed if item.get("status")})
        return Observed(
            outcome=outcome_of(result),
            classification=",".join(classes) or None,
            action=action_of(result),
            alerts=self.drain(),
            incident_status=",".join(statuses) or None,
        )


def _said(item: dict[str, Any]) -> str:
    return f"{item.get('status', {}).get('S')} ({item.get('classification', {}).get('S')})"


def outcome_of(result: Any) -> str:
    """The decision's outcome (handlers: their one result; the sweep: its outcomes), else the edge's verdict."""
    if not isinstance(result, dict):
        return f"no result ({result!r})"[:200]
    if "errorType" in result:
        return f"error {result.get('errorType')}: {result.get('errorMessage')}"[:300]
    items = _items(result)
    if items:
        return ",".join("+".join(str(i.get("outcome")) for i in _flat(item)) for item in items)
    if isinstance(result.get("outcomes"), dict):  # the sweep's report, nothing found
        return "nothing-found"
    return str(result.get("outcome"))


def _items(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The handlers' ``results`` or the sweep report's ``items`` (one per finding)."""
    found = result.get("results") or result.get("items") or []
    return [item for item in found if isinstance(item, dict)]


def _flat(item: dict[str, Any]) -> list[dict[str, Any]]:
    """A result and the results it delegated (e.g. a success that opened a no-new-data warning)."""
    return [item, *(d for sub in item.get("delegated") or [] for d in _flat(sub))]


def action_of(result: Any) -> str | None:
    if not isinstance(result, dict):
        return None
    names = [
        str(action).split(":", 1)[0]
        for item in _items(result)
        for one in _flat(item)
        for action in one.get("actions") or []
    ]
    return ",".join(names) or None
