"""SVG snapshots of the screens a user sees (pytest-textual-snapshot; SVGs in __snapshots__/).

Every app here is built from a seeded synthetic trace or a committed sample
model, passed in ready (no loading worker), so nothing depends on timing; the
edit dialog's text cursor does not blink. Regenerate with
`pytest tests/tui/test_snapshots.py --snapshot-update` and look at every SVG
before accepting it.
"""

from __future__ import annotations

import pytest

from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import open_path

from tui_helpers import NORM_TEXT, SAMPLES, layernorm_state_dict, synthetic_source

WIDE = (120, 36)


def sample_or_synthetic(name: str, **synthetic):
    """A committed sample model if it exists, else a seeded synthetic trace of the same shape."""
    path = SAMPLES / name
    if path.exists():
        return open_path(str(path))
    return synthetic_source(name=name.removesuffix(".pt"), **synthetic)


@pytest.fixture
def tagger(tagger_path):
    return open_path(str(tagger_path))


def test_tagger_initial_screen(snap_compare, tagger):
    assert snap_compare(LstmTuiApp(tagger), terminal_size=WIDE)


def test_tagger_after_three_steps(snap_compare, tagger):
    assert snap_compare(LstmTuiApp(tagger), press=["right", "right", "right"], terminal_size=WIDE)


def test_table_sorted_by_delta_c(snap_compare, tagger):
    assert snap_compare(LstmTuiApp(tagger), press=["right", "right", "s"], terminal_size=WIDE)


def test_bidirectional_layer_two_reverse_direction(snap_compare):
    src = sample_or_synthetic("bitagger.pt", layers=2, bidirectional=True, hidden=8, T=9, seed=4)
    press = ["right", "right", "right_square_bracket", "d"]
    assert snap_compare(LstmTuiApp(src), press=press, terminal_size=(160, 45))


def test_peephole_cell_view(snap_compare):
    src = sample_or_synthetic("peephole.pt", peephole=True, hidden=6, T=7, seed=7)
    assert snap_compare(LstmTuiApp(src), press=["right", "right"], terminal_size=(160, 45))


def test_projected_lstm(snap_compare):
    src = synthetic_source(hidden=8, proj=3, T=6, seed=8, name="projected")
    assert snap_compare(LstmTuiApp(src), press=["right"], terminal_size=(160, 45))


def test_help_screen(snap_compare, tagger):
    assert snap_compare(LstmTuiApp(tagger), press=["question_mark"], terminal_size=WIDE)


def test_edit_dialog(snap_compare, tagger):
    async def open_dialog(pilot):
        await pilot.press("e")
        await pilot.pause()
        pilot.app.screen.query_one("#text").cursor_blink = False

    assert snap_compare(LstmTuiApp(tagger), run_before=open_dialog, terminal_size=WIDE)


def test_model_that_opened_with_a_warning(snap_compare, tmp_path):
    """A LayerNorm the pipeline skips: the header, the output panel and a notification say so."""
    src = open_path(str(layernorm_state_dict(tmp_path)), text=NORM_TEXT)
    assert snap_compare(LstmTuiApp(src), terminal_size=WIDE)


def test_80x24_terminal(snap_compare, tagger):
    assert snap_compare(LstmTuiApp(tagger), press=["right", "right"], terminal_size=(80, 24))


def test_too_small_terminal(snap_compare, tagger):
    assert snap_compare(LstmTuiApp(tagger), terminal_size=(60, 20))


def test_no_color(snap_compare, tagger, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(LstmTuiApp(tagger), press=["right", "right"], terminal_size=WIDE)


def test_light_theme(snap_compare, tagger):
    async def light(pilot):
        pilot.app.theme = "textual-light"

    assert snap_compare(LstmTuiApp(tagger), press=["right", "right"], run_before=light,
                        terminal_size=WIDE)  # fmt: skip
