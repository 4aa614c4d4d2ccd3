"""Pilot tests of an edit's preview: shown first and marked as one, then replaced by the full
branch (the engine's, bit for bit) at the same place; an edit made meanwhile is queued, undo
cancels, and a preview is never saved.

The full branch is held back (`Held`) until the test releases it, so the preview's moment is
the test's to look at, not a race with the worker.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from textual.widgets import Input

from lstm_engine import Ablate, Opened
from lstm_tui.screens import whatif_keys
from lstm_tui.screens.watch_dialogs import SaveDialog
from rich.style import Style

from lstm_tui.opening import open_path
from lstm_tui.whatif import NOT_RECOMPUTED, PREVIEW_STEPS, PreviewData, make_branch
from lstm_tui.widgets.output_panel import render_output

from tui_helpers import SAMPLES, RecordingApp, synthetic_source, widget_text

SIZE = (120, 36)
ARRAYS = ("x", "i", "f", "g", "o", "c", "h")
T, EDIT_AT, UNIT = 80, 10, 2


class Held:
    """whatif_keys.make_branch with the full branch (no `until`) held until `release()`."""

    def __init__(self, monkeypatch) -> None:
        self.real = whatif_keys.make_branch
        self.go = threading.Event()
        monkeypatch.setattr(whatif_keys, "make_branch", self)

    def __call__(self, source, *edits, until=None):
        if until is None:
            assert self.go.wait(30), "the test never released the full branch"
        return self.real(source, *edits, until=until)

    def release(self) -> None:
        self.go.set()


@pytest.fixture
def source():
    return synthetic_source(T=T, hidden=6, seed=3)


async def until_preview(pilot, screen) -> None:
    for _ in range(400):
        await pilot.pause(0.01)
        if screen.source.trace.preview_until is not None:
            return
    raise AssertionError("no preview reached the screen")


async def settle(app, pilot) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def ablate_at(pilot, screen, t: int) -> None:
    screen._goto(t)
    await pilot.pause()
    screen.unit = UNIT
    await pilot.pause()
    await pilot.press("a")


def same_arrays(a, b) -> None:
    for k in ARRAYS:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)


async def test_the_preview_shows_first_marked_then_the_full_branch_replaces_it(source, monkeypatch):
    held = Held(monkeypatch)
    app = RecordingApp(source)
    edit = Ablate(unit=UNIT, from_t=EDIT_AT)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ablate_at(pilot, screen, EDIT_AT)
        await until_preview(pilot, screen)
        until = EDIT_AT + PREVIEW_STEPS
        shown = screen.source.trace
        assert shown.preview_until == until and screen.history.depth == 0
        preview = Opened(trace=source.trace).branch([edit], until=until)
        same_arrays(shown, preview)  # the engine's preview, as the screen shows it
        assert "(preview)" in widget_text(screen.query_one("#header"))
        bar = widget_text(screen.query_one("#whatif"))
        assert f"re-running {until + 1}–{T}" in bar and "ablate 2 from 11" in bar
        assert "U cancel" in bar and "b parent" not in bar  # b waits for the full branch
        assert screen.comparison is None  # no diff summary from a half-made branch
        data = screen.view.data
        assert isinstance(data, PreviewData)
        # the steps it re-ran are the branch's; the later ones are pending, not the parent's
        np.testing.assert_array_equal(data.step_values(0, 0, EDIT_AT)["c"],
                                      preview.c[0, 0, EDIT_AT])  # fmt: skip
        assert np.isnan(data.step_values(0, 0, until)["c"]).all()
        heat = data.window("c", 0, 0, 0, T, slice(None))
        assert np.isfinite(heat[:, :until]).all() and np.isnan(heat[:, until:]).all()
        # a half-life is a mean over every step: pending, not the parent's, until the full branch
        assert np.isnan(data.columns(0, 0, EDIT_AT, "unit").values["half_life"]).all()
        # the diagram's colour scale is the one the view measured (the parent's), not a new scan
        cell = screen.view.query_one("#cell")
        assert cell._scales() == data.base.scales(0, 0)
        screen._goto(until + 5)  # the user moves on while the rest is re-run
        await pilot.pause()
        # no model to run the head again: the preview says what the full branch will say
        assert NOT_RECOMPUTED in widget_text(screen.view.query_one("#output"))
        screen.lstm_layer, screen.unit = 0, 4
        held.release()
        await settle(app, pilot)
        full = Opened(trace=source.trace).branch([edit])
        assert screen.source.trace.preview_until is None and screen.history.depth == 1
        same_arrays(screen.source.trace, full)
        np.testing.assert_array_equal(screen.source.trace.output, full.output)
        assert (screen.t, screen.unit, screen.lstm_layer) == (until + 5, 4, 0)
        assert "(preview)" not in widget_text(screen.query_one("#header"))
        bar = widget_text(screen.query_one("#whatif"))
        assert "re-running" not in bar and "vs parent" in bar
        assert NOT_RECOMPUTED in widget_text(screen.view.query_one("#output"))
        assert not isinstance(screen.view.data, PreviewData)
        assert np.isfinite(screen.view.data.columns(0, 0, EDIT_AT, "unit").values["half_life"]).all()
    same_arrays(source.trace, Opened(trace=source.trace).branch([]))  # the parent untouched


async def test_an_edit_made_while_one_runs_is_queued_not_lost(source, monkeypatch):
    held = Held(monkeypatch)
    app = RecordingApp(source)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ablate_at(pilot, screen, EDIT_AT)
        await until_preview(pilot, screen)
        await ablate_at(pilot, screen, EDIT_AT + 20)
        await pilot.pause()
        assert any("Queued ablate 2 from 31" in n.message for n in app.notes)
        assert "queued ablate 2 from 31" in widget_text(screen.query_one("#whatif"))
        held.release()
        await settle(app, pilot)
        await settle(app, pilot)  # the queued edit runs once the first has landed
        first = Opened(trace=source.trace).branch([Ablate(unit=UNIT, from_t=EDIT_AT)])
        second = Opened(trace=first).branch([Ablate(unit=UNIT, from_t=EDIT_AT + 20)])
        assert screen.history.depth == 2 and screen.source.trace.preview_until is None
        same_arrays(screen.source.trace, second)
        same_arrays(screen.history.parent.trace, first)


async def test_undo_while_an_edit_runs_cancels_it_and_the_queue(source, monkeypatch):
    held = Held(monkeypatch)
    app = RecordingApp(source)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ablate_at(pilot, screen, EDIT_AT)
        await until_preview(pilot, screen)
        await ablate_at(pilot, screen, EDIT_AT + 3)
        await pilot.press("R")  # redo waits for the edit, with a note
        assert any("An edit is being made: redo" in n.message for n in app.notes)
        await pilot.press("U")
        await pilot.pause()
        assert screen.source is source and screen.history.depth == 0
        assert any("Cancelled ablate 2 from 11 and 1 queued" in n.message for n in app.notes)
        assert "re-running" not in widget_text(screen.query_one("#whatif"))
        held.release()  # what the cancelled worker still makes is dropped
        await settle(app, pilot)
        assert screen.source is source and screen.history.depth == 0
        assert screen.t == EDIT_AT + 3


async def test_a_preview_is_not_saved(source, monkeypatch, tmp_path):
    held = Held(monkeypatch)
    app = RecordingApp(source)
    path = tmp_path / "preview.npz"
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await ablate_at(pilot, screen, EDIT_AT)
        await until_preview(pilot, screen)
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, SaveDialog)
        app.screen.query_one(Input).value = str(path)
        await pilot.press("enter")
        for _ in range(400):
            await pilot.pause(0.01)
            if any(n.title == "Not saved" for n in app.notes):
                break
        refusal = [n.message for n in app.notes if n.title == "Not saved"]
        assert refusal and "preview" in refusal[0] and "full branch" in refusal[0]
        assert not path.exists()
        held.release()
        await settle(app, pilot)


def test_a_previews_output_is_pending_where_it_holds_the_parents_steps():
    """With a model the preview's head runs on the preview's h, so from `until` on it would be
    the parent's prediction: the panel says pending there, and shows the branch's before."""
    if not (SAMPLES / "france.pt").exists():
        pytest.skip("sample_models/france.pt is not built")
    france = open_path(str(SAMPLES / "france.pt"))
    T = france.trace.T
    preview = make_branch(france, Ablate(unit=2, from_t=1), until=3)
    full = make_branch(france, Ablate(unit=2, from_t=1))
    assert preview.trace.preview_until == 3 < T
    for t in range(T):
        got = render_output(preview, t, 3, 40, Style(), Style()).plain
        if t >= 3:
            assert "pending" in got and "French" not in got
        else:
            assert got == render_output(full, t, 3, 40, Style(), Style()).plain
