"""Every sample in events/ through real ``sam local invoke`` (a Lambda container), against the embedded emulator.

``make sam-local`` runs ``sam build`` and ``../shared/tools/sam-local-engine.sh setup`` (a local container engine
and Lambda base image, offline), then this module, which:

1. builds the functions (``sam build --build-dir`` a private directory, so a concurrent ``sam build`` in the
   project cannot pull the template from under the running invokes);
2. starts the emulator bound to ``0.0.0.0`` (functions in containers reach the host at ``172.17.0.1``);
3. for every sample, on fresh state (:func:`watchdogs_local.samples.prepare`: ``template.yaml`` deployed, the
   runbook's lakehouse provisioned, the resources the sample names seeded in the state it describes), writes an
   ``--env-vars`` file (SAM's format: each deployed function's environment, pointed at the emulator), runs
   ``sam local invoke <Function> -e events/<sample>.json --skip-pull-image --env-vars <file>`` and checks what
   the container did against ``events/expected/index.json``: the outcome it returned, the classification on the
   incident it wrote, the action it took (a sample that is not declared, or differs, fails).

SAM only overrides variables a function declares: the template declares ``AWS_ENDPOINT_URL`` (empty, which boto3
treats as unset) so that an ``--env-vars`` file can point the functions at an emulator; without it the check stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from watchdogs_local.emulator import FAKE_CREDENTIALS, REGION, ROOT, Emulator
from watchdogs_local.local_lines import DOCKER_HOST_IP, env_local
from watchdogs_local.samples import STACK as STACK_NAME


@dataclass
class Outcome:
    sample: str
    function: str
    seconds: float
    ok: bool
    detail: str


def sam_binary() -> str:
    found = shutil.which("sam")
    if found:
        return found
    local = ROOT / ".tools" / "sam" / "bin" / "sam"
    if local.exists():
        return str(local)
    raise SystemExit("sam-local: no `sam` on PATH and no .tools/sam (run `make tools`)")


def declares_endpoint(built: Path) -> bool:
    """Whether the built template's functions declare ``AWS_ENDPOINT_URL`` (else --env-vars cannot set it)."""
    from watchdogs_local.template import load_template  # noqa: PLC0415

    template = load_template(built)
    declared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
    functions = [r for r in template["Resources"].values() if r.get("Type") == "AWS::Serverless::Function"]
    return "AWS_ENDPOINT_URL" in declared or all(
        "AWS_ENDPOINT_URL" in r.get("Properties", {}).get("Environment", {}).get("Variables", {}) for r in functions
    )


def result_of(stdout: str) -> Any:
    """The function's result: the last line of ``sam local invoke``'s stdout that is JSON."""
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def run(samples: list[Path], *, timeout: float = 180) -> int:
    """``sam build`` into a private directory (a concurrent ``sam build`` in the project cannot pull the template
    from under the running invokes), then check every sample."""
    build_dir = Path(tempfile.mkdtemp(prefix="sam-local-check-"))
    try:
        return _run(samples, build_dir, timeout)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def _run(samples: list[Path], build_dir: Path, timeout: float) -> int:
    sam = sam_binary()
    environment = {**os.environ, **FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION, "SAM_CLI_TELEMETRY": "0"}
    print(f"sam-local: sam build --build-dir {build_dir}", flush=True)
    built = build_dir / "template.yaml"
    subprocess.run(  # noqa: S603
        [sam, "build", "--build-dir", str(build_dir)], cwd=ROOT, env=environment, check=True, capture_output=True
    )
    if not declares_endpoint(built):
        print(
            "sam-local: the functions declare no AWS_ENDPOINT_URL and SAM only overrides declared variables:"
            ' they cannot be pointed at the emulator (declare AWS_ENDPOINT_URL: "" in Globals)',
            flush=True,
        )
        return 2

    from watchdogs_local.samples import Observer, load_samples, prepare  # noqa: PLC0415

    declared = load_samples()
    outcomes: list[Outcome] = []
    with Emulator(host="0.0.0.0") as emulator:  # noqa: S104 - the containers reach it through the docker bridge
        endpoint = f"http://{DOCKER_HOST_IP}:{emulator.port}"
        env_file = Path(tempfile.mkstemp(prefix="sam-local-env-", suffix=".json")[1])
        print(f"sam-local: emulator at {endpoint} (stack {STACK_NAME}), env-vars {env_file}", flush=True)
        try:
            for path in samples:
                sample = declared.get(path.name.removesuffix(".json"))
                if sample is None:
                    outcomes.append(Outcome(path.name, "-", 0.0, False, "not declared in events/expected/index.json"))
                    print(f"  FAIL  {path.name}: not declared in events/expected/index.json", flush=True)
                    continue
                try:
                    deployment = prepare(emulator, sample)  # fresh state, the sample's resources seeded
                except Exception as exc:  # one sample that cannot be seeded must not end the run
                    outcomes.append(Outcome(path.name, sample.function, 0.0, False, f"seed failed: {exc!r}"))
                    print(f"  FAIL  {sample.name}: seed failed: {exc!r}", flush=True)
                    continue
                env_file.write_text(json.dumps(env_local(deployment, emulator.port or 0), indent=1), encoding="utf-8")
                observer = Observer(emulator, deployment).start()
                started = time.monotonic()
                result = _sam_invoke(sam, built, sample.function, path, env_file, environment, timeout)
                seconds = time.monotonic() - started
                observed = observer.finish(result)
                ok = observed.matches(sample.expected)
                e = sample.expected
                detail = observed.line() + ("" if ok else f" | declared: {e.outcome} ({e.classification}, {e.action})")
                outcomes.append(Outcome(path.name, sample.function, seconds, ok, detail))
                print(
                    f"  {'PASS' if ok else 'FAIL'}  {sample.name:<45} {sample.function:<30} {seconds:5.1f} s  {detail}",
                    flush=True,
                )
        finally:
            env_file.unlink(missing_ok=True)

    failed = [o for o in outcomes if not o.ok]
    total = sum(o.seconds for o in outcomes)
    print(
        f"sam-local: {len(outcomes) - len(failed)}/{len(outcomes)} samples produced their declared outcome through "
        f"sam local invoke ({total:.0f} s in containers, {total / max(1, len(outcomes)):.1f} s per invoke)",
        flush=True,
    )
    return 1 if failed else 0


def _sam_invoke(
    sam: str, built: Path, function: str, sample: Path, env_file: Path, environment: dict[str, str], timeout: float
) -> Any:
    """``sam local invoke`` one sample; the function's JSON result (or an ``errorType`` saying why not)."""
    command = [
        sam, "local", "invoke", function, "--template", str(built), "--event", str(sample),
        "--env-vars", str(env_file), "--skip-pull-image", "--region", REGION,
    ]  # fmt: skip
    try:
        done = subprocess.run(  # noqa: S603
            command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return {"errorType": "Timeout", "errorMessage": f"sam local invoke timed out after {timeout:g} s"}
    result = result_of(done.stdout)
    if result is None:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])[:300]
        return {"errorType": "NoResult", "errorMessage": f"exit {done.returncode}: {tail}"}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sam-local-check", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("samples", nargs="*", type=Path, help="sample events (default: every events/*.json)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per invoke")
    args = parser.parse_args(argv)
    samples = args.samples or sorted((ROOT / "events").glob("*.json"))
    return run([s.resolve() for s in samples], timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
