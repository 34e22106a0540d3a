"""Athena ``Athena Query State Change`` events (see :mod:`watchdogs.models.envelope`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from watchdogs.models.envelope import (
    _TOLERANT,
    Count,
    Text,
    WatchdogEvent,
)

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
