"""Short names to resource ids, the way an alert names them: an execution *name* to its ARN, a query id (or the
first characters of one), a crawler name. The incident table is asked first (what people ask about has an incident),
then AWS (a resource that exists but has no incident yet). Nothing found: :class:`~watchdogs.ops.target.NotFound`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import ResourceType
from watchdogs.ops.target import NotFound

if TYPE_CHECKING:
    from watchdogs.incidents import IncidentStore
    from watchdogs.ops.target import Target

#: state machines searched for an execution name (a guard on accounts with very many)
MAX_STATE_MACHINES = 200
#: a query id prefix must be at least this long (shorter ones match too much to be meant)
MIN_PREFIX = 6


class Ambiguous(ValueError):  # noqa: N818 - a refusal, reported as a usage problem
    """A short name matches more than one resource (a usage problem: exit code 2)."""


def _known(store: IncidentStore, resource_type: ResourceType, resource_id: str) -> bool:
    state = store.load(resource_type, resource_id)
    if state.incidents or state.budget.version or state.budget.action_times:
        return True
    return bool(store.history(resource_type, resource_id))


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _exists(call: Any, missing: set[str], **kwargs: Any) -> bool:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        call(**kwargs)
    except ClientError as exc:
        if _code(exc) in missing:
            return False
        raise
    return True


def resolve(target: Target, store: IncidentStore, resource_type: ResourceType, name: str) -> str:
    """The resource id (crawler name, query execution id, execution ARN) ``name`` stands for."""
    if resource_type is ResourceType.EXECUTION and not name.startswith("arn:"):
        return _execution_arn(target, store, name)
    if resource_type is ResourceType.QUERY:
        name = _query_id(store, name)
    if _known(store, resource_type, name):
        return name
    if resource_type is ResourceType.CRAWLER:
        glue = target.client("glue")
        found = _exists(glue.get_crawler, {"EntityNotFoundException"}, Name=name)
    elif resource_type is ResourceType.QUERY:
        athena = target.client("athena")
        found = _exists(athena.get_query_execution, {"InvalidRequestException"}, QueryExecutionId=name)
    else:
        sfn = target.client("stepfunctions")
        found = _exists(sfn.describe_execution, {"ExecutionDoesNotExist", "InvalidArn"}, executionArn=name)
    if not found:
        raise NotFound(f"{resource_type.value} {name} not found (no incident, and {target.where()} does not know it)")
    return name


def _query_id(store: IncidentStore, name: str) -> str:
    if len(name) >= 36 or len(name) < MIN_PREFIX:
        return name
    matches = {i.resource_id for i in store.list_open(500) if i.resource_type is ResourceType.QUERY}
    matches = {m for m in matches if m.startswith(name)}
    if len(matches) > 1:
        raise Ambiguous(f"query {name} matches {len(matches)} open incidents: {', '.join(sorted(matches)[:5])}")
    return matches.pop() if matches else name


def _execution_arn(target: Target, store: IncidentStore, name: str) -> str:
    """Open incidents first, then each state machine in scope: ``DescribeExecution`` of ``<machine>:<name>``."""
    suffix = f":{name}"
    open_matches = {
        i.resource_id
        for i in store.list_open(500)
        if i.resource_type is ResourceType.EXECUTION and i.resource_id.endswith(suffix)
    }
    if len(open_matches) > 1:
        raise Ambiguous(f"execution {name} has open incidents on several state machines: {sorted(open_matches)}")
    if open_matches:
        return open_matches.pop()
    sfn = target.client("stepfunctions")
    found = []
    for machine in _watched_state_machines(target):
        arn = machine.replace(":stateMachine:", ":execution:", 1) + suffix
        if _exists(sfn.describe_execution, {"ExecutionDoesNotExist"}, executionArn=arn):
            found.append(arn)
    if len(found) > 1:
        raise Ambiguous(f"execution {name} exists on several state machines: {found}; give the full ARN")
    if not found:
        raise NotFound(f"execution {name} not found on the watched state machines in {target.where()}")
    return found[0]


def _watched_state_machines(target: Target) -> list[str]:
    """The state machines the stack watches (its scope prefixes); every state machine when the scope is unknown."""
    raw = target.environment().get("SCOPE_STATE_MACHINE_ARN_PREFIXES", "")
    prefixes = [p.strip() for p in raw.split(",") if p.strip()]
    machines: list[str] = []
    for page in target.client("stepfunctions").get_paginator("list_state_machines").paginate():
        machines += [m["stateMachineArn"] for m in page["stateMachines"]]
        if len(machines) >= MAX_STATE_MACHINES:
            break
    return [m for m in machines if not prefixes or any(m.startswith(p) for p in prefixes)][:MAX_STATE_MACHINES]
