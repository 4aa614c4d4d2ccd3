"""UnitHistoryView: the selected unit over time, on the heatmap's time axis.

This is where one sees a forget gate hold on to "France" for thirty steps:
c, h and the gates as sparklines, drawn by the pure UnitHistory renderable.
The history and the heatmap beside it share one time axis (the same steps per
column: the view gives both the same ``room``); ``overview`` switches both to the whole sequence.
The sparklines only change with the unit, layer, direction or the window, so
they are cached; a step moves the cursor mark and rewrites the values.
"""

from __future__ import annotations

import numpy as np
from rich.segment import Segment
from rich.style import Style
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

from ..renderables.history import TimeAxis, UnitHistory, axis_segments, series_scales, time_axis
from ..source import Source
from ..stepdata import SERIES, TraceData, series_label, unit_scales
from ._lines import render_strips


def segment_strip(widget: Widget, segments: list[Segment], width: int) -> Strip:
    """Segments as one Strip of exactly ``width`` cells on the widget's base style.

    A step rewrites a few short pieces (values, the axis line); building them
    directly is ten times cheaper than a console render.
    """
    base = widget.rich_style
    return Strip(list(Segment.apply_style(segments, base))).crop_extend(0, width, base)


def series_heights(series: dict, rows: int, gates: tuple[str, ...] = ("f", "i", "o")) -> dict[str, int]:
    """Lines per sparkline in `rows`: a signed series gets twice a gate's lines, so that
    it draws around its zero line (two lines at least), once the rows allow it; the
    rows left over go to the signed series first, two at a time (their zero
    line stays in the middle)."""
    signed = [q for q in series if q not in gates]
    unit = rows // (len(series) + len(signed))
    if unit == 0:
        return dict.fromkeys(series, max(1, rows // max(len(series), 1)))
    out = {q: unit * (1 if q in gates else 2) for q in series}
    spare = rows - sum(out.values())
    for q in signed:  # in pairs: the zero line stays in the middle
        if spare >= 2:
            out[q] += 2
            spare -= 2
    for q in [q for q in series if q in gates]:
        if spare >= 1:
            out[q] += 1
            spare -= 1
    return out


#: Steps of a unit's series read at a time once only the drawn steps are read.
HISTORY_BLOCK = 512


class UnitHistoryView(Widget):
    """Sparklines of c, h, f, i, o, g for the selected unit."""

    source: reactive[Source | None] = reactive(None)
    data: reactive[TraceData | None] = reactive(None)
    """The trace's numbers, cached per trace (the unit's series come from it)."""
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)
    overview: reactive[bool] = reactive(False)
    """Show the whole sequence (buckets of steps per column) instead of a window around t."""
    room: reactive[int] = reactive(0)
    """Plot columns shared with the heatmap beside it (0: this panel's own plot_room)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._key: tuple | None = None
        self._series: dict = {}
        self._scales: dict = {}
        self._unread: set[int] | None = None
        """The first steps of the blocks of `_series` not read yet; None: all were read."""
        self._base_key: tuple | None = None
        self._base: list[Strip] = []
        self._cells: list[list[Segment]] = []
        self._frame_key: tuple | None = None
        self._frame: list[Strip] = []
        self._room_key: tuple | None = None
        self._room = 1

    def _current_series(self, axis: TimeAxis | None = None) -> dict:
        """The unit's series, (T,) each, holding at least the steps `axis` shows.

        With the trace's unit extents (a long trace's, once measured) the scales
        come from them and only the steps drawn are read, in blocks of
        HISTORY_BLOCK steps (the overview reads them all); else the whole series
        is read at once.
        """
        key = (self.data.serial, self.lstm_layer, self.direction, self.unit)
        if key != self._key:
            extents = self.data.unit_extents(self.lstm_layer, self.direction)
            if extents is None:
                self._series = self.data.unit_series(self.lstm_layer, self.direction, self.unit)
                self._scales = series_scales(self._series)  # once per series, not per step
                self._unread = None
            else:
                T = self.source.trace.T
                self._series = {q: np.full(T, np.nan) for q in SERIES}
                self._scales = unit_scales(extents, self.unit)
                self._unread = set(range(0, T, HISTORY_BLOCK))
            self._key = key
        if self._unread and axis is not None:
            self._read(axis.t0, axis.t1)  # an overview's axis is the whole sequence
        return self._series

    def _read(self, t0: int, t1: int) -> None:
        """Fill steps [t0, t1) of the unit's series, a block at a time, each block once."""
        T = self.source.trace.T
        first = t0 - t0 % HISTORY_BLOCK
        for a in range(first, t1, HISTORY_BLOCK):
            if a in self._unread:
                b = min(a + HISTORY_BLOCK, T)
                got = self.data.unit_window(self.lstm_layer, self.direction, self.unit, a, b)
                for q, values in got.items():
                    self._series[q][a:b] = values
                self._unread.discard(a)

    def history(self, cursor: int | None = None, axis: TimeAxis | None = None) -> UnitHistory:
        series = self._current_series(axis)
        height = self.content_size.height
        rows = max(height - 1, len(series))  # one line for the time axis
        labels = {q: series_label(q, self.source.projected) for q in ("c", "h")}
        return UnitHistory(
            series, cursor, axis=axis, labels=labels, heights=series_heights(series, rows),
            header=False, step_base=1, color=not self.app.no_color,
            dark=self.app.current_theme.dark, scales=self._scales,
        )  # fmt: skip

    def plot_room(self) -> int:
        """Columns left for the sparklines after the labels and the value column."""
        self._current_series()
        key = (self._key, self.content_size)
        if key != self._room_key:
            self._room = self.history().geometry(self.content_size.width)[1]
            self._room_key = key
        return self._room

    def axis(self) -> TimeAxis:
        room = self.room or self.plot_room()
        return time_axis(self.source.trace.T, self.t, room, overview=self.overview)

    def _lines(self) -> list[Strip]:
        width, height = self.content_size
        self._current_series()
        axis = self.axis()
        frame_key = (self._key, self.t, axis, width, height, self.app.theme, self.app.no_color)
        if frame_key == self._frame_key:
            return self._frame
        history = self.history(self.t, axis)
        lw, sw, vw = history.geometry(width)
        base_key = (self._key, axis, width, height, self.app.theme, self.app.no_color)
        if base_key != self._base_key:
            self._base = render_strips(self, self.history(None, axis), width)
            self._cells = [[Segment(ch, seg.style or Style()) for seg in strip for ch in seg.text]
                           for strip in self._base]  # fmt: skip
            self._base_key = base_key
        axis_line = [Segment(" " * (lw + 1), Style()), *axis_segments(axis, self.t, 1, sw)]
        lines = [segment_strip(self, axis_line, width)]
        lines += self._with_cursor(history, axis, (lw, sw, vw), width)
        self._frame, self._frame_key = lines, frame_key
        return lines

    def _with_cursor(self, history: UnitHistory, axis: TimeAxis, geometry, width: int) -> list[Strip]:
        """The cached sparklines with the cursor columns marked and the values at this step."""
        lw, sw, vw = geometry
        base = self.rich_style
        mono = self.app.no_color
        dark = self.app.current_theme.dark
        highlight = Style(reverse=True) if mono else Style(bgcolor="#3a3a3a" if dark else "#d7d7d7")
        cur = axis.columns_of(self.t)
        x0 = lw + 1 + (cur.start if cur else 0)
        x1 = min(lw + 1 + cur.stop, lw + 1 + sw) if cur else x0
        xv = lw + 1 + sw + 1
        value_rows = {history.row_of(name): name for name in history.series}
        out = []
        # rows as lists of one-cell segments (cached with the base): a step slices
        # lists instead of cropping strips, which is what a held key pays for
        for r, cells in enumerate(self._cells):
            segs = cells[:x0]
            segs += [Segment(c.text, c.style + highlight) for c in cells[x0:x1]]
            name = value_rows.get(r)
            if name is None:
                segs += cells[x1:]
            else:
                text = history.value_text(name).rjust(vw)
                segs += cells[x1:xv]
                segs.append(Segment(text, base + history.value_style(name)))
                segs += cells[xv + len(text):]
            out.append(Strip(segs, width).simplify())
        return out

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self.source is None or self.data is None:
            return Strip.blank(width, self.rich_style)
        lines = self._lines()
        if y < len(lines):
            return lines[y]
        return Strip.blank(width, self.rich_style)
