"""The Glue crawler runbook: "Glue Crawler Operations" and "Crawler Not Finding New Data", automated.

:mod:`.facts` types what is read, :mod:`.rules` (failures, the issue table), :mod:`.reset` (the stuck-crawler
reset) and :mod:`.recovery` (successes, no new data, starts) decide purely, :mod:`.steps` declares the reset's
steps, and :mod:`.remediator` is the thin shell the engine calls.
"""

from watchdogs.runbooks.crawler.facts import findings_from_event
from watchdogs.runbooks.crawler.remediator import CONDITIONS, CrawlerRemediator
from watchdogs.runbooks.crawler.steps import STEPS

__all__ = ["CONDITIONS", "STEPS", "CrawlerRemediator", "findings_from_event"]
