"""IAM policies of the (SAM-translated) template, intrinsics resolved with sample values, checked by parliament.

``make test`` runs :func:`lint` through ``tests/unit/test_iam_lint.py``; ``python -m watchdogs_local.iam_lint``
prints the findings. Two checks run on every policy document the stack creates (managed policies, the roles'
inline policies, the key policy, the queue policy):

* parliament's own audit (https://github.com/duo-labs/parliament, a maintained IAM linter with its own copy of
  the AWS service authorization reference): malformed statements, unknown actions, ``RESOURCE_MISMATCH``
  (an action none of whose required ARN types is in the statement), ...;
* a stricter pairwise check on parliament's database: *every* (action, resource) pair in a statement uses an ARN
  type that action accepts, so a statement cannot hide a meaningless grant behind a matching sibling.

Findings that are right to keep are listed in :data:`EXCEPTIONS`, each with its reason; a finding not listed
fails the gate, and so does an exception nothing needs any more.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from watchdogs_local.template import Template, load_template, translate_template

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = {"AWS::Region": "us-east-1", "AWS::AccountId": "123456789012", "AWS::StackName": "lint-stack"}
PARTITIONS = {"aws": "us-east-1", "aws-cn": "cn-north-1", "aws-us-gov": "us-gov-west-1"}

#: (policy, issue, action) -> why the finding is right to keep. Policy and action are shell patterns (fnmatch).
EXCEPTIONS: dict[tuple[str, str, str], str] = {
    ("SweepDiscoveryPolicy", "RESOURCE_MISMATCH", "states:ListExecutions"): (
        "the service reference marks two ARN types required for ListExecutions (stateMachine, mapRun) where either "
        "one is enough; the sweep lists executions of state machines, never of Map runs"
    ),
    ("PipelineCorrelationPolicy", "RESOURCE_MISMATCH", "states:ListExecutions"): (
        "as for the sweep: either ARN type is enough; the Athena function lists the runs of in-scope state machines "
        "to find the one a failed pipeline query belongs to, never Map runs"
    ),
    ("PipelineHealPolicy", "RESOURCE_MISMATCH", "states:DescribeExecution"): (
        "DescribeExecution also accepts Express executions (express:...); the pipelines are Standard state "
        "machines, whose executions are the execution:... ARNs granted"
    ),
    ("AthenaQueryHealPolicy", "RESOURCE_MISMATCH", "athena:ListTagsForResource"): (
        "ListTagsForResource accepts a workgroup, a data catalog or a capacity reservation, and one is enough: the "
        "watchdogs read the opt-out tag of in-scope workgroups only"
    ),
    ("*Key", "RESOURCE_STAR", "*"): (
        "in a key policy (the stack key, the operations key) Resource '*' means this key; the account root holds "
        "kms:* so that IAM policies decide who uses the key (the AWS default key policy), and the services' "
        "statements are bound to this account"
    ),
    ("WatchdogKey", "UNKNOWN_CONDITION_FOR_ACTION", "*"): (
        "kms:EncryptionContext:aws:logs:arn is the condition CloudWatch Logs documents for encrypting log groups; "
        "parliament knows only the kms:EncryptionContext:${Key} template of it"
    ),
    ("WatchdogKey", "MISMATCHED_TYPE", "*"): (
        "CloudWatch Logs documents ArnLike on kms:EncryptionContext:aws:logs:arn (the context value is a log group "
        "ARN although the key is typed String)"
    ),
    ("*FunctionRole/*EventInvokeConfigOnFailureSQSPolicy", "NO_VERSION", "*"): (
        "SAM generates the on-failure destination policy (sqs:SendMessage on the dead-letter queue) without a "
        "Version; it uses no policy variable, so the 2008-10-17 default changes nothing"
    ),
}


@dataclass(frozen=True)
class Finding:
    policy: str  # logical id of the resource that holds the policy
    issue: str
    action: str
    detail: str

    def excuse(self) -> str | None:
        """The reason this finding is listed as right to keep, if it is."""
        for (policy, issue, action), reason in EXCEPTIONS.items():
            if issue == self.issue and fnmatchcase(self.policy, policy) and fnmatchcase(self.action, action):
                return reason
        return None


class Resolver:
    """Resolves the intrinsics a translated template uses in its policies, with sample parameter values."""

    def __init__(self, cfn: Template, parameters: dict[str, str], partition: str = "aws") -> None:
        region = PARTITIONS[partition]
        self.cfn = cfn
        declared = {k: str(v.get("Default", "")) for k, v in cfn.get("Parameters", {}).items()}
        self.values: dict[str, str] = {**declared, **SAMPLE, "AWS::Region": region, "AWS::Partition": partition}
        self.values.update(parameters)
        self.conditions: dict[str, bool] = {}
        for name, body in cfn.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(body))

    def arn(self, service: str, rest: str) -> str:
        v = self.values
        return f"arn:{v['AWS::Partition']}:{service}:{v['AWS::Region']}:{v['AWS::AccountId']}:{rest}"

    def physical(self, logical_id: str) -> str:
        """What ``Ref`` of a resource gives (an ARN, URL, id or name, by type)."""
        kind = self.cfn["Resources"][logical_id]["Type"]
        name = f"{self.values['AWS::StackName']}-{logical_id}"
        partition, region, account = (self.values[k] for k in ("AWS::Partition", "AWS::Region", "AWS::AccountId"))
        refs = {
            "AWS::SNS::Topic": self.arn("sns", name),
            "AWS::IAM::ManagedPolicy": f"arn:{partition}:iam::{account}:policy/{name}",
            "AWS::SQS::Queue": f"https://sqs.{region}.amazonaws.com/{account}/{name}",
            "AWS::KMS::Key": "0123abcd-0000-4000-8000-000000000000",
        }
        return refs.get(kind, name)

    def getatt(self, logical_id: str, attribute: str) -> str:
        """``Fn::GetAtt`` of a resource: its ARN in the shape of its type, or its name."""
        kind = self.cfn["Resources"][logical_id]["Type"]
        name = f"{self.values['AWS::StackName']}-{logical_id}"
        if attribute != "Arn":
            return name
        service = kind.split("::")[1].lower()
        if service == "iam":
            return f"arn:{self.values['AWS::Partition']}:iam::{self.values['AWS::AccountId']}:role/{name}"
        rest = {
            "dynamodb": f"table/{name}",
            "kms": f"key/{self.physical(logical_id)}",
            "events": f"rule/{name}",
            "lambda": f"function:{name}",
        }
        return self.arn(service, rest.get(service, name))

    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.resolve(item) for item in node if item != {"Ref": "AWS::NoValue"}]
        if not isinstance(node, dict):
            return node
        if len(node) != 1:
            return {key: self.resolve(value) for key, value in node.items()}
        ((key, arg),) = node.items()
        if key == "Ref":
            return self.values[arg] if arg in self.values else self.physical(arg)
        if key == "Fn::GetAtt":
            logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
            return self.getatt(logical_id, attribute)
        if key == "Fn::Sub":
            return self._sub(arg)
        if key == "Fn::Join":
            return str(arg[0]).join(str(p) for p in self.resolve(arg[1]))
        if key == "Fn::Split":
            return str(self.resolve(arg[1])).split(arg[0])
        if key == "Fn::Select":
            return self.resolve(arg[1])[int(self.resolve(arg[0]))]
        if key == "Fn::FindInMap":
            name, top, second = (self.resolve(a) for a in arg)
            return self.cfn["Mappings"][name][top][second]
        if key == "Fn::If":
            return self.resolve(arg[1] if self.conditions[arg[0]] else arg[2])
        if key == "Fn::Equals":
            left, right = (self.resolve(a) for a in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self.resolve(arg[0])
        if key == "Condition":
            return self.conditions[arg]
        return {key: self.resolve(arg)}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
        local = {name: str(self.resolve(value)) for name, value in variables.items()}

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in local:
                return local[name]
            if "." in name:
                return str(self.getatt(*name.split(".", 1)))
            return str(self.resolve({"Ref": name}))

        return re.sub(r"\$\{([^}!]+)\}", value, text)


def policy_documents(cfn: Template, resolver: Resolver) -> dict[str, dict[str, Any]]:
    """Every permission policy the stack creates, resolved, by ``<logical id>`` (``<role>/<policy name>`` inline)."""
    found: dict[str, dict[str, Any]] = {}
    for logical_id, resource in cfn["Resources"].items():
        condition = resource.get("Condition")
        if condition and not resolver.conditions[condition]:
            continue
        props = resource.get("Properties", {})
        kind = resource["Type"]
        if kind == "AWS::IAM::ManagedPolicy":
            found[logical_id] = resolver.resolve(props["PolicyDocument"])
        elif kind == "AWS::IAM::Role":
            for policy in props.get("Policies", []):
                found[f"{logical_id}/{policy['PolicyName']}"] = resolver.resolve(policy["PolicyDocument"])
        elif kind == "AWS::KMS::Key":
            found[logical_id] = resolver.resolve(props["KeyPolicy"])
        elif kind in {"AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}:
            found[logical_id] = resolver.resolve(props["PolicyDocument"])
    return found


def audit(name: str, document: dict[str, Any]) -> list[Finding]:
    """parliament's audit of one document, plus the pairwise action/ARN-type check."""
    from parliament import analyze_policy_string  # noqa: PLC0415 - development dependency

    findings: list[Finding] = []
    for finding in analyze_policy_string(json.dumps(document)).findings:
        details = finding.detail if isinstance(finding.detail, list) else [finding.detail]
        for detail in details:
            action = str(detail.get("action", "")) if isinstance(detail, dict) else str(detail)
            action = action if re.fullmatch(r"[a-z0-9-]+:[A-Za-z0-9*]+", action) else ""
            findings.append(Finding(name, finding.issue, action, json.dumps(detail, default=str)))
    resource_policy = any("Principal" in s for s in _statements(document))
    findings += pairwise(name, document, resource_policy=resource_policy)
    return findings


def pairwise(name: str, document: dict[str, Any], *, resource_policy: bool) -> list[Finding]:
    """Every (action, resource) of every Allow statement: the resource's own ARN type is one the action accepts.

    A resource's type is the most specific ARN format of its service it matches (``table/x/index/*`` is an index,
    although parliament's glob also lets it pass for ``table/*``)."""
    from parliament import expand_action  # noqa: PLC0415 - development dependency
    from parliament.statement import get_privilege_info  # noqa: PLC0415

    findings: list[Finding] = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        for action in _list(statement.get("Action")):
            for expanded in expand_action(action):
                info = get_privilege_info(expanded["service"], expanded["action"])
                accepted = {t["resource_type"].rstrip("*") for t in info["resource_types"] if t["resource_type"]}
                for resource in _list(statement.get("Resource")):
                    if resource == "*":
                        if accepted and not resource_policy:
                            findings.append(Finding(name, "RESOURCE_STAR", action, "'*' where ARNs are accepted"))
                        continue
                    kinds = resource_types_of(resource, info["service_resources"])
                    if not kinds & accepted:
                        detail = f"{expanded['service']}:{expanded['action']} on {resource} ({sorted(kinds)})"
                        detail += f"; accepts {sorted(accepted) or ['*']}"
                        findings.append(Finding(name, "PAIR_MISMATCH", action, detail))
    return _unique(findings)


def resource_types_of(arn: str, service_resources: list[dict[str, Any]]) -> set[str]:
    """The resource types of the service whose ARN format ``arn`` (a policy ARN, globs allowed) has, segment by
    segment: a glob stays inside its segment, so ``table/t/index/*`` is an index and never a table (parliament's
    own glob match lets it pass for ``table/*``). Only when no format fits that way may a format's last variable
    take the rest (names with ``/`` in them, such as log groups ``/aws/lambda/...``)."""
    formats = {d["resource"]: re.sub(r"\$\{.*?\}", "*", d["arn"]) for d in service_resources}
    exact = {kind for kind, arn_format in formats.items() if _fits(arn, arn_format, rest=False)}
    # then a variable may hold '/' (but never ':') anywhere: log-group:/aws-glue/crawlers:log-stream:name
    by_colon = exact or {kind for kind, arn_format in formats.items() if _fits_by_colon(arn, arn_format)}
    return by_colon or {kind for kind, arn_format in formats.items() if _fits(arn, arn_format, rest=True)}


def _fits_by_colon(arn: str, arn_format: str) -> bool:
    parts, fmt_parts = arn.split(":"), arn_format.split(":")
    if len(parts) != len(fmt_parts):
        return False
    return all(f == "*" or fnmatchcase(a, f) or fnmatchcase(f, a) for a, f in zip(parts, fmt_parts, strict=True))


def _fits(arn: str, arn_format: str, *, rest: bool) -> bool:
    head, fmt_head = arn.split(":", 5), arn_format.split(":", 5)
    if len(head) != 6 or len(fmt_head) != 6:
        return False
    if not all(f == "*" or fnmatchcase(a, f) or fnmatchcase(f, a) for a, f in zip(head[:5], fmt_head[:5], strict=True)):
        return False
    segments, fmt_segments = re.split(r"([:/])", head[5]), re.split(r"([:/])", fmt_head[5])
    if rest and fmt_segments[-1] == "*" and len(segments) > len(fmt_segments):
        segments = [*segments[: len(fmt_segments) - 1], "".join(segments[len(fmt_segments) - 1 :])]
    if len(segments) != len(fmt_segments):
        return False
    return all(f in {"*", a} or "*" in a for a, f in zip(segments, fmt_segments, strict=True))


def lint(
    template: Path = ROOT / "template.yaml", parameters: dict[str, str] | None = None, partition: str = "aws"
) -> list[Finding]:
    """Every finding over the stack's policies (exceptions included: see :func:`unexcused`)."""
    params = dict(parameters or {})
    region = PARTITIONS[partition]
    cfn = translate_template(template, params, region=region, account_id=SAMPLE["AWS::AccountId"])
    cfn.setdefault("Mappings", load_template(template).get("Mappings", {}))
    resolver = Resolver(cfn, params, partition)
    findings: list[Finding] = []
    for name, document in sorted(policy_documents(cfn, resolver).items()):
        findings += audit(name, document)
    return _unique(findings)


def unexcused(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.excuse() is None]


def unused_exceptions(findings: list[Finding]) -> list[tuple[str, str, str]]:
    """Exceptions no finding needs any more (the policy was fixed: drop the exception too)."""
    used = set()
    for finding in findings:
        for key in EXCEPTIONS:
            policy, issue, action = key
            if issue == finding.issue and fnmatchcase(finding.policy, policy) and fnmatchcase(finding.action, action):
                used.add(key)
    return [key for key in EXCEPTIONS if key not in used]


def _statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def _list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _unique(findings: list[Finding]) -> list[Finding]:
    return list(dict.fromkeys(findings))


def main() -> int:
    findings = lint(parameters={"MetadataTableName": "lakehouse-sandbox-pipeline-metadata"})
    for finding in findings:
        reason = finding.excuse()
        status = f"excused: {reason}" if reason else "FAIL"
        print(f"{finding.policy}: {finding.issue} {finding.action} {finding.detail}\n    {status}")
    return 1 if unexcused(findings) else 0


if __name__ == "__main__":
    sys.exit(main())
