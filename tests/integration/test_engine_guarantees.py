"""Engine guarantees with a real remediator (the Glue crawler watchdog), the real engine and moto: the per-resource
action budget escalates and quarantines instead of acting, and nothing acts on a quarantined crawler until an
operator acknowledges."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import FakeContext
from tests.integration.test_glue_watchdog import (
    RAW,
    crawler_state,
    current,
    event,
    invoke,
    lakehouse_crawlers,
    outcomes,
    store,
    stuck_finding,
    sweep,
    use_env,
)
from tests.support.aws import ApiCalls, Subscriber
from watchdogs.incidents import now_utc
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType
from watchdogs_local.moto_ext.glue import set_crawl

pytestmark = pytest.mark.integration


@pytest.fixture
def glue(aws: dict[str, Any]) -> Iterator[Any]:
    with lakehouse_crawlers() as client:
        yield client


def test_budget_exhaustion_escalates_and_quarantines_instead_of_restarting(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, lambda_context: FakeContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, BUDGET_MAX_ACTIONS="2")
    # Given a crawler that keeps failing transiently, each failure a new event
    for _ in range(3):
        body = event("glue-crawler-failed-internal-service-exception")
        set_crawl(RAW, "FAILED", error_message=body["detail"]["errorMessage"])
        invoke(body, lambda_context)
    # Then it was restarted twice (the budget) and the third failure is escalated, the crawler quarantined
    assert api_calls.calls["glue.StartCrawler"] == 2
    assert crawler_state(glue, RAW) == "READY"
    state = store().load(ResourceType.CRAWLER, RAW)
    assert state.budget.is_quarantined(now_utc())
    incident = state.incidents[Condition.FAILED]
    assert incident.status is IncidentStatus.ESCALATED
    assert incident.attempts == 2
    assert "budget exhausted" in incident.summary
    assert outcomes(subscriber) == ["act", "act", "escalate"]


def test_quarantined_crawler_is_not_stopped_until_an_operator_acknowledges(
    glue: Any, api_calls: ApiCalls, subscriber: Subscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_env(monkeypatch, BUDGET_MAX_ACTIONS="0")
    # Given a stuck crawler and a budget of zero actions
    set_crawl(RAW, "RUNNING", running_for_seconds=3000)
    # When the sweep hands it over
    result = sweep(stuck_finding(RAW))
    # Then no StopCrawler: escalated, quarantined, the crawler still RUNNING
    assert result.status == "escalated"
    assert api_calls.calls["glue.StopCrawler"] == 0
    assert crawler_state(glue, RAW) == "RUNNING"
    assert store().load(ResourceType.CRAWLER, RAW).budget.is_quarantined(now_utc())
    # And the next sweep neither acts nor pages again: the escalated incident is held
    assert sweep(stuck_finding(RAW)).outcome == "held"
    assert outcomes(subscriber) == ["escalate"]
    # When an operator acknowledges (and the budget allows an action again)
    store().acknowledge(ResourceType.CRAWLER, RAW, operator="oncall@example.com")
    use_env(monkeypatch, BUDGET_MAX_ACTIONS="3")
    resumed = sweep(stuck_finding(RAW))
    # Then the reset runs: the crawler is stopping
    assert resumed.actions == ["stop_crawler:stopping"]
    assert crawler_state(glue, RAW) == "STOPPING"
    incident = current(RAW, Condition.STUCK)
    assert incident is not None
    assert incident.status is IncidentStatus.REMEDIATING
