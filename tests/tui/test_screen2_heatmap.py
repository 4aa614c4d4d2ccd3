"""Issue 14, the heatmap: which units are in view when not all fit (its title), scrolling
them (J/K and the mouse wheel), several rows per unit for a few units in a tall panel, and
the time axis the history and heatmap share once their row appears on a tall terminal.
"""

from __future__ import annotations

import re

import numpy as np
from rich.console import Console
from textual import events

from lstm_tui.renderables.heatmap import Heatmap
from lstm_tui.widgets.heatmap_view import WHEEL_UNITS, HeatmapView
from tui_helpers import RecordingApp, synthetic_source, widget_text


def _drawn_units(heatmap: HeatmapView) -> list[int]:
    """The unit labels down the heatmap's gutter, as drawn."""
    lines = widget_text(heatmap).splitlines()[2:]  # the title rule and the time axis
    return [int(m.group(1)) for ln in lines if (m := re.match(r"\s*(\d+)[▶ ]", ln))]


def _title_units(heatmap: HeatmapView) -> tuple[int, int, int] | None:
    m = re.search(r"units (\d+)–(\d+) of (\d+)", str(heatmap.border_title))
    return tuple(map(int, m.groups())) if m else None


async def test_the_title_names_the_units_in_view_and_j_k_scroll_them():
    src = synthetic_source(hidden=256, T=30, seed=4)
    app = RecordingApp(src)
    async with app.run_test(size=(120, 36)) as pilot:
        heatmap = app.screen.query_one("#main #heatmap", HeatmapView)
        await pilot.pause()
        shown = _drawn_units(heatmap)
        assert shown == list(range(len(shown))) and 3 <= len(shown) < 256
        assert _title_units(heatmap) == (0, len(shown) - 1, 256)
        assert "c_t" in str(heatmap.border_title)  # the quantity stays in the title
        assert "J/K" in str(heatmap.border_subtitle)
        await pilot.press("J")
        await pilot.pause()
        moved = _drawn_units(heatmap)
        assert moved[0] == max(len(shown) // 2, 1) and len(moved) == len(shown)
        assert _title_units(heatmap) == (moved[0], moved[-1], 256)
        assert app.screen.unit == 0  # scrolling the map does not change the selection
        for _ in range(200):  # to the end, and no further
            await pilot.press("J")
        await pilot.pause()
        assert _drawn_units(heatmap)[-1] == 255 and _title_units(heatmap)[1] == 255
        await pilot.press("K")
        await pilot.pause()
        assert _drawn_units(heatmap)[-1] < 255
        # choosing a unit brings the map back to it
        await pilot.press("down")
        await pilot.pause()
        assert 1 in _drawn_units(heatmap) and _title_units(heatmap)[0] <= 1


async def test_the_mouse_wheel_scrolls_the_heatmap():
    src = synthetic_source(hidden=64, T=20, seed=5)
    app = RecordingApp(src)
    async with app.run_test(size=(120, 36)) as pilot:
        heatmap = app.screen.query_one("#main #heatmap", HeatmapView)
        await pilot.pause()
        first = _drawn_units(heatmap)[0]
        wheel = dict(x=5, y=3, delta_x=0, delta_y=1, button=0, shift=False, meta=False,
                     ctrl=False)  # fmt: skip
        heatmap.post_message(events.MouseScrollDown(heatmap, **wheel))
        await pilot.pause()
        assert _drawn_units(heatmap)[0] == first + WHEEL_UNITS
        heatmap.post_message(events.MouseScrollUp(heatmap, **wheel))
        heatmap.post_message(events.MouseScrollUp(heatmap, **wheel))
        await pilot.pause()
        assert _drawn_units(heatmap)[0] == 0


async def test_all_units_in_view_need_no_range_in_the_title():
    app = RecordingApp(synthetic_source(hidden=6, T=5))
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        heatmap = app.screen.query_one("#main #heatmap", HeatmapView)
        assert _title_units(heatmap) is None and "units" not in str(heatmap.border_title)
        assert _drawn_units(heatmap) == list(range(6))


def test_a_unit_takes_row_height_rows_labelled_once():
    data = np.arange(12, dtype=float).reshape(3, 4) - 5
    con = Console(width=40, color_system=None, record=True, file=open("/dev/null", "w"))
    con.print(Heatmap(data, row_height=3, selected_row=1, legend=False))
    rows = con.export_text().rstrip("\n").split("\n")[1:]
    assert len(rows) == 9
    labels = [ln[:2] for ln in rows]
    assert labels == ["0 ", "  ", "  ", "1▶", "  ", "  ", "2 ", "  ", "  "]
    assert all(ln[2:6] == rows[3 * (k // 3)][2:6] for k, ln in enumerate(rows))  # same cells


async def test_a_few_units_in_a_tall_panel_get_several_rows_and_clicks_find_them():
    app = RecordingApp(synthetic_source(hidden=6, T=5))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        heatmap = app.screen.query_one("#main #heatmap", HeatmapView)
        u0, u1, per_unit = heatmap.units_in_view()
        assert (u0, u1) == (0, 6) and per_unit > 1
        lines = widget_text(heatmap).splitlines()
        assert _drawn_units(heatmap) == list(range(6))
        row_of_3 = next(k for k, ln in enumerate(lines) if re.match(r"\s*3[▶ ]", ln))
        # a click on the unit's last row selects it, at the step under the mouse
        gutter = len(str(5)) + 1
        x = 1 + gutter + heatmap._axis.cell * 2 + 1  # the padding, the labels, two steps in
        await pilot.click(heatmap, offset=(x, row_of_3 + per_unit - 1))
        await pilot.pause()
        assert app.screen.unit == 3 and app.screen.t == 2


async def test_the_history_and_heatmap_share_a_real_axis_when_their_row_appears():
    """At 80–119 columns on a tall terminal the plots' row appears after the first layout;
    its axis used to be shared while the panels had no size (one column)."""
    for size, hidden in (((90, 34), 6), ((100, 50), 16), ((80, 40), 6)):
        app = RecordingApp(synthetic_source(hidden=hidden, T=40))
        async with app.run_test(size=size) as pilot:
            await pilot.press("right")
            await pilot.pause()
            view = app.screen.view
            assert view.applied.plots_fit, size
            history, heatmap = view.query_one("#history"), view.query_one("#heatmap")
            assert view.axis_room == min(history.plot_room(), heatmap.plot_room()) > 10, size
            # and the axis is drawn that wide: its last step number at the right end
            axis = widget_text(heatmap).splitlines()[1]
            assert int(axis.split()[-1]) >= view.axis_room - 1, (size, axis)
