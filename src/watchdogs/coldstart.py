"""Cold start without the garbage collector's full passes.

A cold start allocates hundreds of thousands of long-lived objects (modules, classes, pydantic schemas, botocore
models) and no garbage worth a cycle collection; the collector still runs every few hundred allocations and its
older generations walk everything created so far (measured: 30-50 ms of CPU per cold start, about a tenth of the
floor). :func:`cold_start_phase` pauses it for one phase of the cold start (a handler's imports, ``runtime()``'s
settings, clients and engine), then moves what the phase built to the permanent generation (``gc.freeze()``: later
collections no longer walk it) and turns the collector back on, on exit or on an exception alike.

Each phase pauses once per process: a later pass (a test resetting the runtime) runs with the collector on, so no
process ever runs for long with it off, and no garbage is frozen twice.
"""

from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

_PAUSED_ONCE: set[str] = set()


@contextmanager
def cold_start_phase(name: str) -> Iterator[None]:
    """Run the block with the cycle collector off the first time ``name`` runs in this process (see module doc)."""
    if name in _PAUSED_ONCE or not gc.isenabled():
        yield
        return
    _PAUSED_ONCE.add(name)
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
