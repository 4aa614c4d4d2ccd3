"""What a trace's per-step output means: probabilities, from log-probabilities, probabilities
or logits; independent probabilities (sigmoid), values and embeddings as they are.

The output panel, the sequence strip and watch expressions (`prob`, `p["French"]`)
all read a model's output through `probabilities`, with the kind decided once
(`output_kind_of`), so a watch's p agrees with the number the screen shows.
"""

from __future__ import annotations

import numpy as np


def log_softmax(z: np.ndarray) -> np.ndarray:
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def guess_output_kind(output: np.ndarray | None) -> str | None:
    """How a per-step output reads when nothing says (model.OUTPUT_KINDS; None: no output).

    The one rule for every reader that runs a model it cannot see into (a torch
    module, an ONNX graph, a live model): rows of non-positive numbers that
    exponentiate to a distribution are log-probabilities; rows of non-negative
    numbers that sum to one are probabilities; one column is a probability when
    it stays in [0, 1] (a sigmoid: a softmax over one column would say 1.00 at
    every step) and a value otherwise; rows of eight or more numbers of unit
    length with signs are an embedding; anything else is logits.
    """
    if output is None or np.ndim(output) != 2 or np.shape(output)[1] == 0:
        return None
    out = np.asarray(output, dtype=np.float64)
    if out.shape[1] == 1:
        return "sigmoid" if np.all((out >= 0) & (out <= 1)) else "value"
    with np.errstate(over="ignore"):
        if np.all(out <= 1e-6) and np.allclose(np.exp(out).sum(axis=1), 1.0, atol=1e-4):
            return "log_prob"
    if np.all(out >= -1e-9) and np.allclose(out.sum(axis=1), 1.0, atol=1e-4):
        return "prob"
    if out.shape[1] >= 8 and np.any(out < 0) and np.allclose(
        np.linalg.norm(out, axis=1), 1.0, atol=1e-3
    ):
        return "embedding"
    return "logit"


def probabilities(out: np.ndarray, kind: str | None) -> np.ndarray:
    """Output rows (one step's (n,), or all steps' (T, n)) as probabilities, read as `kind` says.

    Independent probabilities (sigmoid) are their own values, never renormalised;
    values and embeddings are returned as they are: they are no distribution,
    and a softmax over them would invent one.
    """
    out = np.asarray(out, dtype=np.float64)
    if kind == "log_prob":
        return np.exp(out)
    if kind in ("prob", "sigmoid", "value", "embedding"):
        return out
    return softmax(out)


def output_kind_of(trace, model_kind: str | None = None) -> str | None:
    """How trace.output reads (model.OUTPUT_KINDS, or None without an output): the model's
    word (`model_kind`), then the trace's own record, then the one guess; a class kind on a
    single column (a bare state_dict's Linear(H, 1) is taken for logits) is re-read by the guess."""
    if trace.output is None:
        return None
    kind = model_kind or trace.meta.get("output_kind") or guess_output_kind(trace.output)
    out = trace.output
    if kind in ("log_prob", "prob", "logit") and np.ndim(out) == 2 and np.shape(out)[1] == 1:
        # one column is never a class distribution: a softmax over it says 1.00 at every step
        return guess_output_kind(out)
    return kind
