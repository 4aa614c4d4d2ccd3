"""Issue 14: the screen reads right: legend, NO_COLOR glyphs, sort arrows, a sorted
table read from its top, signed sparklines around zero, one colour scale for the cell."""

from __future__ import annotations

import math

import numpy as np
from rich.console import Console

from lstm_tui.renderables import CellDiagram, CellValues, UnitHistory
from lstm_tui.renderables.palette import ramps, signed_style
from lstm_tui.stepdata import SORTS
from lstm_tui.widgets.unit_history import series_heights

from tui_helpers import RecordingApp, synthetic_source, widget_text

SIZE = (120, 36)


def _text(renderable, width, color_system=None):
    con = Console(width=width, color_system=color_system, record=True, file=open("/dev/null", "w"))
    con.print(renderable)
    return con.export_text().rstrip("\n").split("\n")


def test_signed_sparkline_grows_both_ways_from_a_zero_line():
    s = {"c": np.array([-2.0, -1.0, 0.0, 1.0, 2.0])}
    u = UnitHistory(s, 0, header=False, heights={"c": 4})
    lw = len("c ±2.00") + 1
    lines = _text(u, lw + 5 + 1 + u.value_width())  # one column per step
    cols = [[line[lw + k] if len(line) > lw + k else " " for line in lines] for k in range(5)]
    # the most negative value is as tall as the most positive one, downward
    assert cols[0] == [" ", " ", "█", "█"] and cols[4] == ["█", "█", " ", " "]
    assert cols[1] == [" ", " ", "█", " "] and cols[3] == [" ", "█", " ", " "]
    assert cols[2] == [" "] * 4  # exactly zero: nothing on either side
    u = UnitHistory({"c": np.array([-0.01, 0.01, 1.0])}, 0, header=False, heights={"c": 2})
    lw = len("c ±1.00") + 1
    small = _text(u, lw + 3 + 1 + u.value_width())
    assert small[0][lw + 1] == "▁" and small[1][lw] == "▔"  # small but not zero: visible
    assert small[0][lw] == " " and small[1][lw + 1] == " "


def test_history_gives_signed_series_two_lines_when_the_rows_allow():
    series = dict.fromkeys(("c", "h", "f", "i", "o", "g"), np.zeros(3))
    assert series_heights(series, 9) == {"c": 2, "h": 2, "f": 1, "i": 1, "o": 1, "g": 2}
    tall = series_heights(series, 20)
    assert all(tall[q] % 2 == 0 and tall[q] >= 2 * tall["f"] for q in "chg")
    assert sum(tall.values()) <= 20
    assert series_heights(series, 6) == dict.fromkeys(series, 1)


def test_cell_diagram_colours_on_one_scale_given_for_the_sequence():
    v = CellValues(unit=0, c_prev=0.5, f=0.5, i=0.5, g=0.2, o=0.5, kept=0.25, written=0.1,
                   c=0.35, tanh_c=math.tanh(0.35), h_cell=0.17, h=0.17, x_label="\u23ce")  # fmt: skip
    con = Console(width=60, color_system="truecolor", file=open("/dev/null", "w"))
    segs = list(con.render(CellDiagram(v, c_scale=5.0), con.options.update_width(60)))
    c_seg = next(sg for sg in segs if sg.text == "+0.35")
    assert c_seg.style.color == signed_style(0.35, 5.0).color  # not rescaled to this step
    assert c_seg.style.color.triplet == ramps()["pos"][0]
    assert '"⏎"' in "\n".join(_text(CellDiagram(v), 60))


async def test_table_shows_its_colour_legend_and_every_sort_arrow():
    src = synthetic_source(hidden=6, T=5)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#table")
        top = widget_text(table).splitlines()[0]
        assert "gate shut" in top and "open" in top and "0" in top
        for _ in SORTS[1:]:
            await pilot.press("s")
            header = widget_text(table).splitlines()[1]
            assert ("↓" in header), (screen.sort, header)


async def test_a_sorted_table_stays_at_its_top_rows_while_stepping():
    src = synthetic_source(hidden=40, T=8, seed=2)
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#table")
        await pilot.press("s")  # by |Δc|, the top unit selected
        for _ in range(30):
            await pilot.press("down")  # select a unit far down the ranking
        await pilot.press("home")
        table.scroll_to(y=0, animate=False, immediate=True)
        await pilot.pause()
        for _ in range(4):
            await pilot.press("right")
            await pilot.pause()
            assert table.scroll_offset.y == 0, screen.t
        order = table.columns.order
        first = widget_text(table).splitlines()[2].replace("▶", " ").split()[0]
        assert int(first) == int(order[0])


async def test_no_color_glyphs_stand_apart_from_the_numbers(monkeypatch):
    """NO_COLOR: a glyph between two spaces before each number where the table has room
    (200 columns), the numbers alone where glyphs would cost them decimals (120)."""
    monkeypatch.setenv("NO_COLOR", "1")
    src = synthetic_source(hidden=6, T=5)
    for size, glyphs in (((200, 60), True), ((120, 36), False)):
        app = RecordingApp(src)
        async with app.run_test(size=size):
            table = app.screen.query_one("#table")
            assert app.no_color
            rows = [r.replace("▶", " ") for r in widget_text(table).splitlines()[2:8]]
            for row in rows:
                words = row.split()
                marks = [w for w in words if w in list("░▒▓█·=≡-")]
                # h_t-1 and the 12 quantities; at 200 columns the retention column (t½) follows
                numbers = [w for w in words[1:] if w not in marks][:13]
                assert len(numbers) == 13 and all(len(n.split(".")[-1]) == 2 for n in numbers), row
                assert (len(marks) > 0) == glyphs and len(marks) <= 14, row  # a zero has no glyph
                for k, ch in enumerate(row):
                    if ch in "░▒▓█·=≡" and k > 8:
                        assert row[k - 1] == " " and row[k + 1] == " ", row
            top = widget_text(table).splitlines()[0]
            assert "[ ░▒▓█ ]" in top or "[ ░▒▓█]" in top  # the key says what the glyphs mean


async def test_palette_lists_each_action_once_and_screenshot_says_where(tmp_path):
    app = RecordingApp(synthetic_source())
    async with app.run_test(size=SIZE) as pilot:
        commands = list(app.get_system_commands(app.screen))
        titles = [c.title for c in commands]
        assert len(titles) == len(set(titles)), titles
        assert "Quit" not in titles and "Keys" not in titles  # the debugger's q and ? instead
        assert any(t.startswith("Quit lstm-tui") for t in titles)
        assert not any("(" + c.help.removeprefix("Debugger key: ") + ")" in c.title
                       for c in commands if c.help.startswith("Debugger key: "))  # fmt: skip
        assert "Screenshot" in titles
        written = app.save_screenshot(tmp_path)
        await pilot.pause()
        assert written is not None and written.parent == tmp_path
        assert written.read_text().lstrip().startswith("<svg")
        assert any(str(written.resolve()) in n.message for n in app.notes)
        blocked = tmp_path / "not-a-folder"
        blocked.write_text("")
        assert app.save_screenshot(blocked) is None
        assert any(n.message.startswith("Screenshot not saved:") for n in app.notes)


async def test_help_describes_each_key_once():
    from lstm_tui.screens.help import HelpScreen

    app = RecordingApp(synthetic_source(layers=2))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = "\n".join(widget_text(w) for w in app.screen.query("Static"))
        lines = [ln.split(None, 1)[0] for ln in text.splitlines() if ln.strip().startswith("[")]
        assert lines.count("[") == 1, lines  # "[ ]" once, not "[ ]" and "["


async def test_the_charlm_editor_says_how_to_select_all_and_clear():
    from textual.widgets import TextArea

    from lstm_tui.opening import open_path
    from lstm_tui.screens.dialogs import EditInputDialog
    from tui_helpers import SAMPLES

    app = RecordingApp(open_path(str(SAMPLES / "charlm.pt")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("e")
        assert isinstance(app.screen, EditInputDialog)
        hint = widget_text(app.screen.query_one(".dialog-hint"))
        assert "F7 then Backspace: select all and clear" in " ".join(hint.split())
        await pilot.press("f7", "backspace")  # and it does what it says
        assert app.screen.query_one(TextArea).text == ""
