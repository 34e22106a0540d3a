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


def parse_event(event: Any, model: type[M]) -> M | None:
    """Parse at the edge. A malformed or unexpected event is rejected (logged reason + metric), never raised:
    raising would make Lambda retry a poison event until it reaches the DLQ, and it must take no action."""
    try:
        return model.model_validate(event)
    except ValidationError as exc:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<event>'}: {err['msg']}" for err in exc.errors()[:10]
        )
        logger.warning(
            "rejected event",
            model=model.__name__,
            reason=reasons,
            event_id=event.get("id") if isinstance(event, dict) else None,
        )
        count("RejectedEvent", model=model.__name__)
        return None


def handle_event(
    event: Any,
    context: LambdaContext,
    model: type[M],
    to_findings: Callable[[M], list[Finding]],
    dedup_key: Callable[[M], str] | None = None,
) -> dict[str, Any]:
    """Parse, de-duplicate on the event (Powertools Idempotency), turn into findings, hand each to the engine."""
    parsed = parse_event(event, model)
    if parsed is None:
        return {"outcome": "rejected", "reason": f"not a valid {model.__name__}"}
    key = dedup_key(parsed) if dedup_key else str(getattr(parsed, "id", ""))

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

    config.register_lambda_context(context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="request", persistence_store=persistence, config=config
    )
    def once(request: dict[str, str]) -> dict[str, Any]:
        return process()

    response: dict[str, Any] = once(request={"key": key})
    if not ran:  # Powertools returned the stored response: a duplicate delivery, no action taken
        logger.info("duplicate event: already handled", key=key)
        count("DuplicateEvent")
        return {**response, "duplicate": True}
    return response
