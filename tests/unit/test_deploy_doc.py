"""docs/deploy.md's IAM policies for the deployer and its CloudFormation service role pass the same IAM lint as the
template's own policies (tests/unit/test_iam_lint.py), with the placeholders filled in."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from watchdogs_local.iam_lint import audit

DOC = (Path(__file__).resolve().parents[2] / "docs" / "deploy.md").read_text(encoding="utf-8")
SAMPLE = {"REGION": "eu-west-1", "ACCOUNT": "123456789012", "STACK": "acme-watchdogs-prod"}
#: findings the document's policies are right to keep, with the reason (the doc says the same)
KEPT = {
    ("deployer-policy", "INVALID_ARN", ""): "the SAM transform's ARN names account 'aws', as AWS documents it",
    ("deployer-policy", "PAIR_MISMATCH", "cloudformation:CreateChangeSet"): "the same transform ARN",
    ("service-role-policy", "RESOURCE_MISMATCH", "sns:Unsubscribe"): "Unsubscribe takes no resource ARN ('*')",
    ("service-role-policy", "RESOURCE_MISMATCH", "logs:DescribeLogGroups"): "DescribeLogGroups is on '*' only",
}


def _policy(tag: str) -> dict[str, object]:
    match = re.search(rf"```json {tag}\n(.*?)\n```", DOC, re.DOTALL)
    assert match, f"docs/deploy.md has no ```json {tag} block"
    text = match.group(1)
    for placeholder, value in SAMPLE.items():
        text = re.sub(rf"\b{placeholder}\b", value, text)
    document: dict[str, object] = json.loads(text)
    return document


@pytest.mark.parametrize("tag", ["deployer-policy", "service-role-policy"])
def test_the_documented_policies_pass_the_iam_lint(tag: str) -> None:
    findings = [f for f in audit(tag, _policy(tag)) if (f.policy, f.issue, f.action) not in KEPT]
    assert findings == [], "\n".join(f"{f.issue} {f.action} {f.detail}" for f in findings)


def test_the_deployer_itself_can_only_pass_the_service_role() -> None:
    statements = _policy("deployer-policy")["Statement"]
    assert isinstance(statements, list)
    granted = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    # nothing that creates resources directly: CloudFormation does that with the service role
    assert {a.split(":")[0] for a in granted} == {"cloudformation", "s3", "iam"}
    assert [a for a in granted if a.startswith("iam:")] == ["iam:PassRole"]
