"""Each kernel log fixture parses to its reviewed golden JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import fixture_logs
from tests.golden import expected_path, golden


@pytest.mark.parametrize("path", fixture_logs(), ids=lambda p: p.name)
def test_golden(path: Path) -> None:
    exp = expected_path(path)
    if not exp.exists():
        pytest.fail(f"{exp.name} missing: run `python -m tests.golden {path}` and review it")
    assert golden(path) == json.loads(exp.read_text())


@pytest.mark.parametrize("path", fixture_logs(), ids=lambda p: p.name)
def test_every_fixture_has_a_source_note(path: Path) -> None:
    note = path.with_suffix(".source.md")
    assert note.exists(), f"{path.name} needs {note.name} saying where it came from"
    assert len(note.read_text().strip()) > 40
