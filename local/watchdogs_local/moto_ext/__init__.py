"""Extensions to the moto emulator for APIs the watchdogs use that moto lacks.

Each submodule patches one service's moto backend/responses and exposes ``install()``; :func:`install` runs them
all (idempotent). Used by the test harness and the embedded demo, never by the product code.
"""

from __future__ import annotations

import importlib

_SUBMODULES = ("athena", "stepfunctions", "glue", "dynamodb")
_installed = False


def install() -> None:
    global _installed  # noqa: PLW0603 - patches are process-wide by nature
    if _installed:
        return
    for name in _SUBMODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue
            raise
        module.install()
    _installed = True
