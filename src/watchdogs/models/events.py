"""EventBridge event models for the three sources and the schedule: one module per source, re-exported here.

Handlers import their own source's module (a Glue cold start creates no Athena or Step Functions model); everything
else may import from here. The envelope and the shared bounds are in :mod:`watchdogs.models.envelope`.
"""

from watchdogs.models.athena_events import AthenaError, QueryState, QueryStateChangeEvent, QueryStateDetail
from watchdogs.models.envelope import (
    GLUE_NAME,
    MAX_ARN,
    MAX_COUNT,
    MAX_EPOCH_MS,
    TEXT_CHARS,
    Count,
    EventBridgeEnvelope,
    Text,
    WatchdogEvent,
)
from watchdogs.models.glue_events import CrawlerEventState, CrawlerStateChangeEvent, CrawlerStateDetail
from watchdogs.models.schedule_events import ScheduledEvent
from watchdogs.models.states_events import ExecutionStatus, ExecutionStatusChangeEvent, ExecutionStatusDetail

__all__ = [
    "GLUE_NAME",
    "MAX_ARN",
    "MAX_COUNT",
    "MAX_EPOCH_MS",
    "TEXT_CHARS",
    "AthenaError",
    "Count",
    "CrawlerEventState",
    "CrawlerStateChangeEvent",
    "CrawlerStateDetail",
    "EventBridgeEnvelope",
    "ExecutionStatus",
    "ExecutionStatusChangeEvent",
    "ExecutionStatusDetail",
    "QueryState",
    "QueryStateChangeEvent",
    "QueryStateDetail",
    "ScheduledEvent",
    "Text",
    "WatchdogEvent",
]
