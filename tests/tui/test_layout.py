"""The layout as a pure function of the size: every breakpoint, tested without Textual.

These tests import only lstm_tui.layout; the first checks, in a fresh
interpreter, that importing it loads no Textual at all.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from lstm_tui import layout
from lstm_tui.layout import Layout, arrangement, footer_fit, plan, too_small, too_small_message


def test_layout_imports_no_textual():
    code = "import sys, lstm_tui.layout; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def view(width: int, height: int) -> tuple[int, int]:
    """A trace view's size in a terminal of this size (the screen keeps header and footer)."""
    return width, height - layout.SCREEN_ROWS


@pytest.mark.parametrize(("size", "small"), [
    ((80, 24), False), ((79, 24), True), ((80, 23), True), ((60, 20), True), ((200, 60), False),
])  # fmt: skip
def test_too_small_below_80_by_24(size, small):
    assert too_small(*size) is small


@pytest.mark.parametrize(("width", "shape"), [
    (80, "stacked"), (119, "stacked"), (120, "beside"), (159, "beside"), (160, "wide"),
    (183, "wide"), (184, "large"), (300, "large"),
])  # fmt: skip
def test_arrangement_by_width(width, shape):
    assert arrangement(width) == shape
    assert plan(*view(width, 40), units=8).arrangement == shape


def test_plots_always_fit_from_120_by_34():
    big = plan(*view(120, 34), units=1000, side_rows=15)
    assert big.plots_fit and big.show_bottom and big.show_side
    assert big.bottom_rows == layout.PLOT_ROWS  # a 1000-unit table leaves the plots their minimum
    assert big.body_rows + big.bottom_rows == 34 - layout.SCREEN_ROWS - layout.STRIP_ROWS
    # one row or one column less, and a big table pushes them out
    assert not plan(*view(120, 33), units=1000, side_rows=15).plots_fit
    assert not plan(*view(119, 34), units=1000, side_rows=15).plots_fit


def test_tall_terminals_give_the_plots_16_rows():
    assert plan(*view(160, 49), units=1000, side_rows=15).bottom_rows == 10
    assert plan(*view(160, 50), units=1000, side_rows=15).bottom_rows == 16


def test_the_body_takes_what_a_small_table_needs_and_the_plots_the_rest():
    got = plan(*view(120, 36), units=6, side_rows=12)  # beside: max(6 + 2, 12)
    assert got.body_rows == 12 and got.bottom_rows == 36 - 2 - 4 - 12
    stacked = plan(*view(100, 40), units=6, side_rows=9)  # stacked: table over the side row
    assert stacked.arrangement == "stacked" and stacked.plots_fit
    assert stacked.body_rows == 6 + 2 + 9


def test_small_terminal_shows_the_cell_view_or_one_plot():
    size = view(100, 30)
    cell = plan(*size, units=40, side_rows=9, panel="cell")
    assert cell == Layout("stacked", False, 24, None, True, False, False)
    assert not cell.show_bottom
    history = plan(*size, units=40, panel="history")
    assert (history.show_side, history.show_history, history.show_heatmap) == (False, True, False)
    assert history.body_rows + history.bottom_rows == 24 and history.bottom_rows >= layout.PLOT_ROWS
    heat = plan(*size, units=40, panel="heatmap")
    assert (heat.show_history, heat.show_heatmap) == (False, True)


def test_an_unmeasured_cell_view_counts_as_ten_rows():
    assert plan(100, 28, units=6, side_rows=None) == plan(100, 28, units=6, side_rows=10)


def test_unknown_panel_is_refused():
    with pytest.raises(ValueError, match="panel"):
        plan(100, 28, units=6, panel="table")


def test_footer_keeps_whole_entries_in_priority_order():
    entries = [("→/l", "Step"), ("←/h", "Back"), ("?", "Help"), ("q", "Quit")]
    # "→/l Step " is 9 cells, "? Help " 7; the palette key keeps 12
    assert footer_fit(entries, 12 + 9 + 9 + 7 + 7) == 4
    assert footer_fit(entries, 12 + 9 + 9 + 7 + 6) == 3
    assert footer_fit(entries, 12 + 8) == 0
    assert footer_fit([], 80) == 0


def test_too_small_message_fits_what_it_has():
    roomy = too_small_message(70, 20)
    assert roomy.startswith("This terminal is 70×20; lstm-tui needs at least 80×24.")
    short = too_small_message(20, 5)
    assert short == "20×5: too small, 80×24 needed. q quits."
    assert len(short) <= 3 * 20  # three rows of twenty cells
