"""HeatmapView: units × time for one quantity, the cursor column marked.

Only the window on screen is computed (stepdata.window), so a 1024-unit,
5000-step trace costs what fits in the panel. The window follows the cursor
in time and the selected unit in rows; the drawing is the pure Heatmap
renderable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.heatmap import Heatmap
from ..source import Source
from ..stepdata import GATE_COLUMNS, scales, window
from ._lines import render_strips, splice, text_strip


def follow(start: int, cursor: int, span: int, total: int, page: bool = False) -> int:
    """Move a window [start, start+span) to keep cursor inside it.

    With page=True the window jumps by most of its span when the cursor leaves
    it, so a held arrow key shifts the heatmap once per page rather than at
    every step (only the cursor column then changes between frames).
    """
    if span >= total:
        return 0
    if cursor < start:
        start = cursor - (span * 3 // 4 if page else 0)
    elif cursor >= start + span:
        start = cursor - (span // 4 if page else span - 1)
    return max(0, min(start, total - span))


class HeatmapView(Widget):
    """The heatmap panel: one row per unit, one column per step."""

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)
    quantity: reactive[str] = reactive("c")
    """What the cells show: one of stepdata.HEATMAP_QUANTITIES."""

    @dataclass
    class CellClicked(Message):
        unit: int
        t: int

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._t0 = 0
        self._u0 = 0
        self._geometry = (0, 1, 0)  # gutter, cell width, unit rows shown
        self._base_key: tuple | None = None
        self._base: list[Strip] = []
        self._frame_key: tuple | None = None
        self._frame: list[Strip] = []

    def _window(self) -> tuple[int, int, int, int]:
        """Steps [t0, t1) and units [u0, u1) that fit, following the cursor and the unit."""
        tr = self.source.trace
        gutter = len(str(tr.hidden_size - 1)) + 1
        room = max(self.content_size.width - gutter - 1, 1)
        cell = max(1, min(4, room // tr.T))
        cols = max(room // cell, 1)
        rows = max(self.content_size.height - 2, 1)  # a header row and a legend row
        self._t0 = follow(self._t0, self.t, cols, tr.T, page=True)
        self._u0 = follow(self._u0, self.unit, rows, tr.hidden_size)
        self._geometry = (gutter, cell, rows)
        return self._t0, min(self._t0 + cols, tr.T), self._u0, min(self._u0 + rows, tr.hidden_size)

    def _heatmap(self, data: np.ndarray, t0: int, u0: int, cursor: int | None,
                 legend: bool) -> Heatmap:  # fmt: skip
        q = self.quantity
        signed = q not in GATE_COLUMNS
        vmax = scales(self.source.trace, self.lstm_layer, self.direction)[q] if signed else None
        # Steps are labelled 1-based, as in the header's `t = 3 / 5`.
        return Heatmap(
            data, col_offset=t0 + 1, cursor_col=None if cursor is None else cursor + 1,
            selected_row=self.unit, row_offset=u0, signed=signed, vmax=vmax,
            cell_width=self._geometry[1], legend=legend,
            color=not self.app.no_color, dark=self.app.current_theme.dark,
        )  # fmt: skip

    def _lines(self) -> list[Strip]:
        """The heatmap at this step: a cached window without cursor, plus the cursor column.

        The window only moves a page at a time, so stepping re-renders one
        column (a one-column heatmap, spliced in) and the time axis.
        """
        src = self.source
        width, height = self.content_size
        t0, t1, u0, u1 = self._window()
        gutter, cell, rows = self._geometry
        tr, q, units = src.trace, self.quantity, np.arange(u0, u1)
        base_key = (id(src), q, self.lstm_layer, self.direction, t0, t1, u0, u1, self.unit,
                    width, height, self.app.theme, self.app.no_color)  # fmt: skip
        if base_key != self._base_key:
            data = window(tr, q, self.lstm_layer, self.direction, t0, t1, units)
            self._base = render_strips(self, self._heatmap(data, t0, u0, None, True), width)
            self._base_key = base_key
        lines = list(self._base)
        label_w = len(str(u1 - 1)) + 1
        k = self.t - t0
        if 0 <= k < t1 - t0:
            col = window(tr, q, self.lstm_layer, self.direction, self.t, self.t + 1, units)
            narrow = render_strips(self, self._heatmap(col, self.t, u0, self.t, False), width)
            base = self.rich_style
            x = label_w + k * cell
            for r in range(1, min(len(narrow), len(lines) - 1)):
                lines[r] = splice(lines[r], x, narrow[r].crop(label_w, label_w + cell), base)
        lines[0] = text_strip(self, self._axis(t0, t1, label_w, cell), width)
        return lines

    def _axis(self, t0: int, t1: int, label_w: int, cell: int) -> Text:
        """First step of the window, and ▼ t=N over the cursor (1-based, as in the header)."""
        n = (t1 - t0) * cell + 1
        chars = [" "] * n
        strong = [False] * n

        def put(x: int, text: str, bold: bool) -> None:
            for j, ch in enumerate(text):
                if 0 <= x + j < n:
                    chars[x + j] = ch
                    strong[x + j] = bold

        put(0, str(t0 + 1), False)
        if t0 <= self.t < t1:
            x = (self.t - t0) * cell + (cell - 1) // 2
            label = f"t={self.t + 1}"
            start = x + 2 if x + 2 + len(label) <= n else max(x - 1 - len(label), 0)
            lo, hi = max(min(start, x) - 1, 0), max(start + len(label), x + 1)
            put(lo, " " * (hi - lo + 1), False)
            put(start, label, True)
            put(x, "▼", True)
        text = Text(" " * label_w, no_wrap=True)
        bold, dim = Style(bold=True), Style(dim=True)
        for ch, b in zip(chars, strong):
            text.append(ch, bold if b else dim)
        return text

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self.source is None:
            return Strip.blank(width, self.rich_style)
        key = (id(self.source), self.t, self.quantity, self.lstm_layer, self.direction,
               self.unit, self.content_size, self.app.theme, self.app.no_color)  # fmt: skip
        if key != self._frame_key:
            self._frame, self._frame_key = self._lines(), key
        return self._frame[y] if y < len(self._frame) else Strip.blank(width, self.rich_style)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        gutter, cell, rows = self._geometry
        if self.source is None or offset is None or not 1 <= offset.y <= rows:
            return
        if offset.x < gutter:
            return
        tr = self.source.trace
        t = self._t0 + (offset.x - gutter) // cell
        unit = self._u0 + offset.y - 1
        if 0 <= t < tr.T and 0 <= unit < tr.hidden_size:
            self.post_message(self.CellClicked(unit, t))
