"""Glue crawlers in the emulator: what ``GetCrawler`` reports in AWS, and crawls that fail with an error.

Moto 5 models a crawler as a list of crawls, each a state machine (RUNNING -> COMPLETED, STOPPING -> STOPPED under
``moto.moto_api.state_manager`` model ``glue::crawl``; the default progression is manual and advances only on
``ListCrawls``, so a crawl stays RUNNING until a test moves it). Its ``GetCrawler`` reports the *current* crawl as
``LastCrawl`` with moto's own status names, no ``ErrorMessage`` and ``CrawlElapsedTime`` always 0, and a crawl can
never fail. This module, in-process:

* renders ``GetCrawler`` / ``GetCrawlers`` / ``BatchGetCrawlers`` as Glue does: ``CrawlElapsedTime`` (ms since the
  current crawl began) while RUNNING or STOPPING, and ``LastCrawl`` describing the last *finished* crawl with
  ``Status`` SUCCEEDED | CANCELLED | FAILED and its ``ErrorMessage``;
* answers ``StopCrawler`` on a STOPPING crawler with ``CrawlerStoppingException`` and ``StartCrawler`` on a
  STOPPING crawler with ``CrawlerRunningException``, as Glue does;
* exposes :func:`set_crawl`, the fault-injection hook tests and the local demo use to start, stop, finish, fail
  (with an error message) or backdate the current crawl of a crawler.

Only the emulator is patched; the product code calls the real APIs unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, Literal

ACCOUNT_ID = "123456789012"
REGION = "us-east-1"
MODEL_NAME = "glue::crawl"

#: moto's crawl status -> Glue's ``LastCrawl.Status``
_LAST_CRAWL_STATUS = {"COMPLETED": "SUCCEEDED", "STOPPED": "CANCELLED", "FAILED": "FAILED"}
_ACTIVE = frozenset({"RUNNING", "STOPPING"})

CrawlState = Literal["RUNNING", "STOPPING", "SUCCEEDED", "CANCELLED", "FAILED"]
_MOTO_STATUS: dict[str, str] = {
    "RUNNING": "RUNNING",
    "STOPPING": "STOPPING",
    "SUCCEEDED": "COMPLETED",
    "CANCELLED": "STOPPED",
    "FAILED": "FAILED",
}

_installed = False


def _last_crawl(crawl: Any) -> dict[str, Any]:
    last: dict[str, Any] = {
        "Status": _LAST_CRAWL_STATUS.get(crawl.status, crawl.status),
        "LogGroup": crawl.log_group,
        "LogStream": crawl.log_stream,
        "MessagePrefix": crawl.message_prefix,
        "StartTime": crawl.start_time,
    }
    error = getattr(crawl, "error_message", None)
    if error:
        last["ErrorMessage"] = error
    return last


def _render(crawler: Any, data: dict[str, Any]) -> dict[str, Any]:
    from moto.core.utils import utcnow  # noqa: PLC0415

    data.pop("LastCrawl", None)
    data["CrawlElapsedTime"] = 0
    finished = [crawl for crawl in crawler.crawls if crawl.status not in _ACTIVE]
    if crawler.crawls and crawler.crawls[-1].status in _ACTIVE:
        elapsed = (utcnow() - crawler.crawls[-1].start_time).total_seconds()
        data["CrawlElapsedTime"] = max(1, int(elapsed * 1000))
    if finished:
        data["LastCrawl"] = _last_crawl(finished[-1])
    return data


def install() -> None:
    """Patch moto's Glue crawler model in this process (idempotent)."""
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    if _installed:
        return
    from moto.glue.exceptions import CrawlerRunningException, GlueClientError  # noqa: PLC0415
    from moto.glue.models import FakeCrawler  # noqa: PLC0415

    original_as_dict = FakeCrawler.as_dict
    original_start = FakeCrawler.start_crawler
    original_stop = FakeCrawler.stop_crawler

    def as_dict(self: Any) -> dict[str, Any]:
        return _render(self, original_as_dict(self))

    def start_crawler(self: Any) -> None:
        if self.crawls and self.crawls[-1].status == "STOPPING":
            raise CrawlerRunningException(f"Crawler with name {self.name} is stopping")
        original_start(self)

    def stop_crawler(self: Any) -> None:
        if self.crawls and self.crawls[-1].status == "STOPPING":
            raise GlueClientError("CrawlerStoppingException", f"Crawler with name {self.name} is already stopping")
        original_stop(self)

    FakeCrawler.as_dict = as_dict  # type: ignore[method-assign]
    FakeCrawler.start_crawler = start_crawler  # type: ignore[method-assign]
    FakeCrawler.stop_crawler = stop_crawler  # type: ignore[method-assign]
    _installed = True


def get_crawler_model(name: str, *, account_id: str = ACCOUNT_ID, region: str = REGION) -> Any:
    """moto's crawler object (in-process)."""
    from moto.glue.models import glue_backends  # noqa: PLC0415

    return glue_backends[account_id][region].get_crawler(name)


def set_crawl(
    name: str,
    state: CrawlState,
    *,
    error_message: str | None = None,
    running_for_seconds: float | None = None,
    account_id: str = ACCOUNT_ID,
    region: str = REGION,
) -> None:
    """Fault injection: put the crawler's current crawl into ``state`` (starting a crawl first if none is running).

    ``FAILED`` records ``error_message`` as Glue's ``LastCrawl.ErrorMessage``; ``running_for_seconds`` backdates
    the crawl's start (how long it has been running, for stuck crawlers).
    """
    from moto.core.utils import utcnow  # noqa: PLC0415
    from moto.glue.models import FakeCrawl  # noqa: PLC0415

    crawler = get_crawler_model(name, account_id=account_id, region=region)
    if not crawler.crawls or crawler.crawls[-1].status not in _ACTIVE:
        crawler.crawls.append(FakeCrawl(crawler.name))
    crawl = crawler.crawls[-1]
    crawl.status = _MOTO_STATUS[state]
    crawl.error_message = error_message if state == "FAILED" else None
    if running_for_seconds is not None:
        crawl.start_time = utcnow() - timedelta(seconds=running_for_seconds)
    if state not in _ACTIVE:
        crawl.end_time = utcnow()
