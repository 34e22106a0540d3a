"""One fresh process: import a handler, handle one event against the emulator, report time and peak memory.

Run by benchmarks/run.py; not a test. ``floor`` mode only imports boto3 and creates one client.
"""

from __future__ import annotations

import importlib
import json
import resource
import sys
import time

T0 = time.perf_counter()


def main() -> None:
    mode = sys.argv[1]
    if mode == "floor":
        import boto3  # noqa: PLC0415 - the floor measures exactly this import

        boto3.client("dynamodb")
        result: object = "floor"
        imported = handled = 0.0
        calls: list[str] = []
    else:
        handler_path, event_path = sys.argv[2], sys.argv[3]
        module_name, function_name = handler_path.rsplit(".", 1)
        handler = getattr(importlib.import_module(module_name), function_name)
        imported = time.perf_counter() - T0

        class Context:
            function_name = "bench"
            memory_limit_in_mb = 256
            invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
            aws_request_id = "bench"

            @staticmethod
            def get_remaining_time_in_millis() -> int:
                return 60_000

        with open(event_path) as handle:
            event = json.load(handle)
        calls: list[str] = []
        import botocore.session  # noqa: PLC0415 - count the AWS calls the handler makes

        original = botocore.session.Session.create_client

        def counting(self: botocore.session.Session, *args: object, **kwargs: object) -> object:
            client = original(self, *args, **kwargs)  # type: ignore[arg-type]
            client.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
            return client

        botocore.session.Session.create_client = counting  # type: ignore[method-assign]
        started = time.perf_counter()
        result = handler(event, Context())
        handled = time.perf_counter() - started
    elapsed = time.perf_counter() - T0
    print(
        json.dumps(
            {
                "in_process_s": elapsed,
                "import_s": imported,
                "handle_s": handled,
                "calls": len(calls),
                "peak_mb": peak_rss_mb(),
                "ok": result is not None,
            }
        )
    )


def peak_rss_mb() -> float:
    """VmHWM: this process's own high-water mark (ru_maxrss would inherit the forking parent's across exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


if __name__ == "__main__":
    main()
