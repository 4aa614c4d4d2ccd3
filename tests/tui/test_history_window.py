"""A long trace's unit history reads only the steps it draws once the trace's unit extents
are measured (issue 16): a unit change then costs what is on screen, not T. What it draws
is what the whole-series path draws: the same sparklines, scales and values, in a window
and in the overview, at every unit, step, layer and direction."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from textual.geometry import Region

from lstm_tui.app import LstmTuiApp
from lstm_tui.renderables.history import series_scales
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.stepdata import SIGNED_SERIES, TraceData, unit_extents, unit_scales, unit_series
from lstm_tui.widgets import unit_history
from lstm_tui.widgets.unit_history import UnitHistoryView

from tui_helpers import synthetic_source


def lines_of(widget) -> list[list[tuple[str, str]]]:
    w, h = widget.outer_size
    return [[(seg.text, str(seg.style)) for seg in strip]
            for strip in widget.render_lines(Region(0, 0, w, h))]  # fmt: skip


def with_oddities(source):
    """nan and ±inf in some units' c and h, and a unit that is all zeros."""
    tr = source.trace
    for name, k in (("c", 2), ("h", 5)):
        arr = np.array(getattr(tr, name))
        arr[0, 0, 7, k] = np.nan
        arr[0, 0, 11, k] = np.inf
        arr[0, 0, 13, k + 1] = -np.inf
        arr[0, 0, :, 0] = 0.0
        object.__setattr__(tr, name, arr)
    return source


def test_unit_extents_give_every_unit_the_scales_of_its_whole_series():
    source = with_oddities(synthetic_source(layers=2, bidirectional=True, hidden=9, T=40,
                                            seed=2))  # fmt: skip
    tr = source.trace
    for layer in range(2):
        for d in range(2):
            extents = unit_extents(tr, layer, d)
            assert set(extents) == set(SIGNED_SERIES)
            for unit in range(tr.hidden_size):
                assert unit_scales(extents, unit) == series_scales(
                    unit_series(tr, layer, d, unit)), (layer, d, unit)  # fmt: skip


def test_unit_extents_are_read_in_blocks(monkeypatch):
    from lstm_tui import stepdata

    tr = with_oddities(synthetic_source(hidden=8, T=50, seed=4)).trace
    whole = unit_extents(tr, 0, 0)
    monkeypatch.setattr(stepdata, "WINDOW_BLOCK", 4 * 8)  # four steps a block
    blocked = unit_extents(tr, 0, 0)
    for q in SIGNED_SERIES:
        np.testing.assert_array_equal(blocked[q], whole[q])


SIZE = (160, 50)


async def _history_at(source, keys, *, long_rules: bool, monkeypatch, calls=None):
    """The history's lines after `keys`, with the long-trace rules (extents measured in a
    worker, windowed reads) or the short trace's (the whole series)."""
    monkeypatch.setattr(TraceData, "BACKGROUND", 0 if long_rules else 1 << 40)
    app = LstmTuiApp(source)
    out = []
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.CONTEXT_HZ = 0
        await app.workers.wait_for_complete()
        await pilot.pause()
        for log in calls or ():  # what the keys read, not the first paint
            log.clear()
        history = screen.query_one("#main").query_one(UnitHistoryView)
        for key in keys:
            await pilot.press(key)
            await app.workers.wait_for_complete()
            await pilot.pause()
            out.append(lines_of(history))
    return out


WALK = ("down", "down", "right", "right", "down", "end", "up", "z", "down", "z", "home",
        "d", "down", "right_square_bracket", "up", "left", "z", "up")  # fmt: skip


def test_the_windowed_history_draws_what_the_whole_series_draws(monkeypatch):
    source = with_oddities(synthetic_source(layers=2, bidirectional=True, hidden=12, T=1500,
                                            seed=5))  # fmt: skip
    monkeypatch.setattr(unit_history, "HISTORY_BLOCK", 64)
    windowed = asyncio.run(_history_at(source, WALK, long_rules=True, monkeypatch=monkeypatch))
    whole = asyncio.run(_history_at(source, WALK, long_rules=False, monkeypatch=monkeypatch))
    assert len(windowed) == len(WALK)
    for key, a, b in zip(WALK, windowed, whole):
        assert a == b, key


def test_a_unit_change_reads_only_the_steps_drawn(monkeypatch):
    source = synthetic_source(hidden=16, T=6000, seed=6)
    monkeypatch.setattr(unit_history, "HISTORY_BLOCK", 128)
    whole, spans = [], []
    monkeypatch.setattr(TraceData, "unit_series", lambda self, *a: whole.append(a) or
                        unit_series(self.trace, *a))  # fmt: skip
    original = TraceData.unit_window

    def unit_window(self, layer, direction, unit, t0, t1):
        spans.append(t1 - t0)
        return original(self, layer, direction, unit, t0, t1)

    monkeypatch.setattr(TraceData, "unit_window", unit_window)
    keys = ("down",) * 6 + ("right",) * 3 + ("up",) * 2
    asyncio.run(_history_at(source, keys, long_rules=True, monkeypatch=monkeypatch,
                            calls=(whole, spans)))  # fmt: skip
    assert whole == []  # no unit's whole series after the extents were measured
    assert 0 < sum(spans) <= 8 * 2 * 128  # two blocks a unit at most, not 6,000 steps
    # the overview reads a unit's whole sequence, as before
    spans.clear()
    asyncio.run(_history_at(source, ("z", "down"), long_rules=True, monkeypatch=monkeypatch,
                            calls=(whole, spans)))  # fmt: skip
    assert sum(spans) >= 6000


@pytest.mark.parametrize("kind", ["preview", "difference"])
def test_previews_and_differences_keep_reading_the_whole_series(kind):
    """A preview must not cost a pass over the whole trace, and a difference's history
    shows the trace's own values: neither has unit extents."""
    from lstm_tui import whatif

    source = synthetic_source(hidden=6, T=30, seed=7)
    plain = TraceData(source.trace)
    data = (whatif.PreviewData(source.trace, plain) if kind == "preview"
            else whatif.DifferenceData(plain, source.trace))  # fmt: skip
    data.BACKGROUND = 0
    assert data.unit_extents(0, 0) is None
    assert data.take_wanted() == set()


def test_a_pending_measurement_is_handed_out_once():
    """Every key and step asks for the statistics again while they are pending: the view's
    worker gets each (layer, direction) once, not once per ask (each measures everything)."""
    source = synthetic_source(layers=2, hidden=6, T=30, seed=8)
    data = TraceData(source.trace)
    data.BACKGROUND = 0
    for _ in range(3):
        assert data.unit_extents(1, 0) is None
        data.half_lives(1, 0)
    assert data.take_wanted() == {(1, 0)}
    data.unit_extents(1, 0)  # asked again while the worker measures
    assert data.take_wanted() == set()
    data.measure_half_lives(1, 0)
    assert data.unit_extents(1, 0) is not None
    assert np.isfinite(data.half_lives(1, 0)).any()
    assert data.take_wanted() == set()
