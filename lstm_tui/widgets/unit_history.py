"""UnitHistoryView: the selected unit over the whole sequence, with the cursor marked.

This is where one sees a forget gate hold on to "France" for thirty steps:
c, h and the gates as sparklines, drawn by the pure UnitHistory renderable.
The series only change with the unit, layer or direction, so they are cached
and stepping just moves the cursor mark.
"""

from __future__ import annotations

import numpy as np
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.history import UnitHistory
from ..renderables.palette import fmt, gate_style, signed_style
from ..source import Source
from ..stepdata import unit_series
from ._lines import render_strips, splice, text_strip


def axis_line(history: UnitHistory, width: int) -> Text:
    """The time axis over the sparklines, with steps numbered 1..T as in the header.

    Drawn here rather than by the renderable (whose axis counts from 0) so that
    every step number on screen means the same thing.
    """
    lw, sw, _ = history.geometry(width)
    chars = [" "] * sw
    strong = [False] * sw

    def put(x: int, text: str, bold: bool) -> None:
        for k, ch in enumerate(text):
            if 0 <= x + k < sw:
                chars[x + k] = ch
                strong[x + k] = bold

    if history.T:
        put(0, "1", False)
        put(sw - len(str(history.T)), str(history.T), False)
    cur = history.cursor_columns(width)
    if cur:
        x = cur.start + (len(cur) - 1) // 2
        label = f"t={history.cursor + 1}"
        start = x + 2 if x + 2 + len(label) <= sw else max(x - 1 - len(label), 0)
        lo, hi = max(min(start, x) - 1, 0), max(start + len(label), x + 1)
        put(lo, " " * (hi - lo + 1), False)
        put(start, label, True)
        put(x, "▼", True)
    text = Text(" " * (lw + 1), no_wrap=True)
    bold, dim = Style(bold=True), Style(dim=True)
    for ch, b in zip(chars, strong):
        text.append(ch, bold if b else dim)
    return text


class UnitHistoryView(Widget):
    """Sparklines of c, h, f, i, o, g for the selected unit.

    Drawn with the Line API: the sparklines are rendered once per unit and per
    cursor column (with T > width many steps share a column), and each step
    only rewrites the values printed at the right of each row.
    """

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._key: tuple | None = None
        self._series: dict = {}
        self._base_key: tuple | None = None
        self._base: list[Strip] = []
        self._frame_key: tuple | None = None
        self._frame: list[Strip] = []

    def _current_series(self) -> dict:
        src = self.source
        key = (id(src), self.lstm_layer, self.direction, self.unit)
        if key != self._key:
            self._series = unit_series(src.trace, self.lstm_layer, self.direction, self.unit)
            self._key = key
        return self._series

    def history(self, width: int, height: int) -> UnitHistory:
        series = self._current_series()
        rows = max(height - 1, len(series))  # one line for the time axis
        labels = {"c": "c_t", "h": "o·tanh c" if self.source.projected else "h_t"}
        return UnitHistory(
            series, self.t, labels=labels, height=max(1, rows // len(series)), header=False,
            color=not self.app.no_color, dark=self.app.current_theme.dark,
        )  # fmt: skip

    def _lines(self) -> list[Strip]:
        width, height = self.content_size
        self._current_series()  # updates self._key for the unit, layer and direction in view
        frame_key = (self._key, self.t, width, height, self.app.theme, self.app.no_color)
        if frame_key == self._frame_key:
            return self._frame
        history = self.history(width, height)
        geometry = history.geometry(width)
        cursor = history.cursor_columns(width)
        base_key = (
            self._key, id(self.source), width, height, self.app.theme, self.app.no_color,
            geometry, (cursor.start, cursor.stop),
        )  # fmt: skip
        if base_key != self._base_key:
            self._base = render_strips(self, history, width)
            self._base_key = base_key
        lines = [text_strip(self, axis_line(history, width), width)]
        lines += self._with_values(history, geometry, width)
        self._frame, self._frame_key = lines, frame_key
        return lines

    def _with_values(self, history: UnitHistory, geometry, width: int) -> list[Strip]:
        """The cached sparklines with each row's value at this step written at the right."""
        lw, sw, vw = geometry
        base = self.rich_style
        x = lw + 1 + sw + 1
        out = list(self._base)
        for k, name in enumerate(history.series):
            row = k * history.height
            if row >= len(out):
                break
            series = history.series[name]
            gate = name in history.unsigned
            v = float(series[self.t]) if 0 <= self.t < history.T else None
            value = Text(fmt(v, signed=not gate).rjust(vw), no_wrap=True)
            if v is not None:
                value.stylize(self._value_style(series, v, gate))
            out[row] = splice(out[row], x, text_strip(self, value, vw), base)
        return out

    def _value_style(self, series, v: float, gate: bool) -> Style:
        """As the renderable colours its values: gate ramp, or diverging on the row's scale."""
        dark = self.app.current_theme.dark
        if gate:
            style = gate_style(v, dark=dark)
        else:
            finite = series[np.isfinite(series)]
            hi = float(np.abs(finite).max()) if finite.size else 1.0
            style = signed_style(v, hi if hi > 0 else 1.0, dark=dark)
        return Style(bold=style.bold) if self.app.no_color else style

    def render_line(self, y: int) -> Strip:
        width = self.content_size.width
        if self.source is None:
            return Strip.blank(width, self.rich_style)
        lines = self._lines()
        if y < len(lines):
            return lines[y]
        return Strip.blank(width, self.rich_style)
