"""Glue ``Glue Crawler State Change`` events (see :mod:`watchdogs.models.envelope`)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from watchdogs.models.envelope import (
    _TOLERANT,
    GLUE_NAME,
    Count,
    Text,
    WatchdogEvent,
)

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
