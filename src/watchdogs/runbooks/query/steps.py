"""The one step of the stuck-query cancel (runbook "Pipeline Stuck in RUNNING State", 2: "Cancel stuck query").

The value is the string already stored on incidents; never rename it.
"""

from __future__ import annotations

from enum import StrEnum

from watchdogs.lifecycle.steps import StepTable


class Step(StrEnum):
    CONFIRM_CANCEL = "confirm-cancel"


#: StopQueryExecution sent: wait (at most ``CANCEL_CONFIRM_SECONDS``) for Athena to report CANCELLED, then resolve,
#: or escalate if the query still runs (the watchdog cancels a query once).
STEPS = StepTable(
    name="query-cancel",
    starts=frozenset({Step.CONFIRM_CANCEL}),
    descriptions={Step.CONFIRM_CANCEL: "StopQueryExecution sent: await Athena's CANCELLED, escalate if it still runs"},
)
