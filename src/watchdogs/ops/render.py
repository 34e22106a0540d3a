"""Output for people (aligned tables, ages, execution names instead of ARNs) and for scripts (``--json``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import now_utc, parse_iso

if TYPE_CHECKING:
    from collections.abc import Sequence

    from watchdogs.incidents import Incident


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], indent: str = "  ") -> str:
    """Rows under headers, columns padded to their widest cell (the last column is not padded)."""
    cells = [[str(h) for h in headers], *[["-" if c is None or c == "" else str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [indent + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


def short(resource_id: str) -> str:
    """What people recognise: the execution name of an execution ARN, else the id."""
    return resource_id.rsplit(":", 1)[-1] if resource_id.startswith("arn:") else resource_id


def age(moment: str | None) -> str:
    """``5m ago``, ``3h ago``, ``2d ago`` (``-`` when unknown)."""
    if not moment:
        return "-"
    seconds = max(0.0, (now_utc() - parse_iso(moment)).total_seconds())
    return f"{duration(seconds)} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def incident_row(incident: Incident) -> list[Any]:
    return [
        f"{incident.resource_type.value} {short(incident.resource_id)}",
        incident.condition.value,
        incident.status.value,
        incident.severity.value,
        incident.classification,
        age(incident.detected_at),
        ",".join(sorted(incident.actions_done)) or "-",
    ]


INCIDENT_HEADERS = ("RESOURCE", "CONDITION", "STATUS", "SEVERITY", "CLASSIFICATION", "DETECTED", "ACTIONS")


def incident_detail(incident: Incident, timeline: int = 12) -> str:
    """One incident for a person: what, since when, what the watchdogs did, what to do, its last timeline entries."""
    lines = [
        f"  incident {incident.incident_id}  {incident.condition.value} {incident.status.value} "
        f"({incident.severity.value}, {incident.classification}), detected {age(incident.detected_at)}",
        f"    {incident.summary}" if incident.summary else "",
    ]
    if incident.hold_until:
        lines.append(f"    hold until {incident.hold_until}")
    if incident.pending_step:
        lines.append(f"    next step: {incident.pending_step} (since {age(incident.pending_since)})")
    lines += [f"    - {advice}" for advice in incident.advice]
    if incident.outbox:
        lines.append(f"    {len(incident.outbox)} notification(s) not yet published")
    rows = [[e.at, e.kind, e.step or "", e.outcome or "", e.actor or "", e.detail] for e in incident.timeline]
    if rows:
        lines.append(table(("AT", "KIND", "STEP", "OUTCOME", "BY", "DETAIL"), rows[-timeline:], indent="    "))
    return "\n".join(line for line in lines if line)
