"""``python -m watchdogs_local.timers_bench``: time-to-detect with and without stuck timers, in the embedded demo.

Plays the demo's stuck scenarios (crawler, query, run) on its compressed clock (thresholds: crawler and query 3 s,
run 45 s) under each design and prints, per kind, how long after the resource started its STUCK incident was
detected, minus the threshold; then the AWS calls one sweep makes when nothing is wrong at the runbook's scale (the
sandbox lakehouse), measured.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any

from watchdogs_local.demo import DEMO_PARAMETERS, Demo, Played, Scenario

#: (label, timers fire, seconds between sweeps)
DESIGNS: tuple[tuple[str, bool, float], ...] = (
    ("timers, sweep every 30 s", True, 30.0),
    ("no timers, sweep every 2 s", False, 2.0),
    ("no timers, sweep every 8 s", False, 8.0),
)
#: the stuck scenarios played, and the kinds measured (in the printed order)
PLAYED = ("stuck-crawler", "stuck-query", "stuck-run")
KINDS = ("crawler", "query", "execution")


class _Measured(Demo):
    """The demo, keeping per stuck resource: its start, its detection, and one quiet sweep's calls."""

    lags: dict[str, float]
    sweep_calls: dict[str, int] | None = None

    def play(self, scenario: Scenario, number: int, total: int) -> Played:
        if scenario.key == "stuck-run" and self.sweep_calls is None:
            # measured before the run is played: once it has ended ABORTED, every sweep within SweepLookbackSeconds
            # also looks it up in the incident store (one more Query: not the cost of a quiet day)
            self.sweep_calls = self._quiet_sweep()
        return super().play(scenario, number, total)

    def report(self) -> None:
        from watchdogs_local import faults  # noqa: PLC0415

        self.lags = {}
        for played in self.played:
            ctx = played.context
            if "crawler" in ctx and played.scenario.key == "stuck-crawler":
                incident = self.incident("crawler", ctx["crawler"], "STUCK")
                detected = _at(incident.detected_at) if incident else datetime.now(UTC)
                # the hung crawl: the newest one started before the detection (the restart and the later pipeline
                # runs' crawls of the same crawler came after it)
                starts = [_utc(c.start_time) for c in faults._crawler(ctx["crawler"]).crawls]
                started = max((s for s in starts if s <= detected), default=starts[0])
                self._lag("crawler", ctx["crawler"], started, float(DEMO_PARAMETERS["CrawlerStuckSeconds"]))
            if played.scenario.key == "stuck-query":
                status = self.athena.get_query_execution(QueryExecutionId=ctx["query"])["QueryExecution"]["Status"]
                started = _utc(status["SubmissionDateTime"])
                self._lag("query", ctx["query"], started, float(DEMO_PARAMETERS["QueryStuckSeconds"]))
            if played.scenario.key == "stuck-run":
                started = _utc(self.sfn.describe_execution(executionArn=ctx["execution"])["startDate"])
                self._lag("execution", ctx["execution"], started, float(DEMO_PARAMETERS["ExecutionStuckSeconds"]))
        if self.sweep_calls is None:
            self.sweep_calls = self._quiet_sweep()

    def _lag(self, kind: str, resource: str, started: datetime, threshold: float) -> None:
        incident = self.incident(kind, resource, "STUCK")
        if incident is not None:
            self.lags[kind] = (_at(incident.detected_at) - started).total_seconds() - threshold

    def _quiet_sweep(self) -> dict[str, int]:
        from watchdogs_local.router import ApiCallMeter  # noqa: PLC0415

        assert self.router is not None
        self.router.tick()  # settles what the scenarios left (a resume, the cursor); the next one is quiet
        meter = ApiCallMeter().install()
        self.router.release()
        try:
            self.router.label = "quiet-sweep"
            self.router.tick()
        finally:
            self.router.label = None
            meter.uninstall()
        return dict(meter.of("quiet-sweep"))


def _at(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _utc(moment: Any) -> datetime:
    value: datetime = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return value


def measure(index: int) -> dict[str, Any]:
    """One design, in this process (moto's backends are per process: one deployment each)."""
    _label, timers, every = DESIGNS[index]
    demo = _Measured(io.StringIO(), only=list(PLAYED), sweep_every=every, timers=timers)
    code = demo.run()
    failed = [p.scenario.key for p in demo.played if not p.passed]
    return {
        "exit": code,
        "failed": failed,
        "lags": getattr(demo, "lags", {}),
        "calls": getattr(demo, "sweep_calls", {}),
    }


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--one"]:
        print(json.dumps(measure(int(args[1]))))
        return 0
    rows: list[str] = []
    calls: dict[str, int] = {}
    for index, (label, _timers, _every) in enumerate(DESIGNS):
        run = subprocess.run(  # noqa: S603 - this module, this interpreter
            [sys.executable, "-m", "watchdogs_local.timers_bench", "--one", str(index)],
            capture_output=True,
            text=True,
            check=True,
        )
        result = json.loads(run.stdout.strip().splitlines()[-1])
        lags, calls = result["lags"], result["calls"] or calls
        cells = "  ".join(f"{k} +{lags[k]:.1f} s" if k in lags else f"{k} -" for k in KINDS)
        failed = f": {', '.join(result['failed'])} failed" if result.get("failed") else ""
        rows.append(f"{label:<28} {cells}   (demo exit {result['exit']}{failed})")
    p = DEMO_PARAMETERS
    print(
        f"detected after the threshold (compressed clock: crawler {p['CrawlerStuckSeconds']} s, "
        f"query {p['QueryStuckSeconds']} s, execution {p['ExecutionStuckSeconds']} s):"
    )
    print("\n".join(rows))
    print(f"one sweep with nothing wrong (sandbox scale): {sum(calls.values())} calls {dict(sorted(calls.items()))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
