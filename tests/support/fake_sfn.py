"""In-memory fakes for the execution property tests: Step Functions pipeline runs (status, the newest history page,
StopExecution, RedriveExecution with its client token, tags), the Athena listing the execution runbook reads, and a
proxy that makes the next *read* of a fake fail. They implement exactly the calls the watchdogs make, in the fake
clock's frame (the tests point ``watchdogs.incidents.now_utc`` at the same clock)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ConnectTimeoutError

from tests.support.fakes import _CALL_SEQ, Clock, FakeAthena, MutatingCall, _inject, client_error
from watchdogs.actions import STOP_ERROR

FINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
#: how a run's current state looks in its history, per kind of wait (state name, task service, API, parameters)
STATES = {
    "crawler": "GetRawCrawlerState",
    "athena-own": "RunDbtModels",
    "athena-lambda": "RunDbtModels",
    "nothing": "WaitForUpstream",
}


@dataclass
class Run:
    """One pipeline execution and what its current state waits on (a crawler, Athena work, nothing)."""

    arn: str
    kind: str  # crawler | athena-own (its history names its query) | athena-lambda (dbt via Lambda) | nothing
    started: datetime
    child: str | None = None  # the crawler, or the query it runs now
    workgroup: str | None = None
    status: str = "RUNNING"
    redrive_date: datetime | None = None
    stop_date: datetime | None = None
    error: str | None = None
    cause: str | None = None
    failed_state: str | None = None
    redrive_count: int = 0
    tokens: dict[str, int] = field(default_factory=dict)  # RedriveExecution client tokens seen -> redrive count

    @property
    def machine(self) -> str:
        return self.arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0]

    @property
    def state(self) -> str:
        return STATES[self.kind]


def _task(resource_type: str, resource: str, parameters: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "TaskScheduled",
        "taskScheduledEventDetails": {
            "resourceType": resource_type,
            "resource": resource,
            "region": "us-east-1",
            "parameters": json.dumps(parameters),
        },
    }


def _entered(name: str, kind: str = "TaskStateEntered") -> dict[str, Any]:
    return {"type": kind, "stateEnteredEventDetails": {"name": name, "input": "{}"}}


def running_history(run: Run) -> list[dict[str, Any]]:
    """The newest events of a run waiting in its current state, newest first."""
    if run.kind == "crawler":
        return [_task("aws-sdk:glue", "getCrawler", {"Name": run.child}), _entered(run.state)]
    if run.kind == "athena-own":
        return [
            _task("aws-sdk:athena", "getQueryExecution", {"QueryExecutionId": run.child}),
            _entered(run.state),
            _task("aws-sdk:athena", "startQueryExecution", {"WorkGroup": run.workgroup, "QueryString": "select 1"}),
        ]
    if run.kind == "athena-lambda":
        return [_task("lambda", "invoke", {"FunctionName": "lakehouse-dbt-runner"}), _entered(run.state)]
    return [_entered(run.state, "WaitStateEntered")]


def ended_history(run: Run) -> list[dict[str, Any]]:
    """The newest events of a run that ended (FAILED / TIMED_OUT / ABORTED / SUCCEEDED), newest first."""
    details = {"error": run.error, "cause": run.cause}
    end = {
        "FAILED": {"type": "ExecutionFailed", "executionFailedEventDetails": details},
        "TIMED_OUT": {"type": "ExecutionTimedOut", "executionTimedOutEventDetails": details},
        "ABORTED": {"type": "ExecutionAborted", "executionAbortedEventDetails": details},
        "SUCCEEDED": {"type": "ExecutionSucceeded", "executionSucceededEventDetails": {"output": "{}"}},
    }[run.status]
    failed = run.failed_state or run.state
    task_failed = {"type": "TaskFailed", "taskFailedEventDetails": details}
    return [end, task_failed, _entered(failed)] if run.status == "FAILED" else [end, _entered(failed)]


@dataclass
class FakeSfn:
    clock: Clock
    runs: dict[str, Run] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # consumed by the next mutating call
    calls: list[MutatingCall] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)  # state machine ARNs tagged watchdogs:opt-out=true
    changes: list[tuple[str, str, int, datetime]] = field(default_factory=list)  # status changes (EventBridge)

    def _run(self, arn: str, operation: str) -> Run:
        run = self.runs.get(arn)
        if run is None:
            raise client_error("ExecutionDoesNotExist", 400, operation)
        return run

    # --------------------------------------------------------------------------------------------- reads
    def describe_execution(self, executionArn: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter names
        run = self._run(executionArn, "DescribeExecution")
        body: dict[str, Any] = {
            "executionArn": run.arn,
            "stateMachineArn": run.machine,
            "name": run.arn.rsplit(":", 1)[-1],
            "status": run.status,
            "startDate": run.started,
            "redriveCount": run.redrive_count,
            "redriveStatus": "REDRIVABLE" if run.status in FINAL - {"SUCCEEDED"} else "NOT_REDRIVABLE",
        }
        if run.redrive_date is not None:
            body["redriveDate"] = run.redrive_date
        if run.stop_date is not None and run.status != "RUNNING":
            body["stopDate"] = run.stop_date
        if run.status in {"FAILED", "TIMED_OUT", "ABORTED"}:
            body |= {k: v for k, v in {"error": run.error, "cause": run.cause}.items() if v}
        return body

    def list_state_machines(self, **_: Any) -> dict[str, Any]:
        machines = sorted({run.machine for run in self.runs.values()})
        return {"stateMachines": [{"stateMachineArn": m, "name": m.rsplit(":", 1)[-1]} for m in machines]}

    def list_executions(self, stateMachineArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        runs = sorted((r for r in self.runs.values() if r.machine == stateMachineArn), key=lambda r: r.started)
        executions = []
        for run in reversed(runs):  # newest first, as Step Functions lists them
            entry: dict[str, Any] = {"executionArn": run.arn, "stateMachineArn": run.machine, "status": run.status}
            entry["startDate"] = run.started
            if run.stop_date is not None and run.status != "RUNNING":
                entry["stopDate"] = run.stop_date
            executions.append(entry)
        return {"executions": executions}

    def get_execution_history(self, executionArn: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        run = self._run(executionArn, "GetExecutionHistory")
        events = running_history(run) if run.status == "RUNNING" else ended_history(run)
        return {"events": [{"id": len(events) - i, "timestamp": self.clock(), **e} for i, e in enumerate(events)]}

    def list_tags_for_resource(self, resourceArn: str) -> dict[str, Any]:  # noqa: N803
        return {"tags": [{"key": "watchdogs:opt-out", "value": "true"}] if resourceArn in self.opted_out else []}

    # --------------------------------------------------------------------------------------------- writes
    def stop_execution(self, executionArn: str, error: str = "", cause: str = "") -> dict[str, Any]:  # noqa: N803
        run = self._run(executionArn, "StopExecution")

        def apply() -> None:
            visible = run.status != "RUNNING"  # AWS answers success for a run that already ended: a doubled stop
            self.calls.append(MutatingCall("StopExecution", run.arn, self.clock(), not visible, visible))
            if not visible:
                self.end(run, "ABORTED", error, cause)

        _inject(self.faults, "StopExecution", apply)
        return {"stopDate": self.clock()}

    def redrive_execution(self, executionArn: str, clientToken: str) -> dict[str, Any]:  # noqa: N803
        run = self._run(executionArn, "RedriveExecution")

        def apply() -> None:
            if clientToken in run.tokens:  # the same request again: AWS answers as before, nothing changes
                self.calls.append(MutatingCall("RedriveExecution", run.arn, self.clock(), False, True))
                return
            if run.status not in {"FAILED", "TIMED_OUT", "ABORTED"}:
                self.calls.append(MutatingCall("RedriveExecution", run.arn, self.clock(), False, True))
                raise client_error("ExecutionNotRedrivable", 400, "RedriveExecution")
            self.calls.append(MutatingCall("RedriveExecution", run.arn, self.clock(), True, False))
            run.tokens[clientToken] = run.redrive_count + 1
            run.status, run.redrive_count, run.redrive_date = "RUNNING", run.redrive_count + 1, self.clock()
            run.stop_date = run.error = run.cause = None

        _inject(self.faults, "RedriveExecution", apply)
        return {"redriveDate": self.clock()}

    # --------------------------------------------------------------------------------------------- the world
    def end(self, run: Run, status: str, error: str | None = None, cause: str | None = None) -> None:
        """The run ends (on its own, or stopped); EventBridge will tell (``changes``)."""
        run.status, run.stop_date, run.error, run.cause = status, self.clock(), error or None, cause or None
        if status != "ABORTED" or error != STOP_ERROR:
            run.failed_state = run.failed_state or run.state
        self.changes.append((run.arn, status, run.redrive_count, self.clock()))


class ExecAthena(FakeAthena):
    """The Athena fake in the fake clock's frame, plus the workgroup listing the execution runbook reads."""

    def _real(self, moment: datetime) -> datetime:
        return moment

    def list_query_executions(self, WorkGroup: str, **_: Any) -> dict[str, Any]:  # noqa: N803
        ids = [q.query_id for q in self.queries.values() if q.workgroup == WorkGroup]
        return {"QueryExecutionIds": list(reversed(ids))[:50]}  # newest first

    def batch_get_query_execution(self, QueryExecutionIds: list[str]) -> dict[str, Any]:  # noqa: N803
        return {"QueryExecutions": [self.get_query_execution(q)["QueryExecution"] for q in QueryExecutionIds]}


#: the mutating calls a :class:`FlakyReads` proxy logs, with the parameter naming the resource
MUTATIONS = {
    "stop_execution": ("executionArn",),
    "redrive_execution": ("executionArn",),
    "stop_crawler": ("Name",),
    "start_crawler": ("Name",),
    "stop_query_execution": ("QueryExecutionId",),
}
#: the read calls a :class:`FlakyReads` proxy may fail
READS = frozenset(
    {
        "describe_execution",
        "get_execution_history",
        "list_tags_for_resource",
        "get_crawler",
        "get_tags",
        "get_query_execution",
        "list_query_executions",
        "batch_get_query_execution",
    }
)


@dataclass(frozen=True)
class Attempt:
    """A mutating call the watchdogs attempted (whether or not it reached the fake)."""

    operation: str
    resource: str
    at: datetime
    seq: int


class FlakyReads:
    """Wraps a fake: the next read meets ``faults[0]`` (throttle, 5xx, denied, timeout). Mutating calls go to the
    fake itself, which injects its own faults; each is logged in ``attempts`` first."""

    def __init__(self, target: Any, service: str, clock: Clock) -> None:
        self.target = target
        self.service = service
        self.clock = clock
        self.faults: list[str] = []
        self.attempts: list[Attempt] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.target, name)
        if name in MUTATIONS:

            def attempt(**kwargs: Any) -> Any:
                resource = next(str(v) for k, v in kwargs.items() if k in MUTATIONS[name])
                self.attempts.append(Attempt(name, resource, self.clock(), next(_CALL_SEQ)))
                return attribute(**kwargs)

            return attempt
        if name not in READS or not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            fault = self.faults.pop(0) if self.faults else None
            if fault in {"timeout-before", "timeout-after"}:
                raise ConnectTimeoutError(endpoint_url=f"https://{self.service}")
            if fault is not None:
                code, status = {"throttle": ("ThrottlingException", 400), "5xx": ("InternalServerException", 500)}.get(
                    fault, ("AccessDeniedException", 400)
                )
                raise client_error(code, status, name)
            return attribute(**kwargs)

        return call
