"""Incident store on DynamoDB: one open incident per (resource, condition), a timeline of every step, budgets.

Layout (single table, keys ``pk``/``sk``, defined in ``template.yaml``):

===========================================  =====================================================
item                                         key
===========================================  =====================================================
active incident for (resource, condition)    ``pk = RES#<type>#<id>``, ``sk = CUR#<condition>``
closed incident (history, TTL)               ``pk = RES#<type>#<id>``, ``sk = HIST#<condition>#<detected_at>#<id>``
per-resource action budget / quarantine      ``pk = RES#<type>#<id>``, ``sk = BUDGET``
===========================================  =====================================================

Everything about one resource is one partition, so one ``Query`` loads it all. Active incidents carry
``open_flag = "OPEN"`` and appear in the sparse GSI ``open-index`` (listing open incidents needs no scan).
Every write that changes an incident is conditional on its ``version``: of two concurrent invocations that
loaded the same version, exactly one write succeeds, and only that invocation acts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from watchdogs.models.domain import ACTIVE_STATUSES, Condition, IncidentStatus, ResourceType, Severity

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

OPEN_INDEX = "open-index"
OPEN_FLAG = "OPEN"


class StoreError(RuntimeError):
    """The incident table could not be read or written (translated from botocore errors)."""


class ConcurrentUpdate(RuntimeError):  # noqa: N818 - a signal, not an error condition
    """Another invocation changed the incident first: this one must not act."""


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class TimelineEntry(BaseModel):
    """One step of an incident: detection, decision, action (with its outcome), notification, resolution."""

    at: str
    kind: str  # detected | decided | action | would-act | delegated | notify-failed | resolved | expired
    detail: str = ""
    step: str | None = None
    outcome: str | None = None
    actor: str | None = None


class Incident(BaseModel):
    """The incident record. Field names are the DynamoDB attribute names (documented in the README)."""

    incident_id: str
    resource_type: ResourceType
    resource_id: str
    condition: Condition
    status: IncidentStatus
    severity: Severity = Severity.WARNING
    classification: str = "unclassified"
    summary: str = ""
    runbook_section: str = ""
    advice: list[str] = Field(default_factory=list)
    environment: str = ""
    mode: str = ""
    detected_at: str
    updated_at: str
    resolved_at: str | None = None
    time_to_recover_seconds: float | None = None
    attempts: int = 0  # mutating actions taken for this incident
    budget_max: int = 0  # the per-resource budget in force when it was last updated
    pending_step: str | None = None  # multi-step remediation: what the next event/sweep resumes
    pending_since: str | None = None
    facts: dict[str, Any] = Field(default_factory=dict)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    version: int = 0
    lease_owner: str | None = None
    lease_until: str | None = None

    @property
    def resource_key(self) -> str:
        return f"{self.resource_type.value}#{self.resource_id}"

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    def actions_taken(self) -> list[TimelineEntry]:
        return [entry for entry in self.timeline if entry.kind == "action"]

    def has_action(self, step: str) -> bool:
        return any(entry.kind == "action" and entry.step == step for entry in self.timeline)

    def last_action_at(self, step: str) -> datetime | None:
        moments = [parse_iso(e.at) for e in self.timeline if e.kind == "action" and e.step == step]
        return max(moments) if moments else None


@dataclass
class Budget:
    """Mutating actions against one resource over a rolling window; quarantine once exhausted."""

    action_times: list[float] = field(default_factory=list)
    quarantined_until: float | None = None
    quarantine_reason: str = ""
    version: int = 0

    def used(self, now: datetime, window_seconds: int) -> int:
        horizon = now.timestamp() - window_seconds
        return sum(1 for t in self.action_times if t > horizon)

    def is_quarantined(self, now: datetime) -> bool:
        return self.quarantined_until is not None and now.timestamp() < self.quarantined_until


@dataclass
class ResourceState:
    """Everything the store knows about one resource, from one Query."""

    resource_type: ResourceType
    resource_id: str
    incidents: dict[Condition, Incident] = field(default_factory=dict)
    budget: Budget = field(default_factory=Budget)

    def active(self) -> list[Incident]:
        return [incident for incident in self.incidents.values() if incident.is_active]


def resource_pk(resource_type: ResourceType, resource_id: str) -> str:
    return f"RES#{resource_type.value}#{resource_id}"


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    return TypeDeserializer()


def _to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    ser = _serializer()
    return {k: ser.serialize(_ddb_safe(v)) for k, v in value.items() if v is not None}


def _ddb_safe(value: Any) -> Any:
    """DynamoDB wants Decimal, not float, and no empty-set surprises."""
    from decimal import Decimal  # noqa: PLC0415

    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _ddb_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_ddb_safe(v) for v in value]
    return value


def _from_ddb(item: dict[str, Any]) -> dict[str, Any]:
    deser = _deserializer()
    return {k: _plain(deser.deserialize(v)) for k, v in item.items()}


def _plain(value: Any) -> Any:
    from decimal import Decimal  # noqa: PLC0415

    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def incident_from_item(item: dict[str, Any]) -> Incident:
    """An incident from a raw DynamoDB item (``CUR#`` or ``HIST#``), e.g. from a Scan of the table."""
    return Incident.model_validate(_from_ddb(item))


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
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            response = self.client.query(
                TableName=self.table_name,
                KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
                ExpressionAttributeValues={":pk": {"S": pk}, ":lo": {"S": "BUDGET"}, ":hi": {"S": "CUR$"}},
                ConsistentRead=True,
            )
        except ClientError as exc:
            raise StoreError(f"cannot load incidents of {pk}: {exc}") from exc
        for raw in response.get("Items", []):
            item = _from_ddb(raw)
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

    def list_open(self, limit: int = 100) -> list[Incident]:
        """Active incidents, newest first, from the sparse ``open-index`` GSI (no scan)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        incidents: list[Incident] = []
        kwargs: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": OPEN_INDEX,
            "KeyConditionExpression": "open_flag = :open",
            "ExpressionAttributeValues": {":open": {"S": OPEN_FLAG}},
            "ScanIndexForward": False,
        }
        try:
            while len(incidents) < limit:
                response = self.client.query(**kwargs)
                incidents.extend(Incident.model_validate(_from_ddb(raw)) for raw in response.get("Items", []))
                if "LastEvaluatedKey" not in response:
                    break
                kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        except ClientError as exc:
            raise StoreError(f"cannot list open incidents: {exc}") from exc
        return incidents[:limit]

    def history(self, resource_type: ResourceType, resource_id: str) -> list[Incident]:
        """Closed incidents of one resource, oldest first."""
        response = self.client.query(
            TableName=self.table_name,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :hist)",
            ExpressionAttributeValues={":pk": {"S": resource_pk(resource_type, resource_id)}, ":hist": {"S": "HIST#"}},
        )
        return [Incident.model_validate(_from_ddb(raw)) for raw in response.get("Items", [])]

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
        return Incident(
            incident_id=str(uuid.uuid4()),
            resource_type=resource_type,
            resource_id=resource_id,
            condition=condition,
            status=status,
            environment=self.environment,
            detected_at=iso(detected_at),
            updated_at=iso(now_utc()),
            **fields,
        )

    def _item(self, incident: Incident) -> dict[str, Any]:
        body = incident.model_dump(mode="json")
        body["pk"] = resource_pk(incident.resource_type, incident.resource_id)
        body["sk"] = f"CUR#{incident.condition.value}"
        if incident.is_active:
            body["open_flag"] = OPEN_FLAG
        return body

    def _budget_update(
        self, resource_type: ResourceType, resource_id: str, budget: Budget, new_budget: Budget
    ) -> dict[str, Any]:
        item = {
            "pk": resource_pk(resource_type, resource_id),
            "sk": "BUDGET",
            "action_times": new_budget.action_times,
            "quarantined_until": new_budget.quarantined_until,
            "quarantine_reason": new_budget.quarantine_reason,
            "version": new_budget.version,
        }
        put: dict[str, Any] = {"TableName": self.table_name, "Item": _to_ddb(item)}
        if budget.version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(budget.version)}}
        return {"Put": put}

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
        Raises :class:`ConcurrentUpdate` when another invocation won.
        """
        from botocore.exceptions import ClientError  # noqa: PLC0415

        saved = incident.model_copy(update={"version": expected_version + 1, "updated_at": iso(now_utc())})
        put: dict[str, Any] = {"TableName": self.table_name, "Item": _to_ddb(self._item(saved))}
        if expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "version = :v"
            put["ExpressionAttributeValues"] = {":v": {"N": str(expected_version)}}
        try:
            if budget is None:
                self.client.put_item(**put)
            else:
                old, new = budget
                items: list[Any] = [
                    {"Put": put},
                    self._budget_update(incident.resource_type, incident.resource_id, old, new),
                ]
                self.client.transact_write_items(TransactItems=items)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in {"ConditionalCheckFailedException", "TransactionCanceledException"}:
                raise ConcurrentUpdate(f"{incident.resource_key}/{incident.condition} changed concurrently") from exc
            raise StoreError(f"cannot save incident {incident.incident_id}: {exc}") from exc
        return saved

    def close(self, incident: Incident, *, status: IncidentStatus = IncidentStatus.RESOLVED) -> Incident:
        """Move the active incident to history (with TTL) and free its (resource, condition) slot, atomically."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        closed_at = now_utc()
        closed = incident.model_copy(
            update={
                "status": status,
                "version": incident.version + 1,
                "updated_at": iso(closed_at),
                "resolved_at": incident.resolved_at or iso(closed_at),
                "lease_owner": None,
                "lease_until": None,
                "pending_step": None,
            }
        )
        body = closed.model_dump(mode="json")
        body["pk"] = resource_pk(incident.resource_type, incident.resource_id)
        body["sk"] = f"HIST#{incident.condition.value}#{incident.detected_at}#{incident.incident_id}"
        body["expires_at"] = int((closed_at + timedelta(days=self.ttl_days)).timestamp())
        try:
            self.client.transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table_name,
                            "Key": {
                                "pk": {"S": resource_pk(incident.resource_type, incident.resource_id)},
                                "sk": {"S": f"CUR#{incident.condition.value}"},
                            },
                            "ConditionExpression": "version = :v",
                            "ExpressionAttributeValues": {":v": {"N": str(incident.version)}},
                        }
                    },
                    {"Put": {"TableName": self.table_name, "Item": _to_ddb(body)}},
                ]
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "TransactionCanceledException":
                raise ConcurrentUpdate(f"{incident.resource_key}/{incident.condition} changed concurrently") from exc
            raise StoreError(f"cannot close incident {incident.incident_id}: {exc}") from exc
        return closed

    def acknowledge(self, resource_type: ResourceType, resource_id: str, *, operator: str) -> None:
        """Operator acknowledgement: lift the quarantine and reset the budget of one resource."""
        self.client.put_item(
            TableName=self.table_name,
            Item=_to_ddb(
                {
                    "pk": resource_pk(resource_type, resource_id),
                    "sk": "BUDGET",
                    "action_times": [],
                    "quarantine_reason": f"acknowledged by {operator} at {iso(now_utc())}",
                    "version": int(now_utc().timestamp()),
                }
            ),
        )
