"""Step Functions watchdog: ``aws.states`` / ``Step Functions Execution Status Change`` (the rule filters the state
machines in scope and the statuses acted on: SUCCEEDED, FAILED, TIMED_OUT, ABORTED)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.coldstart import cold_start_phase

with cold_start_phase("handler imports"):
    from aws_lambda_powertools.logging import correlation_paths

    from watchdogs.models.domain import ResourceType
    from watchdogs.models.states_events import ExecutionStatusChangeEvent
    from watchdogs.observability import logger, metrics, tracer
    from watchdogs.runbooks.execution import dedup_key, findings_from_event
    from watchdogs.runtime import handle_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle_event(
        event,
        context,
        ExecutionStatusChangeEvent,
        findings_from_event,
        dedup_key=dedup_key,
        answers_timers=ResourceType.EXECUTION,
    )
