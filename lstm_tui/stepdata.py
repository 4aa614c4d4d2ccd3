"""Per-step numbers for the screen, asked of the engine and cached per trace.

Holding an arrow key asks for the same handful of things at every step: the
twelve columns of one (layer, direction, t), their order under the current
sort, a window of the heatmap, and colour scales that must not jump from step
to step. Every number comes from the engine's quantity registry
(`lstm_engine.REGISTRY`, through `Trace.window` / `Trace.value`): no formula,
label or "previous step" rule is repeated here. What this module adds is the
screen's choices (which columns, which sort) and a `TraceData` that caches
them, bounded and per trace, so that nothing is keyed by `id()` and no
global cache pins old traces.
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from lstm_engine import QUANTITIES, REGISTRY, Trace, half_life

#: Columns of the unit table, in the order of the pointwise story: what the step read
#: (h_{t-1}, one of the gates' inputs with x_t), then the engine's QUANTITIES.
COLUMNS = ("h_prev", *QUANTITIES)
#: Columns a projected LSTM has no per-unit value for: its h_{t-1} is proj_size wide and
#: mixes every unit (the table hides them; step_values fills them with NaN).
NOT_PER_UNIT_WHEN_PROJECTED = frozenset({"h_prev"})
#: Per-unit columns that are not a step's quantity: the same at every step (lstm_tui.explaining).
#: "half_life": steps until half of what the unit writes is forgotten (retention).
UNIT_COLUMNS = {"half_life": "t½"}
#: What the table shows: the step's quantities, then the per-unit columns.
TABLE_COLUMNS = (*COLUMNS, *UNIT_COLUMNS)

#: What `s` cycles through: natural unit order, then "which units changed most", then each column.
#: h_{t-1}, what the step read, comes after the step's own quantities.
SORTS = ("unit", "delta_c", *[q for q in TABLE_COLUMNS if q not in ("delta_c", "h_prev")],
         "h_prev")  # fmt: skip

#: What `v` cycles through in the heatmap.
HEATMAP_QUANTITIES = ("c", "h", "f", "i", "o", "delta_c")
#: How the heatmap's title names each of them.
HEATMAP_NAMES = {
    "c": "c_t (the cell state)", "h": "h_t (the output)", "f": "f (the forget gate)",
    "i": "i (the input gate)", "o": "o (the output gate)", "delta_c": "Δc (the change in c)",
}  # fmt: skip

#: The history has room to say it in full.
_LONG_LABELS = {"h_cell": "o·tanh c"}


def is_gate(key: str) -> bool:
    """Is the column a gate in [0, 1] (coloured and sorted by value, not by size)?"""
    return key not in UNIT_COLUMNS and REGISTRY[key].is_gate


def per_unit(key: str, projected: bool) -> str:
    """The registry quantity a per-unit column shows.

    A projected LSTM's h is proj_size wide and mixes all units, so the h column
    shows the unit's own output before the projection, h_cell = o ⊙ tanh(c_t).
    """
    return "h_cell" if projected and key == "h" else key


def column_label(key: str, reverse: bool = False, projected: bool = False) -> str:
    """A column's header label, from the registry: the previous state says t+1 for a
    direction that reads right to left (`reverse`, the trace's `reads_reversed`)."""
    if key in UNIT_COLUMNS:
        return UNIT_COLUMNS[key]
    name = per_unit(key, projected)
    return REGISTRY[name].label_for(reverse)


def series_label(key: str, projected: bool = False) -> str:
    """A history row's label: the column's, with room for h_cell's longer name."""
    name = per_unit(key, projected)
    return _LONG_LABELS.get(name) or column_label(key, projected=projected)


def sort_label(key: str, reverse: bool = False, descending: bool = True) -> str:
    """The sort as the table's subtitle says it: gates by value, signed columns by size |x|."""
    arrow = "↓" if descending else "↑"
    if key == "unit":
        return f"unit # {arrow}"
    label = column_label(key, reverse)
    return f"{label} {arrow}" if is_gate(key) else f"|{label}| {arrow}"


def is_projected(trace: Trace) -> bool:
    return trace.out_size != trace.hidden_size


@dataclass(frozen=True, eq=False)
class StepColumns:
    """The unit table's data at one (layer, direction, t): each column (H,), and a row order."""

    layer: int
    direction: int
    t: int
    values: dict[str, np.ndarray]
    order: np.ndarray  # (H,) unit indices, in display order
    sort: str
    projected: bool
    scales: dict[str, float]  # colour scale per column, fixed over the sequence
    descending: bool = True
    widths: dict[str, int] | None = None  # characters each column's numbers need (2 decimals)
    reverse: bool = False  # the direction reads right to left (its previous step is t + 1)
    difference: bool = False  # values are differences from another trace (signed, gates too)

    @property
    def H(self) -> int:
        return len(self.order)

    def row_of(self, unit: int) -> int:
        """Where unit sits in the display order."""
        hits = np.flatnonzero(self.order == unit)
        return int(hits[0]) if len(hits) else 0


def step_values(trace: Trace, layer: int, direction: int, t: int) -> dict[str, np.ndarray]:
    """The twelve columns of one step, (H,) each, straight from the engine.

    For a projected LSTM the h column holds h_cell (see `per_unit`).
    """
    if not 0 <= t < trace.T:
        raise IndexError(f"step {t} is outside the trace (0..{trace.T - 1})")
    projected = is_projected(trace)
    names = _per_unit_names(projected)
    got = trace.windows([per_unit(q, projected) for q in names], layer, direction, t, t + 1)
    out = {q: got[per_unit(q, projected)][0] for q in names}
    return _fill_not_per_unit(out, trace.hidden_size)


def _per_unit_names(projected: bool) -> tuple[str, ...]:
    """The columns with one value per unit for this kind of LSTM."""
    if not projected:
        return COLUMNS
    return tuple(q for q in COLUMNS if q not in NOT_PER_UNIT_WHEN_PROJECTED)


def _fill_not_per_unit(values: dict[str, np.ndarray], hidden: int) -> dict[str, np.ndarray]:
    """Every column present, in COLUMNS order: NaN where a projected LSTM has no per-unit value."""
    like = values["c"]
    return {q: values[q] if q in values else np.full(hidden, np.nan, like.dtype)
            for q in COLUMNS}  # fmt: skip


def sort_order(values: dict[str, np.ndarray], sort: str, descending: bool = True,
               by_size: bool = False) -> np.ndarray:  # fmt: skip
    """Display order: unit index, gates by value, signed columns (every column `by_size`,
    as differences are) by size |x|.

    Descending lists the most open gates / largest changes first; ascending
    lists the units a gate shut (f ≈ 0) or a step left alone first. A stable
    sort, so ties keep unit order and the table does not shuffle units whose
    values are equal. NaNs go last either way.
    """
    n = len(values["c"])
    if sort == "unit":
        return np.arange(n) if descending else np.arange(n)[::-1].copy()
    col = values[sort]
    key = col if is_gate(sort) and not by_size else np.abs(col)
    key = np.where(np.isnan(key), np.inf, -key if descending else key)
    return np.argsort(key, kind="stable")


def _peak(trace: Trace, name: str, layer: int, direction: int) -> tuple[float, float]:
    """(largest |value|, smallest value) of a quantity's finite values over the whole
    sequence, (0, 0) when it has none: from the trace's statistics (`Trace.extent`,
    saved in a trace file), not a pass over the steps."""
    lo, hi = trace.extent(name, layer, direction)
    if math.isnan(lo):
        return 0.0, 0.0
    return max(abs(lo), abs(hi)), lo


def scales(trace: Trace, layer: int, direction: int) -> dict[str, float]:
    """Colour scale per column for one (layer, direction), fixed over the whole sequence.

    Scales come from the recorded c and h (their largest finite |value|), so a
    colour means the same size at every step and a unit visibly grows as it
    accumulates memory. Quantities in "cell units" (c, c_{t-1}, kept,
    forgotten, Δc) share c's scale; the other effects and states (g, i·g,
    tanh c) are bounded by 1 for the standard activations, as the gates are.
    """
    c_scale = _peak(trace, "c", layer, direction)[0] or 1.0
    h_scale = 1.0 if is_projected(trace) else _peak(trace, "h", layer, direction)[0] or 1.0
    cell_units = {"c_prev", "kept", "forgotten", "c", "delta_c"}
    out = {q: c_scale if q in cell_units else 1.0 for q in COLUMNS}
    out["h"] = out["h_prev"] = max(h_scale, 1e-12)  # h_{t-1} is h one step earlier
    return out


def _text_width(bound: float, gate: bool) -> int:
    if not np.isfinite(bound):
        return 4
    if gate and bound <= 1.0:
        return 4  # 0.00 .. 1.00
    return len(f"{-bound:+.2f}")


def number_widths(trace: Trace, layer: int, direction: int) -> dict[str, int]:
    """Characters each table column needs to print its values with two decimals,
    over the whole sequence of one (layer, direction), so columns never jitter
    while stepping.

    From the finite range of each quantity (`Trace.extent`: measured once, or
    read from the trace file), so a layer or direction switch costs no pass over
    the steps; nan and ±inf print as "nan" and "+inf", which always fit.
    """
    projected = is_projected(trace)
    shown = _per_unit_names(projected)
    out = {}
    for q in COLUMNS:  # a column a projected LSTM has no per-unit value for prints "nan"
        peak, low = _peak(trace, per_unit(q, projected), layer, direction) if q in shown else (0, 0)
        out[q] = _text_width(peak, is_gate(q) and low >= 0)
    return out


def measure(trace: Trace, where: tuple[tuple[int, int], ...] | None = None) -> None:
    """Measure the whole-sequence statistics the table's widths and colours read
    (`Trace.extent` of every column) for some (layer, direction)s, all by default.

    A trace read from a file has them already; one recorded just now is
    measured here, a pass over its steps, which the loading worker makes
    (and debug() before the screen opens) rather than the UI thread at first
    paint or at a layer or direction switch.
    """
    projected = is_projected(trace)
    if where is None:
        where = tuple((layer, d) for layer in range(trace.num_layers)
                      for d in range(trace.num_directions))  # fmt: skip
    for layer, direction in where:
        for q in _per_unit_names(projected):
            trace.extent(per_unit(q, projected), layer, direction)


def window(trace: Trace, name: str, layer: int, direction: int, t0: int, t1: int,
           units: np.ndarray | slice) -> np.ndarray:  # fmt: skip
    """One column's quantity for some units over steps [t0, t1): (units, t1 - t0).

    The engine computes only the window, a block of steps at a time, keeping
    only the units asked for: the overview's heatmap of Δc over 100,000 steps
    holds the rows on screen, never a whole derived (T, H) array.
    """
    name = per_unit(name, is_projected(trace))
    rows = max(1, WINDOW_BLOCK // max(trace.hidden_size, 1))
    parts = [np.asarray(trace.window(name, layer, direction, a, min(a + rows, t1)))[:, units]
             for a in range(t0, t1, rows) or (t0,)]  # fmt: skip
    return (parts[0] if len(parts) == 1 else np.concatenate(parts)).T


#: Elements of a quantity computed at a time by `window` (a few MB of temporaries).
WINDOW_BLOCK = 1 << 20


#: The sparklines of the unit history, top to bottom.
SERIES = ("c", "h", "f", "i", "o", "g")
#: Those drawn on a scale of the unit's own largest |value| (the gates' is 0–1).
SIGNED_SERIES = ("c", "h", "g")


def unit_series(trace: Trace, layer: int, direction: int, unit: int) -> dict[str, np.ndarray]:
    """The selected unit over the whole sequence, for the history sparklines."""
    # float64 once here, as the sparklines draw it, rather than a conversion at every step
    return {q: np.ascontiguousarray(window(trace, q, layer, direction, 0, trace.T, [unit])[0],
                                    dtype=np.float64) for q in SERIES}  # fmt: skip


def unit_extents(trace: Trace, layer: int, direction: int) -> dict[str, np.ndarray]:
    """Every unit's largest finite |value| over the whole sequence, per signed series of the
    history (0 where it has none): one pass over the steps in order, in blocks.

    One unit's whole series is a page of memory per step (25 ms for the six
    series at T = 100,000, H = 1,024); with these, a unit change reads only the
    steps the history draws, and its scales are `unit_scales`.
    """
    rows = max(1, WINDOW_BLOCK // max(trace.hidden_size, 1))
    out = {}
    for q in SIGNED_SERIES:
        m = np.zeros(trace.hidden_size)
        for a in range(0, trace.T, rows):
            part = np.abs(window(trace, q, layer, direction, a, min(a + rows, trace.T),
                                 slice(None)))  # fmt: skip
            part[~np.isfinite(part)] = 0
            np.maximum(m, part.max(axis=1, initial=0), out=m)
        out[q] = m
    return out


def unit_scales(extents: dict[str, np.ndarray], unit: int) -> dict[str, tuple[float, float, float]]:
    """The history's scales for one unit from `unit_extents`: what `series_scales` makes of
    the unit's whole series ([0, 1] for the gates, ±m else, 1 where m is 0)."""
    out = {}
    for q in SERIES:
        m = float(extents[q][unit]) if q in SIGNED_SERIES else 0.0
        out[q] = (-(m or 1.0), m or 1.0, 0.0) if q in SIGNED_SERIES else (0.0, 1.0, 0.5)
    return out


class _LRU(OrderedDict):
    """At most `size` entries, the least recently used dropped first."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def get_or(self, key, make):
        if key in self:
            self.move_to_end(key)
            return self[key]
        value = self[key] = make()
        if len(self) > self.size:
            self.popitem(last=False)
        return value


_serials = itertools.count(1)


class TraceData:
    """One trace's numbers for the panels, cached by value and bounded.

    One TraceData per trace on screen; a new trace (an edit, another example)
    gets a new one, and the old caches go with the old object. Keys are plain
    values (layer, direction, t, sort, ...), never `id()`, and every cache has a
    size limit, so holding an arrow key over a long trace cannot grow them.
    `serial` names this trace's data for the widgets' frame caches: unlike an
    `id()`, it is never reused by a later trace.
    """

    #: Do the table and heatmap show differences from another trace (whatif.DifferenceData)?
    difference: bool = False
    #: Steps × units above which the retention column is measured off the UI thread: a
    #: half-life is a mean over every step (lstm_engine.half_life reads all of f), and a
    #: long trace's first paint and layer or direction switch must not wait for it.
    BACKGROUND = 1 << 22

    def __init__(self, trace: Trace, steps: int = 64, series: int = 8) -> None:
        self.trace = trace
        self.serial = next(_serials)
        self.projected = is_projected(trace)
        self._columns = _LRU(steps)
        self._series = _LRU(series)
        # one entry per (layer, direction) of this trace at most
        self._scales: dict[tuple[int, int], dict[str, float]] = {}
        self._widths: dict[tuple[int, int], dict[str, int]] = {}
        self._half: dict[tuple[int, int], np.ndarray] = {}
        self._unit_extents: dict[tuple[int, int], dict[str, np.ndarray]] = {}
        self._wanted: set[tuple[int, int]] = set()
        self._taken: set[tuple[int, int]] = set()
        """Handed out by take_wanted and not measured yet: not handed out again."""

    def half_lives(self, layer: int, direction: int) -> np.ndarray:
        """The retention column of one (layer, direction): the engine's half-life per unit.

        For a trace longer than BACKGROUND it is nan (pending) until `measure_half_lives`
        has run; the (layer, direction) is then in `take_wanted()`, for the view to measure
        off the UI thread and show when done.
        """
        key = (layer, direction)
        got = self._half.get(key)
        if got is None:
            if self.trace.T * self.trace.hidden_size > self.BACKGROUND:
                self._wanted.add(key)
                return np.full(self.trace.hidden_size, np.nan)
            got = self._half[key] = half_life(self.trace, layer, direction)
        return got

    def unit_extents(self, layer: int, direction: int) -> dict[str, np.ndarray] | None:
        """`unit_extents` of one (layer, direction) of a trace longer than BACKGROUND, or None:
        for a shorter trace (a unit's whole series is cheap to read), and while a long one's
        are pending (measured off the UI thread with the half-lives, `take_wanted`)."""
        key = (layer, direction)
        got = self._unit_extents.get(key)
        if got is None and self.trace.T * self.trace.hidden_size > self.BACKGROUND:
            self._wanted.add(key)
        return got

    def unit_window(self, layer: int, direction: int, unit: int, t0: int,
                    t1: int) -> dict[str, np.ndarray]:  # fmt: skip
        """The history's series of one unit over steps [t0, t1), as float64."""
        return {q: np.asarray(window(self.trace, q, layer, direction, t0, t1, [unit])[0],
                              dtype=np.float64) for q in SERIES}  # fmt: skip

    def take_wanted(self) -> set[tuple[int, int]]:
        """The (layer, direction)s whose half-lives or unit extents were asked for and are
        pending (once each)."""
        wanted = {key for key in self._wanted - self._taken
                  if key not in self._half or key not in self._unit_extents}  # fmt: skip
        self._wanted = set()
        self._taken |= wanted
        return wanted

    def measure_half_lives(self, layer: int, direction: int) -> None:
        """Measure a pending retention column and the history's unit extents (from any
        thread; `forget_columns` after it)."""
        key = (layer, direction)
        try:
            if key not in self._half:
                self._half[key] = half_life(self.trace, layer, direction)
            if key not in self._unit_extents:
                self._unit_extents[key] = unit_extents(self.trace, layer, direction)
        finally:
            self._taken.discard(key)

    def forget_columns(self) -> None:
        """Drop the cached tables, e.g. once a pending retention column has been measured."""
        self._columns.clear()

    def scales(self, layer: int, direction: int) -> dict[str, float]:
        key = (layer, direction)
        if key not in self._scales:
            self._scales[key] = scales(self.trace, layer, direction)
        return self._scales[key]

    def number_widths(self, layer: int, direction: int) -> dict[str, int]:
        key = (layer, direction)
        if key not in self._widths:
            self._widths[key] = number_widths(self.trace, layer, direction)
        return self._widths[key]

    def columns(self, layer: int, direction: int, t: int, sort: str,
                descending: bool = True) -> StepColumns:  # fmt: skip
        """The unit table at one step, sorted; stepping back is a lookup."""

        def make() -> StepColumns:
            values = self.step_values(layer, direction, t)
            half = values["half_life"] = self.half_lives(layer, direction)
            finite = half[np.isfinite(half)]
            peak = float(finite.max()) if finite.size else 1.0
            order = sort_order(values, sort, descending, by_size=self.difference)
            return StepColumns(
                layer, direction, t, values, order, sort, projected=self.projected,
                scales={**self.scales(layer, direction), "half_life": max(peak, 1e-12)},
                descending=descending,
                widths={**self.number_widths(layer, direction),
                        "half_life": min(_text_width(peak, True), 6)},
                reverse=self.trace.reads_reversed(direction), difference=self.difference,
            )  # fmt: skip

        return self._columns.get_or((layer, direction, t, sort, descending), make)

    def step_values(self, layer: int, direction: int, t: int) -> dict[str, np.ndarray]:
        """The table's columns at one step (what `columns` sorts and caches)."""
        return step_values(self.trace, layer, direction, t)

    def window(self, name: str, layer: int, direction: int, t0: int, t1: int,
               units: np.ndarray | slice) -> np.ndarray:  # fmt: skip
        return window(self.trace, name, layer, direction, t0, t1, units)

    def unit_series(self, layer: int, direction: int, unit: int) -> dict[str, np.ndarray]:
        return self._series.get_or(
            (layer, direction, unit), lambda: unit_series(self.trace, layer, direction, unit)
        )
