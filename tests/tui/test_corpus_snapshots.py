"""SVG snapshots of the corpus keys' screens: a selection, the match list, the input list, export.

Seeded, hand-made data (the planted corpus of test_corpus_mode), so retraining a sample
changes nothing here. Regenerate with `pytest tests/tui/test_corpus_snapshots.py
--snapshot-update` and look at the PNGs (rsvg-convert) before committing them.
"""

from __future__ import annotations

from lstm_tui.app import LstmTuiApp
from lstm_tui.corpus_view import corpus_source

from test_corpus_mode import planted_corpus
from test_corpus_pilot import goto, planted


async def _select(pilot, step: int = 11, steps: int = 4) -> None:
    await goto(pilot, step)
    await pilot.press(*["shift+right"] * steps)
    await pilot.pause()
    pilot.app.clear_notifications()


def test_a_selection_80x24(snap_compare):
    """Steps 11–15 selected: ▏ in the strip, ◆ on units 3, 7 and 9, the title listing them."""
    assert snap_compare(LstmTuiApp(planted()), run_before=_select, terminal_size=(80, 24))


def test_the_match_list_across_a_corpus_120x36(snap_compare):
    async def setup(pilot):
        await _select(pilot)
        await pilot.press("M")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    app = LstmTuiApp(corpus_source(planted_corpus(), name="planted"))
    assert snap_compare(app, run_before=setup, terminal_size=(120, 36))


def test_the_input_list_80x24(snap_compare):
    async def setup(pilot):
        await pilot.press("x")
        await pilot.pause()
        pilot.app.clear_notifications()  # "Input 2 of 3": gone before the list opens
        await pilot.pause()
        await pilot.press("i")
        await pilot.pause()
        await pilot.pause()  # the list scrolled to the input in view

    app = LstmTuiApp(corpus_source(planted_corpus(), name="planted"))
    assert snap_compare(app, run_before=setup, terminal_size=(80, 24))


def test_the_export_dialog_80x24(snap_compare):
    async def setup(pilot):
        await pilot.press("right", "ctrl+e")
        await pilot.pause()

    assert snap_compare(LstmTuiApp(planted()), run_before=setup, terminal_size=(80, 24))
