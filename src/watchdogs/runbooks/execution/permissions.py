"""The IAM actions the Step Functions runbook's sweep-only and evidence-only paths need, declared apart from the code
that makes the calls: the remediator class carries them (the IAM meta-test reads them there) without importing that
code on the event path (cold start)."""

from __future__ import annotations

GET_QUERY = "athena:GetQueryExecution"
GET_WORK_GROUP = "athena:GetWorkGroup"
START_QUERY = "athena:StartQueryExecution"
GET_RESULTS = "athena:GetQueryResults"
#: the reads evidence may make (StartQueryExecution only in the pipeline workgroup, for the Elementary query)
EVIDENCE_PERMISSIONS: tuple[str, ...] = (GET_QUERY, GET_WORK_GROUP, START_QUERY, GET_RESULTS)
#: IAM actions discovery uses: the listings, a candidate machine's tags, a failed run's incident history
DISCOVERY_PERMISSIONS: tuple[str, ...] = (
    "states:ListStateMachines",
    "states:ListExecutions",
    "states:ListTagsForResource",
    "dynamodb:Query",
)
