"""EventBridge event models for the three sources, on an envelope with the fields of Powertools Parser's
``EventBridgeModel``.

Shapes follow the real events: Step Functions ``Execution Status Change`` (epoch-millisecond dates, no error or
cause), Glue ``Glue Crawler State Change`` (title-case states, counters as strings, a key literally named
``runningTime (sec)``) and Athena ``Athena Query State Change`` (``sequenceNumber`` shared by duplicate
deliveries). Unknown fields are tolerated everywhere: AWS adds fields without notice.

What identifies a resource (names, ids, ARNs) must be within AWS's own limits, or the event is rejected here:
a value AWS could never have sent would otherwise reach an API call and fail there, on every retry. Free text
(error messages, links) is truncated instead, so a long message still reaches its runbook but never bloats an
incident record past DynamoDB's item size. Numbers are bounded the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from watchdogs.shared import state_machine_of, unqualified_state_machine

#: every model here is built on its first use (``defer_build``): a handler builds only its own source's models
_TOLERANT = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

#: free text kept from an event (error messages, log links): longer text is cut here
TEXT_CHARS = 2000
#: epoch milliseconds up to the end of year 9999 (what ``datetime`` can hold)
MAX_EPOCH_MS = 253_402_300_799_999
#: counters and small integers an event carries (Glue table counts, Athena error codes, redrive counts)
MAX_COUNT = 2**53
#: AWS's ARN length limit in the Step Functions API (``executionArn``, ``stateMachineArn``: 1..256)
MAX_ARN = 256


def _truncate(value: str) -> str:
    return value if len(value) <= TEXT_CHARS else value[: TEXT_CHARS - 1] + "\u2026"


Text = Annotated[str, AfterValidator(_truncate)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
#: Glue's single-line string: no control characters but tab
GLUE_NAME = r"^[^\x00-\x08\x0a-\x1f\x7f]+$"


def _epoch_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


class EventBridgeEnvelope(BaseModel):
    """The EventBridge envelope: the fields of Powertools Parser's ``EventBridgeModel``, declared here because
    importing that one model imports the Parser's whole model catalogue (SQS, Kinesis, API Gateway, ... about 60
    ms of every cold start, see docs/performance.md)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(None, alias="replay-name")


class WatchdogEvent(EventBridgeEnvelope):
    """The EventBridge envelope as the watchdogs accept it, with the fields the watchdogs rely on held to what
    EventBridge always sends.

    ``id`` must be a non-empty string. An event without one is rejected rather than given an id derived from its
    content: EventBridge stamps every delivery with an id, so an event without one was not delivered by
    EventBridge (a hand-made test, a broken replay tool), and the id is what de-duplicates a delivery (the Glue
    watchdog's idempotency key). Acting on an event that cannot be de-duplicated would bypass the at-least-once
    guard. Rejecting it loses little: the sweep still finds stuck work and the failed crawls and runs no incident
    knows, and a failed query is only ever notified, never acted on.
    """

    id: str = Field(min_length=1, max_length=128, pattern=r"^\S+$")
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    time: AwareDatetime


# --------------------------------------------------------------------------------------------- Step Functions
ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]


class ExecutionStatusDetail(BaseModel):
    model_config = _TOLERANT

    execution_arn: str = Field(
        alias="executionArn", max_length=MAX_ARN, pattern=r"^arn:aws[a-z-]*:states:[^:]+:\d{12}:execution:"
    )
    state_machine_arn: str = Field(
        alias="stateMachineArn", max_length=MAX_ARN, pattern=r"^arn:aws[a-z-]*:states:[^:]+:\d{12}:stateMachine:"
    )
    name: str = Field(min_length=1, max_length=80)
    status: ExecutionStatus
    start_date: int = Field(alias="startDate", ge=0, le=MAX_EPOCH_MS)
    stop_date: int | None = Field(default=None, alias="stopDate", ge=0, le=MAX_EPOCH_MS)
    redrive_count: Count = Field(default=0, alias="redriveCount")

    @model_validator(mode="after")
    def _one_state_machine(self) -> ExecutionStatusDetail:
        """Scope is judged on the execution acted on: the state machine parsed from ``executionArn`` must be the
        one ``stateMachineArn`` names (a version or alias qualifier aside), or the event is not trusted at all."""
        parsed = state_machine_of(self.execution_arn)
        if not parsed:
            raise ValueError(f"executionArn {self.execution_arn!r} is not an execution ARN")
        if unqualified_state_machine(self.state_machine_arn) != parsed:
            raise ValueError(
                f"stateMachineArn {self.state_machine_arn!r} is not the state machine of executionArn ({parsed})"
            )
        return self

    @property
    def started_at(self) -> datetime:
        started = _epoch_ms(self.start_date)
        assert started is not None
        return started

    @property
    def stopped_at(self) -> datetime | None:
        return _epoch_ms(self.stop_date)


class ExecutionStatusChangeEvent(WatchdogEvent):
    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusDetail


# --------------------------------------------------------------------------------------------- Glue crawlers
CrawlerEventState = Literal["Started", "Succeeded", "Failed"]


class CrawlerStateDetail(BaseModel):
    model_config = _TOLERANT

    crawler_name: str = Field(alias="crawlerName", min_length=1, max_length=255, pattern=GLUE_NAME)
    state: CrawlerEventState
    account_id: str | None = Field(default=None, alias="accountId", pattern=r"^\d{12}$")
    message: Text | None = None
    error_message: Text | None = Field(default=None, alias="errorMessage")
    running_time_sec: Count | None = Field(default=None, alias="runningTime (sec)")
    tables_created: Count = Field(default=0, alias="tablesCreated")
    tables_updated: Count = Field(default=0, alias="tablesUpdated")
    tables_deleted: Count = Field(default=0, alias="tablesDeleted")
    partitions_created: Count = Field(default=0, alias="partitionsCreated")
    partitions_updated: Count = Field(default=0, alias="partitionsUpdated")
    partitions_deleted: Count = Field(default=0, alias="partitionsDeleted")
    start_time: Text | None = Field(default=None, alias="startTime")
    completion_date: Text | None = Field(default=None, alias="completionDate")
    cloudwatch_log_link: Text | None = Field(default=None, alias="cloudWatchLogLink")

    @field_validator(
        "running_time_sec",
        "tables_created",
        "tables_updated",
        "tables_deleted",
        "partitions_created",
        "partitions_updated",
        "partitions_deleted",
        mode="before",
    )
    @classmethod
    def _counter(cls, value: object) -> object:
        # Glue sends counters as strings ("0"), and "N/A" where it has none
        if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
            return 0
        return value

    @property
    def changed_anything(self) -> bool:
        return any(
            (
                self.tables_created,
                self.tables_updated,
                self.tables_deleted,
                self.partitions_created,
                self.partitions_updated,
                self.partitions_deleted,
            )
        )


class CrawlerStateChangeEvent(WatchdogEvent):
    source: Literal["aws.glue"]
    detail_type: Literal["Glue Crawler State Change"] = Field(alias="detail-type")
    detail: CrawlerStateDetail


# --------------------------------------------------------------------------------------------- Athena queries
QueryState = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]


class AthenaError(BaseModel):
    model_config = _TOLERANT

    error_category: Count | None = Field(default=None, alias="errorCategory")
    error_type: Count | None = Field(default=None, alias="errorType")
    error_message: Text | None = Field(default=None, alias="errorMessage")
    retryable: bool | None = None


class QueryStateDetail(BaseModel):
    model_config = _TOLERANT

    # Athena query ids are UUIDs; workgroup names are [a-zA-Z0-9._-]{1,128} (Athena's own rule)
    query_execution_id: str = Field(alias="queryExecutionId", min_length=1, max_length=128, pattern=r"^[\w-]+$")
    current_state: QueryState = Field(alias="currentState")
    previous_state: QueryState | None = Field(default=None, alias="previousState")
    sequence_number: Count = Field(alias="sequenceNumber")
    statement_type: str | None = Field(default=None, alias="statementType", max_length=64)
    workgroup_name: str = Field(alias="workgroupName", min_length=1, max_length=128, pattern=r"^[a-zA-Z0-9._-]+$")
    version_id: Text | None = Field(default=None, alias="versionId")
    athena_error: AthenaError | None = Field(default=None, alias="athenaError")


class QueryStateChangeEvent(WatchdogEvent):
    source: Literal["aws.athena"]
    detail_type: Literal["Athena Query State Change"] = Field(alias="detail-type")
    detail: QueryStateDetail


# --------------------------------------------------------------------------------------------- schedule
class ScheduledEvent(WatchdogEvent):
    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
