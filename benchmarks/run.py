"""`make bench`: cold start and peak memory of every function, beside the floor measured in the same run.

For each function of template.yaml (as deployed into the embedded emulator), a fresh Python process imports the
handler and handles one real-shaped sample event, its AWS calls answered by the emulator on loopback. The floor
is a fresh process that imports boto3 and creates one client. Each is run REPEAT times; medians are printed.
Cold start = wall time from process spawn to exit (interpreter start included on both sides).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from watchdogs_local.emulator import Emulator
from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("_child.py")
REPEAT = int(os.environ.get("BENCH_REPEAT", "7"))
TARGET_RATIO = 1.3
SAMPLES = {
    "GlueCrawlerWatchdogFunction": "glue-crawler-failed-access-denied.json",
    "AthenaQueryWatchdogFunction": "athena-query-failed-user-sql-error.json",
    "StepFunctionsWatchdogFunction": "stepfunctions-execution-succeeded.json",
    "SweepFunction": "sweep-scheduled.json",
}


def fresh_event(name: str, run: int) -> Path:
    """The sample with a new event id (and Athena sequence number), so no run is a de-duplicated replay."""
    event = json.loads((ROOT / "events" / name).read_text())
    event["id"] = str(uuid.uuid4())
    if event.get("source") == "aws.athena":
        event["detail"]["sequenceNumber"] = str(1000 + run)
    handle = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)  # noqa: SIM115
    json.dump(event, handle)
    handle.close()
    return Path(handle.name)


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, dict[str, float]]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(CHILD), *args], env=env, capture_output=True, text=True, check=False, timeout=120
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({args}):\n{proc.stderr[-3000:]}")
    return wall, json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    base_env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    with Emulator() as emulator:
        os.environ.update(emulator.environment())
        deployment = emulator.deploy(parameters={"WatchdogMode": "remediate"})
        provision_lakehouse(emulator.session(), LakehouseNames(env="sandbox"))
        floor_env = {**base_env, **emulator.environment()}
        floors = [run_child(["floor"], floor_env) for _ in range(REPEAT)]
        floor_wall = statistics.median(w for w, _ in floors)
        floor_mem = statistics.median(r["peak_mb"] for _, r in floors)
        rows = []
        variants = [(logical_id, sample, {}) for logical_id, sample in SAMPLES.items()]
        # what TraceAwsCalls=true costs: Powertools Tracer with the X-Ray SDK, as inside Lambda
        traced = {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": str(ROOT / "src")}
        variants.append(("GlueCrawlerWatchdogFunction", SAMPLES["GlueCrawlerWatchdogFunction"], traced))
        for logical_id, sample, extra in variants:
            function = deployment.functions[logical_id]
            env = {**base_env, **function.environment, **emulator.environment(), **extra}
            runs = [run_child(["handler", function.handler, str(fresh_event(sample, i))], env) for i in range(REPEAT)]
            wall = statistics.median(w for w, _ in runs)
            mem = max(r["peak_mb"] for _, r in runs)
            phases = (
                statistics.median(r["import_s"] for _, r in runs),
                statistics.median(r["handle_s"] for _, r in runs),
                max(r["calls"] for _, r in runs),
            )
            label = f"{logical_id} +TraceAwsCalls" if extra else logical_id
            rows.append((label, wall, wall / floor_wall, mem, phases))

    print(f"cold start: fresh process -> first event handled (median of {REPEAT}; AWS answered by the local emulator)")
    print(
        f"{'function':44} {'cold start':>11} {'x floor':>8} {'peak MB':>8} {'import':>8} {'handle':>8} {'AWS calls':>9}"
    )
    print(f"{'floor: import boto3 + 1 client':44} {floor_wall * 1000:9.0f}ms {1.0:8.2f} {floor_mem:8.1f}")
    worst = 0.0
    for logical_id, wall, ratio, mem, (imp, handle, calls) in rows:
        worst = max(worst, ratio)
        flag = "" if ratio <= TARGET_RATIO else "  <-- over target"
        print(
            f"{logical_id:44} {wall * 1000:9.0f}ms {ratio:8.2f} {mem:8.1f} {imp * 1000:6.0f}ms {handle * 1000:6.0f}ms"
            f" {calls:9d}{flag}"
        )
    print(f"target: every function within {TARGET_RATIO}x the floor; worst {worst:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
