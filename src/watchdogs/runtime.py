"""Per-process wiring shared by the handlers: settings, clients, engine, edge parsing, de-duplication.

Everything here is built on the first invocation (not at import time) and cached for the life of the
container. Handlers stay thin: decorators, ``handle_event(...)``, return its summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from watchdogs.coldstart import cold_start_phase
from watchdogs.observability import count, logger
from watchdogs.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from watchdogs.clients import AwsClients
    from watchdogs.engine import Engine, HandleResult
    from watchdogs.models.domain import Finding, ResourceType
    from watchdogs.settings import Settings

M = TypeVar("M", bound=BaseModel)
#: what the engine answers for a delivery already handled (see :func:`handle_event`)
DUPLICATES = frozenset({"duplicate", "duplicate-in-progress"})


@dataclass
class Runtime:
    settings: Settings
    clients: AwsClients
    engine: Engine


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Settings are validated here, once: a bad variable fails the first invocation with its name."""
    with cold_start_phase("runtime"):
        from watchdogs.clients import AwsClients  # noqa: PLC0415
        from watchdogs.engine import Engine  # noqa: PLC0415
        from watchdogs.remediators import build_remediators  # noqa: PLC0415

        settings = get_settings()
        clients = AwsClients()
        engine = Engine(settings, clients, build_remediators(settings, clients))
        return Runtime(settings=settings, clients=clients, engine=engine)


def reset_runtime() -> None:
    """Forget cached settings and clients (tests, the local invoker switching environments)."""
    runtime.cache_clear()
    get_settings.cache_clear()


@dataclass(frozen=True)
class Rejection:
    """A typed rejection of an event at the edge: which model refused it and why. Logged with its reason and
    counted (``RejectedEvent``) when made; returned as the handler's summary, never raised (raising would make
    Lambda retry a poison event until it reaches the DLQ); nothing is acted on."""

    model: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": "rejected", "reason": f"not a valid {self.model}", "detail": self.reason[:1000]}


def reject(event: Any, model: type[BaseModel], reason: str) -> Rejection:
    """Log and count the rejection of ``event`` (see :class:`Rejection`)."""
    event_id = event.get("id") if isinstance(event, dict) else None
    logger.warning(
        "rejected event",
        model=model.__name__,
        reason=reason,
        event_id=None if event_id is None else str(event_id)[:128],
    )
    count("RejectedEvent", model=model.__name__)
    return Rejection(model=model.__name__, reason=reason)


def parse_event(event: Any, model: type[M]) -> M | Rejection:
    """Parse at the edge: the model, or the :class:`Rejection` of a malformed or unexpected event."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<event>'}: {err['msg']}" for err in exc.errors()[:10]
        )
        return reject(event, model, reasons)


def handle_event(
    event: Any,
    context: LambdaContext,
    model: type[M],
    to_findings: Callable[[M], list[Finding]],
    dedup_key: Callable[[M], str] | None = None,
    *,
    answers_timers: ResourceType | None = None,
) -> dict[str, Any]:
    """Parse, turn into findings carrying the delivery's de-duplication key, hand each to the engine.

    De-duplication is the incident store's own: the claim that changes an incident records the key on it (the same
    conditional write that makes one invocation the incident's only actor), and a delivery whose key an active
    incident records stops after the one Query that loads the resource (``duplicate``). A copy delivered while the
    first is still acting finds the key with the first's intents (``duplicate-in-progress``), or loses the claim
    to it and finds the key on re-reading. Neither is an error: logged and counted (``DuplicateEvent``,
    ``DuplicateInProgress``), never raised, so no error alarm trips and Lambda retries nothing. A delivery that
    changed no incident (nothing open, unchanged) has nothing to protect: a copy takes the same read-only path.

    Outcomes: ``rejected`` (invalid event, nothing done), ``handled`` (with ``duplicate: True`` when every finding
    was a duplicate) and ``duplicate-in-progress``.
    """
    if answers_timers is not None and is_timer(event):  # this function's resources' stuck and step timers
        from watchdogs.timer_check import answer  # noqa: PLC0415 - only when a timer fires (cold start)

        return answer(event, runtime(), accepts=frozenset({answers_timers}))
    parsed = parse_event(event, model)
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    key = dedup_key(parsed) if dedup_key else str(getattr(parsed, "id", ""))
    if not key:
        return reject(event, model, "no de-duplication key").as_dict()
    engine = runtime().engine
    _stuck_timer(parsed)
    findings = [finding.model_copy(update={"event_key": key}) for finding in to_findings(parsed)]
    results: list[HandleResult] = [engine.handle(finding) for finding in findings]
    outcomes = {r.outcome for r in results}
    if results and outcomes <= DUPLICATES and "duplicate-in-progress" in outcomes:
        return {"outcome": "duplicate-in-progress", "key": key}
    response: dict[str, Any] = {"outcome": "handled", "key": key, "results": [r.as_dict() for r in results]}
    if results and outcomes <= DUPLICATES:
        response["duplicate"] = True
    return response


def is_timer(event: Any) -> bool:
    """A stuck or step timer firing (its schedule's input, :mod:`watchdogs.timers`), not an EventBridge event."""
    return isinstance(event, dict) and event.get("source") == "watchdogs.timer"


def _stuck_timer(parsed: BaseModel) -> None:
    """Start or stop the resource's one-shot stuck timer (docs/timers.md); never fails the event."""
    from watchdogs.timer_events import on_event  # noqa: PLC0415 - loaded on first event, not at import

    on_event(parsed, runtime())
