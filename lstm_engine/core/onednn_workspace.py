"""The gates and cell states that torch's oneDNN LSTM kernel keeps for its backward pass.

torch.nn.LSTM's forward gives only h, so record() used to recover the gates from it with
one product of [x_t, h_{t−1}, 1] and [W_ih, W_hh, b] per block: a GEMM as large as the
recurrence's own, which at H=256 cost as much again as torch's whole forward. Run for
training (torch.mkldnn_rnn_layer with train=True, float32), the same oneDNN kernel, at the
same speed, also leaves every step's activated gates and every c but the last in a
workspace that torch hands back. Reading them there is a copy, and they are torch's own
numbers.

The workspace's layout is oneDNN's private business (found by reading it; oneDNN 3.x):
  - the gates first, one row per step in reading order, i f g o, each row padded to
    `_leading(4H)` floats;
  - further on, at an offset found once per shape (`_c_offset`) and then remembered,
    c_1 … c_{n−1} in reading order, H floats apart (c_n is the kernel's final state).
So nothing here trusts it: `read` checks every block against the LSTM equations on its
first and last steps (the gates of units across each gate recomputed from [x_t, h_{t−1},
1] by the numpy cell's formula; c_t = f_t c_{t−1} + i_t g_t and h_t = o_t tanh(c_t)
against torch's h), and a block that does not check out is recovered from h as before:
a oneDNN that lays its workspace out otherwise costs speed, never a wrong number.
"""

from __future__ import annotations

import functools
import sys
import warnings

import numpy as np

#: The workspace's regions start on page boundaries (oneDNN's page_size, in floats).
_PAGE = 1024

#: How far a workspace value may be from the same value computed again in float32 here:
#: a different summation order and fused multiply-adds move the last bits (~1e-6), a
#: misread row is off by the size of the numbers themselves.
_TOLERANCE = 1e-4

#: Where c_1 is found (see `_c_offset`), by (input width, H, steps in the block).
_C_OFFSETS: dict[tuple[int, int, int], int] = {}


def available(spec) -> bool:
    """Can record() read `spec`'s blocks from oneDNN's workspace? float32 without a
    projection (oneDNN has neither float64 LSTMs nor projections), with torch imported
    and built with oneDNN."""
    torch = sys.modules.get("torch")
    return (
        torch is not None and spec.dtype == np.float32 and not spec.proj_size
        and hasattr(torch, "mkldnn_rnn_layer") and torch.backends.mkldnn.is_available()
    )  # fmt: skip


def forward(torch, params: list, x: "torch.Tensor", state: tuple) -> tuple:
    """torch's LSTM kernel over x (n, in) from state ((1, 1, H), (1, 1, H)), left to right:
    (out (n, H), h_n, c_n, workspace), or None if this torch refuses the call.

    The parameters are plain tensors that need no gradient, so nothing is recorded for
    autograd; grad mode must be on all the same, or torch drops the workspace. The kernel
    reads its input as if it were contiguous, whatever its strides."""
    W_ih, W_hh = params[0], params[1]
    H = W_hh.shape[1]
    if len(params) >= 4:
        b_ih, b_hh = params[2], params[3]
    else:  # no bias: zeros, which add nothing
        b_ih = b_hh = torch.zeros(4 * H, dtype=W_ih.dtype)
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out, h_n, c_n, ws = torch.mkldnn_rnn_layer(
                x.contiguous()[:, None], W_ih, W_hh, b_ih, b_hh, state[0], state[1],
                False, [], 2, H, 1, True, False, False, True,
            )  # fmt: skip
    except (RuntimeError, TypeError):
        return None
    if ws is None or ws.dtype != torch.uint8 or ws.numel() % 4:
        return None
    return out[:, 0], h_n, c_n, ws


def _leading(n: int) -> int:
    """oneDNN's row length for n floats: a multiple of 16 (64 bytes), but not of 256."""
    ld = -(-n // 16) * 16
    return ld + 16 if ld % 256 == 0 else ld


@functools.lru_cache(maxsize=64)
def _sample(H: int) -> np.ndarray:
    """Rows of [i; f; g; o] to check: each gate's first, last and six units between."""
    units = np.unique(np.linspace(0, H - 1, min(H, 8)).astype(np.intp))
    rows = (units + H * np.arange(4)[:, None]).reshape(-1)
    rows.flags.writeable = False  # shared by every call
    return rows


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))  # as the cell computes it (core/cell.py)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.all(np.abs(a - b) <= _TOLERANCE * (1 + np.abs(b))))


def _c_offset(ws: np.ndarray, start: int, n: int, H: int, c_1: np.ndarray) -> int | None:
    """The page at which c's region starts, found by where c_1 (computed here from the
    gates, to rounding) sits: at page + (n + 2)·H (oneDNN keeps a row for c_0 and a slot
    for the layer below in front of it)."""
    off = (n + 2) * H
    pages = np.arange(start, ws.size - off - H + 1, _PAGE)
    if not pages.size:
        return None
    first = ws[pages + off]
    for page in pages[np.abs(first - c_1[0]) <= _TOLERANCE * (1 + abs(c_1[0]))]:
        if _close(ws[page + off : page + off + H], c_1):
            return int(page)
    return None


def read(
    ws_tensor, inp: np.ndarray, W_cat: np.ndarray, h: np.ndarray, c_prev: np.ndarray,
    c_n: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:  # fmt: skip
    """The block's gates (n, 4H) and c_1 … c_{n−1} (n − 1, H), in reading order, as views of
    the workspace; None when the workspace does not check out.

    `inp` holds the block's [x_t, h_{t−1}, 1] rows and `h` torch's h_t, in reading order;
    W_cat is [W_ih, W_hh, b] (4H, in + H + 1); c_prev the c the block's first step read,
    c_n (H,) the kernel's final c.
    """
    n, H = h.shape
    ws = ws_tensor.numpy().view(np.float32)
    ld = _leading(4 * H)
    if ws.size < n * ld:
        return None
    gates = ws[: n * ld].reshape(n, ld)[:, : 4 * H]
    with np.errstate(all="ignore"):
        # the gates: some units of each, on the first and last step, recomputed from their
        # inputs (all of W_cat, read twice a block, cost a tenth of the copy)
        units = _sample(H)
        z = W_cat[units] @ inp[[0, n - 1]].T  # (k, 2)
        want = _sigmoid(z)
        is_g = (units >= 2 * H) & (units < 3 * H)
        want[is_g] = np.tanh(z[is_g])
        if not _close(gates[[0, n - 1]][:, units], want.T):
            return None
        i, f, g, o = (gates[:, k * H : (k + 1) * H] for k in range(4))
        if n == 1:
            ok = _close(c_n, f[0] * c_prev + i[0] * g[0])
            return (gates, ws[:0].reshape(0, H)) if ok else None
        c_1 = f[0] * c_prev + i[0] * g[0]
        key, off = (inp.shape[1], H, n), (n + 2) * H
        page = _C_OFFSETS.get(key)
        if page is None or page + off + (n - 1) * H > ws.size \
                or not _close(ws[page + off : page + off + H], c_1):  # fmt: skip
            page = _c_offset(ws, -(-(n * ld) // _PAGE) * _PAGE, n, H, c_1)
            if page is None:
                return None
            _C_OFFSETS[key] = page
        rows = ws[page + off : page + off + (n - 1) * H].reshape(n - 1, H)
        # c_n follows from the last stored row, and each end's h from its c
        if not (_close(c_n, f[n - 1] * rows[-1] + i[n - 1] * g[n - 1])
                and _close(h[0], o[0] * np.tanh(rows[0]))
                and _close(h[n - 2], o[n - 2] * np.tanh(rows[-1]))):  # fmt: skip
            return None
    return gates, rows
