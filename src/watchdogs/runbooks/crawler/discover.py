"""The crawler runbook's discovery, for the sweep: stuck crawls, failed crawls no event told of, and recoveries.

Runbook "Troubleshoot Crawler Failures", step 3 ("Reset crawler if stuck") starts from here. ``GetCrawlers`` is
paged (1,000 a page) and filtered by prefix client-side (Glue has no name filter); ``GetTags`` is read only for a
crawler running past the tag floor, the incident history only for a failed crawl inside the look-back window.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import iso, parse_iso
from watchdogs.models.domain import Condition, ResourceType
from watchdogs.runbooks.discovery import AWS_ERRORS, seconds_between
from watchdogs.shared import crawler_arn, tag_floor, threshold_from_tags

if TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from mypy_boto3_glue.type_defs import CrawlerTypeDef

    from watchdogs.incidents import Incident
    from watchdogs.runbooks.discovery import DiscoveryContext, Found

#: GetCrawlers ``MaxResults`` (1..1000)
GLUE_PAGE_SIZE = 1000
#: IAM actions discovery uses: the listing, a candidate's tags, a failed crawl's incident history


def crawler_running_seconds(crawler: CrawlerTypeDef, now: datetime) -> float | None:
    """How long the current crawl has run: ``CrawlElapsedTime`` (ms) when Glue reports it, else since
    ``LastCrawl.StartTime`` (for a running crawler Glue may report the current crawl as the last one)."""
    elapsed_ms = crawler.get("CrawlElapsedTime") or 0
    if elapsed_ms > 0:
        return float(elapsed_ms) / 1000.0
    return seconds_between((crawler.get("LastCrawl") or {}).get("StartTime"), now)


def crawler_recovered(crawler: CrawlerTypeDef, active: list[Incident]) -> bool:
    """A crawler with active STUCK/FAILED incidents has recovered when it is READY and its last crawl SUCCEEDED --
    for a FAILED incident, a crawl that began after the failure was detected (the failed one began before)."""
    last = crawler.get("LastCrawl") or {}
    if crawler.get("State") != "READY" or last.get("Status") != "SUCCEEDED":
        return False
    relevant = [i for i in active if i.condition in {Condition.STUCK, Condition.FAILED}]
    if not relevant:
        return False  # NO_NEW_DATA needs the crawl's counters, which only the event carries
    started: datetime | None = last.get("StartTime")
    failures = [parse_iso(i.detected_at) for i in relevant if i.condition is Condition.FAILED]
    return not failures or (started is not None and started >= min(failures) - timedelta(seconds=1))


def discover(ctx: DiscoveryContext) -> list[Found]:
    """Crawlers in scope RUNNING/STOPPING past their threshold or with a failed last crawl nobody saw; and, for a
    crawler with active incidents that is READY again, one ``recovered`` finding (the lost ``Succeeded`` event)."""
    prefixes = tuple(ctx.settings.crawler_prefixes)
    if not prefixes:
        return []
    found: list[Found] = []
    recovered: list[Found] = []
    checked = 0
    for crawler in _list_crawlers(ctx):
        if not crawler["Name"].startswith(prefixes):
            continue
        checked += 1
        finding = _finding(ctx, crawler)
        if finding is not None:
            found.append(finding)
        recovery = _recovery(ctx, crawler)
        if recovery is not None:
            recovered.append(recovery)
    ctx.checked["crawlers"] = checked
    return found + recovered


def _list_crawlers(ctx: DiscoveryContext) -> Iterator[CrawlerTypeDef]:
    kwargs: dict[str, Any] = {"MaxResults": GLUE_PAGE_SIZE}
    while True:
        try:
            page = ctx.clients.glue.get_crawlers(**kwargs)
        except AWS_ERRORS as exc:
            ctx.error("crawler", "glue.GetCrawlers", "", exc)
            break
        yield from page.get("Crawlers", [])
        token = page.get("NextToken")
        if not token or ctx.out_of_time("further GetCrawlers pages"):
            break
        kwargs["NextToken"] = token


def _finding(ctx: DiscoveryContext, crawler: CrawlerTypeDef) -> Found | None:
    state = crawler.get("State", "")
    if state in {"RUNNING", "STOPPING"}:
        return _stuck(ctx, crawler, state)
    if state == "READY" and (crawler.get("LastCrawl") or {}).get("Status") == "FAILED":
        return _lost_failure(ctx, crawler)
    return None


def _stuck(ctx: DiscoveryContext, crawler: CrawlerTypeDef, state: str) -> Found | None:
    settings, name = ctx.settings, crawler["Name"]
    running = crawler_running_seconds(crawler, ctx.now)
    if running is None:
        return None
    if state == "STOPPING":
        # stopped by someone (or by us: then the incident's resume judges it from the stop's time); stuck while
        # stopping once the crawl overstays both limits, as the crawler runbook escalates it
        threshold, source = settings.crawler_stuck_seconds + settings.crawler_stopping_seconds, "default"
    else:
        default = settings.crawler_stuck_seconds
        if running < tag_floor(default):
            return None
        threshold, source = _threshold(ctx, name, default)
    if running < threshold:
        return None
    facts: dict[str, Any] = {"sweep": "discovery", "state": state, "running_seconds": round(running)}
    facts |= {"threshold_seconds": threshold, "threshold_source": source}
    return "stuck", ctx.finding(ResourceType.CRAWLER, name, Condition.STUCK, name, facts)


def _lost_failure(ctx: DiscoveryContext, crawler: CrawlerTypeDef) -> Found | None:
    name, last = crawler["Name"], crawler.get("LastCrawl") or {}
    started: datetime | None = last.get("StartTime")
    if started is None or started < ctx.now - timedelta(seconds=ctx.settings.sweep_lookback_seconds):
        return None
    if ctx.seen(ResourceType.CRAWLER, name, started, any_condition=False):
        return None
    facts: dict[str, Any] = {"sweep": "discovery", "state": "READY"}
    facts |= {"last_crawl_status": "FAILED", "last_crawl_started": iso(started)}
    if last.get("ErrorMessage"):
        facts["error_message"] = last["ErrorMessage"]
    return "lost-failure", ctx.finding(ResourceType.CRAWLER, name, Condition.FAILED, name, facts)


def _threshold(ctx: DiscoveryContext, name: str, default: int) -> tuple[int, str]:
    settings = ctx.settings
    if not settings.account_id:
        return default, "default"  # no account id: no crawler ARN to read tags of
    arn = crawler_arn(settings.region, settings.account_id, name)
    try:
        tags = ctx.clients.glue.get_tags(ResourceArn=arn).get("Tags", {})
    except AWS_ERRORS as exc:  # unknown tags: the default threshold still applies
        ctx.error("crawler", "glue.GetTags", name, exc)
        return default, "default"
    threshold, source, problem = threshold_from_tags(tags, settings.threshold_tag, default)
    if problem:
        ctx.warnings.append(f"crawler {name}: {problem}")
    return threshold, source


def _recovery(ctx: DiscoveryContext, crawler: CrawlerTypeDef) -> Found | None:
    """What the sweep's own GetCrawlers shows of a crawler with active incidents: READY, last crawl SUCCEEDED."""
    name = crawler["Name"]
    active = ctx.active(ResourceType.CRAWLER, name)
    if not active or not crawler_recovered(crawler, active):
        return None
    last = crawler.get("LastCrawl") or {}
    facts = {"sweep": "recovered", "state": "READY", "last_crawl_status": "SUCCEEDED"}
    if last.get("StartTime"):
        facts["last_crawl_started"] = iso(last["StartTime"])
    return "recovered", ctx.finding(ResourceType.CRAWLER, name, Condition.RECOVERED, name, facts)
