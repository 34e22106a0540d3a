"""The incident record: what the store keeps about one (resource, condition), bounded in size.

Three parts of the record carry the lifecycle's guarantees:

* ``intents``: the mutating calls a transition is about to make, written *before* the calls (crash consistency:
  an invocation that dies mid-way leaves its intent, and the next one verifies by a re-read whether the effect is
  visible before it does anything else);
* ``outbox``: the notifications of transitions, written in the same write as the transition and removed once SNS
  accepted them (each has a stable ``message_id``, so a subscriber can drop SNS's at-least-once repeats);
* a bounded ``timeline``: the last :data:`TIMELINE_KEEP` entries plus per-kind counters, every text taken from AWS
  capped, so an incident that lives through 10,000 transitions stays far under DynamoDB's 400 KB item limit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from watchdogs.models.domain import ACTIVE_STATUSES, Condition, IncidentStatus, ResourceType, Severity

#: timeline entries kept on the item (older ones are counted in ``timeline_counts``)
TIMELINE_KEEP = 40
#: pending notifications kept; beyond that the oldest are dropped and counted (SNS down for days)
OUTBOX_KEEP = 10
#: event de-duplication keys an incident keeps (the deliveries that changed it, newest last)
EVENT_KEYS_KEEP = 10
#: caps on text taken from AWS or built from it
DETAIL_CHARS = 500
SUMMARY_CHARS = 1500
FACT_CHARS = 1000
FACT_ITEMS = 20
FACT_KEYS = 60
ADVICE_ITEMS = 12
EVIDENCE_ITEMS = 6
EVIDENCE_LINES = 25
#: an item whose JSON exceeds this is shrunk further (DynamoDB's limit is 400 KB; we aim far lower)
ITEM_BUDGET_BYTES = 48_000


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def cap_text(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, marking the cut (so a reader knows text is missing)."""
    if len(value) <= limit:
        return value
    return value[: max(0, limit - 14)] + f" [+{len(value) - limit + 14} chars]"


def cap_value(
    value: Any, *, chars: int = FACT_CHARS, items: int = FACT_ITEMS, keys: int = FACT_KEYS, depth: int = 3
) -> Any:
    """A JSON-plain value with every string, list and map capped (facts read from AWS can be arbitrarily big)."""
    if isinstance(value, str):
        return cap_text(value, chars)
    if isinstance(value, dict):
        if depth <= 0:
            return cap_text(json.dumps(value, default=str), chars)
        kept = list(value.items())[:keys]
        return {str(k)[:100]: cap_value(v, chars=chars, items=items, keys=keys, depth=depth - 1) for k, v in kept}
    if isinstance(value, list | tuple):
        if depth <= 0:
            return cap_text(json.dumps(value, default=str), chars)
        return [cap_value(v, chars=chars, items=items, keys=keys, depth=depth - 1) for v in list(value)[:items]]
    return value


class TimelineEntry(BaseModel):
    """One step of an incident: detection, decision, action (with its outcome), notification, resolution."""

    model_config = ConfigDict(defer_build=True)

    at: str
    # detected | decided | held | intent | action | would-act | verified | retry | delegated | heal |
    # notified | notify-failed | resolved | closed | expired | acknowledged
    kind: str
    detail: str = ""
    step: str | None = None
    outcome: str | None = None
    actor: str | None = None

    @field_validator("detail")
    @classmethod
    def _cap_detail(cls, value: str) -> str:
        return cap_text(value, DETAIL_CHARS)


class Intent(BaseModel):
    """A mutating call about to be made (written before the call; cleared once its outcome is recorded)."""

    model_config = ConfigDict(defer_build=True)

    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: str = ""
    token: str  # idempotency token (RedriveExecution clientToken) and the intent's identity
    at: str
    actor: str
    #: what the resource looked like when the intent was written (the re-read compares against it)
    baseline: dict[str, Any] = Field(default_factory=dict)
    #: set when a call's outcome was unknown or throttled: not before this time is it tried again
    retry_at: str | None = None
    tries: int = 0
    #: the budget slot this intent spent (refunded if its effect never happened)
    reserved: float | None = None
    #: the transition it belongs to: the status once done, and the notification to send then
    status_after: str | None = None
    notify: str | None = None
    #: the incident's decision state before the claim: restored if the claim's calls are all abandoned unmade,
    #: so the fresh decision is not misled by a step that never happened
    prior: dict[str, Any] = Field(default_factory=dict)


class Evidence(BaseModel):
    """What the watchdogs found while diagnosing, the way the runbook tells a person to look (log lines of a failed
    crawl, the failing dbt tests, a stuck run's history excerpt...). Gathered best-effort: when it could not be
    gathered, ``unavailable`` says why and ``lines`` is empty. ``lines`` are untrusted text (quoted when rendered)."""

    model_config = ConfigDict(defer_build=True)

    kind: str  # crawler-log | failing-tests | stuck-history | scan-limit | new-data | ...
    title: str
    lines: list[str] = Field(default_factory=list)
    source: str = ""  # where it came from (log stream, query id, API), for the reader to look further
    at: str = ""
    unavailable: str | None = None

    @field_validator("lines")
    @classmethod
    def _cap_lines(cls, value: list[str]) -> list[str]:
        return [cap_text(line, DETAIL_CHARS) for line in value[:EVIDENCE_LINES]]


class OutboxEntry(BaseModel):
    """A notification of one transition, pending until SNS accepts it. The snapshot is the transition as it was,
    so a message sent late still tells the truth of the transition it reports, not of a later one."""

    model_config = ConfigDict(defer_build=True)

    message_id: str  # "<incident_id>:<seq>": stable across retries, for subscriber de-duplication
    event: str  # act | wait | escalate | notify | observed | resolved | closed | ...
    at: str
    snapshot: dict[str, Any] = Field(default_factory=dict)
    attempts: int = 0
    last_error: str | None = None


class Incident(BaseModel):
    """The incident record. Field names are the DynamoDB attribute names (documented in the README)."""

    model_config = ConfigDict(defer_build=True)

    incident_id: str
    resource_type: ResourceType
    resource_id: str
    condition: Condition
    status: IncidentStatus
    severity: Severity = Severity.WARNING
    classification: str = "unclassified"
    summary: str = ""
    runbook_section: str = ""
    advice: list[str] = Field(default_factory=list)
    environment: str = ""
    mode: str = ""
    detected_at: str
    updated_at: str
    resolved_at: str | None = None
    time_to_recover_seconds: float | None = None
    attempts: int = 0  # mutating actions taken for this incident
    budget_max: int = 0  # the per-resource budget in force when it was last updated
    pending_step: str | None = None  # multi-step remediation: what the next event/sweep resumes
    pending_since: str | None = None
    #: the last decision this incident recorded (outcome, classification, step, actions): a repeat is quiet
    decision_key: str | None = None
    #: escalated: no mutating action until acknowledged or this time passes
    hold_until: str | None = None
    #: last time each action was taken (kept outside the bounded timeline: runbooks ask "did we restart it?")
    actions_done: dict[str, str] = Field(default_factory=dict)
    facts: dict[str, Any] = Field(default_factory=dict)
    #: diagnosis gathered for people (never used by decisions), newest last, bounded
    evidence: list[Evidence] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    timeline_counts: dict[str, int] = Field(default_factory=dict)  # entries ever written, per kind
    intents: list[Intent] = Field(default_factory=list)
    outbox: list[OutboxEntry] = Field(default_factory=list)
    outbox_dropped: int = 0
    seq: int = 0  # transitions notified so far (message ids)
    write_token: str | None = None  # identity of the write that produced this version (unknown-outcome re-read)
    version: int = 0
    lease_owner: str | None = None
    lease_until: str | None = None
    #: de-duplication keys of the event deliveries that changed this incident, newest last, bounded
    event_keys: list[str] = Field(default_factory=list)

    @property
    def resource_key(self) -> str:
        return f"{self.resource_type.value}#{self.resource_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def actions_taken(self) -> list[TimelineEntry]:
        return [entry for entry in self.timeline if entry.kind == "action"]

    def has_action(self, step: str) -> bool:
        return self.last_action_at(step) is not None

    def last_action_at(self, step: str) -> datetime | None:
        """When ``step`` was last taken: from ``actions_done`` (survives timeline compaction), else the timeline."""
        moments = [parse_iso(e.at) for e in self.timeline if e.kind == "action" and e.step == step]
        if step in self.actions_done:
            moments.append(parse_iso(self.actions_done[step]))
        return max(moments) if moments else None

    def is_held(self, now: datetime) -> bool:
        """Escalated and not yet acknowledged: the watchdogs keep their hands off."""
        if self.status is not IncidentStatus.ESCALATED:
            return False
        return self.hold_until is None or parse_iso(self.hold_until) > now

    def with_event_key(self, key: str | None) -> Incident:
        """This incident with ``key`` recorded as a delivery that changed it (bounded, newest last)."""
        if not key or key in self.event_keys:
            return self
        return self.model_copy(update={"event_keys": [*self.event_keys, key][-EVENT_KEYS_KEEP:]})

    def append(self, *entries: TimelineEntry) -> Incident:
        """A copy with ``entries`` appended, counted, and the timeline kept to its last :data:`TIMELINE_KEEP`."""
        counts = dict(self.timeline_counts)
        for entry in entries:
            counts[entry.kind] = counts.get(entry.kind, 0) + 1
        timeline = [*self.timeline, *entries][-TIMELINE_KEEP:]
        return self.model_copy(update={"timeline": timeline, "timeline_counts": counts})

    def enqueue(self, event: str, at: str) -> Incident:
        """A copy with the notification of the current transition added to the outbox (bounded)."""
        seq = self.seq + 1
        snapshot = {
            "status": self.status.value,
            "severity": self.severity.value,
            "classification": self.classification,
            "summary": self.summary,
            "advice": self.advice,
            "runbook_section": self.runbook_section,
            "attempts": self.attempts,
            "pending_step": self.pending_step,
            "time_to_recover_seconds": self.time_to_recover_seconds,
            "resolved_at": self.resolved_at,
            "mode": self.mode,
            "hold_until": self.hold_until,
        }
        entry = OutboxEntry(message_id=f"{self.incident_id}:{seq}", event=event, at=at, snapshot=snapshot)
        outbox = [*self.outbox, entry]
        dropped = max(0, len(outbox) - OUTBOX_KEEP)
        return self.model_copy(
            update={"outbox": outbox[dropped:], "outbox_dropped": self.outbox_dropped + dropped, "seq": seq}
        )

    def bounded(self) -> Incident:
        """The record with every text capped and, if still too big, trimmed harder (never over the budget)."""
        capped = self.model_copy(
            update={
                "summary": cap_text(self.summary, SUMMARY_CHARS),
                "advice": [cap_text(a, DETAIL_CHARS) for a in self.advice[:ADVICE_ITEMS]],
                "facts": cap_value(self.facts),
                "evidence": self.evidence[-EVIDENCE_ITEMS:],
                "timeline": self.timeline[-TIMELINE_KEEP:],
            }
        )
        for chars, keep in ((300, 20), (120, 8), (60, 3)):
            if len(capped.model_dump_json()) <= ITEM_BUDGET_BYTES:
                break
            capped = capped.model_copy(
                update={
                    "facts": cap_value(capped.facts, chars=chars, items=keep),
                    "evidence": [
                        e.model_copy(update={"lines": [cap_text(x, chars) for x in e.lines[:keep]]})
                        for e in capped.evidence[-keep:]
                    ],
                    "timeline": capped.timeline[-keep:],
                    "outbox": [
                        o.model_copy(update={"snapshot": cap_value(o.snapshot, chars=chars, items=keep)})
                        for o in capped.outbox
                    ],
                    "intents": [
                        i.model_copy(update={"baseline": cap_value(i.baseline, chars=chars, items=keep)})
                        for i in capped.intents
                    ],
                }
            )
        return capped


@dataclass
class Budget:
    """Mutating actions against one resource over a rolling window; quarantine once exhausted."""

    action_times: list[float] = field(default_factory=list)
    quarantined_until: float | None = None
    quarantine_reason: str = ""
    version: int = 0

    def used(self, now: datetime, window_seconds: int) -> int:
        horizon = now.timestamp() - window_seconds
        return sum(1 for t in self.action_times if t > horizon)

    def is_quarantined(self, now: datetime) -> bool:
        return self.quarantined_until is not None and now.timestamp() < self.quarantined_until


@dataclass
class ResourceState:
    """Everything the store knows about one resource, from one Query."""

    resource_type: ResourceType
    resource_id: str
    incidents: dict[Condition, Incident] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)

    def active(self) -> list[Incident]:
        return [incident for incident in self.incidents.values() if incident.is_active]
