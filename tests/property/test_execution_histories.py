"""Random histories of the Step Functions pipeline watchdog and the heals it delegates, against in-memory fakes
(Step Functions, Glue, Athena, SNS, the incident store), through one engine with the three runbooks.

A hypothesis state machine interleaves: pipeline runs that start and wait on a crawler (in scope or not), on their
own Athena query, on Athena work run through Lambda (query id unknown) or on nothing, of an in-scope, an opted-out
and an out-of-scope state machine; their children hang or end; runs end SUCCEEDED / FAILED (transient,
permission, data quality, unknown) / TIMED_OUT; every status change (the watchdogs' own StopExecution echo
included) is delivered as a status-change event 0..n times, late and out of order; sweeps visit what they find in
a drawn order (causes first, runs first, shuffled); clock advances; one-shot faults on the next mutating call of
any service (throttle, 5xx, AccessDenied, timeout before sending, timeout after the call landed) and on the next
read; store writes failing before or after landing; SNS outages; mode switches; operator acknowledgements;
opt-out tags on the state machine, the crawler and the workgroup.

Checked after every step and at the end:

* at most one mutating call per resource per decision (one ``Engine.handle``, delegations included);
* none in observe mode, none on an out-of-scope or opted-out resource, none while its incident was held;
* no doubled StopExecution / StopQueryExecution; a RedriveExecution is only repeated with the same client token;
* the per-resource budget is never exceeded;
* an incident is resolved only when its resource recovered (the run SUCCEEDED, the crawl SUCCEEDED, the query
  ended);
* a run is never stopped (not even attempted) while the heal of its cause is in grace: not within the crawler's
  threshold plus its stopping time, nor within the workgroup's query threshold, after the heal began -- with the
  first StopCrawler attempt on the crawler it waits on / StopQueryExecution attempt on its query (any query of the
  workgroup when its history does not name one) since it began waiting, or when its incident recorded the heal
  (an observed one does not count), whichever came first -- whatever order the sweep visits things in;
* in observe mode an incident is not notified twice for the same transition;
* every stored item stays under 64 KB; every effective call is recorded; once SNS works every transition is
  delivered exactly once by message id.

The gate runs a fixed, derandomized budget (``PROPERTY_EXAMPLES``, default 60 histories of ``PROPERTY_STEPS``,
default 40); ``make soak`` runs thousands with fresh randomness.
"""

from __future__ import annotations

import contextlib
import os
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from unittest import mock

from botocore.exceptions import BotoCoreError, ClientError
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.property.common import (
    BUDGET_MAX,
    WINDOW,
    LoggingStore,
    assert_delivered_exactly_once,
    assert_effects_recorded,
    make_settings,
)
from tests.support.aws import load_event
from tests.support.fake_sfn import Attempt, ExecAthena, FakeSfn, FlakyReads, Run
from tests.support.fakes import FAULTS, Clock, Crawler, FakeGlue, FakeNotifier, MutatingCall, Query
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine
from watchdogs.incidents.record import Budget, Incident, iso, parse_iso
from watchdogs.incidents.store import StoreError
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.models.events import ExecutionStatusChangeEvent
from watchdogs.runbooks.crawler import CrawlerRemediator
from watchdogs.runbooks.crawler.remediator import CrawlerReadError
from watchdogs.runbooks.execution import ExecutionReadError, ExecutionRemediator, findings_from_event
from watchdogs.runbooks.query import QueryRemediator
from watchdogs.runbooks.query.remediator import QueryReadError

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))
STEPS = int(os.environ.get("PROPERTY_STEPS", "40"))
ACCOUNT_ARN = "arn:aws:states:us-east-1:123456789012"
IN_SCOPE, OPTED_OUT, OUT_OF_SCOPE = "lakehouse-pipeline", "lakehouse-optional-pipeline", "other-team-pipeline"
RAW, FOREIGN = "lakehouse-sandbox-raw-crawler", "other-team-crawler"
WORKGROUP = "lakehouse-sandbox-workgroup"
EXECUTION_STUCK, CRAWLER_STUCK, CRAWLER_STOPPING, QUERY_STUCK = 900, 600, 300, 600
GRACE = {"crawler": CRAWLER_STUCK + CRAWLER_STOPPING, "athena-own": QUERY_STUCK, "athena-lambda": QUERY_STUCK}
KINDS = ("crawler", "athena-own", "athena-lambda", "nothing")
ENDINGS = ("succeed", "succeed", "transient", "transient", "permission", "tests", "unknown", "timeout")
ERRORS = {
    "transient": ("Glue.ThrottlingException", "Rate exceeded (Service: Glue, Status Code: 400)"),
    "permission": ("States.Permissions", "AccessDeniedException: not authorized to perform athena:StartQueryExecution"),
    "tests": ("DbtTestsFailed", "3 of 41 tests failed"),
    "unknown": ("States.TaskFailed", "dbt exited with code 2"),
    "timeout": ("States.Timeout", None),
}
ACTION_OF = {
    "StopExecution": "stop_execution",
    "RedriveExecution": "redrive_execution",
    "StopCrawler": "stop_crawler",
    "StartCrawler": "start_crawler",
    "StopQueryExecution": "stop_query",
}
HANDLED = (StoreError, ExecutionReadError, CrawlerReadError, QueryReadError, ClientError, BotoCoreError)
STATS = {"histories": 0, "steps": 0, "runs": 0, "mutating_calls": 0, "faults": 0, "messages": 0, "stops": 0}
STATS |= {"redrives": 0, "heals": 0, "resolved": 0}


def machine_arn(machine: str) -> str:
    return f"{ACCOUNT_ARN}:stateMachine:{machine}"


@dataclass
class Wait:
    """What a run waits on since when (its start, or its last redrive), as the harness knows it."""

    since: datetime
    kind: str
    child: str | None
    redrives: int = 0


class ModeLoggingStore(LoggingStore):
    """The logging store, remembering the mode each version was written in."""

    def __init__(self, recovered: Any) -> None:
        super().__init__(recovered)
        self.modes: list[bool] = []
        self.observe = False

    def _record(self) -> None:
        super()._record()
        self.modes += [self.observe] * (len(self.log) - len(self.modes))


class ExecutionHistories(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.clock = Clock()
        # the runbooks read "now" from watchdogs.incidents.now_utc: one frame, the fake clock's
        self.patches = [mock.patch("watchdogs.incidents.now_utc", self.clock)]
        for patch in self.patches:
            patch.start()
        self.sfn = FakeSfn(self.clock, opted_out={machine_arn(OPTED_OUT)})
        self.glue = FakeGlue(self.clock, crawlers={name: Crawler(name) for name in (RAW, FOREIGN)})
        self.athena = ExecAthena(self.clock)
        self.store = ModeLoggingStore(self._recovered)
        self.notifier = FakeNotifier()
        fakes = {"sfn": self.sfn, "glue": self.glue, "athena": self.athena}
        self.flaky = {name: FlakyReads(fake, name, self.clock) for name, fake in fakes.items()}
        self.clients = AwsClients(**self.flaky)  # type: ignore[arg-type]
        self.observe = False
        self.engine = self._engine()
        self.waits: dict[str, Wait] = {}
        self.acks: dict[str, datetime] = {}
        self.checked = (0, 0, 0)
        self.checked_stops = 0
        self.violations: list[str] = []
        STATS["histories"] += 1

    def _engine(self) -> Engine:
        s = make_settings(
            "observe" if self.observe else "remediate",
            EXECUTION_STUCK_SECONDS=str(EXECUTION_STUCK),
            PIPELINE_WORKGROUP=WORKGROUP,
        )
        remediators: dict[ResourceType, Any] = {
            ResourceType.EXECUTION: ExecutionRemediator(s, self.clients),
            ResourceType.CRAWLER: CrawlerRemediator(s, self.clients),
            ResourceType.QUERY: QueryRemediator(s, self.clients),
        }
        return Engine(
            s, self.clients, remediators, store=self.store, notifier=self.notifier, actor="prop", clock=self.clock
        )

    def _recovered(self, incident: Incident) -> bool:
        if incident.resource_type is ResourceType.EXECUTION:
            run = self.sfn.runs.get(incident.resource_id)
            return run is not None and run.status == "SUCCEEDED"
        if incident.resource_type is ResourceType.CRAWLER:
            return self.glue.crawlers[incident.resource_id].last_status == "SUCCEEDED"
        return self.athena.queries[incident.resource_id].state not in {"QUEUED", "RUNNING"}

    # --------------------------------------------------------------------------------------------- plumbing
    def _calls(self) -> list[MutatingCall]:
        return [*self.sfn.calls, *self.glue.calls, *self.athena.calls]

    def _new_calls(self, marks: tuple[int, ...]) -> list[MutatingCall]:
        """The mutating calls made since ``marks`` (the lengths of the fakes' call logs then)."""
        logs = (self.sfn.calls, self.glue.calls, self.athena.calls)
        return [call for log, mark in zip(logs, marks, strict=True) for call in log[mark:]]

    def _marks(self) -> tuple[int, ...]:
        return len(self.sfn.calls), len(self.glue.calls), len(self.athena.calls)

    def _handle(self, finding: Finding) -> None:
        """One decision (with its delegations): at most one mutating call per resource."""
        before = self._marks()
        # a failed write or read fails the invocation: Lambda retries the event, or the next sweep comes
        with contextlib.suppress(*HANDLED):
            self.engine.handle(finding)
        made = Counter(call.crawler for call in self._new_calls(before))
        doubled = {resource: n for resource, n in made.items() if n > 1}
        if doubled:
            self.violations.append(f"one decision on {finding.resource_key} made several calls: {doubled}")

    def _step(self) -> None:
        """Every rule starts here: count it, and let redriven runs start waiting afresh (a redriven dbt step
        submits a new query; a redriven crawler wait polls the crawler again)."""
        STATS["steps"] += 1
        for run in self.sfn.runs.values():
            wait = self.waits[run.arn]
            if run.redrive_count > wait.redrives and run.status == "RUNNING":
                child = run.child
                if run.kind.startswith("athena"):
                    child = self._submit(hangs=run.redrive_count % 2 == 1)
                    run.child = child
                self.waits[run.arn] = Wait(run.redrive_date or self.clock(), run.kind, child, run.redrive_count)

    def _submit(self, hangs: bool) -> str:
        query_id = f"q-{len(self.athena.queries)}"
        self.athena.queries[query_id] = Query(query_id, WORKGROUP, self.clock(), hangs=hangs)
        return query_id

    def _event(self, arn: str, status: str, redrive_count: int, stopped: datetime) -> None:
        """A status change, through the real edge model and ``findings_from_event``."""
        body = load_event("stepfunctions-execution-failed")
        run = self.sfn.runs[arn]
        body["id"] = f"ev-{STATS['steps']}-{arn.rsplit(':', 1)[-1]}-{status}"
        body["time"] = iso(self.clock()).replace("+00:00", "Z")
        body["resources"] = [arn]
        body["detail"] |= {
            "executionArn": arn,
            "stateMachineArn": run.machine,
            "name": arn.rsplit(":", 1)[-1],
            "status": status,
            "startDate": int(run.started.timestamp() * 1000),
            "stopDate": int(stopped.timestamp() * 1000),
            "redriveCount": redrive_count,
        }
        for finding in findings_from_event(ExecutionStatusChangeEvent.model_validate(body)):
            self._handle(finding)

    # --------------------------------------------------------------------------------------------- the world
    @rule(
        machine=st.sampled_from([IN_SCOPE, IN_SCOPE, IN_SCOPE, OPTED_OUT, OUT_OF_SCOPE]),
        kind=st.sampled_from(KINDS),
        hangs=st.booleans(),
        foreign=st.booleans(),
    )
    def a_run_starts(self, machine: str, kind: str, hangs: bool, foreign: bool) -> None:
        self._step()
        self._start(machine, kind, hangs, foreign)

    def _start(self, machine: str, kind: str, hangs: bool, foreign: bool) -> Run:
        STATS["runs"] += 1
        arn = f"{ACCOUNT_ARN}:execution:{machine}:run-{len(self.sfn.runs)}"
        child: str | None = None
        if kind == "crawler":
            child = FOREIGN if foreign and hangs else RAW
            self.glue.begin(child, hangs=hangs)
        elif kind.startswith("athena"):
            child = self._submit(hangs)
        run = Run(arn, kind, self.clock(), child=child, workgroup=WORKGROUP)
        self.sfn.runs[arn] = run
        self.waits[arn] = Wait(self.clock(), kind, child)
        return run

    @rule(machine=st.sampled_from([IN_SCOPE, IN_SCOPE, OPTED_OUT]), kind=st.sampled_from(KINDS[:3]))
    def a_run_hangs_on_a_stuck_child(self, machine: str, kind: str) -> None:
        """The runbook's story, made likely: a run waits on a child that hangs, time passes, the sweep comes."""
        self._step()
        self._start(machine, kind, hangs=True, foreign=False)
        self.clock.advance(EXECUTION_STUCK + 100)
        self.sweep(order="causes-first", seed=0)

    @rule(data=st.data(), ending=st.sampled_from(ENDINGS), deliveries=st.integers(min_value=0, max_value=2))
    def a_run_ends(self, data: st.DataObject, ending: str, deliveries: int) -> None:
        self._step()
        running = sorted(arn for arn, run in self.sfn.runs.items() if run.status == "RUNNING")
        if not running:
            return
        run = self.sfn.runs[data.draw(st.sampled_from(running))]
        if ending == "succeed":
            if self._blocked(run):
                return
            self.sfn.end(run, "SUCCEEDED")
        else:
            error, cause = ERRORS[ending]
            run.failed_state = "RunDbtTests" if ending == "tests" else None
            self.sfn.end(run, "TIMED_OUT" if ending == "timeout" else "FAILED", error, cause)
        for _ in range(deliveries):  # 0: lost (the sweep finds it); more: duplicates
            self._event(*self.sfn.changes[-1])

    def _blocked(self, run: Run) -> bool:
        if run.kind == "crawler" and run.child:
            return self.glue.crawlers[run.child].state != "READY"
        if run.kind.startswith("athena") and run.child:
            return self.athena.queries[run.child].state in {"QUEUED", "RUNNING"}
        return False

    @rule(picks=st.lists(st.integers(min_value=0, max_value=7), min_size=1, max_size=4))
    def status_changes_arrive(self, picks: list[int]) -> None:
        """EventBridge delivers status changes late, out of order and more than once: the watchdogs' own
        StopExecution's ABORTED echo, a failure after its redrive, an old FAILED for a run redriven since."""
        self._step()
        changes = self.sfn.changes
        for pick in picks:
            if changes:
                self._event(*changes[len(changes) - 1 - pick % len(changes)])

    @rule(name=st.sampled_from([RAW, RAW, FOREIGN]), outcome=st.sampled_from(["SUCCEEDED", "FAILED"]))
    def a_crawl_ends(self, name: str, outcome: str) -> None:
        self._step()
        error = "Rate exceeded (Service: Glue)" if outcome == "FAILED" else ""
        if self.glue.settle(name, outcome, error) and self.glue.crawlers[name].last_status != "CANCELLED":
            condition = Condition.RECOVERED if outcome == "SUCCEEDED" else Condition.FAILED
            facts: dict[str, Any] = {"error_message": error or None, "changed_anything": True}
            self._handle(self._finding(ResourceType.CRAWLER, name, condition, "event", name, facts))

    @rule(data=st.data(), state=st.sampled_from(["SUCCEEDED", "FAILED"]))
    def a_query_ends(self, data: st.DataObject, state: str) -> None:
        self._step()
        if not self.athena.queries:
            return
        query_id = data.draw(st.sampled_from(sorted(self.athena.queries)))
        if self.athena.end(query_id, state, "SYNTAX_ERROR: line 1:8" if state == "FAILED" else None):
            condition = Condition.RECOVERED if state == "SUCCEEDED" else Condition.FAILED
            facts = {"workgroup": WORKGROUP, "state": state}
            self._handle(self._finding(ResourceType.QUERY, query_id, condition, "event", WORKGROUP, facts))

    @rule(data=st.data())
    def a_stuck_child_lets_go(self, data: st.DataObject) -> None:
        """A hung crawl or query finishes after all (not every hang lasts)."""
        self._step()
        hung = sorted(n for n, c in self.glue.crawlers.items() if c.hangs and c.state == "RUNNING")
        hung += sorted(q for q, query in self.athena.queries.items() if query.hangs and query.state == "RUNNING")
        if hung:
            target = data.draw(st.sampled_from(hung))
            if target in self.glue.crawlers:
                self.glue.crawlers[target].hangs = False
            else:
                self.athena.queries[target].hangs = False

    def _finding(
        self, rtype: ResourceType, rid: str, condition: Condition, source: str, scope: str, facts: dict[str, Any]
    ) -> Finding:
        return Finding(
            resource_type=rtype,
            resource_id=rid,
            condition=condition,
            source=source,
            observed_at=self.clock(),
            scope_key=scope,
            facts=facts,
        )

    # --------------------------------------------------------------------------------------------- the sweep
    @rule(order=st.sampled_from(["causes-first", "runs-first", "shuffled"]), seed=st.integers(0, 2**16))
    def sweep(self, order: str, seed: int) -> None:
        """What each runbook's discovery finds, then the open incidents it did not cover, in the drawn order."""
        self._step()
        found = self._discover()
        covered = {(f.resource_key, f.condition) for f in found}
        for incident in self.store.list_open():
            if (incident.resource_key, incident.condition) not in covered:
                scope = {
                    ResourceType.EXECUTION: incident.facts.get("state_machine_arn", ""),
                    ResourceType.QUERY: WORKGROUP,
                }
                key = str(scope.get(incident.resource_type, incident.resource_id))
                found.append(
                    self._finding(incident.resource_type, incident.resource_id, incident.condition, "sweep", key, {})
                )
        if order == "runs-first":
            found.sort(key=lambda f: f.resource_type is not ResourceType.EXECUTION)
        elif order == "shuffled":
            random.Random(seed).shuffle(found)
        for finding in found:
            self._handle(finding)
        with contextlib.suppress(StoreError):
            self.engine.flush_pending()

    def _discover(self) -> list[Finding]:
        now, found = self.clock(), []
        for name, crawler in self.glue.crawlers.items():
            condition = {"RUNNING": Condition.STUCK, "STOPPING": Condition.STUCK}.get(crawler.state)
            if condition is None and crawler.last_status in {"FAILED", "SUCCEEDED"}:
                condition = Condition.FAILED if crawler.last_status == "FAILED" else Condition.RECOVERED
            if condition is not None and name.startswith("lakehouse-"):
                facts = {"error_message": crawler.last_error, "changed_anything": True}
                found.append(self._finding(ResourceType.CRAWLER, name, condition, "sweep", name, facts))
        for query_id, query in self.athena.queries.items():
            running = (now - query.submitted).total_seconds()
            if query.state in {"QUEUED", "RUNNING"} and running >= QUERY_STUCK:
                facts = {"workgroup": WORKGROUP, "state": query.state, "running_seconds": running}
                found.append(self._finding(ResourceType.QUERY, query_id, Condition.STUCK, "sweep", WORKGROUP, facts))
        for arn, run in self.sfn.runs.items():
            if not run.machine.startswith(f"{ACCOUNT_ARN}:stateMachine:lakehouse-"):
                continue  # discovery lists the state machines in scope only
            age = (now - (run.redrive_date or run.started)).total_seconds()
            facts: dict[str, Any] = {"status": run.status, "state_machine_arn": run.machine}
            if run.status == "RUNNING" and age >= EXECUTION_STUCK:
                facts |= {"running_seconds": round(age), "threshold_seconds": EXECUTION_STUCK}
                found.append(self._finding(ResourceType.EXECUTION, arn, Condition.STUCK, "sweep", run.machine, facts))
            elif run.status in {"FAILED", "TIMED_OUT", "ABORTED"} and not self._seen(run):
                facts |= {"redrive_count": run.redrive_count, "stop_date": iso(run.stop_date or now)}
                found.append(self._finding(ResourceType.EXECUTION, arn, Condition.FAILED, "sweep", run.machine, facts))
        return found

    def _seen(self, run: Run) -> bool:
        """An incident about this run since it (re)started exists (the ABORTED echo of a stop: any incident)."""
        since = run.redrive_date or run.started
        incidents = [*self.store.load(ResourceType.EXECUTION, run.arn).incidents.values()]
        incidents += self.store.history(ResourceType.EXECUTION, run.arn)
        return any(
            parse_iso(i.detected_at) >= since and (run.status == "ABORTED" or i.condition is Condition.FAILED)
            for i in incidents
        )

    @rule(seconds=st.sampled_from([30, 130, 400, 700, 1000, 1800, 4000]))
    def time_passes(self, seconds: int) -> None:
        self._step()
        self.clock.advance(seconds)

    # --------------------------------------------------------------------------------------------- faults, people
    @rule(service=st.sampled_from(["sfn", "sfn", "glue", "athena"]), fault=st.sampled_from(FAULTS))
    def aws_fault(self, service: str, fault: str) -> None:
        """The next mutating call of ``service`` meets ``fault``."""
        self._step()
        STATS["faults"] += 1
        {"sfn": self.sfn, "glue": self.glue, "athena": self.athena}[service].faults.append(fault)

    @rule(service=st.sampled_from(["sfn", "glue", "athena"]), fault=st.sampled_from(FAULTS))
    def read_fault(self, service: str, fault: str) -> None:
        """The next read of ``service`` fails."""
        self._step()
        STATS["faults"] += 1
        self.flaky[service].faults.append(fault)

    @rule(when=st.sampled_from(["before", "after"]))
    def store_fault(self, when: str) -> None:
        self._step()
        STATS["faults"] += 1
        self.store.faults.append(when)

    @rule(down=st.booleans())
    def sns(self, down: bool) -> None:
        self._step()
        self.notifier.down = down

    @rule()
    def switch_mode(self) -> None:
        self._step()
        self.observe = self.store.observe = not self.observe
        self.engine = self._engine()

    @rule(which=st.sampled_from(["machine", "crawler", "workgroup"]), on=st.booleans())
    def opt_out_tag(self, which: str, on: bool) -> None:
        """Someone tags (or untags) the optional state machine, the raw crawler or the workgroup."""
        self._step()
        target: set[str] = {"machine": self.sfn.opted_out, "crawler": self.glue.opted_out}.get(
            which, self.athena.opted_out
        )
        name = {"machine": machine_arn(OPTED_OUT), "crawler": RAW}.get(which, WORKGROUP)
        (target.add if on else target.discard)(name)

    @rule(data=st.data())
    def operator_acknowledges(self, data: st.DataObject) -> None:
        """watchdogs-ops ack: lifts the quarantine, resets the budget and ends the hold."""
        self._step()
        escalated = sorted(
            {(i.resource_type, i.resource_id) for i in self.store.list_open() if i.status is IncidentStatus.ESCALATED}
        )
        if not escalated:
            return
        rtype, rid = data.draw(st.sampled_from(escalated))
        self.store.put_budget(rtype, rid, Budget(version=self.clock().toordinal()))
        for incident in self.store.load(rtype, rid).active():
            if incident.status is IncidentStatus.ESCALATED:
                with contextlib.suppress(StoreError):
                    acked = incident.model_copy(update={"hold_until": iso(self.clock())})
                    self.store.save(acked, expected_version=incident.version)
        self.acks[rid] = self.clock()

    # --------------------------------------------------------------------------------------------- invariants
    @invariant()
    def calls_are_guarded(self) -> None:
        for call in sorted(self._new_calls(self.checked), key=lambda c: c.seq):
            STATS["mutating_calls"] += 1
            self._check_call(call)
        self.checked = self._marks()
        stops = self.flaky["sfn"].attempts
        for attempt in stops[self.checked_stops :]:
            if attempt.operation == "stop_execution":
                self._not_in_grace(attempt)
        self.checked_stops = len(stops)
        assert self.violations == [], self.violations

    def _check_call(self, call: MutatingCall) -> None:
        what = f"{call.operation} {call.crawler} at {iso(call.at)}"
        if self.observe:
            self.violations.append(f"{what} in observe mode")
        if call.already_visible and call.operation in {"StopExecution", "StopQueryExecution"}:
            self.violations.append(f"{what}: doubled (its effect was already there)")
        if call.already_visible and call.operation == "RedriveExecution":
            self.violations.append(f"{what}: a new redrive of a run that is not redrivable")
        if not self._in_scope(call):
            self.violations.append(f"{what}: out of scope or opted out")
        if call.effective:
            self._not_held_before(call)
        STATS["stops"] += call.operation == "StopExecution" and call.effective
        STATS["redrives"] += call.operation == "RedriveExecution" and call.effective
        STATS["heals"] += call.operation in {"StopCrawler", "StopQueryExecution"} and call.effective

    def _in_scope(self, call: MutatingCall) -> bool:
        if call.operation in {"StopExecution", "RedriveExecution"}:
            machine = self.sfn.runs[call.crawler].machine
            return machine.startswith(f"{ACCOUNT_ARN}:stateMachine:lakehouse-") and machine not in self.sfn.opted_out
        if call.operation in {"StopCrawler", "StartCrawler"}:
            return call.crawler.startswith("lakehouse-sandbox-") and call.crawler not in self.glue.opted_out
        return WORKGROUP not in self.athena.opted_out

    def _not_held_before(self, call: MutatingCall) -> None:
        """The incident's state before the claim that led to this call was neither held nor quarantined."""
        action = ACTION_OF[call.operation]
        claims = [
            i for i in self.store.log if i.resource_id == call.crawler and any(t.action == action for t in i.intents)
        ]
        if not claims:
            return
        claim = claims[-1]
        before = [i for i in self.store.log if i.incident_id == claim.incident_id and i.version < claim.version]
        prior = before[-1] if before else None
        held = prior is not None and prior.status is IncidentStatus.ESCALATED
        if held and prior is not None and (prior.hold_until is None or parse_iso(prior.hold_until) > call.at):
            self.violations.append(f"{call.operation} {call.crawler} while its incident was held: {prior.summary}")

    def _not_in_grace(self, call: Attempt) -> None:
        """A run is never stopped (not even attempted) while the heal of its cause is in grace."""
        wait = self.waits[call.resource]
        if wait.kind not in GRACE or wait.child is None:
            return
        attempts = [*self.flaky["glue"].attempts, *self.flaky["athena"].attempts]
        if wait.kind == "crawler":
            heals = [a for a in attempts if a.operation == "stop_crawler" and a.resource == wait.child]
        elif wait.kind == "athena-own":
            heals = [a for a in attempts if a.resource == wait.child]
        else:
            heals = [a for a in attempts if a.operation == "stop_query_execution"]
        # the heal began with the watchdog's first attempt on the cause (landed or not) since the run waits on it,
        # or when the run's incident recorded it (a real one: not observed), whichever came first
        started = [a.at for a in heals if a.at >= wait.since and a.seq < call.seq]
        started += recorded_heals(self.store.log, call.resource, wait, call.at)
        if started and (call.at - min(started)).total_seconds() < GRACE[wait.kind]:
            self.violations.append(
                f"StopExecution {call.resource} at {iso(call.at)}: the heal of its {wait.kind} cause {wait.child} "
                f"began {iso(min(started))} and is in grace ({GRACE[wait.kind]} s)"
            )

    @invariant()
    def budget_is_never_exceeded(self) -> None:
        effective = [c for c in self._calls() if c.effective]
        for resource in {c.crawler for c in effective}:
            since = self.acks.get(resource)
            times = sorted(c.at for c in effective if c.crawler == resource and (since is None or c.at > since))
            for i, start in enumerate(times):
                within = [t for t in times[i:] if (t - start).total_seconds() < WINDOW]
                assert len(within) <= BUDGET_MAX, f"{len(within)} effective actions on {resource} within {WINDOW}s"

    @invariant()
    def resolved_only_when_recovered(self) -> None:
        assert self.store.unrecovered_resolves == []

    @invariant()
    def observe_notifies_each_transition_once(self) -> None:
        """In observe mode no notification repeats the one before it on the same incident (same status and
        decision): a version whose ``seq`` grew enqueued a notification."""
        seqs: dict[str, int] = {}
        notified: dict[str, str] = {}
        for version, observe in zip(self.store.log, self.store.modes, strict=True):
            key = f"{version.status.value}|{version.decision_key}"
            if version.seq > seqs.get(version.incident_id, 0):
                events = [(o.event, o.snapshot.get("summary")) for o in version.outbox[-2:]]
                repeated = notified.get(version.incident_id) == key
                assert not (observe and repeated), f"observe mode re-notified {version.resource_key}: {events}"
                notified[version.incident_id] = key
            seqs[version.incident_id] = max(seqs.get(version.incident_id, 0), version.seq)

    @invariant()
    def items_stay_bounded(self) -> None:
        for incident in self.store.log[-5:]:
            assert len(incident.model_dump_json()) < 64_000

    def teardown(self) -> None:
        if not hasattr(self, "store"):
            return
        try:
            self._settle_and_check()
        finally:
            for patch in self.patches:
                patch.stop()

    def _settle_and_check(self) -> None:
        # SNS recovers, faults stop, the clock passes every retry time: two sweeps settle everything
        self.notifier.down = False
        for fake in (self.sfn, self.glue, self.athena, self.store, *self.flaky.values()):
            fake.faults.clear()
        for _ in range(2):
            self.clock.advance(1000)
            self.sweep(order="causes-first", seed=0)
        self.calls_are_guarded()
        STATS["messages"] += assert_delivered_exactly_once(self.store, (m for m, _, _ in self.notifier.published))
        STATS["resolved"] += len({i.incident_id for i in self.store.log if i.status is IncidentStatus.RESOLVED})
        effective = Counter((c.crawler, iso(c.at), ACTION_OF[c.operation]) for c in self._calls() if c.effective)
        assert_effects_recorded(self.store, effective)


def recorded_heals(
    log: list[Incident], arn: str, wait: Wait, before: datetime, workgroup: str = WORKGROUP
) -> list[datetime]:
    """When the run's STUCK incident recorded a heal of the cause it waits on (observed heals excluded), since it
    began waiting and before ``before``."""
    target = f"crawler:{wait.child}" if wait.kind == "crawler" else f"athena:{workgroup}"
    starts = []
    for version in log:
        heal = version.facts.get("heal") if version.resource_id == arn else None
        if isinstance(heal, dict) and heal.get("target") == target and not heal.get("observed"):
            started = parse_iso(str(heal["started_at"]))
            if wait.since <= started <= before:
                starts.append(started)
    return starts


ExecutionHistories.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=os.environ.get("PROPERTY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    phases=[Phase.explicit, Phase.reuse, Phase.generate] if os.environ.get("PROPERTY_NO_SHRINK") else list(Phase),
)
test_execution_histories = ExecutionHistories.TestCase


def test_zz_report_execution_history_counts() -> None:
    """Prints the budget this run covered (`pytest -s` shows it)."""
    print(f"\nexecution property histories: {STATS}")
    assert STATS["histories"] == 0 or STATS["steps"] > 0
