"""``watchdogs-ops replay FILE``: what the watchdogs would do with recorded events, as a dry run.

Each event is parsed by the same edge model as its Lambda, turned into findings by its runbook and handed to the
real engine (:class:`~watchdogs.ops.dryrun.DryRunEngine`) with the deployed settings (the stack's function
environment; ``--mode`` overrides the mode). Reads go to the account or emulator through a read-only session;
incident writes land in an in-memory overlay, notifications are recorded, mutating calls are recorded as
"not called". Decisions are taken *now*, against the resources' current state (what the watchdogs would do if the
events arrived now). Schedule events are listed but not replayed: a sweep's discovery is not event-driven.

FILE: an EventBridge archive export (a JSON array, or ``{"Events": [...]}``), JSON lines, or PutEvents entries
(``Source`` / ``DetailType`` / ``Detail`` as a string).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from watchdogs.incidents import IncidentStore, parse_iso
from watchdogs.ops.incidents import Output
from watchdogs.ops.render import short, table
from watchdogs.ops.report import parse_since
from watchdogs.ops.target import ConfigError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
    from datetime import datetime

    from watchdogs.contracts import HandleResult
    from watchdogs.models.domain import Finding
    from watchdogs.ops.dryrun import DryRunEngine
    from watchdogs.ops.target import Target


def load_events(path: str) -> list[dict[str, Any]]:
    """Events from an archive export, JSON lines or PutEvents entries. A ValueError names what is wrong."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        parsed: Any = json.loads(text)
        items = parsed.get("Events") or parsed.get("events") or [parsed] if isinstance(parsed, dict) else parsed
    except json.JSONDecodeError:
        try:
            items = [json.loads(line) for line in text.splitlines() if line.strip()]
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: neither JSON nor JSON lines (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(items, list):
        raise ValueError(f"{path}: expected a list of events")
    return [_event(item) for item in items]


def _event(item: Any) -> dict[str, Any]:
    if isinstance(item, str):
        item = json.loads(item)
    if isinstance(item, dict) and "DetailType" in item:  # a PutEvents entry
        detail = item.get("Detail", "{}")
        return {
            "version": "0",
            "id": item.get("Id") or item.get("id", ""),
            "detail-type": item["DetailType"],
            "source": item.get("Source", ""),
            "account": item.get("Account", ""),
            "time": item.get("Time", ""),
            "region": item.get("Region", ""),
            "resources": item.get("Resources", []),
            "detail": json.loads(detail) if isinstance(detail, str) else detail,
        }
    return item if isinstance(item, dict) else {"unreadable": item}


def _not_before(event: dict[str, Any], since: datetime) -> bool:
    """Kept unless its time is before ``since`` (an unreadable time is kept: the edge model rejects it, visibly)."""
    try:
        return parse_iso(str(event["time"])) >= since
    except (KeyError, ValueError, TypeError):
        return True


def _route(source: str) -> tuple[Any, Callable[[Any], list[Finding]]] | None:
    from watchdogs.models import events  # noqa: PLC0415
    from watchdogs.runbooks import crawler, execution, query  # noqa: PLC0415

    routes: dict[str, tuple[Any, Callable[[Any], list[Finding]]]] = {
        "aws.glue": (events.CrawlerStateChangeEvent, crawler.findings_from_event),
        "aws.athena": (events.QueryStateChangeEvent, query.findings_from_event),
        "aws.states": (events.ExecutionStatusChangeEvent, execution.findings_from_event),
    }
    return routes.get(source)


def dry_engine(target: Target, args: argparse.Namespace) -> DryRunEngine:
    from watchdogs.clients import AwsClients  # noqa: PLC0415
    from watchdogs.ops.dryrun import DryRunEngine, OverlayStore, RecordingNotifier, read_only_session  # noqa: PLC0415
    from watchdogs.remediators import build_remediators  # noqa: PLC0415
    from watchdogs.settings import SettingsError, load_settings  # noqa: PLC0415

    environ = dict(target.environment())
    if args.mode:  # one mode for every service: the stack's per-service overrides would otherwise win
        environ["WATCHDOG_MODE"] = args.mode
        for service in ("CRAWLER", "QUERY", "EXECUTION"):
            environ.pop(f"WATCHDOG_MODE_{service}", None)
    environ.setdefault("INCIDENT_TABLE", target.table)
    try:
        settings = load_settings(environ)
    except SettingsError as exc:
        raise ConfigError(f"cannot replay without the watchdogs' settings (use --stack-name): {exc}") from None
    session = read_only_session(args.profile, target.region)
    made = {n: session.client(s, endpoint_url=target.endpoint) for n, s in _SERVICES.items()}  # type: ignore[call-overload]
    clients = AwsClients(session, **made)
    store = OverlayStore(IncidentStore(target.table, made["dynamodb"], environment=settings.environment))
    notifier = RecordingNotifier(settings.alert_topic_arn)
    remediators = build_remediators(settings, clients)
    return DryRunEngine(settings, clients, remediators, store=store, notifier=notifier, actor="watchdogs-ops-replay")


_SERVICES = {"glue": "glue", "athena": "athena", "sfn": "stepfunctions", "dynamodb": "dynamodb", "sns": "sns"}


def replay_one(engine: DryRunEngine, event: dict[str, Any]) -> dict[str, Any]:
    from watchdogs.runtime import Rejection, parse_event  # noqa: PLC0415

    source = str(event.get("source", ""))
    row: dict[str, Any] = {"id": event.get("id"), "time": event.get("time"), "source": source, "results": []}
    if source in {"aws.events", "aws.scheduler"}:
        row["outcome"] = "schedule tick: not replayed (the sweep discovers from current state)"
        return row
    route = _route(source)
    if route is None:
        row["outcome"] = f"no watchdog handles source {source or '?'}"
        return row
    model, to_findings = route
    parsed = parse_event(event, model)
    if isinstance(parsed, Rejection):
        row["outcome"] = f"rejected: {parsed.reason[:200]}"
        return row
    notifier = engine.notifier
    before = len(notifier.sent) if hasattr(notifier, "sent") else 0
    try:
        results: list[HandleResult] = [engine.handle(finding) for finding in to_findings(parsed)]
    except Exception as exc:  # one event's failure (a refused write, AWS down) is its row, not the end of the replay
        row["outcome"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
        return row
    row["results"] = [r.as_dict() for r in results]
    row["outcome"] = "; ".join(r.outcome for r in results) or "not a finding (state not acted on)"
    row["notifications"] = [s for s, _, _ in getattr(notifier, "sent", [])[before:]]
    return row


def run(target: Target, store: IncidentStore, args: argparse.Namespace) -> Output:
    events = load_events(args.file)
    if args.since:
        since = parse_since(args.since)
        events = [e for e in events if _not_before(e, since)]
    engine = dry_engine(target, args)
    rows = [replay_one(engine, event) for event in events]
    overlay = engine.store
    writes = list(getattr(overlay, "writes", []))
    data = {"mode": engine.settings.modes(), "events": rows, "writes_not_applied": writes}
    return Output(_render(rows, engine.settings.modes(), len(writes)), data)


def _what(row: dict[str, Any]) -> str:
    results = row.get("results") or []
    return ", ".join(short(r["resource"].split("#", 1)[-1]) for r in results) or "-"


def _render(rows: list[dict[str, Any]], mode: str, writes: int) -> str:
    lines = []
    for row in rows:
        actions = [a for r in row.get("results", []) for a in r["actions"]]
        status = ",".join(str(r["status"]) for r in row.get("results", []) if r.get("status")) or "-"
        lines.append(
            [
                str(row.get("time", ""))[:19],
                row["source"],
                _what(row),
                row["outcome"],
                ", ".join(actions) or "-",
                status,
                len(row.get("notifications", [])),
            ]
        )
    outcomes = Counter(row["outcome"] for row in rows)
    text = f"Replay (DRY RUN, mode {mode}): {len(rows)} event(s); nothing was written, called or published\n"
    text += table(("TIME", "SOURCE", "RESOURCE", "OUTCOME", "WOULD DO", "STATUS", "NOTIFY"), lines)
    text += f"\n  outcomes: {', '.join(f'{k} {v}' for k, v in outcomes.most_common())}"
    text += f"\n  incident writes it would have made: {writes}"
    return text
