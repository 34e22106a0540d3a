"""Gauges the dashboard plots, sampled once per sweep: open incidents and quarantined resources per resource type.

Counts (``Acted``, ``Resolved``, ...) say what happened in a period; these say where things stand. Each sweep
reads the sparse ``open-index`` (a query, never a scan) and, for resources with an escalated incident, their
budget record (a quarantine always escalates). Every resource type is emitted, zero included, so the graph
shows a flat line rather than a gap when all is well. A failure to sample is logged and counted, never raised:
the sweep's own work must not depend on a dashboard.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from watchdogs.incidents import StoreError
from watchdogs.models.domain import IncidentStatus, ResourceType
from watchdogs.observability import MetricUnit, count, logger, record

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.incidents import IncidentStoreProtocol

#: open incidents read per sample; past this the gauge saturates (and says so in the log)
SAMPLE_LIMIT = 1000


def sample(store: IncidentStoreProtocol, now: datetime) -> dict[str, Counter[str]]:
    """``{"OpenIncidents": {type: n}, "QuarantinedResources": {type: n}}`` as the store holds them at ``now``."""
    open_incidents = store.list_open(SAMPLE_LIMIT)
    if len(open_incidents) >= SAMPLE_LIMIT:
        logger.warning("open incidents gauge saturated", limit=SAMPLE_LIMIT)
    escalated = {(i.resource_type, i.resource_id) for i in open_incidents if i.status is IncidentStatus.ESCALATED}
    quarantined = Counter(
        resource_type.value
        for resource_type, resource_id in sorted(escalated)
        if store.load(resource_type, resource_id).budget.is_quarantined(now)
    )
    return {
        "OpenIncidents": Counter(i.resource_type.value for i in open_incidents),
        "QuarantinedResources": quarantined,
    }


def publish_gauges(store: IncidentStoreProtocol, now: datetime) -> dict[str, Counter[str]] | None:
    """Sample and emit the gauges (one metric per resource type); None when the store could not be read."""
    try:
        sampled = sample(store, now)
    except StoreError as exc:
        logger.warning("gauges not sampled", error=str(exc))
        count("GaugeFailed")
        return None
    for resource_type in ResourceType:
        kind = resource_type.value
        record("OpenIncidents", sampled["OpenIncidents"][kind], MetricUnit.Count, resource_type=kind)
        record("QuarantinedResources", sampled["QuarantinedResources"][kind], MetricUnit.Count, resource_type=kind)
    return sampled
