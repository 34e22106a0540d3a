"""The domain's vocabulary: what is wrong (:class:`Finding`) and what to do about it (:class:`Decision`).

Runbooks are pure functions from a finding, the facts read about the resource and the open incident (if any)
to a decision. The engine (the only place that acts) turns decisions into AWS calls, incident updates and
notifications.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ResourceType(StrEnum):
    CRAWLER = "crawler"
    QUERY = "query"
    EXECUTION = "execution"


class Condition(StrEnum):
    STUCK = "STUCK"  # running past its threshold
    FAILED = "FAILED"  # ended in failure (FAILED / TIMED_OUT / ABORTED for executions)
    NO_NEW_DATA = "NO_NEW_DATA"  # crawler succeeded but changed nothing while new data was expected
    RECOVERED = "RECOVERED"  # a success: resolves what is open for the resource
    STARTED = "STARTED"  # informational: a run began (recognised as an echo of our own restart or ignored)
    CANCELLED = "CANCELLED"  # a query was cancelled (ours: an echo)


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    HIGH = "high"
    CRITICAL = "critical"


class IncidentStatus(StrEnum):
    OPEN = "open"
    REMEDIATING = "remediating"
    REMEDIATED = "remediated"
    ESCALATED = "escalated"
    RESOLVED = "resolved"  # the resource recovered (closed)
    OBSERVED = "observed"
    CLOSED = "closed"  # ended without recovery: expired, superseded, or ended by someone else (closed)


#: statuses under which an incident still occupies its (resource, condition) slot
ACTIVE_STATUSES = frozenset(
    {
        IncidentStatus.OPEN,
        IncidentStatus.REMEDIATING,
        IncidentStatus.REMEDIATED,
        IncidentStatus.ESCALATED,
        IncidentStatus.OBSERVED,
    }
)


class Outcome(StrEnum):
    """What a decision amounts to; also the notification's ``outcome`` attribute."""

    ACT = "act"  # remediation actions are taken now
    WAIT = "wait"  # a multi-step remediation is in progress; the next step is persisted
    ESCALATE = "escalate"  # a human must act; no automatic action
    NOTIFY = "notify"  # record and tell people; nothing to do automatically
    RESOLVE = "resolve"  # the resource recovered: closes the incident as resolved
    CLOSE = "close"  # the condition is over without recovery (expired, superseded): closes it as closed
    IGNORE = "ignore"  # nothing to record (echo of our own action, benign event)


class Finding(BaseModel):
    """Something observed about one resource: by an event (fast path) or by the sweep (source of truth)."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    resource_type: ResourceType
    resource_id: str = Field(min_length=1)  # crawler name, query execution id, execution ARN
    condition: Condition
    source: str = "event"  # "event" | "sweep" | "delegated"
    event_id: str | None = None
    #: the delivery's de-duplication key (event handlers): recorded on the incident its claim writes
    event_key: str | None = None
    observed_at: datetime
    scope_key: str = ""  # crawler name / workgroup / state machine ARN: what the scope rules match
    facts: dict[str, Any] = Field(default_factory=dict)

    @property
    def resource_key(self) -> str:
        return f"{self.resource_type.value}#{self.resource_id}"


class PlannedAction(BaseModel):
    """One AWS action a runbook wants taken. ``name`` is a key of :data:`watchdogs.actions.ACTIONS`."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    name: str
    params: dict[str, Any] = Field(default_factory=dict)
    target: str = ""  # human-readable target (crawler name, query id, execution name)


class Decision(BaseModel):
    """What the runbook decided for a finding, now."""

    model_config = ConfigDict(defer_build=True)

    outcome: Outcome
    summary: str
    classification: str = "unclassified"
    severity: Severity = Severity.WARNING
    runbook_section: str = ""
    advice: list[str] = Field(default_factory=list)
    actions: list[PlannedAction] = Field(default_factory=list)
    # multi-step remediation: the step to resume on the next event or sweep (None: nothing pending)
    next_step: str | None = None
    # whether the actions count against the per-resource budget (retries and restarts do; cancels of a
    # runaway query arguably not, but we count every mutating action to bound the blast radius)
    consumes_budget: bool = True
    # resolution status once the actions succeed
    status_after: IncidentStatus = IncidentStatus.REMEDIATING
    # extra, runbook-specific facts worth keeping on the incident
    facts: dict[str, Any] = Field(default_factory=dict)
    # findings on other resources that should be handled as part of this one (heal-at-the-cause)
    delegate: list[Finding] = Field(default_factory=list)
    # RESOLVE only: the conditions whose active incidents it closes (empty: every active incident of the resource)
    resolves: list[Condition] = Field(default_factory=list)
