"""`make bench`: cold start and peak memory of each function, as interleaved A/B pairs against the floor.

The floor is exactly ``python -c "import boto3; boto3.client('dynamodb').list_tables()"`` against the same
embedded emulator: a fresh process that imports boto3, builds one client and makes one call. A function run is a
fresh process that imports the deployed handler and handles one event (benchmarks/_child.py). Runs alternate
(floor, function, function, floor, ...: ABBA, so a drift of the machine's load hits both sides alike) and every
pair gives one ratio; a row reports the median ratio with its min-max. The ratio is of CPU time (user + system of
the child process): on a shared machine it is far steadier than wall time, which is shown beside it. The emulator
runs in this process, so its own work is never charged to either side. Both sides load bytecode from a cache of
this run's own (``PYTHONPYCACHEPREFIX``), which one unmeasured warm-up pair per row fills: no side compiles.

Each row measures the path it names: the incident table is emptied and a fresh event (new id, new query or run)
is prepared before every function run, and the handler's outcome is checked against the row's expected outcome.

    python benchmarks/run.py [--repeat N] [--rows glue,athena,...] [--code DIR] [--no-write]

``--code DIR`` measures another checkout's src/ and template.yaml (e.g. ``--code /work/main`` for a before/after);
the table in docs/performance.md and the README is rewritten unless ``--no-write`` (or ``--code``) is given.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from scenarios import ROWS, Bench, Row

from watchdogs_local.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
CHILD = Path(__file__).with_name("_child.py")
DOC = ROOT / "docs" / "performance.md"
README = ROOT / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
FLOOR = "import boto3; boto3.client('dynamodb').list_tables()"
REPORT = (
    "; import json; print(json.dumps({'peak_mb': int(next(l for l in open('/proc/self/status') "
    "if l.startswith('VmHWM:')).split()[1]) / 1024, 'calls': ['ListTables']}))"
)


@dataclass
class Run:
    cpu: float
    wall: float
    info: dict[str, Any]


@dataclass
class Result:
    row: Row
    ratios: list[float] = field(default_factory=list)
    wall_ratios: list[float] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    floors: list[Run] = field(default_factory=list)


def spawn(args: list[str], env: dict[str, str]) -> Run:
    """One fresh process; its CPU time from this process's children rusage (one child at a time)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, check=False, timeout=300)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed ({args[:2]}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(cpu=cpu, wall=wall, info=json.loads(proc.stdout.strip().splitlines()[-1]))


def measure(bench: Bench, row: Row, repeat: int, floor_code: str = FLOOR) -> Result:
    result = Result(row=row)
    function = bench.deployment.functions[row.function] if row.function else None
    env = {**bench.env, **(function.environment if function else {}), **bench.emulator.environment()}
    for i in range(-1, repeat):  # pair -1 is a warm-up (it writes the bytecode cache, see main), not measured
        if function is not None:
            event = row.prepare(bench, i)
            path = Path(tempfile.mkstemp(suffix=".json")[1])
            path.write_text(json.dumps(event))
            subject = [str(CHILD), function.handler, str(path)]
        else:
            subject = ["-c", row.code + REPORT]
        order = ("floor", "subject") if i % 2 == 0 else ("subject", "floor")
        got: dict[str, Run] = {}
        for side in order:
            got[side] = spawn(["-c", floor_code + REPORT], bench.env) if side == "floor" else spawn(subject, env)
        if function is not None:
            path.unlink()
            outcome = got["subject"].info["outcome"]
            if outcome != row.expect:
                raise SystemExit(f"{row.key}: run {i} ended {outcome!r}, not {row.expect!r}: not the path it names")
        if i < 0:
            continue
        result.runs.append(got["subject"])
        result.floors.append(got["floor"])
        result.ratios.append(got["subject"].cpu / got["floor"].cpu)
        result.wall_ratios.append(got["subject"].wall / got["floor"].wall)
    return result


def render(results: list[Result], repeat: int) -> str:
    floor_cpu = statistics.median(r.cpu for res in results for r in res.floors)
    floor_mb = max(r.info["peak_mb"] for res in results for r in res.floors)
    lines = [
        f"Cold start = a fresh process importing the handler and handling one event; ratio = its CPU time over the"
        f" floor's in the same interleaved pair; median (min-max) of {repeat} pairs. Floor: `{FLOOR}`,"
        f" {floor_cpu * 1000:.0f} ms CPU, {floor_mb:.0f} MB.",
        "",
        "| path | function | x floor (CPU) | min-max | x floor (wall) | peak MB | AWS calls | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for res in results:
        ratio = statistics.median(res.ratios)
        calls = statistics.median(len(r.info["calls"]) for r in res.runs)
        target = f"≤ {res.row.target:.1f}" + (" ✓" if ratio <= res.row.target else " ✗") if res.row.target else "-"
        lines.append(
            f"| {res.row.title} | {res.row.function or '-'} | {ratio:.2f} | {min(res.ratios):.2f}-"
            f"{max(res.ratios):.2f} | {statistics.median(res.wall_ratios):.2f} | "
            f"{max(r.info['peak_mb'] for r in res.runs):.0f} | {calls:.0f} | {target} |"
        )
    return "\n".join(lines)


def rewrite_doc(table: str) -> None:
    """The table between the bench markers of docs/performance.md and of the README (tests/unit/test_readme.py
    keeps the two the same)."""
    for doc in (DOC, README):
        text = doc.read_text()
        head, rest = text.split(START, 1)
        _, tail = rest.split(END, 1)
        doc.write_text(f"{head}{START}\n{table}\n{END}{tail}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "11")))
    parser.add_argument("--rows", default=",".join(r.key for r in ROWS))
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose src/ and template.yaml to measure")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/performance.md alone")
    args = parser.parse_args()
    rows = [r for r in ROWS if r.key in args.rows.split(",")]
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWERTOOLS_"))}
    base["PYTHONPATH"] = os.pathsep.join([str(args.code.resolve() / "src"), base.get("PYTHONPATH", "")])
    # Both sides load bytecode, never compile: a deployed package ships it (`make build` compiles it), as the
    # runtime's boto3 does. The cache lives in a directory of this run, so no side profits from an earlier run.
    base.pop("PYTHONDONTWRITEBYTECODE", None)
    pycache = tempfile.TemporaryDirectory(prefix="bench-pycache-")
    base["PYTHONPYCACHEPREFIX"] = pycache.name
    with pycache, Emulator() as emulator:
        os.environ.update(emulator.environment())
        deployment = emulator.deploy(args.code.resolve() / "template.yaml", parameters={"WatchdogMode": "remediate"})
        bench = Bench(emulator=emulator, deployment=deployment, env={**base, **emulator.environment()})
        bench.provision()
        results = [measure(bench, row, args.repeat) for row in rows]
    table = render(results, args.repeat)
    print(table)
    for res in results:
        calls = sorted({",".join(r.info["calls"]) for r in res.runs})
        print(f"  {res.row.key}: calls {calls}")
    if not args.no_write and args.code.resolve() == ROOT:
        rewrite_doc(table)
        print(f"rewrote the table in {DOC.relative_to(ROOT)} and {README.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
