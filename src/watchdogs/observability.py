"""The one place that owns logger, tracer and metrics (Powertools), shared by every handler and module."""

from __future__ import annotations

import warnings

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE = "lakehouse-watchdogs"
NAMESPACE = "LakehouseWatchdogs"

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(service=SERVICE, namespace=NAMESPACE)

# Metrics with dimensions go out as their own EMF blobs (count() below), so an invocation can legitimately end with
# nothing left in the shared blob; Powertools would warn about that on every such invocation.
warnings.filterwarnings("ignore", message="No application metrics to publish")


def count(name: str, value: float = 1, **dimensions: str) -> None:
    """Emit one EMF count metric (one metric per outcome: ``Acted``, ``Rejected``, ``Duplicate``, ...)."""
    if dimensions:
        # dimensions apply to the whole EMF blob: emit a single-metric blob so they stay with this metric
        with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace=NAMESPACE) as metric:
            for key, dim_value in dimensions.items():
                metric.add_dimension(name=key, value=dim_value)
        return
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


__all__ = ["count", "logger", "metrics", "tracer"]
