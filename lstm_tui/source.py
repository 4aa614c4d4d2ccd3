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

from lstm_engine import Trace


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
        return replace(self, trace=trace, text=text)


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
