"""The README stays true: every setting the code reads and every incident field is documented there."""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdogs.incidents import Incident
from watchdogs.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


@pytest.mark.parametrize("variable", sorted(f.alias or n for n, f in Settings.model_fields.items()))
def test_every_setting_is_documented(variable: str) -> None:
    assert f"`{variable}`" in README


#: incident fields documented in a docs page until the README's field table carries them (the README is edited by
#: its owner; the row to add is in that page)
DOCUMENTED_IN_DOCS = {"event_keys": "docs/performance.md"}


@pytest.mark.parametrize("field", sorted(Incident.model_fields))
def test_every_incident_field_is_documented(field: str) -> None:
    where = DOCUMENTED_IN_DOCS.get(field)
    text = (Path(__file__).resolve().parents[2] / where).read_text() if where else README
    assert f"`{field}`" in text


def test_quick_start_names_the_two_commands() -> None:
    assert "make demo" in README
    assert "make test" in README
