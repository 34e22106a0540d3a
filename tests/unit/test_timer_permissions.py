"""The stuck timers' permissions (issue 15): the event functions create and delete schedules in the stack's own
schedule group only and pass only the timer role, only to EventBridge Scheduler; that role may be assumed only by
Scheduler in this account and may only invoke the sweep function; the sweep makes no timers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_template import SANDBOX, _translated, granted, parameter_values, resolve, template
from watchdogs.timers import TIMER_PERMISSIONS
from watchdogs_local.template import granted_statements

EVENT_FUNCTIONS = ("GlueCrawlerWatchdogFunction", "AthenaQueryWatchdogFunction", "StepFunctionsWatchdogFunction")
GROUP_SCHEDULES = "arn:aws:scheduler:us-east-1:123456789012:schedule/lakehouse-watchdogs-test-timers/*"


@pytest.mark.parametrize("function_id", EVENT_FUNCTIONS)
def test_event_functions_touch_only_their_schedule_group_and_pass_only_the_timer_role(function_id: str) -> None:
    grants = granted(function_id)
    assert grants["scheduler:CreateSchedule"] == grants["scheduler:DeleteSchedule"] == {GROUP_SCHEDULES}
    [pass_role] = [s for s in granted_statements(_translated(), function_id) if s.get("Action") == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["StuckTimerRole", "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_the_sweep_answers_timers_but_makes_none() -> None:
    assert set(granted("SweepFunction")) & set(TIMER_PERMISSIONS) == set()


def test_the_timer_role_is_for_scheduler_in_this_account_and_invokes_only_the_sweep() -> None:
    role: dict[str, Any] = template()["Resources"]["StuckTimerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("lambda:InvokeFunction", {"Fn::GetAtt": ["SweepFunction", "Arn"]})
    ]


def test_the_group_the_functions_name_is_the_group_the_template_makes() -> None:
    resources = template()["Resources"]
    values = parameter_values(**SANDBOX)
    group = resolve(resources["StuckTimerGroup"]["Properties"]["Name"], values)
    for function_id in EVENT_FUNCTIONS:
        variables = resources[function_id]["Properties"]["Environment"]["Variables"]
        assert resolve(variables["TIMER_SCHEDULE_GROUP"], values) == group
        assert variables["TIMER_TARGET_ARN"] == {"Fn::GetAtt": ["SweepFunction", "Arn"]}
        assert variables["TIMER_ROLE_ARN"] == {"Fn::GetAtt": ["StuckTimerRole", "Arn"]}
    assert GROUP_SCHEDULES.split("/")[1] == group
