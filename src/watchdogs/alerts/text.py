"""The email / default body: plain text for people, at most 80 columns (URLs aside), next step first.

Layout: headline, NEXT STEP, WHY A HUMAN IS NEEDED (escalations), WHAT HAPPENED, WHAT THE WATCHDOGS DID, FACTS,
EVIDENCE, LINKS, COMMANDS, DETAILS, TIMELINE. Section titles and labels start at column 0; everything taken from
an incident (summaries, advice, facts, evidence, timeline details) is indented under them and flattened to one line
before wrapping, so no text from AWS can forge a line of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from watchdogs.alerts.quoting import mask_literals, one_line, quoted, wrap

if TYPE_CHECKING:
    from watchdogs.alerts.view import AlertView

WIDTH = 80
INDENT = "  "


def _section(title: str, items: list[str], *, bullet: str = "- ") -> list[str]:
    if not items:
        return []
    lines = ["", title]
    for item in items:
        lines += wrap(item, WIDTH, INDENT + bullet, INDENT + " " * len(bullet))
    return lines


def _labelled(label: str, value: str, width: int = 22) -> list[str]:
    head = f"{INDENT}{label + ':':<{width}}"
    return wrap(value, WIDTH, head, " " * len(head))


def render(view: AlertView, *, evidence_lines: int = 25, timeline: bool = True) -> str:
    lines = [f"Lakehouse watchdog {view.label}", "", *wrap(view.headline, WIDTH)]
    steps = list(view.next_steps)
    if view.next_command:
        steps[0] = f"{steps[0]} {view.commands[view.next_command]}"
    lines += _section("NEXT STEP", steps)
    if view.why_human:
        lines += ["", "WHY A HUMAN IS NEEDED NOW", *wrap(view.why_human, WIDTH, INDENT, INDENT)]
    if view.summary and view.event == "observed":
        lines += ["", "WHAT THE RUNBOOK DECIDED (not carried out: observe mode)"]
        lines += wrap(view.summary, WIDTH, INDENT, INDENT)
    elif view.summary:
        lines += ["", "WHAT HAPPENED (the runbook's reading; quoted text is from AWS)"]
        lines += wrap(view.summary, WIDTH, INDENT, INDENT)
    lines += _section(
        "WHAT THE WATCHDOGS DID" if view.event != "observed" else "WHAT THE WATCHDOGS WOULD HAVE DONE", view.done
    )
    if view.facts:
        lines += ["", "FACTS (quoted values are untrusted text from AWS)"]
        for fact in view.facts:
            lines += _labelled(fact.label, quoted(fact.value) if fact.untrusted else fact.value, 30)
    lines += _evidence(view, evidence_lines)
    links = [f"{link.label}: {link.url}" for link in view.links]
    if view.runbook:
        links.append(f"Runbook ({one_line(view.runbook.label, 120)}): {view.runbook.url}")
    lines += _section("LINKS", links)
    lines += ["", "COMMANDS (watchdogs-ops)"]
    for name in ("show", "ack", "resolve"):
        lines += wrap(view.commands[name], WIDTH, f"{INDENT}$ ", INDENT + "    ")
    lines += ["", "DETAILS"] + [x for label, value in view.details for x in _labelled(label, one_line(value, 300))]
    if timeline:
        lines += _timeline(view)
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _evidence(view: AlertView, evidence_lines: int) -> list[str]:
    lines: list[str] = []
    for item in view.evidence:
        lines += ["", *wrap(f"EVIDENCE: {one_line(item.title, 160)}", WIDTH, "", INDENT)]
        if item.unavailable:
            lines += wrap(f"evidence unavailable: {one_line(item.unavailable, 300)}", WIDTH, INDENT, INDENT)
            continue
        for line in item.lines[:evidence_lines]:
            lines += wrap(quoted(mask_literals(line), 300), WIDTH, INDENT + "| ", INDENT + "| ")
        if item.source:
            lines += wrap(f"source: {quoted(item.source, 200)}", WIDTH, INDENT, INDENT)
    return lines


def _timeline(view: AlertView) -> list[str]:
    if not view.timeline:
        return []
    shown = len(view.timeline)
    lines = ["", f"TIMELINE (last {shown} of {max(shown, view.timeline_total)} entries)"]
    for entry in view.timeline:
        step = f" {entry.step}" if entry.step else ""
        outcome = f" -> {entry.outcome}" if entry.outcome else ""
        text = f"{entry.at} {entry.kind}{step}{outcome}"
        detail = one_line(mask_literals(entry.detail), 200) if entry.detail else ""
        lines += wrap(f"{text}: {quoted(detail)}" if detail else text, WIDTH, INDENT, INDENT + "  ")
    return lines
