"""Alerts are safe with any input (issue 11, "Why"): facts for humans, untrusted text that cannot forge lines or
markdown, query literals masked everywhere, and every message under SNS's limits whatever the incident's size."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from tests.support.alert_cases import CONTEXT, FORGED, TOPIC, Case, all_cases
from tests.unit.test_alert_golden import CHATBOT_SCHEMA, SNS_MESSAGE_BYTES, assert_sns_limits
from watchdogs.alerts.quoting import escape_markdown, mask_literals, one_line
from watchdogs.incidents import Evidence, TimelineEntry
from watchdogs.notifier import Notifier

CASES = {case.name: case for case in all_cases()}
EVENTS = ["act", "wait", "escalate", "notify", "observed", "resolved", "closed"]


def bodies_of(case: Case) -> tuple[dict[str, Any], dict[str, str]]:
    published = Notifier(TOPIC, context=CONTEXT).message(case.incident, case.event, case.message_id)
    return published, json.loads(published["Message"])


def with_error(error: str, event: str = "escalate") -> Case:
    base = CASES["escalate-crawler-access-denied"]
    facts = {**base.incident.facts, "last_crawl_error": error, "error_message": error}
    evidence = [Evidence(kind="crawler-log", title="log\n# forged title", lines=[error], source=error)]
    incident = base.incident.model_copy(
        update={"facts": facts, "summary": f'Crawler failed: "{error}".', "advice": [error], "evidence": evidence}
    )
    return Case("x", event, incident, base.message_id)


# ------------------------------------------------------------------------------------------------ facts for humans
def test_facts_have_no_reprs_no_wire_format_no_internal_codes_and_no_repeats() -> None:
    for case in CASES.values():
        _, bodies = bodies_of(case)
        for body in (bodies["email"], bodies["https"], bodies["sqs"]):
            assert "{'S':" not in body
            assert '{"S":' not in body
            assert "'}" not in body.replace("'?'}", "")  # no dict reprs
        assert "error_type" not in bodies["email"]
        assert "1000" not in bodies["email"].split("TIMELINE")[0]
    # the DynamoDB row reads as plain values, for people and for machines
    _, wait = bodies_of(CASES["wait-execution-awaits-crawler-heal"])
    assert '"pipeline_name=raw_to_curated, status=RUNNING"' in wait["email"]
    assert json.loads(wait["sqs"])["facts"]["metadata_row"] == {"pipeline_name": "raw_to_curated", "status": "RUNNING"}
    # the error text is said once above the history (in the summary), not again under each fact that holds it
    # (the EVIDENCE section quotes the crawler's own log, a separate source, so it is left out of the count)
    _, escalate = bodies_of(CASES["escalate-crawler-access-denied"])
    above = escalate["email"].split("TIMELINE")[0]
    without_evidence = re.sub(r"\nEVIDENCE:.*?\n\n", "\n\n", above, flags=re.S)
    assert "EVIDENCE:" in above
    assert "EVIDENCE:" not in without_evidence
    assert without_evidence.count("Status Code: 403") == 1


# ------------------------------------------------------------------------------------------------ untrusted text
@pytest.mark.parametrize("event", EVENTS)
def test_error_text_cannot_forge_a_line_in_the_email(event: str) -> None:
    _, bodies = bodies_of(with_error(FORGED, event))
    lines = bodies["email"].splitlines()
    # our section titles appear once each; the forged "NEXT STEP" stays inside a quoted, indented line
    assert lines.count("NEXT STEP") == 1
    assert not any(line.startswith(("NEXT STEP ", "- Run", "# forged")) for line in lines)
    for line in lines:
        if "aws s3 rb" in line or "forged" in line:  # indented or after one of our labels, never at column 0
            assert line.startswith((" ", "EVIDENCE: ")), line
    assert bodies["email"].count("\u23ce") >= 1  # the line break is shown, not performed


@pytest.mark.parametrize("event", EVENTS)
def test_error_text_cannot_inject_markdown_or_html_in_the_chatbot_payload(event: str) -> None:
    _, bodies = bodies_of(with_error(FORGED, event))
    payload = json.loads(bodies["https"])
    jsonschema.validate(payload, CHATBOT_SCHEMA)
    # outside code spans (which chat clients show literally) no link or tag survives; inside them no angle bracket
    text = json.dumps(payload["content"])
    outside = re.sub(r"`[^`]*`", "", text)
    assert "[details](https://evil.example)" not in outside
    assert "<b>" not in text
    for paragraph in payload["content"]["description"].split("\n"):
        assert not paragraph.startswith(("NEXT STEP", "- Run", "#")), paragraph


def test_untrusted_values_are_quoted_and_labelled_in_code_spans_for_chat() -> None:
    _, bodies = bodies_of(with_error("Access Denied `rm` *bold*"))
    description = json.loads(bodies["https"])["content"]["description"]
    assert "Crawl error (from Glue)" not in description or "`\"Access Denied 'rm' *bold*\"`" in description
    assert "Error (from AWS)" in bodies["email"] or "Access Denied" in bodies["email"]


def test_quoting_primitives() -> None:
    assert one_line("a\r\nb\u2028c\x1b[31m") == "a \u23ce b \u23ce c[31m"
    assert escape_markdown("[x](http://e) <b> *y*") == r"\[x\](http://e) &lt;b&gt; \*y\*"


# ------------------------------------------------------------------------------------------------ query literals
def test_literals_athena_quotes_back_are_masked_in_every_protocol() -> None:
    published, bodies = bodies_of(CASES["escalate-query-permission"])
    for protocol, body in bodies.items():
        assert "jane.doe" not in body, protocol
        assert "4711" not in body, protocol
    assert "jane.doe" not in published["Subject"]
    assert "email = '?' AND customer_id = ?" in bodies["email"]
    assert (
        mask_literals("x IN (1, 2) AND y BETWEEN 3 AND 4 AND z LIKE 'a%'")
        == "x IN (?, ?) AND y BETWEEN ? AND ? AND z LIKE '?'"
    )


# ------------------------------------------------------------------------------------------------ size
def _huge(event: str) -> Case:
    base = CASES["notify-crawler-unknown-failure"].incident
    timeline = [
        TimelineEntry(at=f"2026-12-01T08:{i % 60:02d}:00.000Z", kind="retry", step="start_crawler", detail="x" * 500)
        for i in range(10_000)
    ]
    facts: dict[str, Any] = {f"key_{i}": "v" * 5000 for i in range(300)}
    facts["nested"] = {"a": [{"b": ["c" * 5000] * 50}] * 50}
    evidence = [Evidence(kind="crawler-log", title="t" * 500, lines=["l" * 500] * 25, source="s" * 500)] * 6
    incident = base.model_copy(
        update={
            "timeline": timeline,
            "timeline_counts": {"retry": 10_000},
            "facts": facts,
            "evidence": evidence,
            "summary": "s" * 200_000,
            "advice": ["a" * 5000] * 200,
            "actions_done": {f"action_{i}": "t" for i in range(5000)},
        }
    )
    return Case("huge", event, incident, "huge:1")


@pytest.mark.parametrize("event", EVENTS)
def test_every_message_stays_under_sns_limits_whatever_the_incident(event: str) -> None:
    # Given an incident with 10,000 timeline entries, huge facts, evidence, summary and advice
    published, bodies = bodies_of(_huge(event))
    # Then the whole message and every body fit
    assert_sns_limits(published)
    assert len(published["Message"].encode()) < SNS_MESSAGE_BYTES
    assert all(len(body.encode()) < 64_000 for body in bodies.values())
    jsonschema.validate(json.loads(bodies["https"]), CHATBOT_SCHEMA)
    machine = json.loads(bodies["sqs"])
    assert len(machine["timeline"]) <= 50
    assert machine["timeline_counts"] == {"retry": 10_000}
