"""Which units matter, from the trace alone: saturation, variance, change, retention, correlation.

Per unit of every layer and direction over the whole sequence:

- the fractions of steps each gate (i, f, o) is left-saturated (< 0.1) and
  right-saturated (> 0.9), as Karpathy, Johnson and Fei-Fei (2015, "Visualizing
  and understanding recurrent networks") plot them: a gate that is always
  right-saturated is a switch held open, one that is never saturated is a
  soft, input-dependent gate;
- the variance of c and of o ⊙ tanh(c) (h before any projection, one value per unit),
  the mean |Δc| (how much the unit's memory moves per step) and the half-life of what it
  writes (core/provenance.py);
- the point-biserial correlation of a quantity with a binary event (a token, a label).

Every quantity comes from the registry through `Trace.series`; nothing here re-derives
a formula. The model-level rankings (contribution to the output) are in
lstm_engine/attribution.py, which needs the head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import InputError
from .provenance import half_life
from .trace import Trace

#: Below this a gate is left-saturated (shut), above 1 − it right-saturated (open).
SATURATION = 0.1
#: The gates whose saturation is counted (g is a candidate value, not a gate).
SATURATED_GATES = ("i", "f", "o")
#: Every per-unit number `unit_stats` gives, in the order the CLI prints them.
STAT_KEYS = (
    "i_left", "i_right", "f_left", "f_right", "o_left", "o_right",
    "var_c", "var_h", "mean_abs_delta", "half_life", "saturation",
)  # fmt: skip
#: The keys a ranking may sort by without further input, and whether larger ranks first.
RANK_KEYS = {k: True for k in STAT_KEYS}


@dataclass(frozen=True, eq=False)
class UnitStats:
    """Per-unit statistics of one trace: `values[key]` is (L, D, H) for every key of STAT_KEYS.

    `saturation` is the mean over i, f and o of the fraction of steps saturated either
    way. Directions are indexed as in the trace; `reads_reversed[d]` says which read
    right to left.
    """

    values: dict
    reads_reversed: tuple[bool, ...]

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.values["var_c"].shape

    def rows(self) -> list[dict]:
        """One dict per unit: layer (from 1, as on screen), direction ("fwd"/"rev"), unit and
        every statistic as a Python float, layer by layer, direction by direction."""
        L, D, H = self.shape
        out = []
        for layer in range(L):
            for d in range(D):
                name = "rev" if self.reads_reversed[d] else "fwd"
                for u in range(H):
                    row = {"layer": layer + 1, "direction": name, "unit": u}
                    row.update({k: float(self.values[k][layer, d, u]) for k in STAT_KEYS})
                    out.append(row)
        return out


def saturation_fractions(gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) fractions over the step axis (axis −2) of a gate series (…, T, H)."""
    T = gate.shape[-2]
    left = np.count_nonzero(gate < SATURATION, axis=-2) / T
    right = np.count_nonzero(gate > 1.0 - SATURATION, axis=-2) / T
    return left, right


def unit_stats(trace: Trace) -> UnitStats:
    """Every statistic of STAT_KEYS for every unit of every layer and direction."""
    L, D, H = trace.num_layers, trace.num_directions, trace.hidden_size
    values = {k: np.empty((L, D, H), np.float64) for k in STAT_KEYS}
    for layer in range(L):
        for d in range(D):
            for g in SATURATED_GATES:
                left, right = saturation_fractions(getattr(trace, g)[layer, d])
                values[f"{g}_left"][layer, d] = left
                values[f"{g}_right"][layer, d] = right
            w = trace.windows(("c", "h_cell", "delta_c"), layer, d, 0, trace.T)
            values["var_c"][layer, d] = w["c"].var(axis=0, dtype=np.float64)
            values["var_h"][layer, d] = w["h_cell"].var(axis=0, dtype=np.float64)
            values["mean_abs_delta"][layer, d] = np.abs(w["delta_c"]).mean(axis=0, dtype=np.float64)
            values["half_life"][layer, d] = half_life(trace, layer, d)
    values["saturation"] = sum(values[f"{g}_left"] + values[f"{g}_right"]
                               for g in SATURATED_GATES) / len(SATURATED_GATES)  # fmt: skip
    reads = tuple(trace.reads_reversed(d) for d in range(D))
    return UnitStats(values=values, reads_reversed=reads)


def point_biserial(series: np.ndarray, event: np.ndarray) -> np.ndarray:
    """The point-biserial correlation of each unit's series (T, H) with a boolean event (T,):
    (m₁ − m₀)/s · √(p(1 − p)), s the population standard deviation, which is Pearson's r
    against the 0/1 indicator. 0 where the unit is constant; an InputError when the event
    never or always happens (there is nothing to correlate with)."""
    event = np.asarray(event, bool)
    if event.shape != series.shape[:1]:
        raise InputError(f"the event has {event.shape[0]} steps, the series {series.shape[0]}")
    p = event.mean()
    if p == 0 or p == 1:
        raise InputError("the event happens at " + ("no" if p == 0 else "every") + " step: "
                         "a correlation needs steps with and without it")  # fmt: skip
    x = series.astype(np.float64)
    s = x.std(axis=0)
    diff = x[event].mean(axis=0) - x[~event].mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(s > 0, diff / np.where(s > 0, s, 1.0) * np.sqrt(p * (1 - p)), 0.0)
    return r


def token_event(trace: Trace, token: str) -> np.ndarray:
    """The steps whose token is `token` (T,) bool; an InputError for a trace without tokens."""
    if trace.tokens is None:
        raise InputError("the trace has no tokens (numeric input): correlate with a label instead")
    return np.array([tok == token for tok in trace.tokens])


def label_event(trace: Trace, label: str) -> np.ndarray:
    """The steps whose top prediction is `label` (T,) bool."""
    if trace.output is None or trace.labels is None:
        raise InputError("the trace has no labelled output to correlate with")
    if label not in trace.labels:
        raise InputError(f"no label {label!r}; the labels are {', '.join(trace.labels)}")
    return trace.output.argmax(axis=1) == trace.labels.index(label)


def rank(values: np.ndarray, top: int | None = None, *, descending: bool = True) -> np.ndarray:
    """(layer, direction, unit) index rows of `values` (L, D, H), best first; ties keep the
    table's order (stable), NaN last."""
    flat = values.reshape(-1).astype(np.float64)
    key = np.where(np.isnan(flat), -np.inf, flat if descending else -flat)
    order = np.argsort(-key, kind="stable")
    if top is not None:
        order = order[:top]
    return np.stack(np.unravel_index(order, values.shape), axis=1)
