"""``make ops-demo``: the demo, then ``watchdogs-ops`` on what it left, as on-call would use it.

Plays the demo's scenarios (:mod:`watchdogs_local.demo`) on an emulator this module keeps up afterwards, writes the
state-change events the demo routed as a JSON-lines archive (schedule ticks left out: an EventBridge archive of the
watched rules holds the services' events), then runs ``watchdogs-ops`` against the deployed stack: ``open``,
``show``, ``report``, ``replay`` of that archive (a dry run: the table is compared before and after), ``smoke``
(functions invoked in-process, moto runs no Lambda code). The output is what docs/operations.md shows.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdogs_local.demo import STACK

if TYPE_CHECKING:
    from watchdogs_local.demo import Demo
    from watchdogs_local.emulator import Deployment, Emulator

#: the crawler the demo's access-denied scenario leaves escalated
CRAWLER = "lakehouse-sandbox-processed-crawler"


def archive(demo: Demo, path: Path) -> int:
    """The distinct state-change events the demo routed, in order, as JSON lines. Returns how many."""
    seen: set[str] = set()
    lines = []
    for delivery in demo.router.deliveries if demo.router else []:
        event = delivery.event
        if event.get("source") in {"aws.events", "aws.scheduler"} or event["id"] in seen:
            continue
        seen.add(event["id"])
        lines.append(json.dumps(event))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return len(lines)


def ops(stack: str | None, endpoint: str, *args: str, **hooks: Any) -> int:
    """Run ``watchdogs-ops`` as on-call would (the emulator's ``--endpoint`` left out of the echoed command)."""
    from watchdogs.ops import main  # noqa: PLC0415

    where = ["--stack-name", stack] if stack else []
    print(f"\n$ {shlex.join(['watchdogs-ops', *where, *args])}", flush=True)
    code = main([*where, "--endpoint", endpoint, *args], **hooks)
    sys.stderr.flush()
    if code:
        print(f"(exit {code})", flush=True)
    return code


def table_items(demo: Demo, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = demo.client("dynamodb").scan(TableName=table)["Items"]
    return sorted(items, key=lambda i: (i["pk"]["S"], i["sk"]["S"]))


def main() -> int:
    from watchdogs_local.emulator import Emulator  # noqa: PLC0415

    with Emulator() as emulator:
        demo = _play(emulator)
        if demo is None:
            return 1
        _incidents(demo, emulator.endpoint)
        _operate(demo, emulator.endpoint)
    return 0


def _play(emulator: Emulator) -> Demo | None:
    from watchdogs_local.demo import Demo  # noqa: PLC0415

    demo = Demo(out=io.StringIO(), emulator=emulator)
    print("playing the demo's scenarios (make demo) ...", flush=True)
    if demo.run() != 0:
        print(demo.out.getvalue() if isinstance(demo.out, io.StringIO) else "", file=sys.stderr)
        return None
    for key, value in emulator.environment().items():
        if key != "AWS_ENDPOINT_URL":
            os.environ[key] = value
    return demo


def _incidents(demo: Demo, endpoint: str) -> None:
    """open, show, report, and the archive replayed twice (as left, then with a fault back), checking the table."""
    assert demo.deployment is not None
    table = demo.deployment.outputs["IncidentTableName"]
    events = Path(tempfile.gettempdir()) / "watchdogs-demo-events.jsonl"
    print(f"{archive(demo, events)} distinct state-change events written to {events}")
    ops(STACK, endpoint, "open")
    ops(STACK, endpoint, "show", "crawler", CRAWLER)
    ops(STACK, endpoint, "report", "--since", "1d")
    for fail_again in (False, True):
        if fail_again:
            crawler = _fail_again(events)
            print(f"\n(the fault comes back: {crawler} fails again, throttled; the same archive replayed)")
        before = table_items(demo, table)
        ops(STACK, endpoint, "replay", str(events))
        print(f"(incident table unchanged by the replay: {table_items(demo, table) == before})")


def _operate(demo: Demo, endpoint: str) -> None:
    """ack, note, resolve (a crawler; an execution by name), not found, config errors, smoke."""
    assert demo.deployment is not None
    ops(STACK, endpoint, "ack", "crawler", CRAWLER, "--by", "ana@example.com", "--reason", "role fixed")
    ops(STACK, endpoint, "note", "crawler", CRAWLER, "--by", "ana@example.com", "re-crawl at 09:00")
    note = "added s3:GetObject to the crawler role, re-ran the crawl"
    ops(STACK, endpoint, "resolve", "crawler", CRAWLER, "--by", "ana@example.com", "--note", note)
    active = [i.resource_id for i in demo.incidents() if i.is_active and i.resource_type.value == "execution"]
    for arn in active[:1]:
        name = arn.rsplit(":", 1)[-1]
        ops(STACK, endpoint, "show", "execution", name)
        ops(STACK, endpoint, "resolve", "execution", name, "--by", "ana@example.com", "--note", "fixed")
    ops(STACK, endpoint, "show", "execution", "no-such-run")
    ops("nope", endpoint, "open")
    ops(None, endpoint, "--table", "nope", "open")
    ops(STACK, endpoint, "smoke", invoke=_in_process(demo.deployment, endpoint))


def _fail_again(events: Path) -> str:
    """The storm scenario's crawler fails again now, as its archived failure says: what would the watchdogs do?"""
    from watchdogs_local.moto_ext.glue import set_crawl  # noqa: PLC0415

    for line in events.read_text(encoding="utf-8").splitlines():
        detail = json.loads(line).get("detail", {})
        if detail.get("state") == "Failed" and "curated" in str(detail.get("crawlerName")):
            set_crawl(detail["crawlerName"], "FAILED", error_message=detail.get("errorMessage", "Rate exceeded"))
            return str(detail["crawlerName"])
    raise RuntimeError("the demo routed no failure of the curated crawler (its storm scenario)")


def _in_process(deployment: Deployment, endpoint: str) -> Any:
    """Invoke a deployed function's handler in-process (moto's Lambda runs no code without Docker)."""
    from watchdogs_local.router import Router  # noqa: PLC0415

    router = Router(deployment, endpoint)

    def invoke(name: str, event: dict[str, Any]) -> dict[str, Any]:
        function = next(f for f in deployment.functions.values() if f.name == name)
        delivery = router.invoke(function, event)
        if delivery.error:
            raise RuntimeError(delivery.error)
        result: dict[str, Any] = delivery.result
        return result

    return invoke


if __name__ == "__main__":
    sys.exit(main())
