"""The crawler and query runbooks declare themselves: their steps (persisted on incidents), the reads each condition
may make (granted by template.yaml through ``read_permissions``), and the shell reads no more than declared. No
network: the shells read in-memory fakes that record every call."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.support.steps import checked_steps
from watchdogs.incidents import Incident, ResourceState, TimelineEntry, iso
from watchdogs.lifecycle.steps import StepTable
from watchdogs.models.domain import Condition, Decision, Finding, IncidentStatus, Outcome, ResourceType
from watchdogs.runbooks import crawler, query
from watchdogs.runbooks.crawler.facts import CrawlerFacts
from watchdogs.runbooks.crawler.reset import decide_stuck as decide_crawler_stuck
from watchdogs.runbooks.crawler.reset import reset_due
from watchdogs.runbooks.crawler.rules import decide_failed as decide_crawler_failed
from watchdogs.runbooks.crawler.rules import restart_due
from watchdogs.runbooks.crawler.steps import Step as CrawlerStep
from watchdogs.runbooks.query.cancel import cancel_due
from watchdogs.runbooks.query.cancel import decide_stuck as decide_query_stuck
from watchdogs.runbooks.query.facts import QueryFacts
from watchdogs.runbooks.query.steps import Step as QueryStep
from watchdogs.settings import Settings, load_settings

NOW = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)
CRAWLER = "lakehouse-sandbox-raw-crawler"
QID = "7c1d4b2e-9a3f-4e61-b0d5-2f8e6a1c9d01"
WG = "lakehouse-sandbox-workgroup"
ACCOUNT = "123456789012"


def settings() -> Settings:
    return load_settings(
        {
            "ENVIRONMENT": "test",
            "WATCHDOG_MODE": "remediate",
            "INCIDENT_TABLE": "incidents",
            "ALERT_TOPIC_ARN": f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts",
            "ACCOUNT_ID": ACCOUNT,
            "SCOPE_CRAWLER_PREFIXES": "lakehouse-sandbox-",
            "SCOPE_WORKGROUPS": WG,
            "CRAWLER_STUCK_SECONDS": "2700",
            "QUERY_STUCK_SECONDS": "1500",
        }
    )


def incident(
    resource_type: ResourceType,
    condition: Condition,
    pending: str | None = None,
    actions: tuple[tuple[str, datetime], ...] = (),
    **fields: Any,
) -> Incident:
    return Incident(
        incident_id="inc-1",
        resource_type=resource_type,
        resource_id=CRAWLER if resource_type is ResourceType.CRAWLER else QID,
        condition=condition,
        status=IncidentStatus.REMEDIATING,
        detected_at=iso(NOW - timedelta(hours=1)),
        updated_at=iso(NOW - timedelta(minutes=5)),
        pending_step=pending,
        timeline=[TimelineEntry(at=iso(at), kind="action", step=step, outcome="ok") for step, at in actions],
        **fields,
    )


# ------------------------------------------------------------------------------------------------ steps
def test_step_values_are_the_strings_already_persisted_on_incidents() -> None:
    # existing incident records carry these exact strings in pending_step: renaming one strands them
    assert {s.value for s in CrawlerStep} == {"start_when_ready", "await_success"}
    assert {s.value for s in QueryStep} == {"confirm-cancel"}


@pytest.mark.parametrize(
    ("table", "steps"), [(crawler.STEPS, set(CrawlerStep)), (query.STEPS, set(QueryStep))], ids=["crawler", "query"]
)
def test_each_table_names_exactly_its_steps_and_describes_them(table: StepTable, steps: set[str]) -> None:
    assert set(table.steps) == steps
    assert set(table.descriptions) == steps
    assert not table.allows(None, "some-other-runbook-step")


def test_remediators_declare_their_step_tables() -> None:
    assert crawler.CrawlerRemediator.steps is crawler.STEPS
    assert query.QueryRemediator.steps is query.STEPS


def test_the_step_guard_refuses_an_undeclared_transition() -> None:
    # Given a decision function that invents a step / When checked / Then the guard the runbook tests use fails
    def invents(_: Incident | None) -> Decision:
        return Decision(outcome=Outcome.WAIT, summary="x", next_step="start_over")

    with pytest.raises(AssertionError, match="idle -> start_over is not in the crawler-reset table"):
        checked_steps(invents, crawler.STEPS)(None)


# ------------------------------------------------------------------------------------------------ declared reads
@pytest.mark.parametrize(
    ("remediator", "conditions"),
    [(crawler.CrawlerRemediator, crawler.CONDITIONS), (query.QueryRemediator, query.CONDITIONS)],
    ids=["crawler", "query"],
)
def test_read_permissions_are_the_union_of_what_each_condition_declares(
    remediator: Any, conditions: dict[Condition, tuple[str, ...]]
) -> None:
    assert set(remediator.read_permissions) == set(itertools.chain.from_iterable(conditions.values()))
    assert list(remediator.read_permissions) == sorted(remediator.read_permissions)


class Recorder:
    """Records every call a shell makes as its IAM action (``glue:GetCrawler``), and answers from ``answers``."""

    def __init__(self, service: str, answers: dict[str, Any]) -> None:
        self.service, self.answers, self.calls = service, answers, []

    def __getattr__(self, method: str) -> Any:
        def call(**_: Any) -> Any:
            self.calls.append(f"{self.service}:{''.join(p.title() for p in method.split('_'))}")
            answer = self.answers[method]
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


class Clients:
    def __init__(self, glue: Recorder | None = None, athena: Recorder | None = None) -> None:
        self.glue, self.athena = glue, athena


def glue_answers(state: str, last: str = "FAILED", error: str = "Rate exceeded") -> dict[str, Any]:
    crawl = {"Status": last, "ErrorMessage": error, "StartTime": NOW - timedelta(hours=2)}
    answer = {"Name": CRAWLER, "State": state, "CrawlElapsedTime": 4_000_000, "LastCrawl": crawl}
    return {"get_crawler": {"Crawler": answer}, "get_tags": {"Tags": {}}}


CRAWLER_SITUATIONS = [
    (condition, state, last, open_incident)
    for condition in (*crawler.CONDITIONS, Condition.CANCELLED)
    for state in ("READY", "RUNNING", "STOPPING")
    for last in ("FAILED", "SUCCEEDED")
    for open_incident in (None, CrawlerStep.START_WHEN_READY, CrawlerStep.AWAIT_SUCCESS)
]


@pytest.mark.parametrize(("condition", "state", "last", "pending"), CRAWLER_SITUATIONS)
def test_the_crawler_shell_reads_only_what_its_condition_declares(
    condition: Condition, state: str, last: str, pending: str | None
) -> None:
    # Given a crawler in `state` whose last crawl ended `last`, and maybe an open incident at `pending`
    glue = Recorder("glue", glue_answers(state, last))
    shell = crawler.CrawlerRemediator(settings(), Clients(glue=glue))  # type: ignore[arg-type]
    incidents = {condition: incident(ResourceType.CRAWLER, condition, pending)} if pending else {}
    facts = {"account_id": ACCOUNT, "error_message": "Rate exceeded", "changed_anything": False}
    finding = Finding(
        resource_type=ResourceType.CRAWLER, resource_id=CRAWLER, observed_at=NOW, condition=condition, facts=facts
    )
    # When inspected
    shell.inspect(finding, ResourceState(ResourceType.CRAWLER, CRAWLER, incidents=incidents))
    # Then every call is one the condition declares (an undeclared condition reads nothing)
    assert set(glue.calls) <= set(crawler.CONDITIONS.get(condition, ()))


QUERY_SITUATIONS = [
    (condition, state, seconds, sent)
    for condition in (*query.CONDITIONS, Condition.STARTED)
    for state in ("RUNNING", "FAILED", "CANCELLED")
    for seconds in (60, 3600)
    for sent in (False, True)
]


@pytest.mark.parametrize(("condition", "state", "seconds", "cancel_sent"), QUERY_SITUATIONS)
def test_the_query_shell_reads_only_what_its_condition_declares(
    condition: Condition, state: str, seconds: int, cancel_sent: bool
) -> None:
    # Given a query in `state` for `seconds`, timed out if it failed, and maybe our cancel already sent
    error = {"ErrorCategory": 1, "ErrorType": 206, "ErrorMessage": "Query timeout"} if state == "FAILED" else None
    status = {"State": state, "SubmissionDateTime": NOW - timedelta(seconds=seconds), "AthenaError": error}
    execution = {"QueryExecutionId": QID, "WorkGroup": WG, "Status": {k: v for k, v in status.items() if v}}
    athena = Recorder(
        "athena",
        {
            "get_query_execution": {"QueryExecution": execution},
            "get_work_group": {"WorkGroup": {"Configuration": {}}},
            "list_tags_for_resource": {"Tags": []},
        },
    )
    shell = query.QueryRemediator(settings(), Clients(athena=athena))  # type: ignore[arg-type]
    sent = (("stop_query", NOW - timedelta(minutes=1)),) if cancel_sent else ()
    incidents = {condition: incident(ResourceType.QUERY, condition, actions=sent)} if cancel_sent else {}
    finding = Finding(
        resource_type=ResourceType.QUERY, resource_id=QID, observed_at=NOW, condition=condition, scope_key=WG
    )
    # When inspected
    shell.inspect(finding, ResourceState(ResourceType.QUERY, QID, incidents=incidents))
    # Then every call is one the condition declares
    assert set(athena.calls) <= set(query.CONDITIONS.get(condition, ()))


def test_an_unreadable_crawler_is_an_error_not_a_read_beyond_the_declaration() -> None:
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "GetCrawler")
    glue = Recorder("glue", {"get_crawler": throttled})
    shell = crawler.CrawlerRemediator(settings(), Clients(glue=glue))  # type: ignore[arg-type]
    finding = Finding(
        resource_type=ResourceType.CRAWLER, resource_id=CRAWLER, observed_at=NOW, condition=Condition.STUCK
    )
    with pytest.raises(RuntimeError, match="GetCrawler"):
        shell.inspect(finding, ResourceState(ResourceType.CRAWLER, CRAWLER))
    assert glue.calls == ["glue:GetCrawler"]


# ------------------------------------------------------------------------------------------------ tags before acting
def stuck_incident(sent: bool) -> Incident | None:
    return incident(ResourceType.QUERY, Condition.STUCK, actions=(("stop_query", NOW),)) if sent else None


@pytest.mark.parametrize(
    ("state", "elapsed", "found", "sent"),
    list(itertools.product(("QUEUED", "RUNNING", "FAILED", None), (0, 1499, 1500, 9000), (True, False), (False, True))),
)
def test_cancel_due_is_exactly_when_the_stuck_query_rule_cancels(
    state: str | None, elapsed: int, found: bool, sent: bool
) -> None:
    # Given a query's facts and whether our cancel was sent
    facts = QueryFacts(state=state, elapsed_seconds=elapsed, found=None if found else False, workgroup=WG)
    # When the rule decides / Then the shell's tag read (cancel_due) agrees with it, in both modes
    for observing in (False, True):
        decision = decide_query_stuck(
            QID, facts, stuck_incident(sent), threshold_seconds=1500, observing=observing, now=NOW
        )
        assert bool(decision.actions) is cancel_due(facts, stuck_incident(sent), 1500)


TAGGED = {"opted_out": False, "threshold_seconds": 2700, "expect_new_data": False}
CRAWLS = list(
    itertools.product(
        ("READY", "RUNNING", "STOPPING"),
        ("FAILED", "SUCCEEDED", "CANCELLED"),
        (None, CrawlerStep.START_WHEN_READY, CrawlerStep.AWAIT_SUCCESS),
    )
)


def crawl(condition: Condition, state: str, last: str, pending: str | None) -> tuple[Finding, CrawlerFacts, Any]:
    """A finding, what GetCrawler says, and an open incident at `pending` (its stop made 10 minutes ago)."""
    finding = Finding(resource_type=ResourceType.CRAWLER, resource_id=CRAWLER, observed_at=NOW, condition=condition)
    read = CrawlerFacts(
        exists=True, crawler_state=state, running_seconds=4000, last_crawl_status=last, last_crawl_error="Rate exceeded"
    )
    stop = (("stop_crawler", NOW - timedelta(minutes=10)),)
    return finding, read, incident(ResourceType.CRAWLER, condition, pending, stop) if pending else None


@pytest.mark.parametrize(("state", "last", "pending"), CRAWLS)
def test_a_failed_crawler_is_never_restarted_without_its_tags_read_first(
    state: str, last: str, pending: str | None
) -> None:
    # Given a failed crawl / When the rule decides on the facts with the tags read
    finding, read, open_incident = crawl(Condition.FAILED, state, last, pending)
    decision = decide_crawler_failed(finding, read.model_copy(update=TAGGED), open_incident, settings(), NOW)
    # Then whenever it acts, the shell's declared predicate had the tags read
    assert not decision.actions or restart_due(finding, read, open_incident)


@pytest.mark.parametrize(("state", "last", "pending"), CRAWLS)
def test_a_stuck_crawler_is_never_reset_without_its_tags_read_first(state: str, last: str, pending: str | None) -> None:
    # Given a stuck crawler / When the rule decides on the facts with the tags read
    finding, read, open_incident = crawl(Condition.STUCK, state, last, pending)
    decision = decide_crawler_stuck(finding, read.model_copy(update=TAGGED), open_incident, settings(), NOW)
    # Then whenever it acts, the shell's declared predicate had the tags read
    assert not decision.actions or reset_due(read, open_incident)
