"""The EventBridge envelope the three sources' event models share, with the bounds every source applies.

One module per source (:mod:`.states_events`, :mod:`.glue_events`, :mod:`.athena_events`, :mod:`.schedule_events`;
:mod:`.events` re-exports them all), so that a handler imports and creates only its own source's models.

Shapes follow the real events: Step Functions ``Execution Status Change`` (epoch-millisecond dates, no error or
cause), Glue ``Glue Crawler State Change`` (title-case states, counters as strings, a key literally named
``runningTime (sec)``) and Athena ``Athena Query State Change`` (``sequenceNumber`` shared by duplicate
deliveries). Unknown fields are tolerated everywhere: AWS adds fields without notice.

What identifies a resource (names, ids, ARNs) must be within AWS's own limits, or the event is rejected here:
a value AWS could never have sent would otherwise reach an API call and fail there, on every retry. Free text
(error messages, links) is truncated instead, so a long message still reaches its runbook but never bloats an
incident record past DynamoDB's item size. Numbers are bounded the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

#: every model here is built on its first use (``defer_build``): a handler builds only its own source's models
_TOLERANT = ConfigDict(extra="allow", populate_by_name=True, defer_build=True)

#: free text kept from an event (error messages, log links): longer text is cut here
TEXT_CHARS = 2000
#: epoch milliseconds up to the end of year 9999 (what ``datetime`` can hold)
MAX_EPOCH_MS = 253_402_300_799_999
#: counters and small integers an event carries (Glue table counts, Athena error codes, redrive counts)
MAX_COUNT = 2**53
#: AWS's ARN length limit in the Step Functions API (``executionArn``, ``stateMachineArn``: 1..256)
MAX_ARN = 256


def _truncate(value: str) -> str:
    return value if len(value) <= TEXT_CHARS else value[: TEXT_CHARS - 1] + "\u2026"


Text = Annotated[str, AfterValidator(_truncate)]
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]
#: Glue's single-line string: no control characters but tab
GLUE_NAME = r"^[^\x00-\x08\x0a-\x1f\x7f]+$"


def _epoch_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value / 1000, tz=UTC)


class EventBridgeEnvelope(BaseModel):
    """The EventBridge envelope: the fields of Powertools Parser's ``EventBridgeModel``, declared here because
    importing that one model imports the Parser's whole model catalogue (SQS, Kinesis, API Gateway, ... about 60
    ms of every cold start, see docs/performance.md)."""

    model_config = ConfigDict(populate_by_name=True, defer_build=True)

    version: str
    id: str
    source: str
    account: str
    time: datetime
    region: str
    resources: list[str]
    detail_type: str = Field(alias="detail-type")
    detail: Any
    replay_name: str | None = Field(None, alias="replay-name")


class WatchdogEvent(EventBridgeEnvelope):
    """The EventBridge envelope as the watchdogs accept it, with the fields the watchdogs rely on held to what
    EventBridge always sends.

    ``id`` must be a non-empty string. An event without one is rejected rather than given an id derived from its
    content: EventBridge stamps every delivery with an id, so an event without one was not delivered by
    EventBridge (a hand-made test, a broken replay tool), and the id is what de-duplicates a delivery (the Glue
    watchdog's idempotency key). Acting on an event that cannot be de-duplicated would bypass the at-least-once
    guard. Rejecting it loses little: the sweep still finds stuck work and the failed crawls and runs no incident
    knows, and a failed query is only ever notified, never acted on.
    """

    id: str = Field(min_length=1, max_length=128, pattern=r"^\S+$")
    account: str = Field(pattern=r"^\d{12}$")
    region: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")
    time: AwareDatetime
