"""Per-step numbers for the screen, computed once and cached.

Holding an arrow key asks for the same handful of things at every step: the
twelve columns of one (layer, direction, t), their order under the current
sort, a window of the heatmap, and colour scales that must not jump from step
to step. Everything here is pure numpy over a Trace, so it is cheap to test
and the widgets only format what they are given.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from lstm_engine import QUANTITIES, Trace

#: Columns of the unit table, in the order of the pointwise story.
COLUMNS = QUANTITIES

#: Gates live in [0, 1] (for the standard sigmoid); everything else is signed.
GATE_COLUMNS = frozenset({"f", "i", "o"})

#: Header labels, as in the equations; at most 5 characters so 80 columns hold them all.
#: The notation is the same everywhere on screen: c_t, c_t-1, h_t-1, x_t (and c_t+1,
#: h_t+1 for the reverse direction, whose previous step is t + 1).
COLUMN_LABELS = {
    "f": "f", "i": "i", "g": "g", "o": "o",
    "c_prev": "c_t-1", "kept": "kept", "forgotten": "forgt", "written": "i·g",
    "c": "c_t", "delta_c": "Δc", "tanh_c": "tanh", "h": "h_t",
}  # fmt: skip

#: What `s` cycles through: natural unit order, then "which units changed most", then each column.
SORTS = ("unit", "delta_c", *[q for q in COLUMNS if q != "delta_c"])

#: What `v` cycles through in the heatmap.
HEATMAP_QUANTITIES = ("c", "h", "f", "i", "o", "delta_c")


def prev_step(direction: int) -> str:
    """The subscript of the step a direction reads its state from: t-1, or t+1 in reverse."""
    return "t+1" if direction == 1 else "t-1"


def column_label(key: str, direction: int = 0) -> str:
    """A column's header label; the previous-state column says t+1 in the reverse direction."""
    if key == "c_prev":
        return f"c_{prev_step(direction)}"
    return COLUMN_LABELS[key]


def sort_label(key: str, direction: int = 0, descending: bool = True) -> str:
    """The sort as the table's subtitle says it: gates by value, signed columns by size |x|."""
    arrow = "↓" if descending else "↑"
    if key == "unit":
        return f"unit # {arrow}"
    label = column_label(key, direction)
    return f"{label} {arrow}" if key in GATE_COLUMNS else f"|{label}| {arrow}"


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

    @property
    def H(self) -> int:
        return len(self.order)

    def row_of(self, unit: int) -> int:
        """Where unit sits in the display order."""
        hits = np.flatnonzero(self.order == unit)
        return int(hits[0]) if len(hits) else 0


def step_values(trace: Trace, layer: int, direction: int, t: int) -> dict[str, np.ndarray]:
    """The twelve quantities of one step, (H,) each, straight from the engine.

    For a projected LSTM, h has proj_size entries and no per-unit meaning; the
    table then shows o ⊙ tanh(c_t), the unit's own output before projection.
    """
    out = {q: trace.value(q, layer, direction, t) for q in COLUMNS if q != "h"}
    if trace.out_size != trace.hidden_size:
        out["h"] = out["o"] * out["tanh_c"]
    else:
        out["h"] = trace.value("h", layer, direction, t)
    return out


def sort_order(values: dict[str, np.ndarray], sort: str, descending: bool = True) -> np.ndarray:
    """Display order: unit index, gates by value, signed columns by size |x|.

    Descending lists the most open gates / largest changes first; ascending
    lists the units a gate shut (f ≈ 0) or a step left alone first. A stable
    sort, so ties keep unit order and the table does not shuffle units whose
    values are equal. NaNs go last either way.
    """
    n = len(values["c"])
    if sort == "unit":
        return np.arange(n) if descending else np.arange(n)[::-1].copy()
    col = values[sort]
    key = col if sort in GATE_COLUMNS else np.abs(col)
    key = np.where(np.isnan(key), np.inf, -key if descending else key)
    return np.argsort(key, kind="stable")


class StepCache:
    """A small LRU of StepColumns, so stepping back is a lookup too."""

    def __init__(self, size: int = 64):
        self._size = size
        self._cache: OrderedDict[tuple, StepColumns] = OrderedDict()

    def get(self, trace: Trace, layer: int, direction: int, t: int, sort: str,
            descending: bool = True) -> StepColumns:  # fmt: skip
        key = (id(trace), layer, direction, t, sort, descending)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        values = step_values(trace, layer, direction, t)
        cols = StepColumns(
            layer, direction, t, values, sort_order(values, sort, descending), sort,
            projected=trace.out_size != trace.hidden_size,
            scales=scales(trace, layer, direction), descending=descending,
            widths=number_widths(trace, layer, direction),
        )  # fmt: skip
        self._cache[key] = cols
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)
        return cols

    def clear(self) -> None:
        self._cache.clear()


@lru_cache(maxsize=32)
def _abs_max(trace: Trace, name: str, layer: int, direction: int) -> float:
    arr = getattr(trace, name)[layer, direction]
    m = float(np.nanmax(np.abs(arr))) if arr.size else 0.0
    return m if np.isfinite(m) and m > 0 else 1.0


def scales(trace: Trace, layer: int, direction: int) -> dict[str, float]:
    """Colour scale per column for one (layer, direction), fixed over the whole sequence.

    Scales come from the recorded c and h, so a colour means the same size at
    every step and a unit visibly grows as it accumulates memory. Quantities in
    "cell units" (c, c_{t-1}, kept, forgotten, Δc) share c's scale.
    """
    c_scale = _abs_max(trace, "c", layer, direction)
    h_scale = 1.0 if trace.out_size != trace.hidden_size else _abs_max(trace, "h", layer, direction)
    return {
        "f": 1.0, "i": 1.0, "o": 1.0, "g": 1.0, "written": 1.0, "tanh_c": 1.0,
        "c_prev": c_scale, "kept": c_scale, "forgotten": c_scale, "c": c_scale,
        "delta_c": c_scale, "h": max(h_scale, 1e-12),
    }  # fmt: skip


def _text_width(bound: float, gate: bool) -> int:
    if not np.isfinite(bound):
        return 4
    if gate and bound <= 1.0:
        return 4  # 0.00 .. 1.00
    return len(f"{-bound:+.2f}")


@lru_cache(maxsize=32)
def number_widths(trace: Trace, layer: int, direction: int) -> dict[str, int]:
    """Characters each table column needs to print its values with two decimals,
    over the whole sequence of one (layer, direction), so columns never jitter
    while stepping.

    Exact maxima, computed a block of steps at a time so a long trace never
    materialises a whole derived array; once per (layer, direction).
    """
    T = trace.T
    peak = dict.fromkeys(COLUMNS, 0.0)
    low = dict.fromkeys(GATE_COLUMNS, 0.0)
    block = max(1, (1 << 20) // max(trace.hidden_size, 1))
    for t0 in range(0, T, block):
        t1 = min(T, t0 + block)
        f = np.asarray(trace.f[layer, direction, t0:t1])
        i = np.asarray(trace.i[layer, direction, t0:t1])
        g = np.asarray(trace.g[layer, direction, t0:t1])
        o = np.asarray(trace.o[layer, direction, t0:t1])
        c = np.asarray(trace.c[layer, direction, t0:t1])
        prev = _prev_block(trace, layer, direction, t0, t1)
        tc = trace.spec.activations.c if trace.spec is not None else np.tanh
        tanh_c = tc(c)
        if trace.out_size == trace.hidden_size:
            h = np.asarray(trace.h[layer, direction, t0:t1])
        else:
            h = o * tanh_c
        cols = {
            "f": f, "i": i, "g": g, "o": o, "c_prev": prev, "kept": f * prev,
            "forgotten": (1 - f) * prev, "written": i * g, "c": c, "delta_c": c - prev,
            "tanh_c": tanh_c, "h": h,
        }  # fmt: skip
        with np.errstate(invalid="ignore", over="ignore"):
            for q, a in cols.items():
                finite = a[~np.isnan(a)]  # NaNs print as "nan", which always fits
                if finite.size:
                    peak[q] = max(peak[q], float(np.abs(finite).max()))
                    if q in low:
                        low[q] = min(low[q], float(finite.min()))
    return {q: _text_width(peak[q], q in GATE_COLUMNS and low[q] >= 0) for q in COLUMNS}


def window(trace: Trace, name: str, layer: int, direction: int, t0: int, t1: int,
           units: np.ndarray | slice) -> np.ndarray:  # fmt: skip
    """One quantity for some units over steps [t0, t1): (units, t1 - t0).

    Only the window is computed, so a heatmap of Δc over a 5000-step,
    1024-unit trace never materialises the whole derived array.
    """
    c = trace.c[layer, direction]
    if name in ("i", "f", "g", "o", "c"):
        block = getattr(trace, name)[layer, direction, t0:t1]
    elif name == "h" and trace.out_size == trace.hidden_size:
        block = trace.h[layer, direction, t0:t1]
    elif name == "h":
        tc = trace.spec.activations.c if trace.spec is not None else np.tanh
        block = trace.o[layer, direction, t0:t1] * tc(c[t0:t1])
    elif name == "delta_c":
        block = c[t0:t1] - _prev_block(trace, layer, direction, t0, t1)
    else:
        raise KeyError(name)
    return np.asarray(block)[:, units].T


def _prev_block(trace: Trace, layer: int, direction: int, t0: int, t1: int) -> np.ndarray:
    c = trace.c[layer, direction]
    c0 = trace.c0[layer, direction]
    if direction == 0:
        head = c0[None] if t0 == 0 else c[t0 - 1 : t0]
        return np.concatenate([head, c[t0 : t1 - 1]]) if t1 > t0 else c[t0:t0]
    tail = c0[None] if t1 >= trace.T else c[t1 : t1 + 1]
    return np.concatenate([c[t0 + 1 : t1], tail]) if t1 > t0 else c[t0:t0]


def unit_series(trace: Trace, layer: int, direction: int, unit: int) -> dict[str, np.ndarray]:
    """The selected unit over the whole sequence, for the history sparklines."""
    series = {q: np.ascontiguousarray(window(trace, q, layer, direction, 0, trace.T, [unit])[0])
              for q in ("c", "h", "f", "i", "o")}  # fmt: skip
    series["g"] = np.ascontiguousarray(trace.g[layer, direction, :, unit])
    return series
