"""``make invoke``: one sample on fresh emulator state, judged against what it declares.

:func:`run_embedded` invokes on the emulator ``make emulator`` runs (asking it to re-seed the sample first), or,
when none runs, on a throwaway one (started here, the sample seeded in-process). Either way the function's handler
runs in this process through :class:`~watchdogs_local.router.Router`, and
:class:`~watchdogs_local.samples.Observer` says what it did: outcome, classification, action, alerts.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from watchdogs_local.emulator import ROOT
from watchdogs_local.invoke import InvokeError, load_env_vars, print_result, read_event, with_overrides

if TYPE_CHECKING:
    import argparse

    from watchdogs_local.emulator import Deployment, Emulator
    from watchdogs_local.samples import Observed, Sample


@dataclass
class EmbeddedRun:
    """One invocation on fresh emulator state: the result and what it observably did."""

    function: str
    result: Any
    error: str | None
    observed: Observed
    sample: Sample | None
    reused: str | None  # the running emulator's endpoint, or None (a throwaway one was started)
    seconds: float


def run_embedded(
    logical_id: str | None,
    event: dict[str, Any],
    sample: Sample | None,
    *,
    overrides: dict[str, str] | None = None,
    log_stream: IO[str] | None = None,
) -> EmbeddedRun:
    """Invoke on the emulator ``make emulator`` runs (re-seeded for ``sample``), else on a throwaway one."""
    from watchdogs_local.emulator import Emulator  # noqa: PLC0415
    from watchdogs_local.samples import STACK, prepare  # noqa: PLC0415
    from watchdogs_local.server import request_seed, running  # noqa: PLC0415

    started = time.monotonic()
    function_id = logical_id or (sample.function if sample else None)
    if function_id is None:
        raise InvokeError("name the function (FN=<logical id>): the event is not a declared sample")
    state = running()
    if state is not None:
        request_seed(state["endpoint"], sample.name if sample else None)
        emulator = Emulator(endpoint=state["endpoint"])
        run = _run(emulator, emulator.read_deployment(STACK), function_id, event, overrides, log_stream)
    else:
        with Emulator() as emulator:
            run = _run(emulator, prepare(emulator, sample), function_id, event, overrides, log_stream)
    run.sample, run.reused = sample, state["endpoint"] if state else None
    run.seconds = time.monotonic() - started
    return run


def _run(
    emulator: Emulator,
    deployment: Deployment,
    logical_id: str,
    event: dict[str, Any],
    overrides: dict[str, str] | None,
    log_stream: IO[str] | None,
) -> EmbeddedRun:
    from watchdogs_local.router import Router  # noqa: PLC0415
    from watchdogs_local.samples import Observer  # noqa: PLC0415

    function = deployment.functions.get(logical_id)
    if function is None:
        raise InvokeError(f"{logical_id} is not a function of the stack; functions: {', '.join(deployment.functions)}")
    observer = Observer(emulator, deployment).start()
    router = Router(deployment, emulator.endpoint, log_stream=log_stream or sys.stderr)
    try:
        delivery = router.invoke(with_overrides(function, overrides or {}), event)
    finally:
        router.release()
    result = delivery.result if delivery.error is None else {"errorType": delivery.error.split(":", 1)[0]}
    observed = observer.finish(result)
    return EmbeddedRun(logical_id, delivery.result, delivery.error, observed, None, None, 0.0)


LOG_FILE = ROOT / ".emulator" / "invoke.log"


def main_embedded(args: argparse.Namespace) -> int:
    """The embedded emulator: the running one (``make emulator``) or a throwaway one; the sample re-seeded."""
    from watchdogs_local.samples import sample_of  # noqa: PLC0415

    sample = sample_of(args.event)
    function = None if args.function == "auto" else args.function
    overrides = load_env_vars(args.env_vars, function or (sample.function if sample else ""))
    LOG_FILE.parent.mkdir(exist_ok=True)
    with LOG_FILE.open("w", encoding="utf-8") as logs:
        if sample is None:
            print("watchdogs-invoke: not a declared sample: fresh lakehouse, nothing seeded", file=sys.stderr)
        run = run_embedded(function, read_event(args.event), sample, overrides=overrides, log_stream=logs)
    status = print_result(run.result, run.error)
    where = f"emulator at {run.reused}" if run.reused else "a throwaway emulator (`make emulator` keeps one running)"
    name = sample.name if sample else args.event
    print(f"{name} -> {run.function}: {run.observed.line()}", file=sys.stderr)
    verdict = ""
    if sample is not None:
        e = sample.expected
        matched = run.observed.matches(e)
        verdict = (
            "matches the declared outcome"
            if matched
            else (f"DIFFERS from the declared outcome: {e.outcome} ({e.classification}, {e.action})")
        )
        status = status or (0 if matched else 1)
    print(f"  {verdict + '; ' if verdict else ''}{run.seconds:.1f} s on {where}; logs: {LOG_FILE}", file=sys.stderr)
    return status
