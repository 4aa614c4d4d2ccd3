"""Fixtures for the TUI tests (helpers live in tui_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tui_helpers import SAMPLES


@pytest.fixture
def tagger_path() -> Path:
    path = SAMPLES / "tagger.pt"
    if not path.exists():
        pytest.skip("sample_models/tagger.pt is not built")
    return path
