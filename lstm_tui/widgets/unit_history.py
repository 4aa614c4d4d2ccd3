"""UnitHistoryView: the selected unit over the whole sequence, with the cursor marked.

This is where one sees a forget gate hold on to "France" for thirty steps:
c, h and the gates as sparklines, drawn by the pure UnitHistory renderable.
The series only change with the unit, layer or direction, so they are cached
and stepping just moves the cursor mark.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.history import UnitHistory
from ..source import Source
from ..stepdata import unit_series


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
    """Sparklines of c, h, f, i, o, g for the selected unit."""

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._key: tuple | None = None
        self._series: dict = {}

    def _current_series(self) -> dict:
        src = self.source
        key = (id(src), self.lstm_layer, self.direction, self.unit)
        if key != self._key:
            self._series = unit_series(src.trace, self.lstm_layer, self.direction, self.unit)
            self._key = key
        return self._series

    def render(self) -> RenderableType:
        if self.source is None:
            return Text("")
        series = self._current_series()
        rows = max(self.content_size.height - 1, len(series))  # one line for the time axis
        labels = {"c": "c_t", "h": "o·tanh c" if self.source.projected else "h_t"}
        history = UnitHistory(
            series, self.t, labels=labels, height=max(1, rows // len(series)), header=False,
            color=not self.app.no_color, dark=self.app.current_theme.dark,
        )  # fmt: skip
        return Group(axis_line(history, self.content_size.width), history)
