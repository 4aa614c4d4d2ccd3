"""SVG snapshots of watching: the watch panel, and a screen stopped at a watchpoint.

Seeded synthetic traces (so france.pt being retrained changes nothing here);
the watches are typed through the dialog as a user would. Regenerate with
`pytest tests/tui/test_watch_snapshots.py --snapshot-update` and look at the PNGs.
"""

from __future__ import annotations

from textual.widgets import Input

from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import open_path

from tui_helpers import synthetic_source


async def _watch(pilot, text: str) -> None:
    await pilot.press("w")
    await pilot.pause()
    pilot.app.screen.query_one(Input).value = text
    await pilot.pause()
    await pilot.press("enter")
    await pilot.pause()


def test_watch_panel(snap_compare):
    """Three watches, one off, one not holding at t: the panel at 120×36 between body and plots."""

    async def setup(pilot):
        await _watch(pilot, "f[1] > 0.6")
        await _watch(pilot, 'token == "mat"')
        await _watch(pilot, "max(abs(delta)) > 0.3 and t > 3")
        await pilot.press("W", "down", "space")
        await pilot.pause()
        pilot.app.clear_notifications()

    src = synthetic_source(T=24, hidden=8, seed=2, name="watched")
    assert snap_compare(LstmTuiApp(src), run_before=setup, terminal_size=(120, 36))


def test_stopped_at_a_watchpoint_80x24(snap_compare, tagger_path):
    """At 80×24 the watch panel takes the lower area; c stopped on a watch, a bookmark set."""

    async def setup(pilot):
        await pilot.press("m")
        await _watch(pilot, 'token == "the"')
        pilot.app.clear_notifications()  # leave only the note that says why it stopped
        await pilot.press("c")
        await pilot.pause()

    assert snap_compare(LstmTuiApp(open_path(str(tagger_path))), run_before=setup,
                        terminal_size=(80, 24))  # fmt: skip
