"""Pure history reading: what the newest events of a run say, and what its current state waits on.

:func:`read_history` reads one newest-first ``GetExecutionHistory`` page into a :class:`HistoryView`;
:func:`wait_target` says what a state waits on (configured rules, then the task's resource, then the defaults for
the runbook's pipeline). No I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from watchdogs.incidents import iso

#: newest history events read per page (one wait-loop iteration of the runbook's pipeline is 9 events)
HISTORY_PAGE = 10
_CRAWLER_APIS = frozenset({"startCrawler", "getCrawler", "stopCrawler", "startCrawlerSchedule"})


class WaitsOn(StrEnum):
    CRAWLER = "crawler"
    ATHENA = "athena"
    NOTHING = "nothing"


# ------------------------------------------------------------------------------------------------ wait rules
@dataclass(frozen=True)
class WaitRule:
    """Which states wait on what: ``state`` is a regex on the state name."""

    pattern: re.Pattern[str]
    waits_on: WaitsOn
    crawler: str | None = None
    data_quality: bool = False

    @classmethod
    def parse(cls, raw: dict[str, str]) -> WaitRule:
        return cls(
            pattern=re.compile(raw["state"]),
            waits_on=WaitsOn(raw.get("waits_on", WaitsOn.NOTHING.value)),
            crawler=raw.get("crawler") or None,
            data_quality=str(raw.get("data_quality", "")).lower() in {"true", "1", "yes"},
        )


#: defaults for the runbook's pipeline (RunDbtTests is the data-quality step; every dbt step runs Athena work;
#: StartRawCrawler / WaitForRawCrawler / StartCuratedCrawler / WaitForCuratedCrawler wait on a crawler)
DEFAULT_WAIT_RULES: tuple[dict[str, str], ...] = (
    {"state": r"(?i)dbt.?tests?", "waits_on": "athena", "data_quality": "true"},
    {"state": r"(?i)dbt", "waits_on": "athena"},
    {"state": r"(?i)crawler", "waits_on": "crawler"},
)


def wait_rules(configured: list[dict[str, str]]) -> tuple[list[WaitRule], list[WaitRule]]:
    """(configured rules, default rules), both parsed. Configured rules win over the task resource, which wins
    over the defaults."""
    return [WaitRule.parse(r) for r in configured], [WaitRule.parse(r) for r in DEFAULT_WAIT_RULES]


# ------------------------------------------------------------------------------------------------ history
@dataclass(frozen=True)
class HistoryView:
    """What the newest history events say (events given newest first, as ``reverseOrder=True`` returns them)."""

    current_state: str | None = None
    current_state_type: str | None = None
    task_state: str | None = None  # the state of the newest TaskScheduled
    task_service: str | None = None  # "glue", "athena", "lambda", "dynamodb", ...
    task_api: str | None = None  # "getCrawler", "startQueryExecution", ...
    task_parameters: dict[str, Any] | None = None
    crawler: str | None = None  # newest Glue crawler named by a task in the window
    workgroup: str | None = None  # newest Athena workgroup named by a task in the window
    query_execution_id: str | None = None  # newest Athena query started/polled in the window
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None
    last_event_at: str | None = None
    #: the page's events, newest first, one short line each (evidence for people; never decided on)
    excerpt: tuple[str, ...] = ()

    def as_facts(self) -> dict[str, Any]:
        return {
            "current_state": self.current_state,
            "current_state_type": self.current_state_type,
            "task_state": self.task_state,
            "task_resource": f"{self.task_service}:{self.task_api}" if self.task_service else None,
            "history_crawler": self.crawler,
            "history_workgroup": self.workgroup,
            "history_query_execution_id": self.query_execution_id,
            "failed_state": self.failed_state,
            "history_error": self.error,
            "history_cause": (self.cause or "")[:500] or None,
            "last_event_at": self.last_event_at,
            "_history_excerpt": list(self.excerpt) or None,
        }


def _loads(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        loaded = json.loads(value or "{}")
    except (TypeError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _service(resource_type: str) -> str:
    # "aws-sdk:glue" -> "glue"; "lambda" -> "lambda"; "dynamodb" -> "dynamodb"
    return resource_type.split(":")[-1] if resource_type else ""


def excerpt_line(event: dict[str, Any]) -> str:
    """One history event as a short line: time, type, and the state or task it names (pure)."""
    stamp = event.get("timestamp")
    at = iso(stamp)[11:19] if isinstance(stamp, datetime) else ""
    named = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails") or {}
    task = event.get("taskScheduledEventDetails") or {}
    failed = next((v for k, v in event.items() if k.endswith("FailedEventDetails") and isinstance(v, dict)), {})
    what = named.get("name") or (f"{task.get('resourceType')}:{task.get('resource')}" if task else "")
    what = what or str(failed.get("error") or "")
    return " ".join(part for part in (at, str(event.get("type", "")), str(what)) if part)


def read_history(events: list[dict[str, Any]]) -> HistoryView:
    """Pure: the current state, what its newest task calls, and the failure, from newest-first history events."""
    current: str | None = None
    current_type: str | None = None
    task_state: str | None = None
    scheduled: dict[str, Any] | None = None
    crawler = workgroup = query_id = None
    error = cause = failed_state = None
    last_at: str | None = None
    pending_task = False
    for event in events:
        kind = str(event.get("type", ""))
        if last_at is None and event.get("timestamp") is not None:
            stamp = event["timestamp"]
            last_at = iso(stamp) if isinstance(stamp, datetime) else str(stamp)
        entered = event.get("stateEnteredEventDetails")
        exited = event.get("stateExitedEventDetails")
        if current is None and (entered or exited):
            current = (entered or exited or {}).get("name")
            current_type = kind.removesuffix("StateEntered").removesuffix("StateExited") or None
        if entered and failed_state is None and error is not None:
            failed_state = entered.get("name")
        if entered and pending_task:
            task_state, pending_task = entered.get("name"), False
        for details_key in (
            "executionFailedEventDetails",
            "executionTimedOutEventDetails",
            "executionAbortedEventDetails",
            "taskFailedEventDetails",
            "taskTimedOutEventDetails",
            "lambdaFunctionFailedEventDetails",
            "lambdaFunctionTimedOutEventDetails",
        ):
            details = event.get(details_key)
            if details is not None and error is None:
                error = details.get("error") or ("States.Timeout" if "TimedOut" in details_key else None)
                cause = details.get("cause")
        task = event.get("taskScheduledEventDetails")
        if task is not None:
            params = _loads(task.get("parameters"))
            service = _service(str(task.get("resourceType", "")))
            if scheduled is None:
                scheduled = {"service": service, "api": task.get("resource"), "parameters": params}
                pending_task = True
            if service == "glue" and crawler is None and task.get("resource") in _CRAWLER_APIS:
                crawler = params.get("Name")
            if service == "athena":
                workgroup = workgroup or params.get("WorkGroup")
                query_id = query_id or params.get("QueryExecutionId")
        succeeded = event.get("taskSucceededEventDetails")
        if succeeded is not None and query_id is None and _service(str(succeeded.get("resourceType", ""))) == "athena":
            query_id = _loads(succeeded.get("output")).get("QueryExecutionId")
    if error is not None and failed_state is None:
        failed_state = current
    return HistoryView(
        current_state=current,
        current_state_type=current_type,
        task_state=task_state,
        task_service=scheduled["service"] if scheduled else None,
        task_api=scheduled["api"] if scheduled else None,
        task_parameters=scheduled["parameters"] if scheduled else None,
        crawler=crawler,
        workgroup=workgroup,
        query_execution_id=query_id,
        error=error,
        cause=cause,
        failed_state=failed_state,
        last_event_at=last_at,
        excerpt=tuple(excerpt_line(e) for e in events),
    )


@dataclass(frozen=True)
class WaitTarget:
    """What a state waits on, and how that was decided (``rule``, ``resource`` or ``default``)."""

    waits_on: WaitsOn
    crawler: str | None = None
    workgroup: str | None = None
    data_quality: bool = False
    how: str = "default"

    @property
    def key(self) -> str:
        if self.waits_on is WaitsOn.CRAWLER:
            return f"crawler:{self.crawler or '?'}"
        if self.waits_on is WaitsOn.ATHENA:
            return f"athena:{self.workgroup or '?'}"
        return "nothing"


def wait_target(
    state_name: str | None, view: HistoryView, settings_rules: list[dict[str, str]], pipeline_workgroup: str
) -> WaitTarget:
    """Pure: what ``state_name`` waits on. Configured rules first, then the task's resource
    (``arn:aws:states:::aws-sdk:glue:*`` -> crawler named by ``Parameters.Name``; ``...athena:*`` -> Athena), then
    the defaults for the runbook's pipeline."""
    if not state_name:
        return WaitTarget(WaitsOn.NOTHING, how="no-state")
    configured, defaults = wait_rules(settings_rules)
    data_quality = any(r.data_quality for r in (*configured, *defaults) if r.pattern.search(state_name))
    workgroup = view.workgroup or pipeline_workgroup or None

    def target(rule: WaitRule, how: str) -> WaitTarget:
        return WaitTarget(
            rule.waits_on,
            crawler=(rule.crawler or view.crawler) if rule.waits_on is WaitsOn.CRAWLER else None,
            workgroup=workgroup if rule.waits_on is WaitsOn.ATHENA else None,
            data_quality=data_quality,
            how=how,
        )

    for rule in configured:
        if rule.pattern.search(state_name):
            return target(rule, "rule")
    if view.task_state == state_name and view.task_service:
        params = view.task_parameters or {}
        if view.task_service == "glue" and view.task_api in _CRAWLER_APIS:
            return WaitTarget(WaitsOn.CRAWLER, crawler=params.get("Name"), data_quality=data_quality, how="resource")
        if view.task_service == "athena":
            return WaitTarget(
                WaitsOn.ATHENA,
                workgroup=params.get("WorkGroup") or workgroup,
                data_quality=data_quality,
                how="resource",
            )
    for rule in defaults:
        if rule.pattern.search(state_name):
            return target(rule, "default")
    return WaitTarget(WaitsOn.NOTHING, data_quality=data_quality, how="no-rule")
