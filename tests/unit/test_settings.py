"""Settings: one validated model from the environment; a bad variable fails at start, naming the variable."""

from __future__ import annotations

import pytest

from watchdogs.settings import Mode, SettingsError, load_settings

BASE = {
    "ENVIRONMENT": "sandbox",
    "WATCHDOG_MODE": "observe",
    "INCIDENT_TABLE": "incidents",
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
    "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-, lakehouse-mvp-sandbox-",
    "SCOPE_WORKGROUPS": "lakehouse-sandbox-workgroup",
}


def test_valid_environment_is_parsed_with_defaults() -> None:
    # Given the variables template.yaml declares / When loaded
    settings = load_settings(BASE)
    # Then lists are split, defaults apply, and the mode is typed
    assert settings.mode is Mode.OBSERVE
    assert settings.crawler_prefixes == ["lakehouse-sandbox-", "lakehouse-mvp-sandbox-"]
    assert settings.state_machine_arn_prefixes == []
    assert settings.query_stuck_seconds == 1500
    assert settings.query_stuck_seconds < 30 * 60  # below Athena's default DML timeout, or it never fires
    assert settings.budget_max_actions == 3


@pytest.mark.parametrize("missing", ["ENVIRONMENT", "WATCHDOG_MODE", "INCIDENT_TABLE", "ALERT_TOPIC_ARN"])
def test_missing_required_variable_is_named(missing: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(SettingsError, match=missing):
        load_settings(env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WATCHDOG_MODE", "fix-everything"),
        ("ALERT_TOPIC_ARN", "not-an-arn"),
        ("CRAWLER_STUCK_SECONDS", "-5"),
        ("BUDGET_MAX_ACTIONS", "many"),
        ("WORKGROUP_QUERY_STUCK_SECONDS", "{not json"),
        ("ACCOUNT_ID", "12345"),
    ],
)
def test_invalid_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({**BASE, variable: value})


def test_empty_scope_is_rejected() -> None:
    env = {k: v for k, v in BASE.items() if not k.startswith("SCOPE_")}
    with pytest.raises(SettingsError, match="SCOPE_CRAWLER_PREFIXES"):
        load_settings(env)


def test_per_workgroup_threshold_overrides_default() -> None:
    settings = load_settings({**BASE, "WORKGROUP_QUERY_STUCK_SECONDS": '{"adhoc": 600}', "QUERY_STUCK_SECONDS": "900"})
    assert settings.query_threshold("adhoc") == 600
    assert settings.query_threshold("lakehouse-sandbox-workgroup") == 900


# ---------------------------------------------------------------------------------------------- mode per service
def test_each_service_follows_the_default_mode_unless_set() -> None:
    # Given crawlers set to remediate, queries left empty (the template's "" = inherit), executions unset
    settings = load_settings({**BASE, "WATCHDOG_MODE_CRAWLER": "remediate", "WATCHDOG_MODE_QUERY": ""})
    # Then crawlers act and the rest follow WATCHDOG_MODE
    assert settings.mode_for("crawler") is Mode.REMEDIATE
    assert settings.mode_for("query") is Mode.OBSERVE
    assert settings.mode_for("execution") is Mode.OBSERVE
    assert settings.modes() == "crawler=remediate,query=observe,execution=observe"
    assert load_settings(BASE).modes() == "observe"


def test_an_invalid_service_mode_is_named() -> None:
    with pytest.raises(SettingsError, match="WATCHDOG_MODE_EXECUTION"):
        load_settings({**BASE, "WATCHDOG_MODE_EXECUTION": "act"})


# ---------------------------------------------------------------------------------------------- blast radius
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SCOPE_CRAWLER_PREFIXES", "etl"),
        ("SCOPE_CRAWLER_PREFIXES", "lakehouse-sandbox-,prod-"),
        ("SCOPE_STATE_MACHINE_ARN_PREFIXES", "arn:aws:states:us-east-1:123456789012:stateMachine:etl-"),
    ],
)
def test_a_prefix_too_short_to_mean_anything_is_rejected(variable: str, value: str) -> None:
    # a short prefix widens every mutating grant to most of the account's resources of that kind
    with pytest.raises(SettingsError, match=variable):
        load_settings({**BASE, variable: value})


def test_a_state_machine_prefix_is_judged_by_its_name_part() -> None:
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:lakehouse-mvp-sandbox-"
    assert load_settings({**BASE, "SCOPE_STATE_MACHINE_ARN_PREFIXES": arn}).state_machine_arn_prefixes == [arn]
