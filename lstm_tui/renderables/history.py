"""The selected unit's history over the whole sequence: one sparkline per quantity.

This is where a user sees "the forget gate held France for 30 steps": f sits on
the top level for a run of columns while c stays put. Every row shares the same
time axis, the cursor column is marked in every row, and the value at the cursor
is printed at the right.

Scales (fixed per quantity so heights mean the same thing on every step):

* gates (names in ``unsigned``, default f, i, o): 0 at the bottom, 1 at the top;
* everything else is signed and symmetric, ``[-m, m]`` with ``m`` the largest
  finite |value| in that series, so zero is always the middle level.

Resampling to the available width:

* ``T <= width``: column x shows step ``x * T // width``, so every step gets
  ``width // T`` or one more columns, the rows fill the width, and the cursor
  marks exactly its own columns.
* ``T > width``: steps are split into ``width`` contiguous buckets; each column
  shows its bucket's **min or max, whichever lies further from the row's middle**
  (0.5 for gates, 0 for signed). A one-step spike or a one-step gate closing in
  T = 5000 therefore stays visible, which a mean would wash out. A bucket with
  any nan/inf shows ``!``: a non-finite value is never averaged away.

Colour carries the value through the palette (gate ramp / diverging); the height
(eighth blocks ``▁▂▃▄▅▆▇█``) carries it without colour. Every segment has a Style.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from lstm_tui.renderables._canvas import crop_line
from lstm_tui.renderables.palette import fmt, gate_style, nonfinite_style, signed_style

__all__ = ["UnitHistory", "resample"]

BARS = "▁▂▃▄▅▆▇█"
_BLANK = Style()


def resample(values: np.ndarray, n: int, mid: float) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``values`` (T,) to ``n`` columns, returning ``(column_values, column_of_step)``.

    ``column_values[k]`` is the bucket's min or max, whichever is further from
    ``mid`` (nan if the bucket holds any non-finite value, +inf/-inf kept as such).
    ``column_of_step[t]`` is the first column showing step t. For T <= n each step
    is repeated instead (column x shows step ``x * T // n``).
    """
    values = np.asarray(values, dtype=float)
    T = values.shape[0]
    if T == 0 or n <= 0:
        return np.empty(0), np.zeros(T, dtype=int)
    if T <= n:
        step_of_col = (np.arange(n) * T) // n
        return values[step_of_col], (np.arange(T) * n + T - 1) // T
    edges = (np.arange(n + 1) * T) // n  # bucket k = [edges[k], edges[k+1])
    lo = np.minimum.reduceat(values, edges[:-1])
    hi = np.maximum.reduceat(values, edges[:-1])
    out = np.where(np.abs(hi - mid) >= np.abs(lo - mid), hi, lo)
    bad = np.add.reduceat((~np.isfinite(values)).astype(int), edges[:-1]) > 0
    out = np.where(bad & ~np.isinf(out), np.nan, out)
    col = np.searchsorted(edges, np.arange(T), side="right") - 1
    return out, col


class UnitHistory:
    """A Rich renderable: stacked sparklines of one unit's quantities over time.

    Args:
        series: name → (T,) array, drawn top to bottom in insertion order
            (e.g. ``{"f": ..., "i": ..., "o": ..., "c": ..., "h": ...}``).
        cursor: the current step t (0-based), marked in every row.
        labels: optional display names (e.g. ``{"c": "c_t"}``).
        unsigned: names drawn on the fixed [0, 1] gate scale.
        height: text lines per sparkline (≥ 1); 8 levels per line.
        header: draw the time axis line (▼ t=N over the cursor, first and last step at
            the ends).
        step_base: the number printed for step 0 (1 to match a 1-based ``t = 3 / 5``
            header); ``cursor`` itself is always the 0-based index into the series.
        color: False draws without colour (the cursor then shows in reverse video).
        dark: dark terminal background.
    """

    def __init__(
        self,
        series: dict[str, np.ndarray],
        cursor: int,
        *,
        labels: dict[str, str] | None = None,
        unsigned: Iterable[str] = ("f", "i", "o"),
        height: int = 1,
        header: bool = True,
        step_base: int = 0,
        color: bool = True,
        dark: bool = True,
    ) -> None:
        self.series = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in series.items()}
        lengths = {v.shape[0] for v in self.series.values()}
        if len(lengths) > 1:
            raise ValueError(f"all series must have the same length, got {sorted(lengths)}")
        self.T = lengths.pop() if lengths else 0
        self.cursor = cursor
        self.labels = dict(labels or {})
        self.unsigned = set(unsigned)
        self.height = max(1, int(height))
        self.header = header
        self.step_base = step_base
        self.color = color
        self.dark = dark

    # ------------------------------------------------------------ layout

    def _label(self, name: str) -> str:
        return self.labels.get(name, name)

    def _value_text(self, name: str) -> str:
        arr = self.series[name]
        if not 0 <= self.cursor < self.T:
            return fmt(None)
        return fmt(float(arr[self.cursor]), signed=name not in self.unsigned)

    def _scale(self, name: str) -> tuple[float, float, float]:
        """(lo, hi, mid) of the row."""
        if name in self.unsigned:
            return 0.0, 1.0, 0.5
        arr = self.series[name]
        finite = arr[np.isfinite(arr)]
        m = float(np.abs(finite).max()) if finite.size else 1.0
        m = m if m > 0 else 1.0
        return -m, m, 0.0

    def _style(self, name: str, v: float, hi: float) -> Style:
        if name in self.unsigned:
            st = gate_style(v, dark=self.dark)
        else:
            st = signed_style(v, hi, dark=self.dark)
        if self.color:
            return st
        return Style(bold=st.bold)

    def geometry(self, width: int) -> tuple[int, int, int]:
        """(label width, sparkline width, value width) for a total ``width``."""
        lw = max((len(self._label(n)) for n in self.series), default=0)
        vw = max((len(self._value_text(n)) for n in self.series), default=0)
        sw = max(width - lw - 1 - 1 - vw, 1)
        return lw, sw, vw

    def cursor_columns(self, width: int) -> range:
        """The sparkline columns (0-based, within the sparkline) that show the cursor step."""
        _, sw, _ = self.geometry(width)
        if not 0 <= self.cursor < self.T:
            return range(0)
        if self.T <= sw:
            first = (self.cursor * sw + self.T - 1) // self.T
            nxt = ((self.cursor + 1) * sw + self.T - 1) // self.T
            return range(first, nxt)
        k = int(np.searchsorted((np.arange(sw + 1) * self.T) // sw, self.cursor, side="right") - 1)
        return range(k, k + 1)

    # ------------------------------------------------------------ Rich protocol

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        mono = (not self.color) or console.no_color or console.color_system is None
        lw, sw, vw = self.geometry(width)
        cur = self.cursor_columns(width)
        lines: list[list[Segment]] = []
        if self.header:
            lines.append(self._axis(lw, sw, cur))
        for name in self.series:
            lines.extend(self._rows(name, lw, sw, vw, cur, mono))
        # every line ends in a newline: Textual sizes `height: auto` by counting them
        for line in lines:
            yield from crop_line(line, width)
            yield Segment.line()

    def _axis(self, lw: int, sw: int, cur: range) -> list[Segment]:
        chars = [" "] * sw
        bold = [False] * sw

        def put(x: int, text: str, strong: bool) -> None:
            for k, ch in enumerate(text):
                if 0 <= x + k < sw:
                    chars[x + k] = ch
                    bold[x + k] = strong

        if self.T:
            put(0, str(self.step_base), False)
            end = str(self.T - 1 + self.step_base)
            put(sw - len(end), end, False)
        if cur:
            x = cur.start + (len(cur) - 1) // 2
            label = f"t={self.cursor + self.step_base}"
            start = x + 2 if x + 2 + len(label) <= sw else max(x - 1 - len(label), 0)
            lo, hi = min(start, x) - 1, max(start + len(label), x + 1)
            put(max(lo, 0), " " * (hi - max(lo, 0) + 1), False)
            put(start, label, True)
            put(x, "▼", True)
        segs = [Segment(" " * (lw + 1), _BLANK)]
        strong, dimmed = Style(bold=True), Style(dim=True)
        run = 0
        for x in range(1, sw + 1):
            if x == sw or bold[x] != bold[run]:
                segs.append(Segment("".join(chars[run:x]), strong if bold[run] else dimmed))
                run = x
        return segs

    def _rows(
        self, name: str, lw: int, sw: int, vw: int, cur: range, mono: bool
    ) -> list[list[Segment]]:
        lo, hi, mid = self._scale(name)
        cols, _ = resample(self.series[name], sw, mid)
        n = cols.shape[0]
        n_levels = len(BARS) * self.height
        finite = np.isfinite(cols)
        with np.errstate(invalid="ignore"):
            t = (np.clip(cols, lo, hi) - lo) / (hi - lo)
            levels = np.where(finite, np.minimum((t * n_levels).astype(np.int64), n_levels - 1), -1)
        if mono:
            highlight = Style(reverse=True)
        else:
            highlight = Style(bgcolor="#3a3a3a" if self.dark else "#d7d7d7")
        # one Style per column, computed once (columns repeat a lot when T < width)
        warn = nonfinite_style(dark=self.dark)
        cache: dict[float, Style] = {}
        styles: list[Style] = []
        for x, v in enumerate(cols.tolist()):
            if not finite[x]:
                st = warn
            else:
                st = cache.get(v)
                if st is None:
                    st = cache[v] = self._style(name, v, hi)
            if x in cur:
                st = st + highlight
            styles.append(st)
        styles += [_BLANK] * (sw - n)
        levels_l = levels.tolist() + [-2] * (sw - n)
        label_style = Style(bold=True)
        rows: list[list[Segment]] = []
        for line in range(self.height):
            # line 0 is the top of the sparkline
            floor_level = (self.height - 1 - line) * len(BARS)
            last_line = line == self.height - 1
            chars = []
            for lev in levels_l:
                if lev == -1:  # non-finite bucket
                    chars.append("!" if last_line else " ")
                    continue
                here = lev - floor_level
                chars.append(" " if here < 0 else (BARS[here] if here < len(BARS) else "█"))
            lab = self._label(name) if line == 0 else ""
            segs = [Segment(f"{lab:>{lw}} ", label_style if lab else _BLANK)]
            start = 0
            for x in range(1, sw + 1):
                if x == sw or styles[x] is not styles[start]:
                    segs.append(Segment("".join(chars[start:x]), styles[start]))
                    start = x
            val = self._value_text(name) if line == 0 else ""
            vst = Style(dim=True) if val else _BLANK
            if val and 0 <= self.cursor < self.T:
                v = float(self.series[name][self.cursor])
                vst = self._style(name, v, hi) if math.isfinite(v) else warn
            segs.append(Segment(" ", _BLANK))
            segs.append(Segment(f"{val:>{vw}}", vst))
            rows.append(segs)
        return rows

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lw, _, vw = self.geometry(options.max_width)
        return Measurement(min(lw + vw + 3 + 8, options.max_width), options.max_width)
