"""The trimmed service models (src/watchdogs/botodata) are what the generator writes from the installed botocore,
cover every operation the watchdogs are granted, and are what the clients are built from."""

from __future__ import annotations

from importlib import import_module

import pytest

from watchdogs.actions import ACTIONS
from watchdogs.clients import BOTODATA, OPERATIONS, AwsClients
from watchdogs.remediators import RUNBOOKS
from watchdogs_local.botodata import render

#: IAM service prefix -> botocore service name (the services with trimmed models)
SERVICES = {"glue": "glue", "athena": "athena", "states": "stepfunctions", "sns": "sns", "logs": "logs"}


def declared_operations() -> dict[str, set[str]]:
    """Every API operation the runbooks, their discovery, their evidence and the actions declare (IAM actions)."""
    classes = [getattr(import_module(module), name) for module, name in RUNBOOKS.values()]
    permissions = {p for c in classes for p in (*c.read_permissions, *c.discovery_permissions, *c.evidence_permissions)}
    permissions |= {p for a in ACTIONS.values() for p in a.iam_actions} | {"sns:Publish"}
    by_service: dict[str, set[str]] = {}
    for permission in permissions:
        prefix, operation = permission.split(":", 1)
        if prefix in SERVICES:
            by_service.setdefault(SERVICES[prefix], set()).add(operation)
    return by_service


def test_the_files_are_what_the_generator_writes() -> None:
    # Given what `python -m watchdogs_local.botodata` would write from this botocore
    expected = render()
    # Then the shipped files are exactly that (regenerate after changing OPERATIONS or upgrading botocore)
    shipped = set(BOTODATA.rglob("*.json"))
    assert shipped == set(expected)
    for path, text in expected.items():
        assert path.read_text() == text + "\n", path


def test_every_declared_operation_is_in_a_trimmed_model() -> None:
    for service, operations in declared_operations().items():
        assert operations <= set(OPERATIONS[service]), (service, operations - set(OPERATIONS[service]))


def test_clients_are_built_from_the_trimmed_models(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    clients = AwsClients()
    assert sorted(clients.glue.meta.service_model.operation_names) == sorted(OPERATIONS["glue"])
    assert sorted(clients.sfn.meta.service_model.operation_names) == sorted(OPERATIONS["stepfunctions"])
    assert sorted(clients.logs.meta.service_model.operation_names) == sorted(OPERATIONS["logs"])
