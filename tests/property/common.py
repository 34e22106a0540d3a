"""What the property tests share: settings for the fakes, a store that logs every landed version, and the
end-of-history checks (delivery exactly once by message id, every effective call recorded)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.models.domain import IncidentStatus
from watchdogs.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from watchdogs.incidents.record import Incident

BUDGET_MAX, WINDOW = 3, 3600


def make_settings(mode: str, **extra: str) -> Settings:
    return load_settings(
        {
            "ENVIRONMENT": "prop",
            "WATCHDOG_MODE": mode,
            "INCIDENT_TABLE": "incidents",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
            "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
            "SCOPE_STATE_MACHINE_ARN_PREFIXES": "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-",
            "SCOPE_WORKGROUPS": "lakehouse-sandbox-workgroup",
            "ACCOUNT_ID": "123456789012",
            "CRAWLER_STUCK_SECONDS": "600",
            "CRAWLER_STOPPING_SECONDS": "300",
            "QUERY_STUCK_SECONDS": "600",
            "BUDGET_MAX_ACTIONS": str(BUDGET_MAX),
            "BUDGET_WINDOW_SECONDS": str(WINDOW),
            "QUARANTINE_SECONDS": "7200",
            "LEASE_SECONDS": "120",
            **extra,
        }
    )


class LoggingStore(MemoryIncidentStore):
    """The in-memory store, logging every version that landed (even when the caller saw a failure) and checking
    "resolved only when recovered" at each close with ``recovered(incident)``."""

    def __init__(self, recovered: Callable[[Incident], bool]) -> None:
        super().__init__(environment="prop")
        self.recovered = recovered
        self.log: list[Incident] = []
        self.logged: set[tuple[str, int]] = set()
        self.unrecovered_resolves: list[str] = []

    def _record(self) -> None:
        for incident in (*self.current.values(), *self.closed.values()):
            if (incident.incident_id, incident.version) not in self.logged:
                self.logged.add((incident.incident_id, incident.version))
                self.log.append(incident.model_copy(deep=True))

    def save(self, incident: Incident, *, expected_version: int, budget: Any = None) -> Incident:
        try:
            return super().save(incident, expected_version=expected_version, budget=budget)
        finally:
            self._record()

    def close(self, incident: Incident, *, status: IncidentStatus = IncidentStatus.RESOLVED) -> Incident:
        if status is IncidentStatus.RESOLVED and not self.recovered(incident):
            self.unrecovered_resolves.append(f"{incident.resource_key} {incident.condition} resolved, not recovered")
        try:
            return super().close(incident, status=status)
        finally:
            self._record()

    def save_closed(self, incident: Incident, *, expected_version: int) -> Incident:
        try:
            return super().save_closed(incident, expected_version=expected_version)
        finally:
            self._record()


def assert_delivered_exactly_once(store: LoggingStore, published: Iterable[str]) -> int:
    """Every transition ever put in an outbox was published, and nothing else; returns the distinct count."""
    enqueued = {o.message_id for i in store.log for o in i.outbox}
    delivered = set(published)
    assert delivered == enqueued, f"lost: {enqueued - delivered}; unknown: {delivered - enqueued}"
    return len(delivered)


def assert_effects_recorded(store: LoggingStore, effective: Counter[tuple[str, str, str]]) -> None:
    """Every effective call (resource, time, action) appears as an action entry on an incident, except calls whose
    intent is still pending settlement."""
    per_incident: dict[str, Counter[tuple[str, str, str]]] = {}
    for version in store.log:  # an incident's versions repeat its entries: the union over them, per incident
        per_incident[version.incident_id] = per_incident.get(version.incident_id, Counter()) | Counter(
            (version.resource_id, e.at, e.step or "")
            for e in version.timeline
            if e.kind == "action" and e.outcome not in {"failed", "throttled"}
        )
    recorded = sum(per_incident.values(), Counter())  # two incidents may each make the same call at the same time
    pending = sum(len(i.intents) for i in store.current.values())
    missing = effective - recorded
    assert sum(missing.values()) <= pending, f"effective calls never recorded: {dict(missing)}"
