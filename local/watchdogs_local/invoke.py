"""Invoke any function of ``template.yaml`` with any sample event, without Docker (``watchdogs-invoke``).

    python -m watchdogs_local.invoke FUNCTION_LOGICAL_ID EVENT_FILE|-  [--parameter-overrides ...] [--env-vars F]

The handler and environment are resolved from the template, as ``sam local invoke`` resolves them (parameter
overrides in SAM's ``Key=Value`` form, ``--env-vars`` in SAM's JSON format: ``{"Parameters": {...},
"<LogicalId>": {...}}``), and the handler runs in this process. The handler's JSON result goes to stdout, its logs
to stderr. Exit status 0 when the invocation succeeded and the event was not rejected.

Targets:

* default -- the embedded emulator (:mod:`watchdogs_local.sample_invoke`): the one ``make emulator`` runs, else a
  throwaway one; fresh state with the template deployed (so the environment is the one the stack resolved: real
  table and topic names), the runbook's lakehouse provisioned and, for a sample declared in
  ``events/expected/index.json`` (the function may then be ``auto``), its resources seeded as it describes; one
  line on stderr says what happened, which alert went out and whether that is the declared outcome;
* ``--endpoint URL`` -- another emulator; ``--profile NAME`` -- a real account. With ``--stack-name`` the
  environment is read from that deployed stack's function (the exact deployed configuration); without it, from
  the template with SAM's local semantics (a ``Ref`` to a resource resolves to its logical id: supply the real
  names with ``--env-vars``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import IO, Any

from watchdogs_local.emulator import ACCOUNT, REGION, TEMPLATE, DeployedFunction
from watchdogs_local.lakehouse import SANDBOX_PARAMETERS

#: the embedded target's deployment: the runbook's sandbox names, acting (thresholds: the template's defaults)
EMBEDDED_PARAMETERS: dict[str, str] = {
    **SANDBOX_PARAMETERS,
}
EMBEDDED_STACK = "lakehouse-watchdogs-local"


class InvokeError(RuntimeError):
    """The function, event or configuration cannot be resolved (the message says which)."""


# ------------------------------------------------------------------------------------------------ SAM formats
def parse_parameter_overrides(values: list[str] | None) -> dict[str, str]:
    """SAM's ``--parameter-overrides``: ``Key=Value`` pairs (space separated, shell-quoted) or
    ``ParameterKey=Key,ParameterValue=Value``."""
    result: dict[str, str] = {}
    for chunk in values or []:
        for token in shlex.split(chunk):
            if token.startswith("ParameterKey="):
                fields = dict(part.split("=", 1) for part in token.split(",", 1))
                result[fields["ParameterKey"]] = fields.get("ParameterValue", "")
            elif "=" in token:
                key, value = token.split("=", 1)
                result[key] = value
            else:
                raise InvokeError(f"parameter override {token!r} is not Key=Value")
    return result


def load_env_vars(path: Path | None, logical_id: str) -> dict[str, str]:
    """SAM's ``--env-vars`` file: ``Parameters`` apply to every function, ``<LogicalId>`` to that one (wins)."""
    if path is None:
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvokeError(f"--env-vars {path}: {exc}") from exc
    merged = {**document.get("Parameters", {}), **document.get(logical_id, {})}
    return {key: str(value) for key, value in merged.items()}


def read_event(source: str) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
        event = json.loads(text)
    except (OSError, ValueError) as exc:
        raise InvokeError(f"event {source}: {exc}") from exc
    if not isinstance(event, dict):
        raise InvokeError(f"event {source}: not a JSON object")
    return event


# ------------------------------------------------------------------------------------------------ template
def function_from_template(
    template: Path,
    logical_id: str,
    parameters: dict[str, str],
    *,
    region: str = REGION,
    account_id: str = ACCOUNT,
    stack_name: str = EMBEDDED_STACK,
) -> DeployedFunction:
    """Handler and environment of ``logical_id`` from the SAM-translated template, resolved like sam local."""
    from watchdogs_local.template import translate_template  # noqa: PLC0415

    cfn = translate_template(template, parameters, region=region, account_id=account_id)
    resource = cfn["Resources"].get(logical_id)
    if resource is None or resource.get("Type") != "AWS::Lambda::Function":
        functions = sorted(k for k, v in cfn["Resources"].items() if v.get("Type") == "AWS::Lambda::Function")
        raise InvokeError(f"{logical_id} is not a function of {template.name}; functions: {', '.join(functions)}")
    resolver = _Resolver(cfn, parameters, region=region, account_id=account_id, stack_name=stack_name)
    props = resource["Properties"]
    variables = props.get("Environment", {}).get("Variables", {})
    environment = {k: v for k, v in ((k, resolver.resolve(v)) for k, v in variables.items()) if v is not _NO_VALUE}
    name = resolver.resolve(props.get("FunctionName", logical_id))
    return DeployedFunction(
        logical_id=logical_id,
        name=str(name),
        arn=f"arn:aws:lambda:{region}:{account_id}:function:{name}",
        handler=str(props["Handler"]),
        environment={k: _flat(v) for k, v in environment.items()},
        timeout=int(resolver.resolve(props.get("Timeout", 3))),
    )


_NO_VALUE = object()


def _flat(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class _Resolver:
    """The intrinsic functions an environment uses, with sam local's semantics for what only a stack knows
    (``Ref`` to a resource: its logical id; ``Fn::GetAtt``: ``<LogicalId>.<Attribute>``)."""

    def __init__(
        self, cfn: dict[str, Any], parameters: dict[str, str], *, region: str, account_id: str, stack_name: str
    ) -> None:
        self.resources = cfn.get("Resources", {})
        self.conditions = cfn.get("Conditions", {})
        declared = cfn.get("Parameters", {})
        self.values: dict[str, Any] = {
            name: str(spec.get("Default", "")) for name, spec in declared.items() if isinstance(spec, dict)
        }
        self.values.update(parameters)
        self.values.update(
            {
                "AWS::Region": region,
                "AWS::AccountId": account_id,
                "AWS::Partition": "aws",
                "AWS::StackName": stack_name,
                "AWS::URLSuffix": "amazonaws.com",
                "AWS::NoValue": _NO_VALUE,
            }
        )

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in (self.resolve(item) for item in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {k: self.resolve(v) for k, v in node.items()}
        ((key, arg),) = node.items()
        if key == "Ref":
            return self.values.get(arg, arg)  # a resource: its logical id, as sam local does
        if key == "Fn::GetAtt":
            target = arg if isinstance(arg, list) else str(arg).split(".", 1)
            return ".".join(str(part) for part in target)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            separator, items = arg
            return str(separator).join(str(v) for v in self.resolve(items))
        if key == "Fn::Split":
            separator, text = arg
            return str(self.resolve(text)).split(str(separator))
        if key == "Fn::Select":
            index, items = arg
            return self.resolve(items)[int(self.resolve(index))]
        if key == "Fn::If":
            name, when_true, when_false = arg
            return self.resolve(when_true if self.condition(name) else when_false)
        if key in ("Fn::Equals", "Fn::Not", "Fn::And", "Fn::Or", "Condition"):
            return self._boolean(key, arg)
        return {key: self.resolve(arg)}

    def condition(self, name: str) -> bool:
        return bool(self.resolve(self.conditions[name]))

    def _boolean(self, key: str, arg: Any) -> bool:
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        values = [bool(self.resolve(v)) for v in arg]
        return all(values) if key == "Fn::And" else any(values)

    def _sub(self, arg: Any) -> str:
        import re  # noqa: PLC0415

        text, local = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
        variables = {k: self.resolve(v) for k, v in local.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return name  # GetAtt of a resource: only a stack knows
            return str(self.values.get(name, name))

        return re.sub(r"\$\{([^}]+)\}", replace, str(text))


# ------------------------------------------------------------------------------------------------ targets
def function_from_stack(session: Any, stack_name: str, logical_id: str) -> DeployedFunction:
    """The deployed configuration of a stack's function (``--stack-name`` against an account or emulator)."""
    cfn = session.client("cloudformation")
    try:
        physical = cfn.describe_stack_resource(StackName=stack_name, LogicalResourceId=logical_id)[
            "StackResourceDetail"
        ]["PhysicalResourceId"]
    except Exception as exc:
        raise InvokeError(f"stack {stack_name} has no function {logical_id}: {exc}") from exc
    config = session.client("lambda").get_function_configuration(FunctionName=physical)
    return DeployedFunction.from_configuration(logical_id, config)


def invoke(
    logical_id: str,
    event: dict[str, Any],
    *,
    template: Path = TEMPLATE,
    parameters: dict[str, str] | None = None,
    env_vars: Path | None = None,
    endpoint: str | None = None,
    profile: str | None = None,
    region: str = REGION,
    stack_name: str | None = None,
    log_stream: IO[str] | None = None,
) -> tuple[dict[str, Any] | Any, str | None]:
    """Run the function's handler on ``event``; returns (result, error). The embedded emulator unless
    ``endpoint``/``profile`` is given."""
    from watchdogs_local.router import Router  # noqa: PLC0415

    overrides = load_env_vars(env_vars, logical_id)
    if endpoint is None and profile is None:
        return _invoke_embedded(logical_id, event, template, parameters or {}, overrides, log_stream)

    import boto3  # noqa: PLC0415

    session = boto3.Session(profile_name=profile, region_name=region)
    if stack_name:
        function = function_from_stack(_EndpointSession(session, endpoint), stack_name, logical_id)
    else:
        function = function_from_template(template, logical_id, {**(parameters or {})}, region=region)
    function = with_overrides(function, overrides)
    target: dict[str, str | None] = {}
    if endpoint:
        target["AWS_ENDPOINT_URL"] = endpoint
    if profile:  # the profile's credentials, not whatever keys this shell exports
        target.update(AWS_PROFILE=profile, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None)
    from watchdogs_local.emulator import Deployment  # noqa: PLC0415

    deployment = Deployment(
        stack_name=stack_name or "", functions={logical_id: function}, rules=[], resources={}, outputs={}
    )
    router = Router(deployment, target_environment=target, region=region, log_stream=log_stream or sys.stderr)
    try:
        delivery = router.invoke(function, event)
    finally:
        router.release()
    return delivery.result, delivery.error


def _invoke_embedded(
    logical_id: str,
    event: dict[str, Any],
    template: Path,
    parameters: dict[str, str],
    overrides: dict[str, str],
    log_stream: IO[str] | None,
) -> tuple[Any, str | None]:
    if template != TEMPLATE or parameters:  # another template or parameters: a throwaway deployment of those
        return _invoke_custom(logical_id, event, template, parameters, overrides, log_stream)
    from watchdogs_local.sample_invoke import run_embedded  # noqa: PLC0415

    run = run_embedded(logical_id, event, None, overrides=overrides, log_stream=log_stream)
    return run.result, run.error


def _invoke_custom(
    logical_id: str,
    event: dict[str, Any],
    template: Path,
    parameters: dict[str, str],
    overrides: dict[str, str],
    log_stream: IO[str] | None,
) -> tuple[Any, str | None]:
    from watchdogs_local.emulator import Emulator  # noqa: PLC0415
    from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse  # noqa: PLC0415
    from watchdogs_local.router import Router  # noqa: PLC0415

    with Emulator() as emulator:
        deployment = emulator.deploy(template, {**EMBEDDED_PARAMETERS, **parameters}, stack_name=EMBEDDED_STACK)
        function = deployment.functions.get(logical_id)
        if function is None:
            known = ", ".join(sorted(deployment.functions))
            raise InvokeError(f"{logical_id} is not a function of {template.name}; functions: {known}")
        provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type] # .client(service)
        router = Router(deployment, emulator.endpoint, log_stream=log_stream or sys.stderr)
        try:
            delivery = router.invoke(with_overrides(function, overrides), event)
        finally:
            router.release()
    return delivery.result, delivery.error


def with_overrides(function: DeployedFunction, overrides: dict[str, str]) -> DeployedFunction:
    if not overrides:
        return function
    from dataclasses import replace  # noqa: PLC0415

    return replace(function, environment={**function.environment, **overrides})


class _EndpointSession:
    """A boto3 session whose clients all use one endpoint (or the default when None)."""

    def __init__(self, session: Any, endpoint: str | None) -> None:
        self._session = session
        self._endpoint = endpoint

    def client(self, service: str) -> Any:
        return (
            self._session.client(service, endpoint_url=self._endpoint)
            if self._endpoint
            else self._session.client(service)
        )


# ------------------------------------------------------------------------------------------------ CLI
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="watchdogs-invoke",
        description="Invoke a function of template.yaml with an event, in-process (like sam local invoke, no Docker).",
    )
    parser.add_argument(
        "function", metavar="FUNCTION_LOGICAL_ID", help="e.g. GlueCrawlerWatchdogFunction; auto: the sample's own"
    )
    parser.add_argument("event", metavar="EVENT_FILE", help="a file from events/, or - for stdin")
    parser.add_argument("--template", "-t", type=Path, default=TEMPLATE)
    parser.add_argument(
        "--parameter-overrides", nargs="+", metavar="Key=Value", help="template parameters, SAM's format"
    )
    parser.add_argument("--env-vars", "-n", type=Path, help="JSON file of environment overrides, SAM's format")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--endpoint", help="an emulator's endpoint URL instead of the embedded one")
    target.add_argument("--profile", help="an AWS profile: invoke against a real account")
    parser.add_argument("--stack-name", help="with --endpoint/--profile: read the deployed function's environment")
    parser.add_argument("--region", default=REGION)
    args = parser.parse_args(argv)
    embedded = not (args.endpoint or args.profile or args.parameter_overrides or args.template != TEMPLATE)
    try:
        if embedded:
            from watchdogs_local.sample_invoke import main_embedded  # noqa: PLC0415

            return main_embedded(args)
        if args.function == "auto":
            raise InvokeError("name the function: auto works only for a declared sample on the embedded emulator")
        result, error = invoke(
            args.function,
            read_event(args.event),
            template=args.template,
            parameters=parse_parameter_overrides(args.parameter_overrides),
            env_vars=args.env_vars,
            endpoint=args.endpoint,
            profile=args.profile,
            region=args.region,
            stack_name=args.stack_name,
        )
    except InvokeError as exc:
        print(f"watchdogs-invoke: {exc}", file=sys.stderr)
        return 2
    return print_result(result, error)


def print_result(result: Any, error: str | None) -> int:
    if error:
        print(json.dumps({"errorType": error.split(":", 1)[0], "errorMessage": error}, indent=2))
        return 1
    print(json.dumps(result, indent=2, default=str))
    rejected = isinstance(result, dict) and result.get("outcome") == "rejected"
    return 1 if rejected else 0


if __name__ == "__main__":
    sys.exit(main())
