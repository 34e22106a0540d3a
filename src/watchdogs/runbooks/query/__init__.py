"""The Athena query runbook: cancel stuck queries once, triage failed ones.

:mod:`.facts` types what is read (never the query text), :mod:`.rules` (failure classes) and :mod:`.cancel` (the
stuck-query cancel) decide purely, :mod:`.steps` declares the cancel's step, and :mod:`.remediator` is the thin
shell the engine calls.
"""

from watchdogs.runbooks.query.facts import dedup_key, findings_from_event
from watchdogs.runbooks.query.remediator import CONDITIONS, QueryRemediator
from watchdogs.runbooks.query.steps import STEPS

__all__ = ["CONDITIONS", "STEPS", "QueryRemediator", "dedup_key", "findings_from_event"]
