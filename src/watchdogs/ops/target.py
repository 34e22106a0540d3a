"""Which deployment the CLI talks to: the session (profile, region, credentials, endpoint), and the stack's incident
table, alert topic, functions, parameters and the watchdogs' settings, found from ``--stack-name``
(CloudFormation ``DescribeStacks`` / ``ListStackResources``) or given with ``--table`` / ``INCIDENT_TABLE``.

Every configuration problem becomes a :class:`ConfigError`: one line that says how to fix it (exit code 2).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

#: the stack's outputs the CLI reads (template.yaml ``Outputs``)
TABLE_OUTPUT = "IncidentTableName"
TOPIC_OUTPUT = "AlertTopicArn"
FUNCTION_TYPE = "AWS::Lambda::Function"


class ConfigError(RuntimeError):
    """A configuration problem; the message is one line saying how to fix it."""


class NotFound(LookupError):  # noqa: N818 - reported as "not found", exit code 1
    """A resource (or incident) the command names does not exist."""


@dataclass
class Target:
    """The account/emulator, stack and incident table a command works on. Clients are built on demand."""

    session: boto3.Session
    region: str
    endpoint: str | None = None
    stack: str | None = None
    table: str = ""
    topic_arn: str = ""
    functions: dict[str, str] = field(default_factory=dict)  # logical id -> function name
    parameters: dict[str, str] = field(default_factory=dict)
    _environment: dict[str, str] | None = None
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]
        return self._clients[service]

    def where(self) -> str:
        return self.endpoint or f"region {self.region}"

    def environment(self) -> dict[str, str]:
        """The watchdogs' settings variables: a deployed function's environment (with a stack), else this shell's."""
        if self._environment is None:
            self._environment = dict(os.environ)
            name = next(iter(sorted(self.functions.items())), ("", ""))[1]
            if name:
                config = self.client("lambda").get_function_configuration(FunctionName=name)
                self._environment = {
                    **{k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()},
                    "AWS_REGION": self.region,
                }
        return self._environment


def open_target(
    *, profile: str | None, region: str | None, endpoint: str | None, stack: str | None, table: str | None
) -> Target:
    """Check the configuration in the order people get it wrong; raise :class:`ConfigError` on the first problem."""
    import boto3  # noqa: PLC0415 - a CLI: only once the arguments are valid
    from botocore.exceptions import ProfileNotFound  # noqa: PLC0415

    try:
        session = boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound:
        raise ConfigError(f"AWS profile {profile!r} not found: check ~/.aws/config or drop --profile") from None
    if not session.region_name:
        raise ConfigError("no AWS region: pass --region, set AWS_REGION, or give your profile a region")
    if session.get_credentials() is None:
        raise ConfigError(
            "no AWS credentials: pass --profile, run `aws sso login`, or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
        )
    target = Target(session=session, region=session.region_name, endpoint=endpoint, stack=stack)
    if stack:
        _read_stack(target, stack)
    target.table = table or target.table or os.environ.get("INCIDENT_TABLE", "")
    if not target.table:
        raise ConfigError("no incident table: pass --stack-name STACK or --table TABLE, or set INCIDENT_TABLE")
    _check_table(target)
    target.topic_arn = target.topic_arn or os.environ.get("ALERT_TOPIC_ARN", "")
    return target


def _read_stack(target: Target, stack: str) -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    cfn = target.client("cloudformation")
    try:
        found = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in str(exc):
            raise ConfigError(
                f"stack {stack!r} not found in {target.where()}: check --stack-name and --region "
                "(`aws cloudformation list-stacks`)"
            ) from None
        raise
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    target.parameters = {p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])}
    target.table, target.topic_arn = outputs.get(TABLE_OUTPUT, ""), outputs.get(TOPIC_OUTPUT, "")
    paginator = cfn.get_paginator("list_stack_resources")
    for page in paginator.paginate(StackName=stack):
        for summary in page["StackResourceSummaries"]:
            if summary["ResourceType"] == FUNCTION_TYPE:
                target.functions[summary["LogicalResourceId"]] = summary["PhysicalResourceId"].split(":")[-1]
            elif summary["LogicalResourceId"] == "IncidentTable" and not target.table:
                target.table = summary["PhysicalResourceId"]
    if not target.table:
        raise ConfigError(f"stack {stack!r} has no incident table (output {TABLE_OUTPUT}): is it a watchdogs stack?")


def _check_table(target: Target) -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    try:
        target.client("dynamodb").describe_table(TableName=target.table)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise ConfigError(
                f"incident table {target.table!r} not found in {target.where()}: check --table / INCIDENT_TABLE "
                "and --region, or use --stack-name"
            ) from None
        raise


def explain(exc: BaseException, target_hint: str = "") -> str | None:
    """One line for an AWS error that is a configuration problem (credentials, network, permissions), else None."""
    from botocore.exceptions import (  # noqa: PLC0415
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
    )

    cause = exc
    while cause.__cause__ is not None and not isinstance(cause, ClientError | EndpointConnectionError):
        cause = cause.__cause__
    if isinstance(cause, EndpointConnectionError):
        return f"cannot reach {cause.kwargs.get('endpoint_url', 'AWS')}: check --endpoint / --region and your network"
    if isinstance(cause, NoRegionError):
        return "no AWS region: pass --region, set AWS_REGION, or give your profile a region"
    if isinstance(cause, NoCredentialsError):
        return "no AWS credentials: pass --profile, run `aws sso login`, or set AWS_ACCESS_KEY_ID"
    if isinstance(cause, ClientError):
        code = cause.response.get("Error", {}).get("Code", "")
        operation = getattr(cause, "operation_name", "")
        if code in {"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredToken", "ExpiredTokenException"}:
            return f"AWS rejected the credentials ({code}): refresh them (`aws sso login`) or pass another --profile"
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            return (
                f"access denied to {operation}{target_hint}: your role needs that permission (see docs/operations.md)"
            )
    return None
