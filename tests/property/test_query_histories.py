"""Random histories of the Athena query watchdog, against in-memory fakes (Athena, SNS, the incident store).

Queries are submitted (some hang), end (succeed, fail), get cancelled by the watchdog; their events are lost,
duplicated or echoed; sweeps, clock advances, faults on StopQueryExecution (throttle, 5xx, AccessDenied, timeout
before sending, timeout after the stop landed), failing store writes, SNS outages, mode switches and workgroup
opt-out tags interleave. Athena answers a second StopQueryExecution on an ended query with success, so a doubled
cancel is invisible to it: the fake counts it, and the invariants forbid it. Checked after every step and at the
end: no doubled stop, none in observe mode or on an opted-out workgroup, none while held; resolved only when the
query ended; every effective stop recorded; every transition delivered exactly once by message id; items bounded.
"""

from __future__ import annotations

import contextlib
import os
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.property.common import LoggingStore, assert_delivered_exactly_once, assert_effects_recorded, make_settings
from tests.support.fakes import FAULTS, Clock, FakeAthena, FakeNotifier, Query
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine
from watchdogs.incidents.record import iso, parse_iso
from watchdogs.incidents.store import StoreError
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.runbooks.query import QueryRemediator

EXAMPLES = int(os.environ.get("PROPERTY_EXAMPLES", "60"))
STEPS = int(os.environ.get("PROPERTY_STEPS", "40"))
WORKGROUP = "lakehouse-sandbox-workgroup"
STATS = {"histories": 0, "steps": 0, "mutating_calls": 0, "faults": 0, "messages": 0}


class QueryHistories(RuleBasedStateMachine):
    @initialize()
    def setup(self) -> None:
        self.clock = Clock()
        self.athena = FakeAthena(self.clock)
        self.store = LoggingStore(lambda i: self.athena.queries[i.resource_id].state not in {"QUEUED", "RUNNING"})
        self.notifier = FakeNotifier()
        self.clients = AwsClients(athena=self.athena)
        self.observe = False
        self.engine = self._engine()
        self.checked_calls = 0
        STATS["histories"] += 1

    def _engine(self) -> Engine:
        s = make_settings("observe" if self.observe else "remediate")
        remediator = QueryRemediator(s, self.clients)
        return Engine(
            s,
            self.clients,
            {ResourceType.QUERY: remediator},  # type: ignore[dict-item]
            store=self.store,
            notifier=self.notifier,
            actor="prop",
            clock=self.clock,
        )

    def _handle(self, query_id: str, condition: Condition, source: str = "event", **facts: Any) -> None:
        finding = Finding(
            resource_type=ResourceType.QUERY,
            resource_id=query_id,
            condition=condition,
            source=source,
            observed_at=self.clock(),
            scope_key=WORKGROUP,
            facts={"workgroup": WORKGROUP, **facts},
        )
        # a store failure fails the invocation: Lambda retries the event, or the next sweep comes
        with contextlib.suppress(StoreError):
            self.engine.handle(finding)

    # --------------------------------------------------------------------------------------------- the world
    @rule(hangs=st.booleans())
    def a_query_is_submitted(self, hangs: bool) -> None:
        STATS["steps"] += 1
        query_id = f"q-{len(self.athena.queries)}"
        self.athena.queries[query_id] = Query(query_id, WORKGROUP, self.clock(), hangs=hangs)

    @rule(
        data=st.data(),
        state=st.sampled_from(["SUCCEEDED", "FAILED"]),
        deliveries=st.integers(min_value=0, max_value=3),
    )
    def a_query_ends(self, data: st.DataObject, state: str, deliveries: int) -> None:
        STATS["steps"] += 1
        if not self.athena.queries:
            return
        query_id = data.draw(st.sampled_from(sorted(self.athena.queries)))
        error = "SYNTAX_ERROR: line 1:8: Column 'x' cannot be resolved" if state == "FAILED" else None
        if not self.athena.end(query_id, state, error):
            return
        condition = Condition.RECOVERED if state == "SUCCEEDED" else Condition.FAILED
        for _ in range(deliveries):  # 0: lost; >1: duplicated
            self._handle(query_id, condition, state=state)

    @rule(deliveries=st.integers(min_value=0, max_value=2))
    def cancel_echoes(self, deliveries: int) -> None:
        """The CANCELLED events of the queries that are cancelled (by the watchdog or anyone)."""
        STATS["steps"] += 1
        for query_id, query in self.athena.queries.items():
            if query.state == "CANCELLED":
                for _ in range(deliveries):
                    self._handle(query_id, Condition.CANCELLED, state="CANCELLED")

    @rule()
    def sweep(self) -> None:
        STATS["steps"] += 1
        now = self.clock()
        for query_id, query in self.athena.queries.items():
            running = (now - query.submitted).total_seconds()
            if query.state in {"QUEUED", "RUNNING"} and running >= 600:
                self._handle(query_id, Condition.STUCK, source="sweep", state=query.state, running_seconds=running)
        for incident in self.store.list_open():
            self._handle(incident.resource_id, incident.condition, source="sweep")
        with contextlib.suppress(StoreError):
            self.engine.flush_pending()

    @rule()
    def a_query_hangs_past_its_threshold(self) -> None:
        self.a_query_is_submitted(hangs=True)
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
        self.athena.faults.append(fault)

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

    @rule(opted_out=st.booleans())
    def workgroup_opt_out_tag(self, opted_out: bool) -> None:
        STATS["steps"] += 1
        self.athena.opted_out = {WORKGROUP} if opted_out else set()

    # --------------------------------------------------------------------------------------------- invariants
    @invariant()
    def stops_are_guarded_and_never_doubled(self) -> None:
        for call in self.athena.calls[self.checked_calls :]:
            STATS["mutating_calls"] += 1
            assert not call.already_visible, f"StopQueryExecution repeated on {call.crawler}, already ended"
            assert not self.observe, "StopQueryExecution in observe mode"
            assert WORKGROUP not in self.athena.opted_out, "StopQueryExecution on an opted-out workgroup"
            self._not_held_before(call.crawler, call.at)
        self.checked_calls = len(self.athena.calls)

    def _not_held_before(self, query_id: str, at: Any) -> None:
        writes = [i for i in self.store.log if i.resource_id == query_id]
        claims = [i for i in writes if i.intents]
        if not claims:
            return
        before = [i for i in writes if i.incident_id == claims[-1].incident_id and i.version < claims[-1].version]
        if before:
            prior = before[-1]
            held = prior.status is IncidentStatus.ESCALATED and (
                prior.hold_until is None or parse_iso(prior.hold_until) > at
            )
            assert not held, f"cancelled {query_id} while its incident was held"

    @invariant()
    def resolved_only_when_the_query_ended(self) -> None:
        assert self.store.unrecovered_resolves == []

    @invariant()
    def items_stay_bounded(self) -> None:
        for incident in self.store.log[-5:]:
            assert len(incident.model_dump_json()) < 64_000

    def teardown(self) -> None:
        if not hasattr(self, "store"):
            return
        self.notifier.down = False
        self.athena.faults.clear()
        self.store.faults.clear()
        for _ in range(2):
            self.clock.advance(1000)
            self.sweep()
        STATS["messages"] += assert_delivered_exactly_once(self.store, (m for m, _, _ in self.notifier.published))
        assert_effects_recorded(
            self.store, Counter((c.crawler, iso(c.at), "stop_query") for c in self.athena.calls if c.effective)
        )


QueryHistories.TestCase.settings = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=os.environ.get("PROPERTY_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
test_query_histories = QueryHistories.TestCase


def test_zz_report_query_history_counts() -> None:
    """Prints the budget this run covered (`pytest -s` shows it)."""
    print(f"\nquery property histories: {STATS}")
    assert STATS["histories"] == 0 or STATS["steps"] > 0
