"""Recording: run an LSTM over a sequence, one timestep at a time, keeping everything.

`record` takes a whole sequence; `Recorder` is fed one step at a time and
hands out a Trace of what it has seen so far; `branch` re-runs a recording
with what-if edits (core/edits.py) from the state at the edited step, only
where the edits can reach. All three advance with the same `lstm_step`, and
record and branch share the input projection and the step loop too, so a
branch whose edits change nothing is its parent bit for bit.
"""

from __future__ import annotations

import itertools
import sys
import weakref
from collections.abc import Iterable
from typing import Any

import numpy as np

from .cell import Override, lstm_step
from .edits import Edit, ReplaceInput, check_edits, overrides, reach
from .errors import InputError, SpecError
from .quantities import previous_step
from .spec import GATES, LSTMSpec
from .readonly import finished, sealed_buffer
from .trace import Trace, seal, step_index


#: How a branch's missing output is announced (meta["output_not_recomputed"] starts with it).
OUTPUT_NOT_RECOMPUTED = "output not recomputed for this branch"

#: The token a branch shows at a replaced input that no token names (front ends test for it).
EDITED_TOKEN = "<edited>"

#: record() keeps the pre-activations z by default up to this many bytes (16 MiB: e.g. a
#: 2-layer bidirectional H=256 float32 model for 1,000 steps), the interactive sizes.
Z_KEEP_LIMIT = 16 * 2**20

#: The input projection is computed in blocks of this many positions, counted from position
#: 0, by record() and branch() alike: one GEMM over a sub-range of rows rounds differently
#: from the same rows of a whole-sequence GEMM, while the same block always gives the same
#: bits, so a branch re-projects only the blocks its re-run covers and still matches.
ZX_BLOCK = 1024


def _to_numpy(a: Any, what: str) -> np.ndarray:
    if hasattr(a, "detach"):  # a torch tensor, without importing torch
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except Exception as e:  # noqa: BLE001 - any unconvertible object is a user error
        raise InputError(f"{what} must be an array or tensor, got {type(a).__name__}: {e}")


def as_sequence(spec: LSTMSpec, x: Any) -> np.ndarray:
    """x as a (T, input_size) array of the spec's dtype, from any shape torch accepts."""
    x = _to_numpy(x, "input")
    size = spec.input_size
    expect = f"[T, 1, {size}]" if not spec.batch_first else f"[1, T, {size}]"
    expect += f" or [T, {size}]"
    if x.ndim == 3:
        batch = x.shape[0] if spec.batch_first else x.shape[1]
        if batch != 1:
            raise InputError(
                f"input has a batch of {batch} sequences; a trace follows one sequence, "
                f"expected shape {expect}"
            )
        x = x[0] if spec.batch_first else x[:, 0]
    elif x.ndim != 2:
        raise InputError(f"input has shape {tuple(x.shape)}, expected {expect}")
    if x.shape[-1] != size:
        raise InputError(
            f"input width is {x.shape[-1]} but the LSTM takes {size} features per step; "
            f"expected shape {expect}"
        )
    if x.shape[0] == 0:
        raise InputError(f"empty sequence: the input has no timesteps; expected shape {expect}")
    _require_real(x, "input")
    # always a copy: the trace must not share memory with the caller's array or tensor,
    # or a later in-place edit of theirs would rewrite the recording (and freezing our
    # array would freeze theirs)
    return _cast(x, spec.dtype)


def _require_real(a: np.ndarray, what: str) -> None:
    """Real numbers only: complex would drop its imaginary part, a timedelta is not a value."""
    if a.dtype.kind not in "fiub":
        raise InputError(f"{what} must be numeric (real numbers), got dtype {a.dtype}")


def _cast(a: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A C-ordered copy in the model's dtype; values too big for it become ±inf, silently.

    That is what the model would compute with them, and first_nonfinite then
    reports where, so the overflow is recorded faithfully instead of warned about.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return np.array(a, dtype=dtype, order="C", copy=True)


def initial_state(spec: LSTMSpec, h0: Any, c0: Any) -> tuple[np.ndarray, np.ndarray]:
    """h0, c0 as (L, D, P) and (L, D, H), from torch's (L*D, [1,] size) shapes or zeros."""
    L, D = spec.num_layers, spec.num_directions
    out = []
    for name, a, size in (("h0", h0, spec.out_size), ("c0", c0, spec.hidden_size)):
        if a is None:
            out.append(np.zeros((L, D, size), spec.dtype))
            continue
        a = _to_numpy(a, name)
        given = tuple(a.shape)
        if a.ndim == 3 and a.shape[1] == 1:
            a = a[:, 0]
        if a.shape != (L * D, size):
            what = "proj_size" if name == "h0" and spec.proj_size else "hidden_size"
            raise InputError(
                f"{name} has shape {given}, expected [{L * D}, 1, {size}] "
                f"or [{L * D}, {size}] (num_layers*num_directions, {what})"
            )
        _require_real(a, name)
        out.append(_cast(a, spec.dtype).reshape(L, D, size))
    return out[0], out[1]


#: The first NaN or Inf in each spec's weights (None: none), asked once per spec: the weights
#: are sealed, so the answer cannot change, and a short record() spent a tenth of its time
#: asking again.
_BAD_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _nonfinite_weights(spec: LSTMSpec) -> dict | None:
    if spec in _BAD_WEIGHTS:
        return _BAD_WEIGHTS[spec]
    found = None
    for layer, dirs in enumerate(spec.weights):
        for d, w in enumerate(dirs):
            for name, a in w.arrays().items():
                if found is None and not np.isfinite(a).all():
                    found = {"where": "weights", "layer": layer, "direction": d, "name": name}
    _BAD_WEIGHTS[spec] = found
    return found


def _first_nonfinite(
    spec: LSTMSpec, x, h0, c0, trace_arrays: dict, buffers: tuple = (), rows=None
) -> dict | None:
    """Where a NaN or Inf first shows up: in what the user gave, or in the recording.

    Chasing a NaN is one of the reasons people open a debugger, so the trace
    reports it instead of refusing it. `rows`, for a branch of an all-finite
    parent, lists the (layer, d, lo, hi) rows it re-ran: every other row is the
    parent's, so only those need the all-finite pass (a preview of a long trace
    must not scan all of it).
    """
    if not np.isfinite(x).all():
        t, unit = map(int, np.argwhere(~np.isfinite(x))[0])
        return {"where": "x", "t": t, "unit": unit}
    for name, a in (("h0", h0), ("c0", c0)):
        if not np.isfinite(a).all():
            layer, d, unit = map(int, np.argwhere(~np.isfinite(a))[0])
            return {"where": name, "layer": layer, "direction": d, "unit": unit}
    bad_weights = _nonfinite_weights(spec)
    if bad_weights is not None:
        return dict(bad_weights)
    # the common case, everything finite, settled with one pass over the whole buffers
    if rows is not None and all(np.isfinite(b[layer, d, lo:hi]).all()
                                for b in buffers for layer, d, lo, hi in rows):  # fmt: skip
        return None
    if buffers and all(np.isfinite(b).all() for b in buffers):
        return None
    best = None
    for name in ("i", "f", "g", "c", "o", "h"):  # the order a step computes them in
        a = trace_arrays[name]
        bad = ~np.isfinite(a).all(axis=-1)  # (L, D, T)
        if not bad.any():
            continue
        for layer, d in zip(*np.nonzero(bad.any(axis=-1))):
            steps = np.flatnonzero(bad[layer, d])
            # the first step the direction read: lowest t left to right, highest right to left
            rev = spec.reads_reversed(int(d))
            t = int(steps[-1] if rev else steps[0])
            key = (int(layer), a.shape[2] - 1 - t if rev else t, int(d))
            if best is None or key < best[0]:
                unit = int(np.flatnonzero(~np.isfinite(a[layer, d, t]))[0])
                best = (key, {"where": name, "layer": int(layer), "direction": int(d),
                              "t": t, "unit": unit})  # fmt: skip
    return best[1] if best else None


def _meta(spec: LSTMSpec, source: str | None, nonfinite: dict | None) -> dict:
    return {
        "config": spec.config(),
        "dtype": str(spec.dtype),
        "source": source,
        "first_nonfinite": nonfinite,
    }


def record(
    spec: LSTMSpec,
    x: Any,
    h0: Any = None,
    c0: Any = None,
    *,
    source: str | None = None,
    output: np.ndarray | None = None,
    tokens: tuple[str, ...] | None = None,
    labels: tuple[str, ...] | None = None,
    meta: dict | None = None,
    keep_z: bool | None = None,
) -> Trace:
    """Run `spec` over the whole sequence x and return the full Trace.

    The input projection W_ih x_t + b for all steps is one matrix product per
    layer and direction; only the recurrent part runs step by step, writing
    straight into the trace's arrays.

    The pre-activations z are kept where they are cheap: by default when they
    take at most Z_KEEP_LIMIT bytes (`keep_z=True`/`False` decides outright).
    They are 4 of the 10·H numbers a step stores, and for long sequences of
    wide models it is the memory, more than the arithmetic, that a full trace
    costs (see bench/bench_engine.py). Without them trace.z is None.
    """
    x = as_sequence(spec, x)
    h0, c0 = initial_state(spec, h0, c0)
    L, D, T = spec.num_layers, spec.num_directions, x.shape[0]
    H, P, dt = spec.hidden_size, spec.out_size, spec.dtype
    if keep_z is None:
        keep_z = L * D * T * 4 * H * dt.itemsize <= Z_KEEP_LIMIT
    # the trace's buffers, written here and sealed for good once the run is done
    z, z_sealed = sealed_buffer((L, D, T, 4, H), dt) if keep_z else (None, None)
    gates, gates_sealed = sealed_buffer((L, D, T, 4, H), dt)
    c, c_sealed = sealed_buffer((L, D, T, H), dt)
    h, h_sealed = sealed_buffer((L, D, T, P), dt)

    layer_in = x
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(L):
            for d in range(D):
                zx = _project(spec.weights[layer][d], layer_in, 0, T)
                _run(spec, layer, d, zx, gates[layer, d], c[layer, d], h[layer, d],
                     z[layer, d] if keep_z else None, h0[layer, d], c0[layer, d])  # fmt: skip
            layer_in = _layer_output(h, layer)

    # the buffers are done: drop the writable views, so the Trace adopts the sealed ones
    # uncopied (x and the initial states are small: sealed by copy)
    del layer_in
    gates, c, h = finished(gates_sealed), finished(c_sealed), finished(h_sealed)
    z = finished(z_sealed) if keep_z else None
    x, h0, c0 = seal(x), seal(h0), seal(c0)
    arrays = dict(
        i=gates[:, :, :, 0], f=gates[:, :, :, 1], g=gates[:, :, :, 2], o=gates[:, :, :, 3],
        c=c, h=h,
    )  # fmt: skip
    full_meta = _meta(spec, source, _first_nonfinite(spec, x, h0, c0, arrays, (gates, c, h)))
    for key, value in (meta or {}).items():
        if key == "branch" or key in full_meta and value != full_meta[key]:
            raise InputError(
                f"meta key {key!r} is computed by the engine and cannot be overridden "
                "(name your own value differently)"
            )
        full_meta[key] = value
    return Trace(
        x=x, h0=h0, c0=c0, z=z, spec=spec, tokens=tokens, labels=labels,
        output=None if output is None else _to_numpy(output, "output"),
        meta=full_meta, **arrays,
    )  # fmt: skip


def _project(w, layer_in: np.ndarray, lo: int, hi: int, exact: bool = False) -> np.ndarray:
    """W_ih x_t + b_ih + b_hh for positions [lo, hi): (hi − lo, 4H), in ZX_BLOCK blocks
    (`exact`: those rows only, for a preview that is not to match record() bit for bit)."""
    T, b0 = layer_in.shape[0], lo - lo % ZX_BLOCK
    if exact:
        zx = layer_in[lo:hi] @ w.W_ih.T
        if w.b_ih is not None:
            zx += w.b_ih + w.b_hh
        return zx
    if hi - b0 <= ZX_BLOCK:  # one block (every short sequence)
        zx = layer_in[b0 : min(b0 + ZX_BLOCK, T)] @ w.W_ih.T
    else:  # each block written in place: no copy of the whole (T, 4H) projection
        starts = range(b0, hi, ZX_BLOCK)
        zx = np.empty((min(starts[-1] + ZX_BLOCK, T) - b0, w.W_ih.shape[0]), layer_in.dtype)
        for s in starts:
            np.matmul(layer_in[s : s + ZX_BLOCK], w.W_ih.T, out=zx[s - b0 : s - b0 + ZX_BLOCK])
    if w.b_ih is not None:
        zx += w.b_ih + w.b_hh
    return zx[lo - b0 : hi - b0]


def _run(
    spec: LSTMSpec, layer: int, d: int, zx: np.ndarray, gates: np.ndarray, c: np.ndarray,
    h: np.ndarray, z: np.ndarray | None, h_prev: np.ndarray, c_prev: np.ndarray,
    lo: int = 0, edited: dict[int, Override] | None = None,
) -> None:  # fmt: skip
    """Step one layer and direction over positions [lo, lo + len(zx)) in its reading order.

    The row arrays (zx, gates, c, h, z) cover those positions in sequence order;
    (h_prev, c_prev) is the state the first of them, in reading order, reads. `edited` maps a
    position to the cell's Override there; unedited steps take the cell's fast path.
    """
    w, act = spec.weights[layer][d], spec.cell_activations(layer, d)
    clip, input_forget = spec.clip, spec.input_forget
    rows = (zx, gates, c, h) if z is None else (zx, gates, c, h, z)
    positions = range(lo, lo + zx.shape[0])
    if spec.reads_reversed(d):  # right to left: walk the rows from the end
        rows, positions = tuple(a[::-1] for a in rows), positions[::-1]
    if z is None:  # every step's z in one scratch buffer
        rows += (itertools.repeat(np.empty((4, spec.hidden_size), spec.dtype)),)
    if not edited:
        for zx_t, gates_t, c_t, h_t, z_t in zip(*rows):
            lstm_step(w, act, zx_t, h_prev, c_prev, z_t, gates_t, c_t, h_t, clip, input_forget)
            h_prev, c_prev = h_t, c_t
        return
    for t, zx_t, gates_t, c_t, h_t, z_t in zip(positions, *rows):
        lstm_step(w, act, zx_t, h_prev, c_prev, z_t, gates_t, c_t, h_t, clip, input_forget,
                  edited.get(t))  # fmt: skip
        h_prev, c_prev = h_t, c_t


def _layer_output(h: np.ndarray, layer: int) -> np.ndarray:
    """What the layer above reads: h (T, P), or both directions' h concatenated (T, 2P)."""
    return h[layer, 0] if h.shape[1] == 1 else np.concatenate([h[layer, 0], h[layer, 1]], -1)


def _gate_block(trace: Trace) -> np.ndarray | None:
    """A read-only (L, D, T, 4, H) view of trace.i, .f, .g, .o when they are the gate slices of
    one C-ordered block, as record() and branch() make them (then the branch copies them in
    one pass); None for gates kept apart (a loaded or hand-built trace)."""
    i = trace.i
    L, D, T, H = i.shape
    s = i.itemsize
    if i.strides != (D * T * 4 * H * s, T * 4 * H * s, 4 * H * s, s):
        return None
    start = i.__array_interface__["data"][0]
    for k, name in enumerate(GATES):
        gate = getattr(trace, name)
        if gate.__array_interface__["data"][0] != start + k * H * s or gate.strides != i.strides \
                or gate.dtype != i.dtype:  # fmt: skip
            return None
    return np.lib.stride_tricks.as_strided(
        i, (L, D, T, 4, H), (*i.strides[:3], H * s, s), writeable=False
    )


def branch(
    trace: Trace,
    edits: Iterable[Edit] = (),
    *,
    tokens: tuple[str, ...] | None = None,
    output: np.ndarray | None = None,
    until: int | None = None,
) -> Trace:
    """A new Trace: `trace` with `edits` applied; `trace` itself never changes.

    Only what the edits can reach is re-run (`edits.reach`): each reached
    layer and direction from the state its first re-run step reads, taken
    from the parent (or h0/c0), with the code record() uses; every other
    step is copied from the parent bit for bit. The parent's own edits still
    hold in the re-run steps (an ablation of the whole sequence stays in
    force), so edits stack: the branch's `edits` are the parent's plus these,
    and its `parent` is the parent's identity. A trace loaded from a file
    branches like any other; it needs its weights (trace.spec).

    Re-run steps project their inputs as record() does, so for a recorded
    trace an edit that changes nothing changes no bit; a trace fed through
    Recorder projected one input at a time, and its re-run steps agree with
    it to rounding (~1 ulp of the projection), as record() and feed() do.

    The model's output is kept only where the last layer's h came out
    identical; else the branch's output is None and meta["output_not_recomputed"]
    (`Trace.output_not_recomputed`) says why, for the screen: a head the
    engine does not have must run again (Model.branch does, with
    Model.downstream); pass `output` to give it.
    Tokens are kept, except at a replaced input, which reads EDITED_TOKEN
    ("<edited>") unless `tokens` says what was put there.

    `until` makes a preview, for a front end to show while the whole branch is
    computed (re-running half of a long, wide recording takes seconds): every
    direction that reads left to right is re-run only before position `until`
    (a reached right-to-left direction is re-run whole, as its first step is
    the last position); its later steps keep the parent's values, which the
    preview does not stand for. It says so (`Trace.preview_until`), and it is
    neither saved nor branched. Its re-run rows are projected exactly, not in
    the ZX_BLOCK blocks that make a branch match record() bit for bit.
    """
    spec = trace.spec
    if spec is None:
        raise InputError("this trace has no weights (spec), so it cannot be re-run to make "
                         "a branch; record it from its LSTMSpec")  # fmt: skip
    if trace.preview_until is not None:
        raise InputError("this trace is a preview of a branch (its later steps are its "
                         "parent's); branch the full branch instead")  # fmt: skip
    L, D, T = spec.num_layers, spec.num_directions, trace.T
    new = check_edits(edits, spec, T)
    every = trace.edits + new
    mask, edited = reach(new, spec, T), overrides(every, spec, T)
    if until is not None:
        until = step_index(until)
        if not 0 < until <= T:
            raise InputError(f"a preview re-runs the steps before position `until`, 1..{T}; "
                             f"got {until}")  # fmt: skip
        for d in range(D):
            if not spec.reads_reversed(d):
                mask[:, d, until:] = False

    # the branch's buffers start as the parent's values (one copy each, into memory that is
    # sealed once the re-run is done, as record() does); x is the parent's unless replaced
    H, P, dt = spec.hidden_size, spec.out_size, spec.dtype
    new_inputs = [e for e in new if isinstance(e, ReplaceInput)]
    x, x_sealed = sealed_buffer(trace.x.shape, dt) if new_inputs else (trace.x, None)
    if new_inputs:
        x[...] = trace.x
        for e in new_inputs:
            x[e.t] = e.x
    gates, gates_sealed = sealed_buffer((L, D, T, 4, H), dt)
    together = _gate_block(trace)
    if together is not None:  # one contiguous copy (a recording's gates share one buffer)
        gates[...] = together
    else:
        for k, name in enumerate(GATES):
            gates[:, :, :, k] = getattr(trace, name)
    c, c_sealed = sealed_buffer((L, D, T, H), dt)
    h, h_sealed = sealed_buffer((L, D, T, P), dt)
    c[...], h[...] = trace.c, trace.h
    z, z_sealed = sealed_buffer(trace.z.shape, dt) if trace.z is not None else (None, None)
    if z is not None:
        z[...] = trace.z
    h0, c0 = trace.h0, trace.c0

    layer_in = x
    ranges = []  # (layer, d, lo, hi): the only rows that can differ from the parent's
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(L):
            for d in range(D):
                rerun = np.flatnonzero(mask[layer, d])
                if not rerun.size:
                    continue
                lo, hi = int(rerun[0]), int(rerun[-1]) + 1
                ranges.append((layer, d, lo, hi))
                reverse = spec.reads_reversed(d)
                p = previous_step(hi - 1 if reverse else lo, reverse)
                h_prev, c_prev = (h[layer, d, p], c[layer, d, p]) if 0 <= p < T else \
                    (h0[layer, d], c0[layer, d])  # fmt: skip
                zx = _project(spec.weights[layer][d], layer_in, lo, hi, exact=until is not None)
                _run(spec, layer, d, zx, gates[layer, d, lo:hi], c[layer, d, lo:hi],
                     h[layer, d, lo:hi], None if z is None else z[layer, d, lo:hi],
                     h_prev, c_prev, lo, edited.get((layer, d)))  # fmt: skip
            if layer + 1 < L and mask[layer + 1].any():
                layer_in = _layer_output(h, layer)

    del layer_in
    x = finished(x_sealed) if new_inputs else x
    gates, c, h = finished(gates_sealed), finished(c_sealed), finished(h_sealed)
    z = None if z_sealed is None else finished(z_sealed)
    arrays = dict(
        i=gates[:, :, :, 0], f=gates[:, :, :, 1], g=gates[:, :, :, 2], o=gates[:, :, :, 3],
        c=c, h=h,
    )  # fmt: skip
    stale = None  # why the parent's output cannot stand for the branch's
    if output is None and trace.output is not None:
        if all(np.array_equal(h[L - 1, d, lo:hi], trace.h[L - 1, d, lo:hi], equal_nan=True)
               for layer, d, lo, hi in ranges if layer == L - 1):  # fmt: skip
            output = trace.output
        else:
            stale = (f"{OUTPUT_NOT_RECOMPUTED}: the edits change what the LSTM outputs, and the "
                     "rest of the model is not part of the trace")  # fmt: skip
    if tokens is None and trace.tokens is not None:
        replaced = {e.t for e in new if isinstance(e, ReplaceInput)}
        tokens = tuple(EDITED_TOKEN if t in replaced else tok for t, tok in enumerate(trace.tokens))
    meta = {k: v for k, v in trace.meta.items()
            if k not in ("format", "version", "branch", "output_not_recomputed")}  # fmt: skip
    if stale is not None or (output is None and trace.output_not_recomputed is not None):
        meta["output_not_recomputed"] = stale or trace.output_not_recomputed
    meta["first_nonfinite"] = _first_nonfinite(
        spec, x, h0, c0, arrays, (gates, c, h),
        rows=ranges if trace.meta.get("first_nonfinite", True) is None else None,
    )  # fmt: skip
    if until is not None:
        meta["preview_until"] = until
    meta["branch"] = {
        "parent": trace.identity,
        "root": trace.root or trace.identity,
        "edits": [e.to_json() for e in every],
    }
    return Trace(
        x=x, h0=h0, c0=c0, z=z, spec=spec, tokens=tokens, labels=trace.labels,
        output=None if output is None else _to_numpy(output, "output"), meta=meta, **arrays,
    )  # fmt: skip


class Recorder:
    """Feed a unidirectional stack one input at a time, as a live model would see it.

    Each `feed` returns a new Trace covering every step so far. Earlier traces
    stay valid and unchanged: the buffers only ever grow past what they cover.
    The numbers agree with record() on the same inputs to rounding (~1 ulp of
    the input projection), not bit for bit: record() projects all the inputs
    with one matrix product and BLAS sums that in another order than the
    one-input product used here; every step after that is the same code.
    """

    def __init__(
        self, spec: LSTMSpec, h0: Any = None, c0: Any = None, *, source: str | None = None
    ):
        if spec.bidirectional or spec.reads_reversed(0):
            raise SpecError(
                f"a {'bidirectional' if spec.bidirectional else 'right-to-left'} LSTM reads the "
                "sequence from its end, so it cannot be fed one step at a time; "
                "record the whole sequence instead"
            )
        self.spec = spec
        self.source = source
        self._h0, self._c0 = map(seal, initial_state(spec, h0, c0))
        self._T = 0
        # first_nonfinite, kept up to date one step at a time (a rescan of the
        # whole buffers on every feed would make feeding T steps O(T²)):
        # the first bad x, else a bad h0/c0/weight, else the first bad recorded value
        x_none = np.zeros((1, spec.input_size), spec.dtype)
        self._bad_x: dict | None = None
        # (x_none as the "recorded buffers": finite, so only h0, c0 and the weights are checked)
        self._bad_init = _first_nonfinite(spec, x_none, self._h0, self._c0, {}, (x_none,))
        self._bad_rec: tuple | None = None  # ((layer, t), where)
        self._alloc(16)

    def _alloc(self, capacity: int) -> None:
        spec, L = self.spec, self.spec.num_layers
        H, P, dt = spec.hidden_size, spec.out_size, spec.dtype
        old = getattr(self, "_buf", None)
        self._buf = {
            "x": np.empty((capacity, spec.input_size), dt),
            "z": np.empty((L, 1, capacity, 4, H), dt),
            "gates": np.empty((L, 1, capacity, 4, H), dt),
            "c": np.empty((L, 1, capacity, H), dt),
            "h": np.empty((L, 1, capacity, P), dt),
        }
        if old is not None:  # new arrays, so traces handed out keep the old ones intact
            n = self._T
            self._buf["x"][:n] = old["x"][:n]
            for k in ("z", "gates", "c", "h"):
                self._buf[k][:, :, :n] = old[k][:, :, :n]
        # Traces get views of read-only aliases of the buffers (`seal`), never the
        # buffers: only feed() writes, and only at steps past every trace handed
        # out, so a trace cannot be changed and cannot change later steps, with
        # no copy per feed (O(1) amortised, the doubling above aside).
        self._ro = {k: seal(v, freeze_owner=False) for k, v in self._buf.items()}

    @property
    def T(self) -> int:
        return self._T

    def feed(self, x_t: Any) -> Trace:
        """Advance every layer by one step on x_t, shaped (input_size,) or (1, input_size)."""
        x_t = _to_numpy(x_t, "input step")
        size = self.spec.input_size
        if x_t.shape not in ((size,), (1, size)):
            one_step = f"Recorder.feed takes one step shaped ({size},) or (1, {size})"
            if x_t.ndim == 1 or (x_t.ndim == 2 and x_t.shape[0] == 1):
                raise InputError(f"input width is {x_t.shape[-1]} but the LSTM takes {size} "
                                 f"features per step; {one_step}")  # fmt: skip
            raise InputError(f"input step has shape {tuple(x_t.shape)}; {one_step}")
        _require_real(x_t, "input step")
        seq = _cast(x_t.reshape(1, size), self.spec.dtype)[0]
        t = self._T
        if t == self._buf["x"].shape[0]:
            self._alloc(2 * t)
        b = self._buf
        b["x"][t] = seq
        spec, layer_in = self.spec, seq
        with np.errstate(over="ignore", invalid="ignore"):
            for layer in range(spec.num_layers):
                w = spec.weights[layer][0]
                zx = w.W_ih @ layer_in
                if w.b_ih is not None:
                    zx += w.b_ih + w.b_hh
                if t == 0:
                    h_prev, c_prev = self._h0[layer, 0], self._c0[layer, 0]
                else:
                    h_prev, c_prev = b["h"][layer, 0, t - 1], b["c"][layer, 0, t - 1]
                lstm_step(
                    w, spec.cell_activations(layer, 0), zx, h_prev, c_prev,
                    b["z"][layer, 0, t], b["gates"][layer, 0, t], b["c"][layer, 0, t],
                    b["h"][layer, 0, t], spec.clip, spec.input_forget,
                )  # fmt: skip
                layer_in = b["h"][layer, 0, t]
        self._T = t + 1
        self._note_nonfinite(t)
        return self.trace()

    def _note_nonfinite(self, t: int) -> None:
        """Fold step t into first_nonfinite, in the order _first_nonfinite reports."""
        b = self._buf
        if self._bad_x is None and not np.isfinite(b["x"][t]).all():
            unit = int(np.flatnonzero(~np.isfinite(b["x"][t]))[0])
            self._bad_x = {"where": "x", "t": t, "unit": unit}
        for layer in range(self.spec.num_layers):
            if self._bad_rec is not None and self._bad_rec[0][0] <= layer:
                break  # an earlier step of this layer or a lower layer already went bad
            gates = b["gates"][layer, 0, t]
            if np.isfinite(gates).all() and np.isfinite(b["c"][layer, 0, t]).all() \
                    and np.isfinite(b["h"][layer, 0, t]).all():
                continue
            rows = (("i", gates[0]), ("f", gates[1]), ("g", gates[2]), ("c", b["c"][layer, 0, t]),
                    ("o", gates[3]), ("h", b["h"][layer, 0, t]))  # the order a step computes them in
            for name, row in rows:
                bad = ~np.isfinite(row)
                if bad.any():
                    where = {"where": name, "layer": layer, "direction": 0, "t": t,
                             "unit": int(np.flatnonzero(bad)[0])}  # fmt: skip
                    self._bad_rec = ((layer, t), where)
                    break
            break

    def trace(self) -> Trace:
        n, b = self._T, self._ro
        if n == 0:
            raise InputError("nothing has been fed yet: a trace needs at least one step")
        gates = b["gates"][:, :, :n]
        arrays = dict(
            i=gates[:, :, :, 0], f=gates[:, :, :, 1], g=gates[:, :, :, 2], o=gates[:, :, :, 3],
            c=b["c"][:, :, :n], h=b["h"][:, :, :n],
        )  # fmt: skip
        x = b["x"][:n]
        nonfinite = self._bad_x or self._bad_init or (self._bad_rec and self._bad_rec[1])
        return Trace(
            x=x, h0=self._h0, c0=self._c0, z=b["z"][:, :, :n], spec=self.spec,
            meta=_meta(self.spec, self.source, nonfinite), **arrays,
        )  # fmt: skip
