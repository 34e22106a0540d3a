"""The sweep's schedule event (see :mod:`watchdogs.models.envelope`)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from watchdogs.models.envelope import (
    WatchdogEvent,
)


# --------------------------------------------------------------------------------------------- schedule
class ScheduledEvent(WatchdogEvent):
    source: Literal["aws.events", "aws.scheduler"]
    detail_type: Literal["Scheduled Event"] = Field(alias="detail-type")
