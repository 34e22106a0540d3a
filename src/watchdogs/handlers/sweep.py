"""Sweep function: ``rate(N minutes)`` schedule -> one sweep over the resources in scope (wiring only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.coldstart import cold_start_phase

with cold_start_phase("handler imports"):
    from aws_lambda_powertools.logging import correlation_paths

    from watchdogs.observability import logger, metrics, tracer
    from watchdogs.sweep import handle_scheduled_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_scheduled_event(event, context.get_remaining_time_in_millis)
