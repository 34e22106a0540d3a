"""Gauges for the dashboard: open incidents and quarantined resources per resource type, sampled by the sweep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from watchdogs.gauges import publish_gauges, sample
from watchdogs.incidents import Budget
from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType

NOW = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


def _open(store: MemoryIncidentStore, kind: ResourceType, rid: str, status: IncidentStatus) -> None:
    incident = store.new_incident(kind, rid, Condition.STUCK, status=status, detected_at=NOW - timedelta(minutes=5))
    store.save(incident, expected_version=0)


def _store() -> MemoryIncidentStore:
    store = MemoryIncidentStore()
    _open(store, ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler", IncidentStatus.ESCALATED)
    _open(store, ResourceType.CRAWLER, "lakehouse-sandbox-curated-crawler", IncidentStatus.REMEDIATING)
    _open(store, ResourceType.QUERY, "q-1", IncidentStatus.ESCALATED)
    # the raw crawler exhausted its budget: quarantined for another hour; the query's quarantine has expired
    until = (NOW + timedelta(hours=1)).timestamp()
    store.budgets[(ResourceType.CRAWLER, "lakehouse-sandbox-raw-crawler")] = Budget([], until, "budget exhausted")
    store.budgets[(ResourceType.QUERY, "q-1")] = Budget([], (NOW - timedelta(hours=1)).timestamp(), "expired")
    return store


def test_open_incidents_and_quarantined_resources_are_counted_per_type() -> None:
    sampled = sample(_store(), NOW)
    assert dict(sampled["OpenIncidents"]) == {"crawler": 2, "query": 1}
    assert dict(sampled["QuarantinedResources"]) == {"crawler": 1}


def test_every_type_is_emitted_zero_included(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the service name the template sets (Powertools adds it as a dimension to every blob)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "lakehouse-watchdogs")
    # When the gauges are published
    publish_gauges(_store(), NOW)
    # Then one EMF blob per (gauge, resource type), with the resource_type and service dimensions
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {
        (name, blob["resource_type"]): blob[name][0] if isinstance(blob[name], list) else blob[name]
        for blob in blobs
        for name in ("OpenIncidents", "QuarantinedResources")
        if name in blob
    }
    assert values == {
        ("OpenIncidents", "crawler"): 2.0,
        ("OpenIncidents", "query"): 1.0,
        ("OpenIncidents", "execution"): 0.0,
        ("QuarantinedResources", "crawler"): 1.0,
        ("QuarantinedResources", "query"): 0.0,
        ("QuarantinedResources", "execution"): 0.0,
    }
    assert all(blob["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["resource_type", "service"]] for blob in blobs)


def test_an_unreadable_store_is_logged_not_raised() -> None:
    store = _store()

    def broken(limit: int = 100) -> list[object]:
        from watchdogs.incidents import StoreError

        raise StoreError("cannot query open-index: AccessDenied")

    store.list_open = broken  # type: ignore[method-assign,assignment]
    assert publish_gauges(store, NOW) is None
