"""What one sweep reports (:class:`SweepReport`: its return value, one log line and a few metrics) and what it
may cost (:func:`call_bounds`)."""

from __future__ import annotations

import math
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from watchdogs.observability import count, logger, metrics
from watchdogs.runbooks.crawler.discover import GLUE_PAGE_SIZE
from watchdogs.runbooks.execution.discover import SFN_PAGE_SIZE
from watchdogs.runbooks.query.discover import ATHENA_BATCH_SIZE, ATHENA_LIST_PAGE_SIZE


class SweepError(BaseModel):
    """One API call that failed; the sweep recorded it and went on."""

    model_config = ConfigDict(defer_build=True)

    resource_type: str  # crawler | query | execution | incident
    operation: str  # e.g. glue.GetTags, athena.BatchGetQueryExecution, engine.handle
    resource: str = ""
    code: str = ""
    message: str = ""


class SweepItem(BaseModel):
    """A finding the sweep made and what the engine did with it."""

    model_config = ConfigDict(defer_build=True)

    resource: str
    condition: str
    kind: str  # stuck | lost-failure | resume
    outcome: str = ""  # HandleResult.outcome; "deferred" when the invocation ran out of time
    actions: list[str] = Field(default_factory=list)
    incident_id: str | None = None
    detail: str = ""


class SweepReport(BaseModel):
    """What one sweep checked, found and did (also the handler's return value and its one log line)."""

    model_config = ConfigDict(defer_build=True)

    started_at: str
    duration_ms: int = 0
    mode: str = ""
    checked: dict[str, int] = Field(default_factory=dict)
    found: dict[str, int] = Field(default_factory=dict)
    outcomes: dict[str, int] = Field(default_factory=dict)
    items: list[SweepItem] = Field(default_factory=list)
    errors: list[SweepError] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    #: runbooks whose discovery this sweep skipped or cut short at its deadline (their findings wait for the next)
    skipped: list[str] = Field(default_factory=list)
    #: the runbook the next sweep starts from (the persisted cursor); None = from the first
    next_start: str | None = None

    def summary(self) -> dict[str, Any]:
        """The compact form logged on one line (items are summarised by their outcome counts)."""
        return {
            "started_at": self.started_at,
            "duration_ms": self.duration_ms,
            "mode": self.mode,
            "checked": self.checked,
            "found": self.found,
            "outcomes": self.outcomes,
            "acted": [f"{i.resource}:{','.join(i.actions)}" for i in self.items if i.actions][:20],
            "errors": [e.model_dump() for e in self.errors[:20]],
            "error_count": len(self.errors),
            "warnings": self.warnings,
            "skipped": self.skipped,
            "next_start": self.next_start,
        }


def publish(report: SweepReport) -> None:
    """One structured log line and a few metrics per sweep."""
    logger.info("sweep finished", **report.summary())
    for name, value in report.checked.items():
        count("SweepChecked", value, kind=name)
    for kind, value in report.found.items():
        count("SweepFound", value, kind=kind)
    for outcome, value in report.outcomes.items():
        count("SweepOutcome", value, outcome=outcome)
    metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=len(report.errors))
    metrics.add_metric(name="SweepDuration", unit=MetricUnit.Milliseconds, value=report.duration_ms)


def call_bounds(
    *,
    crawlers: int,
    state_machines: int,
    running_per_machine: list[int],
    recent_per_machine: list[int],
    queries_per_workgroup: list[int],
    candidates_with_tags: int,
) -> dict[str, int]:
    """Upper bounds on the list/batch API calls of one sweep (docs/sweep.md; asserted by the scale test)."""

    def pages(n: int, size: int) -> int:
        return max(1, math.ceil(n / size))

    return {
        "glue.GetCrawlers": pages(crawlers, GLUE_PAGE_SIZE),
        "stepfunctions.ListStateMachines": pages(state_machines, SFN_PAGE_SIZE),
        "stepfunctions.ListExecutions": sum(pages(n, SFN_PAGE_SIZE) for n in running_per_machine)
        + sum(pages(n, SFN_PAGE_SIZE) for n in recent_per_machine),
        "athena.ListQueryExecutions": sum(pages(n, ATHENA_LIST_PAGE_SIZE) for n in queries_per_workgroup),
        "athena.BatchGetQueryExecution": sum(math.ceil(n / ATHENA_BATCH_SIZE) for n in queries_per_workgroup),
        "tags": candidates_with_tags,
    }
