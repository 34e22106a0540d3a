"""The stuck timers' permissions (issue 15): the event functions create and delete schedules in the stack's own
schedule group only and pass only the timer role, only to EventBridge Scheduler; that role may be assumed only by
Scheduler in this account and may only invoke the sweep function (and dead-letter to the stack's queue); the sweep
function makes step timers under the same grant."""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.test_template import SANDBOX, _translated, granted, parameter_values, resolve, template
from watchdogs.settings import SettingsError, load_settings
from watchdogs.timers import STEP_TIMER_PERMISSIONS, TIMER_PERMISSIONS
from watchdogs_local.template import granted_statements

EVENT_FUNCTIONS = ("GlueCrawlerWatchdogFunction", "AthenaQueryWatchdogFunction", "StepFunctionsWatchdogFunction")
TIMER_FUNCTIONS = (*EVENT_FUNCTIONS, "SweepFunction")
SETTINGS_BASE = {
    "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
    "AWS_REGION": "us-east-1",
    "ENVIRONMENT": "test",
    "WATCHDOG_MODE": "remediate",
    "INCIDENT_TABLE": "incidents",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
}
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lakehouse-watchdogs-test-{}"
#: each resource type's timer invokes its own event function (never the sweep: it has reserved concurrency 1)
TARGETS = {
    "crawler": ("GlueCrawlerWatchdogFunction", FUNCTION_ARN.format("glue")),
    "query": ("AthenaQueryWatchdogFunction", FUNCTION_ARN.format("athena")),
    "execution": ("StepFunctionsWatchdogFunction", FUNCTION_ARN.format("states")),
}
GROUP_SCHEDULES = "arn:aws:scheduler:us-east-1:123456789012:schedule/lakehouse-watchdogs-test-timers/*"


@pytest.mark.parametrize("function_id", TIMER_FUNCTIONS)
def test_timer_functions_touch_only_their_schedule_group_and_pass_only_the_timer_role(function_id: str) -> None:
    grants = granted(function_id)
    assert grants["scheduler:CreateSchedule"] == {GROUP_SCHEDULES}
    if function_id != "SweepFunction":  # the sweep arms step timers only: it never deletes one
        assert grants["scheduler:DeleteSchedule"] == {GROUP_SCHEDULES}
    [pass_role] = [s for s in granted_statements(_translated(), function_id) if s.get("Action") == "iam:PassRole"]
    assert pass_role["Resource"] == {"Fn::GetAtt": ["StuckTimerRole", "Arn"]}
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}


def test_only_the_four_watchdog_functions_may_make_timers() -> None:
    functions = [k for k, v in template()["Resources"].items() if v["Type"] == "AWS::Serverless::Function"]
    wanted = {f: set(TIMER_PERMISSIONS) for f in EVENT_FUNCTIONS} | {"SweepFunction": set(STEP_TIMER_PERMISSIONS)}
    for function_id in functions:
        assert set(granted(function_id)) & set(TIMER_PERMISSIONS) == wanted.get(function_id, set()), function_id


def test_the_timer_role_is_for_scheduler_in_this_account_and_invokes_only_the_event_functions() -> None:
    role: dict[str, Any] = template()["Resources"]["StuckTimerRole"]["Properties"]
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    values = parameter_values(**SANDBOX)
    granted_to_role = [(s["Action"], resolve(s["Resource"], values)) for s in statements]
    assert granted_to_role == [
        ("lambda:InvokeFunction", [arn for _, arn in TARGETS.values()]),
        ("sqs:SendMessage", resolve({"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}, values)),
        (["kms:GenerateDataKey", "kms:Decrypt"], resolve({"Fn::GetAtt": ["WatchdogKey", "Arn"]}, values)),
    ]


def test_the_group_and_targets_the_functions_name_are_what_the_template_makes() -> None:
    resources = template()["Resources"]
    values = parameter_values(**SANDBOX)
    group = resolve(resources["StuckTimerGroup"]["Properties"]["Name"], values)
    variables = template()["Globals"]["Function"]["Environment"]["Variables"]  # all four functions make timers
    assert resolve(variables["TIMER_SCHEDULE_GROUP"], values) == group == GROUP_SCHEDULES.split("/")[1]
    assert variables["TIMER_ROLE_ARN"] == {"Fn::GetAtt": ["StuckTimerRole", "Arn"]}
    assert variables["TIMER_DEAD_LETTER_ARN"] == {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
    targets = load_settings({**SETTINGS_BASE, "TIMER_TARGETS": resolve(variables["TIMER_TARGETS"], values)})
    assert targets.timer_targets == {kind: arn for kind, (_, arn) in TARGETS.items()}
    for function_id, arn in TARGETS.values():
        assert resolve(resources[function_id]["Properties"]["FunctionName"], values) == arn.split(":")[-1]


def test_an_alarm_fires_when_timers_cannot_be_made_on_the_metric_the_code_emits() -> None:
    from watchdogs.models.domain import ResourceType
    from watchdogs_local.metrics_catalogue import emitted_catalogue

    alarm = template()["Resources"]["TimerCreateFailedAlarm"]["Properties"]
    stats = [m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m]
    # one per resource type, each with exactly the dimension set TimerCreateFailed is emitted with
    emitted = {e.dimensions for e in emitted_catalogue() if e.matches("TimerCreateFailed")}
    assert emitted == {frozenset({"resource_type", "service"})}
    assert {frozenset(d["Name"] for d in m["Dimensions"]) for m in stats} == emitted
    assert {next(d["Value"] for d in m["Dimensions"] if d["Name"] == "resource_type") for m in stats} == {
        t.value for t in ResourceType
    }
    [total] = [m for m in alarm["Metrics"] if "Expression" in m]
    assert set(total["Expression"].replace("+", " ").split()) == {
        m["Id"] for m in alarm["Metrics"] if "MetricStat" in m
    }


@pytest.mark.parametrize("targets", ['{"bucket": "arn:aws:lambda:us-east-1:1:function:x"}', "[1, 2]", "not json"])
def test_timer_targets_that_are_not_a_map_of_resource_types_fail_the_cold_start(targets: str) -> None:
    with pytest.raises(SettingsError, match="TIMER_TARGETS"):
        load_settings({**SETTINGS_BASE, "TIMER_TARGETS": targets})
