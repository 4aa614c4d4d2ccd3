"""Rendering pure Rich renderables into Strips, so a widget can splice and reuse them, and
drawing the panels that change at every step straight to Strips (StripLines).

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


def flat_lines(text: Text) -> list[list[tuple[str, Style | None]]] | None:
    """The lines of a Text built by appending styled pieces, as (text, style) pieces; None
    for any other Text (overlapping or out-of-order spans, style names)."""
    style = text.style
    if isinstance(style, str):
        if style:
            return None
        style = None
    plain = text.plain
    pieces: list[tuple[str, Style | None]] = []
    pos = 0
    for start, end, span_style in text.spans:
        if isinstance(span_style, str) or start < pos:
            return None
        if start > pos:
            pieces.append((plain[pos:start], style))
        if end > start:
            pieces.append((plain[start:end], span_style if style is None else style + span_style))
        pos = max(pos, end)
    if pos < len(plain):
        pieces.append((plain[pos:], style))
    lines: list[list[tuple[str, Style | None]]] = [[]]
    for piece, piece_style in pieces:
        first, *rest = piece.split("\n")
        if first:
            lines[-1].append((first, piece_style))
        for part in rest:
            lines.append([(part, piece_style)] if part else [])
    return lines


def text_strips(text: Text, width: int, base: Style) -> list[Strip] | None:
    """The Text as lines `width` cells wide, for a Text of appended pieces whose lines fit
    or are cropped; None for any other (wrapped, ellipsised, justified), which Textual draws."""
    if text.justify not in (None, "default", "left") or "\t" in text.plain:
        return None
    lines = flat_lines(text)
    if lines is None:
        return None
    out = []
    for pieces in lines:
        strip = Strip([Segment(s, base if st is None else base + st) for s, st in pieces])
        if strip.cell_length > width and not (text.no_wrap and text.overflow == "crop"):
            return None
        out.append(strip.crop_extend(0, width, base))
    return out


class StripLines:
    """Mixin for a Widget: its content drawn once per refresh as Strips (`content_strips`)
    and handed to Textual through the Line API.

    Textual's own path converts the Rich Text that `render()` returns into its
    Content objects, lays it out again and gives every segment a style of its
    own (the offsets text selection reads). For the panels redrawn at every
    step (strip, header, output, cell) that cost more than building their
    Text: 2-4 ms of a step. Any repaint (a reactive, a title, a restyle)
    draws them again; what the flat path does not draw, Textual still does.
    """

    def content_strips(self, width: int, height: int) -> list[Strip] | None:
        """The content, `width` cells wide (lines beyond `height` are not shown); None to
        have Textual draw `render()` itself."""
        renderable = self.render()
        if isinstance(renderable, Text):
            return text_strips(renderable, width, self._strip_base())
        return None

    def _strip_base(self) -> Style:
        base_style = getattr(self, "base_style", None)  # CachedStyles remembers it
        return base_style() if base_style is not None else self.rich_style

    def render_line(self, y: int) -> Strip:
        size = self.size
        got = self.__dict__.get("_content_strips")
        if got is None or got[0] != size:
            got = self.__dict__["_content_strips"] = (
                size, self.content_strips(size.width, size.height))
        lines = got[1]
        if lines is None:
            return super().render_line(y)
        if 0 <= y < len(lines):
            return lines[y]
        return Strip.blank(size.width, self._strip_base())

    def refresh(self, *regions, repaint: bool = True, layout: bool = False,
                recompose: bool = False):  # fmt: skip
        if repaint:
            self.__dict__.pop("_content_strips", None)
        return super().refresh(*regions, repaint=repaint, layout=layout, recompose=recompose)

    def notify_style_update(self) -> None:
        self.__dict__.pop("_content_strips", None)
        super().notify_style_update()
