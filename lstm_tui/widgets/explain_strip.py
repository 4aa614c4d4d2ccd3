"""ExplainStrip: the sequence strip, with a signed bar under each token when asked for one.

`bar` chooses what the two lines under the tokens show instead of the
predictions:

* "provenance": for the selected unit at t, what each step the direction has
  read wrote into c that still survives at t (lstm_engine.provenance); the
  largest is marked ◆ and the title names its step and the initial-state term;
* "saliency": |d logit / d x_s| of the winning label at t for every input
  (lstm_engine.saliency; torch autograd for a torch model), computed in a
  worker thread, since it runs the model backwards.

The bar is drawn in each token's own cell, so it lines up with the tokens
whatever part of the sequence the strip shows; its height is the size
(an eighth block at a time, the largest full) and the number under it is
signed, so the sign reads without colour (NO_COLOR) too. With `bar` "" it
is the plain SequenceStrip.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from rich.style import Style
from rich.text import Text
from textual import work
from textual.cache import LRUCache
from textual.reactive import reactive

from lstm_engine import EngineError

from ..explaining import Bar, bar_cells, bar_value, provenance_bar, saliency_bar
from ..renderables.palette import signed_style
from .sequence_strip import MARK, SequenceStrip, window

#: What `bar` may be.
BARS = ("", "provenance", "saliency")


class ExplainStrip(SequenceStrip):
    """The sequence strip plus the provenance or saliency bar (see the module docstring)."""

    lstm_layer: reactive[int] = reactive(0)
    unit: reactive[int] = reactive(0)
    bar: reactive[str] = reactive("")
    """One of BARS: what the lines under the tokens show ("" the predictions)."""
    names: reactive[Mapping[int, str]] = reactive(dict)
    """Unit names, for the title."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._bars: LRUCache[tuple, Bar | str] = LRUCache(64)
        self._pending: set[tuple] = set()

    def watch_source(self, source) -> None:
        self._bars.clear()
        super().watch_source(source)

    def _key(self) -> tuple:
        unit = self.unit if self.bar == "provenance" else None
        return (self.bar, self.lstm_layer, self.direction, unit, self.t)

    def current_bar(self) -> Bar | str | None:
        """The bar at the cursor, an error sentence, or None while saliency is being computed."""
        if not self.bar or self.source is None:
            return None
        key = self._key()
        got = self._bars.get(key)
        if got is not None:
            return got
        if self.bar == "provenance":
            try:
                got = provenance_bar(self.source.trace, self.lstm_layer, self.direction,
                                     self.unit, self.t, self.names)  # fmt: skip
            except EngineError as e:
                got = str(e)
            self._bars[key] = got
            return got
        if key not in self._pending:
            self._pending.add(key)
            self._saliency(key, self.source, self.t)
        return None

    @work(thread=True, exclusive=True, group="saliency", exit_on_error=False)
    def _saliency(self, key: tuple, source, t: int) -> None:
        try:
            got: Bar | str = saliency_bar(source, t)
        except EngineError as e:
            got = str(e)
        except MemoryError:
            got = "not enough memory for the gradient of this trace"
        self.app.call_from_thread(self._saliency_done, key, got)

    def _saliency_done(self, key: tuple, got: Bar | str) -> None:
        self._pending.discard(key)
        self._bars[key] = got
        self._update_title()
        self.refresh()

    def watch_bar(self) -> None:
        self._update_title()

    def watch_unit(self) -> None:
        self._update_title()

    def watch_lstm_layer(self) -> None:
        self._update_title()

    def watch_names(self) -> None:
        self._update_title()

    def _update_title(self) -> None:
        super()._update_title()
        if not self.bar or self.source is None:
            return
        got = self.current_bar()
        if got is None:
            note = f"{self.bar} at step {self.t + 1}: computing…"
        elif isinstance(got, str):
            note = f"no {self.bar} here: {got}"
        else:
            note = got.note
        self.border_title = Text(f"{self.bar} · {note}")

    def render(self) -> Text:
        text = super().render()
        got = self.current_bar() if self.bar else None
        if got is None or isinstance(got, str) or self.source is None:
            return text
        lines = text.split("\n", allow_blank=True)
        a, b, drawn = window(self._widths, self.t, self.content_size.width)
        finite = np.abs(got.values[np.isfinite(got.values)])
        scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        dark = self.app.current_theme.dark
        dim = self.component_style("sequence-strip--dim")
        bars, values = Text(" " * MARK, dim), Text(" " * MARK, dim)
        for k in range(a, b):
            v = float(got.values[k])
            style = dim if v != v else signed_style(v, scale, dark=dark)
            if k == got.largest:
                style = style + Style(bold=True)
            bars.append(bar_cells(v, scale, drawn[k]), style)
            values.append(bar_value(v, drawn[k], k == got.largest), style)
        out = Text("\n", no_wrap=True, overflow="crop", end="").join([lines[0], bars, values])
        out.no_wrap, out.overflow = True, "crop"
        return out
