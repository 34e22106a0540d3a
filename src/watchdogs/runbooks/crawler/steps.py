"""The steps of the stuck-crawler reset (runbook "Reset crawler if stuck": stop, wait for READY, start), as data.

A step is persisted on the incident (``pending_step``) and resumed by the next STUCK finding (the sweep, or the
Step Functions watchdog delegating): nothing sleeps inside an invocation. The values are the strings already stored
on incidents; never rename them.
"""

from __future__ import annotations

from enum import StrEnum

from watchdogs.lifecycle.steps import StepTable


class Step(StrEnum):
    START_WHEN_READY = "start_when_ready"
    AWAIT_SUCCESS = "await_success"


#: A stuck crawler begins at ``start_when_ready`` (StopCrawler sent); a transient failure begins at
#: ``await_success`` (StartCrawler sent). Someone else's restart after our stop moves on to ``await_success``; a
#: crawler restarted by someone else that hangs again is stopped again (back to ``start_when_ready``).
STEPS = StepTable(
    name="crawler-reset",
    starts=frozenset({Step.START_WHEN_READY, Step.AWAIT_SUCCESS}),
    transitions={
        Step.START_WHEN_READY: frozenset({Step.AWAIT_SUCCESS}),
        Step.AWAIT_SUCCESS: frozenset({Step.START_WHEN_READY}),
    },
    follow_up=frozenset({Step.START_WHEN_READY}),  # Glue sends no event when a stopped crawler is READY again
    descriptions={
        Step.START_WHEN_READY: "StopCrawler sent (or would be): start the crawler once it is READY",
        Step.AWAIT_SUCCESS: "StartCrawler sent: resolve on a successful crawl, escalate if it hangs again",
    },
)
