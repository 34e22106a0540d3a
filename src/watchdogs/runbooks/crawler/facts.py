"""What the crawler runbook decides on, typed: built from ``GetCrawler``, ``GetTags`` and the crawler's events.

The engine carries facts as plain ``dict[str, Any]`` (recorded on the incident, JSON-plain values only):
:meth:`CrawlerFacts.as_dict` crosses that boundary one way, :meth:`CrawlerFacts.from_dict` the other. An absent
fact is ``None`` and never written, so the recorded facts are exactly what was read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from watchdogs.incidents import iso
from watchdogs.models.domain import Condition, Finding, ResourceType
from watchdogs.shared import is_opted_out, tag_flag, threshold_from_tags

if TYPE_CHECKING:
    from watchdogs.models.events import CrawlerStateChangeEvent
    from watchdogs.settings import Settings

#: crawler tag that turns the "new data is expected on every crawl" check on ("true") or off ("false")
EXPECT_NEW_DATA_TAG = "watchdogs:expect-new-data"

_EVENT_CONDITIONS = {"Failed": Condition.FAILED, "Succeeded": Condition.RECOVERED, "Started": Condition.STARTED}


class CrawlerFacts(BaseModel):
    """One crawler as read just now. ``None`` = not read (or not reported); the rules say what that means."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    exists: bool | None = None
    crawler_state: str | None = None
    running_seconds: int | None = None
    last_crawl_status: str | None = None
    last_crawl_error: str | None = None
    last_crawl_started_at: str | None = None
    log_group: str | None = None
    log_stream: str | None = None
    role: str | None = None
    database: str | None = None
    s3_targets: list[str] | None = None
    exclusions: list[str] | None = None
    read_at: str | None = None
    # from GetTags (only when the runbook is about to act or to judge a crawler stuck)
    opted_out: bool | None = None
    threshold_seconds: int | None = None
    expect_new_data: bool | None = None
    tags_unavailable: bool | None = None

    @classmethod
    def from_dict(cls, facts: dict[str, Any]) -> CrawlerFacts:
        return cls.model_validate(facts)

    def as_dict(self) -> dict[str, Any]:
        """The facts for the engine and the incident record (absent facts left out)."""
        return self.model_dump(exclude_none=True)

    @property
    def gone(self) -> bool:
        """GetCrawler said there is no such crawler."""
        return self.exists is False

    @property
    def state(self) -> str:
        """The crawler's state; a crawler GetCrawler did not describe counts as READY."""
        return self.crawler_state or "READY"

    @classmethod
    def from_get_crawler(cls, crawler: dict[str, Any], now: datetime) -> CrawlerFacts:
        """The facts worth deciding on, from one ``GetCrawler`` answer (pure)."""
        state = str(crawler.get("State", "READY"))
        elapsed_ms = crawler.get("CrawlElapsedTime")
        last = crawler.get("LastCrawl") or {}
        started = last.get("StartTime")
        s3_targets = (crawler.get("Targets") or {}).get("S3Targets") or []
        exclusions = sorted({e for t in s3_targets for e in t.get("Exclusions") or []})
        running = int(elapsed_ms) // 1000 if elapsed_ms is not None else None  # 0 is "just started", not unknown
        return cls(
            exists=True,
            crawler_state=state,
            running_seconds=running if state in {"RUNNING", "STOPPING"} else None,
            last_crawl_status=last.get("Status"),
            last_crawl_error=last.get("ErrorMessage"),
            log_group=last.get("LogGroup"),
            log_stream=last.get("LogStream"),
            last_crawl_started_at=iso(started) if isinstance(started, datetime) else None,
            role=crawler.get("Role") or None,
            database=crawler.get("DatabaseName") or None,
            s3_targets=[t.get("Path", "") for t in s3_targets] or None,
            exclusions=exclusions or None,
            read_at=iso(now),
        )

    def with_tags(self, tags: dict[str, str] | None, settings: Settings) -> CrawlerFacts:
        """These facts plus what the crawler's tags say (opt-out, threshold, expect-new-data); ``None``: unreadable."""
        if tags is None:
            return self.model_copy(update={"tags_unavailable": True})
        threshold = threshold_from_tags(tags, settings.threshold_tag, settings.crawler_stuck_seconds)
        return self.model_copy(
            update={
                "opted_out": is_opted_out(tags, settings.opt_out_tag),
                "threshold_seconds": threshold.seconds,
                "expect_new_data": expects_new_data(tags, settings.crawler_expect_new_data),
            }
        )


def crawler_facts(crawler: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One ``GetCrawler`` answer as engine facts (JSON-plain values only)."""
    return CrawlerFacts.from_get_crawler(crawler, now).as_dict()


def expects_new_data(tags: dict[str, str], default: bool) -> bool:
    """Whether every successful crawl should create or update something (tag overrides the setting)."""
    flag = tag_flag(tags.get(EXPECT_NEW_DATA_TAG))
    return default if flag is None else flag


def findings_from_event(event: CrawlerStateChangeEvent) -> list[Finding]:
    """``Glue Crawler State Change`` -> one finding: Failed -> FAILED, Succeeded -> RECOVERED, Started -> STARTED."""
    detail = event.detail
    condition = _EVENT_CONDITIONS[detail.state]
    facts: dict[str, Any] = {
        "event_state": detail.state,
        "account_id": detail.account_id or event.account,
        "event_account": event.account,
        "event_region": event.region,
        "error_message": detail.error_message,
        "event_message": detail.message,
        "running_time_sec": detail.running_time_sec,
        "cloudwatch_log_link": detail.cloudwatch_log_link,
    }
    if condition is Condition.RECOVERED:
        facts.update(
            tables_created=detail.tables_created,
            tables_updated=detail.tables_updated,
            tables_deleted=detail.tables_deleted,
            partitions_created=detail.partitions_created,
            partitions_updated=detail.partitions_updated,
            partitions_deleted=detail.partitions_deleted,
            changed_anything=detail.changed_anything,
        )
    return [
        Finding(
            resource_type=ResourceType.CRAWLER,
            resource_id=detail.crawler_name,
            condition=condition,
            source="event",
            event_id=event.id,
            observed_at=event.time,
            scope_key=detail.crawler_name,
            facts={k: v for k, v in facts.items() if v is not None},
        )
    ]
