"""The pure parts of watching: the watch panel's place in the layout, the strip's markers,
token search, quick-jump expressions and what a trace file may carry (no Textual here)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from rich.style import Style

from lstm_engine import Session
from lstm_tui import layout, watching
from lstm_tui.layout import WATCHES, plan
from lstm_tui.widgets.sequence_strip import MARKERS, StripStyles, render_strip

from tui_helpers import synthetic_source


def view(width: int, height: int) -> tuple[int, int]:
    return width, height - layout.SCREEN_ROWS


# --- the layout
def test_no_watches_is_the_layout_it_always_was():
    for size in [(80, 24), (100, 30), (120, 36), (160, 50)]:
        for panel in layout.PANELS:
            assert plan(*view(*size), units=40, side_rows=10, panel=panel, watches=0) == plan(
                *view(*size), units=40, side_rows=10, panel=panel)
    # "watches" chosen with nothing to watch reads as the cell view
    assert plan(*view(80, 24), units=6, panel=WATCHES) == plan(*view(80, 24), units=6)


def test_watches_sit_between_body_and_plots_where_the_plots_still_fit():
    got = plan(*view(120, 36), units=256, side_rows=12, watches=2)
    assert got.plots_fit and got.watch_rows == layout.WATCH_CHROME_ROWS + 2
    strip_rows = layout.STRIP_ROWS
    assert got.body_rows + got.watch_rows + got.bottom_rows == 34 - strip_rows
    assert got.bottom_rows >= layout.PLOT_ROWS
    many = plan(*view(120, 36), units=256, side_rows=12, watches=30)
    assert many.watch_rows == layout.WATCH_CHROME_ROWS + layout.WATCH_LIST_ROWS


def test_at_80x24_the_watches_become_a_panel_that_p_shows():
    cell = plan(*view(80, 24), units=6, side_rows=10, watches=1)
    assert not cell.plots_fit and not cell.show_watches and cell.show_side
    shown = plan(*view(80, 24), units=6, side_rows=10, panel=WATCHES, watches=1)
    assert shown.show_watches and not shown.show_side and not shown.show_bottom
    assert shown.body_rows == 6 + layout.TABLE_CHROME_ROWS  # the table keeps its rows
    assert shown.body_rows + shown.watch_rows == 22 - layout.STRIP_ROWS


def test_watches_that_would_squeeze_the_plots_out_make_p_cycle_instead():
    # 100×40 with a 10-unit table: the plots fit alone, not with six watches as well
    alone = plan(*view(100, 40), units=10, side_rows=9)
    assert alone.plots_fit
    crowded = plan(*view(100, 40), units=10, side_rows=9, watches=6)
    assert not crowded.plots_fit and not crowded.show_watches


def test_an_unknown_panel_is_refused():
    with pytest.raises(ValueError):
        plan(100, 28, units=6, panel="watch")


# --- the strip's markers
STYLES = StripStyles(*(Style() for _ in range(6)),
                     markers={"match": Style(underline=True), "mark": Style(bold=True)})  # fmt: skip


def test_markers_put_their_glyph_in_the_cells_margin_and_keep_the_widths():
    tokens, preds = ["the", "cat", "sat"], None
    plain = render_strip(tokens, preds, 0, False, 40, STYLES)
    marked = render_strip(tokens, preds, 0, False, 40, STYLES, markers={1: "match", 2: "mark"})
    a, b = plain.plain.split("\n")[0], marked.plain.split("\n")[0]
    assert len(a) == len(b)
    assert b.index("›") == a.index("cat") - 1 and b.index("•") == a.index("sat") - 1
    assert a.replace(" ", "") + "" == b.replace("›", "").replace("•", "").replace(" ", "")
    glyph = marked.plain.index("›")
    styles = [span.style for span in marked.spans if span.start <= glyph < span.end]
    assert styles and all(s.underline for s in styles)


def test_a_marker_kind_without_a_style_still_draws_a_glyph():
    text = render_strip(["a", "b"], None, 0, False, 40, STYLES, markers={1: "unnamed"})
    assert "•b" in text.plain and set(MARKERS) >= {"match", "mark"}


# --- search
def test_find_tokens_substring_exact_and_case():
    tokens = ("France", "in", "france", "Frances", "F")
    assert watching.find_tokens(tokens, "Fra").tolist() == [0, 3]
    assert watching.find_tokens(tokens, '"France"').tolist() == [0]
    assert watching.find_tokens(tokens, "ance").tolist() == [0, 2, 3]
    assert watching.find_tokens(tokens, '"').tolist() == []  # a lone quote is a substring
    with pytest.raises(Exception):
        watching.find_tokens(None, "x")


def test_next_match_wraps_both_ways():
    m = np.array([2, 5, 9])
    assert watching.next_match(m, 0, 1) == (2, False)
    assert watching.next_match(m, 5, 1) == (9, False)
    assert watching.next_match(m, 9, 1) == (2, True)
    assert watching.next_match(m, 5, -1) == (2, False)
    assert watching.next_match(m, 2, -1) == (9, True)
    assert watching.next_match(m[:0], 2, 1) is None


# --- expressions agree with Session.where
def test_next_stop_is_session_run_until_over_any_watch():
    tr = synthetic_source(T=40, hidden=6, seed=2).trace
    texts = ["f[1] > 0.6", 'token == "mat"']
    s = Session(tr)
    union = sorted(set(s.where(texts[0]).tolist()) | set(s.where(texts[1]).tolist()))
    for t in range(tr.T):
        fwd = watching.next_stop(tr, texts, t, 0, 0)
        after = [h for h in union if h > t]
        assert (fwd.t if fwd else None) == (after[0] if after else None)
        back = watching.next_stop(tr, texts, t, 0, 0, reverse=True)
        before = [h for h in union if h < t]
        assert (back.t if back else None) == (before[-1] if before else None)
        if fwd:
            assert set(fwd.texts) == {x for x in texts if fwd.t in s.where(x).tolist()}


def test_quick_jump_expressions_hold_where_they_say():
    tr = synthetic_source(T=40, hidden=6, seed=7).trace
    delta = np.abs(tr.series("delta_c", 0, 0)[:, 3])
    expr, _ = watching.largest_delta(tr, 0, 0, 3)
    assert Session(tr).where(expr).tolist() == np.flatnonzero(delta == delta.max()).tolist()
    expr, _ = watching.large_delta(tr, 0, 0, 3)
    hits = Session(tr).where(expr).tolist()
    assert int(np.argmax(delta)) in hits
    assert all(delta[h] >= delta.max() / 2 * 0.9 for h in hits)
    assert watching.forget_closed(3)[0] == "f[3] < 0.1"
    no_output = dataclasses.replace(tr, output=None)
    assert isinstance(watching.prediction_changes(no_output), str)


def test_a_unit_that_never_changes_has_no_largest_delta():
    tr = synthetic_source(T=6, hidden=4).trace
    c = np.array(tr.c)
    c[0, 0, :, 2] = 0.0
    flat = dataclasses.replace(tr, c=c, c0=np.zeros_like(tr.c0))
    assert isinstance(watching.largest_delta(flat, 0, 0, 2), str)
    assert isinstance(watching.large_delta(flat, 0, 0, 2), str)


# --- what a trace file carries
def test_with_saved_and_read_saved_round_trip_without_changing_the_trace():
    tr = synthetic_source(T=10, hidden=6).trace
    saved = watching.with_saved(tr, [7, 2], ["f[0] < 0.5", "t > 3"])
    assert "marks" not in tr.meta
    assert watching.read_saved(saved) == ((2, 7), ("f[0] < 0.5", "t > 3"), 0)
    cleared = watching.with_saved(saved, [], [])
    assert "marks" not in cleared.meta and "watches" not in cleared.meta


def test_read_saved_caps_what_a_file_may_carry():
    tr = synthetic_source(T=2000, hidden=4).trace
    many = dataclasses.replace(tr, meta={**tr.meta, "marks": list(range(1500)),
                                         "watches": [f"t > {k}" for k in range(40)]})  # fmt: skip
    marks, watches, dropped = watching.read_saved(many)
    assert len(marks) == watching.MAX_MARKS and len(watches) == watching.MAX_WATCHES
    assert dropped == 500 + 8
