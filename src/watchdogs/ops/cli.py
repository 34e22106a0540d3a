"""``watchdogs-ops``: the on-call engineer's handle on the watchdogs (see docs/operations.md).

    watchdogs-ops [--stack-name S | --table T] [--region R] [--profile P] [--endpoint URL] [--json] <command>

Exit codes: 0 ok, 1 not found (an unknown resource, nothing to act on), 2 usage or configuration, 3 an
unexpected failure (one line; ``WATCHDOGS_OPS_DEBUG=1`` shows the traceback), or smoke found a broken function.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from watchdogs.models.domain import ResourceType
from watchdogs.ops.render import as_json
from watchdogs.ops.target import ConfigError, NotFound, explain, open_target

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from watchdogs.ops.incidents import Output
    from watchdogs.ops.target import Target

OK, NOT_FOUND, USAGE, FAILED = 0, 1, 2, 3
TYPES = [t.value for t in ResourceType]


def _resource(sub: Any, name: str, text: str) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = sub.add_parser(name, help=text, description=text)
    command.add_argument("resource_type", choices=TYPES, metavar="{crawler,query,execution}")
    command.add_argument("name", help="crawler name, query id (or its first characters), execution name or ARN")
    return command


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="watchdogs-ops", description="The on-call engineer's handle on the watchdogs.")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--stack-name", help="the watchdogs stack (finds its table, topic and functions)")
    where.add_argument("--table", help="incident table name (default: INCIDENT_TABLE)")
    p.add_argument("--region", help="AWS region")
    p.add_argument("--profile", help="AWS profile")
    p.add_argument("--endpoint", help="endpoint URL (an emulator)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("open", help="active incidents, newest first").add_argument("--limit", type=int, default=100)
    _resource(sub, "show", "one resource: active incidents, budget, quarantine, history")
    ack = _resource(sub, "ack", "end the hold/quarantine, reset the budget, record who and why, publish it")
    ack.add_argument("--by", required=True, help="who acknowledges")
    ack.add_argument("--reason", required=True, help="why")
    resolve = _resource(sub, "resolve", "close the active incident(s) as resolved by you, publish it")
    resolve.add_argument("--by", required=True, help="who resolved it")
    resolve.add_argument("--note", required=True, help="what you did")
    note = _resource(sub, "note", "add a note to the active incident(s) timeline (not published)")
    note.add_argument("--by", required=True, help="who writes the note")
    note.add_argument("text", help="the note")
    report = sub.add_parser("report", help="per service: incidents, actions, would-have-done, recovery, budget")
    report.add_argument("--since", default="7d", help="window: 30m, 12h, 7d (default 7d)")
    replay = sub.add_parser("replay", help="a dry run of the decisions on recorded events (no writes)")
    replay.add_argument("file", help="an EventBridge archive export (JSON array) or JSON lines of events")
    replay.add_argument("--since", help="only events newer than this (30m, 12h, 7d or an ISO time)")
    replay.add_argument("--mode", choices=["observe", "remediate"], help="replay as if in this mode")
    sub.add_parser("smoke", help="publish a test alert, invoke each function harmlessly, print the blast radius")
    return p


def _command(name: str) -> Callable[..., Output]:
    from watchdogs.ops import incidents  # noqa: PLC0415

    if name in {"report", "replay", "smoke"}:
        import importlib  # noqa: PLC0415

        module = importlib.import_module(f"watchdogs.ops.{name}")
        run: Callable[..., Output] = module.run
        return run
    table: dict[str, Callable[..., Output]] = {
        "open": incidents.list_open,
        "show": incidents.show,
        "ack": incidents.ack,
        "resolve": incidents.resolve_incidents,
        "note": incidents.note,
    }
    return table[name]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The watchdogs' own structured logs and metrics (stdout in Lambda) stay out of the CLI's output."""
    sink = io.StringIO()
    handlers = [h for h in logging.getLogger("lakehouse-watchdogs").handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(sink) for h in handlers]
    try:
        with contextlib.redirect_stdout(sink):
            yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            if stream is not None:
                handler.setStream(stream)


def main(argv: Sequence[str] | None = None, **hooks: Any) -> int:
    """The entry point. ``hooks`` inject adapters (``invoke`` for ``smoke``: how a function is invoked)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage problem
        return int(exc.code or 0) and USAGE
    target: Target | None = None
    try:
        target = open_target(
            profile=args.profile, region=args.region, endpoint=args.endpoint, stack=args.stack_name, table=args.table
        )
        from watchdogs.incidents import IncidentStore  # noqa: PLC0415

        store = IncidentStore(
            target.table, target.client("dynamodb"), environment=target.parameters.get("EnvironmentName", "")
        )
        with _quiet():
            command = _command(args.command)
            output = command(target, store, args, **hooks) if args.command == "smoke" else command(target, store, args)
    except ConfigError as exc:
        return _fail(f"watchdogs-ops: {exc}", USAGE)
    except NotFound as exc:
        return _fail(f"not found: {exc}", NOT_FOUND)
    except Exception as exc:  # one line for people, never a traceback
        return _fail(_describe(exc), USAGE if explain(exc) or isinstance(exc, ValueError) else FAILED)
    print(as_json(output.data) if args.json else output.text)
    return output.code


def _describe(exc: Exception) -> str:
    known = explain(exc)
    if known:
        return f"watchdogs-ops: {known}"
    if isinstance(exc, ValueError):  # Ambiguous names, bad --since, unreadable replay files
        return f"watchdogs-ops: {exc}"
    if os.environ.get("WATCHDOGS_OPS_DEBUG"):
        raise exc
    return f"watchdogs-ops: {type(exc).__name__}: {str(exc)[:300]} (WATCHDOGS_OPS_DEBUG=1 shows the traceback)"


def _fail(message: str, code: int) -> int:
    print(message, file=sys.stderr)
    return code
