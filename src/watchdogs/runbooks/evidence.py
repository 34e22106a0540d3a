"""Evidence for people: what the runbook tells a person to look at, gathered after the decision is recorded.

Each runbook package gathers its own (``runbooks/<name>/evidence.py``, reads declared as ``evidence_permissions``);
this module is what they share:

* :class:`TimeBox`: one deadline per gather (:data:`EVIDENCE_SECONDS`, far under the functions' 60 s timeout),
  checked before every call and every poll;
* :func:`attempt`: runs one gatherer and turns *any* failure (AccessDenied, throttling, the time box, a bug) into
  ``Evidence(unavailable="<why>")`` with a log line and a metric, so evidence can never fail an invocation;
* :func:`one_line`: untrusted text (log lines, AWS error messages) flattened to one line, literals masked.

Evidence is never read by a decision: it is diagnosis for the reader of the alert.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from watchdogs.incidents import Evidence, iso, now_utc
from watchdogs.observability import count, logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

#: the time box of one gather (all of an incident's evidence together)
EVIDENCE_SECONDS = 8.0
#: lines kept per evidence item (the record caps at EVIDENCE_LINES too)
MAX_LINES = 10
#: evidence that links another resource's event to this incident is also a timeline entry (one root cause, one
#: alert: the run's incident tells that its step's query failed); the rest is diagnosis only
TIMELINE_KINDS = frozenset({"step-query"})

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_STRING_LITERAL = re.compile(r"'(?:[^']|'')*'")
_THROTTLED = {"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded", "SlowDown"}
_DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError"}


class TimeBoxExceededError(RuntimeError):
    """The gather's deadline passed before this step could start."""


class EvidenceUnavailableError(RuntimeError):
    """A gatherer cannot produce its evidence for a known reason (the message says why, for people)."""


class TimeBox:
    """A deadline on a monotonic clock: gatherers call :meth:`check` before each AWS call or poll."""

    def __init__(self, seconds: float | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.deadline = clock() + (EVIDENCE_SECONDS if seconds is None else seconds)

    def remaining(self) -> float:
        return max(0.0, self.deadline - self._clock())

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise TimeBoxExceededError(f"time box exceeded before {what}")


def one_line(text: object, *, mask: bool = False) -> str:
    """Untrusted text as one line: control characters (newlines included) collapsed, optionally with the string
    literals a message quotes back from a query masked (``'?'``), as the query preview is."""
    flat = _CONTROL.sub(" ", str(text)).strip()
    return _STRING_LITERAL.sub("'?'", flat) if mask else flat


def why_unavailable(exc: BaseException) -> str:
    """A short, human reason: ``access denied (AccessDeniedException)``, ``throttled``, ``time box exceeded``."""
    if isinstance(exc, TimeBoxExceededError | EvidenceUnavailableError):
        return str(exc)
    response = getattr(exc, "response", None)
    code = str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""
    operation = str(getattr(exc, "operation_name", "") or "")
    where = f" ({operation})" if operation else ""
    if code in _THROTTLED:
        return f"throttled{where}: {code}"
    if code in _DENIED:
        return f"access denied{where}: {code}"
    if code:
        return f"{code}{where}"
    return f"{type(exc).__name__}: {one_line(exc)[:200]}"


def attempt(
    kind: str, title: str, source: str, gather: Callable[[], list[str]], box: TimeBox, now: datetime | None = None
) -> Evidence:
    """One evidence item: ``gather()``'s lines, or ``unavailable`` with the reason it failed (never raised)."""
    at = iso(now or now_utc())
    try:
        box.check(kind)
        lines = gather()
    except Exception as exc:  # evidence is optional: every failure becomes "unavailable: why"
        reason = why_unavailable(exc)
        logger.warning("evidence unavailable", kind=kind, source=source, reason=reason)
        count("EvidenceUnavailable", kind=kind)
        return Evidence(kind=kind, title=title, source=source, at=at, unavailable=reason)
    count("EvidenceGathered", kind=kind)
    return Evidence(kind=kind, title=title, source=source, at=at, lines=[one_line(x) for x in lines[:MAX_LINES]])
