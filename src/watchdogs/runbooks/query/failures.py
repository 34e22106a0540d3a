"""The query runbook's failure classes, pure: "Athena Query Timeout" and "dbt Model Failures".

A failed query is classified from ``AthenaError`` (category 1 system, 2 user, 3 other; type; message; retryable)
against the runbook's failure classes (:data:`FAILURE_CLASSES`): :func:`classify_failure`, :func:`classify_facts`.
Decisions are :mod:`.rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from watchdogs.models.domain import Outcome, Severity
from watchdogs.shared import ACCESS_DENIED_PATTERNS, compile_patterns

if TYPE_CHECKING:
    from watchdogs.runbooks.query.facts import QueryFacts

RUNBOOK_TIMEOUT = "Athena Query Timeout"
RUNBOOK_MODEL = "dbt Model Failures"
RUNBOOK_PERMISSION = "dbt Model Failures: 3. Permission errors"

#: Athena error catalog: types 206 and 210 are "Query timed out"; 0-8 "Query exhausted resources at this scale"
TIMEOUT_ERROR_TYPES = frozenset({206, 210})
EXHAUSTED_ERROR_TYPES = frozenset(range(9))
#: Athena error catalog: 234 is "Lake Formation error" (a missing grant)
PERMISSION_ERROR_TYPES = frozenset({234})

#: the AWS-wide denials plus Athena's and Lake Formation's own wording. Not "not authorized" alone: "... cannot be
#: resolved or requester is not authorized to access requested resources" is Athena's message for a missing
#: column (a user SQL error)
_PERMISSION = compile_patterns(
    ACCESS_DENIED_PATTERNS, (r"permission denied", r"insufficient (lake formation )?permissions?")
)
_CUTOFF = re.compile(r"bytes scanned limit|BytesScannedCutoff|data scanned limit", re.IGNORECASE)
_TIMEOUT = re.compile(r"\btime ?out\b|\btimed out\b|exceeded the maximum (query )?(execution|run) ?time", re.IGNORECASE)
_EXHAUSTED = re.compile(r"exhausted resources|resources exhausted", re.IGNORECASE)

OPTIMISATION_ADVICE = [
    "Add partition filters to reduce data scanned (runbook: Athena Query Timeout, 1).",
    "Use LIMIT for exploratory queries (runbook: Athena Query Timeout, 1).",
    "Select only the required columns (runbook: Athena Query Timeout, 1).",
    "Check the data size of the tables read: aws s3 ls s3://<data-lake>/<layer>/<table>/ --recursive --summarize "
    "(runbook: Athena Query Timeout, 2).",
    "Check the workgroup limits (aws athena get-work-group): BytesScannedCutoffPerQuery, and the DML query timeout "
    "quota; raise them only once the query is optimised (runbook: Athena Query Timeout, 3).",
]


# ------------------------------------------------------------------------------------------------ classification
@dataclass(frozen=True)
class FailureClass:
    """How one kind of query failure is handled: outcome, severity, runbook section and advice."""

    name: str
    outcome: Outcome
    severity: Severity
    runbook: str
    headline: str
    advice: tuple[str, ...] = ()


FAILURE_CLASSES: dict[str, FailureClass] = {
    c.name: c
    for c in (
        FailureClass(
            "permission-denied",
            Outcome.ESCALATE,
            Severity.HIGH,
            RUNBOOK_PERMISSION,
            "failed on a permission error: a grant is missing, nothing to retry",
            (
                "Verify the Athena workgroup has write access to the S3 curated prefix and its query-results "
                "location (runbook: dbt Model Failures, 3).",
                "Check the IAM role attached to Athena / the dbt executor Lambda, and Lake Formation grants on the "
                "tables read (runbook: dbt Model Failures, 3).",
            ),
        ),
        FailureClass(
            "bytes-scanned-cutoff",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_TIMEOUT,
            "hit the workgroup's bytes-scanned cutoff (BytesScannedCutoffPerQuery)",
            tuple(OPTIMISATION_ADVICE),
        ),
        FailureClass(
            "query-timeout",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_TIMEOUT,
            "timed out",
            tuple(OPTIMISATION_ADVICE),
        ),
        FailureClass(
            "resources-exhausted",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_TIMEOUT,
            "exhausted resources at this scale factor",
            tuple(OPTIMISATION_ADVICE),
        ),
        FailureClass(
            "transient-system-error",
            Outcome.NOTIFY,
            Severity.INFO,
            RUNBOOK_MODEL,
            "failed on a transient Athena error marked retryable: recorded only, Athena and dbt retry it",
            ("Nothing to do unless it keeps failing: the retry's outcome is recorded on this incident.",),
        ),
        FailureClass(
            "user-sql-error",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_MODEL,
            "failed on an error in the query itself (SQL, schema or data): the model's owner must fix it",
            (
                "Run the model with debug output and read its compiled SQL: dbt run --select <model> --debug; "
                "target/compiled/... (runbook: dbt Model Failures, diagnosis).",
                "Schema mismatch: compare the source columns with the model and update it "
                "(runbook: dbt Model Failures, 1).",
                "Dependency failure: run the upstream models first, dbt run --select +<model> "
                "(runbook: dbt Model Failures, 4).",
            ),
        ),
        FailureClass(
            "system-error",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_MODEL,
            "failed on an Athena system error that Athena does not mark retryable",
            ("Re-run the model; if the error persists, open a case with AWS Support quoting the query id.",),
        ),
        FailureClass(
            "unclassified-failure",
            Outcome.NOTIFY,
            Severity.WARNING,
            RUNBOOK_MODEL,
            "failed; Athena gave no error category",
            ("Check the query execution details: aws athena get-query-execution --query-execution-id <id>.",),
        ),
    )
}

#: the classes whose runbook diagnosis reads the workgroup limits (``aws athena get-work-group``)
NEEDS_WORKGROUP_LIMITS = frozenset({"bytes-scanned-cutoff", "query-timeout", "resources-exhausted"})


def classify_failure(
    category: int | None,
    error_type: int | None,
    message: str | None,
    retryable: bool | None,
    reason: str | None = None,
) -> FailureClass:
    """Classify an Athena failure. Order matters: permission first (retrying cannot help), then the runbook's
    "Athena Query Timeout" family (cutoff, timeout, exhausted resources), then Athena's own retryable flag, then
    the category (2 = user: the query's owner fixes it; 1 = system)."""
    text = " ".join(t for t in (message, reason) if t)
    if (error_type in PERMISSION_ERROR_TYPES) or _PERMISSION.search(text):
        return FAILURE_CLASSES["permission-denied"]
    if _CUTOFF.search(text):
        return FAILURE_CLASSES["bytes-scanned-cutoff"]
    if error_type in TIMEOUT_ERROR_TYPES or _TIMEOUT.search(text):
        return FAILURE_CLASSES["query-timeout"]
    if (category == 1 and error_type in EXHAUSTED_ERROR_TYPES) or _EXHAUSTED.search(text):
        return FAILURE_CLASSES["resources-exhausted"]
    if retryable:
        return FAILURE_CLASSES["transient-system-error"]
    if category == 2:
        return FAILURE_CLASSES["user-sql-error"]
    if category in (1, 3):
        return FAILURE_CLASSES["system-error"]
    return FAILURE_CLASSES["unclassified-failure"]


def classify_facts(facts: QueryFacts) -> FailureClass | None:
    """Classification from facts; ``None`` when they hold no error information at all."""
    error = (facts.error_category, facts.error_type, facts.error_message, facts.retryable, facts.state_change_reason)
    if all(part is None for part in error):
        return None
    return classify_failure(*error)
