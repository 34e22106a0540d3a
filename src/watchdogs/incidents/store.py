"""Incident store on DynamoDB: one active incident per (resource, condition), budgets, and the outbox.

Layout (single table, keys ``pk``/``sk``, defined in ``template.yaml``):

===========================================  =====================================================
item                                         key
===========================================  =====================================================
active incident for (resource, condition)    ``pk = RES#<type>#<id>``, ``sk = CUR#<condition>``
closed incident (history, TTL)               ``pk = RES#<type>#<id>``, ``sk = HIST#<condition>#<detected_at>#<id>``
per-resource action budget / quarantine      ``pk = RES#<type>#<id>``, ``sk = BUDGET``
===========================================  =====================================================

Everything about one resource is one partition, so one ``Query`` loads it all. Active incidents carry
``open_flag = "OPEN"`` (sparse GSI ``open-index``); any incident, active or closed, with notifications still
pending carries ``outbox_flag = "PENDING"`` (sparse GSI ``outbox-index``), which is how the sweep finds what to
flush without a scan. Every write is conditional on the incident's ``version``: of two concurrent invocations
that loaded the same version, exactly one write succeeds, and only that invocation acts.

Writes whose outcome is unknown (a timeout, a 5xx after the request was sent) are settled by a re-read: every
write carries a ``write_token``; the item showing our token at the expected version means the write landed.
Transactions also pass a ``ClientRequestToken``, so botocore's own retry of a landed transaction succeeds
instead of failing its condition and reading as a lost race.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from watchdogs.incidents.base import (
    ConcurrentUpdate,
    IncidentStoreProtocol,
    StoreError,
    closed_record,
    history_sk,
    new_incident_record,
    resource_pk,
    stamped,
)
from watchdogs.incidents.record import Budget, Incident, ResourceState, iso, now_utc
from watchdogs.incidents.wire import from_ddb, incident_from_item, to_ddb
from watchdogs.models.domain import Condition, IncidentStatus, ResourceType

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = [
    "ConcurrentUpdate",
    "IncidentStore",
    "IncidentStoreProtocol",
    "StoreError",
    "incident_from_item",
    "resource_pk",
]

OPEN_INDEX = "open-index"
OPEN_FLAG = "OPEN"
OUTBOX_INDEX = "outbox-index"
OUTBOX_FLAG = "PENDING"


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _outcome_unknown(exc: Exception) -> bool:
    """The request may have been applied: a read timeout, a dropped connection, a 5xx."""
    from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError  # noqa: PLC0415

    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return True
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return status >= 500 or _code(exc) in {"InternalServerError", "ServiceUnavailable"}
    return False


class IncidentStore:
    """DynamoDB adapter for incidents. Takes an optional client; builds a default one lazily."""

    def __init__(
        self,
        table_name: str,
        client: DynamoDBClient | None = None,
        *,
        ttl_days: int = 90,
        environment: str = "",
    ) -> None:
        self.table_name = table_name
        self._client = client
        self.ttl_days = ttl_days
        self.environment = environment

    @property
    def client(self) -> DynamoDBClient:
        if self._client is None:
            import boto3  # noqa: PLC0415

            self._client = boto3.client("dynamodb")
        return self._client

    # ------------------------------------------------------------------------------------------------ reads
    def load(self, resource_type: ResourceType, resource_id: str) -> ResourceState:
        """Active incidents and budget of one resource: one strongly consistent Query."""
        state = ResourceState(resource_type=resource_type, resource_id=resource_id)
        pk = resource_pk(resource_type, resource_id)
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            response = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": {"S": pk}, ":lo": {"S": "BUDGET"}, ":hi": {"S": "CUR$"}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"cannot load incidents of {pk}: {exc}") from exc
        for raw in response.get("Items", []):
            item = from_ddb(raw)
            if item["sk"] == "BUDGET":
                state.budget = Budget(
                    action_times=[float(t) for t in item.get("action_times", [])],
                    quarantined_until=item.get("quarantined_until"),
                    quarantine_reason=item.get("quarantine_reason", ""),
                    version=int(item.get("version", 0)),
                )
            elif item["sk"].startswith("CUR#"):
                incident = Incident.model_validate(item)
                state.incidents[incident.condition] = incident
        return state

    def _query_index(self, index: str, attribute: str, flag: str, limit: int) -> list[Incident]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        incidents: list[Incident] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": index,
            "KeyConditionExpression": f"{attribute} = :flag",
            "ExpressionAttributeValues": {":flag": {"S": flag}},
            "ScanIndexForward": False,
        }
        try:
            while len(incidents) < limit:
                response = self.client.query(**kwargs)
                incidents.extend(Incident.model_validate(from_ddb(raw)) for raw in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"cannot query {index}: {exc}") from exc
        return incidents[:limit]

    def list_open(self, limit: int = 100) -> list[Incident]:
        """Active incidents, newest first, from the sparse ``open-index`` GSI (no scan)."""
        return self._query_index(OPEN_INDEX, "open_flag", OPEN_FLAG, limit)

    def list_pending(self, limit: int = 100) -> list[Incident]:
        """Incidents (active or closed) with notifications not yet accepted by SNS, from ``outbox-index``."""
        return self._query_index(OUTBOX_INDEX, "outbox_flag", OUTBOX_FLAG, limit)

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]:
        """Closed incidents of one resource, oldest first."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            response = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND begins_with(sk, :hist)",
                ExpressionAttributeValues={
                    ":pk": {"S": resource_pk(resource_type, resource_id)},
                    ":hist": {"S": "HIST#"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"cannot read the history of {resource_type.value} {resource_id}: {exc}") from exc
        return [Incident.model_validate(from_ddb(raw)) for raw in response.get("Items", [])]

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            response = self.client.get_item(
                TableName=self.table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise StoreError(f"cannot re-read {pk}/{sk}: {exc}") from exc
        item = response.get("Item")
        return from_ddb(item) if item else None

    # ------------------------------------------------------------------------------------------------ writes
    def new_incident(
        self,
        resource_type: ResourceType,
        resource_id: str,
        condition: Condition,
        *,
        status: IncidentStatus,
        detected_at: datetime,
        **fields: Any,
    ) -> Incident:
        return new_incident_record(
            resource_type,
            resource_id,
            condition,
            status=status,
            detected_at=detected_at,
            environment=self.environment,
            **fields,
        )

    def _body(self, incident: Incident, sk: str) -> dict[str, Any]:
        body = incident.model_dump(mode="json")
        body["pk"] = resource_pk(incident.resource_type, incident.resource_id)
        body["sk"] = sk
        if incident.is_active and sk.startswith("CUR#"):
            body["open_flag"] = OPEN_FLAG
        if incident.outbox:
            body["outbox_flag"] = OUTBOX_FLAG
        if sk.startswith("HIST#"):
            body["expires_at"] = int((now_utc() + timedelta(days=self.ttl_days)).timestamp())
        return body

    def _put(self, saved: Incident, sk: str, expected_version: int) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table_name, "Item": to_ddb(self._body(saved, sk))}
        if expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        return put

    def _budget_put(self, resource_type: ResourceType, resource_id: str, old: Budget, new: Budget) -> dict[str, Any]:
        item = {
            "pk": resource_pk(resource_type, resource_id),
            "sk": "BUDGET",
            "action_times": new.action_times,
            "quarantined_until": new.quarantined_until,
            "quarantine_reason": new.quarantine_reason,
            "version": old.version + 1,
        }
        put: dict[str, Any] = {"TableName": self.table_name, "Item": to_ddb(item)}
        if old.version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(old.version)}}
        return {"Put": put}

    def _landed(self, pk: str, sk: str, saved: Incident) -> bool:
        """After an unknown outcome: did our write land? (the item shows our token at our version)"""
        item = self._get(pk, sk)
        return item is not None and item.get("write_token") == saved.write_token

    def _write(self, saved: Incident, sk: str, call: Any, what: str) -> Incident:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            call()
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and _code(exc) in {
                "ConditionalCheckFailedException",
                "TransactionCanceledException",
            }:
                if self._landed(resource_pk(saved.resource_type, saved.resource_id), sk, saved):
                    return saved  # our own earlier attempt (a retry inside botocore) landed
                raise ConcurrentUpdate(f"{saved.resource_key}/{saved.condition} changed concurrently") from exc
            if _outcome_unknown(exc) and self._landed(resource_pk(saved.resource_type, saved.resource_id), sk, saved):
                return saved
            raise StoreError(f"cannot {what} incident {saved.incident_id}: {exc}") from exc
        return saved

    def save(
        self,
        incident: Incident,
        *,
        expected_version: int,
        budget: tuple[Budget, Budget] | None = None,
    ) -> Incident:
        """Write ``incident`` as version ``expected_version + 1``, if nobody else wrote it since we read it.

        ``expected_version = 0`` creates it (fails if an active incident holds the (resource, condition) slot).
        With ``budget = (old, new)`` the budget item is updated in the same transaction.
        Raises :class:`ConcurrentUpdate` when another invocation won, :class:`StoreError` when the write failed.
        """
        saved = stamped(incident, expected_version)
        sk = f"CUR#{incident.condition.value}"
        put = self._put(saved, sk, expected_version)
        if budget is None:
            return self._write(saved, sk, lambda: self.client.put_item(**put), "save")
        old, new = budget
        items: list[Any] = [{"Put": put}, self._budget_put(incident.resource_type, incident.resource_id, old, new)]
        token = saved.write_token or uuid.uuid4().hex
        return self._write(
            saved,
            sk,
            lambda: self.client.transact_write_items(TransactItems=items, ClientRequestToken=token[:36]),
            "claim",
        )

    def close(self, incident: Incident, *, status: IncidentStatus = IncidentStatus.RESOLVED) -> Incident:
        """Move the active incident to history (with TTL, outbox kept) and free its slot, atomically."""
        closed = stamped(closed_record(incident, status), incident.version)
        pk = resource_pk(incident.resource_type, incident.resource_id)
        sk = history_sk(closed)
        items: list[Any] = [
            {
                "Delete": {
                    "TableName": self.table_name,
                    "Key": {"pk": {"S": pk}, "sk": {"S": f"CUR#{incident.condition.value}"}},
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": {"N": str(incident.version)}},
                }
            },
            {"Put": {"TableName": self.table_name, "Item": to_ddb(self._body(closed, sk))}},
        ]
        token = closed.write_token or uuid.uuid4().hex
        return self._write(
            closed,
            sk,
            lambda: self.client.transact_write_items(TransactItems=items, ClientRequestToken=token[:36]),
            "close",
        )

    def save_closed(self, incident: Incident, *, expected_version: int) -> Incident:
        """Update a closed (history) incident, e.g. its outbox once SNS accepted a message."""
        saved = stamped(incident, expected_version)
        sk = history_sk(incident)
        put = self._put(saved, sk, expected_version)
        return self._write(saved, sk, lambda: self.client.put_item(**put), "update closed")

    def put_budget(self, resource_type: ResourceType, resource_id: str, budget: Budget) -> None:
        """Overwrite a resource's budget (operator acknowledgement)."""
        self.client.put_item(
            TableName=self.table_name,
            Item=to_ddb(
                {
                    "pk": resource_pk(resource_type, resource_id),
                    "sk": "BUDGET",
                    "action_times": budget.action_times,
                    "quarantined_until": budget.quarantined_until,
                    "quarantine_reason": budget.quarantine_reason,
                    "version": budget.version,
                }
            ),
        )

    def acknowledge(self, resource_type: ResourceType, resource_id: str, *, operator: str) -> list[Incident]:
        """Operator acknowledgement: lift the quarantine, reset the budget, and end the hold of every escalated
        incident of the resource (recorded on its timeline), so automatic action resumes. Returns those incidents."""
        from watchdogs.incidents.record import TimelineEntry  # noqa: PLC0415

        now = iso(now_utc())
        self.put_budget(
            resource_type,
            resource_id,
            Budget(quarantine_reason=f"acknowledged by {operator} at {now}", version=int(now_utc().timestamp())),
        )
        released: list[Incident] = []
        for incident in self.load(resource_type, resource_id).active():
            if incident.status is not IncidentStatus.ESCALATED:
                continue
            entry = TimelineEntry(at=now, kind="acknowledged", detail=f"hold ended by {operator}", actor=operator)
            acked = incident.append(entry).model_copy(update={"hold_until": now})
            try:
                released.append(self.save(acked, expected_version=incident.version))
            except ConcurrentUpdate:
                continue
        return released
