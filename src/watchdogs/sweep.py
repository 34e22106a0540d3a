"""The scheduled sweep: the source of truth when no event fires (or an event was lost).

Events are the fast path; the sweep, on a schedule (``rate(N minutes)``), only orchestrates:

* **discover** -- each runbook in the registry (:func:`~watchdogs.remediators.build_remediators`) finds its own
  problems (``runbooks/<service>/discover.py``: stuck work, lost failures, recoveries), causes first: crawlers,
  queries, executions;
* **resume** -- every active incident is fed back (condition of the incident, ``source="sweep"``): a persisted
  multi-step remediation continues ("wait for READY state, then restart"), and a resource that has recovered
  resolves its incident; a failure that can never recover is expired through ``Engine.expire``;
* **hand over** -- each :class:`~watchdogs.models.domain.Finding` goes to ``Engine.handle``, where the remediations
  decide and the incident store's conditional writes make sure that of a sweep and an event handler working on
  the same resource at the same time exactly one acts; pending notifications go out via ``Engine.flush_pending``.

The sweep never writes incidents itself. One failing API call (throttling, AccessDenied on one resource) is
recorded in :attr:`SweepReport.errors` and the rest of the sweep goes on.

API calls grow with the resources in scope divided by the page size (see ``docs/sweep.md``); per-resource reads
(tags, incident history) happen only for candidates.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from watchdogs.incidents import Incident, IncidentStore, iso, now_utc, parse_iso
from watchdogs.models.domain import Condition, Finding, ResourceType
from watchdogs.observability import logger
from watchdogs.resume import resume_finding
from watchdogs.runbooks.discovery import STORE_ERRORS, Discovers, DiscoveryContext, Found, record_failure
from watchdogs.runbooks.query.discover import check_thresholds
from watchdogs.sweep_cursor import SweepCursor, rotated
from watchdogs.sweep_report import SweepError, SweepItem, SweepReport, call_bounds, publish

__all__ = ["SweepError", "SweepItem", "SweepReport", "call_bounds", "run_sweep_once"]

if TYPE_CHECKING:
    from collections.abc import Callable

    from watchdogs.clients import AwsClients
    from watchdogs.engine import HandleResult
    from watchdogs.settings import Settings

#: active incidents the sweep resumes per run (newest first)
MAX_OPEN_INCIDENTS = 1000
#: failed runs can be redriven for 14 days (AWS); after that nothing can recover them
REDRIVE_WINDOW = timedelta(days=14)
#: stop handing findings to the engine when the invocation has less time left than this
DEADLINE_MARGIN_MS = 10_000
#: IAM actions the sweep itself uses besides what each runbook's discovery declares: the open incidents
SWEEP_PERMISSIONS: tuple[str, ...] = ("dynamodb:Query",)
_TYPE_ORDER = {ResourceType.CRAWLER: 0, ResourceType.QUERY: 1, ResourceType.EXECUTION: 2}  # causes first


class FindingHandler(Protocol):
    """What the sweep hands findings to: :class:`watchdogs.engine.Engine` (or a recording fake in tests)."""

    def handle(self, finding: Finding) -> HandleResult: ...


# ------------------------------------------------------------------------------------------------ pure helpers
# ------------------------------------------------------------------------------------------------ the sweep
class Sweep:
    """One sweep over the resources in scope. Takes its adapters; builds nothing at import time.

    ``engine`` is anything with ``handle(finding)`` (the real :class:`~watchdogs.engine.Engine` in production);
    ``store`` defaults to the engine's incident store, ``remediators`` to the engine's registry (else
    :func:`~watchdogs.remediators.build_remediators`), ``clock`` to UTC now.
    """

    def __init__(
        self,
        settings: Settings,
        clients: AwsClients,
        engine: FindingHandler,
        *,
        store: IncidentStore | None = None,
        remediators: Mapping[ResourceType, object] | None = None,
        clock: Callable[[], datetime] = now_utc,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.engine = engine
        engine_store = getattr(engine, "store", None)
        self.store: IncidentStore = store or (
            engine_store
            if isinstance(engine_store, IncidentStore)
            else IncidentStore(
                settings.incident_table,
                clients.dynamodb,
                ttl_days=settings.incident_ttl_days,
                environment=settings.environment,
            )
        )
        self.remediators = remediators if remediators is not None else _registry(engine, settings, clients)
        self.clock = clock
        table, client = getattr(self.store, "table_name", None), getattr(self.store, "client", None)
        self.cursor = SweepCursor(table, lambda: self.store.client) if table and client is not None else None
        self._report = SweepReport(started_at="")
        self._now = clock()

    # ------------------------------------------------------------------------------------------ entry
    def run(self, remaining_ms: Callable[[], int] | None = None) -> SweepReport:
        """Ask each runbook to discover, resume the open incidents, then hand every finding to the engine (causes
        first: crawlers, queries, executions).

        ``remaining_ms`` (the Lambda context's ``get_remaining_time_in_millis``) stops handing findings over when
        the invocation is about to time out; what is left is reported as ``deferred`` for the next sweep.
        """
        started = time.monotonic()
        self._now = self.clock()
        self._report = report = SweepReport(started_at=iso(self._now), mode=self.settings.modes())
        report.warnings.extend(check_thresholds(self.settings))
        open_incidents = self._load_open()
        order = rotated(self._runbook_order(), self.cursor.load() if self.cursor else None)
        found = self._discover(open_incidents, remaining_ms, order)
        found += self._resume(open_incidents, found)
        found.sort(key=lambda pair: _TYPE_ORDER[pair[1].resource_type])

        report.found = dict(Counter(kind for kind, _ in found))
        unfinished = set(report.skipped)
        for kind, finding in found:
            item = SweepItem(resource=finding.resource_key, condition=finding.condition.value, kind=kind)
            if remaining_ms is not None and remaining_ms() < DEADLINE_MARGIN_MS:
                item.outcome, item.detail = "deferred", "invocation about to time out: left for the next sweep"
                unfinished.add(finding.resource_type.value)
            else:
                self._handle(finding, item)
            report.items.append(item)
        report.outcomes = dict(Counter(item.outcome for item in report.items))
        report.next_start = next((name for name in order if name in unfinished), None)
        if self.cursor is not None:
            self.cursor.save(report.next_start)
        self._flush_outbox()
        report.duration_ms = round((time.monotonic() - started) * 1000)
        publish(report)
        return report

    def _runbook_order(self) -> list[str]:
        types = (_type_of(r) for r in sorted(self.remediators.values(), key=_order))
        return [t.value for t in types if t is not None]

    def _discover(
        self, open_incidents: list[Incident], remaining_ms: Callable[[], int] | None, order: list[str]
    ) -> list[Found]:
        """Each runbook of the registry finds its own, in ``order`` (causes first, from where the cursor says).
        A runbook reached with no time left is skipped, one whose discovery ran out of time is cut short: both are
        reported in :attr:`SweepReport.skipped`, and the cursor starts the next sweep at the first of them."""
        by_key: dict[str, list[Incident]] = {}
        for incident in open_incidents:
            by_key.setdefault(incident.resource_key, []).append(incident)
        ctx = DiscoveryContext(
            settings=self.settings,
            clients=self.clients,
            now=self._now,
            store=self.store,
            record=self._record,
            open_incidents=by_key,
            checked=self._report.checked,
            warnings=self._report.warnings,
            remaining_ms=remaining_ms,
        )
        found: list[Found] = []
        by_name = {t.value: r for r in self.remediators.values() if (t := _type_of(r)) is not None}
        for name in order:
            remediator = by_name[name]
            if not isinstance(remediator, Discovers):
                continue
            if ctx.out_of_time(f"the {name} runbook"):
                self._report.skipped.append(name)
                continue
            ctx.cut_short = False
            found += remediator.discover(ctx)
            if ctx.cut_short:
                self._report.skipped.append(name)
        return found

    def _handle(self, finding: Finding, item: SweepItem) -> None:
        try:
            result = self.engine.handle(finding)
        except Exception as exc:  # bulkhead: one resource's failure (whatever it is) must not abort the sweep
            logger.exception("sweep: handling a finding failed", resource=finding.resource_key)
            self._error(finding.resource_type.value, "engine.handle", finding.resource_id, exc)
            item.outcome, item.detail = "error", str(exc)[:300]
            return
        item.outcome, item.actions, item.incident_id = result.outcome, list(result.actions), result.incident_id
        item.detail = result.detail
        for sub in result.delegated:
            item.actions += [f"{sub.resource}:{a}" for a in sub.actions]

    def _flush_outbox(self) -> None:
        """Notifications still pending (SNS was down, or an invocation died before publishing) go out now."""
        flush_pending = getattr(self.engine, "flush_pending", None)
        if flush_pending is None:
            return
        try:
            totals = flush_pending()
        except STORE_ERRORS as exc:
            self._error("incident", "dynamodb.Query(outbox-index)", "", exc)
            return
        self._report.checked["outbox_flushed"] = int(totals.get("sent", 0))
        if totals.get("failed"):
            self._report.checked["outbox_failed"] = int(totals["failed"])

    # ------------------------------------------------------------------------------------------ incidents
    def _load_open(self) -> list[Incident]:
        try:
            incidents = self.store.list_open(limit=MAX_OPEN_INCIDENTS)
        except STORE_ERRORS as exc:  # without the list the sweep still finds stuck work
            self._error("incident", "dynamodb.Query(open-index)", "", exc)
            incidents = []
        self._report.checked["open_incidents"] = len(incidents)
        return incidents

    def _resume(self, incidents: list[Incident], found: list[Found]) -> list[Found]:
        """Every active incident goes back to its remediation: continue a pending step, or resolve if recovered.

        Not those discovery already found for the same condition (handed over once, with the fresh facts), nor
        those of a resource discovery found RECOVERED (that finding resolves them all).
        """
        covered = {(f.resource_key, f.condition) for _, f in found}
        recovered = {f.resource_key for _, f in found if f.condition is Condition.RECOVERED}
        findings: list[Found] = []
        for incident in incidents:
            if not incident.is_active or (incident.resource_key, incident.condition) in covered:
                continue
            if incident.resource_key in recovered or self._expire_if_terminal(incident):
                continue
            findings.append(("resume", resume_finding(incident, self._now)))
        return findings

    def _expire_if_terminal(self, incident: Incident) -> bool:
        """Close a failure incident whose resource can never recover, so it stops costing a resume every sweep.

        A failed query id never runs again (Athena re-queues within minutes; dbt retries under a new id): closed
        once older than the look-back window. A failed run can be redriven for 14 days: closed after that. Both
        stay in the resource's history (with TTL); the person was told when it opened.
        """
        if incident.condition is not Condition.FAILED or incident.pending_step:
            return False
        horizon = {
            ResourceType.QUERY: timedelta(seconds=self.settings.sweep_lookback_seconds),
            ResourceType.EXECUTION: REDRIVE_WINDOW,
        }.get(incident.resource_type)
        if horizon is None or self._now - parse_iso(incident.detected_at) <= horizon:
            return False
        reason = (
            f"Closed: a failed {incident.resource_type.value} cannot recover after "
            f"{int(horizon.total_seconds())} s; kept in history."
        )
        expire = getattr(self.engine, "expire", None)
        if expire is None:
            return False
        try:
            expire(incident, reason)
        except STORE_ERRORS as exc:
            self._error(incident.resource_type.value, "engine.expire", incident.resource_id, exc)
            return True
        self._report.checked["expired_incidents"] = self._report.checked.get("expired_incidents", 0) + 1
        return True

    # ------------------------------------------------------------------------------------------ plumbing
    def _record(self, resource_type: str, operation: str, resource: str, code: str, message: str) -> None:
        self._report.errors.append(
            SweepError(resource_type=resource_type, operation=operation, resource=resource, code=code, message=message)
        )

    def _error(self, resource_type: str, operation: str, resource: str, exc: Exception) -> None:
        record_failure(self._record, resource_type, operation, resource, exc)


def _registry(engine: FindingHandler, settings: Settings, clients: AwsClients) -> Mapping[ResourceType, object]:
    registry = getattr(engine, "remediators", None)
    if isinstance(registry, Mapping):
        return registry
    from watchdogs.remediators import build_remediators  # noqa: PLC0415 - the runbooks load on first use

    return build_remediators(settings, clients)


def _type_of(remediator: object) -> ResourceType | None:
    resource_type: ResourceType | None = getattr(remediator, "resource_type", None)
    return resource_type


def _order(remediator: object) -> int:
    resource_type: ResourceType | None = getattr(remediator, "resource_type", None)
    return _TYPE_ORDER.get(resource_type, len(_TYPE_ORDER)) if resource_type else len(_TYPE_ORDER)


# ------------------------------------------------------------------------------------------------ entry points
def run_sweep_once(remaining_ms: Callable[[], int] | None = None) -> SweepReport:
    """Run one sweep with this process's settings, clients and engine (the embedded demo calls this per tick)."""
    from watchdogs.runtime import runtime  # noqa: PLC0415 - built on first use, not at import

    rt = runtime()
    return Sweep(rt.settings, rt.clients, rt.engine).run(remaining_ms)


def handle_scheduled_event(event: Any, remaining_ms: Callable[[], int] | None = None) -> dict[str, Any]:
    """The sweep function's body: parse the schedule event at the edge (reject anything else), run one sweep."""
    from watchdogs.models.schedule_events import ScheduledEvent  # noqa: PLC0415
    from watchdogs.runtime import Rejection, parse_event  # noqa: PLC0415

    if _is_timer(event):  # a one-shot stuck timer fired (docs/timers.md): that one resource, not a sweep
        return _timer_fired(event)
    parsed = parse_event(event, ScheduledEvent)
    if isinstance(parsed, Rejection):
        return parsed.as_dict()
    report = run_sweep_once(remaining_ms)
    _publish_gauges()
    return {"outcome": "swept", "event_id": parsed.id, **report.model_dump(mode="json")}


def _publish_gauges() -> None:
    """Open incidents and quarantined resources for the dashboard, sampled after each sweep (watchdogs.gauges)."""
    from watchdogs.gauges import publish_gauges  # noqa: PLC0415
    from watchdogs.runtime import runtime  # noqa: PLC0415

    publish_gauges(runtime().engine.store, now_utc())


def _is_timer(event: Any) -> bool:
    return isinstance(event, dict) and event.get("source") == "watchdogs.timer"


def _timer_fired(event: Any) -> dict[str, Any]:
    """Timers target the resource's event function; one made before that (a schedule in flight across an upgrade)
    still invokes the sweep function, which answers any resource type."""
    from watchdogs.runtime import runtime  # noqa: PLC0415
    from watchdogs.timer_check import answer  # noqa: PLC0415

    return answer(event, runtime(), accepts=None)
