"""Source: what the debugger is looking at — a trace, and the model that can re-run it.

The screens never load anything themselves: `run()` and `debug()` build a
Source (in a worker, since torch is slow to import) and hand it over. A Source
knows whether an edit-and-re-run is possible and, if not, why — a recorded
trace file has no model, a numeric model has no text to edit — so the UI can
say so instead of silently ignoring the key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from lstm_engine import InputError, Trace


@dataclass(frozen=True, eq=False)
class Source:
    """One trace plus where it came from."""

    trace: Trace
    name: str
    #: "model" (a file loaded with lstm_engine.load), "trace" (a recorded .npz), "live" (debug()).
    origin: str
    #: The loaded lstm_engine Model, kept so that an edited text can be traced again.
    model: Any = None
    #: The input as the user typed it (text models), shown in the edit dialog.
    text: str | None = None
    #: "log_prob" | "prob" | "logit" | None — how to read trace.output.
    output_kind: str | None = None
    format: str | None = None
    #: Which of the model's examples this trace is (1-based, as `lstm-tui info` numbers
    #: them), or None for the user's own input.
    example: int | None = None

    @property
    def editable(self) -> bool:
        return self.model is not None and getattr(self.model, "input_kind", None) == "text"

    @property
    def read_only_reason(self) -> str | None:
        """Why `e` cannot re-run this source, or None when it can."""
        if self.origin == "trace":
            return "This is a recorded trace, opened read-only: there is no model to re-run."
        if self.model is None:
            return "Opened from Python with a fixed input: there is no text to edit."
        if not self.editable:
            return (
                "This model reads numeric input, not text: pass another --input file to change it."
            )
        return None

    def summary(self) -> str:
        """The architecture line for the header, from the spec when there is one."""
        tr = self.trace
        if tr.spec is not None:
            return tr.spec.summary()
        dirs = "bi" if tr.num_directions == 2 else "uni"
        layers = f"×{tr.num_layers} layer" + ("s" if tr.num_layers > 1 else "")
        return f"LSTM {tr.x.shape[1]}→{tr.hidden_size} {layers}, {dirs}"

    @property
    def projected(self) -> bool:
        return self.trace.out_size != self.trace.hidden_size or bool(
            self.trace.spec is not None and self.trace.spec.proj_size
        )

    def retrace(self, text: str) -> "Source":
        """A new Source for edited text; the old trace stays as it was (an edit is a new branch)."""
        trace = self.model.trace(text)
        return replace(self, trace=trace, text=text, example=None)

    @property
    def example_count(self) -> int:
        """How many example inputs the model carries (0 for trace files and live models)."""
        if self.model is None:
            return 0
        return len(getattr(self.model, "examples", ()) or ())

    @property
    def example_reason(self) -> str | None:
        """Why another example cannot be opened, or None when it can."""
        if self.origin == "trace":
            return "This is a recorded trace, opened read-only: there is no model to re-run."
        if self.model is None:
            return "Opened from Python with a fixed input: the model has no examples."
        n = self.example_count
        if n == 0:
            return f"{self.name} carries no example inputs."
        if n == 1 and self.example == 1:
            return f"{self.name} has only one example, and it is open."
        return None

    def next_example(self) -> int:
        """The example number (1-based) after the one open, wrapping; 1 from the user's input."""
        n = self.example_count
        return (self.example % n) + 1 if self.example is not None and n else 1

    def with_example(self, n: int) -> "Source":
        """A new Source on the model's example `n` (1-based); text or numeric alike.

        Slow for big models (it re-runs the model): call it from a worker.
        """
        if self.model is None:
            raise InputError(self.example_reason or "there is no model to re-run")
        inp = self.model.examples[example_index(n, self.example_count, self.name)]
        trace = self.model.trace(inp)
        return replace(
            self, trace=trace, text=inp if isinstance(inp, str) else None, example=n
        )

    @property
    def output_uses_future(self) -> bool:
        """Does the output at step t depend on inputs after t?

        True when any LSTM between the input and the output reads right to
        left: then every step's prediction is made from the whole sequence,
        and hiding the "not yet read" ones would misrepresent them.
        """
        return output_uses_future(self.trace, self.model)


def example_index(n: int, count: int, name: str) -> int:
    """The 0-based index of example `n` (1-based), or an InputError saying how many there are."""
    if count == 0:
        raise InputError(f"{name} carries no example inputs; give --text or --input instead")
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= count:
        what = f"{count} example" + ("s" if count != 1 else "")
        rng = "only 1" if count == 1 else f"1–{count}"
        raise InputError(f"no example {n}: {name} has {what} (give {rng})")
    return n - 1


def output_uses_future(trace: Trace, model: Any = None) -> bool:
    """See Source.output_uses_future; `model` adds the LSTMs after the one traced."""
    if trace.output is None:
        return False
    if "output_uses_future" in trace.meta:
        return bool(trace.meta["output_uses_future"])
    if trace.num_directions == 2:
        return True
    layers = getattr(model, "layers", None)
    if callable(layers):
        try:
            return any("LSTM" in what and ", bi" in what for _, what in layers())
        except Exception:  # noqa: BLE001 - a description that fails is no reason to stop
            return False
    return False


def guess_output_kind(output: np.ndarray | None) -> str | None:
    """How a live model's per-step output reads, when the caller does not say.

    Rows that exponentiate to a distribution are log-probabilities; rows that
    already sum to one are probabilities; anything else is logits.
    """
    if output is None or output.ndim != 2 or output.shape[1] == 0:
        return None
    out = np.asarray(output, dtype=np.float64)
    if np.all(out <= 1e-6) and np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4):
        return "log_prob"
    if np.all(out >= -1e-9) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        return "prob"
    return "logit"


def probabilities(out: np.ndarray, kind: str | None) -> np.ndarray:
    """Output rows (one step's (n,), or all steps' (T, n)) as probabilities."""
    out = np.asarray(out, dtype=np.float64)
    if kind == "log_prob":
        return np.exp(out)
    if kind == "prob":
        return out
    e = np.exp(out - out.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)
