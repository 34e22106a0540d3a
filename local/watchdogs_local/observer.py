"""What EventBridge would have said: state-change events synthesised from the emulator's state.

moto emits no ``aws.glue`` / ``aws.athena`` / ``aws.states`` events. :class:`StateObserver` polls the emulator's
APIs (as a reader, like any client) and, for every change since the last poll, builds the event AWS sends, in its
real shape:

* ``Glue Crawler State Change``: ``Started`` when a crawl begins, ``Succeeded`` / ``Failed`` when it ends (a crawl
  stopped by StopCrawler ends without an event, as a cancelled crawl does);
* ``Athena Query State Change``: one per state transition, with ``previousState`` and a per-query
  ``sequenceNumber``;
* ``Step Functions Execution Status Change``: RUNNING when an execution starts (or is redriven), then its final
  status.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from watchdogs_local.emulator import ACCOUNT, REGION

_CRAWL_SUCCEEDED = {"SUCCEEDED", "COMPLETED"}
_CRAWL_FAILED = {"FAILED"}
_QUERY_FINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def envelope(source: str, detail_type: str, detail: dict[str, Any], *, resources: list[str] | None = None) -> dict:  # type: ignore[type-arg]
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": REGION,
        "resources": resources or [],
        "detail": detail,
    }


def _iso(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _epoch_ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(float(value) * 1000)


def crawler_event(crawler: dict[str, Any], state: str, *, error_message: str | None = None) -> dict[str, Any]:
    """A ``Glue Crawler State Change`` event for ``crawler`` (a GetCrawler answer) entering ``state``."""
    name = crawler["Name"]
    last = crawler.get("LastCrawl") or {}
    log_link = (
        f"https://console.aws.amazon.com/cloudwatch/home?region={REGION}#logEventViewer:"
        f"group={last.get('LogGroup', '/aws-glue/crawlers')};stream={name}"
    )
    detail: dict[str, Any] = {"accountId": ACCOUNT, "crawlerName": name, "state": state}
    if state == "Started":
        detail.update(startTime=_iso(last.get("StartTime", datetime.now(UTC))), message="Crawler Started")
    elif state == "Succeeded":
        started = last.get("StartTime")
        running = int((datetime.now(UTC) - started).total_seconds()) if isinstance(started, datetime) else 0
        detail.update(
            {
                "tablesCreated": "0",
                "warningMessage": "N/A",
                "partitionsUpdated": "0",
                "tablesUpdated": "1",
                "message": "Crawler Succeeded",
                "partitionsDeleted": "0",
                "runningTime (sec)": str(running),
                "tablesDeleted": "0",
                "completionDate": _iso(datetime.now(UTC)),
                "partitionsCreated": "1",
                "cloudWatchLogLink": log_link,
            }
        )
    else:
        detail.update(
            message="Crawler Failed",
            errorMessage=error_message or last.get("ErrorMessage") or "Internal Service Exception",
            cloudWatchLogLink=log_link,
        )
    return envelope("aws.glue", "Glue Crawler State Change", detail)


def query_event(
    execution: dict[str, Any], previous: str | None, sequence: int, *, duplicate_of: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An ``Athena Query State Change`` event for ``execution`` (a GetQueryExecution answer)."""
    status = execution["Status"]
    detail: dict[str, Any] = {
        "versionId": "0",
        "currentState": status["State"],
        "previousState": previous,
        "statementType": execution.get("StatementType", "DML"),
        "queryExecutionId": execution["QueryExecutionId"],
        "workgroupName": execution.get("WorkGroup", "primary"),
        "sequenceNumber": str(sequence),
    }
    error = status.get("AthenaError")
    if status["State"] == "FAILED" and error:
        detail["athenaError"] = {
            "errorCategory": float(error.get("ErrorCategory", 0)),
            "errorType": float(error.get("ErrorType", 0)),
            "errorMessage": error.get("ErrorMessage", ""),
            "retryable": bool(error.get("Retryable", False)),
        }
    if previous is None:
        detail.pop("previousState")
    return envelope("aws.athena", "Athena Query State Change", detail)


def execution_event(execution: dict[str, Any]) -> dict[str, Any]:
    """A ``Step Functions Execution Status Change`` event for ``execution`` (a DescribeExecution answer)."""
    detail = {
        "executionArn": execution["executionArn"],
        "stateMachineArn": execution["stateMachineArn"],
        "name": execution["name"],
        "status": execution["status"],
        "startDate": _epoch_ms(execution.get("startDate")),
        "stopDate": _epoch_ms(execution.get("stopDate")) if execution["status"] != "RUNNING" else None,
        "input": execution.get("input", "{}"),
        "output": execution.get("output"),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if execution.get("output") else None,
        "redriveCount": int(execution.get("redriveCount", 0)),
        "redriveDate": _epoch_ms(execution.get("redriveDate")),
        "redriveStatus": execution.get("redriveStatus", "NOT_REDRIVABLE"),
    }
    if detail["redriveDate"] is None:
        detail.pop("redriveDate")
    return envelope(
        "aws.states", "Step Functions Execution Status Change", detail, resources=[execution["executionArn"]]
    )


@dataclass
class StateObserver:
    """Polls the emulator and returns the events for what changed since the previous poll."""

    clients: Any  # anything with .glue / .athena / .sfn boto3 clients
    workgroups: list[str]
    state_machine_arns: list[str] = field(default_factory=list)
    _crawls: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # crawler -> (state, last start, status)
    _queries: dict[str, tuple[str, int]] = field(default_factory=dict)  # query id -> (state, sequence)
    _executions: dict[str, tuple[str, int]] = field(default_factory=dict)  # arn -> (status, redrive count)

    def poll(self) -> list[dict[str, Any]]:
        return [*self._poll_crawlers(), *self._poll_queries(), *self._poll_executions()]

    def prime(self) -> None:
        """Take the current state as known: events only for what changes from now on."""
        self.poll()

    # ------------------------------------------------------------------------------------------ crawlers
    def _poll_crawlers(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for crawler in self.clients.glue.get_crawlers().get("Crawlers", []):
            name, state = crawler["Name"], str(crawler.get("State", "READY"))
            last = crawler.get("LastCrawl") or {}
            now = (state, _iso(last.get("StartTime")), str(last.get("Status", "")))
            seen = self._crawls.get(name)
            self._crawls[name] = now
            if seen == now:
                continue
            started = state == "RUNNING" and (seen is None or seen[0] != "RUNNING" or seen[1] != now[1])
            if started:
                events.append(crawler_event(crawler, "Started"))
                continue
            ended = state == "READY" and now[2] and (seen is None or seen[1:] != now[1:] or seen[0] != "READY")
            if ended and seen is not None and seen[0] == "READY" and seen[1] != now[1]:
                events.append(crawler_event(crawler, "Started"))  # a whole crawl between two polls
            if ended and now[2] in _CRAWL_SUCCEEDED:
                events.append(crawler_event(crawler, "Succeeded"))
            elif ended and now[2] in _CRAWL_FAILED:
                events.append(crawler_event(crawler, "Failed"))
        return events

    # ------------------------------------------------------------------------------------------ queries
    def _poll_queries(self) -> list[dict[str, Any]]:
        athena = self.clients.athena
        ids: list[str] = []
        for workgroup in self.workgroups:
            ids += athena.list_query_executions(WorkGroup=workgroup).get("QueryExecutionIds", [])
        pending = [i for i in ids if i not in self._queries or self._queries[i][0] not in _QUERY_FINAL]
        events: list[dict[str, Any]] = []
        for start in range(0, len(pending), 50):
            batch = athena.batch_get_query_execution(QueryExecutionIds=pending[start : start + 50])
            for execution in batch.get("QueryExecutions", []):
                query_id, state = execution["QueryExecutionId"], execution["Status"]["State"]
                previous, sequence = self._queries.get(query_id, (None, 0))
                if state == previous:
                    continue
                self._queries[query_id] = (state, sequence + 1)
                events.append(query_event(execution, previous, sequence + 1))
        return events

    # ------------------------------------------------------------------------------------------ executions
    def _poll_executions(self) -> list[dict[str, Any]]:
        sfn = self.clients.sfn
        events: list[dict[str, Any]] = []
        for machine in self.state_machine_arns:
            for summary in sfn.list_executions(stateMachineArn=machine).get("executions", []):
                arn = summary["executionArn"]
                seen = self._executions.get(arn)
                if seen is not None and seen[0] == summary["status"] and summary["status"] != "RUNNING":
                    continue
                execution = sfn.describe_execution(executionArn=arn)
                now = (execution["status"], int(execution.get("redriveCount", 0)))
                if now == seen:
                    continue
                self._executions[arn] = now
                events.append(execution_event(execution))
        return events


def describe(event: dict[str, Any]) -> str:
    """One line for people: what the event says."""
    detail = event.get("detail", {})
    source = event.get("source")
    if source == "aws.glue":
        extra = f": {detail['errorMessage']}" if detail.get("errorMessage") else ""
        return f"crawler {detail.get('crawlerName')} {detail.get('state')}{extra}"
    if source == "aws.athena":
        query = str(detail.get("queryExecutionId"))[:8]
        return f"query {query} {detail.get('currentState')} ({detail.get('workgroupName')})"
    if source == "aws.states":
        redrive = f" (redrive {detail['redriveCount']})" if detail.get("redriveCount") else ""
        return f"execution {detail.get('name')} {detail.get('status')}{redrive}"
    if source == "aws.events":
        return "schedule tick"
    return json.dumps(detail)[:80]
