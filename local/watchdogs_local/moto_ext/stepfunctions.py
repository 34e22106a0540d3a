"""Step Functions in moto, made faithful enough for the watchdogs (harness only, never product code).

What moto 5.2 lacks or gets wrong, and what :func:`install` patches:

* ``RedriveExecution`` does not exist. Added: a FAILED / TIMED_OUT / ABORTED standard execution, stopped less than
  14 days ago, restarts *the same execution* from its unsuccessful state with that state's input (history kept,
  an ``ExecutionRedriven`` event appended, ``redriveCount`` incremented); anything else answers
  ``ExecutionNotRedrivable``. ``DescribeExecution`` reports ``redriveCount`` / ``redriveDate`` / ``redriveStatus``.
* ``GetExecutionHistory`` ignores ``reverseOrder``, ``maxResults`` and ``nextToken``. Honoured.
* ``StopExecution`` drops ``error`` and ``cause`` (and the simulated execution only turns ABORTED later, on its
  worker thread). Kept, and the stop is synchronous as in AWS (in the backend's ``stop_execution``, so
  :func:`watchdogs_local.faults.deny` can deny it like any other operation).
* Simulated executions (``execute_state_machine``): ``$$.Execution.StartTime`` is a ``datetime`` (AWS: an ISO
  string), which breaks any task that passes it on; aws-sdk task errors are named ``<api>.<api>Exception`` instead
  of AWS's ``<Service>.<ErrorCode>`` (e.g. ``Glue.CrawlerRunningException``). Both fixed.

:func:`execution_simulation` switches moto's state-machine interpreter on (process-wide; its aws-sdk tasks call the
emulator at ``MOTO_PORT``), and returns the previous value so callers can restore it.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

REDRIVE_WINDOW = timedelta(days=14)
_REDRIVABLE = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
_installed = False


def execution_simulation(enabled: bool = True) -> bool:
    """Let moto run state machines for real (or not). Returns the previous setting."""
    from moto.core.config import default_user_config  # noqa: PLC0415

    sfn_config = default_user_config.setdefault("stepfunctions", {})
    previous = bool(sfn_config.get("execute_state_machine", False))
    sfn_config["execute_state_machine"] = enabled
    return previous


def stop_running_executions() -> int:
    """Stop every simulated execution still running (their worker threads would otherwise poll a reset emulator)."""
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends  # noqa: PLC0415

    stopped = 0
    for account_id, region_name in _loaded(stepfunctions_parser_backends):
        backend = stepfunctions_parser_backends[account_id][region_name]
        for machine in backend.state_machines:
            for execution in machine.executions:
                if _status(execution) == "RUNNING":
                    _stop(execution, "Harness.Teardown", "emulator reset")
                    stopped += 1
    return stopped


def _loaded(backends: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for account_id in list(backends.keys()):
        for region_name in list(backends[account_id].keys()):
            pairs.append((account_id, region_name))
    return pairs


# ------------------------------------------------------------------------------------------------ helpers
def _status(execution: Any) -> str:
    status = execution.status
    return str(getattr(status, "value", status))


def _is_simulated(execution: Any) -> bool:
    return hasattr(execution, "exec_worker")


def _stop(execution: Any, error: str | None, cause: str | None) -> datetime:
    from moto.stepfunctions.parser.api import ExecutionStatus  # noqa: PLC0415

    now = datetime.now(UTC)
    if _is_simulated(execution):
        execution.stop(stop_date=now, error=error, cause=cause)
        execution.exec_status = ExecutionStatus.ABORTED
    else:
        execution.status = "ABORTED"
    execution.stop_date = now
    execution.error = error or None
    execution.cause = cause or None
    return now


def _redrive_status(execution: Any, machine_type: str) -> tuple[str, str]:
    status = _status(execution)
    if machine_type == "EXPRESS":
        return "NOT_REDRIVABLE", "Express workflows cannot be redriven"
    if status not in _REDRIVABLE:
        return "NOT_REDRIVABLE", f"Execution is {status}"
    stopped = execution.stop_date
    if isinstance(stopped, datetime):
        aware = stopped if stopped.tzinfo else stopped.replace(tzinfo=UTC)
        if datetime.now(UTC) - aware > REDRIVE_WINDOW:
            return "NOT_REDRIVABLE", "Execution stopped more than 14 days ago"
    return "REDRIVABLE", ""


def _machine_type(backend: Any, execution: Any) -> str:
    try:
        machine = backend.describe_state_machine(execution.state_machine_arn)
    except Exception:  # a deleted machine: treat as standard (AWS would refuse elsewhere)
        return "STANDARD"
    return str(getattr(machine, "sm_type", None) or "STANDARD")


def _history(execution: Any) -> list[dict[str, Any]]:
    if not _is_simulated(execution):
        return []
    return list(execution.to_history_output().get("events", []))


def _restart_point(events: list[dict[str, Any]]) -> tuple[str, Any] | None:
    """The unsuccessful top-level state (newest entered, not exited) and the input it was entered with."""
    exited: set[str] = set()
    for event in reversed(events):
        if "stateExitedEventDetails" in event:
            exited.add(event["stateExitedEventDetails"]["name"])
            continue
        entered = event.get("stateEnteredEventDetails")
        if entered is not None:
            name = entered["name"]
            if name in exited:
                exited.discard(name)  # exited later in a loop: an older visit; keep looking
                continue
            raw = entered.get("input") or "{}"
            try:
                return name, json.loads(raw)
            except ValueError:
                return name, {}
    return None


# ------------------------------------------------------------------------------------------------ redrive
def _not_redrivable(message: str) -> Exception:
    from moto.core.exceptions import AWSError  # noqa: PLC0415

    class ExecutionNotRedrivable(AWSError):  # noqa: N818 - the AWS error code
        TYPE = "ExecutionNotRedrivable"
        STATUS = 400

    error: Exception = ExecutionNotRedrivable(message)
    return error


def _redrive(backend: Any, execution_arn: str) -> datetime:
    from moto.stepfunctions.parser.api import ExecutionStatus  # noqa: PLC0415

    execution = backend.describe_execution(execution_arn)
    status, reason = _redrive_status(execution, _machine_type(backend, execution))
    if status != "REDRIVABLE":
        raise _not_redrivable(f"Execution {execution_arn} cannot be redriven: {reason}")
    now = datetime.now(UTC)
    execution.redrive_count = getattr(execution, "redrive_count", 0) + 1
    execution.redrive_date = now
    if not _is_simulated(execution):
        execution.status = "RUNNING"
        execution.stop_date = None
        execution.error = execution.cause = None
        return now
    events = _history(execution)
    restart = _restart_point(events)
    if restart is None:
        raise _not_redrivable(f"Execution {execution_arn} has no state to redrive from")
    state_name, state_input = restart
    execution.previous_events = _with_redriven_event(events, execution.redrive_count, now)
    execution.exec_status = ExecutionStatus.RUNNING
    execution.stop_date = None
    execution.error = execution.cause = None
    execution.output = None
    execution.exec_worker = _redrive_worker(execution, state_name, state_input)
    execution.exec_worker.start()
    return now


def _with_redriven_event(events: list[dict[str, Any]], redrive_count: int, now: datetime) -> list[dict[str, Any]]:
    last_id = events[-1]["id"] if events else 0
    return [
        *events,
        {
            "timestamp": now,
            "type": "ExecutionRedriven",
            "id": last_id + 1,
            "previousEventId": last_id,
            "executionRedrivenEventDetails": {"redriveCount": redrive_count},
        },
    ]


def _redrive_worker(execution: Any, state_name: str, state_input: Any) -> Any:
    from moto.stepfunctions.parser.asl.eval.evaluation_details import (  # noqa: PLC0415
        EvaluationDetails,
        StateMachineDetails,
    )
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker  # noqa: PLC0415

    definition = json.loads(execution.state_machine.definition)
    definition["StartAt"] = state_name
    details = execution.get_start_state_machine_details()
    machine = StateMachineDetails(
        arn=details.arn, name=details.name, typ=details.typ, definition=json.dumps(definition)
    )

    class RedriveWorker(ExecutionWorker):
        def _get_evaluation_environment(self) -> Any:
            env = super()._get_evaluation_environment()
            env.states.reset(input_value=copy.deepcopy(state_input))
            return env

        def _execution_logic(self) -> None:
            program = self._get_evaluation_entrypoint()
            self.env = self._get_evaluation_environment()
            program.eval(self.env)
            self._execution_communication.terminated()

    return RedriveWorker(
        evaluation_details=EvaluationDetails(
            aws_execution_details=execution._get_start_aws_execution_details(),
            execution_details=execution.get_start_execution_details(),
            state_machine_details=machine,
        ),
        exec_comm=execution._get_start_execution_worker_comm(),
        cloud_watch_logging_session=None,
        activity_store=getattr(execution, "_activity_store", {}),
    )


# ------------------------------------------------------------------------------------------------ patches
def _patch_history_output() -> None:
    from moto.stepfunctions.parser.backend.execution import Execution  # noqa: PLC0415

    original = Execution.to_history_output
    if getattr(original, "_watchdogs", False):
        return

    def to_history_output(self: Any) -> Any:
        current = original(self)
        previous = getattr(self, "previous_events", None)
        if not previous:
            return current
        offset = previous[-1]["id"]
        merged = list(previous)
        for event in current.get("events", []):
            if event.get("type") == "ExecutionStarted":
                continue
            moved = dict(event)
            moved["id"] = event["id"] + offset
            moved["previousEventId"] = event.get("previousEventId", 0) + offset
            merged.append(moved)
        return {"events": merged}

    to_history_output._watchdogs = True  # type: ignore[attr-defined]
    Execution.to_history_output = to_history_output  # type: ignore[method-assign]

    def get_start_execution_details(self: Any) -> Any:
        from moto.stepfunctions.parser.asl.eval.evaluation_details import ExecutionDetails  # noqa: PLC0415

        started = self.start_date
        start_time = (
            started.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            if isinstance(started, datetime)
            else started
        )
        return ExecutionDetails(
            arn=self.exec_arn, name=self.name, role_arn=self.role_arn, inpt=self.input_data, start_time=start_time
        )

    Execution.get_start_execution_details = get_start_execution_details  # type: ignore[method-assign]

    from moto.stepfunctions.parser.api import ExecutionStatus  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped  # noqa: PLC0415
    from moto.stepfunctions.parser.backend.execution import BaseExecutionWorkerCommunication  # noqa: PLC0415

    reflect = BaseExecutionWorkerCommunication._reflect_execution_status

    def reflect_status(self: Any) -> None:
        already_aborted = self.execution.exec_status == ExecutionStatus.ABORTED and self.execution.stop_date
        stopped_at = self.execution.stop_date
        reflect(self)  # type: ignore[no-untyped-call]
        state = self.execution.exec_worker.env.program_state()
        if isinstance(state, ProgramStopped):
            self.execution.error = state.error or self.execution.error
            self.execution.cause = state.cause or self.execution.cause
            if already_aborted:
                self.execution.stop_date = stopped_at  # the synchronous stop already set it

    BaseExecutionWorkerCommunication._reflect_execution_status = reflect_status  # type: ignore[method-assign]


def _patch_aws_sdk_errors() -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_aws_sdk import (  # noqa: PLC0415
        StateTaskServiceAwsSdk,
    )

    original = StateTaskServiceAwsSdk._from_error
    names = {"dynamodb": "DynamoDb", "sfn": "Sfn", "stepfunctions": "Sfn", "s3": "S3", "sns": "Sns", "sqs": "Sqs"}

    def from_error(self: Any, env: Any, ex: Exception) -> Any:
        if not isinstance(ex, ClientError):
            return original(self, env, ex)
        service = str(self.resource.api_name)  # for aws-sdk:<service>:<action>, moto keeps <service> here
        norm = names.get(service.lower(), service[:1].upper() + service[1:])
        code = str(ex.response.get("Error", {}).get("Code", "") or "Unknown")
        error = f"{norm}.{code if code.endswith('Exception') else code + 'Exception'}"
        meta = ex.response.get("ResponseMetadata", {})
        cause = (
            f"{ex.response.get('Error', {}).get('Message', '')} (Service: {norm}, "
            f"Status Code: {meta.get('HTTPStatusCode')}, Request ID: {meta.get('RequestId')})"
        )
        return self._get_task_failure_event(env=env, error=error, cause=cause)

    StateTaskServiceAwsSdk._from_error = from_error  # type: ignore[method-assign]


def _patch_responses() -> None:
    from moto.core.responses import ActionResult  # noqa: PLC0415
    from moto.stepfunctions.responses import StepFunctionResponse  # noqa: PLC0415

    describe = StepFunctionResponse.describe_execution

    def describe_execution(self: Any) -> Any:
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        if execution.output is not None and not isinstance(execution.output, str):
            from moto.stepfunctions.parser.asl.utils.encoding import to_json_str  # noqa: PLC0415

            execution.output = to_json_str(execution.output)  # moto's json.dumps chokes on datetimes
        result = describe(self)
        body: dict[str, Any] = dict(result.result)  # type: ignore[call-overload]
        status, reason = _redrive_status(execution, _machine_type(self.stepfunction_backend, execution))
        body["redriveCount"] = getattr(execution, "redrive_count", 0)
        body["redriveStatus"] = status
        if reason:
            body["redriveStatusReason"] = reason
        if getattr(execution, "redrive_date", None):
            body["redriveDate"] = execution.redrive_date
        if _status(execution) == "ABORTED":
            for key in ("error", "cause"):
                value = getattr(execution, key, None)
                if value:
                    body[key] = value
        return ActionResult(body)

    def stop_execution(self: Any) -> Any:
        arn = self._get_param("executionArn")
        stopped = self.stepfunction_backend.stop_execution(arn, self._get_param("error"), self._get_param("cause"))
        return ActionResult({"stopDate": stopped})

    def get_execution_history(self: Any) -> Any:
        arn = self._get_param("executionArn")
        backend = self.stepfunction_backend
        execution = backend.describe_execution(arn)
        events = _history(execution) if _is_simulated(execution) else backend.get_execution_history(arn)["events"]
        if self._get_param("reverseOrder"):
            events = list(reversed(events))
        start = int(self._get_param("nextToken") or 0)
        size = int(self._get_param("maxResults") or 1000) or 1000
        page = events[start : start + size]
        body: dict[str, Any] = {"events": page}
        if start + size < len(events):
            body["nextToken"] = str(start + size)
        return ActionResult(body)

    def redrive_execution(self: Any) -> Any:
        redriven = _redrive(self.stepfunction_backend, self._get_param("executionArn"))
        return ActionResult({"redriveDate": redriven})

    StepFunctionResponse.describe_execution = describe_execution  # type: ignore[method-assign]
    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]
    StepFunctionResponse.get_execution_history = get_execution_history  # type: ignore[method-assign]
    StepFunctionResponse.redrive_execution = redrive_execution  # type: ignore[attr-defined]


def _patch_backend_stop() -> None:
    """``StopExecution`` in the backend (where a fault can deny it, as for every other service), synchronous and
    keeping ``error`` / ``cause``; stopping an execution that already ended answers its stop date."""
    from moto.stepfunctions.models import StepFunctionBackend  # noqa: PLC0415

    def stop_execution(self: Any, execution_arn: str, error: str | None = None, cause: str | None = None) -> datetime:
        execution = self.describe_execution(execution_arn)
        if _status(execution) != "RUNNING":
            return execution.stop_date or datetime.now(UTC)
        return _stop(execution, error, cause)

    StepFunctionBackend.stop_execution = stop_execution  # type: ignore[method-assign,assignment]


def install() -> None:
    """Patch moto's Step Functions (idempotent)."""
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    if _installed:
        return
    _patch_backend_stop()
    _patch_history_output()
    _patch_aws_sdk_errors()
    _patch_responses()
    _installed = True
