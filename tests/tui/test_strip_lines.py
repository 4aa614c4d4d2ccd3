"""The panels drawn straight to Strips (`_lines.StripLines`) draw what Textual's own path
draws: the same characters in the same colours and attributes, cell by cell, at every
step, width, theme and without colour; and the pieces that make them (a Text's flat
pieces, the canvas's slices, the table's merged gaps) keep what they replaced."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from lstm_tui.app import LstmTuiApp
from lstm_tui.renderables._canvas import Canvas
from lstm_tui.screens.debugger import DebuggerScreen
from lstm_tui.widgets._lines import StripLines, flat_lines, render_strips, text_strips
from lstm_tui.widgets.cell_view import CellView
from lstm_tui.widgets.output_panel import OutputPanel
from lstm_tui.widgets.sequence_strip import SequenceStrip
from lstm_tui.widgets.status_header import StatusHeader
from lstm_tui.widgets.unit_table import blank_as

from tui_helpers import synthetic_source


def look(style: Style | None, blank: bool = False) -> tuple:
    """What a cell's style shows on a terminal (not Textual's selection offsets); on a
    blank, only what a blank shows (a background, a line, reverse)."""
    if style is None:
        return (None,) * (4 if blank else 8)
    fg, bg = (None if c is None else c.get_truecolor() for c in (style.color, style.bgcolor))
    lines = (bool(style.underline), bool(style.reverse), bool(style.strike))
    if blank:
        return (fg if style.reverse else None, bg, *lines)
    return (fg, bg, bool(style.bold), bool(style.dim), bool(style.italic), *lines)


def cells(strips: list[Strip]) -> list[list[tuple[str, tuple]]]:
    return [[(ch, look(seg.style, ch == " ")) for seg in strip for ch in seg.text]
            for strip in strips]  # fmt: skip


def textual_lines(widget: Widget) -> list[Strip]:
    """The widget's content lines as Textual's own render_line draws its render(), padded
    to the width as its styles cache pads them (on the widget's background)."""
    widget._render_content()
    width = widget.size.width
    pad = Style(bgcolor=widget.rich_style.bgcolor)
    return [Widget.render_line(widget, y).adjust_cell_length(width, pad)
            for y in range(widget.size.height)]  # fmt: skip


def own_lines(widget: Widget) -> list[Strip]:
    return [widget.render_line(y) for y in range(widget.size.height)]


PANELS = (SequenceStrip, StatusHeader, OutputPanel, CellView)


async def _compare(source, keys, size, *, theme=None, no_color=False) -> int:
    app = LstmTuiApp(source)
    if no_color:
        app.no_color = True
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        if theme:
            app.theme = theme
            await pilot.pause()  # the restyle reaches the widgets at the next idle
        screen = app.screen
        assert isinstance(screen, DebuggerScreen)
        screen.CONTEXT_HZ = 0
        compared = 0
        for key in (None, *keys):
            if key is not None:
                await pilot.press(key)
                await pilot.pause()
            for cls in PANELS:
                for widget in screen.query(cls):
                    if not widget.display or widget.size.width == 0:
                        continue
                    assert isinstance(widget, StripLines)
                    assert cells(own_lines(widget)) == cells(textual_lines(widget)), (cls, key)
                    compared += 1
        return compared


@pytest.mark.parametrize("size", [(160, 50), (120, 36), (80, 24)])
def test_the_step_panels_draw_what_textual_draws(size):
    source = synthetic_source(layers=2, bidirectional=True, hidden=12, T=14, seed=3)
    keys = ("right",) * 4 + ("d", "right", "right_square_bracket", "left", "s", "end", "home")
    assert asyncio.run(_compare(source, keys, size)) >= 4 * (len(keys) + 1) - 4


@pytest.mark.parametrize("theme, no_color", [("textual-light", False), (None, True)])
def test_the_step_panels_draw_what_textual_draws_in_a_light_theme_and_without_colour(
        theme, no_color):  # fmt: skip
    source = synthetic_source(hidden=6, T=8, seed=1, peephole=True)
    assert asyncio.run(_compare(source, ("right",) * 3, (120, 36), theme=theme,
                                no_color=no_color)) > 0  # fmt: skip


def test_the_panels_are_drawn_again_after_every_step_and_restyle():
    """The lines are kept for one refresh only: a step, a theme and a resize redraw them."""
    source = synthetic_source(hidden=6, T=8, seed=2)

    async def run():
        app = LstmTuiApp(source)
        async with app.run_test(size=(120, 36)) as pilot:
            await pilot.pause()
            strip = app.screen.query_one(SequenceStrip)
            cell = app.screen.query_one(CellView)
            first = cells(own_lines(strip)), cells(own_lines(cell))
            await pilot.press("right")
            await pilot.pause()
            stepped = cells(own_lines(strip)), cells(own_lines(cell))
            assert stepped != first
            assert stepped[0] == cells(textual_lines(strip))
            app.theme = "textual-light"
            await pilot.pause()
            assert cells(own_lines(strip)) == cells(textual_lines(strip)) != stepped[0]
            await pilot.resize_terminal(100, 30)
            await pilot.pause()
            assert own_lines(strip)[0].cell_length == strip.size.width == 100
            assert cells(own_lines(strip)) == cells(textual_lines(strip))

    asyncio.run(run())


# --- a Text's flat pieces


def _built(rng) -> Text:
    words = ["ab", "名前", "x", "", " ", "é", "⏎", "—", "word→<unk>"]
    styles = [Style(bold=True), Style(color="#ff8800"), Style(italic=True, bgcolor="#112233"),
              None]  # fmt: skip
    text = Text(no_wrap=True, overflow="crop", style=rng.choice(["", Style(dim=True)]))
    for _ in range(int(rng.integers(1, 14))):
        piece = str(rng.choice(words)) + ("\n" if rng.random() < 0.2 else "")
        style = styles[int(rng.integers(len(styles)))]
        text.append(piece, style)
    return text


class _Console:
    """Just enough of a widget for render_strips: its app's console and its base style."""

    def __init__(self, base: Style):
        from rich.console import Console

        self.app = type("App", (), {"console": Console(width=200, color_system="truecolor")})()
        self.rich_style = base


@pytest.mark.parametrize("seed", range(40))
def test_flat_pieces_draw_what_rich_draws(seed):
    rng = np.random.default_rng(seed)
    text = _built(rng)
    base = Style(color="#dddddd", bgcolor="#000000")
    for width in (1, 3, 8, 40):
        got = text_strips(text, width, base)
        want = render_strips(_Console(base), text, width)
        assert got is not None
        assert cells(got) == cells(want), (text.plain, width)
        assert all(strip.cell_length == width for strip in got)


def test_texts_the_flat_path_does_not_draw_go_to_textual():
    base = Style()
    overlapping = Text("abcdef", no_wrap=True, overflow="crop")
    overlapping.stylize("bold", 0, 4)
    overlapping.stylize(Style(italic=True), 2, 6)
    assert flat_lines(overlapping) is None
    named = Text("abc", style="bold", no_wrap=True, overflow="crop")
    assert flat_lines(named) is None
    assert text_strips(Text("a" * 20), 10, base) is None  # wraps
    assert text_strips(Text("a" * 20, no_wrap=True, overflow="ellipsis"), 10, base) is None
    assert text_strips(Text("ab", justify="center", no_wrap=True, overflow="crop"), 10, base) \
        is None  # fmt: skip
    assert text_strips(Text("a\tb", no_wrap=True, overflow="crop"), 10, base) is None
    fits = text_strips(Text("a" * 10), 10, base)  # no wrap needed: drawn here
    assert fits is not None and fits[0].text == "a" * 10


# --- the canvas's slices


def _old_put(cv: Canvas, x: int, y: int, text: str, style) -> None:
    """The canvas's per-character put, as it was before the slices."""
    if not 0 <= y < cv.height:
        return
    st = style if style is not None else cv.base
    for k, ch in enumerate(text):
        xx = x + k
        if 0 <= xx < cv.width:
            cv.chars[y][xx] = ch if cell_len(ch) == 1 else "?"
            cv.styles[y][xx] = st


@pytest.mark.parametrize("seed", range(20))
def test_canvas_slices_put_what_a_character_loop_puts(seed):
    rng = np.random.default_rng(seed)
    pieces = ["abc", "━━━━", "σ i", "名", "a\x07b", "é", "x\u200by", "(×)", "╭─╮", ""]
    a, b = Canvas(12, 3), Canvas(12, 3)
    for _ in range(30):
        text = str(rng.choice(pieces)) * int(rng.integers(1, 4))
        x, y = int(rng.integers(-5, 14)), int(rng.integers(-1, 4))
        style = Style(bold=bool(rng.integers(2)))
        assert a.put(x, y, text, style) == x + len(text)
        _old_put(b, x, y, text, style)
    a.hline(10, 2, 1, "━")
    for x in range(2, 11):
        _old_put(b, x, 1, "━", None)
    assert a.chars == b.chars
    assert a.styles == b.styles
    # runs now end where the style object changes (an equal style may start a new one)
    assert cells([Strip(line) for line in a.lines(14)]) == [
        [(ch, look(st, ch == " ")) for ch, st in zip(row + [" "] * 2, styles + [a.base] * 2)]
        for row, styles in zip(b.chars, b.styles)]  # fmt: skip


# --- the table's merged gaps


def test_a_gap_shares_its_number_s_segment_only_where_a_blank_looks_the_same():
    under = Style(color="#ffffff", bgcolor="#101010")
    assert blank_as(under + Style(color="#ff0000", bold=True), under)
    assert blank_as(under + Style(italic=True, dim=True), under)
    assert not blank_as(under + Style(bgcolor="#aa00aa"), under)  # nan's warning background
    assert not blank_as(under + Style(underline=True), under)
    assert not blank_as(under + Style(reverse=True), under)
    assert not blank_as(under + Style(strike=True), under)
    reversed_row = Style(reverse=True)
    assert not blank_as(reversed_row + Style(color="#ff0000"), reversed_row)
