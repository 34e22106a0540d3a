"""Random histories of the Glue crawler watchdog through the real handlers, against the moto emulator.

The same idea as ``test_crawler_histories.py``, without fakes: every step goes through the deployed entry points
(``watchdogs.handlers.glue.lambda_handler`` with real-shaped events built from ``events/glue-crawler-*.json``, and
``watchdogs.handlers.sweep.lambda_handler`` with ``events/sweep-scheduled.json``), their real boto3 clients, the
real DynamoDB incident store and SNS, all answered by the in-process moto server of ``tests/conftest.py``.

A hypothesis state machine (one rule drawing each event from a weighted menu, ``EVENTS``) interleaves: crawls
that hang past the threshold (``set_crawl`` RUNNING, backdated), fail (transient or access denied) or succeed,
their events delivered 0..3 times (lost, duplicated); sweeps; time passing; a one-shot fault on the next
StartCrawler/StopCrawler (throttle, 5xx, AccessDenied, connect timeout before the call; read timeout or 5xx after
the call landed), injected by botocore hooks on the runtime's session; SNS outages (the alert topic deleted, later
recreated with its subscriber); mode switches (``WATCHDOG_MODE`` and ``reset_runtime()``); operator
acknowledgements (``IncidentStore.acknowledge``); stuck and step timers (docs/timers.md: a hang's Started event,
delivered 0..2 times, makes the stuck timer; stopping a crawler arms a step timer) fired when due or early, each
delivered once or twice, through the Glue function as Scheduler would. Checked from observable effects
only (the crawler in moto, the mutating calls seen by a botocore hook, the incident items in the table, the
messages at the SQS subscriber, which drops repeats by ``message_id``):

* no StartCrawler/StopCrawler in observe mode, none without its intent written on the incident first, none for an
  incident that was escalated and not acknowledged (its version just before the claim that led to the call was
  held; every version is logged from the table after each write the watchdogs make);
* the per-resource budget (``BUDGET_MAX_ACTIONS`` per ``BUDGET_WINDOW_SECONDS``) is never exceeded by calls that
  landed;
* no incident is resolved unless the crawler's last crawl SUCCEEDED;
* every stored item stays under 64 KB;
* at the end, with SNS back, faults gone and two sweeps: no incident has pending ``outbox`` or ``intents``, and
  every message id ever enqueued (``<incident_id>:<n>`` for n in 1..``seq``, less ``outbox_dropped``) was
  received exactly once by id.

Time: the handlers and moto read the same clock, shifted forward by ``Tick`` events (``now_utc`` of the incident
modules, the engine's and the sweep's default clock, and moto's ``utcnow``), so retry back-offs, holds, leases and
budget windows run out as they would over hours, and the moto crawl's elapsed time grows with them. The budget is
2 actions per hour, so that short histories exhaust it.

Budget: fixed and derandomized in the gate (``PROPERTY_MOTO_EXAMPLES`` histories, default 30, of
``PROPERTY_MOTO_STEPS`` steps, default 15; about a minute on 2 cores); ``PROPERTY_MOTO_EXAMPLES=300 make soak``
runs more (``make soak`` sets ``PROPERTY_RANDOM=1``: fresh histories each run).
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from tests.conftest import INCIDENT_TABLE, TOPIC_ARN, TOPIC_NAME
from tests.support.aws import ACCOUNT, REGION, Subscriber, create_tables_from_template, load_event

if TYPE_CHECKING:
    from tests.conftest import FakeContext
    from watchdogs.incidents import Incident

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("PROPERTY_MOTO_EXAMPLES", "30"))
STEPS = int(os.environ.get("PROPERTY_MOTO_STEPS", "15"))
CRAWLERS = {"raw": "lakehouse-sandbox-raw-crawler", "curated": "lakehouse-sandbox-curated-crawler"}
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lakehouse-sandbox-glue-crawler-role"
BUDGET_MAX, WINDOW, HOLD = 2, 3600, 7200  # a small budget: exhausted within a short history
STUCK_SECONDS, STOPPING_SECONDS = 600, 300
TIMER_GROUP = "watchdogs-timers"
#: what a timer firing may answer (never a rejection: the watchdogs made every schedule this test fires)
TIMER_OUTCOMES = {"stuck", "not-stuck", "resumed", "step-done", "error"}
ITEM_LIMIT = 64_000
MUTATING = ("StartCrawler", "StopCrawler")
#: one-shot faults on the next mutating call: the first four never reach the crawler, the last two land first
FAULTS = ("throttle", "5xx", "denied", "timeout-before", "timeout-after", "5xx-after")
ERRORS = {
    "transient": load_event("glue-crawler-failed-throttled")["detail"]["errorMessage"],
    "denied": load_event("glue-crawler-failed-access-denied")["detail"]["errorMessage"],
}
STATS = {
    "histories": 0,
    "steps": 0,
    "mutating_calls": 0,  # StartCrawler/StopCrawler the watchdogs made
    "landed": 0,  # of which reached the crawler
    "faults": 0,  # faults armed
    "faults_hit": 0,  # of which a mutating call met
    "sns_outages": 0,
    "messages": 0,  # distinct message ids received
    "repeats": 0,  # re-sends of a message id already received (dropped by the subscriber)
    "resolved": 0,
    "escalated": 0,
    "timers_fired": 0,  # timer deliveries (stuck and step timers, copies included)
    "step_timers_fired": 0,
    "seconds": 0,
}

RULES: Counter[str] = Counter()


def step(rule_name: str) -> None:
    STATS["steps"] += 1
    RULES[rule_name] += 1


ENVIRONMENT = {
    "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
    "SCOPE_STATE_MACHINE_ARN_PREFIXES": "",  # crawlers only: the sweep lists nothing else
    "SCOPE_WORKGROUPS": "",
    "PIPELINE_WORKGROUP": "",
    "METADATA_TABLE": "",
    "CRAWLER_STUCK_SECONDS": str(STUCK_SECONDS),
    "CRAWLER_STOPPING_SECONDS": str(STOPPING_SECONDS),
    "BUDGET_MAX_ACTIONS": str(BUDGET_MAX),
    "BUDGET_WINDOW_SECONDS": str(WINDOW),
    "QUARANTINE_SECONDS": str(HOLD),
    "LEASE_SECONDS": "120",
    "WATCHDOG_MODE": "remediate",
    "ALERT_TOPIC_ARN": TOPIC_ARN,
    # stuck and step timers (docs/timers.md): made in this group, fired by the ``Fire`` event
    "TIMER_SCHEDULE_GROUP": TIMER_GROUP,
    "TIMER_TARGETS": json.dumps({"crawler": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:watchdogs-glue"}),
    "TIMER_ROLE_ARN": f"arn:aws:iam::{ACCOUNT}:role/watchdogs-timers",
    "STEP_FOLLOW_UP_SECONDS": "30",
}


# ------------------------------------------------------------------------------------------------ the clock
@dataclass
class ShiftedClock:
    """Wall-clock time shifted forward by what ``Tick`` events advanced (never backwards)."""

    shift: float = 0.0

    def advance(self, seconds: float) -> None:
        self.shift += seconds

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.shift)

    def moto_now(self) -> datetime:  # moto keeps naive UTC datetimes
        return datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=self.shift)


def shift_time(monkeypatch: pytest.MonkeyPatch, clock: ShiftedClock) -> None:
    """Point every clock the crawler watchdog and moto's Glue read at ``clock``."""
    import moto.core.utils
    import moto.glue.models

    import watchdogs.engine
    import watchdogs.incidents
    import watchdogs.incidents.record
    import watchdogs.incidents.store
    import watchdogs.sweep
    import watchdogs.timer_check
    from watchdogs.engine import Engine
    from watchdogs.sweep import Sweep

    for module in (
        watchdogs.incidents,
        watchdogs.incidents.record,
        watchdogs.incidents.store,
        watchdogs.engine,
        watchdogs.sweep,
        watchdogs.timer_check,
    ):
        monkeypatch.setattr(module, "now_utc", clock.now)
    # the engine's and the sweep's ``clock`` defaults were bound to now_utc when their modules were imported
    for init in (Engine.__init__, Sweep.__init__):
        defaults = init.__kwdefaults__
        assert defaults is not None
        assert "clock" in defaults
        monkeypatch.setitem(defaults, "clock", clock.now)
    monkeypatch.setattr(moto.core.utils, "utcnow", clock.moto_now)
    monkeypatch.setattr(moto.glue.models, "utcnow", clock.moto_now)


# ------------------------------------------------------------------------------------------------ observation
@dataclass
class Call:
    operation: str
    crawler: str
    at: datetime


@dataclass
class World:
    """What the harness sees and injects, shared by the botocore hooks and the state machine."""

    endpoint: str
    context: FakeContext
    clock: ShiftedClock
    ddb: Any
    sns: Any
    sqs: Any
    glue: Any
    scheduler: Any
    observe: bool = False
    faults: list[str] = field(default_factory=list)
    attempts: list[Call] = field(default_factory=list)  # every StartCrawler/StopCrawler the watchdogs made
    landed: list[Call] = field(default_factory=list)  # those whose effect reached the crawler
    log: list[Incident] = field(default_factory=list)  # every version of every incident that landed
    logged: set[tuple[str, int]] = field(default_factory=set)
    resolved: set[str] = field(default_factory=set)
    violations: list[str] = field(default_factory=list)
    subscriber: Subscriber | None = None

    # --- the incident table ----------------------------------------------------------------------------
    def items(self) -> list[tuple[dict[str, Any], int]]:
        """The incident table's items (wire format) and their DynamoDB sizes, read from the emulator in-process
        (no API call: this runs after every write the watchdogs make)."""
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[ACCOUNT][REGION].get_table(INCIDENT_TABLE)
        return [(item.to_json()["Attributes"], item.size()) for item in table.all_items()]

    def record_table(self) -> None:
        """Log every incident version not seen yet; check item size and "resolved only when recovered"."""
        from watchdogs.incidents.store import incident_from_item

        for item, size in self.items():
            if size >= ITEM_LIMIT:
                self.violations.append(f"item {item['pk']['S']} {item['sk']['S']} is {size} bytes")
            if "incident_id" not in item:
                continue  # the budget item
            incident = incident_from_item(item)
            key = (incident.incident_id, incident.version)
            if key in self.logged:
                continue
            self.logged.add(key)
            self.log.append(incident)
            if incident.status.value == "resolved" and incident.incident_id not in self.resolved:
                self.resolved.add(incident.incident_id)
                STATS["resolved"] += 1
                last = last_finished_crawl(incident.resource_id)
                if last != "SUCCEEDED":
                    self.violations.append(
                        f"{incident.resource_id} {incident.condition.value} incident resolved while its last crawl "
                        f"is {last}: {incident.summary}"
                    )

    # --- botocore hooks on the runtime's session --------------------------------------------------------
    def before_mutation(self, model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> Any:
        name = json.loads(params["body"])["Name"]
        call = Call(model.name, name, self.clock.now())
        self.attempts.append(call)
        self._check_guarded(call)
        fault = self.faults.pop(0) if self.faults else None
        STATS["faults_hit"] += fault is not None
        context["watchdogs_fault"] = fault
        if fault == "timeout-before":
            from botocore.exceptions import ConnectTimeoutError

            raise ConnectTimeoutError(endpoint_url=self.endpoint)
        refusal = {
            "throttle": (400, "ThrottlingException", "Rate exceeded"),
            "5xx": (500, "InternalServiceException", "Internal service error"),
            "denied": (400, "AccessDeniedException", f"not authorized to perform glue:{model.name}"),
        }.get(fault or "")
        if refusal is None:
            return None
        from botocore.awsrequest import AWSResponse

        status, code, message = refusal
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return AWSResponse(self.endpoint, status, {}, None), parsed

    def after_mutation(self, http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        fault = context.get("watchdogs_fault")
        if fault in {"throttle", "5xx", "denied"} or http_response.status_code >= 300:
            return
        self.landed.append(self.attempts[-1])
        if fault == "timeout-after":
            from botocore.exceptions import ReadTimeoutError

            raise ReadTimeoutError(endpoint_url=self.endpoint)
        if fault == "5xx-after":
            from botocore.exceptions import ClientError

            error = {"Code": "InternalServiceException", "Message": "Internal service error"}
            raise ClientError({"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500}}, model.name)

    def before_write(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["watchdogs_incident_write"] = INCIDENT_TABLE in str(params.get("body", ""))

    def after_write(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if context.get("watchdogs_incident_write") and http_response.status_code < 300:
            self.record_table()

    def install(self, session: boto3.Session) -> None:
        for operation in MUTATING:
            session.events.register(f"before-call.glue.{operation}", self.before_mutation)
            session.events.register(f"after-call.glue.{operation}", self.after_mutation)
        for operation in ("PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"):
            session.events.register(f"before-call.dynamodb.{operation}", self.before_write)
            session.events.register(f"after-call.dynamodb.{operation}", self.after_write)

    # --- the guards ---------------------------------------------------------------------------------------
    def _check_guarded(self, call: Call) -> None:
        if self.observe:
            self.violations.append(f"{call.operation} {call.crawler} in observe mode")
        action = {"StartCrawler": "start_crawler", "StopCrawler": "stop_crawler"}[call.operation]
        latest = {i.incident_id: i for i in self.log if i.resource_id == call.crawler}
        claims = [i for i in latest.values() if any(t.action == action for t in i.intents)]
        if not claims:
            self.violations.append(f"{call.operation} {call.crawler} without its intent stored on an incident first")
            return
        claim = claims[-1]
        before = [i for i in self.log if i.incident_id == claim.incident_id and i.version < claim.version]
        prior = before[-1] if before else None
        if prior is not None and held(prior, call.at):
            self.violations.append(
                f"{call.operation} {call.crawler} while its {prior.condition.value} incident was escalated and not "
                f"acknowledged (hold until {prior.hold_until}): {prior.summary}"
            )


def held(incident: Incident, at: datetime) -> bool:
    """Escalated, and neither acknowledged (an ack sets ``hold_until`` to its time) nor past its hold; judged here,
    not by the product's own ``is_held``."""
    if incident.status.value != "escalated":
        return False
    return incident.hold_until is None or datetime.fromisoformat(incident.hold_until) > at


def last_finished_crawl(name: str) -> str | None:
    """Glue's ``LastCrawl.Status`` of the crawler, read from moto's model (not through the watchdogs)."""
    from watchdogs_local.moto_ext.glue import get_crawler_model

    status = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED", "FAILED": "FAILED"}
    finished = [c.status for c in get_crawler_model(name).crawls if c.status not in {"RUNNING", "STOPPING"}]
    return status.get(finished[-1], finished[-1]) if finished else None


def current_crawl(name: str) -> str:
    """READY, RUNNING or STOPPING, from moto's model."""
    from watchdogs_local.moto_ext.glue import get_crawler_model

    crawls = get_crawler_model(name).crawls
    return crawls[-1].status if crawls and crawls[-1].status in {"RUNNING", "STOPPING"} else "READY"


# ------------------------------------------------------------------------------------------------ the menu
@dataclass(frozen=True)
class Hang:
    crawler: str
    running_for: int
    sweep: bool
    fault: str | None
    starts: int = 0  # how often its Started event was delivered (0: lost; it makes the stuck timer)


@dataclass(frozen=True)
class Fire:
    """EventBridge Scheduler fires the timers that are due (``early``: every one, as if the clock ran ahead), each
    delivered ``copies`` times (at least once)."""

    early: bool
    copies: int


@dataclass(frozen=True)
class Fail:
    crawler: str
    kind: str  # transient | denied
    deliveries: int


@dataclass(frozen=True)
class Succeed:
    crawler: str
    deliveries: int


@dataclass(frozen=True)
class Tick:
    seconds: int
    sweep: bool


@dataclass(frozen=True)
class Fault:
    fault: str


@dataclass(frozen=True)
class Sns:
    down: bool


@dataclass(frozen=True)
class SwitchMode:
    pass


@dataclass(frozen=True)
class Ack:
    crawler: str


_crawler = st.sampled_from(sorted(CRAWLERS))
_deliveries = st.integers(min_value=0, max_value=3)
_hang = st.builds(
    Hang,
    _crawler,
    st.sampled_from([STUCK_SECONDS + 100, 2 * STUCK_SECONDS]),
    st.booleans(),
    st.sampled_from((None, *FAULTS)),
    st.integers(min_value=0, max_value=2),
)
_fire = st.builds(Fire, st.booleans(), st.integers(min_value=1, max_value=2))
_fail = st.builds(Fail, _crawler, st.sampled_from(["transient", "denied"]), _deliveries)
_succeed = st.builds(Succeed, _crawler, _deliveries)
_tick = st.builds(Tick, st.sampled_from([0, 30, 130, 400, 700, 1800, 4000]), st.booleans())
#: one rule draws each event from this menu, weighted by repetition (hypothesis' swarm testing switches whole rules
#: off per history, which with a few dozen short histories leaves many with nothing to heal); the first and last
#: branches are drawn a little more often
EVENTS = st.one_of(
    _hang,
    _hang,
    _succeed,
    _succeed,
    _tick,
    _tick,
    st.builds(Fault, st.sampled_from(FAULTS)),
    st.builds(Sns, st.booleans()),
    st.just(SwitchMode()),
    st.builds(Ack, _crawler),
    _fire,
    _fire,
    _fail,
    _fail,
    _fail,
)

WORLD: World | None = None


def world() -> World:
    assert WORLD is not None, "run through test_moto_crawler_histories"
    return WORLD


# ------------------------------------------------------------------------------------------------ the machine
class MotoCrawlerHistories(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        from moto.moto_api import state_manager

        from watchdogs.runtime import reset_runtime

        w = self.w = world()
        requests.post(f"{w.endpoint}/moto-api/reset", timeout=10)
        state_manager.set_transition(model_name="glue::crawl", transition={"progression": "manual", "times": 10**9})
        os.environ["WATCHDOG_MODE"] = "remediate"
        reset_runtime()
        w.observe, w.faults, w.attempts, w.landed, w.violations = False, [], [], [], []
        w.log, w.logged, w.resolved = [], set(), set()
        create_tables_from_template(w.ddb, {"IncidentTable": INCIDENT_TABLE})
        w.scheduler.create_schedule_group(Name=TIMER_GROUP)
        queue_url = w.sqs.create_queue(QueueName="alert-subscriber")["QueueUrl"]
        self.queue_arn = w.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        w.subscriber = Subscriber(w.sqs, queue_url)
        self.sns_down = False
        self._topic_up()
        for name in CRAWLERS.values():
            w.glue.create_crawler(
                Name=name,
                Role=ROLE,
                DatabaseName="lakehouse_sandbox_lakehouse",
                Targets={"S3Targets": [{"Path": f"s3://lakehouse-sandbox-data-lake/{name}/"}]},
            )
        self.acks: dict[str, datetime] = {}
        STATS["histories"] += 1

    # --------------------------------------------------------------------------------------------- entry points
    def _deliver(
        self, name: str, sample: str, deliveries: int, error: str | None = None, at: datetime | None = None
    ) -> None:
        """One state change, delivered ``deliveries`` times by EventBridge (0: lost; more: duplicates, same id)."""
        from watchdogs.handlers.glue import lambda_handler

        body = load_event(sample)
        body["id"] = str(uuid.uuid4())
        body["time"] = (at or self.w.clock.now()).strftime("%Y-%m-%dT%H:%M:%SZ")
        body["detail"]["crawlerName"] = name
        if error is not None:
            body["detail"]["errorMessage"] = error
        for _ in range(deliveries):
            result = lambda_handler(json.loads(json.dumps(body)), self.w.context)
            assert result["outcome"] in {"handled", "duplicate-in-progress"}, result

    def _sweep(self) -> None:
        from watchdogs.handlers.sweep import lambda_handler

        body = load_event("sweep-scheduled")
        body["id"] = str(uuid.uuid4())
        body["time"] = self.w.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        result = lambda_handler(body, self.w.context)
        assert result["outcome"] == "swept", result
        assert result["errors"] == [], result["errors"]  # every read answered, no finding crashed

    def _topic_up(self) -> None:
        w = self.w
        w.sns.create_topic(Name=TOPIC_NAME)
        if not w.sns.list_subscriptions_by_topic(TopicArn=TOPIC_ARN)["Subscriptions"]:
            w.sns.subscribe(TopicArn=TOPIC_ARN, Protocol="sqs", Endpoint=self.queue_arn)

    # --------------------------------------------------------------------------------------------- the history
    @rule(event=EVENTS)
    def next(self, event: Any) -> None:
        """One event of the history (one rule drawing from a weighted menu: see ``EVENTS``)."""
        step(type(event).__name__)
        handler = getattr(self, f"_{type(event).__name__.lower()}")
        handler(event)

    def _hang(self, event: Hang) -> None:
        """A crawl (the pipeline's, or the watchdog's own restart) has been RUNNING past the threshold; the sweep
        may come at once (the runbook's main story) and its StopCrawler may meet a fault."""
        from watchdogs_local.moto_ext.glue import set_crawl

        name = CRAWLERS[event.crawler]
        if current_crawl(name) != "STOPPING":
            set_crawl(name, "RUNNING", running_for_seconds=event.running_for)
            began = self.w.clock.now() - timedelta(seconds=event.running_for)
            self._deliver(name, "glue-crawler-started", event.starts, at=began)
        if event.fault is not None:
            self._arm(event.fault)
        if event.sweep:
            self._sweep()

    def _fail(self, event: Fail) -> None:
        """The current crawl fails (a READY crawler runs one that fails at once); its Failed event is delivered
        0..3 times (lost, duplicated)."""
        from watchdogs_local.moto_ext.glue import set_crawl

        name = CRAWLERS[event.crawler]
        if self._stop_finishes(name):
            return
        set_crawl(name, "FAILED", error_message=ERRORS[event.kind])
        sample = "glue-crawler-failed-throttled" if event.kind == "transient" else "glue-crawler-failed-access-denied"
        self._deliver(name, sample, event.deliveries, ERRORS[event.kind])

    def _succeed(self, event: Succeed) -> None:
        """The current crawl succeeds (a READY crawler runs one that succeeds at once); its Succeeded event is
        delivered 0..3 times."""
        from watchdogs_local.moto_ext.glue import set_crawl

        name = CRAWLERS[event.crawler]
        if self._stop_finishes(name):
            return
        set_crawl(name, "SUCCEEDED")
        self._deliver(name, "glue-crawler-succeeded", event.deliveries)

    def _fire(self, event: Fire) -> None:
        """What Scheduler does with each one-shot schedule that is due: deliver its input to its target (the Glue
        function), then delete it (``ActionAfterCompletion: DELETE``)."""
        from watchdogs.handlers.glue import lambda_handler
        from watchdogs_local.timers import due_schedules

        w = self.w
        for schedule in due_schedules(w.scheduler, TIMER_GROUP, w.clock.now(), early=event.early):
            payload = json.loads(schedule["Target"]["Input"])
            for _ in range(event.copies):
                STATS["timers_fired"] += 1
                STATS["step_timers_fired"] += "step" in payload
                result = lambda_handler(dict(payload), w.context)
                assert result["outcome"] in TIMER_OUTCOMES, result
            w.scheduler.delete_schedule(Name=schedule["Name"], GroupName=TIMER_GROUP)

    def _stop_finishes(self, name: str) -> bool:
        """A STOPPING crawl ends CANCELLED instead; Glue's event for that carries nothing the watchdogs act on."""
        from watchdogs_local.moto_ext.glue import set_crawl

        if current_crawl(name) != "STOPPING":
            return False
        set_crawl(name, "CANCELLED")
        return True

    def _tick(self, event: Tick) -> None:
        """Time passes (retry back-offs, leases, holds and budget windows run out); the sweep may come."""
        self.w.clock.advance(event.seconds)
        if event.sweep:
            self._sweep()

    def _arm(self, fault: str) -> None:
        STATS["faults"] += 1
        self.w.faults.append(fault)

    def _fault(self, event: Fault) -> None:
        """The next StartCrawler/StopCrawler meets the fault (one-shot)."""
        self._arm(event.fault)

    def _sns(self, event: Sns) -> None:
        """SNS outage: the alert topic is gone (publishes fail) until it is recreated with its subscriber."""
        if event.down and not self.sns_down:
            STATS["sns_outages"] += 1
            self.w.sns.delete_topic(TopicArn=TOPIC_ARN)
        elif not event.down and self.sns_down:
            self._topic_up()
        self.sns_down = event.down

    def _switchmode(self, event: SwitchMode) -> None:
        """``WATCHDOG_MODE`` flips between remediate and observe; the runtime is rebuilt."""
        from watchdogs.runtime import reset_runtime

        self.w.observe = not self.w.observe
        os.environ["WATCHDOG_MODE"] = "observe" if self.w.observe else "remediate"
        reset_runtime()

    def _ack(self, event: Ack) -> None:
        """``watchdogs-ops ack``: lifts the quarantine, resets the budget, ends the hold of escalated incidents."""
        from watchdogs.incidents import IncidentStore
        from watchdogs.models.domain import ResourceType

        name = CRAWLERS[event.crawler]
        self.acks[name] = self.w.clock.now()
        IncidentStore(INCIDENT_TABLE, self.w.ddb, environment="test").acknowledge(
            ResourceType.CRAWLER, name, operator="oncall@example.com"
        )
        self.w.record_table()

    # --------------------------------------------------------------------------------------------- invariants
    @invariant()
    def guards_held(self) -> None:
        assert self.w.violations == [], self.w.violations

    @invariant()
    def budget_is_never_exceeded(self) -> None:
        for name in CRAWLERS.values():
            since = self.acks.get(name)
            times = [c.at for c in self.w.landed if c.crawler == name and (since is None or c.at > since)]
            for i, start in enumerate(times):
                within = [t for t in times[i:] if (t - start).total_seconds() < WINDOW]
                assert len(within) <= BUDGET_MAX, f"{len(within)} calls landed on {name} within {WINDOW} s"

    def teardown(self) -> None:
        if not hasattr(self, "w"):
            return
        w = self.w
        # SNS recovers, faults stop, the clock passes every retry time and lease: two sweeps settle everything
        if self.sns_down:
            self._topic_up()
            self.sns_down = False
        w.faults.clear()
        for _ in range(2):
            w.clock.advance(1000)
            self._sweep()
        w.record_table()
        STATS["mutating_calls"] += len(w.attempts)
        STATS["landed"] += len(w.landed)
        STATS["escalated"] += len({i.incident_id for i in w.log if i.status.value == "escalated"})
        self.guards_held()
        self.budget_is_never_exceeded()
        assert w.subscriber is not None
        w.subscriber.messages()
        STATS["messages"] += len(w.subscriber.seen_ids)
        STATS["repeats"] += w.subscriber.repeats
        incidents = [i for i in (incident_of(item) for item, _ in w.items()) if i is not None]
        pending = {i.incident_id: (len(i.outbox), len(i.intents)) for i in incidents if i.outbox or i.intents}
        assert not pending, f"pending (outbox, intents) after SNS came back and two sweeps: {pending}"
        expected: set[str] = set()
        for incident in incidents:
            ids = {f"{incident.incident_id}:{n}" for n in range(1, incident.seq + 1)}
            got = ids & w.subscriber.seen_ids
            assert len(got) == incident.seq - incident.outbox_dropped, (
                f"incident {incident.incident_id} ({incident.resource_id} {incident.condition.value}): "
                f"seq {incident.seq}, dropped {incident.outbox_dropped}, received {sorted(got)}"
            )
            expected |= got if incident.outbox_dropped else ids
        enqueued = {o.message_id for version in w.log for o in version.outbox}
        assert w.subscriber.seen_ids == expected, f"unknown messages: {w.subscriber.seen_ids - expected}"
        lost = enqueued - w.subscriber.seen_ids
        dropped = sum(i.outbox_dropped for i in incidents)
        assert len(lost) <= dropped, f"enqueued, never received: {sorted(lost)}"


def incident_of(item: dict[str, Any]) -> Incident | None:
    from watchdogs.incidents.store import incident_from_item

    return incident_from_item(item) if "incident_id" in item else None


# ------------------------------------------------------------------------------------------------ the test
@pytest.mark.timeout(300 + EXAMPLES * STEPS)
def test_moto_crawler_histories(
    aws: dict[str, Any], lambda_context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    from moto.moto_api import state_manager

    import tests.support.aws as aws_support
    from watchdogs.clients import AwsClients
    from watchdogs.runtime import reset_runtime

    global WORLD  # noqa: PLW0603 - hypothesis state machines take no fixtures: the world is handed over here
    for key, value in ENVIRONMENT.items():
        monkeypatch.setenv(key, value)
    clock = ShiftedClock()
    shift_time(monkeypatch, clock)
    WORLD = World(
        endpoint=aws["endpoint"],
        context=lambda_context,
        clock=clock,
        ddb=boto3.client("dynamodb"),
        sns=boto3.client("sns"),
        sqs=boto3.client("sqs"),
        glue=boto3.client("glue"),
        scheduler=boto3.client("scheduler"),
    )
    # the runtime's clients come from one session carrying the hooks (as the api_calls fixture does)
    session = boto3.Session()
    WORLD.install(session)
    original = AwsClients.__init__

    def hooked_init(self: AwsClients, session_arg: Any = None, **overrides: Any) -> None:
        original(self, session_arg or session, **overrides)

    monkeypatch.setattr(AwsClients, "__init__", hooked_init)
    # every history recreates the tables from template.yaml: parse it once
    template = aws_support.load_template()
    monkeypatch.setattr(aws_support, "load_template", lambda: template)
    started = time.monotonic()
    try:
        run_state_machine_as_test(
            MotoCrawlerHistories,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                database=None,
                derandomize=os.environ.get("PROPERTY_RANDOM") != "1",
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        WORLD = None
        state_manager.unset_transition(model_name="glue::crawl")
        reset_runtime()
        STATS["seconds"] += round(time.monotonic() - started)
    print(f"\nmoto histories: {STATS}\nrules: {dict(RULES)}")


def test_zz_report_moto_history_counts() -> None:
    """Prints the budget this run covered (`pytest -s` shows it)."""
    print(f"\nmoto property histories: {STATS}")
    assert STATS["histories"] == 0 or STATS["steps"] > 0
