"""The Step Functions runbook ("Pipeline Stuck in RUNNING State", failed-run triage, "DynamoDB Metadata Query
Issues"), declared: its conditions and the reads each needs, its steps, typed facts, pure rules and a thin shell.

* :mod:`.steps` -- :class:`Step` and the step table :data:`STEPS`;
* :mod:`.history` -- the pure history reader and what a state waits on;
* :mod:`.facts` -- typed facts, ``as_dict()`` at the engine boundary;
* :mod:`.heal` -- a parent run waits for the heal of its cause within a grace;
* :mod:`.rules`, :mod:`.stuck`, :mod:`.failed` -- the pure rules: classification and shared builders, stuck
  runs, ended runs;
* :mod:`.events` -- the status-change event as findings, and its de-duplication key;
* :mod:`.remediator` -- :class:`ExecutionRemediator`, the shell that reads AWS.
"""

from typing import TYPE_CHECKING, Any

from watchdogs.runbooks.execution.events import dedup_key, findings_from_event
from watchdogs.runbooks.execution.steps import STEPS, Step

if TYPE_CHECKING:
    from watchdogs.runbooks.execution.remediator import CONDITIONS, ExecutionReadError, ExecutionRemediator


def __getattr__(name: str) -> Any:
    """The remediator's names, imported on first use: a sibling runbook reading a pure module of this package
    (Athena's correlation reads :mod:`.history`) does not load this remediator (cold start)."""
    if name in {"CONDITIONS", "ExecutionReadError", "ExecutionRemediator"}:
        from watchdogs.runbooks.execution import remediator  # noqa: PLC0415

        return getattr(remediator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CONDITIONS",
    "STEPS",
    "ExecutionReadError",
    "ExecutionRemediator",
    "Step",
    "dedup_key",
    "findings_from_event",
]
