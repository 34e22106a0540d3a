"""The IAM actions the query runbook's sweep-only and evidence-only paths need, declared apart from the code that
makes the calls: the remediator class carries them (the IAM meta-test reads them there) without importing that code
on the event path (cold start)."""

from __future__ import annotations

#: IAM actions :mod:`.discover` uses
DISCOVERY_PERMISSIONS: tuple[str, ...] = ("athena:ListQueryExecutions", "athena:BatchGetQueryExecution")
#: evidence reads beyond the decision's own: none
EVIDENCE_PERMISSIONS: tuple[str, ...] = ()
