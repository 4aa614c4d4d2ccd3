"""The selected unit's history: one sparkline per quantity, on the time axis the heatmap uses.

This is where a user sees "the forget gate held France for 30 steps": f sits on
the top level for a run of columns while c stays put.

The time axis (:class:`TimeAxis`, :func:`time_axis`) is shared with the heatmap
beside it, so a column means the same steps in both panels:

* **window** (default): one step per ``cell`` columns (``cell`` ≥ 1, larger when
  the sequence is short so it fills the width), a window of steps around the
  cursor. The window moves half a page at a time and is a pure function of
  (T, cursor, room), so two panels given the same room always agree.
* **overview**: the whole sequence. When T is wider than the room, steps are
  split into contiguous buckets, one per column. A bucket is drawn by the
  value furthest from the bucket's own median, so a forget gate that sits at 1
  and dips to 0.01 for one step shows the dip; a bucket whose values swing
  across a quarter of the scale or more (interquartile range) is drawn as a
  range mark ``┃`` instead of one height, so an oscillating series does not
  turn into a solid block. A bucket with any nan/inf shows ``!``.

Scales (fixed per quantity and unit, so heights mean the same thing on every
step, and printed in the row label): gates (``unsigned``, default f, i, o) are
0 at the bottom and 1 at the top; everything else is signed and symmetric,
``[-m, m]`` with ``m`` the largest finite |value| of that series, so zero is
the middle level. The value at the cursor is printed at the right in a column
whose width is fixed by the whole series, so nothing shifts while stepping.

Colour carries the value through the palette (gate ramp / diverging); the height
(eighth blocks ``▁▂▃▄▅▆▇█``) carries it without colour. Every segment has a Style.

Signed series (c, h, g) given two lines or more are drawn around a zero line
between their upper and lower halves: a positive value grows up from it in
eighth blocks, a negative one grows down (``▔ ▀ █``: Unicode has no finer
top-anchored blocks), so the most negative value is as tall as the most
positive one, and an exact zero draws nothing. A signed series squeezed into
one line keeps the bottom-anchored levels with zero at mid-height.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from lstm_tui.renderables._canvas import crop_line
from lstm_tui.renderables.palette import fmt, gate_style, nonfinite_style, signed_style

__all__ = ["UnitHistory", "series_scales", "TimeAxis", "time_axis", "summarize", "resample", "axis_segments"]

BARS = "▁▂▃▄▅▆▇█"
RANGE = "┃"
#: A bucket whose interquartile range covers this share of the row's scale is a swing.
SPREAD = 0.25
_BLANK = Style()


@dataclass(frozen=True)
class TimeAxis:
    """Which steps the columns show: steps [t0, t1), ``cell`` columns each, or buckets.

    ``columns`` is the number of columns drawn (≤ the room it was made for).
    When ``bucketed``, column k shows steps ``[edges[k], edges[k+1])``.
    """

    T: int
    t0: int
    t1: int
    cell: int
    columns: int
    bucketed: bool = False

    @property
    def edges(self) -> np.ndarray:
        """Step boundaries of the columns (length columns + 1)."""
        if self.bucketed:
            return (np.arange(self.columns + 1) * self.T) // self.columns
        return np.arange(self.t0, self.t1 + 1)

    def columns_of(self, t: int) -> range:
        """The columns that show step t (empty if t is outside the axis)."""
        if not self.t0 <= t < self.t1:
            return range(0)
        if self.bucketed:
            k = int(np.searchsorted(self.edges, t, side="right") - 1)
            return range(k, k + 1)
        x = (t - self.t0) * self.cell
        return range(x, x + self.cell)

    def step_at(self, x: int) -> int | None:
        """The first step column x shows, or None past the last column."""
        if not 0 <= x < self.columns:
            return None
        if self.bucketed:
            return int(self.edges[x])
        return self.t0 + x // self.cell


def time_axis(T: int, cursor: int, room: int, overview: bool = False) -> TimeAxis:
    """The axis for ``room`` columns: a window around ``cursor``, or the whole sequence.

    The window is a function of its arguments alone (no scrolling state), so
    the history and the heatmap, given the same room, show the same steps. It
    moves by half its span, keeping the cursor in its middle half, so a held
    arrow key shifts the picture once per half page.
    """
    room = max(int(room), 1)
    if T <= 0:
        return TimeAxis(0, 0, 0, 1, 0)
    if overview and T > room:
        return TimeAxis(T, 0, T, 1, room, bucketed=True)
    cell = max(1, room // T)
    span = max(room // cell, 1)
    if span >= T:
        return TimeAxis(T, 0, T, cell, T * cell)
    stride = max(span // 2, 1)
    t0 = ((cursor - span // 4) // stride) * stride
    t0 = max(0, min(t0, T - span))
    return TimeAxis(T, t0, t0 + span, cell, span * cell)


@dataclass(frozen=True, eq=False)
class Buckets:
    """Per-bucket summary of rows of values: what a column of an overview shows."""

    value: np.ndarray  # (R, n) the value furthest from the bucket median (nan if any non-finite)
    lo: np.ndarray  # (R, n) finite min
    hi: np.ndarray  # (R, n) finite max
    iqr: np.ndarray  # (R, n) interquartile range of the finite values
    bad: np.ndarray  # (R, n) bool: the bucket holds a nan/inf


def summarize(values: np.ndarray, edges: np.ndarray) -> Buckets:
    """Summarise ``values`` (R, T) over the buckets ``[edges[k], edges[k+1])``."""
    v = np.atleast_2d(np.asarray(values, dtype=float))
    R = v.shape[0]
    edges = np.asarray(edges)
    n = edges.shape[0] - 1
    sizes = np.diff(edges)
    width = int(sizes.max()) if n else 0
    finite = np.isfinite(v)
    # pad each bucket to the widest one with nan, sort (nan last), read order statistics
    idx = edges[:-1, None] + np.arange(width)[None, :]  # (n, width)
    inside = np.arange(width)[None, :] < sizes[:, None]
    idx = np.where(inside, idx, 0)
    block = np.where(finite, v, np.nan)[:, idx]  # (R, n, width)
    block[:, ~inside] = np.nan
    block.sort(axis=2)
    count = (~np.isnan(block)).sum(axis=2)  # finite values per bucket
    has = count > 0
    last = np.maximum(count - 1, 0)

    def order(p: float) -> np.ndarray:
        k = np.floor(p * last).astype(np.int64)
        return np.take_along_axis(block, k[..., None], axis=2)[..., 0]

    lo = block[:, :, 0]
    hi = np.take_along_axis(block, last[..., None], axis=2)[..., 0]
    med = order(0.5)
    iqr = order(0.75) - order(0.25)
    value = np.where(hi - med >= med - lo, hi, lo)
    bad = np.add.reduceat((~finite).astype(np.int64), edges[:-1], axis=1) > 0 if n else np.zeros((R, 0), bool)
    bad = bad | ~has
    value = np.where(bad, np.nan, value)
    return Buckets(value, np.where(has, lo, np.nan), np.where(has, hi, np.nan), np.where(has, iqr, 0.0), bad)


def resample(values: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``values`` (T,) to ``n`` columns as the overview does: ``(column_values, column_of_step)``.

    For T > n, ``column_values[k]`` is the value of bucket k furthest from that
    bucket's median (nan if it holds a non-finite value). For T ≤ n each step
    gets ``n // T`` columns.
    """
    values = np.asarray(values, dtype=float).reshape(-1)
    T = values.shape[0]
    if T == 0 or n <= 0:
        return np.empty(0), np.zeros(T, dtype=int)
    axis = time_axis(T, 0, n, overview=True)
    if not axis.bucketed:
        return np.repeat(values, axis.cell), np.arange(T) * axis.cell
    col = np.searchsorted(axis.edges, np.arange(T), side="right") - 1
    return summarize(values[None, :], axis.edges).value[0], col


def axis_segments(axis: TimeAxis, cursor: int, step_base: int = 1, width: int | None = None) -> list[Segment]:
    """The time axis line: first and last step shown at the ends, ``▼ t=N`` over the cursor.

    ``width`` pads (or crops) to that many cells; steps are numbered from ``step_base``.
    """
    n = max(axis.columns, 0) if width is None else width
    chars = [" "] * n
    bold = [False] * n

    def put(x: int, text: str, strong: bool) -> None:
        for k, ch in enumerate(text):
            if 0 <= x + k < n:
                chars[x + k] = ch
                bold[x + k] = strong

    first, end = "", ""
    if axis.T and axis.columns:
        first = str(axis.t0 + step_base)
        end = str(axis.t1 - 1 + step_base)
        if len(end) + len(first) + 1 >= axis.columns:
            end = ""
    cur = axis.columns_of(cursor)
    if cur:
        # ▼ over the cursor and t=N beside it, right if it fits, else left, always two
        # blank cells away from the first and last step numbers (one would read "▼ 840"
        # as the cursor's step); where neither side has room, the number it would come
        # near gives way (t=N says the step), never half of it; with no room for t=N
        # on either side (a 3-step axis), the marker alone
        x = cur.start + (len(cur) - 1) // 2
        label = f"t={cursor + step_base}"
        end_lo = axis.columns - len(end) if end else axis.columns + 1
        first_hi = len(first)

        def block(start: int) -> tuple[int, int]:
            return min(start, x), max(start + len(label), x + 1)

        def fits(start: int) -> bool:
            lo, hi = block(start)
            return lo >= 0 and hi <= axis.columns

        def clear(start: int) -> bool:
            lo, hi = block(start)
            return fits(start) and hi + 2 <= end_lo and lo - 2 >= first_hi

        right, left = x + 2, x - 1 - len(label)
        start = next((s for s in (right, left) if clear(s)), None)
        if start is None:
            start = next((s for s in (right, left) if fits(s)), None)
        lo, hi = block(start) if start is not None else (x, x + 1)
        if end and hi + 2 > end_lo:
            end = ""
        if first and lo - 2 < first_hi:
            first = ""
        if start is not None:
            put(start, label, True)
        put(x, "▼", True)
    if first:
        put(0, first, False)
    if end:
        put(axis.columns - len(end), end, False)
    segs: list[Segment] = []
    strong, dimmed = Style(bold=True), Style(dim=True)
    run = 0
    for x in range(1, n + 1):
        if x == n or bold[x] != bold[run]:
            segs.append(Segment("".join(chars[run:x]), strong if bold[run] else dimmed))
            run = x
    return segs


def series_scales(series: dict[str, np.ndarray],
                  unsigned: Iterable[str] = ("f", "i", "o")) -> dict[str, tuple[float, float, float]]:  # fmt: skip
    """(lo, hi, mid) per series: [0, 1] for the ``unsigned`` (gates), else [-m, m] with m the
    largest finite |value| of the whole series (1 when there is none), so heights mean the
    same at every step."""
    unsigned = set(unsigned)
    out = {}
    for name, values in series.items():
        if name in unsigned:
            out[name] = (0.0, 1.0, 0.5)
            continue
        arr = np.asarray(values, dtype=float).reshape(-1)
        finite = arr[np.isfinite(arr)]
        m = float(np.abs(finite).max()) if finite.size else 1.0
        m = m if m > 0 else 1.0
        out[name] = (-m, m, 0.0)
    return out


class UnitHistory:
    """A Rich renderable: stacked sparklines of one unit's quantities over time.

    Args:
        series: name → (T,) array, drawn top to bottom in insertion order
            (e.g. ``{"f": ..., "i": ..., "o": ..., "c": ..., "h": ...}``).
        cursor: the current step t (0-based), marked in every row; None marks nothing.
        axis: the steps to show (see :func:`time_axis`); default: the whole
            sequence fitted to the width (the overview).
        labels: optional display names (e.g. ``{"c": "c_t"}``).
        unsigned: names drawn on the fixed [0, 1] gate scale.
        height: text lines per sparkline (≥ 1); 8 levels per line.
        heights: lines per series by name, overriding ``height`` (a view gives the
            signed series two lines so that they draw around their zero line).
        header: draw the time axis line.
        step_base: the number printed for step 0 (1 to match the 1-based header).
        color: False draws without colour (the cursor then shows in reverse video).
        dark: dark terminal background.
        scales: ``series_scales`` of these series, when the caller keeps them: a view
            draws the same series at every step, and the scales cost a pass over
            each whole series.
    """

    def __init__(
        self,
        series: dict[str, np.ndarray],
        cursor: int | None,
        *,
        axis: TimeAxis | None = None,
        labels: dict[str, str] | None = None,
        unsigned: Iterable[str] = ("f", "i", "o"),
        height: int = 1,
        heights: dict[str, int] | None = None,
        header: bool = True,
        step_base: int = 0,
        color: bool = True,
        dark: bool = True,
        scales: dict[str, tuple[float, float, float]] | None = None,
    ) -> None:
        self.series = {k: np.asarray(v, dtype=float).reshape(-1) for k, v in series.items()}
        lengths = {v.shape[0] for v in self.series.values()}
        if len(lengths) > 1:
            raise ValueError(f"all series must have the same length, got {sorted(lengths)}")
        self.T = lengths.pop() if lengths else 0
        self.cursor = cursor
        self.axis = axis
        self.labels = dict(labels or {})
        self.unsigned = set(unsigned)
        self.height = max(1, int(height))
        self.heights = {k: max(1, int(v)) for k, v in (heights or {}).items()}
        self.header = header
        self.step_base = step_base
        self.color = color
        self.dark = dark
        if scales is None:
            scales = series_scales(self.series, self.unsigned)
        self._scales = {name: scales[name] for name in self.series}

    # ------------------------------------------------------------ layout

    def lines_of(self, name: str) -> int:
        """Text lines of one series' sparkline."""
        return self.heights.get(name, self.height)

    def row_of(self, name: str) -> int:
        """The first text line of a series (below the header), where its value is printed."""
        row = 0
        for other in self.series:
            if other == name:
                return row
            row += self.lines_of(other)
        raise KeyError(name)

    def scale(self, name: str) -> tuple[float, float, float]:
        """(lo, hi, mid) of the row: [0, 1] for gates, [-m, m] for signed series."""
        return self._scales[name]

    def scale_text(self, name: str) -> str:
        """The row's scale as printed in its label: ``0–1`` or ``±m``."""
        if name in self.unsigned:
            return "0–1"
        return "±" + fmt(self._scales[name][1], signed=False)

    def label(self, name: str) -> str:
        nw = max(len(self.labels.get(n, n)) for n in self.series)
        sw = max(len(self.scale_text(n)) for n in self.series)
        return f"{self.labels.get(name, name):<{nw}} {self.scale_text(name):>{sw}}"

    def value_text(self, name: str) -> str:
        arr = self.series[name]
        if self.cursor is None or not 0 <= self.cursor < self.T:
            return fmt(None)
        return fmt(float(arr[self.cursor]), signed=name not in self.unsigned)

    def value_width(self) -> int:
        """Fixed by the whole series (largest |value|, nan), not by the value at the cursor."""
        w = 4  # "nan", "+inf"
        for name in self.series:
            m = self._scales[name][1]
            w = max(w, len(fmt(-m if name not in self.unsigned else m, signed=name not in self.unsigned)))
        return w

    def _style(self, name: str, v: float, hi: float) -> Style:
        st = gate_style(v, dark=self.dark) if name in self.unsigned else signed_style(v, hi, dark=self.dark)
        return st if self.color else Style(bold=st.bold)

    def value_style(self, name: str) -> Style:
        """The style of the value printed at the right (the palette colour of the value)."""
        if self.cursor is None or not 0 <= self.cursor < self.T:
            return Style(dim=True)
        v = float(self.series[name][self.cursor])
        if not math.isfinite(v):
            return nonfinite_style(dark=self.dark)
        return self._style(name, v, self._scales[name][1])

    def geometry(self, width: int) -> tuple[int, int, int]:
        """(label width, sparkline room, value width) for a total ``width``."""
        lw = max((len(self.label(n)) for n in self.series), default=0)
        vw = self.value_width() if self.series else 0
        sw = max(width - lw - 1 - 1 - vw, 1)
        return lw, sw, vw

    def time_axis(self, width: int) -> TimeAxis:
        if self.axis is not None:
            return self.axis
        return time_axis(self.T, self.cursor or 0, self.geometry(width)[1], overview=True)

    def cursor_columns(self, width: int) -> range:
        """The sparkline columns (0-based, within the sparkline) that show the cursor step."""
        if self.cursor is None:
            return range(0)
        return self.time_axis(width).columns_of(self.cursor)

    # ------------------------------------------------------------ Rich protocol

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = options.max_width
        mono = (not self.color) or console.no_color or console.color_system is None
        lw, sw, vw = self.geometry(width)
        axis = self.time_axis(width)
        cur = self.cursor_columns(width)
        lines: list[list[Segment]] = []
        if self.header:
            pad = [Segment(" " * (lw + 1), _BLANK)]
            lines.append(pad + axis_segments(axis, self.cursor if self.cursor is not None else -1,
                                             self.step_base, sw))  # fmt: skip
        for name in self.series:
            lines.extend(self._rows(name, axis, lw, sw, vw, cur, mono))
        # every line ends in a newline: Textual sizes `height: auto` by counting them
        for line in lines:
            yield from crop_line(line, width)
            yield Segment.line()

    def columns(self, name: str, axis: TimeAxis) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per column: (value, lo, hi, swing) — swing marks a bucket drawn as a range."""
        arr = self.series[name]
        if not axis.bucketed:
            cols = np.repeat(arr[axis.t0 : axis.t1], axis.cell)
            return cols, cols, cols, np.zeros(cols.shape, bool)
        b = summarize(arr[None, :], axis.edges)
        lo, hi, _ = self._scales[name]
        swing = (b.iqr[0] >= SPREAD * (hi - lo)) & ~b.bad[0]
        return b.value[0], b.lo[0], b.hi[0], swing

    def _rows(
        self, name: str, axis: TimeAxis, lw: int, sw: int, vw: int, cur: range, mono: bool
    ) -> list[list[Segment]]:
        lo, hi, mid = self._scales[name]
        cols, blo, bhi, swing = self.columns(name, axis)
        cols, blo, bhi, swing = cols[:sw], blo[:sw], bhi[:sw], swing[:sw]
        n = cols.shape[0]
        height = self.lines_of(name)
        n_levels = len(BARS) * height
        finite = np.isfinite(cols)

        def level(a: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore"):
                t = (np.clip(a, lo, hi) - lo) / (hi - lo)
                return np.where(np.isfinite(a), np.minimum((t * n_levels).astype(np.int64), n_levels - 1), -1)

        levels = level(cols)
        lo_lev, hi_lev = level(blo), level(bhi)
        highlight = Style(reverse=True) if mono else Style(bgcolor="#3a3a3a" if self.dark else "#d7d7d7")
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
        swing_l = swing.tolist() + [False] * (sw - n)
        lo_l, hi_l = lo_lev.tolist(), hi_lev.tolist()
        label_style = Style(bold=True)
        zero_line = name not in self.unsigned and height >= 2
        if zero_line:
            grid = _around_zero(cols, blo, bhi, swing, height, hi, sw)
        rows: list[list[Segment]] = []
        for line in range(height):
            # line 0 is the top of the sparkline
            floor_level = (height - 1 - line) * len(BARS)
            top_level = floor_level + len(BARS) - 1
            last_line = line == height - 1
            chars = []
            for x, lev in enumerate(levels_l):
                if zero_line:
                    chars.append(grid[line][x])
                elif lev == -1:  # non-finite bucket
                    chars.append("!" if last_line else " ")
                elif lev == -2:
                    chars.append(" ")
                elif swing_l[x]:  # a swing: a range mark on the lines lo..hi covers
                    chars.append(RANGE if lo_l[x] <= top_level and hi_l[x] >= floor_level else " ")
                else:
                    here = lev - floor_level
                    chars.append(" " if here < 0 else (BARS[here] if here < len(BARS) else "█"))
            lab = self.label(name) if line == 0 else ""
            segs = [Segment(f"{lab:<{lw}} ", label_style if lab else _BLANK)]
            start = 0
            for x in range(1, sw + 1):
                if x == sw or styles[x] is not styles[start]:
                    segs.append(Segment("".join(chars[start:x]), styles[start]))
                    start = x
            val = self.value_text(name) if line == 0 else ""
            segs.append(Segment(" ", _BLANK))
            segs.append(Segment(f"{val:>{vw}}", self.value_style(name) if val else _BLANK))
            rows.append(segs)
        return rows

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        lw, _, vw = self.geometry(options.max_width)
        return Measurement(min(lw + vw + 3 + 8, options.max_width), options.max_width)


def _around_zero(cols: np.ndarray, lo: np.ndarray, hi: np.ndarray, swing: np.ndarray,
                 height: int, m: float, width: int) -> list[list[str]]:  # fmt: skip
    """The characters of a signed sparkline drawn around its zero line, line 0 on top.

    The upper ``ceil(height / 2)`` lines hold [0, m], the lower ones [-m, 0]; a
    value fills eighths up from the zero line (positive) or down from it
    (negative, quantised to ▔ ▀ █), at least one eighth unless it is exactly 0.
    A swing (range) bucket is a ``┃`` on every line its [lo, hi] reaches; a
    non-finite bucket a ``!`` just below the zero line.
    """
    up = (height + 1) // 2
    down = height - up
    grid = [[" "] * width for _ in range(height)]
    for x, v in enumerate(cols.tolist()[:width]):
        if not math.isfinite(v):
            grid[up][x] = "!"
            continue
        if swing[x]:
            for line in range(height):
                top = (up - line) / up * m if line < up else -(line - up) / down * m
                bottom = (up - 1 - line) / up * m if line < up else -(line - up + 1) / down * m
                if lo[x] <= top and hi[x] >= bottom:
                    grid[line][x] = RANGE
            continue
        if v > 0:
            eighths = max(1, math.ceil(min(v / m, 1.0) * up * 8))
            for line in range(up):
                here = eighths - (up - 1 - line) * 8
                if here > 0:
                    grid[line][x] = BARS[min(here, 8) - 1]
        elif v < 0:
            eighths = max(1, math.ceil(min(-v / m, 1.0) * down * 8))
            for j in range(down):
                here = eighths - j * 8
                if here > 0:
                    grid[up + j][x] = "█" if here >= 7 else "▀" if here >= 4 else "▔"
    return grid
