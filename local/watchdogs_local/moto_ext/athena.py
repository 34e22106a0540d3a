"""Athena in the emulator: ``BatchGetQueryExecution`` (the sweep needs it) and query outcomes moto cannot produce.

Moto 5 keeps query executions as a bare state machine (QUEUED -> RUNNING -> SUCCEEDED under
``moto.moto_api.state_manager`` model ``athena::execution``) with no error, no statistics and no sub-statement
type. This module, in-process:

* adds ``BatchGetQueryExecution`` (up to 50 ids; unknown ids come back in ``UnprocessedQueryExecutionIds``);
* renders ``GetQueryExecution`` and ``BatchGetQueryExecution`` from one function, with what the real API returns
  and moto leaves out: ``Status.AthenaError`` (category, type, message, retryable), ``Status.StateChangeReason``,
  ``SubstatementType``, ``Statistics.DataScannedInBytes`` and execution times, no ``CompletionDateTime`` while a
  query is still QUEUED or RUNNING;
* answers an unknown id with ``InvalidRequestException`` (moto raises a KeyError, a 500 that clients retry);
* makes ``StopQueryExecution`` of a finished query a no-op, as Athena does (moto turns SUCCEEDED into CANCELLED);
* exposes :func:`set_query_execution`, the fault-injection hook tests and the local demo use to hold a query in
  a state, backdate it, give it scanned bytes, or make it FAIL with a given Athena error.

Only the emulator is patched; the product code calls the real APIs unchanged.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
MODEL_NAME = "athena::execution"
MAX_BATCH = 50
FINAL_STATES = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
_DDL = ("ALTER", "CREATE", "DESCRIBE", "DROP", "MSCK", "SHOW")

_installed = False


@dataclass
class QueryOverrides:
    """What the emulator reports for one execution beyond moto's own state (kept on the execution object)."""

    error_category: int | None = None
    error_type: int | None = None
    error_message: str | None = None
    retryable: bool | None = None
    state_change_reason: str | None = None
    data_scanned_bytes: int = 0
    completed_at: float | None = None


def _overrides(execution: Any) -> QueryOverrides:
    found = getattr(execution, "_watchdogs_overrides", None)
    if found is None:
        found = QueryOverrides()
        execution._watchdogs_overrides = found
    return found


def _statement_types(query: str) -> tuple[str, str]:
    words = query.upper().split()
    first = words[0] if words else "SELECT"
    if first in ("EXPLAIN", "SHOW", "DESCRIBE"):
        return "UTILITY", first
    if first == "CREATE" and "SELECT" in words:
        return "DML", "CREATE_TABLE_AS_SELECT"
    if first in _DDL:
        return "DDL", "_".join(words[:2])
    return "DML", first


def render_execution(exec_id: str, execution: Any) -> dict[str, Any]:
    """One ``QueryExecution`` structure, shaped as the real API returns it."""
    state = execution.status
    extra = _overrides(execution)
    statement_type, substatement_type = _statement_types(execution.query or "")
    now = time.time()
    final = state in FINAL_STATES
    if final and extra.completed_at is None:  # moto moved it on by itself: it completed when first seen so
        extra.completed_at = now
    completed = extra.completed_at if final else None
    elapsed_ms = int(((completed or now) - execution.start_time) * 1000)
    status: dict[str, Any] = {"State": state, "SubmissionDateTime": execution.start_time}
    if completed is not None:
        status["CompletionDateTime"] = completed
    if extra.state_change_reason:
        status["StateChangeReason"] = extra.state_change_reason
    if state == "FAILED" and extra.error_category is not None:
        error: dict[str, Any] = {"ErrorCategory": extra.error_category}
        if extra.error_type is not None:
            error["ErrorType"] = extra.error_type
        if extra.retryable is not None:
            error["Retryable"] = extra.retryable
        if extra.error_message:
            error["ErrorMessage"] = extra.error_message
        status["AthenaError"] = error
    result: dict[str, Any] = {
        "QueryExecutionId": exec_id,
        "Query": execution.query,
        "StatementType": statement_type,
        "SubstatementType": substatement_type,
        "ResultConfiguration": execution.config or {},
        "ResultReuseConfiguration": {"ResultReuseByAgeConfiguration": {"Enabled": False}},
        "QueryExecutionContext": execution.context or {},
        "Status": status,
        "Statistics": {
            "EngineExecutionTimeInMillis": elapsed_ms if state != "QUEUED" else 0,
            "DataScannedInBytes": extra.data_scanned_bytes,
            "TotalExecutionTimeInMillis": elapsed_ms,
            "QueryQueueTimeInMillis": elapsed_ms if state == "QUEUED" else 0,
            "ServicePreProcessingTimeInMillis": 0,
            "QueryPlanningTimeInMillis": 0,
            "ServiceProcessingTimeInMillis": 0,
            "ResultReuseInformation": {"ReusedPreviousResult": False},
        },
        "WorkGroup": execution.workgroup.name if execution.workgroup else "primary",
        "EngineVersion": {
            "SelectedEngineVersion": "AUTO",
            "EffectiveEngineVersion": "Athena engine version 3",
        },
    }
    if execution.execution_parameters is not None:
        result["ExecutionParameters"] = execution.execution_parameters
    return result


def _not_found(exec_id: str) -> Exception:
    from moto.core.exceptions import JsonRESTError  # noqa: PLC0415

    return JsonRESTError("InvalidRequestException", f"QueryExecution {exec_id} was not found")


def install() -> None:
    """Patch moto's Athena backend and responses in this process (idempotent)."""
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    if _installed:
        return
    from moto.athena.models import AthenaBackend  # noqa: PLC0415
    from moto.athena.responses import AthenaResponse  # noqa: PLC0415

    def backend_get(self: Any, exec_id: str) -> Any:
        execution = self.executions.get(exec_id)
        if execution is None:
            raise _not_found(exec_id)
        execution.advance()
        return execution

    def backend_batch_get(self: Any, exec_ids: list[str]) -> tuple[list[tuple[str, Any]], list[dict[str, str]]]:
        found: list[tuple[str, Any]] = []
        missing: list[dict[str, str]] = []
        for exec_id in exec_ids:
            execution = self.executions.get(exec_id)
            if execution is None:
                missing.append(
                    {
                        "QueryExecutionId": exec_id,
                        "ErrorCode": "INVALID_INPUT",
                        "ErrorMessage": f"QueryExecution {exec_id} was not found",
                    }
                )
                continue
            execution.advance()
            found.append((exec_id, execution))
        return found, missing

    def backend_stop(self: Any, exec_id: str) -> None:
        execution = self.executions.get(exec_id)
        if execution is None:
            raise _not_found(exec_id)
        if execution.status in FINAL_STATES:  # Athena: stopping a finished query changes nothing
            return
        execution.status = "CANCELLED"
        extra = _overrides(execution)
        extra.completed_at = time.time()
        extra.state_change_reason = extra.state_change_reason or "Query was cancelled by the user"

    def response_get(self: Any) -> str:
        exec_id = self._get_param("QueryExecutionId")
        execution = self.athena_backend.get_query_execution(exec_id)
        return json.dumps({"QueryExecution": render_execution(exec_id, execution)})

    def response_batch_get(self: Any) -> str | tuple[str, dict[str, int]]:
        exec_ids = self._get_param("QueryExecutionIds") or []
        if not 1 <= len(exec_ids) <= MAX_BATCH:
            return self.error(f"QueryExecutionIds must hold 1 to {MAX_BATCH} ids", 400)  # type: ignore[no-any-return]
        found, missing = self.athena_backend.batch_get_query_execution(exec_ids)
        return json.dumps(
            {
                "QueryExecutions": [render_execution(exec_id, execution) for exec_id, execution in found],
                "UnprocessedQueryExecutionIds": missing,
            }
        )

    patches: tuple[tuple[type, str, Any], ...] = (
        (AthenaBackend, "get_query_execution", backend_get),
        (AthenaBackend, "batch_get_query_execution", backend_batch_get),
        (AthenaBackend, "stop_query_execution", backend_stop),
        (AthenaResponse, "get_query_execution", response_get),
        (AthenaResponse, "batch_get_query_execution", response_batch_get),
    )
    for owner, name, func in patches:
        setattr(owner, name, func)
    _installed = True


def _execution(exec_id: str, account_id: str, region: str) -> Any:
    from moto.athena.models import athena_backends  # noqa: PLC0415

    execution = athena_backends[account_id][region].executions.get(exec_id)
    if execution is None:
        raise KeyError(f"no Athena query execution {exec_id} in {account_id}/{region}")
    return execution


def set_query_execution(
    exec_id: str,
    *,
    state: str | None = None,
    submitted_seconds_ago: float | None = None,
    data_scanned_bytes: int | None = None,
    error_category: int | None = None,
    error_type: int | None = None,
    error_message: str | None = None,
    retryable: bool | None = None,
    state_change_reason: str | None = None,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> None:
    """Fault injection for one query execution of the in-process emulator.

    ``state="FAILED"`` with ``error_*`` makes the query fail with that Athena error; ``state="QUEUED"`` after a
    failure is Athena's re-queue (the error is cleared). Hold a QUEUED/RUNNING state against moto's own
    progression with ``state_manager.set_transition(model_name="athena::execution",
    transition={"progression": "manual", "times": N})``.
    """
    install()
    execution = _execution(exec_id, account_id, region)
    extra = _overrides(execution)
    if submitted_seconds_ago is not None:
        execution.start_time = time.time() - submitted_seconds_ago
    if data_scanned_bytes is not None:
        extra.data_scanned_bytes = data_scanned_bytes
    if state is not None:
        if state not in FINAL_STATES:
            extra.error_category = extra.error_type = extra.error_message = extra.retryable = None
            extra.state_change_reason = None
            extra.completed_at = None
        else:
            extra.completed_at = time.time()
        execution.status = state
    if error_category is not None:
        extra.error_category = error_category
    if error_type is not None:
        extra.error_type = error_type
    if error_message is not None:
        extra.error_message = error_message
    if retryable is not None:
        extra.retryable = retryable
    if state_change_reason is not None:
        extra.state_change_reason = state_change_reason
    elif state == "FAILED" and error_message:
        extra.state_change_reason = error_message


def query_state(exec_id: str, *, account_id: str = ACCOUNT_ID, region: str = REGION) -> str:
    """The emulator's current state of one query, read without advancing moto's state machine."""
    return str(_execution(exec_id, account_id, region)._status)
