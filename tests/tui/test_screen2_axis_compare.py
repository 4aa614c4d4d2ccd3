"""Issue 14: the time axis keeps the cursor's label apart from the first and last step
numbers, and two traces side by side keep their tables apart.
"""

from __future__ import annotations

import re

import pytest

from lstm_tui.layout import MIN_WIDTH, SIDE_BY_SIDE_FROM, compare_sides
from lstm_tui.renderables.history import axis_segments, time_axis
from lstm_tui.whatif import compare
from tui_helpers import RecordingApp, synthetic_source


def _axis(T: int, cursor: int, room: int, overview: bool = False) -> tuple[str, object]:
    axis = time_axis(T, cursor, room, overview=overview)
    return "".join(s.text for s in axis_segments(axis, cursor, 1, axis.columns + 1)), axis


CASES = [(T, room, overview) for T in (3, 5, 60, 840, 9999) for room in (8, 20, 40, 57)
         for overview in (False, True)]  # fmt: skip


@pytest.mark.parametrize("T,room,overview", CASES)
def test_the_cursor_label_never_touches_a_step_number(T, room, overview):
    for cursor in sorted({0, 1, 2, T // 2, T - 3, T - 2, T - 1} & set(range(T))):
        text, axis = _axis(T, cursor, room, overview)
        assert text.count("▼") == 1, (cursor, text)
        words = text.split()
        label = f"t={cursor + 1}"
        assert text.count("t=") <= 1
        # every word is a whole step number, the marker, or the cursor's label: nothing
        # glued ("▼840", "0▼"), nothing half overwritten ("t=58 ▼ 0" for 60)
        bounds = {str(axis.t0 + 1), str(axis.t1)}
        for w in words:
            assert w == "▼" or w == label or w in bounds, (cursor, text)
        # the marker and its label stand two blanks away from a step number
        block = re.search(r"(t=\d+ ▼|▼ t=\d+|▼)", text)
        for m in re.finditer(r"(?<![=\d])\d+", text):
            gap = block.start() - m.end() if m.end() <= block.start() else m.start() - block.end()
            assert gap >= 2, (cursor, text)
        if label in words:  # the label, when drawn, is next to the marker
            assert f"{label} ▼" in text or f"▼ {label}" in text


def test_the_label_is_there_whenever_a_side_has_room():
    for T, cursor in ((840, 839), (840, 835), (60, 57), (840, 0), (840, 400)):
        text, _ = _axis(T, cursor, 40)
        assert f"t={cursor + 1}" in text, text


def test_side_by_side_needs_two_whole_views_and_a_gap():
    assert SIDE_BY_SIDE_FROM == 2 * MIN_WIDTH + 1
    assert compare_sides(SIDE_BY_SIDE_FROM - 1, True, 0) == (True, False)
    assert compare_sides(SIDE_BY_SIDE_FROM, True, 0) == (True, True)


@pytest.mark.parametrize("width", [SIDE_BY_SIDE_FROM, 170, 200])
async def test_two_traces_side_by_side_keep_their_tables_apart(width):
    a = synthetic_source(hidden=16, T=9, seed=1)
    b = synthetic_source(hidden=16, T=9, seed=2, name="other")
    app = RecordingApp(a, compare=compare(a, b, "input"))
    async with app.run_test(size=(width, 45)) as pilot:
        await pilot.press("right", "right")
        await pilot.pause()
        main, other = app.screen.query_one("#main"), app.screen.query_one("#other")
        assert main.display and other.display
        assert min(main.region.width, other.region.width) >= MIN_WIDTH
        assert abs(main.region.width - other.region.width) <= 1  # halves of what is left
        gap = main.region.right  # the column between the two views
        assert other.region.x == gap + 1
        # the gap column belongs to neither view, on every line of them, and the left
        # table ends before it
        views = app.screen.query_one("#views")
        for y in range(main.region.y, main.region.bottom):
            widget, _ = app.screen.get_widget_at(gap, y)
            assert widget is views, (y, widget)
        table = main.query_one("#table")
        assert table.region.right <= gap
