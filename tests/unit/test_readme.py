"""The README stays true: every setting the code reads and every incident field is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdogs.incidents import Incident
from watchdogs.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
#: settings documented on their own feature's page (the README links to it)
DOCS = README + "".join(p.read_text() for p in sorted((ROOT / "docs").glob("*.md")))


@pytest.mark.parametrize("variable", sorted(f.alias or n for n, f in Settings.model_fields.items()))
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in DOCS


@pytest.mark.parametrize("field", sorted(Incident.model_fields))
def test_every_incident_field_is_documented(field: str) -> None:
    assert f"`{field}`" in README


def test_quick_start_names_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
