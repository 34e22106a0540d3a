"""In-memory fakes for the property tests: a Glue crawler service with a controllable clock and fault injection,
and an SNS notifier that can be down. They implement exactly the calls the watchdogs make."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from watchdogs.notifier import Notifier, NotifyError

FAULTS = ("throttle", "5xx", "denied", "timeout-before", "timeout-after")
_CALL_SEQ = itertools.count()


class Clock:
    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 12, 1, 8, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def client_error(code: str, status: int, operation: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, operation
    )


@dataclass
class Crawler:
    name: str
    state: str = "READY"
    started_at: datetime | None = None
    last_status: str | None = None
    last_error: str | None = None
    last_started: datetime | None = None
    hangs: bool = False  # the current crawl never finishes on its own


@dataclass
class MutatingCall:
    operation: str
    crawler: str
    at: datetime
    effective: bool  # the call changed the resource
    already_visible: bool  # the effect it asks for was already there (a doubled call)
    seq: int = field(default_factory=lambda: next(_CALL_SEQ))  # order across every fake's call log


@dataclass
class FakeGlue:
    clock: Clock
    crawlers: dict[str, Crawler] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # consumed by the next mutating call
    calls: list[MutatingCall] = field(default_factory=list)
    reads: int = 0
    opted_out: set[str] = field(default_factory=set)

    # --------------------------------------------------------------------------------------------- reads
    def get_crawler(self, Name: str) -> dict[str, Any]:  # noqa: N803 - boto3's parameter names
        self.reads += 1
        crawler = self.crawlers.get(Name)
        if crawler is None:
            raise client_error("EntityNotFoundException", 400, "GetCrawler")
        body: dict[str, Any] = {"Name": Name, "State": crawler.state, "Role": "arn:aws:iam::123456789012:role/r"}
        if crawler.state in {"RUNNING", "STOPPING"} and crawler.started_at is not None:
            body["CrawlElapsedTime"] = int((self.clock() - crawler.started_at).total_seconds() * 1000)
        if crawler.last_status:
            body["LastCrawl"] = {
                "Status": crawler.last_status,
                "ErrorMessage": crawler.last_error or "",
                "StartTime": crawler.last_started,
                "LogGroup": "/aws-glue/crawlers",
                "LogStream": Name,
            }
        body["Targets"] = {"S3Targets": [{"Path": f"s3://lake/{Name}/"}]}
        return {"Crawler": body}

    def get_tags(self, ResourceArn: str) -> dict[str, Any]:  # noqa: N803
        self.reads += 1
        name = ResourceArn.rsplit("/", 1)[-1]
        return {"Tags": {"watchdogs:opt-out": "true"} if name in self.opted_out else {}}

    # --------------------------------------------------------------------------------------------- writes
    def _fault(self, operation: str, apply: Any) -> None:
        _inject(self.faults, operation, apply)

    def start_crawler(self, Name: str) -> dict[str, Any]:  # noqa: N803
        crawler = self.crawlers[Name]

        def apply() -> None:
            visible = crawler.state != "READY"
            self.calls.append(MutatingCall("StartCrawler", Name, self.clock(), not visible, visible))
            if visible:
                raise client_error("CrawlerRunningException", 400, "StartCrawler")
            crawler.state, crawler.started_at, crawler.hangs = "RUNNING", self.clock(), False

        self._fault("StartCrawler", apply)
        return {}

    def stop_crawler(self, Name: str) -> dict[str, Any]:  # noqa: N803
        crawler = self.crawlers[Name]

        def apply() -> None:
            visible = crawler.state != "RUNNING"
            self.calls.append(MutatingCall("StopCrawler", Name, self.clock(), not visible, visible))
            if visible:
                raise client_error(
                    "CrawlerStoppingException" if crawler.state == "STOPPING" else "CrawlerNotRunningException",
                    400,
                    "StopCrawler",
                )
            crawler.state = "STOPPING"

        self._fault("StopCrawler", apply)
        return {}

    # --------------------------------------------------------------------------------------------- the world
    def begin(self, name: str, *, hangs: bool) -> None:
        """Someone (the pipeline) starts a crawl."""
        crawler = self.crawlers[name]
        if crawler.state == "READY":
            crawler.state, crawler.started_at, crawler.hangs = "RUNNING", self.clock(), hangs

    def settle(self, name: str, outcome: str, error: str = "") -> bool:
        """A crawl that does not hang ends (or a STOPPING one finishes stopping). True if something ended."""
        crawler = self.crawlers[name]
        if crawler.state == "STOPPING":
            crawler.state, crawler.last_status, crawler.last_error = "READY", "CANCELLED", None
        elif crawler.state == "RUNNING" and not crawler.hangs:
            crawler.state, crawler.last_status, crawler.last_error = "READY", outcome, error or None
        else:
            return False
        crawler.last_started = crawler.started_at
        return True


class FakeNotifier(Notifier):
    """Records every publish; ``down`` makes SNS refuse."""

    def __init__(self) -> None:
        super().__init__("arn:aws:sns:us-east-1:123456789012:alerts", client=None)
        self.down = False
        self.published: list[tuple[str, str, str]] = []  # (message_id, event, status)

    def publish(self, incident: Any, event: str, message_id: str | None = None) -> str:
        if self.down:
            raise NotifyError("SNS is down")
        self.published.append((message_id or "", event, incident.status.value))
        return f"sns-{len(self.published)}"


@dataclass
class Query:
    query_id: str
    workgroup: str
    submitted: datetime
    state: str = "RUNNING"
    completed: datetime | None = None
    hangs: bool = True
    error: str | None = None


@dataclass
class FakeAthena:
    """Athena's query calls. Times are presented in the real clock's frame (the runbook measures a query's age
    against the wall clock), shifted by what the fake clock advanced."""

    clock: Clock
    queries: dict[str, Query] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)
    calls: list[MutatingCall] = field(default_factory=list)
    opted_out: set[str] = field(default_factory=set)

    def _real(self, moment: datetime) -> datetime:
        return datetime.now(UTC) - (self.clock() - moment)

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        query = self.queries.get(QueryExecutionId)
        if query is None:
            raise client_error("InvalidRequestException", 400, "GetQueryExecution")
        status: dict[str, Any] = {"State": query.state, "SubmissionDateTime": self._real(query.submitted)}
        if query.completed is not None:
            status["CompletionDateTime"] = self._real(query.completed)
        if query.error:
            status["AthenaError"] = {"ErrorCategory": 2, "ErrorType": 1000, "ErrorMessage": query.error}
        return {
            "QueryExecution": {
                "QueryExecutionId": query.query_id,
                "WorkGroup": query.workgroup,
                "StatementType": "DML",
                "Status": status,
                "Statistics": {"DataScannedInBytes": 1024},
            }
        }

    def get_work_group(self, WorkGroup: str) -> dict[str, Any]:  # noqa: N803
        return {"WorkGroup": {"Name": WorkGroup, "Configuration": {}}}

    def list_tags_for_resource(self, ResourceARN: str) -> dict[str, Any]:  # noqa: N803
        name = ResourceARN.rsplit("/", 1)[-1]
        return {"Tags": [{"Key": "watchdogs:opt-out", "Value": "true"}] if name in self.opted_out else []}

    def stop_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:  # noqa: N803
        query = self.queries[QueryExecutionId]

        def apply() -> None:
            # Athena answers success even for a query that already ended: a doubled stop is invisible to it
            visible = query.state not in {"QUEUED", "RUNNING"}
            self.calls.append(MutatingCall("StopQueryExecution", QueryExecutionId, self.clock(), not visible, visible))
            if not visible:
                query.state, query.completed = "CANCELLED", self.clock()

        _inject(self.faults, "StopQueryExecution", apply)
        return {}

    def end(self, query_id: str, state: str, error: str | None = None) -> bool:
        query = self.queries[query_id]
        if query.state not in {"QUEUED", "RUNNING"} or query.hangs:
            return False
        query.state, query.completed, query.error = state, self.clock(), error
        return True


def _inject(faults: list[str], operation: str, apply: Any) -> None:
    """Run ``apply`` under the next injected fault (if any)."""
    fault = faults.pop(0) if faults else None
    if fault == "throttle":
        raise client_error("ThrottlingException", 400, operation)
    if fault == "denied":
        raise client_error("AccessDeniedException", 400, operation)
    if fault == "timeout-before":
        raise ConnectTimeoutError(endpoint_url="https://aws")
    if fault == "5xx":
        raise client_error("InternalServerException", 500, operation)
    apply()
    if fault == "timeout-after":
        raise ReadTimeoutError(endpoint_url="https://aws")
