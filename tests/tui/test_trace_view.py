"""TraceView is a container that can be shown twice, and TraceData caches pin no trace.

A later comparison screen will mount two TraceViews side by side, bound to one
cursor; this test builds that screen in a few lines and checks that each view
shows its own trace at the shared cursor and that clicks still reach the
screen that owns the cursor.
"""

from __future__ import annotations

import gc
import weakref

import numpy as np
from textual.app import App, ComposeResult
from textual.containers import Horizontal
from textual.reactive import var
from textual.screen import Screen

from lstm_engine import QUANTITIES, REGISTRY
from lstm_tui.stepdata import (
    TraceData, column_label, number_widths, scales, sort_label, step_values,
)
from lstm_tui.views.trace_view import TraceView
from lstm_tui.widgets.unit_table import UnitTable

from tui_helpers import ROOT, synthetic_source, table_rows


class TwoTraces(Screen):
    """The smallest comparison screen: one cursor, two traces."""

    left: var = var(None, init=False)
    right: var = var(None, init=False)
    t: var[int] = var(0, init=False)
    unit: var[int] = var(0, init=False)

    def __init__(self, a, b):
        super().__init__()
        self.set_reactive(TwoTraces.left, a)
        self.set_reactive(TwoTraces.right, b)

    def compose(self) -> ComposeResult:
        S = TwoTraces
        with Horizontal():
            yield TraceView(id="a").data_bind(source=S.left, t=S.t, context_t=S.t, unit=S.unit)
            yield TraceView(id="b").data_bind(source=S.right, t=S.t, context_t=S.t, unit=S.unit)

    def on_unit_table_unit_clicked(self, event: UnitTable.UnitClicked) -> None:
        self.unit = event.unit


class CompareApp(App):
    CSS_PATH = ROOT / "lstm_tui" / "lstm_tui.tcss"

    def __init__(self, a, b):
        super().__init__()
        self.pair = (a, b)

    def on_mount(self) -> None:
        self.push_screen(TwoTraces(*self.pair))


async def test_two_trace_views_share_one_cursor():
    a, b = synthetic_source(hidden=6, T=7, seed=1), synthetic_source(hidden=6, T=7, seed=2)
    app = CompareApp(a, b)
    async with app.run_test(size=(200, 50)) as pilot:
        await pilot.pause()
        screen = app.screen
        views = list(screen.query(TraceView))
        assert [v.id for v in views] == ["a", "b"]
        for t in (0, 4):
            screen.t = t
            await pilot.pause()
            for view, src in zip(views, (a, b)):
                rows = table_rows(view.query_one(UnitTable))
                want = step_values(src.trace, 0, 0, t)
                assert rows, view.id
                for unit, shown in rows:
                    values = [want[q][unit] for q in QUANTITIES]
                    np.testing.assert_allclose(shown, values, atol=0.0051)
        # a click in one view moves the shared cursor, so both views select the unit
        views[1].query_one(UnitTable).post_message(UnitTable.UnitClicked(3))
        await pilot.pause()
        assert screen.unit == 3 and all(v.unit == 3 for v in views)
        assert all(v.query_one("#cell").border_title == "cell · unit 3" for v in views)


def test_labels_and_gates_come_from_the_registry():
    for q in QUANTITIES:
        assert column_label(q) == REGISTRY[q].label_for(False)
        assert column_label(q, reverse=True) == REGISTRY[q].label_for(True)
    assert column_label("c_prev", reverse=True) == "c_t+1"
    # the projected h column is the registry's h_cell (its label kept as the screen showed it)
    assert column_label("h", projected=True) == "o·th"
    assert sort_label("f") == "f ↓" and sort_label("kept") == "|kept| ↓"
    assert sort_label("c_prev", reverse=True, descending=False) == "|c_t+1| ↑"


def test_projected_h_column_is_h_cell():
    tr = synthetic_source(hidden=6, proj=2, T=5, seed=2).trace
    for t in range(tr.T):
        np.testing.assert_allclose(step_values(tr, 0, 0, t)["h"], tr.value("h_cell", 0, 0, t))


def test_trace_data_pins_no_trace():
    """The old caches (functools.lru_cache over whole traces, keys of id()) kept up to
    32 traces alive; a TraceData's caches go with it, and the module functions cache nothing."""
    src = synthetic_source(layers=2, bidirectional=True, hidden=5, T=6, seed=3)
    trace = src.trace
    data = TraceData(trace, steps=4)
    for t in range(trace.T):
        data.columns(1, 1, t, "delta_c")
    data.unit_series(0, 1, 2)
    scales(trace, 0, 0), number_widths(trace, 1, 0)
    first = data.columns(1, 1, 0, "delta_c")  # evicted (4 steps kept): computed again
    assert first is data.columns(1, 1, 0, "delta_c")
    assert data.serial != TraceData(trace).serial
    ref = weakref.ref(trace)
    del src, trace, data, first
    gc.collect()
    assert ref() is None


async def test_resizing_reapplies_the_layout_and_the_footer():
    from tui_helpers import RecordingApp

    app = RecordingApp(synthetic_source(hidden=6, T=5))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        screen = app.screen
        view = screen.query_one(TraceView)
        assert view.has_class("-stacked") and not view.applied.plots_fit
        assert not screen.query_one("#bottom").display and not screen.plots_fit()
        assert screen.check_action("panel", ()) is True  # p is in the footer: it has work
        await pilot.resize_terminal(160, 45)
        await pilot.pause()
        await pilot.pause()
        assert view.has_class("-wide") and not view.has_class("-stacked")
        assert view.applied.plots_fit and screen.plots_fit()
        assert screen.query_one("#bottom").display and screen.query_one("#side").display
        assert screen.check_action("panel", ()) is False  # nothing for p to do: hidden
        await pilot.press("p")  # ... but the key still answers
        assert any("all on screen" in n.message for n in app.notes)
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        assert screen.has_class("-too-small") and not view.display
