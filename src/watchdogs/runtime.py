"""Per-process wiring shared by the handlers: settings, clients, engine, idempotency, edge parsing.

Everything here is built on the first invocation (not at import time) and cached for the life of the
container. Handlers stay thin: decorators, ``handle_event(...)``, return its summary.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from watchdogs.observability import count, logger
from watchdogs.settings import get_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.typing import LambdaContext

    from watchdogs.clients import AwsClients
    from watchdogs.engine import Engine, HandleResult
    from watchdogs.models.domain import Finding
    from watchdogs.settings import Settings

M = TypeVar("M", bound=BaseModel)


@dataclass
class Runtime:
    settings: Settings
    clients: AwsClients
    engine: Engine


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    """Settings are validated here, once: a bad variable fails the first invocation with its name."""
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
    _idempotency.cache_clear()


@lru_cache(maxsize=1)
def _idempotency() -> tuple[Any, Any] | None:
    import os  # noqa: PLC0415

    table = os.environ.get("IDEMPOTENCY_TABLE", "")
    if not table:
        return None
    from aws_lambda_powertools.utilities.idempotency import (  # noqa: PLC0415
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=runtime().clients.dynamodb)
    config = IdempotencyConfig(
        event_key_jmespath="key", expires_after_seconds=6 * 3600, raise_on_no_idempotency_key=True
    )
    return persistence, config


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
) -> dict[str, Any]:
    """Parse, de-duplicate on the event (Powertools Idempotency), turn into findings, hand each to the engine.

    Outcomes: ``rejected`` (invalid event, nothing done), ``handled`` (with ``duplicate: True`` when Powertools
    returned the stored result of an earlier delivery) and ``duplicate-in-progress``: another invocation is
    handling the same delivery right now. That one is a normal consequence of at-least-once delivery, not an
    error: it is logged and counted (``DuplicateInProgress``) and returns without acting, where raising would count
    as a Lambda error, trip the function's error alarm and retry a delivery that is being handled.
    """
    parsed = parse_event(event, model)
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    key = dedup_key(parsed) if dedup_key else str(getattr(parsed, "id", ""))
    if not key:
        return reject(event, model, "no de-duplication key").as_dict()

    ran: list[bool] = []

    def process() -> dict[str, Any]:
        ran.append(True)
        results: list[HandleResult] = [runtime().engine.handle(finding) for finding in to_findings(parsed)]
        return {"outcome": "handled", "key": key, "results": [r.as_dict() for r in results]}

    idem = _idempotency()
    if idem is None:
        return process()
    persistence, config = idem
    from aws_lambda_powertools.utilities.idempotency import idempotent_function  # noqa: PLC0415
    from aws_lambda_powertools.utilities.idempotency.exceptions import (  # noqa: PLC0415
        IdempotencyAlreadyInProgressError,
    )

    config.register_lambda_context(context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=persistence, config=config
    )
    def once(request: dict[str, str]) -> dict[str, Any]:
        return process()

    try:
        response: dict[str, Any] = once(request={"key": key})
    except IdempotencyAlreadyInProgressError:
        logger.info("duplicate event: the same delivery is being handled by another invocation", key=key)
        count("DuplicateInProgress")
        return {"outcome": "duplicate-in-progress", "key": key}
    if not ran:  # Powertools returned the stored response: a duplicate delivery, no action taken
        logger.info("duplicate event: already handled", key=key)
        count("DuplicateEvent")
        return {**response, "duplicate": True}
    return response
