"""Where the next sweep starts: a one-item cursor in the incident table, written only when it changes.

A sweep walks the runbooks causes first (crawlers, queries, executions). One cut short by its deadline (the Lambda
context's remaining time) records the first runbook whose discovery it skipped or cut, and the next sweep starts
there and wraps around: a scale the timeout cannot cover in one run is covered over consecutive runs, and no
runbook starves behind the others. The cursor is a plain item (``pk = SWEEP``, ``sk = CURSOR``) beside the
incidents: one ``GetItem`` per sweep, and one ``PutItem`` only when the starting point moves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from watchdogs.incidents import iso, now_utc
from watchdogs.runbooks.discovery import STORE_ERRORS

if TYPE_CHECKING:
    from collections.abc import Callable

CURSOR_KEY = {"pk": {"S": "SWEEP"}, "sk": {"S": "CURSOR"}}


class SweepCursor:
    """The stored starting runbook (``crawler``, ``query``, ``execution``; None = from the first)."""

    def __init__(self, table_name: str, client: Callable[[], Any]) -> None:
        self.table_name = table_name
        self._client = client
        self.loaded: str | None = None

    def load(self) -> str | None:
        """The runbook to start from; None when unset or unreadable (a full sweep from the first is always safe)."""
        try:
            item = self._client().get_item(TableName=self.table_name, Key=CURSOR_KEY, ConsistentRead=True).get("Item")
        except STORE_ERRORS:
            return None
        self.loaded = str(item["start"]["S"]) if item and "start" in item else None
        return self.loaded

    def save(self, start: str | None) -> bool:
        """Store where the next sweep starts; a no-op (no call) when it is where this one started."""
        if start == self.loaded:
            return False
        item = {**CURSOR_KEY, "updated_at": {"S": iso(now_utc())}}
        if start is not None:
            item["start"] = {"S": start}
        try:
            self._client().put_item(TableName=self.table_name, Item=item)
        except STORE_ERRORS:
            return False
        self.loaded = start
        return True


def rotated(order: list[str], start: str | None) -> list[str]:
    """``order`` beginning at ``start`` and wrapping around (unchanged when ``start`` is not in it)."""
    if start not in order:
        return list(order)
    i = order.index(start)
    return order[i:] + order[:i]
