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
COLUMN_LABELS = {
    "f": "f", "i": "i", "g": "g", "o": "o",
    "c_prev": "c_t-1", "kept": "kept", "forgotten": "forgt", "written": "i·g",
    "c": "c_t", "delta_c": "Δc", "tanh_c": "tanh", "h": "h_t",
}  # fmt: skip

#: What `s` cycles through: natural unit order, then "which units changed most", then each column.
SORTS = ("unit", "delta_c", *[q for q in COLUMNS if q != "delta_c"])

#: What `v` cycles through in the heatmap.
HEATMAP_QUANTITIES = ("c", "h", "f", "i", "o", "delta_c")


def sort_label(key: str) -> str:
    if key == "unit":
        return "unit #"
    label = COLUMN_LABELS[key]
    return f"{label} ↓" if key in GATE_COLUMNS else f"|{label}| ↓"


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


def sort_order(values: dict[str, np.ndarray], sort: str) -> np.ndarray:
    """Display order: unit index, gates high-to-low, signed columns by size high-to-low.

    A stable sort, so ties keep unit order and the table does not shuffle
    units whose values are equal.
    """
    n = len(values["c"])
    if sort == "unit":
        return np.arange(n)
    col = values[sort]
    key = col if sort in GATE_COLUMNS else np.abs(col)
    return np.argsort(-key, kind="stable")


class StepCache:
    """A small LRU of StepColumns, so stepping back is a lookup too."""

    def __init__(self, size: int = 64):
        self._size = size
        self._cache: OrderedDict[tuple, StepColumns] = OrderedDict()

    def get(self, trace: Trace, layer: int, direction: int, t: int, sort: str) -> StepColumns:
        key = (id(trace), layer, direction, t, sort)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        values = step_values(trace, layer, direction, t)
        cols = StepColumns(
            layer, direction, t, values, sort_order(values, sort), sort,
            projected=trace.out_size != trace.hidden_size,
            scales=scales(trace, layer, direction),
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
