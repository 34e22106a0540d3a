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

from watchdogs.runbooks.execution.events import dedup_key, findings_from_event
from watchdogs.runbooks.execution.remediator import CONDITIONS, ExecutionReadError, ExecutionRemediator
from watchdogs.runbooks.execution.steps import STEPS, Step

__all__ = [
    "CONDITIONS",
    "STEPS",
    "ExecutionReadError",
    "ExecutionRemediator",
    "Step",
    "dedup_key",
    "findings_from_event",
]
