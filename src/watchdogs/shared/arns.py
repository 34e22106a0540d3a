"""ARNs: the partition of a region, the ARNs the watchdogs build, and parsing the ones they are given.

Pure string functions, safe on untrusted input (an event's ARN is a claim until parsed): a string that is not an
ARN of the expected shape parses to ``None`` / ``""``, never raises.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: region prefix -> partition, most specific first (AWS's own partition table: aws-cn, aws-us-gov, the ISO ones)
_PARTITIONS: tuple[tuple[str, str], ...] = (
    ("cn-", "aws-cn"),
    ("us-gov-", "aws-us-gov"),
    ("us-isob-", "aws-iso-b"),
    ("us-isof-", "aws-iso-f"),
    ("eu-isoe-", "aws-iso-e"),
    ("us-iso-", "aws-iso"),
)
_PARTITION = re.compile(r"^aws(-[a-z]+)*$")
_ACCOUNT = re.compile(r"^\d{12}$")


def partition_for_region(region: str) -> str:
    """``aws`` for commercial regions, ``aws-cn`` for ``cn-*``, ``aws-us-gov`` for ``us-gov-*`` and the ISO
    partitions (``aws-iso`` for ``us-iso-*``, ``aws-iso-b`` for ``us-isob-*``, ...)."""
    return next((partition for prefix, partition in _PARTITIONS if region.startswith(prefix)), "aws")


@dataclass(frozen=True)
class Arn:
    """``arn:<partition>:<service>:<region>:<account>:<resource>``; ``resource`` is split at its first ``/`` or
    ``:`` into ``resource_type`` and ``resource_id`` (``crawler/name``, ``execution:machine:name``)."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_type(self) -> str:
        return re.split(r"[:/]", self.resource, maxsplit=1)[0]

    @property
    def resource_id(self) -> str:
        parts = re.split(r"[:/]", self.resource, maxsplit=1)
        return parts[1] if len(parts) == 2 else ""

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse_arn(arn: str) -> Arn | None:
    """The parts of ``arn``, or ``None`` when it is not an ARN (wrong prefix, unknown partition shape, missing
    service or resource, an account that is neither empty nor 12 digits)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        return None
    _, partition, service, region, account, resource = parts
    if not _PARTITION.match(partition) or not service or not resource:
        return None
    if account and not _ACCOUNT.match(account):
        return None
    return Arn(partition=partition, service=service, region=region, account=account, resource=resource)


def crawler_arn(region: str, account: str, name: str) -> str:
    """A Glue crawler's ARN (what ``GetTags`` takes)."""
    return f"arn:{partition_for_region(region)}:glue:{region}:{account}:crawler/{name}"


def workgroup_arn(region: str, account: str, name: str) -> str:
    """An Athena workgroup's ARN (what ``ListTagsForResource`` takes, and what IAM scopes query actions to)."""
    return f"arn:{partition_for_region(region)}:athena:{region}:{account}:workgroup/{name}"


def _machine(parsed: Arn, name: str) -> str:
    return f"arn:{parsed.partition}:states:{parsed.region}:{parsed.account}:stateMachine:{name}"


def state_machine_of(execution_arn: str) -> str:
    """The state machine an execution belongs to, from the execution's own ARN (``""`` if it is not one):

    * standard: ``arn:<p>:states:<r>:<a>:execution:<machine>:<name>``
    * express: ``arn:<p>:states:<r>:<a>:express:<machine>:<name>:<id>``
    * a Distributed Map child run: ``...:execution:<machine>/<map run label>:<id>`` belongs to ``<machine>``
    """
    parsed = parse_arn(execution_arn)
    if parsed is None or parsed.service != "states" or parsed.resource_type not in {"execution", "express"}:
        return ""
    machine, _, name = parsed.resource_id.partition(":")
    machine = machine.split("/", 1)[0]
    if not machine or not name:
        return ""
    return _machine(parsed, machine)


def unqualified_state_machine(state_machine_arn: str) -> str:
    """``...:stateMachine:<machine>`` without a version or alias qualifier (``...:stateMachine:<machine>:3``),
    ``""`` if it is not a state machine ARN."""
    parsed = parse_arn(state_machine_arn)
    if parsed is None or parsed.service != "states" or parsed.resource_type != "stateMachine":
        return ""
    machine = parsed.resource_id.split(":", 1)[0].split("/", 1)[0]
    return _machine(parsed, machine) if machine else ""


def is_express_execution(execution_arn: str) -> bool:
    """Express executions have their own ARN type (and can never be redriven)."""
    parsed = parse_arn(execution_arn)
    return parsed is not None and parsed.service == "states" and parsed.resource_type == "express"
