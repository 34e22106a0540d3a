"""The property tests' counts in pytest's terminal summary (shown without ``-s``, in the gate and in ``make soak``):
how many histories and steps each history test covered in this run."""

from __future__ import annotations

import sys
from typing import Any


def pytest_terminal_summary(terminalreporter: Any) -> None:
    covered = []
    for name, module in sorted(sys.modules.items()):
        stats = getattr(module, "STATS", None) if name.startswith("tests.property.test_") else None
        if isinstance(stats, dict) and stats.get("histories"):
            covered.append((name.rsplit(".", 1)[-1], stats))
    if not covered:
        return
    terminalreporter.section("property histories")
    for test, stats in covered:
        extra = ", ".join(f"{k} {v}" for k, v in stats.items() if k not in {"histories", "steps"})
        terminalreporter.write_line(f"{test}: {stats['histories']} histories, {stats['steps']} steps ({extra})")
