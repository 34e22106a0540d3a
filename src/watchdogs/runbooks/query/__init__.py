"""The Athena query runbook: cancel stuck queries once, triage failed ones.

:mod:`.facts` types what is read (never the query text), :mod:`.rules` (failure classes) and :mod:`.cancel` (the
stuck-query cancel) decide purely, :mod:`.steps` declares the cancel's step, and :mod:`.remediator` is the thin
shell the engine calls.
"""

from typing import TYPE_CHECKING, Any

from watchdogs.runbooks.query.facts import dedup_key, findings_from_event
from watchdogs.runbooks.query.steps import STEPS

if TYPE_CHECKING:
    from watchdogs.runbooks.query.remediator import CONDITIONS, QueryRemediator


def __getattr__(name: str) -> Any:
    """The remediator's names, imported on first use: a sibling runbook reading a pure module of this package
    (Athena's correlation reads :mod:`.history`) does not load this remediator (cold start)."""
    if name in {"CONDITIONS", "QueryRemediator"}:
        from watchdogs.runbooks.query import remediator  # noqa: PLC0415

        return getattr(remediator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["CONDITIONS", "STEPS", "QueryRemediator", "dedup_key", "findings_from_event"]
