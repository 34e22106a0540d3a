"""Evidence for an Athena timeout or bytes-scanned cutoff, the runbook's "Athena Query Timeout" diagnosis: data
scanned against the workgroup's ``BytesScannedCutoffPerQuery`` (``aws athena get-work-group``), how long it ran,
and the optimisation steps that apply to this failure. Built from the facts the decision already read (the
workgroup limits are read for this family only): no further AWS call, so nothing to declare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdogs.models.domain import Condition
from watchdogs.runbooks.evidence import TimeBox, attempt
from watchdogs.runbooks.query.facts import QueryFacts
from watchdogs.runbooks.query.failures import NEEDS_WORKGROUP_LIMITS, OPTIMISATION_ADVICE, classify_facts
from watchdogs.shared.humanize import human_bytes

if TYPE_CHECKING:
    from typing import Any

    from watchdogs.incidents import Evidence


#: which of the runbook's optimisation steps (OPTIMISATION_ADVICE, in order) apply to which failure class
_STEPS_FOR = {
    "bytes-scanned-cutoff": (0, 2, 1, 3),  # less data: partition filters, columns, LIMIT; how big is it
    "query-timeout": (0, 2, 3, 4),  # less work, and the limits once optimised
    "resources-exhausted": (0, 2, 3),
}


def scan_limit(facts: QueryFacts, failure: str) -> list[str]:
    """Data scanned against the workgroup's limit, how long it ran, and the steps that apply (pure)."""
    cutoff = facts.workgroup_bytes_scanned_cutoff
    scanned = facts.data_scanned_bytes
    lines = [f"Failure class: {failure}"]
    if cutoff:
        share = f" ({scanned * 100 // cutoff}% of the limit)" if scanned is not None else ""
        lines.append(
            f"Data scanned: {human_bytes(scanned)} against the workgroup's BytesScannedCutoffPerQuery "
            f"of {human_bytes(cutoff)}{share}"
        )
    else:
        lines.append(f"Data scanned: {human_bytes(scanned)}; the workgroup sets no BytesScannedCutoffPerQuery")
    if facts.ran_for or facts.elapsed_seconds is not None:
        lines.append(f"Ran for: {facts.ran_for or f'{facts.elapsed_seconds} s'}")
    lines += [f"Step: {OPTIMISATION_ADVICE[i]}" for i in _STEPS_FOR.get(failure, ())]
    return lines


def failure_of(facts: QueryFacts) -> str | None:
    """The failure class when it is one of the runbook's "Athena Query Timeout" family, else ``None``."""
    failure = classify_facts(facts)
    return failure.name if failure is not None and failure.name in NEEDS_WORKGROUP_LIMITS else None


def gather(condition: Condition, facts: dict[str, Any], source: str, box: TimeBox) -> list[Evidence]:
    """The scan-limit evidence of a failed or cancelled query in the timeout family (else nothing)."""
    if condition not in (Condition.FAILED, Condition.CANCELLED):
        return []
    read = QueryFacts.from_dict(facts)
    failure = failure_of(read)
    if failure is None:
        return []
    title = "Data scanned against the workgroup's limit (runbook: Athena Query Timeout)"
    return [attempt("scan-limit", title, source, lambda: scan_limit(read, failure), box)]
