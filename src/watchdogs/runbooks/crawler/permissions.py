"""The IAM actions the crawler runbook's sweep-only and evidence-only paths need, declared apart from the code that
makes the calls: the remediator class carries them (the IAM meta-test reads them there) without importing that code
on the event path (cold start)."""

from __future__ import annotations

GET_LOG_EVENTS = "logs:GetLogEvents"
LIST_BUCKET = "s3:ListBucket"
#: IAM actions :mod:`.discover` uses
DISCOVERY_PERMISSIONS: tuple[str, ...] = ("glue:GetCrawlers", "glue:GetTags", "dynamodb:Query")
#: IAM actions :mod:`.evidence` uses
EVIDENCE_PERMISSIONS: tuple[str, ...] = (GET_LOG_EVENTS, LIST_BUCKET)
