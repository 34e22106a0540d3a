"""Evidence for a failed crawler, the runbook's "Troubleshoot Crawler Failures > Step 1: Check crawler run logs":

    aws logs filter-log-events --log-group-name /aws-glue/crawlers --log-stream-name-prefix <crawler> --limit 50

read as one ``GetLogEvents`` page (newest last) of the crawler's stream, of which the error lines are kept (the last
few lines when none says error). ``GetLogEvents`` can be granted on the crawler prefix's streams alone, which
``FilterLogEvents`` (log-group wide) cannot.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import Condition
from watchdogs.runbooks.evidence import MAX_LINES, EvidenceUnavailableError, TimeBox, attempt

if TYPE_CHECKING:
    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Evidence

LOG_GROUP = "/aws-glue/crawlers"
#: events read from the end of the stream (the runbook's --limit 50)
LOG_EVENTS = 50
GET_LOG_EVENTS = "logs:GetLogEvents"
#: the reads evidence may make, per condition (granted by template.yaml, checked by the IAM meta-test)
EVIDENCE_READS: dict[Condition, tuple[str, ...]] = {Condition.FAILED: (GET_LOG_EVENTS,)}
EVIDENCE_PERMISSIONS: tuple[str, ...] = (GET_LOG_EVENTS,)

_ERROR = re.compile(r"error|exception|denied|fail", re.IGNORECASE)


def error_lines(messages: list[str], keep: int = MAX_LINES) -> list[str]:
    """The last ``keep`` lines that read like errors; the last few lines when none does (pure)."""
    errors = [m for m in messages if _ERROR.search(m)]
    return (errors or messages[-3:])[-keep:]


def crawler_log(clients: AwsClients, crawler: str, box: TimeBox) -> list[str]:
    """The last error lines of the crawler's log stream (one page, from the end)."""
    from botocore.exceptions import ClientError  # noqa: PLC0415

    box.check("GetLogEvents")
    try:
        page: dict[str, Any] = dict(
            clients.logs.get_log_events(
                logGroupName=LOG_GROUP, logStreamName=crawler, startFromHead=False, limit=LOG_EVENTS
            )
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise EvidenceUnavailableError(f"no log stream {crawler} in {LOG_GROUP} (the crawl wrote no log)") from exc
        raise
    messages = [str(e.get("message", "")) for e in page.get("events", []) if e.get("message")]
    if not messages:
        return ["(the stream holds no events)"]
    return error_lines(messages)


def gather(clients: AwsClients, condition: Condition, crawler: str, box: TimeBox) -> list[Evidence]:
    """The evidence the runbook asks for about this crawler condition (each item may be unavailable)."""
    if condition is not Condition.FAILED:
        return []
    return [
        attempt(
            "crawler-log",
            f"Last error lines of the crawler's log ({LOG_GROUP}, stream {crawler})",
            f"logs:{LOG_GROUP}:{crawler}",
            lambda: crawler_log(clients, crawler, box),
            box,
        )
    ]
