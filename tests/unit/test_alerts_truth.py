"""Alerts tell the truth of the transition they report (issue 11, "Why"): resolved, observe, escalate and act
messages, subjects that differ per transition, links and the exact operator commands."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.alert_cases import CONTEXT, CURATED, RAW, TOPIC, Case, Rig, all_cases
from watchdogs.alerts import AlertContext, subject_for
from watchdogs.alerts.links import RUNBOOK_DOCS, console_links, ops_commands, runbook_link
from watchdogs.incidents import Incident, OutboxEntry, TimelineEntry
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType
from watchdogs.notifier import Notifier
from watchdogs.outbox import as_of

ROOT = Path(__file__).resolve().parents[2]
CASES = {case.name: case for case in all_cases()}


def message(case: Case, ctx: AlertContext = CONTEXT) -> tuple[dict[str, Any], dict[str, str]]:
    published = Notifier(TOPIC, context=ctx).message(case.incident, case.event, case.message_id)
    return published, json.loads(published["Message"])


def section(email: str, title: str) -> str:
    """The lines of one section of the email (up to the next blank line)."""
    return email.split(f"\n{title}", 1)[1].split("\n\n", 1)[0] if f"\n{title}" in email else ""


def before_timeline(email: str) -> str:
    return email.split("\nTIMELINE", 1)[0]


def test_resolved_says_what_recovered_how_long_and_what_was_done_not_the_first_decision() -> None:
    # Given a transient crawler failure the watchdogs restarted, which then succeeded (the real runbook, via the engine)
    _, bodies = message(CASES["resolved-crawler"])
    email = bodies["email"]
    # Then the message says it recovered, after how long, and what the watchdogs did
    assert "recovered after 4m 01s" in email
    assert "Time to recover:      4m 01s" in email
    assert "restarted the crawler (start_crawler -> started)" in section(email, "WHAT THE WATCHDOGS DID")
    # And nothing above the history repeats the first decision or its stale facts
    current = before_timeline(email)
    assert "restarting it" not in current
    assert "Restart the crawler" not in current
    assert "FAILED" not in current.replace("Condition:            FAILED", "")
    assert section(email, "NEXT STEP").strip().startswith("- Nothing to do")
    machine = json.loads(bodies["sqs"])
    assert machine["alert"]["next_steps"][0].startswith("Nothing to do")


def test_resolved_subject_and_severity_say_resolved() -> None:
    published, bodies = message(CASES["resolved-crawler"])
    assert published["Subject"].startswith("[sandbox] RESOLVED: crawler")
    assert not re.search(r"\b(warning|high|critical)\b", published["Subject"])
    attributes = {k: v["StringValue"] for k, v in published["MessageAttributes"].items()}
    assert attributes["severity"] == "info"
    assert attributes["status"] == "resolved"
    assert "Severity:             resolved" in bodies["email"]
    assert json.loads(bodies["https"])["content"]["keywords"][0] == "RESOLVED"


def test_observe_mode_says_would_have_and_nothing_was_done() -> None:
    published, bodies = message(CASES["observed-crawler-would-restart"])
    email = bodies["email"]
    assert "nothing done" in published["Subject"]
    assert "would have restarted the crawler (start_crawler); nothing was done" in email
    # the runbook's own words ("restarting it") appear only where they are labelled as not carried out
    for line_block in before_timeline(email).split("\n\n"):
        if "restarting it" in line_block:
            assert "not carried out" in line_block
    assert "start_crawler -> started" not in email
    chatbot = json.loads(bodies["https"])["content"]["description"]
    assert "would have restarted the crawler" in chatbot
    assert "not carried out: observe mode" in chatbot


@pytest.mark.parametrize("name", ["escalate-crawler-access-denied", "escalate-query-permission"])
def test_escalation_says_why_a_human_is_needed_now_and_leads_with_the_ack_command(name: str) -> None:
    _, bodies = message(CASES[name])
    why = section(bodies["email"], "WHY A HUMAN IS NEEDED NOW")
    assert "no automatic fix" in why
    assert section(bodies["email"], "NEXT STEP").split("\n")[1].strip().startswith("- Acknowledge")
    assert "ack " in json.loads(bodies["https"])["content"]["nextSteps"][0]


@pytest.mark.parametrize(
    ("facts", "summary", "expected"),
    [
        (
            {"escalation_reason": "budget"},
            "x Not acted on: action budget exhausted.",
            "budget for this resource is spent",
        ),
        ({"escalation_reason": "quarantine"}, "x Not acted on: resource quarantined.", "quarantined"),
        ({}, "x Not completed: start_crawler refused: AccessDenied. A human must look.", "refused by AWS"),
    ],
)
def test_escalation_reason_follows_what_stopped_the_watchdogs(
    facts: dict[str, str], summary: str, expected: str
) -> None:
    incident = CASES["escalate-crawler-access-denied"].incident.model_copy(update={"facts": facts, "summary": summary})
    _, bodies = message(Case("x", "escalate", incident, "x:1"))
    assert expected in section(bodies["email"], "WHY A HUMAN IS NEEDED NOW").replace("\n   ", "")


def test_two_act_alerts_of_different_transitions_have_different_subjects() -> None:
    # Given a crawler that hangs: the watchdogs stop it, then start it once READY (two ACT transitions)
    rig = Rig()
    rig.glue.begin(RAW, hangs=True)
    rig.clock.advance(900)
    stuck = {"resource_type": ResourceType.CRAWLER, "resource_id": RAW, "condition": Condition.STUCK}
    rig.engine.handle(Finding(**stuck, source="sweep", observed_at=rig.clock(), scope_key=RAW))
    rig.glue.settle(RAW, "CANCELLED")
    rig.clock.advance(60)
    rig.engine.handle(Finding(**stuck, source="sweep", observed_at=rig.clock(), scope_key=RAW))
    # and a transient failure restarted twice
    for _ in range(2):
        rig.crawl(CURATED, "FAILED", "Rate exceeded")
        rig.clock.advance(30)
    acts = [(i, e) for i, e, _ in rig.notifier.sent if e == "act"]
    subjects = [subject_for(incident, event) for incident, event in acts]
    # Then there are four ACT messages and no two subjects are the same
    assert len(acts) == 4, [e for _, e, _ in rig.notifier.sent]
    assert len(set(subjects)) == 4, subjects
    assert "stopped" in subjects[0]
    assert "restarted" in subjects[1]


def test_a_late_message_reports_its_own_transition_not_a_later_one() -> None:
    # Given an ACT transition at 08:00 whose message is sent after a later one at 09:00 was recorded
    base = CASES["act-crawler-restarted"].incident
    later = TimelineEntry(at="2026-12-01T09:00:00.000Z", kind="action", step="stop_crawler", outcome="stopping")
    entry = OutboxEntry(message_id="m:1", event="act", at=base.timeline[-1].at, snapshot={"status": "remediated"})
    now = base.model_copy(update={"timeline": [*base.timeline, later], "status": IncidentStatus.ESCALATED})
    # When it is rendered as of its transition
    rendered = as_of(now, entry)
    # Then the later action is not part of it
    assert rendered.status is IncidentStatus.REMEDIATED
    assert "stop_crawler" not in Notifier(TOPIC, context=CONTEXT).message(rendered, "act", "m:1")["Subject"]
    assert all(e.at <= entry.at for e in rendered.timeline)


# ------------------------------------------------------------------------------------------------ links / commands
@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "https://console.aws.amazon.com/"),
        ("cn-north-1", "https://console.amazonaws.cn/"),
        ("us-gov-west-1", "https://console.amazonaws-us-gov.com/"),
    ],
)
@pytest.mark.parametrize("name", sorted(CASES))
def test_console_links_are_region_and_partition_aware(region: str, host: str, name: str) -> None:
    partition = "aws-cn" if region.startswith("cn") else "aws-us-gov" if "gov" in region else "aws"
    topic = f"arn:{partition}:sns:{region}:111122223333:a"
    ctx = AlertContext.from_topic(topic, stack_name="wd")
    links = console_links(CASES[name].incident, ctx)
    assert links
    assert all(link.url.startswith(host) and f"region={region}" in link.url for link in links)
    assert f"111122223333 / {region}" in message(CASES[name], ctx)[1]["email"]


def test_links_cover_crawler_log_stream_query_and_execution_with_failed_state() -> None:
    crawler = console_links(CASES["notify-crawler-unknown-failure"].incident, CONTEXT)
    assert (
        "/glue/home?region=eu-west-1#/v2/data-catalog/crawlers/view/lakehouse-sandbox-events-crawler" in crawler[0].url
    )
    assert "log-group/$252Faws-glue$252Fcrawlers/log-events/lakehouse-sandbox-events-crawler" in crawler[1].url
    query = console_links(CASES["escalate-query-permission"].incident, CONTEXT)
    assert query[0].url.endswith("#/query-editor/history/5e7a9c1d-2b3f-4a6e-8c0d-1f2e3a4b5c6d")
    execution = console_links(CASES["wait-execution-awaits-crawler-heal"].incident, CONTEXT)
    assert "#/v2/executions/details/arn:aws:states:eu-west-1" in execution[0].url
    assert "failed state: WaitForCrawler" in execution[0].label


def test_a_hostile_name_cannot_redirect_a_link() -> None:
    incident = CASES["act-crawler-restarted"].incident.model_copy(update={"resource_id": "x/../../evil#@attacker.com"})
    for link in console_links(incident, CONTEXT):
        assert link.url.startswith("https://console.aws.amazon.com/")
        assert "@attacker.com" not in link.url
        assert "/../" not in link.url


@pytest.mark.parametrize("kind", ["crawler", "query", "execution"])
def test_operator_commands_follow_the_watchdogs_ops_syntax(kind: str) -> None:
    incident = Incident(
        incident_id="i",
        resource_type=ResourceType(kind),
        resource_id="name-1",
        condition=Condition.FAILED,
        status=IncidentStatus.OPEN,
        detected_at="t",
        updated_at="t",
    )
    commands = ops_commands(incident, AlertContext(stack_name="lakehouse-watchdogs-prod"))
    base = "watchdogs-ops --stack-name lakehouse-watchdogs-prod"
    assert commands == {
        "show": f"{base} show {kind} name-1",
        "ack": f'{base} ack {kind} name-1 --by <you> --reason "<why>"',
        "resolve": f'{base} resolve {kind} name-1 --by <you> --note "<what you did>"',
    }
    hostile = incident.model_copy(update={"resource_id": "a; rm -rf ~"})
    assert ops_commands(hostile, AlertContext())["show"].endswith("show " + kind + " 'a; rm -rf ~'")


def _runbook_sections() -> set[str]:
    from watchdogs.runbooks.crawler import failures as crawler
    from watchdogs.runbooks.execution import rules as execution
    from watchdogs.runbooks.query import failures as query

    return {
        v
        for m in (crawler, execution, query)
        for k, v in vars(m).items()
        if k.startswith("RUNBOOK") and isinstance(v, str)
    }


@pytest.mark.parametrize("section_name", sorted(_runbook_sections()))
def test_every_runbook_section_links_to_an_existing_docs_anchor(section_name: str) -> None:
    link = runbook_link(section_name, AlertContext())
    assert link is not None
    page, anchor = link.url.split("#")
    headings = [line.lstrip("#").strip() for line in (ROOT / page).read_text().splitlines() if line.startswith("#")]
    slugs = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in headings}
    assert anchor in slugs
    assert {p for _, p, _ in RUNBOOK_DOCS} <= {str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")}


def test_the_engine_builds_links_and_commands_from_its_settings() -> None:
    from tests.property.common import make_settings
    from watchdogs.clients import AwsClients
    from watchdogs.engine import Engine
    from watchdogs.incidents.memory import MemoryIncidentStore

    settings = make_settings(
        "remediate",
        STACK_NAME="lakehouse-watchdogs-cn",
        AWS_REGION="cn-north-1",
        ALERT_TOPIC_ARN="arn:aws-cn:sns:cn-north-1:123456789012:alerts",
        DOCS_BASE_URL="https://git.example.com/repo/blob/main/",
    )
    clients = AwsClients(sns=object())  # never called: message() only renders
    engine = Engine(settings, clients, {}, store=MemoryIncidentStore(environment="prop"))
    ctx = engine.notifier.context
    assert (ctx.stack_name, ctx.region, ctx.partition, ctx.account) == (
        "lakehouse-watchdogs-cn",
        "cn-north-1",
        "aws-cn",
        "123456789012",
    )
    incident = CASES["act-crawler-restarted"].incident
    email = json.loads(engine.notifier.message(incident, "act", "m:1")["Message"])["email"]
    assert "https://console.amazonaws.cn/glue/home?region=cn-north-1" in email
    assert "watchdogs-ops --stack-name lakehouse-watchdogs-cn show crawler" in email
    assert "https://git.example.com/repo/blob/main/docs/glue.md#what-each-runbook-step-became" in email
