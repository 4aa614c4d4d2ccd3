"""Units × time heatmap of one quantity (c, h, f, i, o, Δc, ...), one window of it.

The widget cuts the window (rows = units, columns = time steps) and passes the
absolute position of its top-left corner (``row_offset``, ``col_offset``) so the
labels and the cursor are in trace coordinates; this renderable only draws.

Encoding choices (documented because they are what a user reads):

* **One unit per text row, one time step per ``cell_width`` columns.** Half
  blocks (two units per row, ▀ with fg/bg) would double the density but make
  the unit labels, the selected-row marker and the monochrome glyphs ambiguous;
  a heatmap you cannot label is a picture, not a debugger panel. The widget
  scrolls instead. A few units in a tall panel get ``row_height`` rows each.
* Colour mode: each cell is a space on a background fill from the palette
  (diverging blue/red for signed quantities, the gate ramp with its distinct
  saturated ends for gates).
* Monochrome (``color=False``, or a console without colour): glyph ramps —
  `` ░▒▓█`` for positive/gate magnitudes, `` ·-=≡`` for negative ones — so sign
  and magnitude survive ``NO_COLOR``.
* The cursor column gets a ``▼`` (and its step number) in the header row, and its
  cells a thin vertical rule (colour) or reverse video (monochrome).
* The selected row gets ``▶`` in the label gutter and ``◀`` after the last column.
* nan/inf cells are a ``!`` in the palette's warning style.
* Speed: values are quantised to ``LEVELS`` steps per sign (gates: ``LEVELS``
  steps between shut and open, plus the two saturated classes) with numpy, the
  Style for each level is built once per theme, and equal neighbours merge into
  one segment. A 30 × 150 window draws in a few milliseconds. LEVELS is a
  multiple of the palette's steps, so every cell has its exact palette colour.

Every segment carries a Style (Textual's Line API crashes under NO_COLOR on
unstyled segments).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style

from lstm_tui.renderables._canvas import crop_line
from lstm_tui.renderables.palette import (
    NEG_RAMP,
    OPEN,
    RAMP,
    SHUT,
    Palette,
    fmt,
    gate_glyph,
    ramps,
    signed_glyph,
)

__all__ = ["Heatmap", "LEVELS"]

_BLANK = Style()

#: Colour steps per sign (signed) or between shut and open (gates): a multiple of the
#: palette's fill ramps (6 steps), so a quantised cell has exactly the palette's colour.
LEVELS = 36
_NONFINITE = -(2**62)  # the level key of nan/inf cells


@lru_cache(maxsize=8)
def _colour_table(dark: bool, signed: bool) -> tuple[Style, ...]:
    """Background Style per quantised level (see :func:`_levels`)."""
    pal = Palette(dark=dark)
    if signed:
        return tuple(Style(bgcolor=pal.signed_fill(k / LEVELS, 1.0)) for k in range(-LEVELS, LEVELS + 1))
    mids = [SHUT + (k + 0.5) / LEVELS * (OPEN - SHUT) for k in range(LEVELS)]
    return tuple(Style(bgcolor=pal.gate_fill(v)) for v in (0.0, *mids, 1.0))


def _levels(t: np.ndarray, signed: bool) -> np.ndarray:
    """Integer level per cell (finite cells only are meaningful).

    signed: ``t = v / vmax`` → ±ceil(|t|·LEVELS) + LEVELS in [0, 2·LEVELS] (only an
    exact zero is level LEVELS, as only an exact zero is the palette's surface);
    gates: ``t = v / vmax`` → 0 shut, LEVELS + 1 open, 1..LEVELS between.
    """
    with np.errstate(invalid="ignore"):
        if signed:
            c = np.clip(t, -1.0, 1.0)
            return (np.sign(c) * np.ceil(np.abs(c) * LEVELS) + LEVELS).astype(np.int64)
        mid = 1 + np.clip(np.floor((t - SHUT) / (OPEN - SHUT) * LEVELS), 0, LEVELS - 1)
        return np.where(t <= SHUT, 0, np.where(t >= OPEN, LEVELS + 1, mid)).astype(np.int64)


def _glyph_keys(t: np.ndarray, signed: bool) -> np.ndarray:
    """Monochrome glyph index per cell: -4..4 (signed: NEG_RAMP for < 0), 0..4 (gates)."""
    with np.errstate(invalid="ignore"):
        if signed:
            a = np.clip(np.abs(t), 0.0, 1.0)
            k = np.where(a <= 0, 0, np.minimum(1 + np.floor(a * 4), 4))
            return (np.sign(t) * k).astype(np.int64)
        mid = 1 + np.minimum(np.floor((t - SHUT) / (OPEN - SHUT) * 3), 2)
        return np.where(t <= SHUT, 0, np.where(t >= OPEN, 4, mid)).astype(np.int64)


class Heatmap:
    """A Rich renderable drawing ``data`` (units × steps) as coloured cells.

    Args:
        data: 2-D array, rows = units, columns = time steps (already windowed).
        col_offset: absolute time step of column 0.
        cursor_col: absolute time step of the cursor (marked if inside the window).
        selected_row: absolute unit index of the selected unit (marked if inside).
        signed: diverging colours around 0 (c, h, Δc, g); False for gates in [0, 1].
        vmax: |value| (signed) or top (unsigned) that gets full intensity. Default:
            the largest finite |value| in ``data`` (signed, at least 1e-12) or 1.0
            (unsigned). Pass the whole trace's max to keep colours steady while
            scrolling.
        row_labels: draw the unit-index gutter on the left.
        row_offset: absolute unit index of row 0.
        cell_width: text columns per time step (≥ 1); widen for short sequences.
        row_height: text rows per unit (≥ 1); taller for a few units in a tall panel.
            The unit's label and markers are on its first row.
        legend: draw a one-line scale under the map.
        color: False forces glyph ramps. Pass ``not app.no_color`` from a widget:
            Textual applies NO_COLOR after rendering, so the console cannot tell.
        dark: dark terminal background.
    """

    def __init__(
        self,
        data: np.ndarray,
        *,
        col_offset: int = 0,
        cursor_col: int | None = None,
        selected_row: int | None = None,
        signed: bool = True,
        vmax: float | None = None,
        row_labels: bool = True,
        row_offset: int = 0,
        cell_width: int = 1,
        row_height: int = 1,
        legend: bool = True,
        color: bool = True,
        dark: bool = True,
    ) -> None:
        data = np.asarray(data, dtype=float)
        if data.ndim != 2:
            raise ValueError(f"Heatmap wants a 2-D (units, steps) array, got shape {data.shape}")
        self.data = data
        self.col_offset = col_offset
        self.cursor_col = cursor_col
        self.selected_row = selected_row
        self.signed = signed
        self.row_labels = row_labels
        self.row_offset = row_offset
        self.cell_width = max(1, int(cell_width))
        self.row_height = max(1, int(row_height))
        self.legend = legend
        self.color = color
        self.palette = Palette(dark=dark)
        finite = data[np.isfinite(data)]
        if vmax is not None and math.isfinite(vmax) and vmax > 0:
            self.vmax = float(vmax)
        elif signed:
            self.vmax = float(np.abs(finite).max()) if finite.size else 1.0
            self.vmax = max(self.vmax, 1e-12)
        else:
            self.vmax = 1.0

    # ------------------------------------------------------------ geometry

    @property
    def label_width(self) -> int:
        """Columns taken by the gutter (labels + the ▶ marker), 0 without labels."""
        if not self.row_labels:
            return 0
        last = self.row_offset + max(self.data.shape[0] - 1, 0)
        return len(str(last)) + 1

    @property
    def width(self) -> int:
        return self.label_width + self.data.shape[1] * self.cell_width + 1

    # ------------------------------------------------------------ cells

    def _mono(self, console: Console) -> bool:
        return (not self.color) or console.no_color or console.color_system is None

    def _cursor_cell(self, v: float, mono: bool, glyph: str) -> Segment:
        """The cursor column's cell: exact colour plus a rule (colour) or reverse (mono)."""
        w = self.cell_width
        pal = self.palette
        if not math.isfinite(v):
            return Segment("!".center(w), pal.nonfinite())
        if mono:
            return Segment(glyph * w, Style(reverse=True))
        if self.signed:
            fill = pal.signed_fill(v, self.vmax)
        else:
            fill = pal.gate_fill(min(v / self.vmax, 1.0))
        ink = "#ffffff" if _luma(fill) < 0.5 else "#000000"
        left = (w - 1) // 2
        text = " " * left + "│" + " " * (w - 1 - left)
        return Segment(text, Style(color=ink, bgcolor=fill, bold=True))

    def _cells(self, r: int, keys: np.ndarray, finite: np.ndarray, mono: bool) -> list[Segment]:
        """One row of cells, equal neighbours merged into one segment."""
        w = self.cell_width
        row_keys = np.where(finite[r], keys[r], _NONFINITE)
        n = row_keys.shape[0]
        cursor = -1
        if self.cursor_col is not None and 0 <= self.cursor_col - self.col_offset < n:
            cursor = self.cursor_col - self.col_offset
        bounds = [0, *(np.flatnonzero(np.diff(row_keys)) + 1).tolist(), n]
        if cursor >= 0:
            bounds = sorted({*bounds, cursor, cursor + 1})
        starts = row_keys[bounds[:-1]].tolist()
        table = None if mono else _colour_table(self.palette.dark, self.signed)
        warn = self.palette.nonfinite()
        plain = Style(reverse=False)
        segs: list[Segment] = []
        append = segs.append
        for a, b, key in zip(bounds, bounds[1:], starts):
            if a == cursor:
                glyph = _glyph(key, self.signed) if mono and key != _NONFINITE else " "
                append(self._cursor_cell(float(self.data[r, a]), mono, glyph))
            elif key == _NONFINITE:
                append(Segment("!".center(w) * (b - a), warn))
            elif mono:
                append(Segment(_glyph(key, self.signed) * (w * (b - a)), plain))
            else:
                append(Segment(" " * (w * (b - a)), table[key]))  # type: ignore[index]
        return segs

    # ------------------------------------------------------------ rows

    def _header(self) -> list[Segment]:
        """The first step number at the left, and ▼ t=N over the cursor column."""
        n_cols = self.data.shape[1]
        w = self.cell_width
        chars = [" "] * (n_cols * w + 1)
        bold = [False] * len(chars)

        def put(x: int, text: str, strong: bool) -> None:
            for k, ch in enumerate(text):
                if 0 <= x + k < len(chars):
                    chars[x + k] = ch
                    bold[x + k] = strong

        t0 = self.col_offset
        if n_cols:
            put(0, str(t0), False)
        if self.cursor_col is not None and t0 <= self.cursor_col < t0 + n_cols:
            cur = (self.cursor_col - t0) * w + (w - 1) // 2
            label = f"t={self.cursor_col}"
            start = cur + 2 if cur + 2 + len(label) <= len(chars) else max(cur - 1 - len(label), 0)
            # clear around the marker so the first-step label cannot run into it
            lo, hi = min(start, cur) - 1, max(start + len(label), cur + 1)
            put(max(lo, 0), " " * (hi - max(lo, 0) + 1), False)
            put(start, label, True)
            put(cur, "▼", True)
        segs = [Segment(" " * self.label_width, _BLANK)] if self.label_width else []
        strong, dimmed = Style(bold=True), Style(dim=True)
        run_start = 0
        for x in range(1, len(chars) + 1):
            if x == len(chars) or bold[x] != bold[run_start]:
                style = strong if bold[run_start] else dimmed
                segs.append(Segment("".join(chars[run_start:x]), style))
                run_start = x
        return segs

    def _row(self, r: int, keys: np.ndarray, finite: np.ndarray, mono: bool,
             first: bool = True) -> list[Segment]:  # fmt: skip
        """One text row of unit r (`first`: the one that carries its label and markers)."""
        unit = self.row_offset + r
        selected = self.selected_row is not None and unit == self.selected_row and first
        segs: list[Segment] = []
        if self.label_width:
            lw = self.label_width - 1
            if first:
                lab_style = Style(bold=True, reverse=True) if selected else Style(dim=True)
                segs.append(Segment(f"{unit:>{lw}}", lab_style))
            else:
                segs.append(Segment(" " * lw, _BLANK))
            marker = Segment("▶", Style(bold=True)) if selected else Segment(" ", _BLANK)
            segs.append(marker)
        segs.extend(self._cells(r, keys, finite, mono))
        segs.append(Segment("◀" if selected else " ", Style(bold=True) if selected else _BLANK))
        return segs

    def _legend(self, mono: bool) -> list[Segment]:
        segs: list[Segment] = []
        if self.label_width:
            segs.append(Segment(" " * self.label_width, _BLANK))
        pal = self.palette
        # one cell per step of the palette's ramp, so the key shows every colour the map can
        ramp = ramps(dark=pal.dark)
        if self.signed:
            lo_t, hi_t = fmt(-self.vmax), fmt(self.vmax)
            n = len(ramp["fill_pos"])
            steps = [-k / n for k in range(n, 0, -1)] + [0.0] + [k / n for k in range(1, n + 1)]
        else:
            lo_t, hi_t = fmt(0.0, signed=False), fmt(self.vmax, signed=False)
            n = len(ramp["gate_fill"]) - 2
            steps = [0.0] + [SHUT + (k + 0.5) / n * (OPEN - SHUT) for k in range(n)] + [1.0]
        segs.append(Segment(lo_t + " ", Style(dim=True)))
        for s in steps:
            v = s * self.vmax
            if mono:
                g = signed_glyph(v, self.vmax) if self.signed else gate_glyph(s)
                segs.append(Segment(g, Style(reverse=False)))
            else:
                fill = pal.signed_fill(v, self.vmax) if self.signed else pal.gate_fill(s)
                segs.append(Segment(" ", Style(bgcolor=fill)))
        segs.append(Segment(" " + hi_t, Style(dim=True)))
        return segs

    # ------------------------------------------------------------ Rich protocol

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        mono = self._mono(console)
        width = options.max_width
        lines = [self._header()]
        finite = np.isfinite(self.data)
        t = self.data / self.vmax
        keys = _glyph_keys(t, self.signed) if mono else _levels(t, self.signed)
        lines += [self._row(r, keys, finite, mono, first=k == 0)
                  for r in range(self.data.shape[0]) for k in range(self.row_height)]  # fmt: skip
        if self.legend:
            lines.append(self._legend(mono))
        # every line ends in a newline: Textual sizes `height: auto` by counting them
        for line in lines:
            yield from crop_line(line, width)
            yield Segment.line()

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        w = min(self.width, options.max_width)
        return Measurement(w, w)


def _glyph(key: int, signed: bool) -> str:
    """The monochrome glyph for a key from :func:`_glyph_keys`."""
    if key < 0:
        return NEG_RAMP[-key]
    return RAMP[key]


def _luma(color) -> float:
    t = color.get_truecolor()
    return (0.2126 * t.red + 0.7152 * t.green + 0.0722 * t.blue) / 255.0
