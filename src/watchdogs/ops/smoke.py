"""``watchdogs-ops smoke``: after a deploy, is it wired, and what may it touch?

1. publishes a test alert to the stack's topic (subject ``TEST``, attribute ``test=true``, severity ``info``: a
   subscription filtered on ``severity=high`` does not get it, which is the point of such a filter);
2. invokes each function with a harmless synthetic event: the event functions get a state change of a resource
   named outside every scope (the engine answers ``out-of-scope`` before any read of it or write), the sweep gets
   an event that is not a schedule tick (rejected at the edge). Per function: did it run, and answer as expected;
3. prints the blast radius: for each scope parameter of the stack, the mutating IAM actions it grants (from the
   action registry) and what it matches in the account right now.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from watchdogs.actions import ACTIONS
from watchdogs.incidents import iso, now_utc
from watchdogs.ops.incidents import Output
from watchdogs.ops.render import table
from watchdogs.ops.target import ConfigError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from watchdogs.incidents import IncidentStore
    from watchdogs.ops.target import Target

SMOKE_NAME = "watchdogs-ops-smoke-test"
#: scope parameter -> (what it names, the action registry's resource kinds it bounds, env fallback)
SCOPES = {
    "CrawlerPrefixes": ("crawlers named", ("crawler",), "SCOPE_CRAWLER_PREFIXES"),
    "StateMachineNamePrefixes": ("state machines named", ("execution", "state-machine"), ""),
    "Workgroups": ("Athena workgroups", ("workgroup",), "SCOPE_WORKGROUPS"),
    "MetadataTableName": ("the pipeline-metadata table", ("metadata-table",), "METADATA_TABLE"),
}


class FunctionError(RuntimeError):
    """The function raised (Lambda ``FunctionError``)."""


def lambda_invoker(target: Target) -> Callable[[str, dict[str, Any]], dict[str, Any]]:
    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        response = target.client("lambda").invoke(FunctionName=name, Payload=json.dumps(event).encode())
        payload = json.loads(response["Payload"].read() or b"{}")
        if response.get("FunctionError"):
            raise FunctionError(str(payload.get("errorMessage", payload))[:300])
        return payload if isinstance(payload, dict) else {"payload": payload}

    return invoke


def _glue_detail(moment: str, **_: str) -> dict[str, Any]:
    return {"crawlerName": SMOKE_NAME, "state": "Started", "message": "watchdogs-ops smoke", "startTime": moment}


def _athena_detail(**_: str) -> dict[str, Any]:
    return {
        "currentState": "SUCCEEDED",
        "previousState": "RUNNING",
        "queryExecutionId": str(uuid.uuid4()),
        "sequenceNumber": "1",
        "statementType": "DML",
        "versionId": "0",
        "workgroupName": SMOKE_NAME,
    }


def _states_detail(partition: str, region: str, account: str, **_: str) -> dict[str, Any]:
    machine = f"arn:{partition}:states:{region}:{account}:stateMachine:{SMOKE_NAME}"
    started = int(time.time() * 1000) - 60_000
    return {
        "executionArn": machine.replace(":stateMachine:", ":execution:") + ":smoke",
        "stateMachineArn": machine,
        "name": "smoke",
        "status": "SUCCEEDED",
        "startDate": started,
        "stopDate": started + 1000,
        "input": "{}",
        "output": "{}",
    }


#: handler module -> (source, detail-type, detail builder): a state change of a resource outside every scope
_EVENTS: dict[str, tuple[str, str, Callable[..., dict[str, Any]]]] = {
    "glue": ("aws.glue", "Glue Crawler State Change", _glue_detail),
    "athena": ("aws.athena", "Athena Query State Change", _athena_detail),
    "states": ("aws.states", "Step Functions Execution Status Change", _states_detail),
}


def synthetic_event(handler: str, account: str, region: str, partition: str = "aws") -> tuple[dict[str, Any], str]:
    """A harmless event for the function with ``handler``, and the outcome expected of it: ``out-of-scope`` for
    the event functions, ``rejected`` (not a schedule tick) for the sweep and anything else."""
    moment = iso(now_utc())
    base = {"version": "0", "id": f"smoke-{uuid.uuid4()}", "account": account, "region": region, "resources": []}
    module = handler.removesuffix(".lambda_handler").rsplit(".", 1)[-1]
    if module not in _EVENTS:
        return {**base, "source": "watchdogs-ops.smoke", "detail-type": "Smoke Test", "time": moment, "detail": {}}, (
            "rejected"
        )
    source, detail_type, build = _EVENTS[module]
    detail = build(moment=moment, partition=partition, region=region, account=account)
    return {**base, "source": source, "detail-type": detail_type, "time": moment, "detail": detail}, "out-of-scope"


def _outcome(payload: dict[str, Any]) -> str:
    results = payload.get("results") or []
    return str(results[0].get("outcome")) if results else str(payload.get("outcome", "?"))


def check_functions(target: Target, invoke: Callable[[str, dict[str, Any]], dict[str, Any]]) -> list[dict[str, Any]]:
    arn = target.topic_arn.split(":")
    partition, account = (arn[1], arn[4]) if len(arn) >= 6 else ("aws", "000000000000")
    rows = []
    for logical_id, name in sorted(target.functions.items()):
        handler = target.client("lambda").get_function_configuration(FunctionName=name).get("Handler", "")
        event, expected = synthetic_event(handler, account, target.region, partition)
        started = time.perf_counter()
        try:
            outcome, error = _outcome(invoke(name, event)), ""
        except Exception as exc:  # reported per function; the others still run
            outcome, error = "error", f"{type(exc).__name__}: {str(exc)[:200]}"
        ms = round((time.perf_counter() - started) * 1000)
        ok = outcome == expected
        rows.append(
            {
                "function": logical_id,
                "name": name,
                "expected": expected,
                "outcome": outcome,
                "ok": ok,
                "ms": ms,
                "error": error,
            }
        )
    return rows


def publish_test_alert(target: Target) -> str:
    environment = target.parameters.get("EnvironmentName", "") or "unknown"
    attributes = {
        "severity": "info",
        "outcome": "test",
        "test": "true",
        "environment": environment,
        "message_id": f"smoke-{uuid.uuid4()}",
    }
    response = target.client("sns").publish(
        TopicArn=target.topic_arn,
        Subject=f"[{environment}] TEST: watchdogs-ops smoke test, no action needed",
        Message=f"Test alert from `watchdogs-ops smoke` at {iso(now_utc())}: alerts of {target.stack} reach you.",
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    return str(response["MessageId"])


def blast_radius(target: Target) -> list[dict[str, Any]]:
    environ = target.environment()
    rows = []
    for parameter, (what, kinds, env_name) in SCOPES.items():
        raw = target.parameters.get(parameter) or (environ.get(env_name, "") if env_name else "")
        values = [v.strip() for v in raw.split(",") if v.strip()]
        actions = sorted({iam for a in ACTIONS.values() if a.resource_kind in kinds for iam in a.iam_actions})
        rows.append(
            {
                "parameter": parameter,
                "values": values,
                "what": what,
                "grants": actions,
                "matches_now": _matches(target, parameter, values),
            }
        )
    return rows


def _matches(target: Target, parameter: str, values: list[str]) -> list[str] | None:
    """What the scope matches in the account now (crawlers, state machines); None when not listed."""
    if not values:
        return []
    if parameter == "CrawlerPrefixes":
        names = [
            c["Name"]
            for page in target.client("glue").get_paginator("get_crawlers").paginate()
            for c in page["Crawlers"]
        ]
    elif parameter == "StateMachineNamePrefixes":
        names = [
            m["name"]
            for page in target.client("stepfunctions").get_paginator("list_state_machines").paginate()
            for m in page["stateMachines"]
        ]
    else:
        return None
    return sorted(n for n in names if any(n.startswith(v) for v in values))


def run(target: Target, store: IncidentStore, args: argparse.Namespace, **hooks: Any) -> Output:
    if not target.stack:
        raise ConfigError("smoke needs the stack: pass --stack-name STACK")
    message_id = publish_test_alert(target)
    functions = check_functions(target, hooks.get("invoke") or lambda_invoker(target))
    radius = blast_radius(target)
    data = {"test_alert": message_id, "functions": functions, "blast_radius": radius}
    failed = [f for f in functions if not f["ok"]]
    return Output(_render(target, message_id, functions, radius), data, 3 if failed else 0)


def _render(target: Target, message_id: str, functions: list[dict[str, Any]], radius: list[dict[str, Any]]) -> str:
    lines = [
        f"Smoke test of {target.stack} ({target.where()})",
        f"  test alert published to {target.topic_arn} (message {message_id}; severity=info, test=true)",
        "",
        "Functions (harmless synthetic event each)",
    ]
    rows = [
        [
            f["function"],
            "OK" if f["ok"] else "FAIL",
            f["outcome"],
            f["expected"],
            f"{f['ms']} ms",
            f["error"],
        ]
        for f in functions
    ]
    lines.append(table(("FUNCTION", "RESULT", "OUTCOME", "EXPECTED", "TIME", "ERROR"), rows))
    lines += ["", "Blast radius: what each scope parameter lets the stack change"]
    for r in radius:
        star = "*" if r["parameter"].endswith("Prefixes") else ""
        values = ", ".join(f"{v}{star}" for v in r["values"]) or "(empty: nothing)"
        lines.append(f"  {r['parameter']} = {', '.join(r['values']) or '(empty)'}")
        lines.append(f"    {r['what']} {values}: {', '.join(r['grants']) or 'no mutating action'}")
        if r["matches_now"] is not None:
            found = r["matches_now"]
            lines.append(
                f"    matches now: {len(found)}"
                + (f" ({', '.join(found[:8])}{', ...' if len(found) > 8 else ''})" if found else "")
            )
    failed = sum(not f["ok"] for f in functions)
    lines += [
        "",
        f"SMOKE {'FAILED' if failed else 'PASSED'}: "
        f"{len(functions) - failed}/{len(functions)} functions answered as expected",
    ]
    return "\n".join(lines)
