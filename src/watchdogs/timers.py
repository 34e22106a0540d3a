"""One-shot timers on EventBridge Scheduler (issue 15): stuck timers at start + threshold, and step timers.

A start event (crawler ``Started``, query ``QUEUED``/``RUNNING``, run ``RUNNING``) creates a schedule named after
the resource (duplicate starts: ``ConflictException``, the timer is already there) at start + the resource's
threshold (tag overrides and their floor: :func:`watchdogs.shared.threshold_from_tags`), ``ActionAfterCompletion:
DELETE``, targeting the resource's own event function (``TIMER_TARGETS``) with ``{"source": "watchdogs.timer",
...}``. A terminal event deletes it (``ResourceNotFoundException``: fired or never made, fine). When it fires,
:mod:`watchdogs.timer_check` re-reads the one resource. A step timer (:func:`arm_step`) looks again at a pending
step no event announces. A timer that cannot be made is logged and counted (``TimerCreateFailed``), never an error
of the event: the sweep stays the safety net. Off unless ``TIMER_SCHEDULE_GROUP``, ``TIMER_TARGETS`` (for the
resource's type) and ``TIMER_ROLE_ARN`` are all set.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from watchdogs.models.domain import ResourceType
from watchdogs.observability import count, logger
from watchdogs.shared import crawler_arn, tags_from_pairs, threshold_from_tags

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Incident
    from watchdogs.settings import Settings

#: the payload's ``source``: what the sweep function recognises as a timer firing
TIMER_SOURCE = "watchdogs.timer"
#: fire this long after the threshold (rounded up to the second ``at()`` takes), so the re-read finds it over
SLACK_SECONDS = 1
#: IAM actions every event function needs for the timers (scoped in template.yaml to the schedule group and the
#: scheduler's role); the threshold's tag reads are the runbooks' own read permissions (glue:GetTags,
#: states:ListTagsForResource)
TIMER_PERMISSIONS: tuple[str, ...] = ("scheduler:CreateSchedule", "scheduler:DeleteSchedule", "iam:PassRole")
#: what the sweep function needs: it arms step timers (:func:`arm_step`) but starts and ends no stuck timer
STEP_TIMER_PERMISSIONS: tuple[str, ...] = ("scheduler:CreateSchedule", "iam:PassRole")
_ERRORS = (ClientError, BotoCoreError)
#: Scheduler's delivery to the target (Lambda's asynchronous Invoke): retried this often within this age
TARGET_RETRIES = 5
TARGET_MAX_AGE_SECONDS = 900


#: a step timer (:func:`arm_step`) looks again at most this many times, after base, 2x, 4x, 8x base seconds
#: (base: ``STEP_FOLLOW_UP_SECONDS``, 30 s: 30 s, 1.5, 3.5, 7.5 min); then the sweep resumes the step
STEP_FOLLOW_UPS = 4


@dataclass(frozen=True)
class TimerEvent:
    """What an event means for a resource's timer: ``start`` (with when it began) or ``stop``."""

    resource_type: ResourceType
    resource_id: str
    scope_key: str
    started_at: datetime | None  # None: a terminal event, the timer goes


def timer_name(resource_type: ResourceType, resource_id: str) -> str:
    """Deterministic (``[0-9a-zA-Z-_.]``, <= 64): the same resource always names the same schedule."""
    digest = hashlib.sha256(resource_id.encode()).hexdigest()[:40]
    return f"wd-{resource_type.value}-{digest}"


def enabled(settings: Settings, resource_type: ResourceType) -> bool:
    return bool(settings.timer_group and settings.timer_targets.get(resource_type.value) and settings.timer_role_arn)


def threshold_seconds(settings: Settings, clients: AwsClients, event: TimerEvent) -> int:
    """The same threshold the sweep applies (tags read the same way); the default when tags cannot be read."""
    if event.resource_type is ResourceType.QUERY:
        return settings.query_threshold(event.scope_key)
    if event.resource_type is ResourceType.CRAWLER:
        default = settings.crawler_stuck_seconds
        if not settings.account_id:
            return default
        arn = crawler_arn(settings.region, settings.account_id, event.resource_id)
        tags = clients.glue.get_tags(ResourceArn=arn).get("Tags", {})
    else:
        default = settings.execution_stuck_seconds
        tags = tags_from_pairs(clients.sfn.list_tags_for_resource(resourceArn=event.scope_key).get("tags", []))
    return threshold_from_tags(tags, settings.threshold_tag, default).seconds


def schedule_request(settings: Settings, event: TimerEvent, threshold: int) -> dict[str, Any]:
    """The ``CreateSchedule`` request: at start + threshold (+ slack), in UTC, deleted after it fires."""
    assert event.started_at is not None
    payload = {"source": TIMER_SOURCE, "resource_type": event.resource_type.value, "resource_id": event.resource_id}
    due = event.started_at + timedelta(seconds=threshold + SLACK_SECONDS)
    return _one_shot(settings, timer_name(event.resource_type, event.resource_id), due, payload)


def _one_shot(settings: Settings, name: str, due: datetime, payload: dict[str, Any]) -> dict[str, Any]:
    """A ``CreateSchedule`` request that invokes the target once at ``due`` (rounded up to the second ``at()``
    takes), in UTC, with no flexible window, and deletes itself after."""
    if due.microsecond:
        due = due.replace(microsecond=0) + timedelta(seconds=1)
    return {
        "Name": name,
        "GroupName": settings.timer_group,
        "ScheduleExpression": f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Target": _target(settings, payload),
    }


def _target(settings: Settings, payload: dict[str, Any]) -> dict[str, Any]:
    """The watchdog function, with the resource; delivery retried for :data:`TARGET_MAX_AGE_SECONDS` (a late timer
    is harmless, a lost one is the sweep's), then dead-lettered to the stack's queue when one is configured."""
    target: dict[str, Any] = {
        "Arn": settings.timer_targets[payload["resource_type"]],
        "RoleArn": settings.timer_role_arn,
        "Input": json.dumps(payload),
        "RetryPolicy": {"MaximumRetryAttempts": TARGET_RETRIES, "MaximumEventAgeInSeconds": TARGET_MAX_AGE_SECONDS},
    }
    if settings.timer_dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": settings.timer_dead_letter_arn}
    return target


def apply(settings: Settings, clients: AwsClients, event: TimerEvent) -> str:
    """Create or delete the resource's timer. Never raises: the outcome (``created``, ``exists``, ``deleted``,
    ``absent``, ``failed``, ``off``) is logged; ``failed`` is counted (``TimerCreateFailed``/``TimerDeleteFailed``)."""
    if not enabled(settings, event.resource_type):
        return "off"
    name = timer_name(event.resource_type, event.resource_id)
    verb = "create" if event.started_at is not None else "delete"
    try:
        outcome = _create(settings, clients, event) if verb == "create" else _delete(settings, clients, name)
    except _ERRORS as exc:
        logger.warning("stuck timer not changed", verb=verb, timer=name, resource=event.resource_id, error=str(exc))
        count(f"Timer{verb.capitalize()}Failed", resource_type=event.resource_type.value)
        return "failed"
    logger.info("stuck timer", outcome=outcome, timer=name, resource=event.resource_id)
    return outcome


def _create(settings: Settings, clients: AwsClients, event: TimerEvent) -> str:
    request = schedule_request(settings, event, threshold_seconds(settings, clients, event))
    try:
        clients.scheduler.create_schedule(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConflictException":
            return "exists"  # a duplicate start: one timer
        raise
    return "created"


def _delete(settings: Settings, clients: AwsClients, name: str) -> str:
    try:
        clients.scheduler.delete_schedule(Name=name, GroupName=settings.timer_group)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return "absent"  # fired (and deleted itself) or never made
        raise
    return "deleted"


# ------------------------------------------------------------------------------------------------ step timers
def step_timer_name(incident: Incident, attempt: int) -> str:
    """One name per (incident, entry into its pending step, attempt): a re-armed or duplicate arm conflicts."""
    digest = hashlib.sha256(f"{incident.incident_id}|{incident.pending_since}".encode()).hexdigest()[:40]
    return f"wd-step-{digest}-{attempt}"


def step_delay_seconds(settings: Settings, attempt: int) -> int:
    return int(settings.step_follow_up_seconds * 2 ** (attempt - 1))


def step_request(settings: Settings, incident: Incident, attempt: int, now: datetime) -> dict[str, Any]:
    """The ``CreateSchedule`` request of a step timer: look at the incident's pending step again after
    :func:`step_delay_seconds` (same group, target and role as the stuck timers)."""
    payload = {
        "source": TIMER_SOURCE,
        "resource_type": incident.resource_type.value,
        "resource_id": incident.resource_id,
        "step": incident.pending_step,
        "attempt": attempt,
    }
    due = now + timedelta(seconds=step_delay_seconds(settings, attempt))
    return _one_shot(settings, step_timer_name(incident, attempt), due, payload)


def arm_step(settings: Settings, clients: AwsClients, incident: Incident, attempt: int, now: datetime) -> str:
    """Arm the step timer of an incident that entered (attempt 1) or is still at (attempt n) a pending step no
    event announces. Never raises: ``created``, ``exists`` (this attempt is already armed), ``spent`` (past
    :data:`STEP_FOLLOW_UPS`: the sweep resumes it), ``off``, or ``failed`` (logged, ``TimerCreateFailed``)."""
    if not enabled(settings, incident.resource_type) or not incident.pending_step:
        return "off"
    if attempt > STEP_FOLLOW_UPS:
        return "spent"
    request = step_request(settings, incident, attempt, now)
    try:
        clients.scheduler.create_schedule(**request)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConflictException":
            return "exists"
        return _step_failed(incident, request["Name"], exc)
    except BotoCoreError as exc:
        return _step_failed(incident, request["Name"], exc)
    logger.info("step timer", outcome="created", timer=request["Name"], step=incident.pending_step, attempt=attempt)
    return "created"


def _step_failed(incident: Incident, name: str, exc: Exception) -> str:
    logger.warning("step timer not armed", timer=name, incident=incident.incident_id, error=str(exc))
    count("TimerCreateFailed", resource_type=incident.resource_type.value)
    return "failed"
