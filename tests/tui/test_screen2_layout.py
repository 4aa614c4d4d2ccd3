"""Issue 14, the space at 200×60: a larger cell diagram, taller plots. The layout is a pure
function of the size (lstm_tui.layout.plan), tested as one; one pilot test checks that the
screen does what the plan says.
"""

from __future__ import annotations

import pytest

from lstm_tui.layout import (
    ARRANGEMENTS,
    CELL_WIDTHS,
    FULL_CELL_FROM,
    LARGE_CELL_FROM,
    SCREEN_ROWS,
    STRIP_ROWS,
    TABLE_CHROME_ROWS,
    arrangement,
    plan,
)
from lstm_tui.renderables.cell_diagram import (
    COMPACT_WIDTH,
    FULL_WIDTH,
    LARGE_WIDTH,
    geometry_rows,
)
from tui_helpers import RecordingApp, synthetic_source, widget_text

#: Rows the output panel of a 4-label model takes under the cell view (rule, head, labels).
OUTPUT_ROWS = 6


def _side_rows(width: int) -> int:
    """What the side column measures in a view `width` wide: the cell view's title rule and
    diagram, and the output panel under it (beside the table)."""
    cell = plan(width, 58, units=6).cell_width - 2
    return 1 + geometry_rows(cell) + OUTPUT_ROWS


def test_each_arrangement_gives_the_cell_view_the_diagram_it_draws():
    widths = {"stacked": COMPACT_WIDTH, "beside": COMPACT_WIDTH, "wide": FULL_WIDTH,
              "large": LARGE_WIDTH}  # fmt: skip
    for shape in ARRANGEMENTS:
        assert CELL_WIDTHS[shape] - 2 == widths[shape]
    last = 0
    for width in range(80, 301):
        layout = plan(width, 40, units=6)
        assert layout.cell_width >= last  # never a smaller diagram on a wider terminal
        last = layout.cell_width
        if layout.side_width is not None:
            assert layout.side_width == layout.cell_width
            # beside the table, the table keeps at least 80 columns
            assert width - layout.side_width >= 80, width
    assert plan(200, 58, units=6).cell_width - 2 == LARGE_WIDTH
    assert plan(FULL_CELL_FROM, 58, units=6).cell_width - 2 == FULL_WIDTH
    assert plan(FULL_CELL_FROM - 1, 58, units=6).cell_width - 2 == COMPACT_WIDTH
    assert plan(LARGE_CELL_FROM - 1, 58, units=6).cell_width - 2 == FULL_WIDTH
    assert plan(119, 58, units=6).side_width is None  # stacked: cell view | output


@pytest.mark.parametrize("units", [2, 6, 16])
def test_at_200_by_60_a_small_model_fills_the_screen(units):
    """The body takes what the table and the large diagram need, the plots every other row."""
    height = 60 - SCREEN_ROWS
    side = _side_rows(200)
    layout = plan(200, height, units=units, side_rows=side)
    assert arrangement(200) == "large" and layout.arrangement == "large"
    assert layout.plots_fit and layout.show_history and layout.show_heatmap
    assert layout.body_rows == max(units + TABLE_CHROME_ROWS, side)
    assert STRIP_ROWS + layout.body_rows + layout.bottom_rows == height  # no row left over
    assert layout.bottom_rows >= 25  # room for a heatmap with rows to spare per unit


def test_the_large_diagram_is_larger_in_both_directions():
    assert LARGE_WIDTH > FULL_WIDTH > COMPACT_WIDTH
    assert geometry_rows(LARGE_WIDTH) > geometry_rows(FULL_WIDTH) > geometry_rows(COMPACT_WIDTH)
    assert geometry_rows(FULL_WIDTH, peephole=True) == geometry_rows(FULL_WIDTH) + 1


async def test_the_screen_at_200_by_60_does_what_the_plan_says():
    app = RecordingApp(synthetic_source(hidden=6, T=12))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.press("right")
        await pilot.pause()
        view = app.screen.view
        cell = view.query_one("#cell")
        assert view.applied.arrangement == "large"
        assert cell.outer_size.width == view.applied.cell_width
        text = widget_text(cell)
        assert "forget" in text and "candidate" in text  # the large diagram, gates named
        # the plots take the rest of the screen, and the heatmap draws into it
        bottom = view.query_one("#bottom")
        assert bottom.outer_size.height == view.applied.bottom_rows
        heat = widget_text(view.query_one("#heatmap")).splitlines()
        drawn = [ln for ln in heat[2:] if ln.strip()]
        assert len(drawn) >= 0.8 * (len(heat) - 2), "\n".join(heat)
        history = widget_text(view.query_one("#history")).splitlines()
        assert sum(1 for ln in history[2:] if ln.strip()) >= 0.6 * (len(history) - 2)
