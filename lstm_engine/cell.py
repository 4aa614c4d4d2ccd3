"""The LSTM timestep, written once and shared by every way of recording."""

from __future__ import annotations

import numpy as np

from .activations import CellActivations
from .spec import CellWeights


def lstm_step(
    w: CellWeights,
    act: CellActivations,
    zx: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    z: np.ndarray,
    gates: np.ndarray,
    c: np.ndarray,
    h: np.ndarray,
    clip: float | None = None,
    input_forget: bool = False,
) -> None:
    """Advance one step, writing into the caller's (trace) buffers.

        z  = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh      zx holds W_ih x_t + b_ih + b_hh
        i  = σ(z_i + p_i ⊙ c_{t-1})
        f  = σ(z_f + p_f ⊙ c_{t-1})                     f = 1 − i with input_forget
        g  = tanh(z_g)
        c_t = f ⊙ c_{t-1} + i ⊙ g
        o  = σ(z_o + p_o ⊙ c_t)
        h_t = o ⊙ tanh(c_t)                              W_hr (o ⊙ tanh(c_t)) when projected

    σ and tanh stand for `act.i, act.f, act.g, act.o, act.c`; the p_* terms
    exist only for peephole cells, and with `clip` every pre-activation is
    clipped to [−clip, clip] before its activation, as ONNX does.
    Shapes: zx (4H,), h_prev (P,), c_prev (H,), z and gates (4, H), c (H,), h (P,).
    Writing in place is what lets a full trace cost about as much as torch's
    own forward pass, which stores only h.
    """
    zf = z.reshape(-1)  # (4H,) view; z is contiguous
    np.matmul(w.W_hh, h_prev, out=zf)
    zf += zx
    if w.p_i is not None:
        z[0] += w.p_i * c_prev
        z[1] += w.p_f * c_prev
    if clip is not None:
        np.clip(z, -clip, clip, out=z)

    if act.is_standard:
        act.i(z, out=gates)  # σ on all four rows, then g's row redone with tanh
        np.tanh(z[2], out=gates[2])
    else:
        act.i(z[0], out=gates[0])
        act.f(z[1], out=gates[1])
        act.g(z[2], out=gates[2])
        act.o(z[3], out=gates[3])
    if input_forget:
        np.subtract(1.0, gates[0], out=gates[1])
    i, f, g, o = gates

    np.multiply(f, c_prev, out=c)
    c += i * g

    if w.p_o is not None:
        z[3] += w.p_o * c
        if clip is not None:
            np.clip(z[3], -clip, clip, out=z[3])
        act.o(z[3], out=gates[3])

    if w.W_hr is None:
        act.c(c, out=h)
        h *= o
    else:
        np.matmul(w.W_hr, o * act.c(c), out=h)
