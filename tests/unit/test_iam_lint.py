"""IAM checked offline: parliament (and a pairwise action/ARN-type check) over every policy the stack creates."""

from __future__ import annotations

from functools import cache

import pytest

from watchdogs_local.iam_lint import EXCEPTIONS, Finding, audit, lint, unexcused, unused_exceptions

METADATA = {"MetadataTableName": "lakehouse-sandbox-pipeline-metadata"}


@cache
def _findings(with_metadata: bool) -> tuple[Finding, ...]:
    return tuple(lint(parameters=METADATA if with_metadata else {}))


@pytest.mark.parametrize("with_metadata", [True, False], ids=["metadata-table", "no-metadata-table"])
def test_every_policy_passes_the_linter_or_is_a_listed_exception(with_metadata: bool) -> None:
    # Given every policy document the stack creates, intrinsics resolved with sample values
    findings = list(_findings(with_metadata))
    # Then each finding is one the exceptions list, with its reason
    assert unexcused(findings) == [], "\n".join(f"{f.policy}: {f.issue} {f.detail}" for f in unexcused(findings))


def test_every_exception_is_still_needed() -> None:
    # an exception nothing needs any more hides the next regression of the same kind
    assert unused_exceptions(list(_findings(True))) == []
    assert all(len(reason) > 40 for reason in EXCEPTIONS.values())


def test_the_lint_sees_the_policies_of_every_capability() -> None:
    # the exceptions are found where expected: the resolver reached the managed policies, roles and key policy
    policies = {f.policy for f in _findings(True)}
    assert {"SweepDiscoveryPolicy", "PipelineHealPolicy", "AthenaQueryHealPolicy", "WatchdogKey"} <= policies


def test_an_item_action_on_an_index_arn_is_a_pair_mismatch() -> None:
    # Given a statement that grants item writes on the table and its indexes (Query is the only index action)
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["dynamodb:Query", "dynamodb:PutItem"],
                "Resource": [
                    "arn:aws:dynamodb:us-east-1:123456789012:table/incidents",
                    "arn:aws:dynamodb:us-east-1:123456789012:table/incidents/index/*",
                ],
            }
        ],
    }
    # When audited / Then the PutItem on the index is reported, the Query is not
    mismatches = [f for f in audit("Doc", document) if f.issue == "PAIR_MISMATCH"]
    assert [f.action for f in mismatches] == ["dynamodb:PutItem"]
    assert "index" in mismatches[0].detail


def test_an_action_on_another_services_arn_is_reported() -> None:
    # Given a crawler action granted on a workgroup ARN
    document = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "glue:StartCrawler",
                "Resource": "arn:aws:athena:us-east-1:123456789012:workgroup/primary",
            }
        ],
    }
    issues = {(f.issue, f.action) for f in audit("Doc", document)}
    # Then both parliament and the pairwise check report it
    assert ("RESOURCE_MISMATCH", "glue:StartCrawler") in issues
    assert ("PAIR_MISMATCH", "glue:StartCrawler") in issues


def test_a_mutating_action_on_star_is_reported() -> None:
    document = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "states:StopExecution", "Resource": "*"}],
    }
    assert ("RESOURCE_STAR", "states:StopExecution") in {(f.issue, f.action) for f in audit("Doc", document)}
