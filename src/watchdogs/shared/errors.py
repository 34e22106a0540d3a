"""AWS error codes and messages that mean the same thing in every service the watchdogs read.

Only the AWS-wide rules live here (throttling, a fault on the service's side, an IAM denial); each runbook keeps
its own table of service-specific patterns next to its classification (Glue's issue table, Step Functions' error
names, Athena's error catalog) and adds these to it. Patterns are regex fragments, matched case-insensitively.
"""

from __future__ import annotations

import re

#: throttled by an AWS API: ``ThrottlingException``, ``Rate exceeded``, ``TooManyRequestsException``,
#: ``RequestLimitExceeded``, S3's ``SlowDown``, DynamoDB's ``ProvisionedThroughputExceededException``
THROTTLING_PATTERNS: tuple[str, ...] = (
    r"throttl",
    r"rate exceeded",
    r"too ?many ?requests",
    r"request ?limit ?exceeded",
    r"slow ?down",
    r"provisioned ?throughput ?exceeded",
)

#: a fault on the service's side that a retry may clear: ``InternalServerError``, ``InternalFailure``,
#: ``InternalServiceException``, ``InternalError``, ``ServiceUnavailable``
SERVICE_FAULT_PATTERNS: tuple[str, ...] = (
    r"internal ?(server|service)? ?(error|exception|failure)",
    r"service ?(is )?(temporarily )?unavailable",
)

#: an IAM or resource-policy denial: ``AccessDenied(Exception)``, ``Access Denied``, ``User: ... is not authorized
#: to perform: ...``, ``Forbidden``. Deliberately not "not authorized" alone: Athena says "... or requester is not
#: authorized to access requested resources" for a missing column, a user error (see ``runbooks/query/rules.py``).
ACCESS_DENIED_PATTERNS: tuple[str, ...] = (
    r"access ?denied",
    r"is not authori[sz]ed to perform",
    r"forbidden",
)

#: what a retry can fix, AWS-wide
TRANSIENT_PATTERNS: tuple[str, ...] = (*THROTTLING_PATTERNS, *SERVICE_FAULT_PATTERNS)


def compile_patterns(*groups: tuple[str, ...]) -> re.Pattern[str]:
    """One case-insensitive regex matching any fragment of the given groups (shared ones plus a service's own)."""
    return re.compile("|".join(f"(?:{p})" for group in groups for p in group), re.IGNORECASE)


THROTTLING = compile_patterns(THROTTLING_PATTERNS)
TRANSIENT = compile_patterns(TRANSIENT_PATTERNS)
ACCESS_DENIED = compile_patterns(ACCESS_DENIED_PATTERNS)
