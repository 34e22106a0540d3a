"""The Glue crawler runbook: "Glue Crawler Operations" and "Crawler Not Finding New Data", automated.

:mod:`.facts` types what is read, :mod:`.rules` (failures, the issue table), :mod:`.reset` (the stuck-crawler
reset) and :mod:`.recovery` (successes, no new data, starts) decide purely, :mod:`.steps` declares the reset's
steps, and :mod:`.remediator` is the thin shell the engine calls.
"""

from typing import TYPE_CHECKING, Any

from watchdogs.runbooks.crawler.facts import findings_from_event
from watchdogs.runbooks.crawler.steps import STEPS

if TYPE_CHECKING:
    from watchdogs.runbooks.crawler.remediator import CONDITIONS, CrawlerRemediator


def __getattr__(name: str) -> Any:
    """The remediator's names, imported on first use: a sibling runbook reading a pure module of this package
    (Athena's correlation reads :mod:`.history`) does not load this remediator (cold start)."""
    if name in {"CONDITIONS", "CrawlerRemediator"}:
        from watchdogs.runbooks.crawler import remediator  # noqa: PLC0415

        return getattr(remediator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CONDITIONS", "STEPS", "CrawlerRemediator", "findings_from_event"]
