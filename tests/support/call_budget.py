"""The rows of the calls-per-scenario table (``tests/integration/test_call_budget.py``, ``docs/performance.md``).

A :class:`CallPath` names every call of one path: ``minimum`` holds one line per call the runbook itself needs (the
reads its step decides on, the action, the notification, and for the sweep the listing that finds the resource);
``extra`` holds one key of :data:`EXTRA` per call above that minimum, whose text is the one-line justification.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

#: every kind of call above the runbook minimum, with why it is paid
EXTRA = {
    "claim": "one-actor guard (conditional claim write)",
    "sent": "outbox mark-sent (a crash after Publish must not publish twice)",
    "evidence": "evidence read for the alert (the crawl's log lines; the failed dbt query's error)",
    "tests": "evidence: the runbook's failing-tests query (Start, one poll here (more on AWS, time-boxed), results)",
    "cursor": "sweep cursor GetItem (a sweep cut short resumes where it stopped)",
    "outbox": "outbox Query (re-sends what a crashed invocation left unpublished)",
    "retag": "tags read again right before the action (discovery read them for the threshold)",
    "correlate": "evidence read: which pipeline run issued the query (ListStateMachines; no run of it here)",
    "declared": "read the STUCK/FAILED decision declares up front (a stop or reconcile needs it), unused on this path",
    "history": "GetExecutionHistory: where the run stopped, for the alert (an abort or timeout needs no triage)",
    "link": "the execution's record updated with the delegated crawler's result",
    "timer": "the stuck timer: CreateSchedule when the work starts, DeleteSchedule when it ends (docs/timers.md)",
    "timer-tags": "the threshold's tags, for the stuck timer's due time (the sweep reads them at discovery)",
    "step": "the step timer armed after a stop: the restart comes when READY, not at the next sweep",
    "waiting": "Query: which incident waits at the step timer's step (then the engine loads it again)",
}

#: what every sweep lists in the test lakehouse (3 crawlers, 1 state machine, 2 workgroups): the runbook's "find"
DISCOVERY = (
    "Query open-index: the open incidents to resume",
    "GetCrawlers: the crawlers' state",
    "ListStateMachines: the pipelines in scope",
    "ListExecutions RUNNING: the runs to time",
    "ListExecutions recent: the failures whose event may be lost",
    "ListQueryExecutions: workgroup 1",
    "ListQueryExecutions: workgroup 2",
)
SWEEP = ("cursor", "outbox")


@dataclass(frozen=True)
class CallPath:
    key: str
    title: str
    calls: dict[str, int]
    #: the runbook's own calls, one line each
    minimum: tuple[str, ...]
    #: the calls above the minimum, one key of :data:`EXTRA` each
    extra: tuple[str, ...] = ()
    #: the pytest fixture the path's world needs, and the function that runs it (resets the counter first)
    fixture: str = "aws"
    run: Callable[[Any], None] | None = None

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def render(paths: list[CallPath]) -> str:
    lines = [
        "| path | calls | runbook minimum | above the minimum (legend below) | the calls |",
        "|---|---|---|---|---|",
    ]
    for path in paths:
        calls = ", ".join(_times(name.split(".", 1)[1], n) for name, n in path.calls.items())
        counted: dict[str, int] = {}
        for key in path.extra:
            counted[key] = counted.get(key, 0) + 1
        extra = ", ".join(_times(key, n) for key, n in counted.items()) or "-"
        lines.append(f"| {path.title} | {path.total} | {len(path.minimum)} | {extra} | {calls} |")
    used = {key for path in paths for key in path.extra}
    lines += ["", "Above the minimum, one call each:", ""]
    lines += [f"- `{key}`: {text}" for key, text in EXTRA.items() if key in used]
    return "\n".join(lines)


def _times(name: str, n: int) -> str:
    return f"{name} x{n}" if n > 1 else name
