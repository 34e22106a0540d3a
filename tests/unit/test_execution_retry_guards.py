"""A throttled RedriveExecution is retried later, through every guard: never in observe mode, never on a state
machine that opted out meanwhile (regressions found by the execution property histories). In-memory fakes only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.property.common import make_settings
from tests.support.fake_sfn import FakeSfn, Run
from tests.support.fakes import Clock, FakeNotifier
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine
from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.runbooks.execution import ExecutionRemediator

MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-pipeline"
ARN = "arn:aws:states:us-east-1:123456789012:execution:lakehouse-pipeline:run-1"


def engine(mode: str, sfn: FakeSfn, store: MemoryIncidentStore, clock: Clock) -> Engine:
    s = make_settings(mode)
    clients = AwsClients(sfn=sfn)
    remediators: dict[ResourceType, Any] = {ResourceType.EXECUTION: ExecutionRemediator(s, clients)}
    return Engine(s, clients, remediators, store=store, notifier=FakeNotifier(), actor="t", clock=clock)


def failed(clock: Clock) -> Finding:
    return Finding(
        resource_type=ResourceType.EXECUTION,
        resource_id=ARN,
        condition=Condition.FAILED,
        source="sweep",
        observed_at=clock(),
        scope_key=MACHINE,
        facts={"status": "FAILED"},
    )


@pytest.fixture
def throttled_redrive() -> tuple[FakeSfn, MemoryIncidentStore, Clock]:
    """A run failed transiently; its redrive was throttled (the intent waits for its retry time)."""
    clock = Clock()
    sfn = FakeSfn(clock)
    run = Run(ARN, "crawler", clock(), child="lakehouse-sandbox-raw-crawler")
    sfn.runs[ARN] = run
    sfn.end(run, "FAILED", "Glue.ThrottlingException", "Rate exceeded")
    store = MemoryIncidentStore(environment="prop")
    sfn.faults.append("throttle")
    result = engine("remediate", sfn, store, clock).handle(failed(clock))
    assert result.actions == ["redrive_execution:throttled"]
    assert store.load(ResourceType.EXECUTION, ARN).incidents[Condition.FAILED].intents
    clock.advance(3600)  # past the retry time
    return sfn, store, clock


def test_a_throttled_redrive_is_not_retried_in_observe_mode(
    throttled_redrive: tuple[FakeSfn, MemoryIncidentStore, Clock],
) -> None:
    sfn, store, clock = throttled_redrive
    # When the watchdog was switched to observe meanwhile and the sweep comes back to the incident
    engine("observe", sfn, store, clock).handle(failed(clock))
    # Then nothing was redriven: the retry is decided afresh, and in observe mode only recorded as would-act
    assert [c.operation for c in sfn.calls] == []
    assert sfn.runs[ARN].status == "FAILED"
    incident = store.load(ResourceType.EXECUTION, ARN).incidents[Condition.FAILED]
    assert incident.intents == []
    assert incident.status is IncidentStatus.OBSERVED


def test_a_throttled_redrive_is_not_retried_on_a_state_machine_that_opted_out(
    throttled_redrive: tuple[FakeSfn, MemoryIncidentStore, Clock],
) -> None:
    sfn, store, clock = throttled_redrive
    # When the state machine was tagged watchdogs:opt-out meanwhile
    sfn.opted_out.add(MACHINE)
    engine("remediate", sfn, store, clock).handle(failed(clock))
    # Then it is not touched
    assert [c.operation for c in sfn.calls] == []
    assert sfn.runs[ARN].status == "FAILED"


def test_a_throttled_redrive_is_retried_once_with_the_same_token(
    throttled_redrive: tuple[FakeSfn, MemoryIncidentStore, Clock],
) -> None:
    sfn, store, clock = throttled_redrive
    # When the sweep comes back in remediate mode
    engine("remediate", sfn, store, clock).handle(failed(clock))
    # Then the run is redriven once, with the token the first attempt carried
    assert [(c.operation, c.effective) for c in sfn.calls] == [("RedriveExecution", True)]
    assert list(sfn.runs[ARN].tokens) == [f"watchdogs-{ARN.rsplit(':', 1)[-1]}-1"]
    incident = store.load(ResourceType.EXECUTION, ARN).incidents[Condition.FAILED]
    assert incident.intents == []
    assert incident.attempts == 1
