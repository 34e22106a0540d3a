"""EventBridge event models for the three sources, on top of Powertools Parser's ``EventBridgeModel``.

Shapes follow the real events: Step Functions ``Execution Status Change`` (epoch-millisecond dates, no error or
cause), Glue ``Glue Crawler State Change`` (title-case states, counters as strings, a key literally named
``runningTime (sec)``) and Athena ``Athena Query State Change`` (``sequenceNumber`` shared by duplicate
deliveries). Unknown fields are tolerated everywhere: AWS adds fields without notice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from watchdogs.shared import state_machine_of, unqualified_state_machine

_TOLERANT = ConfigDict(extra="allow", populate_by_name=True)
#: AWS's ARN length limit in the Step Functions API (``executionArn``, ``stateMachineArn``: 1..256)
MAX_ARN = 256


def _epoch_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


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
    name: str
    status: ExecutionStatus
    start_date: int = Field(alias="startDate", ge=0)
    stop_date: int | None = Field(default=None, alias="stopDate")
    redrive_count: int = Field(default=0, alias="redriveCount")

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


class ExecutionStatusChangeEvent(EventBridgeModel):
    source: Literal["aws.states"]
    detail_type: Literal["Step Functions Execution Status Change"] = Field(alias="detail-type")
    detail: ExecutionStatusDetail


# --------------------------------------------------------------------------------------------- Glue crawlers
CrawlerEventState = Literal["Started", "Succeeded", "Failed"]


class CrawlerStateDetail(BaseModel):
    model_config = _TOLERANT

    crawler_name: str = Field(alias="crawlerName", min_length=1, max_length=255)
    state: CrawlerEventState
    account_id: str | None = Field(default=None, alias="accountId")
    message: str | None = None
    error_message: str | None = Field(default=None, alias="errorMessage")
    running_time_sec: int | None = Field(default=None, alias="runningTime (sec)")
    tables_created: int = Field(default=0, alias="tablesCreated")
    tables_updated: int = Field(default=0, alias="tablesUpdated")
    tables_deleted: int = Field(default=0, alias="tablesDeleted")
    partitions_created: int = Field(default=0, alias="partitionsCreated")
    partitions_updated: int = Field(default=0, alias="partitionsUpdated")
    partitions_deleted: int = Field(default=0, alias="partitionsDeleted")
    start_time: str | None = Field(default=None, alias="startTime")
    completion_date: str | None = Field(default=None, alias="completionDate")
    cloudwatch_log_link: str | None = Field(default=None, alias="cloudWatchLogLink")

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


class CrawlerStateChangeEvent(EventBridgeModel):
    source: Literal["aws.glue"]
    detail_type: Literal["Glue Crawler State Change"] = Field(alias="detail-type")
    detail: CrawlerStateDetail


# --------------------------------------------------------------------------------------------- Athena queries
QueryState = Literal["QUEUED", "RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"]


class AthenaError(BaseModel):
    model_config = _TOLERANT

    error_category: int | None = Field(default=None, alias="errorCategory")
    error_type: int | None = Field(default=None, alias="errorType")
    error_message: str | None = Field(default=None, alias="errorMessage")
    retryable: bool | None = None


class QueryStateDetail(BaseModel):
    model_config = _TOLERANT

    query_execution_id: str = Field(alias="queryExecutionId", min_length=1, max_length=128)
    current_state: QueryState = Field(alias="currentState")
    previous_state: QueryState | None = Field(default=None, alias="previousState")
    sequence_number: int = Field(alias="sequenceNumber", ge=0)
    statement_type: str | None = Field(default=None, alias="statementType")
    workgroup_name: str = Field(alias="workgroupName", min_length=1)
    version_id: str | None = Field(default=None, alias="versionId")
    athena_error: AthenaError | None = Field(default=None, alias="athenaError")


class QueryStateChangeEvent(EventBridgeModel):
    source: Literal["aws.athena"]
    detail_type: Literal["Athena Query State Change"] = Field(alias="detail-type")
    detail: QueryStateDetail


# --------------------------------------------------------------------------------------------- schedule
class ScheduledEvent(EventBridgeModel):
    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
