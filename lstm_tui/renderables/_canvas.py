"""A tiny character canvas: place styled text on a grid, then emit Rich lines.

Box-drawing diagrams are easiest to write as "put this glyph at (x, y)"; this
turns such a grid into Rich Segments, merging runs of equal style, and gives
every segment (blank cells included) a real Style, because Textual's Line API
crashes under NO_COLOR on unstyled segments.
"""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style

BLANK = Style()


class Canvas:
    """A width × height grid of one-cell glyphs, each with a Style."""

    def __init__(self, width: int, height: int, base: Style = BLANK) -> None:
        self.width = width
        self.height = height
        self.base = base
        self.chars = [[" "] * width for _ in range(height)]
        self.styles = [[base] * width for _ in range(height)]

    def put(self, x: int, y: int, text: str, style: Style | None = None) -> int:
        """Write ``text`` starting at (x, y), clipped to the canvas; returns the x after it.

        Only one-cell glyphs are supported (the diagram uses nothing else).
        """
        if not 0 <= y < self.height:
            return x + len(text)
        st = style if style is not None else self.base
        if (text.isascii() and text.isprintable()
                or all(cell_len(ch) == 1 for ch in set(text))):  # one cell each: a slice
            a, b = max(x, 0), min(x + len(text), self.width)
            if a < b:
                self.chars[y][a:b] = text[a - x:b - x]
                self.styles[y][a:b] = [st] * (b - a)
            return x + len(text)
        for k, ch in enumerate(text):
            xx = x + k
            if 0 <= xx < self.width:
                self.chars[y][xx] = ch if cell_len(ch) == 1 else "?"
                self.styles[y][xx] = st
        return x + len(text)

    def get(self, x: int, y: int) -> str:
        if 0 <= x < self.width and 0 <= y < self.height:
            return self.chars[y][x]
        return ""

    def hline(self, x0: int, x1: int, y: int, ch: str, style: Style | None = None) -> None:
        """Fill cells x0..x1 (inclusive) on row y with ``ch``."""
        self.put(min(x0, x1), y, ch * (abs(x1 - x0) + 1), style)

    def vline(self, x: int, y0: int, y1: int, ch: str, style: Style | None = None) -> None:
        """Fill rows y0..y1 (inclusive) in column x with ``ch``."""
        for y in range(min(y0, y1), max(y0, y1) + 1):
            self.put(x, y, ch, style)

    def box(self, x0: int, y0: int, x1: int, y1: int, style: Style | None = None) -> None:
        """A rounded light box with corners at (x0, y0) and (x1, y1)."""
        self.put(x0, y0, "╭", style)
        self.put(x1, y0, "╮", style)
        self.put(x0, y1, "╰", style)
        self.put(x1, y1, "╯", style)
        self.hline(x0 + 1, x1 - 1, y0, "─", style)
        self.hline(x0 + 1, x1 - 1, y1, "─", style)
        self.vline(x0, y0 + 1, y1 - 1, "│", style)
        self.vline(x1, y0 + 1, y1 - 1, "│", style)

    def text_lines(self) -> list[str]:
        return ["".join(row) for row in self.chars]

    def lines(self, width: int | None = None) -> list[list[Segment]]:
        """Rows as lists of Segments, cropped (or padded with base style) to ``width``."""
        w = self.width if width is None else width
        out: list[list[Segment]] = []
        for y in range(self.height):
            chars = self.chars[y][:w]
            styles = self.styles[y][:w]
            segs: list[Segment] = []
            start = 0
            for x in range(1, len(styles)):
                # a run ends where the style object changes (most cells share their ink's)
                if styles[x] is not styles[start]:
                    segs.append(Segment("".join(chars[start:x]), styles[start]))
                    start = x
            if chars:
                segs.append(Segment("".join(chars[start:]), styles[start]))
            if w > len(chars):
                segs.append(Segment(" " * (w - len(chars)), self.base))
            out.append(segs)
        return out


def crop_line(segs: list[Segment], width: int) -> list[Segment]:
    """Crop a line of one-cell-glyph segments to ``width`` cells, keeping their styles."""
    out: list[Segment] = []
    room = width
    for s in segs:
        if room <= 0:
            break
        if len(s.text) <= room:
            out.append(s)
            room -= len(s.text)
        else:
            out.append(Segment(s.text[:room], s.style))
            room = 0
    return out
