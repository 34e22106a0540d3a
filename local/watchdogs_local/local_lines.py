"""What the local targets print: the lines to invoke each sample, ``make help``'s lists, ``env/local.json``.

``env/local.json`` is SAM's ``--env-vars`` file for ``sam local invoke`` against ``make emulator``: each deployed
function's environment (the stack's physical names, the same on every deployment) with ``AWS_ENDPOINT_URL`` at the
emulator as a Lambda container sees it (the docker bridge). :func:`env_local` computes it from a deployment and
:func:`env_local_mismatch` says how the checked-in file differs (the emulator warns; a test fails).
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

from watchdogs_local.samples import ENV_LOCAL, load_samples

if TYPE_CHECKING:
    from watchdogs_local.emulator import Deployment

DOCKER_HOST_IP = "172.17.0.1"  # the docker0 bridge: the host, seen from a Lambda container
DEFAULT_PORT = 5555


def env_local(deployment: Deployment, port: int = DEFAULT_PORT) -> dict[str, dict[str, str]]:
    return {
        logical_id: {**function.environment, "AWS_ENDPOINT_URL": f"http://{DOCKER_HOST_IP}:{port}"}
        for logical_id, function in sorted(deployment.functions.items())
    }


def env_local_mismatch(deployment: Deployment, port: int = DEFAULT_PORT) -> list[str]:
    try:
        current: dict[str, Any] = json.loads(ENV_LOCAL.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return [f"env/local.json unreadable: {exc}"]
    wanted = env_local(deployment, port)
    problems = []
    for function, variables in wanted.items():
        have = current.get(function, {})
        # a variable the function does not declare is harmless: SAM only overrides declared ones
        differ = sorted(k for k in variables if variables.get(k) != have.get(k))
        if differ:
            problems.append(
                f"env/local.json {function}: {', '.join(differ)} differ from the deployed stack "
                "(python -m watchdogs_local.local_lines env > env/local.json)"
            )
    return problems


def sample_lines() -> list[str]:
    """One ``make invoke`` and one ``sam local invoke`` line per sample."""
    lines = []
    for sample in load_samples().values():
        event = f"events/{sample.name}.json"
        e = sample.expected
        lines.append(f"  # {sample.name}: expect {e.outcome} ({e.classification or '-'}, {e.action or 'no action'})")
        lines.append(f"  make invoke EVENT={event}")
        lines.append(
            f"  make seed EVENT={event} && sam local invoke {sample.function} -e {event} "
            "--env-vars env/local.json --docker-network host --skip-pull-image"
        )
    return lines


def banner(deployment: Deployment, port: int, seconds: float, stack: str) -> list[str]:
    functions = ", ".join(sorted(deployment.functions))
    return [
        f"emulator: ready in {seconds:.0f} s at http://127.0.0.1:{port} (containers: http://{DOCKER_HOST_IP}:{port})",
        f"  stack {stack} deployed from template.yaml: {functions}",
        "  the runbook's lakehouse is provisioned; each invoke below re-seeds its sample on fresh state (~2 s)",
        "",
        "Invoke a sample (in another terminal); what it did and the alerts it sent also show here:",
        *sample_lines(),
        "",
        "Stop with Ctrl-C or `make emulator-stop`.",
        "",
    ]


def help_lines() -> list[str]:
    samples = load_samples()
    functions: dict[str, list[str]] = {}
    for sample in samples.values():
        functions.setdefault(sample.function, []).append(sample.name)
    lines = ["Functions (template.yaml) and their sample events (events/, outcomes in events/expected/index.json):"]
    for function, names in sorted(functions.items()):
        lines.append(f"  {function}")
        lines.extend(f"      events/{name}.json" for name in names)
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["env"]:  # regenerate env/local.json from a fresh deployment
        from watchdogs_local.emulator import Emulator  # noqa: PLC0415
        from watchdogs_local.samples import deploy_fresh  # noqa: PLC0415

        with Emulator() as emulator:
            deployment = deploy_fresh(emulator)
        print(json.dumps(env_local(deployment), indent=2))
        return 0
    print("\n".join(help_lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
