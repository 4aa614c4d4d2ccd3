"""Cell-state provenance and retention: who wrote what a unit holds now, and how long it lasts.

Because c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t, the cell state at t is exactly a sum of
what each earlier step wrote, each decayed by the forget gates since:

    c_t[j] = (Π_{r=1..t} f_r[j]) · c_0[j] + Σ_{s=1..t} (Π_{r=s+1..t} f_r[j]) · i_s[j] g_s[j]

with steps counted in the direction's reading order (right to left for a
reverse direction). The identity needs only the recorded gates, so it holds for
peephole cells, for `input_forget` (f = 1 − i is what was recorded) and for ONNX's
`clip`, which the engine's cell applies to the gate pre-activations, never to c
(core/cell.py). What breaks it is an edit that sets c itself (SetState, Ablate):
there the recorded c is not f ⊙ c_prev + i ⊙ g, and `residual` says by how much
instead of the sum claiming exactness.

The decay factors are suffix products of f computed by a running product (no log),
so an f of exactly 0 gives a factor of exactly 0 for everything written before it.
One unit costs O(T), every unit O(T·H); the arithmetic is float64 whatever the trace's
dtype, so the only rounding left is the recording's own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .quantities import evaluate_many
from .trace import Trace, step_index


@dataclass(frozen=True, eq=False)
class Provenance:
    """Where the cell state of one layer and direction at position `t` came from.

    `positions` are the sequence positions the direction had read by t, in its reading
    order (0..t left to right; T−1 down to t right to left); `contributions[..., k]` is
    what position `positions[k]` wrote that still survives at t, (Π f since) · i·g.
    `initial` is the initial state's surviving part, (Π f over all of them) · c_0.
    `c` is the recorded c_t and `residual` = c − (initial + Σ contributions): rounding
    (about 1e-7 relative in float32) unless an edit set c on the way. Arrays are (n,) for
    every unit of a query or () for one unit, with a trailing step axis for contributions.
    """

    layer: int
    direction: int
    t: int
    units: np.ndarray | int
    positions: np.ndarray  # (n_read,)
    contributions: np.ndarray  # ([H,] n_read) float64
    initial: np.ndarray | float
    c: np.ndarray | float
    residual: np.ndarray | float

    @property
    def steps(self) -> np.ndarray:
        """`positions` as the steps a user sees (1..T)."""
        return self.positions + 1

    @property
    def largest(self) -> np.ndarray | int:
        """The index into `positions` of the largest |contribution| (per unit)."""
        return np.abs(self.contributions).argmax(axis=-1)


def _check(trace: Trace, layer: int, direction: int, t: int) -> tuple[int, int, int]:
    layer, direction, t = step_index(layer), step_index(direction), step_index(t)
    if not 0 <= layer < trace.num_layers:
        raise InputError(f"layer index {layer} is outside 0..{trace.num_layers - 1}")
    if not 0 <= direction < trace.num_directions:
        raise InputError(f"direction index {direction} is outside 0..{trace.num_directions - 1}")
    if not 0 <= t < trace.T:
        raise InputError(f"position {t} is outside the trace (0..{trace.T - 1})")
    return layer, direction, t


def read_positions(trace: Trace, direction: int, t: int) -> np.ndarray:
    """The positions a direction has read by position t, in its reading order."""
    if trace.reads_reversed(direction):
        return np.arange(trace.T - 1, t - 1, -1)
    return np.arange(0, t + 1)


def provenance(
    trace: Trace, layer: int, direction: int, t: int, unit: int | None = None
) -> Provenance:
    """The decomposition of c_t (position t) into the initial state and each read step's write.

    `unit` None decomposes every unit at once (contributions (H, n_read)). The gates and the
    writes come from the trace's quantity registry (f, written, c), never re-derived here.
    """
    layer, direction, t = _check(trace, layer, direction, t)
    H = trace.hidden_size
    if unit is not None:
        unit = step_index(unit)
        if not 0 <= unit < H:
            raise InputError(f"unit {unit} is outside 0..{H - 1}")
    cols = slice(None) if unit is None else slice(unit, unit + 1)
    pos = read_positions(trace, direction, t)
    lo, hi = int(pos.min()), int(pos.max()) + 1
    # f and written from the registry, over only the queried units' columns: O(T) for one
    def stored(name: str) -> np.ndarray:
        return getattr(trace, name)[layer, direction, lo:hi, cols]

    w = evaluate_many(("f", "written"), stored, trace.output_activation(layer, direction))
    order = slice(None) if not trace.reads_reversed(direction) else slice(None, None, -1)
    f = w["f"][order].astype(np.float64)  # (n, h) in reading order
    written = w["written"][order].astype(np.float64)
    since = _since(f)  # (n + 1, h): [0] for c_0, [s + 1] for what step s wrote
    contributions = (since[1:] * written).T  # (h, n)
    c0 = trace.c0[layer, direction, cols].astype(np.float64)
    initial = since[0] * c0
    c = trace.c[layer, direction, t, cols].astype(np.float64)
    residual = c - (initial + contributions.sum(axis=1))
    if unit is not None:
        return Provenance(layer, direction, t, unit, pos, contributions[0], float(initial[0]),
                          float(c[0]), float(residual[0]))  # fmt: skip
    return Provenance(layer, direction, t, np.arange(H), pos, contributions, initial, c, residual)


def _since(f: np.ndarray) -> np.ndarray:
    """(n + 1, h) decay factors for gates f (n, h) in reading order: row 0 is Π f[0..n−1]
    (what survives of c_0), row s + 1 is Π f[s+1..n−1] (what survives of step s's write;
    the last row is 1, an empty product). A running product from the end, so an exact 0
    in f makes every earlier factor exactly 0 and no logarithm is taken."""
    n = f.shape[0]
    out = np.empty((n + 1,) + f.shape[1:], np.float64)
    out[n] = 1.0
    if n:
        out[:n] = np.cumprod(f[::-1], axis=0)[::-1]  # out[j] = Π f[j..n−1]
    return out


def retention(trace: Trace, layer: int, direction: int, t0: int, t1: int) -> np.ndarray:
    """Π f over positions [t0, t1) per unit (H,): the share of c_{before t0} still held after
    the span, in whichever order the direction reads it (a product does not care)."""
    layer, direction, _ = _check(trace, layer, direction, 0)
    t0, t1 = step_index(t0), step_index(t1)
    if not 0 <= t0 <= t1 <= trace.T:
        raise InputError(f"span {t0}..{t1} is outside the trace (0..{trace.T})")
    f = trace.window("f", layer, direction, t0, t1).astype(np.float64)
    return np.prod(f, axis=0)


def half_life(trace: Trace, layer: int, direction: int) -> np.ndarray:
    """Per unit (H,): the steps until half of what is written now is forgotten, for a unit
    whose forget gate were always its geometric mean over the sequence:
    ln ½ / mean(ln f). An f of 0 anywhere makes it 0 (that step erases everything), an f of
    1 throughout makes it inf (nothing is ever forgotten)."""
    layer, direction, _ = _check(trace, layer, direction, 0)
    f = trace.series("f", layer, direction).astype(np.float64)
    with np.errstate(divide="ignore"):
        mean_log = np.log(f).mean(axis=0)  # −inf where some f is 0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(mean_log < 0, np.log(0.5) / np.where(mean_log < 0, mean_log, -1.0), np.inf)
    return np.where(np.isneginf(mean_log), 0.0, out)


def steps_to_half(trace: Trace, layer: int, direction: int, t: int) -> np.ndarray:
    """Per unit (H,): how many steps after position t (in reading order) the running product
    of f first drops to ½ or below, as the recorded gates have it: what position t wrote is
    then half forgotten. −1 where it never does within the sequence."""
    layer, direction, t = _check(trace, layer, direction, t)
    if trace.reads_reversed(direction):
        f = trace.window("f", layer, direction, 0, t)[::-1]
    else:
        f = trace.window("f", layer, direction, t + 1, trace.T)
    if f.shape[0] == 0:
        return np.full(trace.hidden_size, -1)
    run = np.cumprod(f.astype(np.float64), axis=0) <= 0.5  # (n, H)
    hit = run.any(axis=0)
    return np.where(hit, run.argmax(axis=0) + 1, -1)
