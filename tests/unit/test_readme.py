"""The docs stay true: every setting the code reads and every incident field is documented in docs/reference.md,
the README tells the short story and links to it, and docs/local.md lists every sample's declared outcome."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdogs.incidents import Incident
from watchdogs.settings import Settings
from watchdogs_local.samples import load_samples

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
REFERENCE = (ROOT / "docs" / "reference.md").read_text()
LOCAL = (ROOT / "docs" / "local.md").read_text()


@pytest.mark.parametrize("variable", sorted(f.alias or n for n, f in Settings.model_fields.items()))
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in REFERENCE


@pytest.mark.parametrize("field", sorted(Incident.model_fields))
def test_every_incident_field_is_documented(field: str) -> None:
    assert f"`{field}`" in REFERENCE


def test_quick_start_names_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README


def test_readme_is_a_short_story_that_links_the_reference_and_the_guarantees() -> None:
    # a story plus the three tables a reader needs up front (runbook steps, cold start): the rest is in docs/
    assert len(README.splitlines()) <= 170
    assert "(docs/reference.md)" in README
    assert "(docs/local.md)" in README
    assert "(docs/lifecycle.md)" in README
    anchor = "docs/reference.md#the-lifecycle-the-outbox-and-the-fault-guarantees"
    assert anchor in README
    assert "\n## The lifecycle, the outbox and the fault guarantees\n" in REFERENCE


@pytest.mark.parametrize("name", sorted(load_samples()))
def test_local_docs_list_every_sample_with_its_declared_outcome(name: str) -> None:
    expected = load_samples()[name].expected
    row = next((line for line in LOCAL.splitlines() if line.startswith(f"| `{name}` |")), "")
    cells = [cell.strip() for cell in row.split("|")[1:-1]]
    assert cells[2:5] == [expected.outcome, expected.classification or "-", expected.action or "-"], row


def test_readme_shows_the_bench_table_the_bench_wrote() -> None:
    # `make bench` rewrites the table between its markers in both files; neither may drift by hand
    def block(text: str) -> str:
        return text.split("<!-- bench:start -->", 1)[1].split("<!-- bench:end -->", 1)[0]

    performance = (ROOT / "docs" / "performance.md").read_text()
    assert "| path | function | x floor (CPU) |" in block(README)
    assert block(README) == block(performance)
