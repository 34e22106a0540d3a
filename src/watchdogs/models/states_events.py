"""Step Functions ``Execution Status Change`` events (see :mod:`watchdogs.models.envelope`)."""

from __future__ import annotations

from datetime import datetime  # noqa: TC003 - pydantic resolves the annotations at run time
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from watchdogs.models.envelope import (
    _TOLERANT,
    MAX_ARN,
    MAX_EPOCH_MS,
    Count,
    WatchdogEvent,
    _epoch_ms,
)
from watchdogs.shared import state_machine_of, unqualified_state_machine

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
