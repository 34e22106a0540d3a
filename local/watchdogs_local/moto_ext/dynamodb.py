"""DynamoDB in the emulator: writes made atomic with respect to each other, as DynamoDB's are.

Moto's server answers requests on several threads, but its DynamoDB backend is not thread-safe:
``TransactWriteItems`` deep-copies every table it touches and, when a condition fails, restores that copy, which
erases whatever another request wrote in between; a conditional ``PutItem`` checks and writes in two steps. Two
concurrent invocations racing for one incident (exactly what the one-actor guarantee is tested with) then lose
the winner's write now and then. One process-wide lock around the backend's write operations restores the
atomicity the real service gives. Only the emulator is patched.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

#: the backend operations that change items (each one runs alone)
WRITE_OPERATIONS = (
    "put_item",
    "update_item",
    "delete_item",
    "transact_write_items",
    "batch_write_item",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_lock = threading.RLock()
_installed = False


def _serialised(method: Any) -> Any:
    @functools.wraps(method)
    def run(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return run


def install() -> None:
    """Serialise moto's DynamoDB write operations in this process (idempotent)."""
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    if _installed:
        return
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415

    for name in WRITE_OPERATIONS:
        method = getattr(DynamoDBBackend, name, None)
        if method is not None:
            setattr(DynamoDBBackend, name, _serialised(method))
    _installed = True
