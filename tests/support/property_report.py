"""The property tests' counts in pytest's terminal summary, shown without ``-s`` in the gate (``make test``, under
pytest-xdist: each worker hands its counts to the controller) and in ``make soak``: how many histories and steps
each history test covered in this run. Registered by ``tests/conftest.py``."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest

_KEY = "property_histories"
_MERGED: dict[str, dict[str, int]] = {}


def _local() -> dict[str, dict[str, int]]:
    """The ``STATS`` of every property test module this process ran (``histories`` > 0)."""
    covered: dict[str, dict[str, int]] = {}
    for name, module in sorted(sys.modules.items()):
        stats = getattr(module, "STATS", None) if name.startswith("tests.property.test_") else None
        if isinstance(stats, dict) and stats.get("histories"):
            covered[name.rsplit(".", 1)[-1]] = dict(stats)
    return covered


def _merge(covered: dict[str, dict[str, int]]) -> None:
    for test, stats in covered.items():
        total = _MERGED.setdefault(test, {})
        for key, value in stats.items():
            total[key] = total.get(key, 0) + value


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the counts to the controller
        workeroutput[_KEY] = json.dumps(_local())


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    _merge(json.loads(getattr(node, "workeroutput", {}).get(_KEY, "{}")))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    _merge(_local())
    if not _MERGED:
        return
    terminalreporter.section("property histories")
    for test, stats in sorted(_MERGED.items()):
        extra = ", ".join(f"{k} {v}" for k, v in stats.items() if k not in {"histories", "steps"})
        terminalreporter.write_line(f"{test}: {stats['histories']} histories, {stats['steps']} steps ({extra})")
