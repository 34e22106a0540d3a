"""A sweep cut short by its deadline reports what it skipped, and the next one starts there (the cursor)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.test_sweep import (  # noqa: F401 - fixtures
    athena_newest_first,
    by_resource,
    held_states,
    lakehouse,
    query_state,
    start_query,
)
from tests.support.aws import ApiCalls
from watchdogs.sweep import run_sweep_once

pytestmark = pytest.mark.integration


@pytest.mark.usefixtures("lakehouse")
def test_a_sweep_cut_short_reports_what_it_skipped_and_the_next_continues_there(api_calls: ApiCalls) -> None:
    # Given a stuck query (RUNNING 27 min, threshold 25)
    stuck = start_query(submitted_seconds_ago=1620)
    order: list[str] = []
    api_calls.session.events.register("before-call", lambda model, **_: order.append(model.name))

    # When a sweep runs out of time right after the crawler runbook listed the crawlers
    def remaining_ms() -> int:
        return 0 if "GetCrawlers" in order else 60_000

    cut = run_sweep_once(remaining_ms)

    # Then it reports the runbooks it skipped, acted on nothing it did not discover, and names where to go on
    assert cut.skipped == ["query", "execution"]
    assert cut.next_start == "query"
    assert any("the query runbook" in w for w in cut.warnings)
    assert stuck not in by_resource(cut)
    assert query_state(stuck) == "RUNNING"

    # When the next sweep runs with time to spare
    order.clear()
    resumed = run_sweep_once(lambda: 60_000)

    # Then it started with the query runbook (before the crawlers), cancelled the stuck query, and cleared the cursor
    assert order.index("ListQueryExecutions") < order.index("GetCrawlers")
    assert by_resource(resumed) == {stuck: ["stuck:STUCK:act"]}
    assert query_state(stuck) == "CANCELLED"
    assert (resumed.skipped, resumed.next_start) == ([], None)

    cleared = cursor_item()
    assert "start" not in cleared

    # When a third sweep runs / Then it starts from the crawlers again; the cursor was read once and, not having
    # moved, not written
    order.clear()
    run_sweep_once(lambda: 60_000)
    assert order.index("GetCrawlers") < order.index("ListQueryExecutions")
    assert order.count("GetItem") == 1
    assert cursor_item() == cleared


def cursor_item() -> dict[str, Any]:
    import boto3

    from tests.conftest import INCIDENT_TABLE

    key = {"pk": {"S": "SWEEP"}, "sk": {"S": "CURSOR"}}
    item: dict[str, Any] = boto3.client("dynamodb").get_item(TableName=INCIDENT_TABLE, Key=key)["Item"]
    return item
