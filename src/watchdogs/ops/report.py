"""``watchdogs-ops report --since 7d``: the evidence for moving a service from observe to remediate.

Per service (crawler, query, execution) over the window: incidents (by status and classification), the actions
taken by outcome, what observe mode would have done, time to recover (median, p90), budget use and quarantines.

The incident table is read with one paginated ``Scan`` (closed incidents have no index across resources; the
table holds incidents only, bounded by their TTL), filtered to the window on the client.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import Incident, now_utc, parse_iso
from watchdogs.incidents.wire import from_ddb
from watchdogs.models.domain import IncidentStatus, ResourceType
from watchdogs.ops.incidents import Output
from watchdogs.ops.render import duration, table

if TYPE_CHECKING:
    import argparse

    from watchdogs.incidents import IncidentStore
    from watchdogs.ops.target import Target

_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``30m`` / ``12h`` / ``7d`` / ``2w`` before now, or an ISO 8601 time. A ValueError names the bad input."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text)
    if match:
        return (now or now_utc()) - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    try:
        moment = parse_iso(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: use 30m, 12h, 7d, 2w or an ISO time like 2026-01-31T00:00:00Z") from None
    if moment.tzinfo is None:
        raise ValueError(f"--since {text!r}: give a time zone (e.g. a trailing Z)")
    return moment


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (``None`` for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


@dataclass
class ServiceReport:
    service: str
    incidents: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    by_classification: Counter[str] = field(default_factory=Counter)
    actions: Counter[str] = field(default_factory=Counter)  # "<action>:<outcome>"
    would_act: Counter[str] = field(default_factory=Counter)
    recover_seconds: list[float] = field(default_factory=list)
    actions_spent: int = 0
    max_per_incident: int = 0
    budget_max: int = 0
    quarantines: int = 0
    quarantined_now: int = 0
    modes: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "incidents": self.incidents,
            "by_status": dict(self.by_status),
            "by_classification": dict(self.by_classification),
            "actions_by_outcome": dict(self.actions),
            "observe_would_have_done": dict(self.would_act),
            "time_to_recover_seconds": {
                "count": len(self.recover_seconds),
                "median": percentile(self.recover_seconds, 50),
                "p90": percentile(self.recover_seconds, 90),
            },
            "budget": {
                "actions_spent": self.actions_spent,
                "max_per_incident": self.max_per_incident,
                "budget_max": self.budget_max,
            },
            "quarantines": self.quarantines,
            "quarantined_now": self.quarantined_now,
            "modes": dict(self.modes),
        }


def scan(target: Target) -> tuple[list[Incident], list[dict[str, Any]]]:
    """Every incident (active and closed) and every budget item of the table."""
    incidents: list[Incident] = []
    budgets: list[dict[str, Any]] = []
    for page in target.client("dynamodb").get_paginator("scan").paginate(TableName=target.table):
        for raw in page.get("Items", []):
            item = from_ddb(raw)
            sk = str(item.get("sk", ""))
            if sk == "BUDGET":
                budgets.append(item)
            elif sk.startswith(("CUR#", "HIST#")):
                incidents.append(Incident.model_validate(item))
    return incidents, budgets


def _add(report: ServiceReport, incident: Incident, since: datetime) -> None:
    report.incidents += 1
    report.by_status[incident.status.value] += 1
    report.by_classification[incident.classification] += 1
    report.modes[incident.mode or "unknown"] += 1
    for entry in incident.timeline:
        if parse_iso(entry.at) < since:
            continue
        if entry.kind == "action":
            report.actions[f"{entry.step}:{entry.outcome}"] += 1
        elif entry.kind == "would-act":
            report.would_act[str(entry.step)] += 1
    if incident.status is IncidentStatus.RESOLVED and incident.time_to_recover_seconds is not None:
        report.recover_seconds.append(incident.time_to_recover_seconds)
    report.actions_spent += incident.attempts
    report.max_per_incident = max(report.max_per_incident, incident.attempts)
    report.budget_max = max(report.budget_max, incident.budget_max)


def build(incidents: list[Incident], budgets: list[dict[str, Any]], since: datetime) -> list[ServiceReport]:
    reports = {t: ServiceReport(t.value) for t in ResourceType}
    for incident in incidents:
        if incident.is_active or parse_iso(incident.updated_at) >= since or parse_iso(incident.detected_at) >= since:
            _add(reports[incident.resource_type], incident, since)
    now = now_utc().timestamp()
    for budget in budgets:
        kind = str(budget.get("pk", "")).split("#")[1:2]
        until = budget.get("quarantined_until")
        if not kind or kind[0] not in reports or until is None:
            continue
        report = reports[ResourceType(kind[0])]
        report.quarantines += float(until) >= since.timestamp()
        report.quarantined_now += float(until) > now
    return list(reports.values())


def run(target: Target, store: IncidentStore, args: argparse.Namespace) -> Output:
    since = parse_since(args.since)
    incidents, budgets = scan(target)
    reports = build(incidents, budgets, since)
    data = {"since": since.isoformat(), "table": target.table, "services": [r.as_dict() for r in reports]}
    return Output(render(reports, since, target.table), data)


def _top(counter: Counter[str], n: int = 4) -> str:
    return ", ".join(f"{k} {v}" for k, v in counter.most_common(n)) or "-"


def render(reports: list[ServiceReport], since: datetime, table_name: str) -> str:
    rows = []
    for r in reports:
        ttr = f"{duration(percentile(r.recover_seconds, 50))} / {duration(percentile(r.recover_seconds, 90))}"
        budget = f"{r.actions_spent} (max {r.max_per_incident}/incident of {r.budget_max})" if r.incidents else "-"
        rows.append(
            [
                r.service,
                r.incidents,
                _top(r.by_status),
                _top(r.actions),
                _top(r.would_act),
                ttr if r.recover_seconds else "-",
                budget,
                f"{r.quarantines} ({r.quarantined_now} now)",
            ]
        )
    headers = ("SERVICE", "INCIDENTS", "STATUS", "ACTIONS BY OUTCOME", "OBSERVE WOULD HAVE", "RECOVER p50/p90")
    text = f"Report since {since.isoformat(timespec='seconds')} ({table_name})\n"
    text += table((*headers, "BUDGET USED", "QUARANTINES"), rows)
    classes = [f"  {r.service}: {_top(r.by_classification, 6)}" for r in reports if r.incidents]
    if classes:
        text += "\nClassifications\n" + "\n".join(classes)
    return text
