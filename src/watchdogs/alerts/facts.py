"""An incident's facts as a person reads them: labelled, formatted, no Python reprs, no DynamoDB wire format, no
internal codes, each source text once.

Facts are the runbooks' raw material (``dict[str, Any]`` read from AWS). Keys this module knows get a label and
say whether their value is trusted (a state, a number, a time the watchdogs computed) or untrusted (an error
message, a name, a cause, which is shown quoted and with query literals masked). Keys it does not know are shown
only when their value is plain (text, number, list of those), always as untrusted text. Internal keys are never
shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from watchdogs.alerts.quoting import mask_literals, one_line

#: never shown to people: internal codes, bookkeeping, what another field already says, previews of query text
HIDDEN = frozenset(
    {
        "error_type",
        "error_category",
        "sequence_number",
        "event_account",
        "event_region",
        "event_state",
        "found",
        "exists",
        "workgroup_verified",
        "scope_mismatch",
        "scope_key",
        "tags_unavailable",
        "opted_out",
        "read_at",
        "heal",
        "escalation_reason",
        "data_scanned_bytes",
        "engine_execution_ms",
        "queue_ms",
        "elapsed_seconds",
        "running_seconds",
        "workgroup_enforce_configuration",
        "current_state_type",
        "task_parameters",
        "changed_anything",
        "threshold_source",
        "failure_class",
        "confirmed_by_get_crawler",
    }
)
_WIRE_TYPES = frozenset({"S", "N", "B", "BOOL", "NULL", "M", "L", "SS", "NS", "BS"})


@dataclass(frozen=True)
class FactSpec:
    label: str
    untrusted: bool = False


#: known keys, in the order people read them (the resource's state first, then what went wrong, then context)
SPECS: dict[str, FactSpec] = {
    "crawler_state": FactSpec("Crawler state"),
    "last_crawl_status": FactSpec("Last crawl"),
    "last_crawl_started_at": FactSpec("Last crawl started"),
    "failed_crawl_started_at": FactSpec("Failed crawl started"),
    "last_crawl_error": FactSpec("Crawl error (from Glue)", untrusted=True),
    "error_message": FactSpec("Error (from AWS)", untrusted=True),
    "state": FactSpec("State"),
    "status": FactSpec("Status"),
    "ran_for": FactSpec("Ran for"),
    "data_scanned": FactSpec("Data scanned"),
    "workgroup_bytes_scanned_cutoff": FactSpec("Workgroup scan limit (bytes)"),
    "error_category_name": FactSpec("Error category"),
    "retryable": FactSpec("Athena says retryable"),
    "state_change_reason": FactSpec("Athena state reason", untrusted=True),
    "workgroup": FactSpec("Workgroup", untrusted=True),
    "database": FactSpec("Database", untrusted=True),
    "statement_type": FactSpec("Statement type"),
    "submitted_at": FactSpec("Submitted"),
    "completed_at": FactSpec("Completed"),
    "start_date": FactSpec("Started"),
    "stop_date": FactSpec("Stopped"),
    "failed_state": FactSpec("Failed state", untrusted=True),
    "current_state": FactSpec("Current state", untrusted=True),
    "task_state": FactSpec("Task state", untrusted=True),
    "task_resource": FactSpec("Task calls"),
    "error": FactSpec("Error (from Step Functions)", untrusted=True),
    "cause": FactSpec("Cause (from Step Functions)", untrusted=True),
    "history_error": FactSpec("Error in history", untrusted=True),
    "history_cause": FactSpec("Cause in history", untrusted=True),
    "history_crawler": FactSpec("Crawler in history", untrusted=True),
    "history_workgroup": FactSpec("Workgroup in history", untrusted=True),
    "history_query_execution_id": FactSpec("Query in history", untrusted=True),
    "redrive_count": FactSpec("Redrives so far"),
    "redrive_status": FactSpec("Redrive status"),
    "redrive_status_reason": FactSpec("Redrive status reason", untrusted=True),
    "state_machine_arn": FactSpec("State machine", untrusted=True),
    "log_group": FactSpec("Log group", untrusted=True),
    "log_stream": FactSpec("Log stream", untrusted=True),
    "role": FactSpec("Crawler role", untrusted=True),
    "s3_targets": FactSpec("S3 targets", untrusted=True),
    "exclusions": FactSpec("Exclusions", untrusted=True),
    "threshold_seconds": FactSpec("Stuck after (s)"),
    "expect_new_data": FactSpec("New data expected on every crawl"),
    "metadata_row": FactSpec("Pipeline metadata row", untrusted=True),
    "last_event_at": FactSpec("Last history event"),
}


@dataclass(frozen=True)
class Fact:
    label: str
    value: str  # one line; untrusted values already masked (never quoted here: the renderer quotes)
    untrusted: bool


def plain(value: Any) -> Any:
    """``value`` with DynamoDB's wire format (``{"S": "x"}``, ``{"N": "3"}``, ``{"M": {...}}``) unwrapped."""
    if isinstance(value, dict):
        if len(value) == 1 and next(iter(value)) in _WIRE_TYPES:
            kind, inner = next(iter(value.items()))
            if kind == "NULL":
                return None
            if kind in {"M", "L", "SS", "NS", "BS"}:
                return plain(inner)
            return inner
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def as_text(value: Any) -> str | None:
    """A plain value as readable text (``None`` when it has no readable form: nested structures of unknown shape)."""
    value = plain(value)
    if value is None or (isinstance(value, str | list | dict) and not value):
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | str):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, str | int | float) for v in value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict) and all(isinstance(v, str | int | float | bool) or v is None for v in value.values()):
        return ", ".join(f"{k}={as_text(v) or '-'}" for k, v in value.items())
    return None


def human_facts(facts: dict[str, Any], *, already_said: str = "") -> list[Fact]:
    """The facts worth showing, known keys first. A source text the summary already quotes is not repeated."""
    shown: list[Fact] = []
    seen: set[str] = set()
    ordered = [k for k in SPECS if k in facts] + sorted(k for k in facts if k not in SPECS)
    for key in ordered:
        if key in HIDDEN or key.startswith("_") or key.endswith("_preview"):
            continue
        text = as_text(facts[key])
        if text is None:
            continue
        spec = SPECS.get(key, FactSpec(key.replace("_", " ").capitalize(), untrusted=True))
        value = one_line(mask_literals(text) if spec.untrusted else text, 300)
        if spec.untrusted and (value in seen or (len(value) > 20 and value in one_line(already_said, 10_000))):
            continue  # the same error text under another key, or already quoted in the summary
        seen.add(value)
        shown.append(Fact(spec.label, value, spec.untrusted))
    return shown
