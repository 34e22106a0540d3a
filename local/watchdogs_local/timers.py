"""EventBridge Scheduler for the embedded run: fire the stuck timers that are due (moto stores schedules, it never
fires them). What AWS does when a one-shot ``at()`` schedule comes due: invoke its target with its ``Input``, then
delete it (``ActionAfterCompletion: DELETE``). Moto's CloudFormation has no ``AWS::Scheduler::ScheduleGroup``: the
groups the deployed functions name are created here.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from watchdogs_local.emulator import Deployment
    from watchdogs_local.router import Delivery, Router


def timer_groups(deployment: Deployment) -> set[str]:
    return {
        str(f.environment["TIMER_SCHEDULE_GROUP"])
        for f in deployment.functions.values()
        if f.environment.get("TIMER_SCHEDULE_GROUP")
    }


def ensure_groups(deployment: Deployment, scheduler: Any) -> set[str]:
    """Create the schedule groups the functions name (what the template's ScheduleGroup would have made): every
    deployment into the emulator does (``Emulator.deploy_translated``), so sam local, make invoke and the demo find
    them."""
    existing = {g["Name"] for g in scheduler.list_schedule_groups().get("ScheduleGroups", [])}
    groups = timer_groups(deployment)
    for group in sorted(groups - existing):
        scheduler.create_schedule_group(Name=group)
    return groups


def due_at(expression: str) -> datetime | None:
    if not expression.startswith("at(") or not expression.endswith(")"):
        return None
    return datetime.strptime(expression[3:-1], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)


def due_schedules(scheduler: Any, group: str, now: datetime, *, early: bool = False) -> list[dict[str, Any]]:
    """The one-shot schedules of ``group`` due by ``now`` (``early``: every one), as ``GetSchedule`` returns them."""
    found = []
    for summary in scheduler.list_schedules(GroupName=group).get("Schedules", []):
        schedule: dict[str, Any] = scheduler.get_schedule(Name=summary["Name"], GroupName=group)
        due = due_at(schedule["ScheduleExpression"])
        if due is not None and (early or due <= now):
            found.append(schedule)
    return found


def fire_due(router: Router, scheduler: Any, groups: set[str], now: datetime | None = None) -> list[Delivery]:
    """Invoke the target of every one-shot schedule due by ``now`` with its input, then delete the schedule."""
    moment = now or datetime.now(UTC)
    delivered: list[Delivery] = []
    for group in sorted(groups):
        for schedule in due_schedules(scheduler, group, moment):
            target = schedule["Target"]
            function = router.deployment.function_by_arn(target["Arn"])
            if function is not None:
                event = json.loads(target.get("Input") or "{}")
                delivered.append(router.invoke(function, event, rule=f"timer:{schedule['Name']}"))
            if schedule.get("ActionAfterCompletion") == "DELETE":
                scheduler.delete_schedule(Name=schedule["Name"], GroupName=group)
    return delivered
