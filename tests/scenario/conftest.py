"""Scenario tier: the watchdogs' own template.yaml deployed into the in-process emulator (moto, real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from watchdogs_local.emulator import Emulator


@pytest.fixture
def emulator(moto_server: str) -> Iterator[Emulator]:
    """The session's moto server as the embedded emulator (execution simulation on, moto extensions installed);
    wiped before use, since the deployment must come from the template alone."""
    emu = Emulator(endpoint=moto_server).start()
    emu.reset()
    try:
        yield emu
    finally:
        emu.stop()
        from watchdogs.runtime import reset_runtime

        reset_runtime()
