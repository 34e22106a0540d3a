"""Random histories of the crawler watchdog, against in-memory fakes (Glue, SNS, the incident store).

A hypothesis state machine interleaves: crawls that start, hang, fail (transient or permission) or succeed; their
events (lost, duplicated, late), sweeps, clock advances, faults on the next mutating call (throttle, 5xx,
AccessDenied, timeout before sending, timeout after the call landed), store writes that fail before or after
landing, SNS outages, mode switches and operator acknowledgements. After every step and at the end it checks:

* no mutating call while the incident was held (escalated) or the resource quarantined, none in observe mode;
* every effective call is recorded on an incident once things settle; no call repeats an effect already visible;
* the per-resource budget is never exceeded;
* an incident is resolved only when the crawler recovered (its last crawl SUCCEEDED);
* every transition's notification is delivered exactly once by message id once SNS works;
* every stored item stays under 64 KB.

The gate runs a fixed, derandomized budget (``PROPERTY_EXAMPLES``, default 60 histories); ``make soak`` runs
thousands (``PROPERTY_EXAMPLES=3000``).
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
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
from tests.support.fakes import FAULTS, Clock, Crawler, FakeGlue, FakeNotifier
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine
from watchdogs.incidents.record import Budget, iso, parse_iso
from watchdogs.incidents.store import StoreError
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.runbooks.crawler import CrawlerRemediator

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))
STEPS = int(os.environ.get("PROPERTY_STEPS", "40"))
CRAWLERS = ("lakehouse-sandbox-raw-crawler", "lakehouse-sandbox-curated-crawler")
STATS = {"histories": 0, "steps": 0, "mutating_calls": 0, "faults": 0, "messages": 0}


def crawler_recovered(glue: FakeGlue) -> Any:
    return lambda incident: glue.crawlers[incident.resource_id].last_status == "SUCCEEDED"


class CrawlerHistories(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.clock = Clock()
        self.glue = FakeGlue(self.clock, crawlers={name: Crawler(name) for name in CRAWLERS})
        self.store = LoggingStore(crawler_recovered(self.glue))
        self.notifier = FakeNotifier()
        self.clients = AwsClients(glue=self.glue)
        self.observe = False
        self.engine = self._engine()
        self.checked_calls = 0
        self.acks: dict[str, Any] = {}
        STATS["histories"] += 1

    def _engine(self) -> Engine:
        s = make_settings("observe" if self.observe else "remediate")
        remediator = CrawlerRemediator(s, self.clients)
        return Engine(
            s,
            self.clients,
            {ResourceType.CRAWLER: remediator},  # type: ignore[dict-item]
            store=self.store,
            notifier=self.notifier,
            actor="prop",
            clock=self.clock,
        )

    def _handle(self, name: str, condition: Condition, source: str = "event", **facts: Any) -> None:
        finding = Finding(
            resource_type=ResourceType.CRAWLER,
            resource_id=name,
            condition=condition,
            source=source,
            event_id=f"e{STATS['steps']}",
            observed_at=self.clock(),
            scope_key=name,
            facts=facts,
        )
        # a store failure fails the invocation: Lambda retries the event, or the next sweep comes; nothing is lost
        with contextlib.suppress(StoreError):
            self.engine.handle(finding)

    # --------------------------------------------------------------------------------------------- the world
    @rule(name=st.sampled_from(CRAWLERS), hangs=st.booleans())
    def crawl_starts(self, name: str, hangs: bool) -> None:
        STATS["steps"] += 1
        self.glue.begin(name, hangs=hangs)

    @rule(
        name=st.sampled_from(CRAWLERS),
        outcome=st.sampled_from(["SUCCEEDED", "transient", "denied"]),
        deliveries=st.integers(min_value=0, max_value=3),
    )
    def crawl_ends(self, name: str, outcome: str, deliveries: int) -> None:
        STATS["steps"] += 1
        error = {"transient": "Rate exceeded (Service: Glue)", "denied": "Access Denied (Service: S3; 403)"}.get(
            outcome
        )
        if not self.glue.settle(name, "SUCCEEDED" if outcome == "SUCCEEDED" else "FAILED", error or ""):
            return
        ended = self.glue.crawlers[name].last_status
        if ended == "CANCELLED":
            return  # a stop finishing: Glue's own event for it carries nothing the watchdogs act on
        condition = Condition.RECOVERED if ended == "SUCCEEDED" else Condition.FAILED
        for _ in range(deliveries):  # 0: the event was lost; >1: duplicates
            self._handle(name, condition, error_message=error, changed_anything=True)

    @rule(name=st.sampled_from(CRAWLERS))
    def started_event(self, name: str) -> None:  # Started: the pipeline's own run, or the echo of our restart
        STATS["steps"] += 1
        if self.glue.crawlers[name].state == "RUNNING":
            self._handle(name, Condition.STARTED)

    @rule()
    def sweep(self) -> None:
        STATS["steps"] += 1
        for name, crawler in self.glue.crawlers.items():
            if crawler.state in {"RUNNING", "STOPPING"}:
                self._handle(name, Condition.STUCK, source="sweep")
            elif crawler.last_status == "FAILED":
                self._handle(name, Condition.FAILED, source="sweep", error_message=crawler.last_error)
            elif crawler.last_status == "SUCCEEDED":
                self._handle(name, Condition.RECOVERED, source="sweep", changed_anything=True)
        for incident in self.store.list_open():
            self._handle(incident.resource_id, incident.condition, source="sweep")
        with contextlib.suppress(StoreError):
            self.engine.flush_pending()

    @rule(name=st.sampled_from(CRAWLERS))
    def a_crawl_hangs_past_its_threshold(self, name: str) -> None:
        """The runbook's main story, made likely: a crawl hangs, time passes, the sweep comes."""
        STATS["steps"] += 1
        self.glue.begin(name, hangs=True)
        self.clock.advance(700)
        self.sweep()

    @rule(seconds=st.sampled_from([30, 130, 400, 700, 1800, 4000]))
    def time_passes(self, seconds: int) -> None:
        STATS["steps"] += 1
        self.clock.advance(seconds)

    # --------------------------------------------------------------------------------------------- faults
    @rule(fault=st.sampled_from(FAULTS))
    def aws_fault(self, fault: str) -> None:
        STATS["steps"] += 1
        STATS["faults"] += 1
        self.glue.faults.append(fault)

    @rule(when=st.sampled_from(["before", "after"]))
    def store_fault(self, when: str) -> None:
        STATS["steps"] += 1
        STATS["faults"] += 1
        self.store.faults.append(when)

    @rule(down=st.booleans())
    def sns(self, down: bool) -> None:
        STATS["steps"] += 1
        self.notifier.down = down

    @rule()
    def switch_mode(self) -> None:
        STATS["steps"] += 1
        self.observe = not self.observe
        self.engine = self._engine()

    @rule(name=st.sampled_from(CRAWLERS))
    def operator_acknowledges(self, name: str) -> None:
        """watchdogs-ops ack: lifts the quarantine, resets the budget and the hold."""
        STATS["steps"] += 1
        self.store.put_budget(ResourceType.CRAWLER, name, Budget(version=self.clock().toordinal()))
        for incident in self.store.load(ResourceType.CRAWLER, name).active():
            if incident.status is IncidentStatus.ESCALATED:
                acked = incident.model_copy(update={"hold_until": iso(self.clock())})
                try:
                    self.store.save(acked, expected_version=incident.version)
                except StoreError:
                    continue
        self.acks[name] = self.clock()

    # --------------------------------------------------------------------------------------------- invariants
    @invariant()
    def calls_are_guarded(self) -> None:
        for call in self.glue.calls[self.checked_calls :]:
            STATS["mutating_calls"] += 1
            assert not self.observe, f"{call.operation} in observe mode"
            assert not call.already_visible or call.operation in {"StartCrawler", "StopCrawler"}
            if call.effective:
                self._not_held_before(call.crawler, call.at)
        self.checked_calls = len(self.glue.calls)

    def _not_held_before(self, name: str, at: Any) -> None:
        """The incident's state before the claim that led to this call was neither held nor quarantined."""
        writes = [i for i in self.store.log if i.resource_id == name]
        claims = [i for i in writes if i.intents]
        if not claims:
            return
        claim = claims[-1]
        before = [i for i in writes if i.incident_id == claim.incident_id and i.version < claim.version]
        if before:
            prior = before[-1]  # an acknowledgement is a write that ends the hold (hold_until = now)
            held = prior.status is IncidentStatus.ESCALATED and (
                prior.hold_until is None or parse_iso(prior.hold_until) > at
            )
            assert not held, f"acted on {name} while its incident was held: {prior.summary}"

    @invariant()
    def budget_is_never_exceeded(self) -> None:
        for name in CRAWLERS:
            since = self.acks.get(name)
            times = [
                c.at for c in self.glue.calls if c.crawler == name and c.effective and (since is None or c.at > since)
            ]
            for i, start in enumerate(times):
                within = [t for t in times[i:] if (t - start).total_seconds() < WINDOW]
                assert len(within) <= BUDGET_MAX, f"{len(within)} effective actions on {name} within {WINDOW}s"

    @invariant()
    def resolved_only_when_recovered(self) -> None:
        assert self.store.unrecovered_resolves == []

    @invariant()
    def items_stay_bounded(self) -> None:
        for incident in self.store.log[-5:]:
            assert len(incident.model_dump_json()) < 64_000

    def teardown(self) -> None:
        if not hasattr(self, "store"):
            return
        # SNS recovers, the clock passes every retry time, faults stop: two sweeps settle everything
        self.notifier.down = False
        self.glue.faults.clear()
        self.store.faults.clear()
        for _ in range(2):
            self.clock.advance(1000)
            self.sweep()
        STATS["messages"] += assert_delivered_exactly_once(self.store, (m for m, _, _ in self.notifier.published))
        names = {"StartCrawler": "start_crawler", "StopCrawler": "stop_crawler"}
        assert_effects_recorded(
            self.store, Counter((c.crawler, iso(c.at), names[c.operation]) for c in self.glue.calls if c.effective)
        )


CrawlerHistories.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=os.environ.get("PROPERTY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_crawler_histories = CrawlerHistories.TestCase


def test_zz_report_history_counts() -> None:
    """Prints the budget this run covered (read by the closing note; `pytest -s` shows it)."""
    print(f"\nproperty histories: {STATS}")
    assert STATS["histories"] == 0 or STATS["steps"] > 0
