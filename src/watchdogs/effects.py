"""Crash-consistent effects: one mutating call, classified, and settled by a re-read when its outcome is unknown.

The engine writes an :class:`~watchdogs.incidents.record.Intent` on the incident before calling
:func:`carry_out`; the result says what to record:

============  =========================================================================  ===================
class         when                                                                       the incident
============  =========================================================================  ===================
done          AWS accepted the call, or a re-read shows its effect                       action recorded
benign        AWS answered "already so" (not running, already running, row final)        recorded, no change
retry         throttled, or never sent (connection refused), or unknown and not visible  intent kept, retry_at
refused       AccessDenied, validation, anything a retry cannot fix                      escalated
============  =========================================================================  ===================

A timeout or a 5xx after the request was sent is *unknown*: the action's verifier re-reads the resource; a
visible effect is ``done`` (never repeated), an invisible one is ``retry`` (the intent stays; the next invocation
verifies again before calling).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from watchdogs.actions import ACTIONS, ActionResult

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients

THROTTLE_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "RequestThrottled",
        "RequestThrottledException",
        "SlowDown",
        "LimitExceededException",
        "TransactionInProgressException",
        "OperationTimeoutException",
    }
)
SERVER_CODES = frozenset(
    {"InternalServerError", "InternalServiceException", "InternalFailure", "ServiceUnavailable", "InternalError"}
)


class CallClass(StrEnum):
    DONE = "done"
    BENIGN = "benign"
    RETRY = "retry"
    UNKNOWN = "unknown"
    REFUSED = "refused"


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__


def classify_error(exc: BaseException) -> CallClass:
    """What a failed mutating call means: retry later, outcome unknown, or refused (a human must look)."""
    from botocore.exceptions import (  # noqa: PLC0415
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    if isinstance(exc, ConnectTimeoutError | EndpointConnectionError):
        return CallClass.RETRY  # never reached AWS
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return CallClass.UNKNOWN  # sent; may have landed
    if isinstance(exc, ClientError):
        code = error_code(exc)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLE_CODES or status == 429:
            return CallClass.RETRY
        if code in SERVER_CODES or status >= 500:
            return CallClass.UNKNOWN
        return CallClass.REFUSED
    return CallClass.UNKNOWN  # any other transport failure: assume it may have landed, and re-read


@dataclass(frozen=True)
class Effect:
    """The settled outcome of one intent."""

    cls: CallClass
    outcome: str  # recorded on the timeline: stopping, started, cancelled, verified-visible, throttled, ...
    detail: str = ""
    called: bool = False  # the mutating call was made by this invocation


def verify(clients: AwsClients, name: str, params: dict[str, Any], baseline: dict[str, Any]) -> bool | None:
    """Re-read: is the effect of ``name`` visible? None when it cannot tell (or the re-read failed)."""
    spec = ACTIONS[name]
    if spec.verify is None:
        return None
    try:
        return spec.verify(clients, params, baseline)
    except Exception:
        return None


def settle_unknown(clients: AwsClients, name: str, params: dict[str, Any], baseline: dict[str, Any]) -> Effect:
    """An earlier call's outcome is unknown: visible -> done; idempotent action -> safe to call again (retry
    now); invisible or cannot tell -> retry later (the intent stays)."""
    seen = verify(clients, name, params, baseline)
    if seen:
        return Effect(CallClass.DONE, "verified", "effect visible on re-read")
    if seen is None and ACTIONS[name].idempotent:
        return Effect(CallClass.RETRY, "repeatable", "idempotent: may be repeated")
    return Effect(CallClass.RETRY, "not-visible", "effect not visible on re-read" if seen is False else "unknown")


def carry_out(clients: AwsClients, name: str, params: dict[str, Any], baseline: dict[str, Any]) -> Effect:
    """Make the mutating call once and classify it; an unknown outcome is settled by a re-read right away."""
    try:
        result: ActionResult = ACTIONS[name].run(clients, params)
    except Exception as exc:
        cls = classify_error(exc)
        detail = f"{error_code(exc)}: {exc}"
        if cls is CallClass.UNKNOWN:
            settled = settle_unknown(clients, name, params, baseline)
            if settled.cls is CallClass.DONE:
                return Effect(CallClass.DONE, "verified", f"outcome unknown ({detail}); effect visible", called=True)
            return Effect(CallClass.RETRY, "unknown", f"outcome unknown ({detail}); not visible yet", called=True)
        outcome = {CallClass.RETRY: "throttled", CallClass.REFUSED: "refused"}[cls]
        return Effect(cls, outcome, detail, called=cls is not CallClass.RETRY)
    cls = CallClass.DONE if result.changed else CallClass.BENIGN
    return Effect(cls, result.outcome, result.detail, called=True)
