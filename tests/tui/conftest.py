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


@pytest.fixture(autouse=True)
def context_panels_follow_every_step(monkeypatch):
    """History and heatmap follow each step at once, so no test depends on timers."""
    from lstm_tui.screens.debugger import DebuggerScreen

    monkeypatch.setattr(DebuggerScreen, "CONTEXT_HZ", 0)
