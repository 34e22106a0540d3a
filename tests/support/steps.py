"""A guard for runbook tests: every decision a test makes must move its incident along the declared step table."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import Incident

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import pytest

    from watchdogs.lifecycle.steps import StepTable
    from watchdogs.models.domain import Decision


def checked_steps(decide: Callable[..., Decision], table: StepTable) -> Callable[..., Decision]:
    """``decide``, asserting that its ``next_step`` is allowed from the pending step of the incident it was given
    (the first :class:`Incident` argument; none: the incident is new, its step idle)."""

    @functools.wraps(decide)
    def wrapper(*args: Any, **kwargs: Any) -> Decision:
        decision = decide(*args, **kwargs)
        incident = next((a for a in (*args, *kwargs.values()) if isinstance(a, Incident)), None)
        current = incident.pending_step if incident is not None else None
        assert table.allows(current, decision.next_step), (
            f"{decide.__name__}: step {current or 'idle'} -> {decision.next_step} is not in the {table.name} table"
        )
        return decision

    return wrapper


def guard_steps(monkeypatch: pytest.MonkeyPatch, namespace: object, names: Iterable[str], table: StepTable) -> None:
    """Replace each decision function ``namespace.<name>`` (a test module, a remediator class) by its checked twin."""
    for name in names:
        monkeypatch.setattr(namespace, name, checked_steps(getattr(namespace, name), table))
