"""Step tables: the states of a multi-step remediation and the transitions allowed between them.

Like moto's ``ManagedState``, but as data a runbook declares: each runbook names its steps (an enum) and the
steps each one may move to. The engine refuses a decision whose ``next_step`` is not allowed from the incident's
current step (a runbook bug must never drive an action), and ``docs/lifecycle.md`` is generated from the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

#: the step of an incident with nothing pending
IDLE = "idle"


@dataclass(frozen=True)
class StepTable:
    """``transitions[step]`` = steps reachable from ``step``. ``IDLE`` (no pending step) is implicit in both
    directions: any step may end (back to idle) and ``starts`` are the steps a remediation may begin with."""

    name: str
    starts: frozenset[str]
    transitions: Mapping[str, frozenset[str]] = field(default_factory=dict)
    descriptions: Mapping[str, str] = field(default_factory=dict)
    #: steps whose progress no event announces (a crawler going STOPPING -> READY): entering one arms a step
    #: timer (:func:`watchdogs.timers.arm_step`) so the next step is taken within seconds, not at the next sweep
    follow_up: frozenset[str] = frozenset()

    @property
    def steps(self) -> list[str]:
        found = set(self.starts) | set(self.transitions)
        for targets in self.transitions.values():
            found |= targets
        return sorted(found)

    def allows(self, current: str | None, nxt: str | None) -> bool:
        """Whether a remediation at ``current`` may move to ``nxt`` (``None`` is idle)."""
        if nxt is None or nxt == current:
            return True
        if current is None:
            return nxt in self.starts
        return nxt in self.transitions.get(current, frozenset()) or nxt in self.starts

    def mermaid(self) -> str:
        """The table as a Mermaid state diagram (docs/lifecycle.md)."""
        lines = ["stateDiagram-v2"]
        for start in sorted(self.starts):
            lines.append(f"    [*] --> {start}")
        for step in self.steps:
            for target in sorted(self.transitions.get(step, frozenset())):
                lines.append(f"    {step} --> {target}")
            lines.append(f"    {step} --> [*]")
        for step, text in sorted(self.descriptions.items()):
            lines.append(f"    {step}: {step} - {text}")
        return "\n".join(lines)
