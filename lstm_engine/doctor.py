"""A health check for trained LSTMs: each finding is one sentence with the numbers behind it.

    findings = doctor(model)                 # on the model's examples (or `inputs`)
    findings = doctor_traces([trace, ...])   # what recorded traces alone can show

The checks, in the order they are reported (CHECKS); what each means and what to do
is in the README:

- forget_bias: the forget-gate bias b_ih + b_hh per layer and direction. torch adds two
  redundant biases; a common bug sets the forget slice of only one of them by hand (or
  of only layer 0, or one direction), so the bias is not what was meant. A slice set by
  hand is constant over the units, which training does not leave.
- f_shut: units whose forget gate is below 0.1 on ≥ 95% of the steps of the examples:
  they cannot carry anything past one step.
- saturated: units with an input or output gate saturated, < 0.1 or > 0.9, on ≥ 95% of
  steps (or a forget gate < 0.1 not already f_shut): a constant, not a gate (Karpathy et
  al. 2015 plot these fractions). A forget gate held open is a long memory, the gate's
  job, and is not reported (`lstm-tui stats` shows it).
- dead: units whose h (before any projection) stays within 1e-3 of 0 on every step.
- exploding: units whose |c| reaches 10 and keeps growing when the examples are read one
  after another several times (the model's own examples joined, repeated), so it grows
  without bound over a long input rather than settling.
- nonfinite: a NaN or Inf in the weights, the input or the recording, with the first place.
- head: a linear head reading a direction (or almost nothing of one) of a bidirectional
  LSTM: its weight block for one direction is below 1% of the other's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .core.errors import InputError
from .core.trace import Trace
from .core.unit_stats import SATURATION, saturation_fractions
from .model import Model

CHECKS = ("forget_bias", "f_shut", "saturated", "dead", "exploding", "nonfinite", "head")
#: A unit is stuck or saturated when it is so on at least this share of the steps.
MOST_STEPS = 0.95
#: |h| at most this on every step: a dead unit.
DEAD_H = 1e-3
#: |c| beyond this (tanh(10) = 1 − 4e-9: h no longer follows c) and still growing: exploding.
EXPLODING_C = 10.0
#: How many times the joined examples are read for the exploding check, and how much more
#: the last reading's max |c| must be than the first's.
REPEATS, GROWTH = 4, 1.5
#: A head weight block below this share of the other direction's: that direction is unread.
UNREAD_HEAD = 0.01


@dataclass(frozen=True)
class Finding:
    """One problem: the check that found it, where (as on screen: L1 fwd unit 3), and why."""

    check: str
    where: str
    message: str
    evidence: dict = field(default_factory=dict)

    def line(self) -> str:
        return f"{self.check}: {self.where}: {self.message}"


def _where(trace_or_spec, layer: int, d: int) -> str:
    rev = trace_or_spec.reads_reversed(d)
    return f"L{layer + 1} {'rev' if rev else 'fwd'}"


def _place(trace: Trace, bad: dict) -> str:
    """Where a first NaN/Inf is, as the screen numbers it: L1 (layers from 1), fwd/rev, step
    1..T (its position + 1), unit; the evidence keeps the engine's indices."""
    parts = []
    if "layer" in bad and "direction" in bad:
        parts.append(_where(trace, int(bad["layer"]), int(bad["direction"])))
    for key, v in bad.items():
        if key in ("where", "layer", "direction"):
            continue
        parts.append(f"step {v + 1}" if key == "t" else f"{key} {v}")
    return ", ".join(parts)


def _units(values: dict[int, float], fmt="{:.0%}", most: int = 8) -> str:
    shown = ", ".join(f"{u} ({fmt.format(v)})" for u, v in list(values.items())[:most])
    return shown + (f", … {len(values) - most} more" if len(values) > most else "")


def forget_bias_findings(spec) -> list[Finding]:
    """Forget slices set by hand in one bias only, or in some layers/directions only."""
    H = spec.hidden_size
    found, hand = [], {}
    for layer, dirs in enumerate(spec.weights):
        for d, w in enumerate(dirs):
            for name in ("b_ih", "b_hh"):
                b = getattr(w, name)
                if b is None:
                    continue
                fs = b[H : 2 * H].astype(np.float64)
                if H > 1 and np.ptp(fs) < 1e-6 and abs(fs[0]) >= 0.5:
                    hand[(layer, d, name)] = float(fs[0])
    if not hand:
        return found
    for (layer, d, name), value in hand.items():
        w = spec.weights[layer][d]
        other_name = "b_hh" if name == "b_ih" else "b_ih"
        other = getattr(w, other_name)
        eff = w.b_ih[H : 2 * H].astype(np.float64) if w.b_ih is not None else 0.0
        eff = eff + (w.b_hh[H : 2 * H].astype(np.float64) if w.b_hh is not None else 0.0)
        if other is not None and (layer, d, other_name) not in hand:
            ofs = other[H : 2 * H].astype(np.float64)
            found.append(Finding("forget_bias", _where(spec, layer, d),
                f"{name}'s forget slice is set by hand to {value:g} in every unit but "
                f"{other_name}'s is not (mean {ofs.mean():+.3g}); torch adds both, so the "
                f"forget bias is b_ih + b_hh = mean {np.mean(eff):+.3g}, min {np.min(eff):+.3g}",
                {"value": value, "other_mean": float(ofs.mean()), "effective_mean": float(np.mean(eff))}))  # fmt: skip
    places = {(layer, d) for layer, d, _ in hand}
    missing = [(layer, d) for layer in range(spec.num_layers) for d in range(spec.num_directions)
               if (layer, d) not in places]  # fmt: skip
    if missing:
        have = ", ".join(_where(spec, layer, d) for layer, d in sorted(places))
        for layer, d in missing:
            w = spec.weights[layer][d]
            eff = sum(b[H : 2 * H].astype(np.float64) for b in (w.b_ih, w.b_hh) if b is not None)
            found.append(Finding("forget_bias", _where(spec, layer, d),
                f"the forget bias is set by hand in {have} but not here (b_ih + b_hh mean "
                f"{np.mean(eff):+.3g}): only part of the network was initialised",
                {"effective_mean": float(np.mean(eff))}))  # fmt: skip
    return found


def _all_steps(traces: Sequence[Trace], name: str, layer: int, d: int) -> np.ndarray:
    return np.concatenate([t.series(name, layer, d) for t in traces])  # (ΣT, H)


def trace_findings(traces: Sequence[Trace]) -> list[Finding]:
    """f_shut, saturated, dead and nonfinite over the steps of `traces` (one model's)."""
    found = []
    first = traces[0]
    for k, tr in enumerate(traces):
        bad = tr.meta.get("first_nonfinite")
        if bad:
            place = _place(tr, bad)
            found.append(Finding("nonfinite", f"example {k + 1}" if len(traces) > 1 else "input",
                                 f"the first NaN/Inf is in {bad['where']} ({place})", dict(bad)))
            break
    for layer in range(first.num_layers):
        for d in range(first.num_directions):
            where = _where(first, layer, d)
            f = _all_steps(traces, "f", layer, d)
            left_f, _ = saturation_fractions(f)
            shut = {int(u): float(left_f[u]) for u in np.flatnonzero(left_f >= MOST_STEPS)}
            if shut:
                found.append(Finding("f_shut", where, f"forget gate < {SATURATION} on ≥ "
                                     f"{MOST_STEPS:.0%} of steps in {len(shut)} unit(s): "
                                     f"{_units(shut)}", {"units": shut}))  # fmt: skip
            for g in ("i", "f", "o"):
                left, right = saturation_fractions(_all_steps(traces, g, layer, d))
                if g == "f":  # shut is f_shut's; open is what a long memory is, not a fault
                    left, right = np.where(left_f >= MOST_STEPS, 0.0, left), np.zeros_like(right)
                for side, frac, how in (("left", left, f"< {SATURATION}"),
                                        ("right", right, f"> {1 - SATURATION:g}")):  # fmt: skip
                    units = {int(u): float(frac[u]) for u in np.flatnonzero(frac >= MOST_STEPS)}
                    if units:
                        found.append(Finding("saturated", where, f"gate {g} {how} on ≥ "
                                             f"{MOST_STEPS:.0%} of steps in {len(units)} unit(s): "
                                             f"{_units(units)}",
                                             {"gate": g, "side": side, "units": units}))  # fmt: skip
            h = np.abs(_all_steps(traces, "h_cell", layer, d)).max(axis=0)
            dead = {int(u): float(h[u]) for u in np.flatnonzero(h <= DEAD_H)}
            if dead:
                found.append(Finding("dead", where, f"h stays within {DEAD_H:g} of 0 on every step "
                                     f"in {len(dead)} unit(s): {_units(dead, '{:.1e}')}",
                                     {"units": dead}))  # fmt: skip
    return found


def exploding_findings(long_trace: Trace, repeats: int) -> list[Finding]:
    """Units whose max |c| over the last of `repeats` equal readings is GROWTH× the first's."""
    found = []
    T = long_trace.T
    n = T // repeats
    for layer in range(long_trace.num_layers):
        for d in range(long_trace.num_directions):
            c = np.abs(long_trace.series("c", layer, d).astype(np.float64))
            if long_trace.reads_reversed(d):
                c = c[::-1]  # first and last reading in the direction's own order
            first, last = c[:n].max(axis=0), c[T - n :].max(axis=0)
            grow = (last >= EXPLODING_C) & (last >= GROWTH * first)
            units = {int(u): float(last[u]) for u in np.flatnonzero(grow)}
            if units:
                found.append(Finding("exploding", _where(long_trace, layer, d),
                    f"|c| keeps growing over the examples read {repeats}× in a row "
                    f"(max |c| of the last reading, ≥ {GROWTH:g}× the first's) in {len(units)} "
                    f"unit(s): {_units(units, '{:.3g}')}",
                    {"units": units, "first": {u: float(first[u]) for u in units}}))  # fmt: skip
    return found


def head_findings(model: Model) -> list[Finding]:
    """A linear head that reads (almost) nothing of one direction of a bidirectional LSTM."""
    head, spec = model.head, model.spec
    if head is None or spec.num_directions != 2 or model.lstms[-1].name != model.lstm_name:
        return []
    P = spec.out_size
    norms = [float(np.linalg.norm(head.weight[:, d * P : (d + 1) * P])) for d in range(2)]
    found = []
    for d in range(2):
        if norms[d] < UNREAD_HEAD * norms[1 - d]:
            name = "rev" if spec.reads_reversed(d) else "fwd"
            found.append(Finding("head", head.name or "head",
                f"the head reads almost nothing of the {name} direction (|W| {norms[d]:.3g} "
                f"against {norms[1 - d]:.3g}): the bidirectional LSTM's {name} half is wasted",
                {"norms": norms}))  # fmt: skip
    return found


def _joined(model: Model, inputs: Sequence[Any], repeats: int):
    """The inputs one after another, `repeats` times over, as one input to the model."""
    if model.input_kind == "text":
        tokens = []
        for inp in inputs:
            tokens += list(model.tokenize(inp)) if isinstance(inp, str) else list(inp)
        return tokens * repeats
    return np.concatenate([np.asarray(x) for x in inputs] * repeats)


def doctor(model: Model, inputs: Sequence[Any] | None = None) -> list[Finding]:
    """Every check on `model`, run on `inputs` (default the model's examples)."""
    inputs = list(model.examples if inputs is None else inputs)
    if not inputs:
        raise InputError(f"{model.name} carries no examples: give inputs to check it on")
    found = forget_bias_findings(model.spec)
    traces = [model.trace(inp) for inp in inputs]
    found += trace_findings(traces)
    found += exploding_findings(model.trace(_joined(model, inputs, REPEATS)), REPEATS)
    found += head_findings(model)
    return sorted(found, key=lambda f: CHECKS.index(f.check))


def doctor_traces(traces: Sequence[Trace]) -> list[Finding]:
    """The checks recorded traces alone allow (no stress run, no head)."""
    traces = list(traces)
    if not traces:
        raise InputError("no traces to check")
    found = forget_bias_findings(traces[0].spec) if traces[0].spec is not None else []
    found += trace_findings(traces)
    return sorted(found, key=lambda f: CHECKS.index(f.check))
