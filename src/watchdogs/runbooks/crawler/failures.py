"""The crawler runbook's issue table, pure: "Troubleshoot Crawler Failures > Step 2: Common issues and solutions".

Each row (:class:`FailureRule`) is the runbook's issue, what the watchdogs do about it and the advice a person gets;
:func:`classify_failure` matches a crawl's error message against the rows. Decisions are :mod:`.rules`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from watchdogs.shared import ACCESS_DENIED_PATTERNS, TRANSIENT_PATTERNS

RUNBOOK_FAILURES = "Glue Crawler Operations > Troubleshoot Crawler Failures > Step 2: Common issues and solutions"
RUNBOOK_RESET = "Glue Crawler Operations > Troubleshoot Crawler Failures > Step 3: Reset crawler if stuck"
RUNBOOK_NO_NEW_DATA = "Troubleshooting > Crawler Not Finding New Data"


# ------------------------------------------------------------------------------------------------ issue table
class FailureClass(StrEnum):
    ACCESS_DENIED = "access-denied"
    SCHEMA_MISMATCH = "schema-mismatch"
    NO_TABLES = "no-tables-created"
    TRANSIENT = "transient"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class FailureRule:
    """One row of the runbook's "Common issues and solutions" table (plus transient service errors)."""

    failure_class: FailureClass
    issue: str
    cause: str
    solution: str
    patterns: tuple[str, ...]

    def matches(self, message: str) -> bool:
        return any(re.search(pattern, message, re.IGNORECASE) for pattern in self.patterns)

    @property
    def fix(self) -> str:
        return f"Runbook: {self.issue} | {self.cause} | {self.solution}"


#: checked in order: a message that names both a permission and a service fault is a permission problem,
#: because a retry can never fix it
FAILURE_TABLE: tuple[FailureRule, ...] = (
    FailureRule(
        FailureClass.ACCESS_DENIED,
        issue="Access Denied",
        cause="IAM permissions",
        solution="Verify crawler role has S3 read access",
        patterns=(
            *ACCESS_DENIED_PATTERNS,
            r"not authori[sz]ed",
            r"unauthori[sz]ed",
            r"status code: ?403",
            r"permission",
            r"assume ?role",
            r"kms.*(denied|disabled)",
        ),
    ),
    FailureRule(
        FailureClass.SCHEMA_MISMATCH,
        issue="Schema mismatch",
        cause="Inconsistent file formats",
        solution="Ensure consistent schema across files",
        patterns=(
            r"schema",
            r"incompatible",
            r"mismatch",
            r"HIVE_[A-Z_]+",
            r"(cannot|unable to|could not) (parse|infer|read|deserialize)",
            r"malformed",
            r"classifier",
            r"serde",
            r"inconsistent",
            r"not a (valid )?(parquet|orc|avro|json|csv) file",
            r"corrupt",
        ),
    ),
    FailureRule(
        FailureClass.NO_TABLES,
        issue="No tables created",
        cause="Empty S3 prefix",
        solution="Check data exists in target prefix",
        patterns=(
            r"no ?such ?(key|bucket)",
            r"bucket does not exist",
            r"(path|prefix|location|folder) (does not exist|not found|is empty)",
            r"no (files|objects|data) (were )?(found|to crawl)",
            r"no tables (were )?created",
            r"empty (s3 )?(prefix|path|folder)",
        ),
    ),
    FailureRule(
        FailureClass.TRANSIENT,
        issue="Transient service error",
        cause="Throttling, an internal Glue/S3 fault or too many concurrent runs",
        solution="Restart the crawler (aws glue start-crawler) once the service recovers",
        patterns=(
            *TRANSIENT_PATTERNS,
            r"concurrent ?runs? ?exceeded",
            r"concurrent ?modification",
            r"connect(ion)? (reset|refused|closed|timed out)",
            r"temporar(il)?y",
            r"try again",
        ),
    ),
)
UNKNOWN_RULE = FailureRule(
    FailureClass.UNKNOWN,
    issue="Unrecognised failure",
    cause="Not in the runbook's issue table",
    solution="Check the crawler run logs (runbook Step 1) and classify the failure",
    patterns=(),
)
STUCK_RULE = FailureRule(
    FailureClass.UNKNOWN,
    issue="Crawler stuck",
    cause="Large dataset",
    solution="Increase crawler timeout or use sampling",
    patterns=(),
)


def classify_failure(message: str | None) -> FailureRule:
    """The runbook row a crawl's error message belongs to (``UNKNOWN_RULE`` when none matches)."""
    if not message or not message.strip():
        return UNKNOWN_RULE
    return next((rule for rule in FAILURE_TABLE if rule.matches(message)), UNKNOWN_RULE)
