"""The one place that owns logger, tracer and metrics (Powertools), shared by every handler and module."""

from __future__ import annotations

import json
import os
import warnings
from contextlib import asynccontextmanager, contextmanager
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.tracing.base import BaseProvider

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Generator, Sequence

SERVICE = "lakehouse-watchdogs"
NAMESPACE = "LakehouseWatchdogs"


class _NoTracing(BaseProvider):
    """Tracing provider used when tracing is off: Powertools' default provider imports the X-Ray SDK even when
    disabled, which costs more cold start than the rest of the watchdog's imports together (see ``make bench``)."""

    @contextmanager
    def in_subsegment(self, name: str | None = None, **kwargs: Any) -> Generator[Any, None, None]:
        yield _NoSegment()

    @asynccontextmanager
    async def in_subsegment_async(self, name: str | None = None, **kwargs: Any) -> AsyncGenerator[Any, None]:
        yield _NoSegment()

    def put_annotation(self, key: str, value: Any) -> None:
        return None

    def put_metadata(self, key: str, value: Any, namespace: str = "default") -> None:
        return None

    def patch(self, modules: Sequence[str]) -> None:
        return None

    def patch_all(self) -> None:
        return None


class _NoSegment:
    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kwargs: None


def _tracing_enabled() -> bool:
    """Powertools' own rule: off when POWERTOOLS_TRACE_DISABLED is truthy, outside Lambda, or under SAM local."""
    disabled = os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").strip().lower() in {"1", "true", "yes", "on"}
    in_lambda = bool(os.environ.get("LAMBDA_TASK_ROOT")) and not os.environ.get("AWS_SAM_LOCAL")
    return in_lambda and not disabled


def _log_json(record: dict[str, Any]) -> str:
    """Powertools' own serialisation (compact JSON, non-ASCII kept), except that text which is not valid Unicode
    (a lone surrogate in a malformed event's id or fields) is escaped: writing it would fail and lose the line."""
    text = json.dumps(record, default=str, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


logger = Logger(service=SERVICE, json_serializer=_log_json)
tracer = (
    Tracer(service=SERVICE)
    if _tracing_enabled()
    else Tracer(service=SERVICE, disabled=True, provider=_NoTracing(), auto_patch=False)
)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)

# Metrics with dimensions go out as their own EMF blobs (count() below), so an invocation can legitimately end with
# nothing left in the shared blob; Powertools would warn about that on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one EMF count metric (one metric per outcome: ``Acted``, ``Rejected``, ``Duplicate``, ...)."""
    if dimensions:
        record(name, value, MetricUnit.Count, **dimensions)
        return
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record(name: str, value: float, unit: MetricUnit, /, **dimensions: str) -> None:
    """Emit one EMF metric in its own blob, so its dimensions stay with it (a gauge, a duration, a count).

    Powertools adds the ``service`` dimension to every blob: each metric's dimension set is its own keys plus
    ``service``, which is what the dashboard's SEARCH schemas name."""
    with single_metric(name=name, unit=unit, value=value, namespace=NAMESPACE) as metric:
        for key, dim_value in dimensions.items():
            metric.add_dimension(name=key, value=dim_value)


__all__ = ["MetricUnit", "count", "logger", "metrics", "record", "tracer"]
