"""The step's cheaper drawing shows what the slower one showed: the unit table's one-call
number format and remembered cell styles, the per-unit caches (invalidated on a layer,
direction or trace change), and the history reading only the window it draws."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_tui.widgets.unit_table import fast_fmt, fmt, fmt_specs

VALUES = [0.0, -0.0, 1.0, 0.5, 0.004999, 0.005, 0.995, 0.9999999, 1.0000001, -1e-9, 1e-9,
          12.3456, -12.345, 99.995, -99.999, 123.456, 1e6, -1e6, 1e12, -3.5e-7, 7.25,
          float("nan"), float("inf"), float("-inf")]  # fmt: skip


@pytest.mark.parametrize("gate", [True, False])
@pytest.mark.parametrize("digits", [0, 1, 2])
@pytest.mark.parametrize("width", [3, 4, 5, 6, 7, 9])
def test_fast_fmt_prints_what_fmt_prints(gate, digits, width):
    rng = np.random.default_rng(width * 10 + digits)
    values = VALUES + (rng.standard_normal(200) * 10.0 ** rng.integers(-3, 4, 200)).tolist()
    values += np.float32(rng.random(50)).astype(np.float64).tolist()  # float32 gates, widened
    specs = fmt_specs(width, gate, digits)
    for v in values:
        assert fast_fmt(v, width, gate, digits, specs) == fmt(v, width, gate, digits), v


# --- on screen: what the caches keep is what a fresh screen draws
import asyncio  # noqa: E402

from textual.geometry import Region  # noqa: E402

from lstm_tui.app import LstmTuiApp  # noqa: E402
from lstm_tui.screens.debugger import DebuggerScreen  # noqa: E402
from lstm_tui.widgets.sequence_strip import SequenceStrip  # noqa: E402
from lstm_tui.widgets.status_header import StatusHeader  # noqa: E402
from lstm_tui.widgets.unit_table import UnitTable  # noqa: E402

from tui_helpers import synthetic_source  # noqa: E402

SIZE = (120, 36)


def lines_of(widget) -> list[list[tuple[str, str]]]:
    """The widget's lines as (text, style) segments: what the compositor is given."""
    w, h = widget.outer_size
    return [[(seg.text, str(seg.style)) for seg in strip]
            for strip in widget.render_lines(Region(0, 0, w, h))]  # fmt: skip


async def _table_at(source, keys: tuple[str, ...], t: int):
    app = LstmTuiApp(source)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.CONTEXT_HZ = 0
        await pilot.press(*keys)
        screen._goto(t)
        screen.unit = 6  # the sorts select their top unit, which depends on where they were
        table = app.screen.query_one(UnitTable)
        table.scroll_to_top()  # and the scroll position depends on the way there
        await pilot.pause()
        return lines_of(table)


def test_table_rows_after_a_walk_equal_a_fresh_screens():
    """The remembered cell styles are the ones cell_style gives: a table reached after
    stepping over other steps, sorting and switching direction draws what a new one draws."""
    source = synthetic_source(layers=2, bidirectional=True, hidden=40, T=30, seed=4)
    walk = ("right",) * 12 + ("s", "d", "right_square_bracket") + ("left",) * 5
    walk += ("left_square_bracket", "d", "s", "right_square_bracket")
    walked = asyncio.run(_table_at(source, walk, 17))
    fresh = asyncio.run(_table_at(source, ("s", "s", "right_square_bracket"), 17))
    assert walked == fresh


def test_table_after_a_new_trace_equals_a_fresh_screens():
    """A new trace in the same view (an edit's re-run, another example) gets its own
    columns, layout and colours: what a screen opened on it draws."""
    first = synthetic_source(hidden=40, T=30, seed=6)
    second = synthetic_source(hidden=40, T=30, seed=7)

    async def replaced():
        app = LstmTuiApp(first)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            screen = app.screen
            screen.CONTEXT_HZ = 0
            await pilot.press(*("right",) * 9)
            screen._install(second)
            screen._goto(17)
            screen.unit = 6
            table = screen.query_one(UnitTable)
            table.scroll_to_top()
            await pilot.pause()
            return lines_of(table)

    assert asyncio.run(replaced()) == asyncio.run(_table_at(second, (), 17))


def test_a_theme_change_restyles_the_strip_and_header():
    """The cached component styles are dropped when Textual restyles the widgets."""
    source = synthetic_source(hidden=6, T=10, seed=5)

    async def run():
        app = LstmTuiApp(source)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            strip, header = app.screen.query_one(SequenceStrip), app.screen.query_one(StatusHeader)
            before = lines_of(strip), lines_of(header)
            app.theme = "textual-light"
            await pilot.pause()
            for widget in (strip, header):
                for name in widget.COMPONENT_CLASSES:
                    assert widget.component_style(name) == widget.get_component_rich_style(name)
            after = lines_of(strip), lines_of(header)
            assert after != before
            app.theme = "textual-dark"
            await pilot.pause()
            assert (lines_of(strip), lines_of(header)) == before

    asyncio.run(run())
