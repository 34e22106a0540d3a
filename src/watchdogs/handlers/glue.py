"""Glue crawler watchdog: ``aws.glue`` / ``Glue Crawler State Change`` (the rule filters crawlers in scope)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.coldstart import cold_start_phase

with cold_start_phase("handler imports"):
    from aws_lambda_powertools.logging import correlation_paths

    from watchdogs.models.domain import ResourceType
    from watchdogs.models.glue_events import CrawlerStateChangeEvent
    from watchdogs.observability import logger, metrics, tracer
    from watchdogs.runbooks.crawler import findings_from_event
    from watchdogs.runtime import handle_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def _event_id(event: CrawlerStateChangeEvent) -> str:
    return event.id


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(
        event,
        context,
        CrawlerStateChangeEvent,
        findings_from_event,
        dedup_key=_event_id,
        answers_timers=ResourceType.CRAWLER,
    )
