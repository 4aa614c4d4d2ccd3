"""Clicks land where the user sees them: strip tokens, table rows, heatmap cells.

Each test reads what is drawn under the pointer (a token, a row's unit number,
a heatmap row's label and the time axis) before clicking, then checks that
the cursor moved to exactly that. A handler one row, one token or one step
off fails here (issue 8: those three mutants once survived the whole suite).
"""

from __future__ import annotations

import re
from dataclasses import replace

import pytest
from textual.geometry import Region

from lstm_tui.app import LstmTuiApp

from tui_helpers import synthetic_source

SIZE = (120, 36)


def lines(widget) -> list[str]:
    """The widget's content as drawn, one string per line (border rows excluded)."""
    x, y = content_offset(widget, 0, 0)
    cw, ch = widget.content_size
    w, h = widget.outer_size
    drawn = [s.text for s in widget.render_lines(Region(0, 0, w, h))]
    return [line[x : x + cw] for line in drawn[y : y + ch]]


def content_offset(widget, x: int, y: int) -> tuple[int, int]:
    """A content-relative cell as an offset from the widget's top-left corner (what click takes)."""
    content, outer = widget.content_region, widget.region
    return (content.x - outer.x + x, content.y - outer.y + y)


def unique_words(T: int, **kw):
    """A synthetic source whose tokens all differ (w1, w2, ...): a token's text says where it is."""
    src = synthetic_source(T=T, **kw)
    trace = replace(src.trace, tokens=tuple(f"w{k + 1}" for k in range(T)))
    return replace(src, trace=trace)


def word_x(row: str, word: str) -> int:
    """The middle of a whole word in a drawn row."""
    m = re.search(rf"(?<!\S){re.escape(word)}(?!\S)", row)
    assert m, (word, row)
    return (m.start() + m.end() - 1) // 2


@pytest.mark.parametrize("start", [0, 40])
async def test_clicking_a_token_moves_the_cursor_to_that_token(start):
    src = unique_words(T=60, hidden=6)
    app = LstmTuiApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen._goto(start)  # at 40 the strip is scrolled: its first token is not w1
        await pilot.pause()
        strip = screen.query_one("#strip")
        for k in [start, start + 1, start + 5, start + 2, max(start - 3, 0)]:
            row = lines(strip)[0]
            await pilot.click(strip, offset=content_offset(strip, word_x(row, f"w{k + 1}"), 0))
            await pilot.pause()
            assert screen.t == k, (k, row)


def _unit_at(table_line: str) -> int:
    return int(table_line.replace("▶", " ").split()[0])


@pytest.mark.parametrize("scroll_to", [None, 150])
async def test_clicking_a_table_row_selects_the_unit_drawn_on_it(scroll_to):
    app = LstmTuiApp(synthetic_source(hidden=200, T=5, seed=3))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("right", "s")  # sorted by |Δc|: row order is not unit order
        await pilot.pause()
        table = screen.query_one("#table")
        if scroll_to is not None:
            screen.unit = int(screen.columns.order[scroll_to])  # the table scrolls to show it
            await pilot.pause()
            assert table.scroll_offset.y > 0
        for y in [1, 2, 7, table.content_size.height - 1]:
            want = _unit_at(lines(table)[y])
            await pilot.click(table, offset=content_offset(table, 3, y))
            await pilot.pause()
            assert screen.unit == want, y
            assert _unit_at(lines(table)[y]) == want and "▶" in lines(table)[y]


async def test_clicking_a_table_header_sorts_by_that_column():
    app = LstmTuiApp(synthetic_source(hidden=8, T=3))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#table")
        labels = [("kept", "kept"), ("Δc", "delta_c"), ("c_t-1", "c_prev"), ("g", "g"), ("h_t", "h")]
        for label, key in labels:
            header = lines(table)[0]
            await pilot.click(table, offset=content_offset(table, word_x(header, label), 0))
            await pilot.pause()
            assert screen.sort == key, (label, header)


async def test_clicking_a_heatmap_cell_selects_its_unit_and_step():
    T = 8
    app = LstmTuiApp(synthetic_source(hidden=40, T=T, seed=5))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.unit = 20  # the heatmap's rows follow it: they no longer start at unit 0
        await pilot.pause()
        heat = screen.query_one("#heatmap")
        gutter = len(str(40 - 1)) + 1  # unit labels, then the cells
        cell = (heat.room or heat.plot_room()) // T  # the whole sequence fits: columns per step
        assert cell >= 2
        rows = lines(heat)
        labels = {y: int(r[:gutter].replace("▶", " ")) for y, r in enumerate(rows[1:-1], start=1)
                  if r[:gutter].replace("▶", " ").strip().isdigit()}  # fmt: skip
        assert len(labels) >= 4 and min(labels.values()) > 0
        top, bottom = min(labels), max(labels)
        for y, step in [(top, 0), (bottom, 2), (top + 2, T - 1), (bottom - 1, 5)]:
            x = gutter + step * cell + cell // 2
            await pilot.click(heat, offset=content_offset(heat, x, y))
            await pilot.pause()
            assert (screen.unit, screen.t) == (labels[y], step), (y, rows[y])
            # what the heatmap now draws: the row marked, the cursor (▼) in the clicked column
            drawn = lines(heat)
            assert "▶" in drawn[y][:gutter]
            col = drawn[0].index("▼")
            assert gutter + step * cell <= col < gutter + (step + 1) * cell, drawn[0]


async def test_a_reverse_only_lstm_reads_right_to_left_on_screen():
    """Issue 8: an ONNX direction="reverse" LSTM has one direction, index 0, that reads
    right to left. The screen asks the trace (reads_reversed), not `direction == 1`."""
    import numpy as np

    from lstm_engine import LSTMSpec, record
    from lstm_tui.source import Source

    from tui_helpers import LABELS, WORDS

    spec = LSTMSpec.random(5, 6, 1, directions=("reverse",), seed=2)
    assert spec.reads_reversed(0)
    T = 6
    rng = np.random.default_rng(2)
    logits = rng.standard_normal((T, len(LABELS)))
    trace = record(spec, rng.standard_normal((T, 5)), tokens=WORDS[:T], labels=LABELS,
                   output=logits - np.log(np.exp(logits).sum(axis=1, keepdims=True)))  # fmt: skip
    app = LstmTuiApp(Source(trace=trace, name="reverse", origin="live", output_kind="log_prob"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("end")  # a reverse reader starts at the last position
        await pilot.pause()
        strip = screen.query_one("#strip")
        assert "← reads right to left" in strip.border_title
        assert "c_t+1" in lines(screen.query_one("#table"))[0]
        assert "c_t+1" in "\n".join(lines(screen.query_one("#cell")))
        # reading right to left, every prediction depends on later tokens: all are shown
        assert len(lines(strip)[1].split()) == T
        np.testing.assert_allclose(screen.columns.values["c_prev"], trace.c0[0, 0], atol=1e-6)
