"""HeatmapView: units × time for one quantity, the cursor column marked.

Only the window on screen is computed (TraceData.window), so a 1024-unit,
5000-step trace costs what fits in the panel. The time axis is the one the
history beside it uses (both are given the same ``room``): a window of steps around the
cursor, or with ``overview`` the whole sequence, where a column shows the value
of its bucket of steps furthest from the bucket median (so a one-step event
stays visible). The rows follow the selected unit until the map is scrolled
(mouse wheel, or J and K: the screen's keys), and the title says which units
are in view when not all fit ("units 0–47 of 256"); a few units in a tall
panel get several rows each. The drawing is the pure Heatmap renderable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual import events
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.heatmap import Heatmap
from ..renderables.history import TimeAxis, axis_segments, summarize, time_axis
from ..source import Source
from ..stepdata import TraceData, is_gate
from ._lines import render_strips, splice
from .unit_history import segment_strip


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


#: Most text rows one unit gets when a few units have a tall panel to themselves.
MAX_ROW_HEIGHT = 4
#: Units one turn of the mouse wheel scrolls.
WHEEL_UNITS = 3


class HeatmapView(Widget):
    """The heatmap panel: one row per unit, one column per step (or bucket of steps)."""

    source: reactive[Source | None] = reactive(None)
    data: reactive[TraceData | None] = reactive(None)
    """The trace's numbers (windows, colour scales), cached per trace."""
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)
    quantity: reactive[str] = reactive("c")
    """What the cells show: one of stepdata.HEATMAP_QUANTITIES."""
    overview: reactive[bool] = reactive(False)
    """Show the whole sequence (buckets of steps per column) instead of a window around t."""
    room: reactive[int] = reactive(0)
    """Plot columns shared with the history beside it (0: this panel's own plot_room)."""
    heading: reactive[str] = reactive("")
    """The title's text (the quantity); the units in view are added when not all fit."""

    @dataclass
    class CellClicked(Message):
        unit: int
        t: int

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._u0 = 0
        self._scrolled = False  # the user scrolled: the rows no longer follow the unit
        self._axis = TimeAxis(0, 0, 0, 1, 0)
        self._geometry = (0, 1, 0, 1)  # gutter, cell width, units shown, rows per unit
        self._base_key: tuple | None = None
        self._base: list[Strip] = []
        self._frame_key: tuple | None = None
        self._frame: list[Strip] = []

    def _gutter(self) -> int:
        return len(str(self.source.trace.hidden_size - 1)) + 1

    def plot_room(self) -> int:
        """Columns left for the cells after the unit labels and the ◀ marker."""
        return max(self.content_size.width - self._gutter() - 1, 1)

    def units_in_view(self) -> tuple[int, int, int]:
        """Units [u0, u1) that fit, and the text rows each gets: following the selected
        unit, unless the map was scrolled since it was chosen."""
        H = self.source.trace.hidden_size
        avail = max(self.content_size.height - 2, 1)  # a header row and a legend row
        per_unit = max(1, min(MAX_ROW_HEIGHT, avail // max(H, 1)))
        rows = max(avail // per_unit, 1)
        if self._scrolled:
            self._u0 = max(0, min(self._u0, H - rows))
        else:
            self._u0 = follow(self._u0, self.unit, rows, H)
        return self._u0, min(self._u0 + rows, H), per_unit

    def scroll_units(self, n: int) -> None:
        """Scroll the rows by n units (negative: up), leaving the selected unit where it is."""
        if self.source is None:
            return
        self._scrolled = True
        self._u0 += n
        self.units_in_view()  # clamps
        self._retitle()
        self.refresh()

    def watch_unit(self) -> None:
        self._scrolled = False  # a unit chosen is a unit to show
        self._retitle()

    def watch_source(self) -> None:
        self._retitle()

    def page(self) -> int:
        """Units half the panel shows: what J and K scroll by."""
        if self.source is None:
            return 1
        u0, u1, _ = self.units_in_view()
        return max((u1 - u0) // 2, 1)

    def watch_heading(self) -> None:
        self._retitle()

    def on_resize(self) -> None:
        self._retitle()

    def _retitle(self) -> None:
        """The heading, and which units are in view when not all fit."""
        if self.source is None or not self.is_mounted:
            return
        H = self.source.trace.hidden_size
        u0, u1, _ = self.units_in_view()
        title = self.heading
        if u1 - u0 < H:
            title += f" · units {u0}–{u1 - 1} of {H}"
            self.border_subtitle = "v: quantity · J/K, wheel: scroll"
        else:
            self.border_subtitle = "v: quantity"
        if self.border_title != title:
            self.border_title = title

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self.scroll_units(WHEEL_UNITS)
        event.stop()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.scroll_units(-WHEEL_UNITS)
        event.stop()

    def _window(self) -> tuple[TimeAxis, int, int, int]:
        """The shared time axis, units [u0, u1) in view and the rows each unit gets."""
        tr = self.source.trace
        axis = time_axis(tr.T, self.t, self.room or self.plot_room(), overview=self.overview)
        u0, u1, per_unit = self.units_in_view()
        self._axis = axis
        self._geometry = (self._gutter(), axis.cell, u1 - u0, per_unit)
        return axis, u0, u1, per_unit

    def _heatmap(self, data: np.ndarray, u0: int, cursor_col: int | None, legend: bool,
                 cell: int, per_unit: int = 1) -> Heatmap:  # fmt: skip
        q = self.quantity
        signed = self.data.difference or not is_gate(q)  # a difference is signed, gates too
        vmax = self.data.scales(self.lstm_layer, self.direction)[q] if signed else None
        # columns are counted from 0 here; the widget draws the time axis itself
        return Heatmap(
            data, col_offset=0, cursor_col=cursor_col, selected_row=self.unit, row_offset=u0,
            signed=signed, vmax=vmax, cell_width=cell, row_height=per_unit, legend=legend,
            color=not self.app.no_color, dark=self.app.current_theme.dark,
        )  # fmt: skip

    def _lines(self) -> list[Strip]:
        """The heatmap at this step: a cached map without cursor, plus the cursor column.

        The window only moves half a page at a time, so stepping re-renders one
        column (a one-column heatmap, spliced in) and the time axis. In the
        overview the whole map is redrawn only when the cursor changes bucket.
        """
        src = self.source
        width, height = self.content_size
        axis, u0, u1, per_unit = self._window()
        cell = axis.cell
        tr, q, units = src.trace, self.quantity, np.arange(u0, u1)
        label_w = len(str(u1 - 1)) + 1
        cur = axis.columns_of(self.t)
        data = self.data
        common = (data.serial, q, self.lstm_layer, self.direction, axis, u0, u1, per_unit,
                  self.unit, width, height, self.app.theme, self.app.no_color)  # fmt: skip
        if axis.bucketed:
            base_key = (*common, cur.start if cur else None)
            if base_key != self._base_key:
                values = data.window(q, self.lstm_layer, self.direction, 0, tr.T, units)
                values = summarize(values, axis.edges).value
                hm = self._heatmap(values, u0, cur.start if cur else None, True, 1, per_unit)
                self._base = render_strips(self, hm, width)
                self._base_key = base_key
            lines = list(self._base)
        else:
            if common != self._base_key:
                values = data.window(q, self.lstm_layer, self.direction, axis.t0, axis.t1, units)
                self._base = render_strips(
                    self, self._heatmap(values, u0, None, True, cell, per_unit), width)
                self._base_key = common
            lines = list(self._base)
            if cur:
                col = data.window(q, self.lstm_layer, self.direction, self.t, self.t + 1, units)
                narrow = render_strips(self, self._heatmap(col, u0, 0, False, cell, per_unit),
                                       width)  # fmt: skip
                base = self.rich_style
                x = label_w + cur.start
                for r in range(1, min(len(narrow), len(lines) - 1)):
                    lines[r] = splice(lines[r], x, narrow[r].crop(label_w, label_w + cell), base)
        ticks = axis_segments(axis, self.t, 1, axis.columns + 1)
        header = [Segment(" " * label_w, Style()), *ticks]
        lines[0] = segment_strip(self, header, width)
        return lines

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self.source is None or self.data is None:
            return Strip.blank(width, self.rich_style)
        key = (self.data.serial, self.t, self.quantity, self.lstm_layer, self.direction,
               self.unit, self.overview, self.content_size, self.app.theme, self.app.no_color,
               self.room, self.units_in_view())  # fmt: skip
        if key != self._frame_key:
            self._frame, self._frame_key = self._lines(), key
        return self._frame[y] if y < len(self._frame) else Strip.blank(width, self.rich_style)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        gutter, cell, units, per_unit = self._geometry
        if self.source is None or offset is None or not 1 <= offset.y <= units * per_unit:
            return
        if offset.x < gutter:
            return
        tr = self.source.trace
        t = self._axis.step_at(offset.x - gutter)
        unit = self._u0 + (offset.y - 1) // per_unit
        if t is not None and 0 <= t < tr.T and 0 <= unit < tr.hidden_size:
            self.post_message(self.CellClicked(unit, t))
