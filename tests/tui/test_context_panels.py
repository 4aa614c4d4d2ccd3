"""The history and heatmap panels: one shared time axis, and an overview that hides no event.

Review finding 3: a history squeezed to the panel width hid a forget gate's
dips (charlm, unit 164: f ≈ 1 with 74 steps below 0.1, drawn as a solid row),
drew an oscillating signed series as a solid block, and used a different time
axis from the heatmap beside it.
"""

from __future__ import annotations

import numpy as np
import pytest
from rich.console import Console

from lstm_tui.app import LstmTuiApp
from lstm_tui.stepdata import scales
from lstm_tui.renderables.heatmap import _colour_table, _levels
from lstm_tui.renderables.history import RANGE, BARS, UnitHistory, summarize, time_axis

from tui_helpers import synthetic_source, widget_text


def _lines(renderable, width, color_system=None):
    con = Console(width=width, color_system=color_system, file=open("/dev/null", "w"))
    return ["".join(s.text for s in line) for line in con.render_lines(renderable, pad=False)]


def _segments(renderable, width, color_system=None):
    con = Console(width=width, color_system=color_system, file=open("/dev/null", "w"))
    return list(con.render(renderable, con.options.update_width(width)))


def _spark(history, line, width):
    """The sparkline cells of one rendered row (between the label and the value)."""
    lw, sw, _ = history.geometry(width)
    return line[lw + 1 : lw + 1 + sw]


def _charlm_like_gate(T=2400, n_dips=74, seed=0):
    rng = np.random.default_rng(seed)
    f = 1.0 - rng.random(T) * 0.01  # held open: 0.99..1
    dips = np.sort(rng.choice(T, n_dips, replace=False))
    f[dips] = 0.01 + rng.random(n_dips) * 0.08  # closes below 0.1
    return f, dips


def test_overview_keeps_every_dip_of_a_gate_that_is_mostly_open():
    f, dips = _charlm_like_gate()
    width = 80
    h = UnitHistory({"f": f}, 0, header=False)
    axis = h.time_axis(width)
    assert axis.bucketed and axis.columns < f.shape[0]
    spark = _spark(h, _lines(h, width)[0], width)
    dip_cols = sorted({h.time_axis(width).columns_of(int(t)).start for t in dips})
    # every bucket holding a dip is drawn at the bottom level; the others stay full
    assert [spark[k] for k in dip_cols] == ["▁"] * len(dip_cols)
    others = [spark[k] for k in range(axis.columns) if k not in dip_cols]
    assert others and set(others) == {"█"}
    # the old rule (extreme furthest from the row's middle 0.5) kept 1 and hid them all
    assert len(dip_cols) > 30


def test_overview_does_not_draw_an_oscillating_series_as_a_solid_block():
    T = 2400
    s = np.where(np.arange(T) % 2 == 0, 0.45, -0.45)
    width = 80
    h = UnitHistory({"c": s}, 0, header=False)
    spark = _spark(h, _lines(h, width)[0], width)
    cols = h.time_axis(width).columns
    assert "█" not in spark[:cols] and "▁" not in spark[:cols]
    assert set(spark[:cols]) == {RANGE}  # every bucket swings over the whole scale
    # odd-sized buckets (median at one extreme) are still swings, not alternating bars
    odd = UnitHistory({"c": s[:2390]}, 0, header=False)
    spark = _spark(odd, _lines(odd, width)[0], width)
    assert set(spark[: odd.time_axis(width).columns]) == {RANGE}
    # a window (one step per column) shows the real alternation, step by step
    win = UnitHistory({"c": s}, 100, header=False, axis=time_axis(T, 100, 60))
    spark = _spark(win, _lines(win, width)[0], width)
    assert spark[:6] in ("█▁█▁█▁", "▁█▁█▁█")


def test_bucket_summary_is_the_value_furthest_from_the_bucket_median():
    v = np.array([[0.5, 0.5, 0.9, 0.5, 0.1, 0.5, 0.5, 0.5, np.nan]])
    b = summarize(v, np.array([0, 3, 6, 9]))
    assert b.value[0, 0] == 0.9 and b.value[0, 1] == 0.1
    assert np.isnan(b.value[0, 2]) and b.bad[0, 2] and b.lo[0, 2] == 0.5


def test_window_axis_follows_the_cursor_by_half_pages_and_fills_short_sequences():
    T, room = 500, 80
    prev = None
    moves = 0
    for t in range(T):
        a = time_axis(T, t, room)
        assert a.cell == 1 and a.t1 - a.t0 == room and a.columns == room
        assert a.t0 <= t < a.t1 and a.columns_of(t) == range(t - a.t0, t - a.t0 + 1)
        assert a.step_at(t - a.t0) == t
        if prev is not None and a.t0 != prev.t0:
            moves += 1
            assert a.t0 - prev.t0 == room // 2 or a.t1 == T
        prev = a
    assert moves <= 2 * T // room + 1
    # a pure function of its arguments: two panels with the same room agree
    assert time_axis(T, 321, room) == time_axis(T, 321, room)
    # short sequence: an integer number of columns per step, filling the room
    short = time_axis(7, 3, 80)
    assert (short.t0, short.t1, short.cell, short.columns) == (0, 7, 11, 77)
    assert short.columns_of(3) == range(33, 44)
    # overview: the whole sequence in buckets of consecutive steps
    over = time_axis(T, 321, room, overview=True)
    assert over.bucketed and over.columns == room and (over.t0, over.t1) == (0, T)
    assert over.columns_of(321) == range(51, 52) and over.step_at(51) <= 321 < over.step_at(52)


def test_value_column_width_is_fixed_so_the_sparkline_never_shifts():
    c = np.array([0.5, 9.5, -12.25, 3.0, 100.5, -0.01])
    width = 60
    rows = [_lines(UnitHistory({"c": c, "f": np.full(6, 0.5)}, t, header=False), width) for t in range(6)]
    h = UnitHistory({"c": c}, 0)
    lw, sw, vw = h.geometry(width)
    assert vw == len("-100.50")
    for t, lines in enumerate(rows):
        assert len(lines[0].rstrip()) == len(rows[0][0].rstrip())  # value right-aligned at the same edge
        assert lines[0].rstrip().endswith(f"{c[t]:+.2f}")
    # the bars themselves are identical whatever the cursor (mono: no highlight in text)
    assert len({_spark(h, lines[0], width) for lines in rows}) == 1


def test_rows_state_their_scale():
    s = {"f": np.full(5, 0.3), "c": np.array([0.1, -2.5, 1.0, 0.0, 0.2])}
    lines = _lines(UnitHistory(s, 1, labels={"c": "c_t"}, header=False), 60)
    assert lines[0].split()[:2] == ["f", "0–1"]
    assert lines[1].split()[:2] == ["c_t", "±2.50"]


@pytest.mark.parametrize("overview", [False, True])
def test_every_segment_styled_in_both_modes(overview):
    f, _ = _charlm_like_gate(T=900)
    s = {"f": f, "c": np.sin(np.arange(900) / 3.0), "h": np.full(900, np.nan)}
    for cs in ("truecolor", None):
        for color in (True, False):
            axis = time_axis(900, 450, 50, overview=overview)
            h = UnitHistory(s, 450, axis=axis, color=color, height=2, step_base=1)
            segs = _segments(h, 80, color_system=cs)
            assert all(sg.style is not None for sg in segs if sg.text != "\n")
            text = "".join(sg.text for sg in segs)
            assert "t=451" in text and "!" in text


async def test_history_and_heatmap_share_the_time_axis_and_the_overview():
    src = synthetic_source(hidden=6, T=300, seed=5)
    app = LstmTuiApp(src)
    async with app.run_test(size=(160, 45)) as pilot:
        screen = app.screen
        history, heat = screen.query_one("#history"), screen.query_one("#heatmap")
        await pilot.press("end")
        for _ in range(30):
            await pilot.press("left")
        t = screen.t
        assert t == 299 - 30
        h_axis, m_axis = history.axis(), heat._window()[0]
        assert h_axis == m_axis and not h_axis.bucketed
        assert h_axis.t0 <= t < h_axis.t1 and h_axis.cell == 1
        h_text, m_text = widget_text(history), widget_text(heat)
        first, last = str(h_axis.t0 + 1), str(h_axis.t1)
        for text in (h_text, m_text):
            axis_line = text.splitlines()[1]
            assert axis_line.split()[0] == first and axis_line.split()[-1] == last
            assert f"t={t + 1}" in axis_line
        # the cursor's column is the same column of both plots
        for widget, text in ((history, h_text), (heat, m_text)):
            line = text.splitlines()[1]
            assert line.index("▼") - line.index(first) == h_axis.columns_of(t).start
        # overview: z switches both to the whole sequence, 1..300, and back
        await pilot.press("z")
        assert screen.overview and history.overview and heat.overview
        h_axis, m_axis = history.axis(), heat._window()[0]
        assert h_axis == m_axis and (h_axis.t0, h_axis.t1) == (0, 300)
        for text in (widget_text(history), widget_text(heat)):
            axis_line = text.splitlines()[1]
            assert axis_line.split()[0] == "1" and axis_line.split()[-1] == "300"
        # a heatmap column shows its bucket's value furthest from the bucket median
        tr = src.trace
        want = summarize(tr.c[0, 0, :, :].T, h_axis.edges).value[0]  # unit 0, the selected row
        vmax = scales(tr, 0, 0)["c"]
        table = _colour_table(app.current_theme.dark, True)
        expected = [table[k].bgcolor for k in _levels(want / vmax, True)]
        row = heat.render_line(1)  # content line 1: unit 0
        fills = [seg.style.bgcolor for seg in row for _ in seg.text]
        gutter = len(str(tr.hidden_size - 1)) + 1
        got = fills[gutter : gutter + h_axis.columns]
        cursor = h_axis.columns_of(screen.t).start
        assert [g for k, g in enumerate(got) if k != cursor] == [
            e for k, e in enumerate(expected) if k != cursor
        ]
        await pilot.press("z")
        assert not history.overview and not heat.overview
        assert history.axis() == heat._window()[0] and not history.axis().bucketed
