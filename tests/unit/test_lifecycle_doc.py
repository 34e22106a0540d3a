"""docs/lifecycle.md is generated from the runbooks' step tables: it must match what the code declares."""

from __future__ import annotations

from watchdogs_local.lifecycle_doc import DOC, render


def test_the_lifecycle_doc_matches_the_declared_step_tables() -> None:
    # Given the step tables the runbooks declare / When the doc is rendered from them
    rendered = render()
    # Then the committed doc is exactly that (regenerate: make docs)
    assert DOC.read_text() == rendered, "docs/lifecycle.md is stale: run `make docs`"
    assert "```mermaid" in rendered or "No multi-step remediation declared yet." in rendered
