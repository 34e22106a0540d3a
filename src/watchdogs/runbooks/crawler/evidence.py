"""Evidence about a crawler, the way the runbook tells a person to look.

A failed crawl, "Troubleshoot Crawler Failures > Step 1: Check crawler run logs":

    aws logs filter-log-events --log-group-name /aws-glue/crawlers --log-stream-name-prefix <crawler> --limit 50

read as one ``GetLogEvents`` page (newest last) of the crawler's stream, of which the error lines are kept (the last
few lines when none says error). ``GetLogEvents`` can be granted on the crawler prefix's streams alone, which
``FilterLogEvents`` (log-group wide) cannot.

A successful crawl that changed nothing while new data is expected, "Crawler Not Finding New Data": does S3 hold
objects newer than the last crawl under the crawler's targets? One ``ListObjectsV2`` page per target (at most
:data:`MAX_TARGETS`), so a huge prefix costs one call: "no newer object" tells that no data landed (look upstream),
"newer objects" that the crawler missed them (path, format, exclusions: the runbook's checks).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import iso, parse_iso
from watchdogs.models.domain import Condition
from watchdogs.runbooks.crawler.permissions import GET_LOG_EVENTS, LIST_BUCKET
from watchdogs.runbooks.evidence import MAX_LINES, EvidenceUnavailableError, TimeBox, attempt

if TYPE_CHECKING:
    from datetime import datetime

    from watchdogs.clients import AwsClients
    from watchdogs.incidents import Evidence

LOG_GROUP = "/aws-glue/crawlers"
#: events read from the end of the stream (the runbook's --limit 50)
LOG_EVENTS = 50
#: the reads evidence may make, per condition (granted by template.yaml, checked by the IAM meta-test)
EVIDENCE_READS: dict[Condition, tuple[str, ...]] = {
    Condition.FAILED: (GET_LOG_EVENTS,),
    Condition.NO_NEW_DATA: (LIST_BUCKET,),
}
#: S3 targets listed, and keys per listing (one page)
MAX_TARGETS = 3
PAGE_KEYS = 1000

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


def newer_objects(clients: AwsClients, targets: list[str], since: datetime | None, box: TimeBox) -> list[str]:
    """Per S3 target: how many objects of its first listing page are newer than the last crawl's start."""
    if since is None:
        raise EvidenceUnavailableError("GetCrawler reported no start time for the last crawl")
    lines: list[str] = []
    for target in targets[:MAX_TARGETS]:
        bucket, _, prefix = target.removeprefix("s3://").partition("/")
        box.check("ListObjectsV2")
        page = clients.s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=PAGE_KEYS)
        objects = page.get("Contents", [])
        newer = sorted((o for o in objects if o["LastModified"] > since), key=lambda o: o["LastModified"])
        more = " (first page only)" if page.get("IsTruncated") else ""
        if newer:
            last = newer[-1]
            lines.append(
                f"{target}: {len(newer)} of {len(objects)} objects listed{more} are newer than the last crawl; "
                f"newest {last['Key']} at {iso(last['LastModified'])}"
            )
        else:
            lines.append(f"{target}: none of {len(objects)} objects listed{more} is newer than the last crawl")
    lines.append(f"Last crawl started at {iso(since)}")
    return lines


def gather(
    clients: AwsClients, condition: Condition, crawler: str, facts: dict[str, Any], box: TimeBox
) -> list[Evidence]:
    """The evidence the runbook asks for about this crawler condition (each item may be unavailable)."""
    if condition is Condition.NO_NEW_DATA and facts.get("s3_targets"):
        started = facts.get("last_crawl_started_at")
        since = parse_iso(str(started)) if started else None
        targets = [str(t) for t in facts["s3_targets"]]
        title = "Objects newer than the last crawl under its targets (runbook: Crawler Not Finding New Data)"
        source = "s3:" + ",".join(targets[:MAX_TARGETS])
        return [attempt("new-data", title, source, lambda: newer_objects(clients, targets, since, box), box)]
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
