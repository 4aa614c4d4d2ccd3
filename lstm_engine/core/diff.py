"""TraceDiff: where two recordings of the same LSTM shape differ, step by step and unit by unit.

Two traces are compared position by position over the steps both have (a
branch against its parent, one model on two inputs, a model against its
export on one input). Every quantity of the registry (core/quantities.py) is
compared, so a divergence is found where it first shows: a gate-order mistake
in an export changes the gates at step 1 while c, made of i and g from a zero
initial state, may still agree there.

Differences are `other − self` (`parent.diff(branch)` reads as branch − parent).
The whole comparison is kept as per-step and per-unit maxima, computed a
window of steps at a time, so a 5,000-step, 1,024-unit pair never holds more
than one window of every quantity; the full difference of one quantity
(units × steps, for a heatmap) is computed when asked for (`delta`).

Engine numbering in the API (positions 0..T−1, layer and direction indices);
the report and `to_json` use the screen's: steps 1..T, layers L1.., units from 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .errors import InputError
from .quantities import REGISTRY, resolve
from .spec import GATES

if TYPE_CHECKING:
    from .trace import Trace

#: Steps compared at a time: bounds the memory of a diff to one window of every quantity.
WINDOW = 512


def default_tol(a: "Trace", b: "Trace") -> float:
    """The fidelity the project holds numbers to: 1e-5 when either trace is float32, else 1e-10."""
    return 1e-5 if np.float32 in (a.c.dtype, b.c.dtype) else 1e-10


def _abs_delta(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|b − a| in float64, with equal values (NaN on both sides, the same infinity) as 0 and
    a NaN on one side only as infinitely different."""
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(np.subtract(b, a, dtype=np.float64))
    if np.isfinite(d).all():  # the common case: one pass more, no masks
        return d
    a64, b64 = a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)
    same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
    d[same] = 0.0
    d[np.isnan(d)] = np.inf
    return d


def _same_window(a: "Trace", b: "Trace", layer: int, d: int, t0: int, t1: int) -> bool:
    """Are the stored arrays a window's quantities are made of bit-identical in a and b?

    Then so is every registry quantity there (each is a formula over them), and the window
    needs no arithmetic: a branch shares most of its steps with its parent, bit for bit.
    The previous state of the window's first step (either side, for either reading order)
    and the initial state are part of what is read.
    """
    lo, hi = max(t0 - 1, 0), min(t1 + 1, a.T, b.T)
    for name in ("i", "f", "g", "o", "c", "h"):
        if not np.array_equal(getattr(a, name)[layer, d, lo:hi], getattr(b, name)[layer, d, lo:hi]):
            return False
    return np.array_equal(a.c0[layer, d], b.c0[layer, d]) and \
        np.array_equal(a.h0[layer, d], b.h0[layer, d])  # fmt: skip


@dataclass(frozen=True)
class QuantityDelta:
    """One quantity's largest |Δ| at one step of one layer and direction, and the unit it is at."""

    name: str
    max_abs: float
    unit: int

    def to_json(self) -> dict:
        return {"quantity": self.name, "max_abs": _json_float(self.max_abs), "unit": self.unit}


@dataclass(frozen=True)
class Divergence:
    """Where two traces first differ beyond the tolerance (`TraceDiff.first_divergence`),
    and every quantity that does there, largest |Δ| first.

    `gates` is the part of `quantities` that are the cell's gates (i, f, g, o): an export
    that wrote its gate blocks in the wrong order is named by them at the first step.
    """

    t: int
    layer: int
    direction: int
    quantities: tuple[QuantityDelta, ...]

    @property
    def step(self) -> int:
        """The step as on screen (1..T)."""
        return self.t + 1

    @property
    def gates(self) -> tuple[QuantityDelta, ...]:
        return tuple(q for q in self.quantities if q.name in GATES)

    @property
    def largest(self) -> QuantityDelta:
        return self.quantities[0]


@dataclass(frozen=True)
class UnitDelta:
    """A unit's largest |Δ| of one quantity over the compared steps, and where it is."""

    unit: int
    max_abs: float
    t: int

    def to_json(self) -> dict:
        return {"unit": self.unit, "max_abs": _json_float(self.max_abs), "step": self.t + 1}


def _json_float(v: float) -> float | str:
    return v if np.isfinite(v) else "inf"


class TraceDiff:
    """Trace `a` compared with trace `b` (differences are b − a), as `Trace.diff` makes it.

    Per layer, direction and quantity it keeps, over the T compared positions:
    `step_max[(layer, d, name)]` (T,) the largest |Δ| over units at each step and
    `step_unit[...]` the unit it is at; `unit_max[...]` (width,) each unit's
    largest |Δ| over steps and `unit_step[...]` the step. The rest is read from those.
    """

    def __init__(self, a: "Trace", b: "Trace", *, tol: float | None = None):
        shape_a = (a.num_layers, a.num_directions, a.hidden_size, a.out_size)
        shape_b = (b.num_layers, b.num_directions, b.hidden_size, b.out_size)
        if shape_a != shape_b:
            raise InputError(
                "the traces do not have the same LSTM shape (layers, directions, hidden, h width): "
                f"{shape_a} against {shape_b}; only recordings of one shape can be compared"
            )
        for d in range(a.num_directions):
            if a.reads_reversed(d) != b.reads_reversed(d):
                raise InputError(f"direction {d} reads the sequence in opposite orders in the "
                                 "two traces; they cannot be compared step by step")  # fmt: skip
        if tol is None:
            tol = default_tol(a, b)
        if isinstance(tol, bool) or not isinstance(tol, (int, float)) or not tol >= 0 \
                or not np.isfinite(tol):  # fmt: skip
            raise InputError(f"the tolerance must be a finite number 0 or more, got {tol!r}")
        self.a, self.b, self.tol = a, b, float(tol)
        #: the positions compared: 0..T−1 of both
        self.T = min(a.T, b.T)
        #: b's steps minus a's
        self.length_difference = b.T - a.T
        self.step_max: dict[tuple[int, int, str], np.ndarray] = {}
        self.step_unit: dict[tuple[int, int, str], np.ndarray] = {}
        self.unit_max: dict[tuple[int, int, str], np.ndarray] = {}
        self.unit_step: dict[tuple[int, int, str], np.ndarray] = {}
        self._compare()

    # --- the comparison, a window of steps at a time
    def _compare(self) -> None:
        a, b, T = self.a, self.b, self.T
        names = tuple(REGISTRY)
        for layer in range(a.num_layers):
            for d in range(a.num_directions):
                keys = [(layer, d, n) for n in names]
                width = {n: a.out_size if REGISTRY[n].width == "out" else a.hidden_size
                         for n in names}  # fmt: skip
                for k in keys:
                    self.step_max[k] = np.zeros(T)
                    self.step_unit[k] = np.zeros(T, np.intp)
                    self.unit_max[k] = np.zeros(width[k[2]])
                    self.unit_step[k] = np.zeros(width[k[2]], np.intp)
                for t0 in range(0, T, WINDOW):
                    t1 = min(t0 + WINDOW, T)
                    if a is b or _same_window(a, b, layer, d, t0, t1):
                        continue  # |Δ| is 0 everywhere in it: what the arrays already say
                    wa = a.windows(names, layer, d, t0, t1)
                    wb = b.windows(names, layer, d, t0, t1)
                    for k in keys:
                        delta = _abs_delta(wa[k[2]], wb[k[2]])  # (t1 − t0, width)
                        at = np.argmax(delta, axis=1)
                        self.step_unit[k][t0:t1] = at
                        self.step_max[k][t0:t1] = delta[np.arange(t1 - t0), at]
                        when = np.argmax(delta, axis=0)
                        best = delta[when, np.arange(delta.shape[1])]
                        better = best > self.unit_max[k]
                        self.unit_max[k][better] = best[better]
                        self.unit_step[k][better] = when[better] + t0

    # --- what differs
    @property
    def max_abs(self) -> float:
        """The largest |Δ| of any quantity anywhere in the compared steps."""
        return max(float(m.max(initial=0.0)) for m in self.step_max.values())

    @property
    def token_positions(self) -> tuple[int, ...] | None:
        """Positions (of those compared) where the tokens differ; None unless both have tokens."""
        if self.a.tokens is None or self.b.tokens is None:
            return None
        return tuple(t for t in range(self.T) if self.a.tokens[t] != self.b.tokens[t])

    def starts(self) -> dict[tuple[int, int], int | None]:
        """(layer, direction) → the first position, in that direction's reading order, where
        any quantity differs beyond `tol` (the last differing position for one that reads right
        to left); None where nothing does."""
        out: dict[tuple[int, int], int | None] = {}
        for layer in range(self.a.num_layers):
            for d in range(self.a.num_directions):
                over = np.zeros(self.T, bool)
                for n in REGISTRY:
                    over |= self.step_max[(layer, d, n)] > self.tol
                hits = np.flatnonzero(over)
                out[(layer, d)] = None if not hits.size else \
                    int(hits[-1] if self.a.reads_reversed(d) else hits[0])  # fmt: skip
        return out

    @cached_property
    def first_divergence(self) -> Divergence | None:
        """Where the traces first differ beyond `tol`; None if they never do.

        The lowest layer that differs (a layer's input is the one below's output, so that is
        where a difference starts); in it, the direction that differs earliest in its own
        reading order, as a position (ties: forward); the step there is the first it reads
        differently. An edit at step t of the reverse direction is found at t, not at step 1.
        """
        starts = [(layer, t, d) for (layer, d), t in self.starts().items() if t is not None]
        if not starts:
            return None
        layer, t, d = min(starts)
        found = [QuantityDelta(n, float(self.step_max[(layer, d, n)][t]),
                               int(self.step_unit[(layer, d, n)][t]))
                 for n in REGISTRY if self.step_max[(layer, d, n)][t] > self.tol]  # fmt: skip
        found.sort(key=lambda q: -q.max_abs)
        return Divergence(t, layer, d, tuple(found))

    @property
    def diverged(self) -> bool:
        """Do the traces differ beyond `tol` in any quantity, or in their top predictions?"""
        changed = self.prediction_changed
        return self.first_divergence is not None or bool(changed is not None and changed.any())

    def top_units(self, name: str, layer: int = 0, direction: int = 0,
                  k: int = 5) -> list[UnitDelta]:  # fmt: skip
        """The k units whose `name` differs most over the compared steps, largest first
        (units that do not differ beyond `tol` are left out)."""
        key = (layer, direction, resolve(name).name)
        if key not in self.unit_max:
            raise InputError(f"layer {layer}, direction {direction} is not in these traces")
        m = self.unit_max[key]
        order = np.argsort(-m, kind="stable")[: max(int(k), 0)]
        return [UnitDelta(int(u), float(m[u]), int(self.unit_step[key][u]))
                for u in order if m[u] > self.tol]  # fmt: skip

    def delta(self, name: str, layer: int = 0, direction: int = 0, t0: int = 0,
              t1: int | None = None) -> np.ndarray:  # fmt: skip
        """b − a of one quantity over positions [t0, t1): (width, t1 − t0), units × steps."""
        t1 = self.T if t1 is None else t1
        if not 0 <= t0 <= t1 <= self.T:
            raise IndexError(f"steps {t0}..{t1} are outside the compared steps (0..{self.T})")
        va = self.a.window(name, layer, direction, t0, t1).astype(np.float64)
        vb = self.b.window(name, layer, direction, t0, t1).astype(np.float64)
        return (vb - va).T

    # --- the model's predictions
    def _tops(self) -> tuple[np.ndarray, np.ndarray] | None:
        oa, ob = self.a.output, self.b.output
        if oa is None or ob is None or oa.shape[1] != ob.shape[1]:
            return None
        return np.argmax(oa[: self.T], axis=1), np.argmax(ob[: self.T], axis=1)

    @property
    def prediction_changed(self) -> np.ndarray | None:
        """(T,) bool: does the top prediction differ at each step? None unless both traces
        have outputs of one width (a branch whose output was not recomputed has none)."""
        tops = self._tops()
        return None if tops is None else tops[0] != tops[1]

    @property
    def output_max_abs(self) -> float | None:
        """The largest |Δ| of the model's output over the compared steps; None unless both
        traces have outputs of one width."""
        oa, ob = self.a.output, self.b.output
        if oa is None or ob is None or oa.shape[1] != ob.shape[1] or self.T == 0:
            return None
        return float(_abs_delta(oa[: self.T], ob[: self.T]).max())

    @property
    def first_prediction_change(self) -> int | None:
        """The first position where the top prediction differs, or None."""
        changed = self.prediction_changed
        if changed is None or not changed.any():
            return None
        return int(np.argmax(changed))

    def _label(self, trace: "Trace", k: int) -> str:
        labels = trace.labels
        return labels[k] if labels is not None and k < len(labels) else str(k)

    # --- reports
    def to_json(self, k: int = 5) -> dict:
        """The report as JSON data, numbered as on screen: steps 1..T, layers from 1, units
        from 0."""
        first = self.first_divergence
        a, b = self.a, self.b
        out: dict = {
            "diverged": self.diverged,
            "tolerance": self.tol,
            "steps": {"a": a.T, "b": b.T, "compared": self.T,
                      "length_difference": self.length_difference},
            "tokens_differ_at": None if self.token_positions is None
            else [t + 1 for t in self.token_positions],
            "max_abs": _json_float(self.max_abs),
            "first_divergence": None if first is None else {
                "step": first.step, "layer": first.layer + 1,
                "direction": _direction_name(a, first.direction),
                "gates": [q.to_json() for q in first.gates],
                "quantities": [q.to_json() for q in first.quantities],
            },
            "diverges_from": {
                f"L{layer + 1}.{_direction_name(a, d)}": None if t is None else t + 1
                for (layer, d), t in self.starts().items()
            },
            "top_units": {
                f"L{layer + 1}.{_direction_name(a, d)}": {
                    n: [u.to_json() for u in self.top_units(n, layer, d, k)] for n in ("c", "h")
                }
                for layer in range(a.num_layers) for d in range(a.num_directions)
            },
        }  # fmt: skip
        changed = self.prediction_changed
        if changed is not None:
            tops = self._tops()
            first_change = self.first_prediction_change
            out["prediction"] = {
                "output_max_abs": _json_float(self.output_max_abs),
                "changed_at": [int(t) + 1 for t in np.flatnonzero(changed)],
                "first_change": None if first_change is None else {
                    "step": first_change + 1,
                    "a": self._label(a, int(tops[0][first_change])),
                    "b": self._label(b, int(tops[1][first_change])),
                },
            }  # fmt: skip
        else:
            out["prediction"] = None
        return out

    def report_lines(self, k: int = 5) -> list[str]:
        """The report as text lines (strings from the traces, such as labels and tokens,
        are in them as they are: a front end makes each line safe to show)."""
        a, b, first = self.a, self.b, self.first_divergence
        lines = [f"compared {self.T} steps (a has {a.T}, b has {b.T})"
                 + ("" if self.length_difference == 0 else
                    f"; b is {abs(self.length_difference)} steps "
                    f"{'longer' if self.length_difference > 0 else 'shorter'}")]  # fmt: skip
        tokens = self.token_positions
        if tokens:
            shown = ", ".join(f"{t + 1} ({a.tokens[t]} → {b.tokens[t]})" for t in tokens[:10])
            lines.append(f"tokens differ at step{'s' if len(tokens) > 1 else ''} {shown}"
                         + (" …" if len(tokens) > 10 else ""))  # fmt: skip
        if first is None:
            lines.append(f"no divergence beyond {self.tol:g} (largest |Δ| {self.max_abs:.3g})")
        else:
            where = f"step {first.step}, L{first.layer + 1} {_direction_name(a, first.direction)}"
            lines.append(f"first divergence beyond {self.tol:g}: {where}")
            if first.gates:
                gates = ", ".join(f"{q.name} (|Δ| {q.max_abs:.3g} at unit {q.unit})"
                                  for q in first.gates)  # fmt: skip
                lines.append(f"  gates that differ there, largest first: {gates}")
            top = first.largest
            also = ", ".join(q.name for q in first.quantities[1:]) or "nothing else"
            lines.append(f"  largest: {top.name} |Δ| {top.max_abs:.3g} at unit {top.unit}; "
                         f"also {also}")
            lines.append(f"largest |Δ| anywhere: {self.max_abs:.3g}")
            starts = ", ".join(f"L{layer + 1} {_direction_name(a, d)} from step {t + 1}"
                               for (layer, d), t in self.starts().items() if t is not None)
            lines.append(f"differs (in each direction's reading order): {starts}")
            for layer in range(a.num_layers):
                for d in range(a.num_directions):
                    for name in ("c", "h"):
                        units = self.top_units(name, layer, d, k)
                        if units:
                            shown = ", ".join(f"{u.unit} ({u.max_abs:.3g} at step {u.t + 1})"
                                              for u in units)  # fmt: skip
                            lines.append(f"units that differ most in {name}, "
                                         f"L{layer + 1} {_direction_name(a, d)}: {shown}")
        changed = self.prediction_changed
        if changed is None:
            lines.append("predictions: not compared (a trace has no output)")
        elif not changed.any():
            lines.append("predictions: the top prediction is the same at every step "
                         f"(output |Δ| up to {self.output_max_abs:.3g})")
        else:
            tops, t = self._tops(), self.first_prediction_change
            steps = np.flatnonzero(changed)
            shown = ", ".join(str(int(s) + 1) for s in steps[:20])
            shown += " …" if steps.size > 20 else ""
            lines.append(f"predictions differ at {steps.size} step{'s' if steps.size > 1 else ''} "
                         f"(output |Δ| up to {self.output_max_abs:.3g}): "
                         f"{shown}; first at step {t + 1}: {self._label(a, int(tops[0][t]))} → "
                         f"{self._label(b, int(tops[1][t]))}")  # fmt: skip
        return lines


def _direction_name(trace: "Trace", d: int) -> str:
    return "reverse" if trace.reads_reversed(d) else "forward"


