"""Rendering pure Rich renderables once into Strips, so a widget can splice and reuse them.

The whole-sequence panels change very little between two steps (a cursor
column, a value); rendering their renderable again at every step would cost
more than the rest of the screen together. These helpers turn a renderable
into styled Strips (every segment gets a style — NO_COLOR needs that), which
the widgets cache and patch.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widget import Widget


def render_strips(widget: Widget, renderable: RenderableType, width: int) -> list[Strip]:
    """The renderable as lines of exactly `width` cells, on the widget's base style."""
    console = widget.app.console
    options = console.options.update(width=width, height=None, no_wrap=True, highlight=False)
    base = widget.rich_style
    lines = console.render_lines(renderable, options, pad=True, new_lines=False)
    return [Strip(Segment.apply_style(line, base), width).crop_extend(0, width, base)
            for line in lines]  # fmt: skip


def text_strip(widget: Widget, text: Text, width: int) -> Strip:
    return render_strips(widget, text, width)[0]


def splice(strip: Strip, x: int, piece: Strip, base: Style) -> Strip:
    """`strip` with the cells from x on replaced by `piece` (same total width)."""
    width = strip.cell_length
    end = min(x + piece.cell_length, width)
    joined = Strip.join([strip.crop(0, x), piece.crop(0, end - x), strip.crop(end, width)])
    return joined.crop_extend(0, width, base)
