"""The execution runbook's steps: what a pipeline run's incident may be waiting for between two sweeps.

A step is a plain value; what it waits *on* (a crawler, a workgroup) lives in the incident's facts
(``facts["heal"]["target"]``), so the step table stays small and the engine can check every transition.
"""

from __future__ import annotations

from enum import StrEnum

from watchdogs.lifecycle.steps import StepTable


class Step(StrEnum):
    HEAL = "heal"  # waiting on the heal of its cause (a crawler reset, a cancelled query), within a grace
    WATCH = "watch"  # waiting on Athena work still under its threshold: nothing to heal yet
    AWAIT_REDRIVE = "await_redrive"  # a failed run was redriven: its next status change settles it

    @classmethod
    def parse(cls, raw: str | None) -> Step | None:
        """The step of a stored incident. Incidents written before steps were plain values carry the target in
        the step (``heal:crawler:<name>``, ``heal:athena:<workgroup>``, ``watch:athena:<workgroup>``)."""
        if not raw:
            return None
        head = raw.split(":", 1)[0]
        try:
            return cls(head)
        except ValueError:
            return None


def legacy_target(raw: str | None) -> str | None:
    """The target an old ``heal:<kind>:<name>`` / ``watch:<kind>:<name>`` step carried (None for a plain step)."""
    if not raw or ":" not in raw:
        return None
    return raw.split(":", 1)[1] or None


STEPS = StepTable(
    name="execution",
    starts=frozenset({Step.HEAL, Step.WATCH, Step.AWAIT_REDRIVE}),
    transitions={
        Step.HEAL: frozenset({Step.WATCH}),
        Step.WATCH: frozenset({Step.HEAL}),
        Step.AWAIT_REDRIVE: frozenset(),
    },
    descriptions={
        Step.HEAL: "waiting on the heal of its cause, within the heal's grace",
        Step.WATCH: "waiting on Athena work under its threshold",
        Step.AWAIT_REDRIVE: "redriven; waiting for its next status change",
    },
)
