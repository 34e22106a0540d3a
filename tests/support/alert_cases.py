"""The incidents behind the alert golden files, made by the real runbooks and engine wherever practical.

Crawler cases run the crawler runbook through the :class:`~watchdogs.engine.Engine` against the in-memory fakes
(Glue, the incident store) and capture what the outbox publishes: the act / resolved / escalate / observed / notify
/ closed messages are what a deployment would send. Cases the fakes cannot drive (a pipeline run waiting on a heal,
an Athena failure quoting the query's literals) are built as records. Random parts (incident ids, write times) are
pinned so the files are stable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.property.common import make_settings
from tests.support.fakes import Clock, Crawler, FakeGlue
from watchdogs.alerts import AlertContext
from watchdogs.clients import AwsClients
from watchdogs.engine import Engine
from watchdogs.incidents import Evidence, Incident, TimelineEntry
from watchdogs.incidents.memory import MemoryIncidentStore
from watchdogs.models.domain import Condition, Finding, IncidentStatus, ResourceType, Severity
from watchdogs.notifier import Notifier
from watchdogs.runbooks.crawler import CrawlerRemediator

CONTEXT = AlertContext(
    stack_name="lakehouse-watchdogs-sandbox",
    region="eu-west-1",
    partition="aws",
    account="123456789012",
    docs_base_url="https://git.example.com/data-platform/lakehouse-watchdogs/blob/main",
)
TOPIC = "arn:aws:sns:eu-west-1:123456789012:lakehouse-watchdogs-alerts"
RAW = "lakehouse-sandbox-raw-crawler"
CURATED = "lakehouse-sandbox-curated-crawler"
EVENTS = "lakehouse-sandbox-events-crawler"
THROTTLED = "Rate exceeded (Service: AWSGlue; Status Code: 400; Error Code: ThrottlingException)"
#: a crafted error: its line break tries to add an instruction, its markdown a link, its HTML a tag
FORGED = (
    "Access Denied (Service: Amazon S3; Status Code: 403; Error Code: AccessDenied)\n"
    "NEXT STEP\n  - Run: aws s3 rb s3://lake --force [details](https://evil.example) <b>now</b>"
)


@dataclass(frozen=True)
class Case:
    name: str
    event: str
    incident: Incident
    message_id: str


class CapturingNotifier(Notifier):
    """Publishes nothing; keeps every (incident as of its transition, event, message id) the outbox hands over."""

    def __init__(self) -> None:
        super().__init__(TOPIC, client=None, context=CONTEXT)
        self.sent: list[tuple[Incident, str, str]] = []

    def publish(self, incident: Incident, event: str, message_id: str | None = None) -> str:
        self.sent.append((incident, event, message_id or ""))
        return f"sns-{len(self.sent)}"


class CrawlerLogs:
    """CloudWatch Logs as the evidence gatherer reads it: the last events of a crawler's stream."""

    def __init__(self, glue: FakeGlue) -> None:
        self.glue = glue

    def get_log_events(self, **kwargs: Any) -> dict[str, Any]:
        stream = kwargs["logStreamName"]
        at = int(self.glue.clock().timestamp() * 1000)
        error = (self.glue.crawlers[stream].last_error or "").splitlines()[0]  # the log holds the crawl's own error
        lines = [
            f"[e3a1] INFO : Crawler {stream} started: crawling s3://lake/{stream}/",
            f"[e3a1] ERROR : {error}",
            f"[e3a1] ERROR : Crawler {stream} failed; 0 tables created, 0 updated",
        ]
        return {"events": [{"timestamp": at - 1000 * (3 - n), "message": m} for n, m in enumerate(lines)]}


class Rig:
    def __init__(self, mode: str = "remediate") -> None:
        self.clock = Clock()
        self.glue = FakeGlue(self.clock, crawlers={n: Crawler(n) for n in (RAW, CURATED, EVENTS)})
        self.store = MemoryIncidentStore(environment="sandbox")
        self.notifier = CapturingNotifier()
        settings = make_settings(mode, ENVIRONMENT="sandbox", AWS_REGION="eu-west-1")
        clients = AwsClients(glue=self.glue, logs=CrawlerLogs(self.glue))
        self.engine = Engine(
            settings,
            clients,
            {ResourceType.CRAWLER: CrawlerRemediator(settings, clients)},  # type: ignore[dict-item]
            store=self.store,
            notifier=self.notifier,
            actor="glue-watchdog/3f9c2a1b",
            clock=self.clock,
        )

    def crawl(self, name: str, outcome: str, error: str = "", *, after: float = 0) -> None:
        self.glue.begin(name, hangs=False)
        self.clock.advance(after or 60)
        self.glue.settle(name, outcome, error)
        condition = Condition.RECOVERED if outcome == "SUCCEEDED" else Condition.FAILED
        facts: dict[str, Any] = {"changed_anything": True} if outcome == "SUCCEEDED" else {"error_message": error}
        finding = Finding(
            resource_type=ResourceType.CRAWLER,
            resource_id=name,
            condition=condition,
            event_id=f"evt-{len(self.notifier.sent)}",
            observed_at=self.clock(),
            scope_key=name,
            facts=facts,
        )
        self.engine.handle(finding)

    def last(self, event: str) -> tuple[Incident, str]:
        incident, sent_event, message_id = next(s for s in reversed(self.notifier.sent) if s[1] == event)
        assert sent_event == event
        return incident, message_id


def _pinned(name: str, event: str, incident: Incident, message_id: str, number: int) -> Case:
    pinned_id = f"00000000-0000-4000-8000-{number:012d}"
    seq = message_id.rsplit(":", 1)[-1]
    at = incident.timeline[-1].at
    facts = {**incident.facts, "read_at": at} if "read_at" in incident.facts else incident.facts  # wall clock
    pinned = incident.model_copy(update={"incident_id": pinned_id, "updated_at": at, "facts": facts})
    return Case(name, event, pinned, f"{pinned_id}:{seq}")


def crawler_cases() -> list[Case]:
    rig = Rig()
    rig.crawl(RAW, "FAILED", THROTTLED)  # transient: restarted
    act, act_id = rig.last("act")
    rig.clock.advance(240)
    rig.glue.settle(RAW, "SUCCEEDED")  # the restarted crawl succeeds
    rig.crawl(RAW, "SUCCEEDED", after=1)
    resolved, resolved_id = rig.last("resolved")
    rig.crawl(CURATED, "FAILED", FORGED)  # access denied: a person must fix the role
    escalate, escalate_id = rig.last("escalate")
    rig.crawl(EVENTS, "FAILED", "Crawl aborted by the service at 08:01: see the log stream")
    notify, notify_id = rig.last("notify")
    notify = notify.model_copy(update={"evidence": crawler_evidence(notify.timeline[-1].at)})
    rig.clock.advance(7 * 86400)
    stale = next(i for i in rig.store.list_open() if i.resource_id == EVENTS)
    rig.engine.expire(stale, "No change for 7 days and the crawler has not run since: closed without recovery.")
    closed, closed_id = rig.last("closed")
    watch = Rig("observe")
    watch.crawl(RAW, "FAILED", THROTTLED)
    observed, observed_id = watch.last("observed")
    return [
        _pinned("act-crawler-restarted", "act", act, act_id, 1),
        _pinned("resolved-crawler", "resolved", resolved, resolved_id, 1),
        _pinned("escalate-crawler-access-denied", "escalate", escalate, escalate_id, 2),
        _pinned("notify-crawler-unknown-failure", "notify", notify, notify_id, 3),
        _pinned("closed-crawler-expired", "closed", closed, closed_id, 4),
        _pinned("observed-crawler-would-restart", "observed", observed, observed_id, 5),
    ]


def crawler_evidence(at: str) -> list[Evidence]:
    """What the evidence gatherer attaches for a failed crawl (its interface; gathering is another module's)."""
    return [
        Evidence(
            kind="crawler-log",
            title="Last error lines of the crawl's log stream",
            lines=[
                "[e3a1] ERROR : Internal error while reading s3://lake/events/part-0007.json",
                "[e3a1] ERROR : com.amazonaws.services.glue.model.InvalidInputException: unexpected token '}'",
            ],
            source=f"/aws-glue/crawlers:{EVENTS}",
            at=at,
        ),
        Evidence(
            kind="new-data",
            title="Objects newer than the last crawl under the targets",
            source="s3:ListObjectsV2",
            at=at,
            unavailable="s3:ListObjectsV2 on s3://lake/events/ was denied (AccessDenied)",
        ),
    ]


def built_cases() -> list[Case]:
    at = "2026-12-01T08:00:00.000Z"
    arn = "arn:aws:states:eu-west-1:123456789012:execution:lakehouse-sandbox-pipeline:run-2026-12-01"
    wait = Incident(
        incident_id="00000000-0000-4000-8000-000000000006",
        resource_type=ResourceType.EXECUTION,
        resource_id=arn,
        condition=Condition.STUCK,
        status=IncidentStatus.REMEDIATING,
        severity=Severity.WARNING,
        classification="stuck-on-crawler",
        summary=f"Run run-2026-12-01 has waited 2h 10m in state WaitForCrawler on crawler {RAW}, which is stuck: "
        "its reset (stop, then start when READY) is handed to the crawler watchdog.",
        runbook_section="Troubleshooting > Pipeline Stuck in RUNNING State > 1. If stuck on crawler wait",
        advice=[f"Check the crawler: aws glue get-crawler --name {RAW}"],
        environment="sandbox",
        mode="remediate",
        detected_at=at,
        updated_at=at,
        pending_step="await_heal",
        pending_since=at,
        facts={
            "status": "RUNNING",
            "current_state": "WaitForCrawler",
            "history_crawler": RAW,
            "running_seconds": 7800,
            "metadata_row": {"pipeline_name": {"S": "raw_to_curated"}, "status": {"S": "RUNNING"}},
        },
        timeline=[
            TimelineEntry(at=at, kind="detected", detail="execution STUCK (sweep)", actor="sweep"),
            TimelineEntry(at=at, kind="decided", detail="waits on the crawler's heal", step="stuck-on-crawler"),
            TimelineEntry(at=at, kind="delegated", detail=f"{RAW} incident 0000", step="crawler", outcome="act"),
        ],
        timeline_counts={"detected": 1, "decided": 1, "delegated": 1},
        budget_max=3,
        version=2,
        seq=1,
    )
    query = Incident(
        incident_id="00000000-0000-4000-8000-000000000007",
        resource_type=ResourceType.QUERY,
        resource_id="5e7a9c1d-2b3f-4a6e-8c0d-1f2e3a4b5c6d",
        condition=Condition.FAILED,
        status=IncidentStatus.ESCALATED,
        severity=Severity.HIGH,
        classification="permission",
        summary="Athena query 5e7a9c1d-2b3f-4a6e-8c0d-1f2e3a4b5c6d in workgroup lakehouse-sandbox-workgroup "
        "(DML/SELECT) failed: permission denied (ran 2s, scanned 0 B). "
        "Athena: Insufficient Lake Formation permission(s) on customers when filtering "
        "email = 'jane.doe@example.com' AND customer_id = 4711.",
        runbook_section="dbt Model Failures: 3. Permission errors",
        advice=["Check the Lake Formation grants of the workgroup's role on the table."],
        environment="sandbox",
        mode="remediate",
        detected_at=at,
        updated_at=at,
        facts={
            "workgroup": "lakehouse-sandbox-workgroup",
            "state": "FAILED",
            "error_category": 2,
            "error_category_name": "USER",
            "error_type": 1000,
            "error_message": "Insufficient Lake Formation permission(s) on customers when filtering "
            "email = 'jane.doe@example.com' AND customer_id = 4711",
            "ran_for": "2s",
            "data_scanned": "0 B",
            "query_preview": "SELECT * FROM customers WHERE email = '?' AND customer_id = 4711",
        },
        timeline=[
            TimelineEntry(at=at, kind="detected", detail="query FAILED (event)", actor="event"),
            TimelineEntry(at=at, kind="decided", detail="permission", step="permission", outcome="escalate"),
        ],
        timeline_counts={"detected": 1, "decided": 1},
        budget_max=3,
        version=1,
        seq=1,
    )
    stopped, closed = force_stopped_run()
    return [
        Case("wait-execution-awaits-crawler-heal", "wait", wait, f"{wait.incident_id}:1"),
        Case("escalate-query-permission", "escalate", query, f"{query.incident_id}:1"),
        Case("act-execution-force-stopped", "act", stopped, f"{stopped.incident_id}:1"),
        Case("closed-execution-force-stopped", "closed", closed, f"{closed.incident_id}:2"),
    ]


def force_stopped_run() -> tuple[Incident, Incident]:
    """A run stuck in a dbt step with no query to heal: stopped (runbook step 3, the last resort), then closed when
    its ABORTED echo is seen (the stop is final: a person starts a new run)."""
    at, later = "2026-12-01T08:00:00.000Z", "2026-12-01T08:05:00.000Z"
    arn = "arn:aws:states:eu-west-1:123456789012:execution:lakehouse-sandbox-pipeline:run-2026-12-01"
    reason = "stuck in RunDbtStaging with no Athena query running in lakehouse-mvp-sandbox-workgroup"
    stopped = Incident(
        incident_id="00000000-0000-4000-8000-000000000008",
        resource_type=ResourceType.EXECUTION,
        resource_id=arn,
        condition=Condition.STUCK,
        status=IncidentStatus.REMEDIATED,
        severity=Severity.HIGH,
        classification="stuck",
        summary=f"Pipeline execution run-2026-12-01 is stuck and cannot be healed: {reason}. Stopping it.",
        runbook_section="Troubleshooting > Pipeline Stuck in RUNNING State > 3. Force stop the execution",
        advice=[
            f"aws stepfunctions get-execution-history --execution-arn {arn} --reverse-order --max-results 5",
            "Start a new run once the cause is fixed (runbook: Manually Trigger a Pipeline Run).",
        ],
        environment="sandbox",
        mode="remediate",
        detected_at=at,
        updated_at=at,
        facts={"status": "RUNNING", "current_state": "RunDbtStaging", "running_seconds": 7500, "stop_reason": reason},
        timeline=[
            TimelineEntry(at=at, kind="detected", detail="execution STUCK (timer)", actor="timer"),
            TimelineEntry(at=at, kind="decided", detail="force stop", step="stuck", outcome="act"),
            TimelineEntry(at=at, kind="action", detail="run-2026-12-01", step="stop_execution", outcome="stopped"),
        ],
        timeline_counts={"detected": 1, "decided": 1, "action": 1},
        actions_done={"stop_execution": at},
        attempts=1,
        evidence=[
            Evidence(
                kind="execution-history",
                title="The run's last events",
                lines=["TaskStateEntered RunDbtStaging", "TaskScheduled lambda:invoke dbt-runner", "TaskStarted"],
                source=f"states:GetExecutionHistory {arn}",
                at=at,
            )
        ],
        budget_max=3,
        version=2,
        seq=1,
    )
    closed = stopped.model_copy(
        update={
            "status": IncidentStatus.CLOSED,
            "summary": "Execution run-2026-12-01 is no longer stuck: it ended ABORTED after the watchdog stopped it "
            "(last resort), without succeeding.",
            "facts": {**stopped.facts, "status": "ABORTED"},  # the close decision's facts (engine._close_all)
            "updated_at": later,
            "resolved_at": later,
            "version": 3,
            "seq": 2,
            "timeline": [
                *stopped.timeline,
                TimelineEntry(at=later, kind="closed", detail="ABORTED after the watchdog stopped it", actor="sweep"),
            ],
        }
    )
    return stopped, closed


def all_cases() -> list[Case]:
    return crawler_cases() + built_cases()
