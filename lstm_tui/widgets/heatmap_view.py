"""HeatmapView: units × time for one quantity, the cursor column marked.

Only the window on screen is computed (stepdata.window), so a 1024-unit,
5000-step trace costs what fits in the panel. The window follows the cursor
in time and the selected unit in rows; the drawing is the pure Heatmap
renderable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.console import RenderableType
from rich.text import Text
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.heatmap import Heatmap
from ..source import Source
from ..stepdata import GATE_COLUMNS, scales, window


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

    def render(self) -> RenderableType:
        src = self.source
        if src is None:
            return Text("")
        t0, t1, u0, u1 = self._window()
        q = self.quantity
        data = window(src.trace, q, self.lstm_layer, self.direction, t0, t1, np.arange(u0, u1))
        signed = q not in GATE_COLUMNS
        vmax = scales(src.trace, self.lstm_layer, self.direction)[q] if signed else None
        # Steps are labelled 1-based, as in the header's `t = 3 / 5`.
        return Heatmap(
            data, col_offset=t0 + 1, cursor_col=self.t + 1, selected_row=self.unit,
            row_offset=u0, signed=signed, vmax=vmax, cell_width=self._geometry[1],
            color=not self.app.no_color, dark=self.app.current_theme.dark,
        )  # fmt: skip

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
