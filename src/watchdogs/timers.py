"""One-shot stuck timers: an EventBridge Scheduler schedule at start + threshold per running resource (issue 15).

A start event (crawler ``Started``, query ``QUEUED``/``RUNNING``, run ``RUNNING``) creates a schedule named after
the resource (duplicate starts: ``ConflictException``, the timer is already there) at start + the resource's
threshold (tag overrides and their floor: :func:`watchdogs.shared.threshold_from_tags`), ``ActionAfterCompletion:
DELETE``, targeting the sweep function with ``{"source": "watchdogs.timer", ...}``. A terminal event deletes it
(``ResourceNotFoundException``: fired or never made, fine). When it fires, :mod:`watchdogs.timer_check` re-reads
the one resource. A timer that cannot be made is logged and counted (``TimerCreateFailed``), never an error of the
event: the sweep stays the safety net. Off unless ``TIMER_SCHEDULE_GROUP``, ``TIMER_TARGET_ARN`` and
``TIMER_ROLE_ARN`` are all set.
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
    from watchdogs.settings import Settings

#: the payload's ``source``: what the sweep function recognises as a timer firing
TIMER_SOURCE = "watchdogs.timer"
#: fire this long after the threshold (rounded up to the second ``at()`` takes), so the re-read finds it over
SLACK_SECONDS = 1
#: IAM actions every event function needs for the timers (scoped in template.yaml to the schedule group and the
#: scheduler's role); the threshold's tag reads are the runbooks' own read permissions (glue:GetTags,
#: states:ListTagsForResource)
TIMER_PERMISSIONS: tuple[str, ...] = ("scheduler:CreateSchedule", "scheduler:DeleteSchedule", "iam:PassRole")
_ERRORS = (ClientError, BotoCoreError)


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


def enabled(settings: Settings) -> bool:
    return bool(settings.timer_group and settings.timer_target_arn and settings.timer_role_arn)


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
    due = event.started_at + timedelta(seconds=threshold + SLACK_SECONDS)
    if due.microsecond:
        due = due.replace(microsecond=0) + timedelta(seconds=1)
    payload = {"source": TIMER_SOURCE, "resource_type": event.resource_type.value, "resource_id": event.resource_id}
    return {
        "Name": timer_name(event.resource_type, event.resource_id),
        "GroupName": settings.timer_group,
        "ScheduleExpression": f"at({due.strftime('%Y-%m-%dT%H:%M:%S')})",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "ActionAfterCompletion": "DELETE",
        "Target": {"Arn": settings.timer_target_arn, "RoleArn": settings.timer_role_arn, "Input": json.dumps(payload)},
    }


def apply(settings: Settings, clients: AwsClients, event: TimerEvent) -> str:
    """Create or delete the resource's timer. Never raises: the outcome (``created``, ``exists``, ``deleted``,
    ``absent``, ``failed``, ``off``) is logged; ``failed`` is counted (``TimerCreateFailed``/``TimerDeleteFailed``)."""
    if not enabled(settings):
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
