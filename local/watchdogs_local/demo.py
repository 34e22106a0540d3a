"""``make demo``: the watchdogs heal the runbook's lakehouse, offline, in under a minute.

``python -m watchdogs_local.demo`` (console script ``watchdogs-demo``):

1. starts the embedded emulator (in-process moto server, Step Functions execution simulation on) and deploys
   ``template.yaml`` into it -- SAM transform, CloudFormation stack -- so the tables, topic, functions (with their
   resolved environment) and EventBridge rules are the template's own;
2. provisions the runbook's lakehouse (:mod:`watchdogs_local.lakehouse`) and subscribes an SQS queue to the
   deployed alert topic, as an alert subscriber would;
3. plays scenarios with injected faults on a compressed clock (thresholds and sweep period in seconds, passed as
   template parameters at deploy time). State changes become real-shaped events (:mod:`watchdogs_local.observer`)
   routed through the *deployed* rules to the deployed functions' handlers (:mod:`watchdogs_local.router`); the
   schedule rule fires every ``--sweep-every`` seconds;
4. prints, as it goes and at the end, the timeline (detected -> acted -> resolved), the incident table and the
   notifications the subscriber received, and exits 1 if any scenario's expected outcome did not happen.

``--break SCENARIO`` (or ``WATCHDOGS_DEMO_BREAK=SCENARIO``) sabotages one scenario: the emulator denies the watchdogs
the one permission its remediation needs (``glue:StopCrawler``, ``athena:StopQueryExecution``, ``sns:Publish``,
``dynamodb:UpdateItem`` on the metadata table, ``glue:StartCrawler``, ``states:StopExecution``), as a broken IAM
policy would. The expected outcome then does not happen and the run exits 1: the demo doubles as an end-to-end
check, and this shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from watchdogs_local.emulator import ACCOUNT, REGION, TEMPLATE, Deployment, Emulator
from watchdogs_local.lakehouse import SANDBOX_PARAMETERS

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import boto3

    from watchdogs.incidents import Incident
    from watchdogs_local.lakehouse import Lakehouse
    from watchdogs_local.observer import StateObserver
    from watchdogs_local.router import ApiCallMeter, Delivery, Router

STACK = "lakehouse-watchdogs-sandbox"

#: template parameters of the demo deployment: the runbook's sandbox names, remediate mode, a compressed clock
DEMO_PARAMETERS: dict[str, str] = {
    **SANDBOX_PARAMETERS,
    "CrawlerStuckSeconds": "3",
    "CrawlerStoppingSeconds": "2",
    "QueryStuckSeconds": "3",
    "ExecutionStuckSeconds": "45",
    "SweepRateMinutes": "1",
    "SweepLookbackSeconds": "600",
    "StepFollowUpSeconds": "1",
}
SWEEP_EVERY_SECONDS = 2.0
POLL_SECONDS = 0.1

ACCESS_DENIED = (
    "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied; "
    "Request ID: 7F3A2C1D9E8B6A54) for s3://lakehouse-sandbox-data-lake/processed/"
)
THROTTLED = "Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)"
TESTS_FAILED = (
    "dbt test: 3 of 23 tests failed (not_null_fct_events_event_id, unique_fct_events_event_id, "
    "accepted_values_stg_events_type)"
)


# ------------------------------------------------------------------------------------------------ checks
@dataclass
class Check:
    """One expected outcome of a scenario, as observed in the emulator."""

    name: str
    ok: bool
    detail: str = ""


@dataclass
class Scenario:
    key: str
    title: str
    runbook: str
    start: Callable[[Demo], dict[str, Any]]
    settled: Callable[[Demo, dict[str, Any]], bool]
    check: Callable[[Demo, dict[str, Any]], list[Check]]
    timeout: float = 20.0
    #: ``--break``: the permission the emulator denies the watchdogs, as (service, operation)
    sabotage: tuple[str, str] | None = None
    #: turn one observed event into what is delivered (the duplicate storm)
    amplify: Callable[[Demo, dict[str, Any], dict[str, Any]], list[dict[str, Any]]] | None = None
    #: keep routing this long after the scenario settled (to show that nothing more happens)
    linger: float = 0.0


@dataclass
class Played:
    scenario: Scenario
    started_at: float
    ended_at: float = 0.0
    settled: bool = False
    checks: list[Check] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.settled and all(c.ok for c in self.checks)


# ------------------------------------------------------------------------------------------------ the demo
class Demo:
    """Deploys, provisions, plays the scenarios and reports. ``run()`` returns the process exit code."""

    def __init__(
        self,
        out: IO[str] | None = None,
        *,
        only: list[str] | None = None,
        sabotage: set[str] | None = None,
        sweep_every: float = SWEEP_EVERY_SECONDS,
        template: Path = TEMPLATE,
        emulator: Emulator | None = None,
        log_path: Path | None = None,
        verbose: bool = False,
        alerts: bool = False,
        timers: bool = True,
    ) -> None:
        self.out = out or sys.stdout
        self.verbose = verbose  # rules, per-incident timelines, API calls per scenario
        self.alerts = alerts  # every alert body the subscriber received, in full
        self.only = only
        self.sabotage = sabotage or set()
        self.sweep_every = sweep_every
        self.template = template
        self.emulator = emulator
        self._owns_emulator = emulator is None
        self.log_path = log_path or Path(tempfile.gettempdir()) / "watchdogs-demo-handlers.log"
        self.t0 = time.monotonic()
        self.wall0 = datetime.now(UTC)
        self.deployment: Deployment | None = None
        self.lakehouse: Lakehouse | None = None
        self.router: Router | None = None
        self.observer: StateObserver | None = None
        self.meter: ApiCallMeter | None = None
        self.queue_url = ""
        self.notifications: list[dict[str, Any]] = []
        self.played: list[Played] = []
        self.current: Played | None = None
        self._last_tick = 0.0
        self._clients: dict[str, Any] = {}
        self._due: list[tuple[float, Callable[[], None]]] = []
        self._timer_groups: set[str] = set()
        self.timers = timers  # fire due stuck timers (off: they are made, never fire; the sweep alone detects)

    # -------------------------------------------------------------------------------------------- output
    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def at(self, moment: datetime | str) -> str:
        if isinstance(moment, str):
            moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        return f"+{(moment - self.wall0).total_seconds():5.1f}s"

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def log(self, kind: str, text: str) -> None:
        self.say(f"  +{self.elapsed():5.1f}s  {kind:<8} {text}")

    # -------------------------------------------------------------------------------------------- clients
    def client(self, service: str) -> Any:
        if service not in self._clients:
            assert self.emulator is not None
            self._clients[service] = self.emulator.client(service)
        return self._clients[service]

    @property
    def glue(self) -> Any:
        return self.client("glue")

    @property
    def athena(self) -> Any:
        return self.client("athena")

    @property
    def sfn(self) -> Any:
        return self.client("stepfunctions")

    @property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    # -------------------------------------------------------------------------------------------- setup
    def setup(self) -> None:
        from watchdogs_local import faults  # noqa: PLC0415
        from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse  # noqa: PLC0415
        from watchdogs_local.observer import StateObserver  # noqa: PLC0415
        from watchdogs_local.router import ApiCallMeter, Router  # noqa: PLC0415

        self.say("Lakehouse Watchdogs - local demo (embedded emulator: no AWS account, no Docker)")
        if self.emulator is None:
            self.emulator = Emulator()
        if self._owns_emulator:
            self.emulator.start()
        else:
            self.emulator.reset()
        import moto  # noqa: PLC0415

        self.say(
            f"  emulator   moto {moto.__version__} at {self.emulator.endpoint} (Step Functions execution simulation on)"
        )
        self.deployment = self.emulator.deploy(self.template, DEMO_PARAMETERS, stack_name=STACK)
        d = self.deployment
        kinds: dict[str, int] = {}
        for _lid, physical_type in self._resource_types().items():
            kinds[physical_type] = kinds.get(physical_type, 0) + 1
        made = ", ".join(f"{n} {t.split('::')[-1]}" for t, n in sorted(kinds.items()))
        self.say(f"  deployed   {self.template.name} as stack {d.stack_name}: {made}")
        if d.skipped and self.verbose:
            lacks: dict[str, int] = {}
            for _lid, kind in d.skipped:
                lacks[kind] = lacks.get(kind, 0) + 1
            self.say(
                "             left out (moto's CloudFormation lacks them): "
                + ", ".join(f"{n} {k.split('::', 1)[-1]}" for k, n in sorted(lacks.items()))
            )
        for rule in d.rules if self.verbose else []:
            what = rule.schedule or _pattern_summary(rule.event_pattern or {})
            target = ", ".join(f.logical_id for f in (d.function_by_arn(a) for a in rule.targets) if f)
            self.say(f"             rule {rule.logical_id}: {what} -> {target}")
        p = DEMO_PARAMETERS
        self.say(
            f"  clock      compressed: crawler stuck after {p['CrawlerStuckSeconds']} s, query stuck after "
            f"{p['QueryStuckSeconds']} s, run stuck after {p['ExecutionStuckSeconds']} s, schedule rate(1 minute) "
            f"fires every {self.sweep_every:g} s"
        )

        names = LakehouseNames(env="sandbox", account_id=ACCOUNT, region=REGION, poll_seconds=1)
        self.lakehouse = provision_lakehouse(
            cast("boto3.Session", self.emulator), names
        )  # its .client() has the endpoint
        lh = self.lakehouse
        self.say(
            f"  lakehouse  s3://{names.bucket}, Glue database {names.database}, crawlers "
            f"{', '.join(lh.crawlers.values())}"
        )
        self.say(
            f"             workgroups {', '.join(lh.workgroups)}, metadata table {names.metadata_table} "
            f"(status-index), state machine {names.state_machine}"
        )

        sqs = self.client("sqs")
        self.queue_url = sqs.create_queue(QueueName="demo-alert-subscriber")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        topic = d.outputs.get("AlertTopicArn") or next(iter(d.functions.values())).environment["ALERT_TOPIC_ARN"]
        self.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        self.say(f"  alerts     SQS queue demo-alert-subscriber subscribed to {topic.rsplit(':', 1)[-1]}")
        self.say(f"  logs       handler logs (Powertools JSON) and metrics: {self.log_path}")

        faults.compress_clock()
        self.meter = ApiCallMeter().install()
        self._log_stream = self.log_path.open("w", encoding="utf-8")
        self.router = Router(d, self.emulator.endpoint, log_stream=self._log_stream)
        self.router.release()  # fresh clients: created after the meter is installed
        from watchdogs_local.timers import ensure_groups  # noqa: PLC0415

        self._timer_groups = ensure_groups(d, self.client("scheduler"))
        self.observer = StateObserver(
            clients=_Clients(self),
            workgroups=list(lh.workgroups),
            state_machine_arns=[lh.state_machine_arn],
        )
        self.observer.prime()
        self._last_tick = time.monotonic()

    def _resource_types(self) -> dict[str, str]:
        assert self.deployment is not None
        summaries = self.client("cloudformation").list_stack_resources(StackName=self.deployment.stack_name)
        return {s["LogicalResourceId"]: s["ResourceType"] for s in summaries["StackResourceSummaries"]}

    def teardown(self) -> None:
        from watchdogs_local import faults  # noqa: PLC0415

        faults.restore_clock()
        if self.router is not None:
            self.router.release()
        if self.meter is not None:
            self.meter.uninstall()
        if getattr(self, "_log_stream", None) is not None:
            self._log_stream.close()
        if self._owns_emulator and self.emulator is not None:
            self.emulator.stop()

    # -------------------------------------------------------------------------------------------- the loop
    def after(self, seconds: float, action: Callable[[], None]) -> None:
        """Run ``action`` (a fault) in ``seconds``, at the start of a turn: its events are routed before any sweep."""
        self._due.append((time.monotonic() + seconds, action))

    def pump(self) -> None:
        """One turn: due faults, route the events of what changed, fire the schedule when its period elapsed."""
        assert self.router is not None
        assert self.observer is not None
        now = time.monotonic()
        for due in [d for d in self._due if d[0] <= now]:
            self._due.remove(due)
            due[1]()
        for event in self.observer.poll():
            scenario = self.current.scenario if self.current else None
            deliveries = (
                scenario.amplify(self, self.current.context, event)
                if scenario and scenario.amplify and self.current
                else [event]
            )
            if len(deliveries) > 1:
                self._route_storm(event, deliveries)
                continue
            self._route(event)
        self._fire_timers()
        if time.monotonic() - self._last_tick >= self.sweep_every:
            self._last_tick = time.monotonic()
            for delivery in self.router.tick():
                line = describe_sweep(delivery)
                if line:
                    self.log("sweep", line)
        self.collect_notifications()

    def _fire_timers(self) -> None:
        """Stuck timers that came due (EventBridge Scheduler, emulated: :mod:`watchdogs_local.timers`)."""
        from watchdogs_local.timers import fire_due  # noqa: PLC0415

        assert self.router is not None
        if not self.timers:
            return
        for delivery in fire_due(self.router, self.client("scheduler"), self._timer_groups):
            result = delivery.result if isinstance(delivery.result, dict) else {}
            did = f": {describe_result(delivery)}" if result.get("results") else ""
            step = f" (step {delivery.event['step']})" if delivery.event.get("step") else ""
            what = result.get("outcome", delivery.error)
            self.log("timer", f"{_short(str(result.get('resource', '?')))}{step} -> {what}{did}")

    def _route(self, event: dict[str, Any]) -> None:
        from watchdogs_local.observer import describe  # noqa: PLC0415

        assert self.router is not None
        deliveries = self.router.route(event)
        if not deliveries:
            return  # no deployed rule matches (e.g. a query RUNNING: only the sweep judges those)
        for delivery in deliveries:
            self.log("event", f"{describe(event)} -> {delivery.function}: {describe_result(delivery)}")

    def _route_storm(self, original: dict[str, Any], copies: list[dict[str, Any]]) -> None:
        from watchdogs_local.observer import describe  # noqa: PLC0415

        assert self.router is not None
        outcomes: dict[str, int] = {}
        same_id = sum(1 for c in copies if c["id"] == original["id"])
        for event in copies:
            for delivery in self.router.route(event):
                text = describe_result(delivery)
                outcomes[text] = outcomes.get(text, 0) + 1
        self.log(
            "storm",
            f"{describe(original)} delivered {len(copies)} times ({same_id} redeliveries of event "
            f"{original['id'][:8]}, {len(copies) - same_id} copies with new ids)",
        )
        for text, n in sorted(outcomes.items(), key=lambda kv: -kv[1]):
            self.log("", f"  {n:>2} x {text}")

    def run_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.pump()
            if condition():
                return True
            time.sleep(POLL_SECONDS)
        return False

    def linger(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.pump()
            time.sleep(POLL_SECONDS)

    # -------------------------------------------------------------------------------------------- state reads
    def incidents(self) -> list[Incident]:
        """Every incident record (active and closed) in the deployed incident table."""
        from watchdogs.incidents import incident_from_item  # noqa: PLC0415

        assert self.deployment is not None
        table = self.deployment.outputs["IncidentTableName"]
        found = []
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if not item.get("sk", {}).get("S", "").startswith(("CUR#", "HIST#")):
                    continue
                found.append(incident_from_item(item))
        return sorted(found, key=lambda i: i.detected_at)

    def incident(self, resource_type: str, resource_id: str, condition: str | None = None) -> Incident | None:
        matches = [
            i
            for i in self.incidents()
            if i.resource_type.value == resource_type
            and i.resource_id == resource_id
            and (condition is None or i.condition.value == condition)
        ]
        return matches[-1] if matches else None

    def collect_notifications(self) -> None:
        sqs = self.client("sqs")
        while True:
            batch = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return
            for message in batch:
                envelope = json.loads(message["Body"])
                try:
                    envelope["Body"] = json.loads(envelope["Message"])
                except (TypeError, ValueError):
                    envelope["Body"] = {"text": envelope.get("Message", "")}
                self.notifications.append(envelope)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def notifications_for(self, resource_id: str) -> list[dict[str, Any]]:
        return [n for n in self.notifications if n["Body"].get("resource_id") == resource_id]

    def metadata_status(self, execution_arn: str) -> str | None:
        assert self.lakehouse is not None
        table = self.lakehouse.names.metadata_table
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if item.get("execution_arn", {}).get("S") == execution_arn:
                    return str(item.get("status", {}).get("S"))
        return None

    # -------------------------------------------------------------------------------------------- run
    def play(self, scenario: Scenario, number: int, total: int) -> Played:
        assert self.meter is not None
        assert self.router is not None
        self.say()
        self.say(f"[{number}/{total}] {scenario.title}")
        self.say(f"        runbook: {scenario.runbook}")
        played = Played(scenario=scenario, started_at=self.elapsed())
        self.current = played
        self.router.label = scenario.key
        played.context = scenario.start(self)
        undo = self._sabotage(scenario)
        try:
            played.settled = self.run_until(lambda: scenario.settled(self, played.context), scenario.timeout)
            if scenario.linger:
                self.linger(scenario.linger)
        finally:
            undo()
        self.collect_notifications()
        played.checks = scenario.check(self, played.context)
        if not played.settled:
            played.checks.insert(0, Check("settled within the time limit", False, f"not after {scenario.timeout:g} s"))
        played.ended_at = self.elapsed()
        calls = self.meter.of(scenario.key)
        mutating = self.meter.mutating(calls)
        for item in played.checks:
            self.log("PASS" if item.ok else "FAIL", f"{item.name}" + (f" ({item.detail})" if item.detail else ""))
        self.log(
            "calls",
            f"{sum(calls.values())} AWS API calls by the watchdogs, {sum(mutating.values())} writes: "
            + ", ".join(f"{op} x{n}" for op, n in sorted(mutating.items())),
        )
        self.router.label = None
        self.current = None
        self.played.append(played)
        return played

    def _sabotage(self, scenario: Scenario) -> Callable[[], None]:
        from watchdogs_local import faults  # noqa: PLC0415

        if scenario.key not in self.sabotage or scenario.sabotage is None:
            return lambda: None
        service, operation = scenario.sabotage
        table = self.lakehouse.names.metadata_table if self.lakehouse and service == "dynamodb" else None
        self.log("SABOTAGE", f"--break {scenario.key}: the watchdogs are denied {service}:{operation}")
        return faults.deny(service, operation, only_for=table)

    def run(self) -> int:
        scenarios = [s for s in SCENARIOS if not self.only or s.key in self.only]
        unknown = set(self.only or []) - {s.key for s in SCENARIOS}
        if unknown:
            self.say(f"unknown scenario(s): {', '.join(sorted(unknown))}; known: {', '.join(s.key for s in SCENARIOS)}")
            return 2
        try:
            self.setup()
            for number, scenario in enumerate(scenarios, start=1):
                self.play(scenario, number, len(scenarios))
            self.report()
        finally:
            self.teardown()
        failed = [p for p in self.played if not p.passed]
        self.say()
        if failed:
            self.say(f"DEMO FAILED: {', '.join(p.scenario.key for p in failed)} did not turn out as expected")
            return 1
        self.say(
            f"DEMO PASSED: {len(self.played)} scenarios healed, escalated or notified as the runbook says "
            f"({self.elapsed():.0f} s)"
        )
        return 0

    # -------------------------------------------------------------------------------------------- report
    def report(self) -> None:
        incidents = self.incidents()
        if self.verbose:
            self._report_timelines(incidents)
        self._report_table(incidents)
        self._report_notifications()
        if self.meter is not None and self.verbose:
            self._report_calls()
        self.say()
        self.say("Scenarios")
        for played in self.played:
            verdict = "PASS" if played.passed else "FAIL"
            self.say(
                f"  {verdict}  {played.scenario.key:<18} {played.scenario.title} "
                f"({played.ended_at - played.started_at:.1f} s)"
            )
        if not self.verbose:
            self.say("  (--verbose: rules, per-incident timelines, API calls; --alerts: every alert body in full)")

    def _report_timelines(self, incidents: list[Incident]) -> None:
        self.say()
        self.say("Timeline (detected -> acted -> resolved; times since the demo started)")
        for incident in incidents:
            ttr = f"  [{_ended_how(incident)}]" if _ended_how(incident) else ""
            self.say(
                f"  {incident.resource_type.value} {_short(incident.resource_id)} {incident.condition.value}: "
                f"{incident.status.value}{ttr}"
            )
            for entry in incident.timeline:
                if entry.kind == "decided":
                    text = f"{entry.outcome}: {entry.detail}"
                elif entry.kind in ("action", "would-act"):
                    text = f"{entry.step} -> {entry.outcome}"
                elif entry.kind == "delegated":
                    text = f"{entry.step} {_short(entry.detail)} -> {entry.outcome}"
                else:
                    text = entry.detail
                self.say(f"    {self.at(entry.at)}  {_KIND.get(entry.kind, entry.kind):<9} {_clip(text, 100)}")

    def _report_table(self, incidents: list[Incident]) -> None:
        self.say()
        self.say(f"Incident table ({self.deployment.outputs['IncidentTableName'] if self.deployment else '?'})")
        rows = [("RESOURCE", "CONDITION", "STATUS", "CLASSIFICATION", "ACTIONS", "DETECTED", "RECOVERED")]
        for incident in incidents:
            actions = [f"{e.step}" for e in incident.timeline if e.kind == "action"]
            rows.append(
                (
                    f"{incident.resource_type.value} {_short(incident.resource_id)}",
                    incident.condition.value,
                    incident.status.value,
                    incident.classification,
                    ",".join(actions) or "-",
                    self.at(incident.detected_at),
                    f"{incident.time_to_recover_seconds:.1f} s"
                    if incident.time_to_recover_seconds and incident.status.value == "resolved"
                    else "-",
                )
            )
        for line in _table(rows):
            self.say(f"  {line}")

    def _report_notifications(self) -> None:
        self.say()
        self.say(f"Notifications received by the subscriber (SQS demo-alert-subscriber): {len(self.notifications)}")
        for note in self.notifications:
            body = note["Body"]
            stamp = self.at(note["Timestamp"]) if note.get("Timestamp") else ""
            self.say(f"  {stamp}  {_clip(note.get('Subject') or '-', 80):<80}  status={body.get('status', '-')}")
            if self.alerts:
                self.say("")
                for line in alert_text(note).splitlines():
                    self.say(f"      {line}")
                self.say("")

    def _report_calls(self) -> None:
        assert self.meter is not None
        self.say()
        self.say("AWS API calls made by the watchdogs, per scenario (reads + writes, incident store included)")
        for played in self.played:
            calls = self.meter.of(played.scenario.key)
            self.say(
                f"  {played.scenario.key:<18} {sum(calls.values()):>4}  "
                + ", ".join(f"{op} {n}" for op, n in sorted(calls.items(), key=lambda kv: (-kv[1], kv[0])))
            )


def alert_text(note: dict[str, Any]) -> str:
    """An alert as a person reads it: the text the notifier renders (``Notifier.message``) for the incident the
    subscriber received; the received body itself when it cannot be rebuilt."""
    from watchdogs.incidents import Incident  # noqa: PLC0415
    from watchdogs.notifier import Notifier  # noqa: PLC0415

    body = note.get("Body") or {}
    try:
        fields = {k: v for k, v in body.items() if k in Incident.model_fields}
        incident = Incident.model_validate(fields)
        message = Notifier(note.get("TopicArn") or "local").message(incident, body["event"], body.get("message_id"))
        return str(json.loads(message["Message"])["default"])
    except Exception:  # show what arrived rather than nothing
        return json.dumps(body, indent=2, default=str)


class _Clients:
    """The observer's view of the emulator (the demo's own clients: not counted as the watchdogs' calls)."""

    def __init__(self, demo: Demo) -> None:
        self.glue = demo.glue
        self.athena = demo.athena
        self.sfn = demo.sfn


# ------------------------------------------------------------------------------------------------ formatting
_KIND = {"action": "acted", "would-act": "would act", "decided": "decided", "resolved": "resolved"}


def _short(resource_id: str) -> str:
    return resource_id.rsplit(":", 1)[-1] if resource_id.startswith("arn:") else resource_id


def _ended_how(incident: Incident) -> str:
    """How an ended incident is shown: recovered (resolved), or closed after how long (a closed incident did not
    recover: the engine keeps how long it was open in the same field)."""
    seconds = incident.time_to_recover_seconds
    if not seconds:
        return ""
    return f"{'recovered in' if incident.status.value == 'resolved' else 'closed after'} {seconds:.1f} s"


def _clip(text: str, width: int) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _table(rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]


def _pattern_summary(pattern: dict[str, Any]) -> str:
    detail = pattern.get("detail", {})
    parts = [", ".join(pattern.get("detail-type", []))]
    for key, values in detail.items():
        shown = sorted({json.dumps(v) if isinstance(v, dict) else str(v) for v in values})
        parts.append(f"{key} in {', '.join(shown)}")
    return "; ".join(parts)


def describe_result(delivery: Delivery) -> str:
    """What one invocation did, in a few words."""
    if delivery.error:
        return f"ERROR {_clip(delivery.error, 120)}"
    result = delivery.result if isinstance(delivery.result, dict) else {}
    if result.get("outcome") == "rejected":
        return f"rejected ({result.get('reason')})"
    if result.get("duplicate"):
        return "duplicate delivery: already handled, nothing done"
    parts = [_handle_result(r) for r in result.get("results", [])]
    return "; ".join(parts) or str(result.get("outcome", "-"))


def _handle_result(result: dict[str, Any]) -> str:
    text = str(result.get("outcome"))
    if result.get("actions"):
        text += " [" + ", ".join(result["actions"]) + "]"
    if result.get("status"):
        text += f", incident {result.get('status')}"
    if result.get("notified"):
        text += ", notified"
    for sub in result.get("delegated", []):
        text += f"; delegated to {sub.get('resource', '').split('#', 1)[-1][-40:]}: {_handle_result(sub)}"
    return text


def describe_sweep(delivery: Delivery) -> str:
    """A sweep that found something, in one line ("" when it found nothing worth showing)."""
    if delivery.error:
        return f"ERROR {_clip(delivery.error, 120)}"
    result = delivery.result if isinstance(delivery.result, dict) else {}
    shown = []
    for item in result.get("items", []):
        if item.get("outcome") in ("unchanged", "ignored", "nothing-open", "out-of-scope", "busy"):
            continue
        resource = str(item.get("resource", "")).split("#", 1)[-1]
        actions = f" [{', '.join(item['actions'])}]" if item.get("actions") else ""
        shown.append(
            f"{_short(resource)} {item.get('condition')} ({item.get('kind')}) -> {item.get('outcome')}{actions}"
        )
    return "; ".join(shown)


# ------------------------------------------------------------------------------------------------ scenarios
def _run_name(key: str) -> str:
    return f"demo-{key}-{datetime.now(UTC).strftime('%H%M%S%f')[:8]}"


def _execution(demo: Demo, arn: str) -> dict[str, Any]:
    result: dict[str, Any] = demo.sfn.describe_execution(executionArn=arn)
    return result


def _actions(incident: Incident | None, step: str | None = None) -> list[str]:
    if incident is None:
        return []
    return [str(e.step) for e in incident.timeline if e.kind == "action" and (step is None or e.step == step)]


# --- 1. stuck raw crawler stalls a pipeline run ---------------------------------------------------------------
def _stuck_crawler_start(demo: Demo) -> dict[str, Any]:
    from watchdogs_local import faults  # noqa: PLC0415

    assert demo.lakehouse is not None
    crawler = demo.lakehouse.names.crawler("raw")
    faults.hold_next_crawl(crawler)
    demo.log("fault", f"the next crawl of {crawler} will hang in RUNNING")
    arn = demo.lakehouse.start_pipeline(demo.sfn, _run_name("stuck-crawler"))
    demo.log("start", f"pipeline run {_short(arn)} (runbook: Manually Trigger a Pipeline Run)")
    return {"crawler": crawler, "execution": arn}


def _stuck_crawler_settled(demo: Demo, ctx: dict[str, Any]) -> bool:
    if _execution(demo, ctx["execution"])["status"] == "RUNNING":
        return False
    incident = demo.incident("crawler", ctx["crawler"], "STUCK")
    return incident is not None and incident.status.value == "resolved"


def _stuck_crawler_check(demo: Demo, ctx: dict[str, Any]) -> list[Check]:
    incident = demo.incident("crawler", ctx["crawler"], "STUCK")
    execution = _execution(demo, ctx["execution"])
    actions = _actions(incident)
    row = demo.metadata_status(ctx["execution"])
    return [
        Check(
            "the stuck crawler was stopped, then restarted, once each",
            actions.count("stop_crawler") == 1 and actions.count("start_crawler") == 1,
            ", ".join(actions) or "no action",
        ),
        Check(
            "the same pipeline run completed",
            execution["status"] == "SUCCEEDED" and int(execution.get("redriveCount", 0)) == 0,
            f"{_short(ctx['execution'])} {execution['status']}",
        ),
        Check("its metadata row says SUCCEEDED", row == "SUCCEEDED", f"status={row}"),
        Check(
            "the incident is resolved",
            incident is not None and incident.status.value == "resolved",
            incident.status.value if incident else "no incident",
        ),
    ]


# --- 2. stuck Athena query -------------------------------------------------------------------------------------
def _stuck_query_start(demo: Demo) -> dict[str, Any]:
    from watchdogs_local import faults  # noqa: PLC0415

    assert demo.lakehouse is not None
    workgroup = demo.lakehouse.names.workgroup
    query_id = demo.athena.start_query_execution(
        QueryString="SELECT user_id, count(*) FROM curated.fct_events CROSS JOIN curated.fct_events GROUP BY 1",
        WorkGroup=workgroup,
    )["QueryExecutionId"]
    faults.hold_query(query_id)
    demo.log("fault", f"ad-hoc query {query_id[:8]} in {workgroup} hangs in RUNNING")
    return {"query": query_id, "workgroup": workgroup}


def _query_state(demo: Demo, query_id: str) -> str:
    return str(demo.athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]["State"])


def _stuck_query_settled(demo: Demo, ctx: dict[str, Any]) -> bool:
    incident = demo.incident("query", ctx["query"], "STUCK")
    return _query_state(demo, ctx["query"]) == "CANCELLED" and incident is not None and not incident.lease_owner


def _stuck_query_check(demo: Demo, ctx: dict[str, Any]) -> list[Check]:
    incident = demo.incident("query", ctx["query"], "STUCK")
    state = _query_state(demo, ctx["query"])
    actions = _actions(incident)
    return [
        Check("the query was cancelled", state == "CANCELLED", f"state {state}"),
        Check("by exactly one StopQueryExecution", actions == ["stop_query"], ", ".join(actions) or "no action"),
        Check(
            "the subscriber was told",
            bool(demo.notifications_for(ctx["query"])),
            f"{len(demo.notifications_for(ctx['query']))} notification(s)",
        ),
    ]


# --- 3. crawler failing with AccessDenied -----------------------------------------------------------------------
def _access_denied_start(demo: Demo) -> dict[str, Any]:
    from watchdogs_local import faults  # noqa: PLC0415

    assert demo.lakehouse is not None
    crawler = demo.lakehouse.names.crawler("processed")
    faults.hold_next_crawl(crawler)
    demo.log("fault", f"the crawler role of {crawler} lost s3:GetObject: its next crawl fails with AccessDenied")
    demo.glue.start_crawler(Name=crawler)
    demo.log("start", f"aws glue start-crawler --name {crawler} (runbook: Manually Run a Crawler)")
    demo.after(1.0, lambda: faults.fail_crawl(crawler, ACCESS_DENIED))
    return {"crawler": crawler, "crawls": faults.crawl_count(crawler)}


def _access_denied_settled(demo: Demo, ctx: dict[str, Any]) -> bool:
    incident = demo.incident("crawler", ctx["crawler"], "FAILED")
    return incident is not None and incident.status.value == "escalated"


def _access_denied_check(demo: Demo, ctx: dict[str, Any]) -> list[Check]:
    from watchdogs_local import faults  # noqa: PLC0415

    incident = demo.incident("crawler", ctx["crawler"], "FAILED")
    crawls = faults.crawl_count(ctx["crawler"])
    notes = demo.notifications_for(ctx["crawler"])
    return [
        Check(
            "escalated as Access Denied (IAM permissions)",
            incident is not None
            and incident.status.value == "escalated"
            and incident.classification == "access-denied",
            f"{incident.status.value}/{incident.classification}" if incident else "no incident",
        ),
        Check("not retried: no StartCrawler", not _actions(incident) and crawls == ctx["crawls"], f"{crawls} crawl(s)"),
        Check(
            "the subscriber got the escalation with the runbook's fix",
            any(n["Body"].get("status") == "escalated" and n["Body"].get("advice") for n in notes),
            f"{len(notes)} notification(s)",
        ),
    ]


# --- 4. a run failing in the dbt tests step ---------------------------------------------------------------------
def _dbt_tests_start(demo: Demo) -> dict[str, Any]:
    from watchdogs_local import faults  # noqa: PLC0415

    assert demo.lakehouse is not None
    faults.fail_queries("-- dbt tests", error_message=TESTS_FAILED)
    demo.log("fault", "the dbt tests query will fail: 3 of 23 data-quality tests fail")
    arn = demo.lakehouse.start_pipeline(demo.sfn, _run_name("dbt-tests"))
    demo.log("start", f"pipeline run {_short(arn)}")
    return {"execution": arn}


def _dbt_tests_settled(demo: Demo, ctx: dict[str, Any]) -> bool:
    if _execution(demo, ctx["execution"])["status"] == "RUNNING":
        return False
    incident = demo.incident("execution", ctx["execution"], "FAILED")
    return incident is not None and demo.metadata_status(ctx["execution"]) != "RUNNING"


def _dbt_tests_check(demo: Demo, ctx: dict[str, Any]) -> list[Check]:
    from watchdogs_local import faults  # noqa: PLC0415

    faults.clear_query_faults()
    execution = _execution(demo, ctx["execution"])
    incident = demo.incident("execution", ctx["execution"], "FAILED")
    actions = _actions(incident)
    row = demo.metadata_status(ctx["execution"])
    notes = demo.notifications_for(ctx["execution"])
    return [
        Check("the run failed in RunDbtTests", execution["status"] == "FAILED", execution["status"]),
        Check(
            "not retried (no redrive: failed tests are a data problem)",
            "redrive_execution" not in actions and int(execution.get("redriveCount", 0)) == 0,
            f"redriveCount={execution.get('redriveCount', 0)}",
        ),
        Check("the metadata row was reconciled RUNNING -> FAILED", row == "FAILED", f"status={row}"),
        Check("the owners were notified", bool(notes), f"{len(notes)} notification(s)"),
    ]


# --- 5. a storm of duplicate events -------------------------------------------------------------------------------
STORM_REDELIVERIES = 10
STORM_COPIES = 10


def _storm_start(demo: Demo) -> dict[str, Any]:
    from watchdogs_local import faults  # noqa: PLC0415

    assert demo.lakehouse is not None
    crawler = demo.lakehouse.names.crawler("curated")
    faults.hold_next_crawl(crawler)
    demo.log("fault", f"the next crawl of {crawler} fails transiently (ThrottlingException)")
    demo.glue.start_crawler(Name=crawler)
    demo.after(1.0, lambda: faults.fail_crawl(crawler, THROTTLED))
    demo.log("start", f"aws glue start-crawler --name {crawler}; its failure event will arrive as a storm")
    return {"crawler": crawler, "crawls": faults.crawl_count(crawler), "stormed": False}


def _storm_amplify(demo: Demo, ctx: dict[str, Any], event: dict[str, Any]) -> list[dict[str, Any]]:
    """EventBridge delivers at least once: the failure arrives again and again, with the same id and new ones."""
    import uuid  # noqa: PLC0415

    detail = event.get("detail", {})
    if ctx["stormed"] or detail.get("crawlerName") != ctx["crawler"] or detail.get("state") != "Failed":
        return [event]
    ctx["stormed"] = True
    return [event] * STORM_REDELIVERIES + [{**event, "id": str(uuid.uuid4())} for _ in range(STORM_COPIES)]


def _storm_settled(demo: Demo, ctx: dict[str, Any]) -> bool:
    incident = demo.incident("crawler", ctx["crawler"], "FAILED")
    return ctx["stormed"] and incident is not None and incident.status.value == "resolved"


def _storm_check(demo: Demo, ctx: dict[str, Any]) -> list[Check]:
    from watchdogs_local import faults  # noqa: PLC0415

    incident = demo.incident("crawler", ctx["crawler"], "FAILED")
    actions = _actions(incident)
    crawls = faults.crawl_count(ctx["crawler"])
    notes = demo.notifications_for(ctx["crawler"])
    return [
        Check("the storm was delivered", ctx["stormed"], f"{STORM_REDELIVERIES + STORM_COPIES} deliveries"),
        Check("exactly one action: one StartCrawler", actions == ["start_crawler"], ", ".join(actions) or "no action"),
        Check("one restart, which succeeded", crawls == ctx["crawls"] + 1, f"{crawls - ctx['crawls']} restart(s)"),
        Check(
            "one notification per transition, not per delivery",
            0 < len(notes) <= 3,
            f"{len(notes)} notification(s) for {STORM_REDELIVERIES + STORM_COPIES} deliveries",
        ),
    ]


# --- 6. a run stuck in a step with nothing to heal -------------------------------------------------------------
#: the held step: the runbook's "RunDbtStaging - Lambda executes staging views via Athena", hung before any query
STUCK_RUN_STATE = "RunDbtStaging"


def _stuck_run_start(demo: Demo) -> dict[str, Any]:
    from watchdogs_local import faults  # noqa: PLC0415

    assert demo.lakehouse is not None
    name = _run_name("stuck-run")
    arn = demo.lakehouse.names.execution_arn(name)
    faults.hold_state(arn, STUCK_RUN_STATE)
    demo.log("fault", f"the next run's {STUCK_RUN_STATE} task hangs before it submits a query: no crawler, no query")
    started = demo.lakehouse.start_pipeline(demo.sfn, name)
    threshold = DEMO_PARAMETERS["ExecutionStuckSeconds"]
    demo.log("start", f"pipeline run {_short(started)}: stuck once it has run {threshold} s (ExecutionStuckSeconds)")
    return {"execution": started}


def _stuck_run_settled(demo: Demo, ctx: dict[str, Any]) -> bool:
    if _execution(demo, ctx["execution"])["status"] == "RUNNING":
        return False
    incident = demo.incident("execution", ctx["execution"], "STUCK")
    return (
        incident is not None
        and not incident.lease_owner
        and demo.metadata_status(ctx["execution"]) != "RUNNING"
        and bool(demo.notifications_for(ctx["execution"]))
    )


def _stuck_run_check(demo: Demo, ctx: dict[str, Any]) -> list[Check]:
    execution = _execution(demo, ctx["execution"])
    incident = demo.incident("execution", ctx["execution"], "STUCK")
    actions = _actions(incident)
    row = demo.metadata_status(ctx["execution"])
    notes = demo.notifications_for(ctx["execution"])
    return [
        Check(
            f"the run stuck in {STUCK_RUN_STATE} was stopped",
            execution["status"] == "ABORTED",
            f"{_short(ctx['execution'])} {execution['status']}" + _detected_after(demo, incident, execution),
        ),
        Check(
            "by exactly one StopExecution (runbook: 3. Force stop the execution)",
            actions.count("stop_execution") == 1,
            ", ".join(actions) or "no action",
        ),
        Check("its metadata row was reconciled (no longer RUNNING)", row not in (None, "RUNNING"), f"status={row}"),
        Check("the subscriber was told", bool(notes), f"{len(notes)} notification(s)"),
    ]


def _detected_after(demo: Demo, incident: Incident | None, execution: dict[str, Any]) -> str:
    """How long after its threshold the run's STUCK incident was detected ("" when it was not)."""
    if incident is None:
        return ""
    detected = datetime.fromisoformat(incident.detected_at.replace("Z", "+00:00"))
    started: datetime = execution["startDate"]
    lag = (detected - started).total_seconds() - float(DEMO_PARAMETERS["ExecutionStuckSeconds"])
    return f", detected {lag:+.1f} s after its threshold"


SCENARIOS: list[Scenario] = [
    Scenario(
        key="stuck-crawler",
        title="A stuck raw crawler stalls a pipeline run -> healed, the same run completes",
        runbook='Glue Crawler Operations > "Reset crawler if stuck"; Pipeline Stuck in RUNNING State > 1',
        start=_stuck_crawler_start,
        settled=_stuck_crawler_settled,
        check=_stuck_crawler_check,
        timeout=30,
        sabotage=("glue", "StopCrawler"),
    ),
    Scenario(
        key="stuck-query",
        title="A stuck Athena query -> cancelled",
        runbook="Pipeline Stuck in RUNNING State > 2. If stuck on Athena query",
        start=_stuck_query_start,
        settled=_stuck_query_settled,
        check=_stuck_query_check,
        timeout=15,
        sabotage=("athena", "StopQueryExecution"),
    ),
    Scenario(
        key="access-denied",
        title="A crawler fails with AccessDenied -> escalated, not retried",
        runbook="Troubleshoot Crawler Failures > Step 2: Access Denied | IAM permissions",
        start=_access_denied_start,
        settled=_access_denied_settled,
        check=_access_denied_check,
        timeout=10,
        sabotage=("sns", "Publish"),
        linger=2.0,
    ),
    Scenario(
        key="dbt-tests",
        title="A run fails in the dbt tests step -> owners notified, not retried, metadata reconciled",
        runbook="dbt Model Failures; DynamoDB Metadata Query Issues",
        start=_dbt_tests_start,
        settled=_dbt_tests_settled,
        check=_dbt_tests_check,
        timeout=30,
        sabotage=("dynamodb", "UpdateItem"),
        linger=1.0,
    ),
    Scenario(
        key="storm",
        title="A storm of duplicate events -> one action",
        runbook="(EventBridge delivers at least once) Troubleshoot Crawler Failures > transient failure",
        start=_storm_start,
        settled=_storm_settled,
        check=_storm_check,
        timeout=15,
        sabotage=("glue", "StartCrawler"),
        amplify=_storm_amplify,
    ),
    Scenario(
        key="stuck-run",
        title="A run hangs in a step with nothing to heal -> stopped, metadata reconciled",
        runbook="Pipeline Stuck in RUNNING State > 3. Force stop the execution",
        start=_stuck_run_start,
        settled=_stuck_run_settled,
        check=_stuck_run_check,
        timeout=float(DEMO_PARAMETERS["ExecutionStuckSeconds"]) + 20,
        sabotage=("states", "StopExecution"),
        linger=3.0,  # a sweep (every 2 s) sees the run ABORTED and closes its STUCK incident
    ),
]


# ------------------------------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="watchdogs-demo",
        description="Deploy template.yaml into an embedded emulator and watch the watchdogs heal the lakehouse.",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="SCENARIO",
        help="play only this scenario (repeatable): " + ", ".join(s.key for s in SCENARIOS),
    )
    parser.add_argument(
        "--break",
        dest="sabotage",
        action="append",
        metavar="SCENARIO",
        default=[s for s in os.environ.get("WATCHDOGS_DEMO_BREAK", "").split(",") if s],
        help="sabotage a scenario (deny the watchdogs the permission it needs): the demo must then fail",
    )
    parser.add_argument("--alerts", action="store_true", help="print every alert body the subscriber received")
    parser.add_argument("--verbose", action="store_true", help="also the rules, per-incident timelines, API calls")
    parser.add_argument("--sweep-every", type=float, default=SWEEP_EVERY_SECONDS, help="seconds between sweeps")
    parser.add_argument("--no-timers", action="store_true", help="stuck timers never fire: the sweep alone detects")
    parser.add_argument("--template", type=Path, default=TEMPLATE, help="the SAM template to deploy")
    args = parser.parse_args(argv)
    demo = Demo(
        only=args.only,
        sabotage=set(args.sabotage),
        sweep_every=args.sweep_every,
        template=args.template,
        verbose=args.verbose,
        alerts=args.alerts or os.environ.get("ALERTS", "") not in ("", "0"),
        timers=not args.no_timers,
    )
    return demo.run()


if __name__ == "__main__":
    sys.exit(main())
