"""One fresh process: import a handler, handle one event against the emulator, report what it cost.

Run by benchmarks/run.py; not a test. Prints one JSON line: import and handle time (in-process), the AWS calls the
handler made (counted through a botocore hook registered on every client it creates) and this process's peak RSS.
The floor runs are not this file: they are ``python -c`` with exactly the floor's code (see run.py).
"""

from __future__ import annotations

import importlib
import json
import sys
import time

T0 = time.perf_counter()


class Context:
    """The part of the Lambda context the handlers read."""

    function_name = "bench"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def main() -> None:
    handler_path, event_path = sys.argv[1], sys.argv[2]
    module_name, function_name = handler_path.rsplit(".", 1)
    handler = getattr(importlib.import_module(module_name), function_name)
    imported = time.perf_counter() - T0
    with open(event_path) as handle:
        event = json.load(handle)
    calls: list[str] = []
    import botocore.session  # noqa: PLC0415 - already imported by the handler when it makes calls

    original = botocore.session.Session.create_client

    def counting(self: botocore.session.Session, *args: object, **kwargs: object) -> object:
        client = original(self, *args, **kwargs)  # type: ignore[arg-type]
        client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
        return client

    botocore.session.Session.create_client = counting  # type: ignore[method-assign]
    started = time.perf_counter()
    result = handler(event, Context())
    handled = time.perf_counter() - started
    print(
        json.dumps(
            {
                "import_s": imported,
                "handle_s": handled,
                "calls": calls,
                "peak_mb": peak_rss_mb(),
                "outcome": summary(result),
            }
        )
    )


def summary(result: object) -> str:
    """The handler's outcome, and its first finding's: so a row can be checked to measure the path it names."""
    if not isinstance(result, dict):
        return repr(result)[:80]
    inner = result.get("results") or result.get("items") or []
    first = inner[0].get("outcome", "") if inner and isinstance(inner[0], dict) else ""
    return f"{result.get('outcome')}/{first}" if first else str(result.get("outcome"))


def peak_rss_mb() -> float:
    """VmHWM: this process's own high-water mark (ru_maxrss would inherit the forking parent's across exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


if __name__ == "__main__":
    main()
