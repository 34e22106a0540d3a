"""DynamoDB's wire format for incident items: plain JSON values in, typed attribute values out, and back."""

from __future__ import annotations

from typing import Any

from watchdogs.incidents.record import Incident


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    return TypeDeserializer()


def to_ddb(value: dict[str, Any]) -> dict[str, Any]:
    ser = _serializer()
    return {k: ser.serialize(_ddb_safe(v)) for k, v in value.items() if v is not None}


def _ddb_safe(value: Any) -> Any:
    """DynamoDB wants Decimal, not float."""
    from decimal import Decimal  # noqa: PLC0415

    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _ddb_safe(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_ddb_safe(v) for v in value]
    return value


def from_ddb(item: dict[str, Any]) -> dict[str, Any]:
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
    return Incident.model_validate(from_ddb(item))
