"""What one transition says, built from the transition and the current facts (never from the first decision).

:func:`build` turns an incident, as of the transition a message reports, into an :class:`AlertView`: the headline of
*this* transition, the next step first, why a human is needed (escalations), what the watchdogs did (or would have
done, in observe mode), the facts for humans, the evidence, the links and the operator commands. The renderers
(:mod:`.text`, :mod:`.chatbot`) only lay it out; they decide nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from watchdogs.alerts.facts import Fact, human_facts
from watchdogs.alerts.links import AlertContext, Link, console_links, ops_commands, runbook_link
from watchdogs.alerts.quoting import mask_literals, one_line
from watchdogs.shared.humanize import human_duration as duration

if TYPE_CHECKING:
    from watchdogs.incidents import Evidence, Incident, TimelineEntry

#: an action's name -> (what was done, the subject's word)
ACTION_WORDS = {
    "start_crawler": ("restarted the crawler", "restarted"),
    "stop_crawler": ("stopped the crawler", "stopped"),
    "stop_query": ("cancelled the query", "cancelled"),
    "stop_execution": ("stopped the execution", "stopped"),
    "redrive_execution": ("redrove the execution from its failed state", "redriven"),
    "reconcile_metadata": ("marked the run's pipeline metadata row as ended", "reconciled"),
}
#: why a human is needed, by what stopped the watchdogs
ESCALATION_REASONS = {
    "budget": "The watchdogs' action budget for this resource is spent: acting again could make things worse, so "
    "the resource is quarantined and nothing more is done automatically.",
    "quarantine": "The resource is quarantined after repeated actions: the watchdogs will not act on it again "
    "until the quarantine ends or someone acknowledges the incident.",
}
DONE_ITEMS = 10
ADVICE_ITEMS = 8
LABELS = {
    "act": "ACT",
    "wait": "IN PROGRESS",
    "escalate": "ESCALATED",
    "notify": "NOTICE",
    "observed": "OBSERVED",
    "resolved": "RESOLVED",
    "closed": "CLOSED",
}


@dataclass(frozen=True)
class Step:
    """One thing the watchdogs did (or would have done) to the resource."""

    action: str
    target: str
    outcome: str
    at: str

    def sentence(self, *, would: bool = False) -> str:
        done = ACTION_WORDS.get(self.action, (self.action, ""))[0]
        if would:
            return f"would have {done} ({self.action}); nothing was done"
        return f"{done} ({self.action} -> {self.outcome}) at {self.at}"


@dataclass(frozen=True)
class AlertView:
    event: str
    label: str
    headline: str  # ours: what this transition is
    summary: str  # the runbook's account (may quote untrusted text: one line, literals masked)
    next_steps: list[str]  # ours first, then the runbook's advice (one line each, literals masked)
    next_command: str | None  # key of ``commands`` that completes the first next step
    why_human: str | None
    done: list[str]
    facts: list[Fact]
    evidence: list[Evidence]
    links: list[Link]
    runbook: Link | None
    commands: dict[str, str]
    details: list[tuple[str, str]]
    timeline: list[TimelineEntry] = field(default_factory=list)
    timeline_total: int = 0


def transition_steps(incident: Incident, kinds: frozenset[str] = frozenset({"action"})) -> list[Step]:
    """The steps of the transition the incident is at: entries after its last decision (or settlement)."""
    tail: list[TimelineEntry] = []
    for entry in reversed(incident.timeline):
        if entry.kind == "decided":
            break
        tail.append(entry)
    return [
        Step(e.step or "", e.detail.split(" ", 1)[0], e.outcome or "", e.at) for e in reversed(tail) if e.kind in kinds
    ]


def all_actions(incident: Incident) -> list[Step]:
    """Every action taken over the incident's life (timeline entries, else the per-action record)."""
    steps = [Step(e.step or "", e.detail.split(" ", 1)[0], e.outcome or "", e.at) for e in incident.actions_taken()]
    if not steps:
        steps = [Step(name, incident.resource_id, "done", at) for name, at in sorted(incident.actions_done.items())]
    return steps


def subject_core(incident: Incident, event: str, steps: list[Step]) -> str:
    """The subject after the environment: kind, severity when it still matters, resource, what happened."""
    resource = f"{incident.resource_type.value} {short_id(incident.resource_id)}"
    condition = incident.condition.value
    if event == "resolved":
        return f"RESOLVED: {resource} recovered after {duration(incident.time_to_recover_seconds)}"
    if event == "closed":
        return f"CLOSED: {resource} {condition} ({incident.classification})"
    label = LABELS.get(event, event.upper())
    if event == "act" and steps:
        words = ", ".join(dict.fromkeys(ACTION_WORDS.get(s.action, ("", s.action))[1] for s in steps))
        count = f"action {incident.attempts}/{incident.budget_max}" if incident.budget_max else ""
        return (
            f"{label} {incident.severity.value}: {resource} {words} ({condition}, {count or incident.classification})"
        )
    if event == "observed":
        return f"{label} {incident.severity.value}, nothing done: {resource} {condition}, would act"
    if event == "wait" and incident.pending_step:
        return f"{label}: {resource} {condition}, step {incident.pending_step}"
    return f"{label} {incident.severity.value}: {resource} {condition} ({incident.classification})"


def short_id(resource_id: str) -> str:
    # execution ARNs are long: the execution name (after the last ':') is what people recognise
    return resource_id.rsplit(":", 1)[-1] if resource_id.startswith("arn:") else resource_id


def _why_human(incident: Incident, summary: str) -> str:
    reason = str(incident.facts.get("escalation_reason") or "")
    if reason in ESCALATION_REASONS:
        return ESCALATION_REASONS[reason]
    if "Not completed:" in summary:
        return "An action the watchdogs started was refused by AWS: they stopped, and will not retry on their own."
    if incident.classification == "refused-decision":
        return "The watchdogs refused their own decision (a watchdog bug): nothing was done."
    return (
        f"The runbook allows no automatic fix for this failure ({incident.classification}): "
        "retrying would fail the same way until a person changes something."
    )


def _headline(incident: Incident, event: str, steps: list[Step], would: list[Step]) -> str:
    what = f"{incident.resource_type.value} {short_id(incident.resource_id)}"
    if event == "resolved":
        return f"The {what} recovered after {duration(incident.time_to_recover_seconds)}."
    if event == "closed":
        return f"The incident for the {what} was closed without a recovery."
    if event == "observed":
        acts = "; ".join(s.sentence(would=True) for s in would) or "would have acted; nothing was done"
        return f"Observe mode: the watchdogs {acts}."
    if event == "act":
        acts = "; ".join(ACTION_WORDS.get(s.action, (s.action, ""))[0] for s in steps) or "acted"
        return f"The watchdogs {acts}."
    if event == "wait":
        return f"A remediation of the {what} is in progress (step: {incident.pending_step or 'none'})."
    if event == "escalate":
        return f"A person is needed for the {what}: the watchdogs will not act on it."
    return f"No automatic fix applies to the {what}: recorded for a person to look at."


#: actions after which the resource cannot recover: the incident ends CLOSED, and a person restarts the work
LAST_RESORT = frozenset({"stop_execution"})


def _next_steps(incident: Incident, event: str, steps: list[Step]) -> tuple[list[str], str | None]:
    """The next steps (ours first, then the runbook's advice) and the command that goes with the first one."""
    advice = [one_line(mask_literals(a), 400) for a in incident.advice[:ADVICE_ITEMS]]
    if event == "resolved":
        return ["Nothing to do: it recovered. If it fails again, a new incident opens."], None
    stopped = [s for s in all_actions(incident) if s.action in LAST_RESORT and s.outcome == "stopped"]
    if event == "closed" and stopped:
        return ["It stays stopped (the watchdogs' last resort): nothing more happens on its own.", *advice], None
    if event == "closed":
        return ["Check whether the resource still matters:"], "show"
    if event == "act" and any(s.action in LAST_RESORT and s.outcome == "stopped" for s in steps):
        last = "Stopped as the runbook's last resort: it will not finish, and a CLOSED message comes next."
        return [last, *advice], "show"
    if event in {"act", "wait"}:
        follow = "Nothing to do now: the watchdogs follow up on their own; a RESOLVED or ESCALATED message comes next."
        return [follow], "show"
    if event == "observed":
        return ["Nothing was changed (observe mode). Do it by hand if it should be done:", *advice], None
    first = "Acknowledge, then work the runbook:" if event == "escalate" else "Look when you can:"
    return [first, *advice], "ack"


def _done(incident: Incident, event: str, steps: list[Step], would: list[Step]) -> list[str]:
    """What the watchdogs did in this transition (resolved: over the incident's life; observed: would have)."""
    if event == "resolved":
        taken = all_actions(incident)
        if not taken:
            return ["The watchdogs took no action: it recovered without them."]
        done = [s.sentence() for s in taken[-DONE_ITEMS:]]
        if len(taken) > DONE_ITEMS:
            done.insert(0, f"{len(taken)} actions in all; the last {DONE_ITEMS}:")
        return done
    if event == "observed":
        return [s.sentence(would=True) for s in would] or ["Nothing was done (observe mode)."]
    return [s.sentence() for s in steps]


def build(incident: Incident, event: str, ctx: AlertContext, *, timeline: int = 15) -> AlertView:
    """The view of the transition ``event`` of ``incident`` (already as of that transition)."""
    steps = transition_steps(incident)
    would = transition_steps(incident, frozenset({"would-act"}))
    summary = one_line(mask_literals(incident.summary), 1500)
    commands = ops_commands(incident, ctx)
    next_steps, next_command = _next_steps(incident, event, steps)
    done = _done(incident, event, steps, would)
    details = [
        ("Environment", incident.environment or "-"),
        ("Resource", f"{incident.resource_type.value} {incident.resource_id}"),
        ("Condition", f"{incident.condition.value} ({incident.classification})"),
        ("Severity", "resolved" if event == "resolved" else incident.severity.value),
        ("Status", incident.status.value),
        ("Mode", incident.mode or "-"),
        ("Detected", incident.detected_at),
        ("Account / region", f"{ctx.account or '-'} / {ctx.region or '-'}"),
        ("Actions so far", f"{incident.attempts} (budget {incident.budget_max} per window)"),
        ("Incident id", incident.incident_id),
    ]
    if incident.time_to_recover_seconds is not None and event in {"resolved", "closed"}:
        label = "Time to recover" if event == "resolved" else "Open for"
        details.insert(5, (label, duration(incident.time_to_recover_seconds)))
    return AlertView(
        event=event,
        label=LABELS.get(event, event.upper()),
        headline=_headline(incident, event, steps, would),
        summary=summary,
        next_steps=next_steps,
        next_command=next_command,
        why_human=_why_human(incident, summary) if event == "escalate" else None,
        done=done,
        facts=[] if event == "resolved" else human_facts(incident.facts, already_said=summary),
        # the diagnosis of the failure: news while it is open, stale once it recovered (the incident keeps it)
        evidence=[] if event in {"resolved", "closed"} else list(incident.evidence),
        links=console_links(incident, ctx),
        runbook=runbook_link(incident.runbook_section, ctx),
        commands=commands,
        details=details,
        timeline=list(incident.timeline[-timeline:]) if timeline else [],
        timeline_total=sum(incident.timeline_counts.values()) or len(incident.timeline),
    )
