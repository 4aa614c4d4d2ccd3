"""UnitHistoryView: the selected unit over the whole sequence, with the cursor marked.

This is where one sees a forget gate hold on to "France" for thirty steps:
c, h and the gates as sparklines, drawn by the pure UnitHistory renderable.
The series only change with the unit, layer or direction, so they are cached
and stepping just moves the cursor mark.
"""

from __future__ import annotations

from rich.console import RenderableType
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..renderables.history import UnitHistory
from ..source import Source
from ..stepdata import unit_series


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
        return UnitHistory(
            series, self.t, labels=labels, height=max(1, rows // len(series)),
            color=not self.app.no_color, dark=self.app.current_theme.dark,
        )  # fmt: skip
