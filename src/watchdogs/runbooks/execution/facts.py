"""Typed facts about one pipeline run, built by the shell from its reads and handed to the engine as a dict.

The engine and the incident store speak ``dict[str, Any]`` (facts are recorded on the incident); the runbook
speaks :class:`ExecutionFacts`. :meth:`ExecutionFacts.as_dict` is the one place the typed facts become the flat,
recorded keys (``status``, ``current_state``, ``waits_on``, ``active_queries``, ...) and
:meth:`ExecutionFacts.from_dict` the one place they are read back, so both sides agree on every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from watchdogs.runbooks.execution.history import HistoryView, WaitsOn, WaitTarget

if TYPE_CHECKING:
    from collections.abc import Mapping


def _int(value: Any) -> int | None:
    try:
        return None if value is None else int(float(value))
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _compact(raw: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in raw.items() if v is not None}


@dataclass(frozen=True)
class QueryFact:
    """One Athena query of the run's workgroup, from ``BatchGetQueryExecution``."""

    id: str
    state: str | None = None
    running_seconds: int | None = None  # since submission (QUEUED/RUNNING)
    completed_at: str | None = None  # ``Status.CompletionDateTime`` (finished queries)

    def as_dict(self) -> dict[str, Any]:
        return _compact(
            {
                "id": self.id,
                "state": self.state,
                "running_seconds": self.running_seconds,
                "completed_at": self.completed_at,
            }
        )

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> QueryFact:
        return cls(
            id=str(raw.get("id", "")),
            state=_str(raw.get("state")),
            running_seconds=_int(raw.get("running_seconds")),
            completed_at=_str(raw.get("completed_at")),
        )


@dataclass(frozen=True)
class CrawlerFact:
    """The crawler a run waits on, from ``GetCrawler``: is it being healed (STOPPING, or a fresh crawl)?"""

    name: str
    state: str | None = None  # READY | RUNNING | STOPPING
    crawl_started_at: str | None = None  # the current crawl's start (RUNNING / STOPPING), from CrawlElapsedTime


@dataclass(frozen=True)
class ExecutionFacts:
    """What the shell read about one run. Every field is optional: each condition reads only what it declares."""

    exists: bool = True
    status: str | None = None
    start_date: str | None = None
    stop_date: str | None = None
    running_seconds: int | None = None  # since the start, or since the last redrive
    error: str | None = None
    cause: str | None = None
    redrive_count: int = 0
    redrive_status: str | None = None
    redrive_status_reason: str | None = None
    state_machine_arn: str | None = None
    state_machine_type: str | None = None
    view: HistoryView | None = None
    target: WaitTarget | None = None
    active_queries: tuple[QueryFact, ...] | None = None  # QUEUED / RUNNING in the workgroup
    cancelled_queries: tuple[QueryFact, ...] | None = None  # CANCELLED in the workgroup's newest page
    crawler: CrawlerFact | None = None
    metadata_row: dict[str, Any] | None = None
    opted_out: bool = False

    @property
    def wait(self) -> WaitTarget:
        return self.target or WaitTarget(WaitsOn.NOTHING)

    def as_dict(self) -> dict[str, Any]:
        """The flat facts the engine records on the incident (``None`` left out)."""
        facts: dict[str, Any] = {
            "status": self.status,
            "start_date": self.start_date,
            "stop_date": self.stop_date,
            "running_seconds": self.running_seconds,
            "error": self.error,
            "cause": self.cause,
            "redrive_count": self.redrive_count if self.status is not None else None,
            "redrive_status": self.redrive_status,
            "redrive_status_reason": self.redrive_status_reason,
            "state_machine_arn": self.state_machine_arn,
            "state_machine_type": self.state_machine_type,
            "metadata_row": self.metadata_row,
        }
        if not self.exists:
            facts["exists"] = False
        if self.opted_out:
            facts["opted_out"] = True
        if self.view is not None:
            facts.update(self.view.as_facts())
        if self.target is not None:
            facts.update(
                waits_on=self.target.waits_on.value,
                wait_crawler=self.target.crawler,
                wait_workgroup=self.target.workgroup,
                wait_how=self.target.how,
                data_quality=self.target.data_quality,
            )
        if self.active_queries is not None:
            facts["active_queries"] = [q.as_dict() for q in self.active_queries]
        if self.cancelled_queries is not None:
            facts["cancelled_queries"] = [q.as_dict() for q in self.cancelled_queries]
        if self.crawler is not None:
            facts.update(wait_crawler_state=self.crawler.state, wait_crawl_started_at=self.crawler.crawl_started_at)
        return _compact(facts)

    @classmethod
    def from_dict(cls, facts: Mapping[str, Any]) -> ExecutionFacts:
        """Read recorded (or test-given) flat facts back; unknown or missing keys fall back to the defaults."""
        crawler = None
        if facts.get("wait_crawler_state") is not None:
            crawler = CrawlerFact(
                name=str(facts.get("wait_crawler") or ""),
                state=_str(facts.get("wait_crawler_state")),
                crawl_started_at=_str(facts.get("wait_crawl_started_at")),
            )
        return cls(
            exists=facts.get("exists") is not False,
            status=_str(facts.get("status")),
            start_date=_str(facts.get("start_date")),
            stop_date=_str(facts.get("stop_date")),
            running_seconds=_int(facts.get("running_seconds")),
            error=_str(facts.get("error")),
            cause=_str(facts.get("cause")),
            redrive_count=_int(facts.get("redrive_count")) or 0,
            redrive_status=_str(facts.get("redrive_status")),
            redrive_status_reason=_str(facts.get("redrive_status_reason")),
            state_machine_arn=_str(facts.get("state_machine_arn")),
            state_machine_type=_str(facts.get("state_machine_type")),
            view=_view(facts),
            target=_target(facts),
            active_queries=_queries(facts.get("active_queries")),
            cancelled_queries=_queries(facts.get("cancelled_queries")),
            crawler=crawler,
            metadata_row=facts.get("metadata_row") or None,
            opted_out=bool(facts.get("opted_out")),
        )


def _queries(raw: Any) -> tuple[QueryFact, ...] | None:
    if raw is None:
        return None
    return tuple(QueryFact.from_dict(q) for q in raw if isinstance(q, dict))


def _target(facts: Mapping[str, Any]) -> WaitTarget | None:
    if "waits_on" not in facts:
        return None
    return WaitTarget(
        WaitsOn(facts.get("waits_on") or WaitsOn.NOTHING.value),
        crawler=_str(facts.get("wait_crawler")),
        workgroup=_str(facts.get("wait_workgroup")),
        data_quality=bool(facts.get("data_quality")),
        how=str(facts.get("wait_how") or "default"),
    )


def _view(facts: Mapping[str, Any]) -> HistoryView:
    service, _, api = str(facts.get("task_resource") or "").partition(":")
    return HistoryView(
        current_state=_str(facts.get("current_state")),
        current_state_type=_str(facts.get("current_state_type")),
        task_state=_str(facts.get("task_state")),
        task_service=service or None,
        task_api=api or None,
        crawler=_str(facts.get("history_crawler")),
        workgroup=_str(facts.get("history_workgroup")),
        query_execution_id=_str(facts.get("history_query_execution_id")),
        error=_str(facts.get("history_error")),
        cause=_str(facts.get("history_cause")),
        failed_state=_str(facts.get("failed_state")),
        last_event_at=_str(facts.get("last_event_at")),
        excerpt=tuple(str(x) for x in facts.get("_history_excerpt") or ()),
    )
