"""What a runbook's discovery is given by the sweep, defined once: :class:`DiscoveryContext`.

Each runbook package finds its own problems (``runbooks/<service>/discover.py``: ``discover(ctx)`` returns
``(kind, finding)`` pairs, kind being ``stuck``, ``lost-failure`` or ``recovered``); the sweep only orchestrates. The
context carries what discovery reads and where it reports: the settings, clients and one ``now`` for the whole
sweep, the open incidents by resource key, the "already known" check against incident history, the error recorder,
the report's ``checked`` counters and warnings, and the invocation's deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from botocore.exceptions import BotoCoreError, ClientError

from watchdogs.incidents import StoreError, parse_iso
from watchdogs.models.domain import Condition, Finding
from watchdogs.observability import logger

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Incident
    from watchdogs.models.domain import ResourceType
    from watchdogs.settings import Settings

#: what a failed AWS call raises (botocore); the store's own errors besides
AWS_ERRORS: tuple[type[Exception], ...] = (ClientError, BotoCoreError)
STORE_ERRORS: tuple[type[Exception], ...] = (StoreError, ClientError, BotoCoreError)
#: discovery stops listing when the invocation has less time left than this (what it skipped is reported)
DISCOVERY_MARGIN_MS = 2_000

#: ``(kind, finding)``: kind is ``stuck``, ``lost-failure`` or ``recovered``
Found = tuple[str, Finding]
#: keeps a failed call in the sweep's report: resource type, operation, resource, code, message
Recorder = Callable[[str, str, str, str, str], None]


@runtime_checkable
class Discovers(Protocol):
    """A runbook that finds its own problems on a schedule (a remediator that also discovers)."""

    resource_type: ResourceType
    #: IAM actions ``discover`` needs (the meta-test checks template.yaml grants them to the sweep)
    discovery_permissions: tuple[str, ...]

    def discover(self, ctx: DiscoveryContext) -> list[Found]: ...


class History(Protocol):
    """The incident store's per-resource history (closed incidents included)."""

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]: ...


def already_seen(incidents: list[Incident], since: datetime, *, any_condition: bool) -> bool:
    """Whether the watchdogs already engaged with a run that began at ``since``: an incident about it exists.

    Failures look for a FAILED incident detected after the run began; an ABORTED run accepts any incident (an
    execution the watchdogs stopped as STUCK ends ABORTED: that is the echo of their own action).
    """
    for incident in incidents:
        if parse_iso(incident.detected_at) < since - timedelta(seconds=1):
            continue
        if any_condition or incident.condition is Condition.FAILED:
            return True
    return False


def error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or type(exc).__name__


def record_failure(record: Recorder, resource_type: str, operation: str, resource: str, exc: Exception) -> None:
    """Log a failed call and keep it in the report (resource type, operation, resource, code, message)."""
    code = error_code(exc)
    logger.warning("sweep: call failed, continuing", operation=operation, resource=resource, code=code)
    record(resource_type, operation, resource, code, str(exc)[:500])


def seconds_between(start: datetime | None, now: datetime) -> float | None:
    return None if start is None else max(0.0, (now - start).total_seconds())


def chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass
class DiscoveryContext:
    """One sweep's view for discovery. ``record`` keeps a failed call in the report (resource type, operation,
    resource, code, message) and the sweep goes on; ``checked`` and ``warnings`` are the report's own."""

    settings: Settings
    clients: AwsClients
    now: datetime
    store: History
    record: Recorder
    open_incidents: dict[str, list[Incident]] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    remaining_ms: Callable[[], int] | None = None
    #: set when :meth:`out_of_time` said yes: the discovery under way was cut short
    cut_short: bool = False

    def finding(
        self, resource_type: ResourceType, resource_id: str, condition: Condition, scope_key: str, facts: dict[str, Any]
    ) -> Finding:
        return Finding(
            resource_type=resource_type,
            resource_id=resource_id,
            condition=condition,
            source="sweep",
            observed_at=self.now,
            scope_key=scope_key,
            facts=facts,
        )

    def error(self, resource_type: str, operation: str, resource: str, exc: Exception) -> None:
        """A call failed: logged and recorded; the sweep goes on."""
        record_failure(self.record, resource_type, operation, resource, exc)

    def active(self, resource_type: ResourceType, resource_id: str) -> list[Incident]:
        """The resource's active incidents, from the open list the sweep loaded."""
        return [i for i in self.open_incidents.get(f"{resource_type.value}#{resource_id}", []) if i.is_active]

    def seen(self, resource_type: ResourceType, resource_id: str, since: datetime, *, any_condition: bool) -> bool:
        """Active incidents come from the open list; closed ones cost one Query of the resource's partition."""
        key = f"{resource_type.value}#{resource_id}"
        if already_seen(self.open_incidents.get(key, []), since, any_condition=any_condition):
            return True
        try:
            history = self.store.history(resource_type, resource_id)
        except STORE_ERRORS as exc:  # unknown history: the engine's one-incident-per-slot check still dedups
            self.error(resource_type.value, "dynamodb.Query(history)", resource_id, exc)
            return False
        return already_seen(history, since, any_condition=any_condition)

    def out_of_time(self, skipped: str) -> bool:
        """Whether the invocation is about to time out; if so, what discovery skips is reported as a warning."""
        if self.remaining_ms is None or self.remaining_ms() >= DISCOVERY_MARGIN_MS:
            return False
        self.warnings.append(f"discovery skipped {skipped}: invocation about to time out")
        self.cut_short = True
        return True
