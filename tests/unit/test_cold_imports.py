"""Cold start: a function loads only the modules its own paths use (docs/performance.md, "What changed").

Each case runs a fresh interpreter that imports one handler and everything ``runtime()`` imports when the first event
arrives (settings, clients, engine, the remediator registry and the handler's own runbook), then lists the watchdogs
modules loaded. Modules that only some paths need (the alert renderer and outbox when publishing, diagnosis and a
runbook's evidence when gathering, discovery on the sweep, other services' runbooks) must not be among them.
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchdogs.coldstart import cold_start_phase

SRC = Path(__file__).resolve().parents[2] / "src"

PROBE = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
import watchdogs.clients, watchdogs.engine, watchdogs.remediators
from watchdogs.remediators import RUNBOOKS
for module, name in RUNBOOKS.values():
    if module in sys.argv[2:]:
        getattr(importlib.import_module(module), name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("watchdogs"))))
"""

#: never on an event's first import, whatever the path: loaded by the step that needs them
ON_DEMAND = (
    "watchdogs.alerts",
    "watchdogs.notifier",
    "watchdogs.outbox",
    "watchdogs.diagnosis",
    "watchdogs.runbooks.evidence",
    "watchdogs.runbooks.crawler.evidence",
    "watchdogs.runbooks.query.evidence",
    "watchdogs.runbooks.execution.evidence",
)
SWEEP_ONLY = (
    "watchdogs.sweep",
    "watchdogs.runbooks.discovery",
    "watchdogs.runbooks.crawler.discover",
    "watchdogs.runbooks.query.discover",
    "watchdogs.runbooks.execution.discover",
)

CASES = {
    "glue": (
        "watchdogs.handlers.glue",
        ["watchdogs.runbooks.crawler"],
        (*ON_DEMAND, *SWEEP_ONLY, "watchdogs.runbooks.query", "watchdogs.runbooks.execution"),
    ),
    "athena": (
        "watchdogs.handlers.athena",
        ["watchdogs.runbooks.query"],
        # the correlation reads the execution runbook's history reader, not its remediator
        (*ON_DEMAND, *SWEEP_ONLY, "watchdogs.runbooks.crawler", "watchdogs.runbooks.execution.remediator"),
    ),
    "states": (
        "watchdogs.handlers.states",
        ["watchdogs.runbooks.execution"],
        (*ON_DEMAND, *SWEEP_ONLY, "watchdogs.runbooks.crawler", "watchdogs.runbooks.query"),
    ),
    "sweep": (
        "watchdogs.handlers.sweep",
        ["watchdogs.runbooks.crawler", "watchdogs.runbooks.query", "watchdogs.runbooks.execution"],
        ON_DEMAND,
    ),
}


def loaded_modules(handler: str, runbooks: list[str]) -> list[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run(
        [sys.executable, "-c", PROBE, handler, *runbooks], env=env, capture_output=True, text=True, check=True
    )
    modules: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return modules


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_function_loads_only_what_its_paths_use(case: str) -> None:
    handler, runbooks, refused = CASES[case]
    modules = loaded_modules(handler, runbooks)
    # the probe did load the handler's own runbook (so the refusals below are about a real first invocation)
    assert all(any(m.startswith(f"{r}.remediator") for m in modules) for r in runbooks), modules
    loaded = [m for m in modules if any(m == r or m.startswith(f"{r}.") for r in refused)]
    assert loaded == [], f"{case}: loaded on the first event though no path of it needs them: {loaded}"


def test_the_probe_sees_modules_that_are_loaded() -> None:
    # Given a probe that also imports the alert renderer's user, the check would report it (it can fail)
    modules = loaded_modules("watchdogs.notifier", [])
    assert "watchdogs.alerts" in modules


# ---------------------------------------------------------------------------------------------- the collector pause
def _failing_import(seen: list[bool]) -> None:
    with cold_start_phase("test: first pass"):
        seen.append(gc.isenabled())
        raise RuntimeError("an import that fails")


def test_a_cold_start_phase_pauses_the_collector_once_and_always_turns_it_back_on() -> None:
    assert gc.isenabled()
    frozen_before = gc.get_freeze_count()
    seen: list[bool] = []
    with pytest.raises(RuntimeError):
        _failing_import(seen)
    assert seen == [False]  # paused inside the phase
    assert gc.isenabled()  # on again, after an exception too
    assert gc.get_freeze_count() > frozen_before  # what the phase built is frozen: later passes skip it
    with cold_start_phase("test: first pass"):
        assert gc.isenabled()  # a second pass of the same phase runs with the collector on
