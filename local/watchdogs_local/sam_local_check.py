"""Every sample in events/ through real ``sam local invoke`` (a Lambda container), against the embedded emulator.

``make sam-local`` runs ``sam build`` and ``../shared/tools/sam-local-engine.sh setup`` (a local container engine
and Lambda base image, offline), then this module, which:

1. builds the functions (``sam build --build-dir`` a private directory, so a concurrent ``sam build`` in the
   project cannot pull the template from under the running invokes);
2. starts the emulator bound to ``0.0.0.0`` (functions in containers reach the host at ``172.17.0.1``), deploys
   ``template.yaml`` into it and provisions the runbook's lakehouse, so the samples have resources to act on;
3. writes an ``--env-vars`` file (SAM's format) holding each deployed function's environment, pointed at the
   emulator;
4. runs ``sam local invoke <Function> -e events/<sample>.json --skip-pull-image --env-vars <file>`` for every
   sample, the function being the one whose deployed rule matches the sample (the schedule rule's for a
   ``Scheduled Event``), and checks each result: a JSON object, no ``errorType``, not ``rejected``.

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

DOCKER_HOST_IP = "172.17.0.1"  # the docker0 bridge: the host, seen from a container
STACK = "lakehouse-watchdogs-sam-local"


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


def judge(result: Any) -> tuple[bool, str]:
    if not isinstance(result, dict):
        return False, f"no JSON result ({result!r})"
    if "errorType" in result or "errorMessage" in result:
        return False, f"{result.get('errorType')}: {result.get('errorMessage')}"
    if result.get("outcome") == "rejected":
        return False, f"rejected: {result.get('reason')}"
    outcomes = [r.get("outcome") for r in result.get("results", [])]
    return True, f"{result.get('outcome')} {outcomes}" if outcomes else str(result.get("outcome"))


def run(samples: list[Path], *, timeout: float = 180) -> int:
    """``sam build`` into a private directory (a concurrent ``sam build`` in the project cannot pull the template
    from under the running invokes), then check every sample."""
    build_dir = Path(tempfile.mkdtemp(prefix="sam-local-check-"))
    try:
        return _run(samples, build_dir, timeout)
    finally:
        shutil.rmtree(build_dir, ignore_errors=True)


def _run(samples: list[Path], build_dir: Path, timeout: float) -> int:  # noqa: PLR0915
    from watchdogs_local.invoke import EMBEDDED_PARAMETERS  # noqa: PLC0415
    from watchdogs_local.lakehouse import LakehouseNames, provision_lakehouse  # noqa: PLC0415
    from watchdogs_local.router import Router  # noqa: PLC0415

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

    outcomes: list[Outcome] = []
    with Emulator(host="0.0.0.0") as emulator:  # noqa: S104 - the containers reach it through the docker bridge
        deployment = emulator.deploy(ROOT / "template.yaml", EMBEDDED_PARAMETERS, stack_name=STACK)
        provision_lakehouse(emulator, LakehouseNames(env="sandbox"))  # type: ignore[arg-type]
        endpoint = f"http://{DOCKER_HOST_IP}:{emulator.port}"
        env_vars = {
            function.logical_id: {**function.environment, "AWS_ENDPOINT_URL": endpoint}
            for function in deployment.functions.values()
        }
        router = Router(deployment, emulator.endpoint)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
            json.dump(env_vars, handle, indent=1)
            env_file = handle.name
        print(f"sam-local: emulator at {endpoint} (stack {STACK}), env-vars {env_file}", flush=True)
        try:
            for sample in samples:
                event = json.loads(sample.read_text(encoding="utf-8"))
                if event.get("detail-type") == "Scheduled Event":
                    rules = [rule for rule in deployment.rules if rule.schedule]
                else:
                    rules = router.matching_rules(event)
                functions = sorted({f.logical_id for rule in rules for f in router.targets(rule)})
                if len(functions) != 1:
                    outcomes.append(Outcome(sample.name, "-", 0.0, False, f"targeted by {functions or 'no rule'}"))
                    print(f"  FAIL  {sample.name}: targeted by {functions or 'no deployed rule'}", flush=True)
                    continue
                command = [
                    sam,
                    "local",
                    "invoke",
                    functions[0],
                    "--template",
                    str(built),
                    "--event",
                    str(sample),
                    "--env-vars",
                    env_file,
                    "--skip-pull-image",
                    "--region",
                    REGION,
                ]
                started = time.monotonic()
                try:
                    done = subprocess.run(  # noqa: S603
                        command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=timeout, check=False
                    )
                    ok, detail = judge(result_of(done.stdout))
                    if not ok and done.returncode != 0:
                        detail += " | " + " ".join(done.stderr.strip().splitlines()[-3:])[:300]
                except subprocess.TimeoutExpired:
                    ok, detail = False, f"timed out after {timeout:g} s"
                seconds = time.monotonic() - started
                outcomes.append(Outcome(sample.name, functions[0], seconds, ok, detail))
                print(
                    f"  {'PASS' if ok else 'FAIL'}  {sample.name:<55} {functions[0]:<30} {seconds:5.1f} s  {detail}",
                    flush=True,
                )
        finally:
            router.release()
            Path(env_file).unlink(missing_ok=True)

    failed = [o for o in outcomes if not o.ok]
    total = sum(o.seconds for o in outcomes)
    print(
        f"sam-local: {len(outcomes) - len(failed)}/{len(outcomes)} samples passed through sam local invoke "
        f"({total:.0f} s in containers, {total / max(1, len(outcomes)):.1f} s per invoke)",
        flush=True,
    )
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sam-local-check", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("samples", nargs="*", type=Path, help="sample events (default: every events/*.json)")
    parser.add_argument("--timeout", type=float, default=180, help="seconds per invoke")
    args = parser.parse_args(argv)
    samples = args.samples or sorted((ROOT / "events").glob("*.json"))
    return run([s.resolve() for s in samples], timeout=args.timeout)


if __name__ == "__main__":
    sys.exit(main())
