"""Backpropagation through time over a recorded trace, in numpy: gradient saliency without torch.

An ONNX, Keras or spec-only model has no autograd, but its trace holds every gate the
forward pass computed, so the backward pass needs only the weights and the activations'
derivatives (the pre-activations are recomputed once, in float64, with one GEMM per layer
and direction). Given d out / d h of the top layer at every position, `backward` returns
the gradients of `out` with respect to the input x at each position and to each layer's
c and h at each position (total derivatives: through every later step and layer), and to
the initial states. The cell is the one of core/cell.py: peepholes, ONNX's clip (a clipped
pre-activation passes no gradient), input_forget (f = 1 − i) and any named activation.
Checked against torch autograd in float64 (tests/engine/test_saliency.py).

An edit (a branch) replaced values the weights did not compute; the gradient of such a
trace is the gradient of the unedited equations at the recorded values, which is what
`backward` returns and what it cannot be more than.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .activations import Activation
from .errors import EngineError, InputError
from .trace import Trace


@dataclass(frozen=True, eq=False)
class Gradients:
    """d out / d …: x (T, input_size), c (L, D, T, H), h (L, D, T, P), c0 (L, D, H), h0 (L, D, P).

    All float64. `h[l, d, t]` is the total derivative through h_t (what the layer above
    and the next step read); `c[l, d, t]` is the derivative through c_t as the state carried
    into the next step (the memory between this step and the next: 0 at the last step read),
    not through h_t, which the h gradient covers. torch's autograd of the c a torch.nn.LSTM
    returns means the same, so the two are compared directly.
    """

    x: np.ndarray
    c: np.ndarray
    h: np.ndarray
    c0: np.ndarray
    h0: np.ndarray


def derivative(act: Activation, z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """act'(z), given y = act(z): elementwise, for every activation the engine knows."""
    a, b, name = act.alpha, act.beta, act.name
    if name == "Sigmoid":
        return y * (1.0 - y)
    if name == "Tanh":
        return 1.0 - y * y
    if name == "Relu":
        return (z > 0).astype(np.float64)
    if name == "Affine":
        return np.full_like(z, a, dtype=np.float64)
    if name == "LeakyRelu":
        return np.where(z >= 0, 1.0, a)
    if name == "ThresholdedRelu":
        return (z > a).astype(np.float64)
    if name == "ScaledTanh":
        return a * b * (1.0 - np.tanh(b * z) ** 2)
    if name == "HardSigmoid":
        u = a * z + b
        return np.where((u > 0) & (u < 1), a, 0.0)
    if name == "Elu":
        return np.where(z >= 0, 1.0, y + a)
    if name == "Softsign":
        return 1.0 / (1.0 + np.abs(z)) ** 2
    if name == "Softplus":
        return 1.0 / (1.0 + np.exp(-z))
    raise EngineError(f"no derivative for the activation {name}")


def backward(trace: Trace, dh_top: np.ndarray) -> Gradients:
    """The gradients of out = Σ dh_top · h_top (a linear read of the top layer's h) w.r.t. the
    inputs and states: dh_top (D, T, P), d out / d h of the top layer at each position."""
    spec = trace.spec
    if spec is None:
        raise InputError("the trace carries no weights (a recording without its spec): "
                         "a backward pass needs them")  # fmt: skip
    L, D, T, H, P = trace.num_layers, trace.num_directions, trace.T, trace.hidden_size, trace.out_size
    dh_top = np.asarray(dh_top, np.float64)
    if dh_top.shape != (D, T, P):
        raise InputError(f"dh_top has shape {dh_top.shape}, expected {(D, T, P)}")
    dc_all = np.zeros((L, D, T, H))
    dh_all = np.zeros((L, D, T, P))
    dc0 = np.zeros((L, D, H))
    dh0 = np.zeros((L, D, P))
    G = dh_top
    dx = None
    for layer in range(L - 1, -1, -1):
        X = trace.layer_input(layer).astype(np.float64)
        d_input = np.zeros_like(X)
        for d in range(D):
            dZ = _direction_backward(trace, layer, d, X, G[d], dc_all[layer, d], dh_all[layer, d],
                                     dc0[layer, d], dh0[layer, d])  # fmt: skip
            d_input += dZ @ spec.weights[layer][d].W_ih.astype(np.float64)
        if layer:
            G = d_input.reshape(T, D, P).transpose(1, 0, 2)
        else:
            dx = d_input
    return Gradients(x=dx, c=dc_all, h=dh_all, c0=dc0, h0=dh0)


def _direction_backward(trace, layer, d, X, G, dc_out, dh_out, dc0_out, dh0_out) -> np.ndarray:
    """BPTT of one layer and direction; fills dc_out/dh_out (T, …) and the initial-state
    gradients, returns d out / d z (T, 4H) for the input's gradient."""
    spec = trace.spec
    w = spec.weights[layer][d]
    act = spec.cell_activations(layer, d)
    T, H = trace.T, trace.hidden_size
    f64 = np.float64
    s = {n: trace.series(n, layer, d).astype(f64) for n in ("i", "f", "g", "o", "c", "c_prev", "h_prev")}
    b = sum(v.astype(f64) for v in (w.b_ih, w.b_hh) if v is not None)
    Z = X @ w.W_ih.astype(f64).T + s["h_prev"] @ w.W_hh.astype(f64).T + b  # (T, 4H)
    Z = Z.reshape(T, 4, H)
    if w.p_i is not None:
        Z[:, 0] += w.p_i * s["c_prev"]
        Z[:, 1] += w.p_f * s["c_prev"]
        Z[:, 3] += w.p_o * s["c"]
    pass_through = np.ones_like(Z)
    if spec.clip is not None:  # np.clip's bound reached: that activation saw a constant
        pass_through = (np.abs(Z) < spec.clip).astype(f64)
        Z = np.clip(Z, -spec.clip, spec.clip)
    dact = np.stack([derivative(a, Z[:, k], s[n]) for k, (a, n) in
                     enumerate(((act.i, "i"), (act.f, "f"), (act.g, "g"), (act.o, "o")))],
                    axis=1) * pass_through  # (T, 4, H)  # fmt: skip
    tc = act.c(s["c"])
    dtc = derivative(act.c, s["c"], tc)
    W_hh = w.W_hh.astype(f64)
    W_hr = None if w.W_hr is None else w.W_hr.astype(f64)
    p = None if w.p_i is None else (w.p_i.astype(f64), w.p_f.astype(f64), w.p_o.astype(f64))
    i, f, g, o, c_prev = s["i"], s["f"], s["g"], s["o"], s["c_prev"]
    dZ = np.zeros((T, 4, H))
    dh_rec = np.zeros(trace.out_size)
    dc_next = np.zeros(H)
    order = range(T) if trace.reads_reversed(d) else range(T - 1, -1, -1)  # reversed reading
    for t in order:
        dh = G[t] + dh_rec
        dh_out[t] = dh
        dc_out[t] = dc_next  # what the memory carried to the next step is worth
        dhc = dh if W_hr is None else W_hr.T @ dh
        dz = dZ[t]
        dz[3] = dhc * tc[t] * dact[t, 3]
        dc = dc_next + dhc * o[t] * dtc[t]
        if p is not None:
            dc = dc + dz[3] * p[2]
        di, df = dc * g[t], dc * c_prev[t]
        if spec.input_forget:
            di, df = di - df, 0.0 * df
        dz[0] = di * dact[t, 0]
        dz[1] = df * dact[t, 1]
        dz[2] = dc * i[t] * dact[t, 2]
        dc_next = dc * f[t]
        if p is not None:
            dc_next = dc_next + dz[0] * p[0] + dz[1] * p[1]
        dh_rec = W_hh.T @ dz.reshape(-1)
    dc0_out[:] = dc_next
    dh0_out[:] = dh_rec
    return dZ.reshape(T, 4 * H)
