"""Registry of the remediators, one per resource type (crawler, query, execution)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdogs.models.domain import ResourceType

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.engine import Remediator
    from watchdogs.settings import Settings


def build_remediators(settings: Settings, clients: AwsClients) -> dict[ResourceType, Remediator]:
    from watchdogs.runbooks.crawler import CrawlerRemediator  # noqa: PLC0415
    from watchdogs.runbooks.execution import ExecutionRemediator  # noqa: PLC0415
    from watchdogs.runbooks.query import QueryRemediator  # noqa: PLC0415

    return {
        ResourceType.CRAWLER: CrawlerRemediator(settings, clients),
        ResourceType.QUERY: QueryRemediator(settings, clients),
        ResourceType.EXECUTION: ExecutionRemediator(settings, clients),
    }
