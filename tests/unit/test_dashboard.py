"""The dashboard plots what the code emits: every widget's metric name and dimension set is one some code emits.

The emulator run in tests/scenario/test_deploy_walkthrough.py checks the other half: what a run really printed
as EMF has exactly the dimension sets this catalogue says.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from watchdogs_local.metrics_catalogue import (
    Emitted,
    Plotted,
    dashboard_metrics,
    emf_metrics,
    emitted_catalogue,
    unmatched,
)
from watchdogs_local.template import load_template

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"


@cache
def _plotted() -> tuple[Plotted, ...]:
    return tuple(dashboard_metrics(load_template(TEMPLATE)))


def test_every_widget_metric_is_emitted_with_exactly_its_dimensions() -> None:
    # Given the dashboard's metrics and the metrics the code emits
    plotted, catalogue = _plotted(), emitted_catalogue()
    # Then each of the watchdogs' own widget metrics matches an emitted name with the same dimension set
    assert unmatched(plotted, catalogue) == []


def test_the_dashboard_shows_the_operators_questions() -> None:
    names = {p.name for p in _plotted()}
    # open incidents, time to recover, actions by outcome, quarantined resources, rejected events, notify failures
    assert {"OpenIncidents", "TimeToRecover", "Acted", "ActionRetry", "QuarantinedResources"} <= names
    assert {"RejectedEvent", "NotifyFailed"} <= names


def test_a_search_on_the_namespace_alone_matches_nothing_the_code_emits() -> None:
    # Given the schema the dashboard used to have ({LakehouseWatchdogs} with no keys)
    stale = Plotted("old", "LakehouseWatchdogs", "Acted", frozenset())
    wrong_keys = Plotted("old", "LakehouseWatchdogs", "OutcomeEscalate", frozenset({"service"}))
    # Then both are reported: every emitted metric carries at least the service dimension
    assert unmatched([stale, wrong_keys], emitted_catalogue()) == [stale, wrong_keys]


def test_the_catalogue_reads_fstring_and_conditional_names() -> None:
    catalogue = emitted_catalogue()
    acted = [e for e in catalogue if e.matches("ActionRetry")]
    assert acted
    assert all(e.dimensions == {"action", "service"} for e in acted)
    assert any(e.matches("OutcomeEscalate") and e.dimensions == {"resource_type", "service"} for e in catalogue)
    assert Emitted("Acted", frozenset(), "x").matches("Acted")


def test_emf_lines_are_read_as_namespace_name_and_dimension_keys() -> None:
    line = (
        '{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"LakehouseWatchdogs",'
        '"Dimensions":[["action","service"]],"Metrics":[{"Name":"Acted","Unit":"Count"}]}]},'
        '"action":"stop_crawler","service":"lakehouse-watchdogs","Acted":[1.0]}'
    )
    assert emf_metrics(["not json", '{"level":"INFO"}', line]) == {
        ("LakehouseWatchdogs", "Acted", frozenset({"action", "service"}))
    }
