"""The embedded emulator: an in-process moto server with the watchdogs' own ``template.yaml`` deployed into it.

:class:`Emulator` starts a ``ThreadedMotoServer`` on a free loopback port (``MOTO_PORT`` set, so the Step Functions
simulation's Glue/Athena tasks reach it), turns moto's state-machine execution simulation on, installs the moto
extensions (:mod:`watchdogs_local.moto_ext`) and deploys the template: SAM transform
(:func:`watchdogs_local.template.translate_template`) -> CloudFormation stack on the emulator. Tables, topic,
queues, roles, functions and EventBridge rules then exist because the template says so; :class:`Deployment` is
what was *deployed* (read back from the emulator's Lambda and EventBridge APIs, never from the template), which
is what the router routes through.

moto's CloudFormation lacks a few resource types (alarms, queue/topic policies, ...): those are left out of the
deployed copy, and :attr:`Deployment.skipped` says which, so the output can say so.
"""

from __future__ import annotations

import io
import json
import logging
import os
import socket
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from types import TracebackType

    import boto3

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
DEFAULT_STACK = "lakehouse-watchdogs-local"
#: where the packaged source goes (the placeholder CodeUri :mod:`watchdogs_local.template` translates to)
ARTIFACT_BUCKET = "lakehouse-watchdogs-local-artifacts"
ARTIFACT_KEY = "watchdogs.zip"
#: credentials the emulator accepts; never real ones
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


class DeployError(RuntimeError):
    """The template could not be deployed into the emulator (the stack's failure reason is in the message)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class DeployedFunction:
    """A function as the emulator's Lambda API reports it after the stack was created."""

    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout: int = 3

    @classmethod
    def from_configuration(cls, logical_id: str, config: Any) -> DeployedFunction:
        """From a Lambda ``GetFunctionConfiguration`` answer (the emulator's or a real account's)."""
        return cls(
            logical_id=logical_id,
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            handler=config["Handler"],
            environment={k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
            timeout=int(config.get("Timeout", 3)),
        )


@dataclass(frozen=True)
class DeployedRule:
    """An EventBridge rule as deployed: its pattern or schedule, and the function ARNs it targets."""

    name: str
    logical_id: str
    state: str
    event_pattern: dict[str, Any] | None
    schedule: str | None
    targets: tuple[str, ...]


@dataclass
class Deployment:
    """What the stack created, read back from the emulator (the "deployed" truth)."""

    stack_name: str
    functions: dict[str, DeployedFunction]  # by logical id
    rules: list[DeployedRule]
    resources: dict[str, str]  # logical id -> physical id
    outputs: dict[str, str]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (logical id, type) left out: moto lacks them

    def function_by_arn(self, arn: str) -> DeployedFunction | None:
        base = arn.split(":function:", 1)[-1].split(":", 1)[0]
        return next((f for f in self.functions.values() if f.arn == arn or f.name == base), None)

    def physical(self, logical_id: str) -> str:
        try:
            return self.resources[logical_id]
        except KeyError:
            raise KeyError(f"the stack has no resource {logical_id!r}") from None


class Emulator:
    """An in-process moto server (real HTTP) with the template deployed into it. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None, *, endpoint: str | None = None) -> None:
        """``endpoint``: attach to a moto server this process already runs (tests) instead of starting one."""
        self.host = host
        self.port = port
        self._server: Any = None
        self._endpoint = endpoint
        self._previous_simulation: bool | None = None
        self._previous_port: str | None = None
        self._session: boto3.Session | None = None
        self.deployment: Deployment | None = None
        #: the moto server class to run (``make emulator`` adds its control path); default ThreadedMotoServer
        self.server_class: type | None = None

    # ------------------------------------------------------------------------------------------ lifecycle
    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            raise RuntimeError("the emulator is not started")
        return self._endpoint

    def start(self) -> Emulator:
        if self._endpoint is None:
            from moto.server import ThreadedMotoServer  # noqa: PLC0415 - dev-only dependency

            logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log in the demo's output
            # the simulated pipeline fails on purpose in some scenarios; moto's interpreter logs each failed state
            logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

            self.port = self.port or free_port(self.host if self.host != "0.0.0.0" else "127.0.0.1")  # noqa: S104
            server_class = self.server_class or ThreadedMotoServer
            self._server = server_class(ip_address=self.host, port=self.port, verbose=False)
            self._server.start()
            self._endpoint = f"http://127.0.0.1:{self.port}"
            # the Step Functions simulation's aws-sdk/Glue/Athena tasks call back into the server on this port
            self._previous_port = os.environ.get("MOTO_PORT")
            os.environ["MOTO_PORT"] = str(self.port)
        self._enable_execution_simulation()
        from watchdogs_local import moto_ext  # noqa: PLC0415

        moto_ext.install()
        return self

    def stop(self) -> None:
        self._restore_execution_simulation()
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._endpoint = None
            if self._previous_port is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = self._previous_port

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget every resource (moto's reset API). Deployments must be redone."""
        from watchdogs_local.moto_ext.stepfunctions import stop_running_executions  # noqa: PLC0415

        stop_running_executions()
        self._post("/moto-api/reset", {})
        self.deployment = None

    def _enable_execution_simulation(self) -> None:
        from watchdogs_local.moto_ext.stepfunctions import execution_simulation  # noqa: PLC0415

        self._previous_simulation = execution_simulation(True)

    def _restore_execution_simulation(self) -> None:
        from watchdogs_local.moto_ext.stepfunctions import (  # noqa: PLC0415
            execution_simulation,
            stop_running_executions,
        )

        if self._previous_simulation is not None:
            stop_running_executions()  # their worker threads would otherwise keep polling
            execution_simulation(self._previous_simulation)
            self._previous_simulation = None

    def _post(self, path: str, body: dict[str, Any]) -> None:
        import urllib.request  # noqa: PLC0415

        request = urllib.request.Request(  # noqa: S310 - the emulator's own loopback endpoint
            self.endpoint + path, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()

    # ------------------------------------------------------------------------------------------ clients
    def environment(self) -> dict[str, str]:
        """What a process needs to talk to the emulator (endpoint, region, fake credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **FAKE_CREDENTIALS,
        }

    def session(self) -> boto3.Session:
        if self._session is None:
            import boto3  # noqa: PLC0415

            self._session = boto3.Session(
                aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
                region_name=REGION,
            )
        return self._session

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    # ------------------------------------------------------------------------------------------ deploy
    def deploy(
        self,
        template: Path = TEMPLATE,
        parameters: dict[str, str] | None = None,
        *,
        stack_name: str = DEFAULT_STACK,
    ) -> Deployment:
        """SAM-translate ``template`` with ``parameters`` and create it as a CloudFormation stack in the emulator."""
        from watchdogs_local.template import translate_template  # noqa: PLC0415

        translated = translate_template(template, dict(parameters or {}))
        return self.deploy_translated(translated, parameters or {}, stack_name=stack_name, code_dir=code_dir(template))

    def deploy_translated(
        self,
        cfn: dict[str, Any],
        parameters: dict[str, str],
        *,
        stack_name: str = DEFAULT_STACK,
        code_dir: Path = ROOT / "src",
    ) -> Deployment:
        """Create an already-translated (CloudFormation) template as a stack and read back what it deployed."""
        body, skipped = deployable_copy(cfn)
        self._upload_code(body, code_dir)
        declared = body.get("Parameters", {})
        cfn_client = self.client("cloudformation")
        try:
            cfn_client.create_stack(
                StackName=stack_name,
                TemplateBody=json.dumps(body),
                Parameters=[
                    {"ParameterKey": key, "ParameterValue": str(value)}
                    for key, value in parameters.items()
                    if key in declared
                ],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
            )
        except Exception as exc:
            raise DeployError(f"create_stack {stack_name}: {exc}") from exc
        stack = cfn_client.describe_stacks(StackName=stack_name)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise DeployError(f"stack {stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason', '')}")
        self.deployment = self.read_deployment(stack_name, skipped=skipped)
        if any(kind == "AWS::Scheduler::ScheduleGroup" for _, kind in skipped):
            from watchdogs_local.timers import ensure_groups  # noqa: PLC0415

            ensure_groups(self.deployment, self.client("scheduler"))  # what CloudFormation would have made
        return self.deployment

    def _upload_code(self, body: dict[str, Any], source: Path) -> None:
        """moto creates a function only from real code: package the source the template points at into S3.

        The code never runs inside moto (it has no runtime here); the router runs each handler in-process.
        """
        functions = [r for r in body["Resources"].values() if r.get("Type") == "AWS::Lambda::Function"]
        if not functions:
            return
        s3 = self.client("s3")
        s3.create_bucket(Bucket=ARTIFACT_BUCKET)
        s3.put_object(Bucket=ARTIFACT_BUCKET, Key=ARTIFACT_KEY, Body=package_source(source))
        for resource in functions:
            props = resource.setdefault("Properties", {})
            props["Code"] = {"S3Bucket": ARTIFACT_BUCKET, "S3Key": ARTIFACT_KEY}

    def read_deployment(self, stack_name: str, *, skipped: list[tuple[str, str]] | None = None) -> Deployment:
        """Read back functions (handler + environment) and rules (pattern/schedule + targets) the stack created."""
        cfn_client = self.client("cloudformation")
        summaries = cfn_client.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
        resources = {s["LogicalResourceId"]: s["PhysicalResourceId"] for s in summaries}
        types = {s["LogicalResourceId"]: s["ResourceType"] for s in summaries}
        stack = cfn_client.describe_stacks(StackName=stack_name)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

        lam = self.client("lambda")
        functions: dict[str, DeployedFunction] = {}
        for logical_id, kind in types.items():
            if kind != "AWS::Lambda::Function":
                continue
            config = lam.get_function_configuration(FunctionName=_function_name(resources[logical_id]))
            functions[logical_id] = DeployedFunction.from_configuration(logical_id, config)

        events = self.client("events")
        logical_by_name = {
            _rule_name(resources[lid]): lid for lid, kind in types.items() if kind == "AWS::Events::Rule"
        }
        rules: list[DeployedRule] = []
        for rule in _paginate(events.list_rules, "Rules"):
            targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
            rules.append(
                DeployedRule(
                    name=rule["Name"],
                    logical_id=logical_by_name.get(rule["Name"], ""),
                    state=rule.get("State", "ENABLED"),
                    event_pattern=json.loads(rule["EventPattern"]) if rule.get("EventPattern") else None,
                    schedule=rule.get("ScheduleExpression"),
                    targets=tuple(t["Arn"] for t in targets),
                )
            )
        return Deployment(
            stack_name=stack_name,
            functions=functions,
            rules=[r for r in rules if r.logical_id],  # the stack's rules only
            resources=resources,
            outputs=outputs,
            skipped=list(skipped or []),
        )


# ---------------------------------------------------------------------------------------------- helpers
def supported_resource_types() -> set[str]:
    from moto.cloudformation.parsing import get_model_map  # noqa: PLC0415

    return set(get_model_map())


def deployable_copy(cfn: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """A copy of ``cfn`` without the resources moto's CloudFormation cannot create (and whatever refers to them).

    Returns the copy and the (logical id, type) pairs left out, so callers can say what the emulator lacks.
    """
    body = json.loads(json.dumps(cfn))
    supported = supported_resource_types()
    resources: dict[str, Any] = body.get("Resources", {})
    skipped = [(lid, r.get("Type", "?")) for lid, r in resources.items() if r.get("Type") not in supported]
    gone = {lid for lid, _ in skipped}
    # whatever refers to a left-out resource cannot be created either
    changed = True
    while changed:
        changed = False
        for lid, resource in list(resources.items()):
            if lid in gone:
                continue
            if _refers_to(resource.get("Properties", {}), gone):
                gone.add(lid)
                skipped.append((lid, resource.get("Type", "?")))
                changed = True
    for lid in gone:
        resources.pop(lid, None)
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if isinstance(depends, list):
            resource["DependsOn"] = [d for d in depends if d not in gone]
        elif isinstance(depends, str) and depends in gone:
            resource.pop("DependsOn")
    outputs = body.get("Outputs", {})
    for key in [k for k, v in outputs.items() if _refers_to(v, gone)]:
        outputs.pop(key)
    return body, sorted(skipped)


def _refers_to(node: Any, logical_ids: set[str]) -> bool:
    if isinstance(node, dict):
        if "Ref" in node and node["Ref"] in logical_ids:
            return True
        getatt = node.get("Fn::GetAtt")
        if getatt is not None:
            target = getatt[0] if isinstance(getatt, list) else str(getatt).split(".", 1)[0]
            if target in logical_ids:
                return True
        sub = node.get("Fn::Sub")
        if sub is not None:
            text = sub[0] if isinstance(sub, list) else sub
            if isinstance(text, str) and any(f"${{{lid}}}" in text or f"${{{lid}." in text for lid in logical_ids):
                return True
        return any(_refers_to(value, logical_ids) for value in node.values())
    if isinstance(node, list):
        return any(_refers_to(value, logical_ids) for value in node)
    return False


def code_dir(template: Path) -> Path:
    """The directory the template's functions are built from (``Globals.Function.CodeUri``, else ``src/``)."""
    from watchdogs_local.template import load_template  # noqa: PLC0415

    code_uri = load_template(template).get("Globals", {}).get("Function", {}).get("CodeUri", "src/")
    return template.parent / (code_uri if isinstance(code_uri, str) and not code_uri.startswith("s3://") else "src")


def package_source(source: Path) -> bytes:
    """A deployment ZIP of ``source`` (what ``sam build`` would package, minus dependencies)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
                archive.write(path, path.relative_to(source).as_posix())
    return buffer.getvalue()


def _function_name(physical_id: str) -> str:
    return physical_id.split(":function:", 1)[-1] if ":function:" in physical_id else physical_id


def _rule_name(physical_id: str) -> str:
    # physical id of a rule is its name, or "<bus>|<name>" for a custom bus
    return physical_id.split("|")[-1].rsplit("/", 1)[-1]


def _paginate(call: Any, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    token: str | None = None
    while True:
        page = call(**kwargs, **({"NextToken": token} if token else {}))
        items.extend(page.get(key, []))
        token = page.get("NextToken")
        if not token:
            return items
