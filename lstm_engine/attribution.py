"""What the model's output owes each unit: logit attribution for linear heads, gradient saliency.

Both need the network after the LSTM, so they take the Model (its `head`, model.py):

    att = output_attribution(model, trace, t)              # the winning label at position t
    att.contributions.sum() + att.bias == att.logit        # exactly: logit = Σ_k W[label, k]·h_t[k] + b
    sal = saliency(model, trace, t)                        # d logit_t / d x_s and / d c_s, every s
    sal.x_norm, sal.c_norm                                 # (T,) and (L, D, T) magnitudes, for a bar

A head is linear in h when it is the model's `HeadPart` (a Linear, then log_softmax,
softmax or nothing) reading the traced LSTM's top layer directly: then the label's logit
(the value before log_softmax/softmax) is a sum over units. Any other model (no head
known, as for ONNX graphs and TorchScript, or LSTMs after the traced one) has no such
decomposition, and `linear_head` says which of the two it is in an EngineError.

Saliency differentiates that logit. For a torch model whose cells torch.nn.LSTM can hold,
it runs torch autograd over the real torch.nn.LSTM, stepped one position at a time so that
every c_s is a tensor to differentiate against; otherwise (ONNX, Keras, peepholes, clip,
input_forget, other activations) it uses the engine's own backward pass over the trace
(core/backward.py), which the tests check against torch autograd in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core.backward import Gradients, backward
from .core.errors import EngineError, InputError
from .core.trace import Trace, step_index
from .model import HeadPart, Model

#: Readers whose LSTMs are torch modules (torch autograd applies).
TORCH_FORMATS = ("checkpoint", "state_dict", "torch_module", "pickled", "torchscript")


def linear_head(model: Model | None, trace: Trace) -> HeadPart:
    """The head that turns the trace's top-layer h into logits by one matrix, or an EngineError
    saying why there is none (no model, no known head, or LSTMs between the two)."""
    if model is None:
        raise EngineError("a recorded trace carries no head: open the model to attribute its output")
    head = model.head
    if head is None:
        raise EngineError(f"{model.name} ({model.format}): the head after the LSTM is not known "
                          "as a linear layer, so the output cannot be split over units")  # fmt: skip
    if model.lstms[-1].name != model.lstm_name:
        raise EngineError(f"{model.name}: the traced LSTM {model.lstm_name!r} feeds another LSTM "
                          f"({model.lstms[-1].name!r}) before the head; the output is not linear "
                          "in its h")  # fmt: skip
    if head.weight.shape[1] != trace.num_directions * trace.out_size:
        raise EngineError(f"the head reads {head.weight.shape[1]} features, the trace's top layer "
                          f"gives {trace.num_directions * trace.out_size}: not this model's trace")  # fmt: skip
    return head


def _label_index(trace: Trace, head: HeadPart, t: int, label) -> int:
    if label is None:
        if trace.output is None:
            raise InputError("the trace has no output: name the label to attribute")
        return int(np.asarray(trace.output[t]).argmax())
    if isinstance(label, str):
        if trace.labels is None or label not in trace.labels:
            known = ", ".join(trace.labels) if trace.labels else "none"
            raise InputError(f"no label {label!r}; the labels are {known}")
        return trace.labels.index(label)
    k = step_index(label)
    if not 0 <= k < head.weight.shape[0]:
        raise InputError(f"output class {k} is outside 0..{head.weight.shape[0] - 1}")
    return k


def _position(trace: Trace, t) -> int:
    t = step_index(t)
    if not 0 <= t < trace.T:
        raise InputError(f"position {t} is outside the trace (0..{trace.T - 1})")
    return t


@dataclass(frozen=True, eq=False)
class Attribution:
    """The logit of output class `label` at position `t` split over the top layer's units.

    `contributions` (D, P): W[label, d·P + k] · h_t[d, k], directions as the head reads
    them; their sum plus `bias` is `logit` (float64, exact to rounding).
    """

    t: int
    label: int
    logit: float
    bias: float
    contributions: np.ndarray


def output_attribution(model: Model | None, trace: Trace, t, label=None) -> Attribution:
    """The decomposition of label `label`'s logit at position t (default the winning label)."""
    head = linear_head(model, trace)
    t = _position(trace, t)
    k = _label_index(trace, head, t, label)
    D, P = trace.num_directions, trace.out_size
    h = trace.h[-1, :, t].astype(np.float64)  # (D, P), concatenated in direction order
    contributions = head.weight[k].astype(np.float64).reshape(D, P) * h
    bias = 0.0 if head.bias is None else float(head.bias[k])
    return Attribution(t=t, label=k, logit=float(contributions.sum() + bias), bias=bias,
                       contributions=contributions)  # fmt: skip


def output_contribution(model: Model | None, trace: Trace) -> np.ndarray:
    """Mean over positions of |W[pred_t, k] · h_t[k]|, per top-layer unit (D, P): how much each
    unit moves the winning logit, for ranking units by their contribution to the output."""
    head = linear_head(model, trace)
    if trace.output is None:
        raise InputError("the trace has no output: there is no winning label to attribute")
    pred = np.asarray(trace.output).argmax(axis=1)  # (T,)
    D, P = trace.num_directions, trace.out_size
    h = trace.h[-1].astype(np.float64).transpose(1, 0, 2).reshape(trace.T, D * P)
    W = head.weight.astype(np.float64)[pred]  # (T, D*P)
    return np.abs(W * h).mean(axis=0).reshape(D, P)


@dataclass(frozen=True, eq=False)
class Saliency:
    """d logit_{label, t} / d (every earlier input and cell state), and how it was computed.

    `grads.x` (T, input_size) and `grads.c` (L, D, T, H) as core/backward.Gradients;
    `method` is "torch" (autograd over torch.nn.LSTM) or "engine" (core/backward.py).
    """

    t: int
    label: int
    method: str
    grads: Gradients

    @property
    def x_norm(self) -> np.ndarray:
        """|d logit / d x_s| (Euclidean) per position (T,): how much each input matters."""
        return np.linalg.norm(self.grads.x, axis=1)

    @property
    def c_norm(self) -> np.ndarray:
        """|d logit / d c_s[j]| summed over units j, (L, D, T): how far back the model looks."""
        return np.abs(self.grads.c).sum(axis=-1)


def saliency(model: Model | None, trace: Trace, t, label=None, *, method: str = "auto") -> Saliency:
    """The gradient of label `label`'s logit at position t (default the winner) w.r.t. every
    input x_s and cell state c_s. `method` "auto" takes torch autograd for a torch model whose
    cells torch.nn.LSTM holds, else the engine's backward pass; "torch" or "engine" forces one."""
    head = linear_head(model, trace)
    t = _position(trace, t)
    k = _label_index(trace, head, t, label)
    D, T, P = trace.num_directions, trace.T, trace.out_size
    dh_top = np.zeros((D, T, P))
    dh_top[:, t] = head.weight[k].astype(np.float64).reshape(D, P)
    if method not in ("auto", "torch", "engine"):
        raise InputError(f"method must be 'auto', 'torch' or 'engine', got {method!r}")
    if method == "auto":
        method = "torch" if model.format in TORCH_FORMATS and torch_can_hold(trace) else "engine"
    grads = torch_backward(trace, dh_top) if method == "torch" else backward(trace, dh_top)
    return Saliency(t=t, label=k, method=method, grads=grads)


def torch_can_hold(trace: Trace) -> bool:
    """Is the trace's LSTM one torch.nn.LSTM can run (sigmoid/tanh, no peephole, clip or
    coupled gates)?"""
    spec = trace.spec
    return (spec is not None and spec.standard_activations and not spec.peephole
            and spec.clip is None and not spec.input_forget)  # fmt: skip


def torch_backward(trace: Trace, dh_top: np.ndarray) -> Gradients:
    """`core.backward.backward`'s gradients by torch autograd: each layer and direction is a
    one-direction torch.nn.LSTM holding the spec's weights (float64), stepped one position
    at a time in its reading order so that every c_s and h_s can be differentiated against."""
    if not torch_can_hold(trace):
        raise EngineError("torch.nn.LSTM cannot run this cell (peepholes, clip, coupled gates or "
                          "other activations): use the engine's backward pass")  # fmt: skip
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one-position steps: a second thread only adds contention
    try:
        return _torch_backward(torch, trace, dh_top)
    finally:
        torch.set_num_threads(threads)


def _torch_backward(torch, trace: Trace, dh_top: np.ndarray) -> Gradients:
    spec = trace.spec
    L, D, T, H, P = trace.num_layers, trace.num_directions, trace.T, trace.hidden_size, trace.out_size
    f64 = torch.float64
    x = torch.tensor(trace.x, dtype=f64, requires_grad=True)
    h0 = torch.tensor(trace.h0, dtype=f64, requires_grad=True)
    c0 = torch.tensor(trace.c0, dtype=f64, requires_grad=True)
    cs = [[None] * D for _ in range(L)]
    hs = [[None] * D for _ in range(L)]
    inp = x
    with torch.enable_grad():
        for layer in range(L):
            outs = []
            for d in range(D):
                w = spec.weights[layer][d]
                cell = torch.nn.LSTM(inp.shape[1], H, proj_size=spec.proj_size,
                                     bias=w.b_ih is not None or w.b_hh is not None).to(f64)  # fmt: skip
                with torch.no_grad():
                    cell.weight_ih_l0.copy_(torch.from_numpy(w.W_ih.astype(np.float64)))
                    cell.weight_hh_l0.copy_(torch.from_numpy(w.W_hh.astype(np.float64)))
                    for name, b in (("bias_ih_l0", w.b_ih), ("bias_hh_l0", w.b_hh)):
                        if hasattr(cell, name):
                            getattr(cell, name).copy_(torch.zeros(4 * H, dtype=f64) if b is None
                                                      else torch.from_numpy(b.astype(np.float64)))
                    if w.W_hr is not None:
                        cell.weight_hr_l0.copy_(torch.from_numpy(w.W_hr.astype(np.float64)))
                state = (h0[layer, d].reshape(1, 1, P), c0[layer, d].reshape(1, 1, H))
                h_at, c_at = [None] * T, [None] * T
                order = range(T - 1, -1, -1) if trace.reads_reversed(d) else range(T)
                for t in order:
                    _, (h, c) = cell(inp[t : t + 1].reshape(1, 1, -1), state)
                    h.retain_grad()
                    c.retain_grad()
                    h_at[t], c_at[t] = h, c
                    state = (h, c)
                hs[layer][d], cs[layer][d] = h_at, c_at
                outs.append(torch.cat([h.reshape(1, P) for h in h_at]))
            inp = torch.cat(outs, dim=1)  # (T, D*P), directions as torch concatenates them
        out = (torch.stack(outs) * torch.from_numpy(np.asarray(dh_top, np.float64))).sum()
        out.backward()

    def grads_of(seq, width):
        return np.stack([np.stack([np.stack([
            np.zeros(width) if v.grad is None else v.grad.reshape(width).numpy() for v in seq[layer][d]
        ]) for d in range(D)]) for layer in range(L)])  # fmt: skip

    return Gradients(x=x.grad.numpy(), c=grads_of(cs, H), h=grads_of(hs, P),
                     c0=c0.grad.numpy(), h0=h0.grad.numpy())  # fmt: skip
