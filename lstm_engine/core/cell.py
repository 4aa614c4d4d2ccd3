"""The LSTM timestep, written once and shared by every way of recording.

`lstm_step` also takes an `override`: the interventions of a what-if edit
(core/edits.py) at this step, applied where the equations use the value, so
that a branch (recorder.branch) re-runs with the same code as the recording.
"""

from __future__ import annotations

import itertools

import numpy as np

from .activations import CellActivations
from .spec import CellWeights

_ONE = {np.dtype(t).char: np.ones((), t) for t in (np.float32, np.float64)}

#: One step's interventions, applied in order (a later one wins on the same unit):
#: (what, unit, value) with `what` a gate ("i", "f", "g", "o"), "c", "h_cell" (o ⊙ tanh(c_t),
#: before any projection) or "h"; `unit` an index, or None for every unit.
Override = tuple[tuple[str, "int | None", float], ...]

#: What an Override may set, in the order a step computes them.
OVERRIDABLE = ("i", "f", "g", "c", "o", "h_cell", "h")


def _put(override: Override, what: str, a: np.ndarray) -> None:
    for name, unit, value in override:
        if name == what:
            a[... if unit is None else unit] = value


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
    override: Override | None = None,
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
    exist only for peephole cells, and with `clip` every pre-activation
    (peephole terms included) is clipped to [−clip, clip] before its
    activation, as ONNX does. z records the pre-activations after the
    peephole terms and the clip, i.e. exactly what each activation was given.
    Shapes: zx (4H,), h_prev (P,), c_prev (H,), z and gates (4, H) C-contiguous,
    c (H,), h (P,).

    `override` sets values where the rest of the step reads them: a gate right
    after its activation (so a clamped i or f is what c_t is made of; with
    input_forget, f = 1 − i follows a clamped i), c_t before o's peephole and
    tanh (so h_t is what the cell outputs from the edited memory), h_cell
    before the projection, and h_t last, as the next step and the layer above
    see it. z keeps the pre-activations as computed: what each activation was
    given, not what replaced its result.

    Writing in place is what lets a full trace cost about as much as torch's
    own forward pass, which stores only h; the plain torch cell (no peephole,
    clip or custom activation) takes a short path of a dozen numpy calls,
    because at these sizes the per-call overhead is the cost that is left
    after the W_hh product.
    """
    zf = z.reshape(-1)  # (4H,) views; both buffers are contiguous
    gf = gates.reshape(-1)
    np.matmul(w.W_hh, h_prev, out=zf)  # W_hh (4H, P) C-contiguous: the fast gemv layout
    np.add(zf, zx, out=zf)

    if override is None and w.p_i is None and clip is None and act.is_standard:
        # σ(z) = 1 / (1 + exp(−z)) on all four rows at once, then g's row redone with tanh.
        np.negative(zf, out=gf)
        np.exp(gf, out=gf)
        one = _ONE[gf.dtype.char]  # a 0-d array: no scalar conversion in each call
        np.add(gf, one, out=gf)
        np.divide(one, gf, out=gf)
        i, f, g, o = gates
        np.tanh(z[2], out=g)
        if input_forget:
            np.subtract(1.0, i, out=f)
        np.multiply(f, c_prev, out=c)  # c_t = f ⊙ c_{t-1} + i ⊙ g
        if w.W_hr is None:
            np.multiply(i, g, out=h)  # h is free until the end of the step: use it as scratch
            np.add(c, h, out=c)
            np.tanh(c, out=h)  # h_t = o ⊙ tanh(c_t)
            np.multiply(h, o, out=h)
        else:
            c += i * g
            np.matmul(w.W_hr, o * np.tanh(c), out=h)
        return

    # the general path: peepholes, clip, any activation, and the edits. For the plain cell it
    # computes the same numbers as the short path above, operation for operation, so an
    # edit that changes nothing changes no bit downstream.
    ov = override  # applied at each point where the rest of the step reads the value
    if w.p_i is not None:
        z[0] += w.p_i * c_prev
        z[1] += w.p_f * c_prev
    if clip is not None:
        np.clip(z[:3], -clip, clip, out=z[:3])  # o is clipped once its peephole term is in
    i, f, g, o = gates
    act.i(z[0], out=i)
    if ov:
        _put(ov, "i", i)
    act.f(z[1], out=f)
    if input_forget:
        np.subtract(1.0, i, out=f)
    if ov:
        _put(ov, "f", f)
    act.g(z[2], out=g)
    if ov:
        _put(ov, "g", g)

    np.multiply(f, c_prev, out=c)
    c += i * g
    if ov:
        _put(ov, "c", c)

    if w.p_o is not None:
        z[3] += w.p_o * c
    if clip is not None:
        np.clip(z[3], -clip, clip, out=z[3])
    act.o(z[3], out=o)
    if ov:
        _put(ov, "o", o)

    if w.W_hr is None:
        act.c(c, out=h)
        h *= o
        if ov:
            _put(ov, "h_cell", h)
    else:
        h_cell = o * act.c(c)
        if ov:
            _put(ov, "h_cell", h_cell)
        np.matmul(w.W_hr, h_cell, out=h)
    if ov:
        _put(ov, "h", h)


def plain_cell(w: CellWeights, act: CellActivations, clip: float | None) -> bool:
    """Is this torch's own cell without a projection, the one `lstm_steps` runs?"""
    return w.p_i is None and w.W_hr is None and clip is None and act.is_standard


def lstm_steps(
    w: CellWeights,
    zx: np.ndarray,
    h_prev: np.ndarray,
    c_prev: np.ndarray,
    z,
    gates: np.ndarray,
    c: np.ndarray,
    h: np.ndarray,
    input_forget: bool = False,
) -> None:
    """`lstm_step`'s short path over many steps (rows in reading order), for `plain_cell`s.

    The same numpy calls in the same order, so the same bits, but with every per-step view
    made once, by iterating over pre-sliced rows, instead of a call, two reshapes and a
    four-way unpacking a step: at small H that Python work was a third of a step.
    Shapes: zx (n, 4H), gates (n, 4, H) with C-ordered rows, c and h (n, H); z is (n, 4, H)
    rows, or None for one (4, H) scratch reused by every step.
    """
    n, _, H = gates.shape
    one = _ONE[gates.dtype.char]

    def flat(a):  # (n, 4, H) rows as (n, 4H), a view (the rows are C-ordered)
        if a.flags.c_contiguous:  # as_strided costs more than a short recording's steps
            return a.reshape(a.shape[0], 4 * H)
        return np.lib.stride_tricks.as_strided(a, (a.shape[0], 4 * H), (a.strides[0], a.strides[2]))

    if z is None:
        scratch = np.empty((4, H), gates.dtype)
        z_rows, zg_rows = itertools.repeat(scratch.reshape(-1)), itertools.repeat(scratch[2])
    else:
        z_rows, zg_rows = flat(z), z[:, 2]
    W_hh = w.W_hh
    matmul, add, negative, exp, divide = np.matmul, np.add, np.negative, np.exp, np.divide
    multiply, tanh, subtract = np.multiply, np.tanh, np.subtract
    rows = zip(zx, z_rows, zg_rows, flat(gates), gates[:, 0], gates[:, 1], gates[:, 2],
               gates[:, 3], c, h)  # fmt: skip
    for zx_t, zf, zg, gf, i, f, g, o, c_t, h_t in rows:
        matmul(W_hh, h_prev, out=zf)
        add(zf, zx_t, out=zf)
        negative(zf, out=gf)
        exp(gf, out=gf)
        add(gf, one, out=gf)
        divide(one, gf, out=gf)
        tanh(zg, out=g)
        if input_forget:
            subtract(1.0, i, out=f)
        multiply(f, c_prev, out=c_t)
        multiply(i, g, out=h_t)
        add(c_t, h_t, out=c_t)
        tanh(c_t, out=h_t)
        multiply(h_t, o, out=h_t)
        h_prev, c_prev = h_t, c_t
