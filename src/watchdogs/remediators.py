"""Registry of the remediators, one per resource type (crawler, query, execution), each built on first use.

A runbook package is imported only when its resource type is first asked for: the Glue handler loads the crawler
runbook and nothing else (cold start), a delegated finding loads its own runbook when the heal reaches it, and the
sweep, which walks every runbook, loads all three. ``tests/unit/test_package_boundary.py`` keeps it so.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING

from watchdogs.models.domain import ResourceType

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.contracts import Remediator
    from watchdogs.settings import Settings

#: resource type -> (runbook module, remediator class): the runbooks in the order the sweep walks them
RUNBOOKS: dict[ResourceType, tuple[str, str]] = {
    ResourceType.CRAWLER: ("watchdogs.runbooks.crawler", "CrawlerRemediator"),
    ResourceType.QUERY: ("watchdogs.runbooks.query", "QueryRemediator"),
    ResourceType.EXECUTION: ("watchdogs.runbooks.execution", "ExecutionRemediator"),
}

#: Lambda handler -> the runbooks its function runs: its own, and those it heals at the cause in-process (a stuck
#: run's crawler or query). template.yaml grants each function exactly these runbooks' declared permissions, which
#: ``tests/unit/test_iam_declarations.py`` checks by reading this map.
FUNCTION_RUNBOOKS: dict[str, tuple[ResourceType, ...]] = {
    "watchdogs.handlers.glue.lambda_handler": (ResourceType.CRAWLER,),
    "watchdogs.handlers.athena.lambda_handler": (ResourceType.QUERY,),
    "watchdogs.handlers.states.lambda_handler": (ResourceType.EXECUTION, ResourceType.CRAWLER, ResourceType.QUERY),
    "watchdogs.handlers.sweep.lambda_handler": tuple(RUNBOOKS),
}


class Remediators(Mapping[ResourceType, "Remediator"]):
    """The remediators by resource type, each imported and built the first time it is looked up."""

    def __init__(self, settings: Settings, clients: AwsClients) -> None:
        self._settings = settings
        self._clients = clients
        self._built: dict[ResourceType, Remediator] = {}

    def __getitem__(self, resource_type: ResourceType) -> Remediator:
        if resource_type not in self._built:
            module, name = RUNBOOKS[resource_type]
            self._built[resource_type] = getattr(import_module(module), name)(self._settings, self._clients)
        return self._built[resource_type]

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(RUNBOOKS)

    def __len__(self) -> int:
        return len(RUNBOOKS)

    @property
    def loaded(self) -> frozenset[ResourceType]:
        """The resource types whose runbook this process has built so far."""
        return frozenset(self._built)


def build_remediators(settings: Settings, clients: AwsClients) -> Remediators:
    return Remediators(settings, clients)
