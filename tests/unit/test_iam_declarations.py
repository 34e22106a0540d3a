"""Meta-test (after cloud-custodian's test_resource_permissions): template.yaml grants each function exactly the IAM
actions its remediations declare (reads + the actions they may plan), scoped to resources; nothing mutating on "*".

If a runbook gains an action, its remediator must declare it (the engine refuses undeclared actions at run time)
and the template must grant it: this test fails until both agree.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any

import pytest

from watchdogs.actions import ACTIONS
from watchdogs.remediators import FUNCTION_RUNBOOKS, RUNBOOKS
from watchdogs.sweep import SWEEP_PERMISSIONS
from watchdogs.timers import STEP_TIMER_PERMISSIONS, TIMER_PERMISSIONS
from watchdogs_local.template import granted_statements, load_template, translate_template

ROOT = Path(__file__).resolve().parents[2]
#: what every function needs to run at all: its incident store, idempotency, alerts, the stack's key, the DLQ
BASE_SIDS = {"IncidentStore", "IncidentIndexes", "PublishAlerts", "UseStackKey", None}
TEMPLATE = load_template(ROOT / "template.yaml")


def _remediators() -> dict[str, list[Any]]:
    """Function logical id -> its remediator classes, read from the code's map (by the function's Handler)."""
    functions = {
        name: resource["Properties"]["Handler"]
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    classes = {t: getattr(import_module(module), name) for t, (module, name) in RUNBOOKS.items()}
    return {name: [classes[t] for t in FUNCTION_RUNBOOKS[handler]] for name, handler in functions.items()}


REMEDIATORS = _remediators()
READ_PREFIXES = ("Get", "List", "Describe", "BatchGet", "Query")


@pytest.fixture(scope="module")
def cfn() -> dict[str, Any]:
    # a metadata table configured, so the conditional reconcile policy is part of what is checked
    return translate_template(ROOT / "template.yaml", {"MetadataTableName": "lakehouse-sandbox-pipeline-metadata"})


def _actions(statement: dict[str, Any]) -> set[str]:
    action = statement.get("Action", [])
    return {action} if isinstance(action, str) else set(action)


def declared(function_id: str) -> set[str]:
    sweep = function_id == "SweepFunction"
    # the sweep runs its own queries; every event function starts and stops stuck timers (watchdogs.timers)
    # and the sweep arms step timers for the remediations it advances (watchdogs.timers.arm_step)
    needed: set[str] = set(SWEEP_PERMISSIONS) | set(STEP_TIMER_PERMISSIONS) if sweep else set(TIMER_PERMISSIONS)
    for remediator in REMEDIATORS[function_id]:
        needed |= set(remediator.read_permissions)
        needed |= set(remediator.evidence_permissions)  # evidence for people, after the decision is recorded
        if sweep:  # the sweep runs each runbook's discovery besides its remediation
            needed |= set(remediator.discovery_permissions)
        for name in remediator.action_names:
            needed |= set(ACTIONS[name].iam_actions)
    return needed


@pytest.mark.parametrize("function_id", sorted(REMEDIATORS))
def test_function_is_granted_exactly_what_its_remediations_declare(cfn: dict[str, Any], function_id: str) -> None:
    # Given the function's statements beyond the base every function has
    statements = [s for s in granted_statements(cfn, function_id) if s.get("Sid") not in BASE_SIDS]
    granted = set().union(*(_actions(s) for s in statements))
    # Then they are exactly the declared reads and actions (no less: it would fail in AWS; no more: least privilege)
    expected = declared(function_id)
    assert granted - expected == set(), f"{function_id} is granted more than it declares"
    assert expected - granted == set(), f"{function_id} declares what the template does not grant"


@pytest.mark.parametrize("function_id", sorted(REMEDIATORS))
def test_nothing_mutating_is_granted_on_star(cfn: dict[str, Any], function_id: str) -> None:
    for statement in granted_statements(cfn, function_id):
        if statement.get("Resource") in ("*", ["*"]):
            mutating = {a for a in _actions(statement) if not a.split(":", 1)[1].startswith(READ_PREFIXES)}
            assert mutating == set(), f"{function_id}: {sorted(mutating)} on '*'"


def test_every_action_is_declared_by_some_remediator() -> None:
    # an action nobody declares is dead code or a forgotten declaration
    used = {name for group in REMEDIATORS.values() for r in group for name in r.action_names}
    assert used == set(ACTIONS)
