"""Recording: run an LSTM over a sequence, one timestep at a time, keeping everything.

`record` takes a whole sequence; `Recorder` is fed one step at a time and
hands out a Trace of what it has seen so far; `branch` re-runs a recording
with what-if edits (core/edits.py) from the state at the edited step, only
where the edits can reach. All three advance with the same cell (core/cell.py), and
record and branch share the input projection and the step loop too. Where torch
computes the cell and is already imported, record lets torch's kernel run the
recurrence (`_run_fused`) and takes the gates and c from the workspace its oneDNN kernel
keeps for backward (core/onednn_workspace.py), or recovers them from its h, equal to
the cell to rounding either way; a branch re-runs only from the first step that can
come out other than its parent's, so a branch whose edits change nothing is its parent bit for bit
either way. Large recordings live in sealed shared memory that a branch maps
copy-on-write (`_SharedBuffer`), and `record(buffers=...)` writes a trace where
the caller says (a file: core/store.TraceFile), holding nothing else that grows
with T.
"""

from __future__ import annotations

import itertools
import math
import mmap
import os
import sys
import warnings
import weakref
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

try:  # sealed shared memory for large recordings (_SharedBuffer) is Linux's
    import fcntl
except ImportError:  # Windows
    fcntl = None

from . import onednn_workspace
from .cell import Override, lstm_step, lstm_steps, plain_cell
from .edits import Edit, ReplaceInput, check_edits, overrides, reach
from .errors import InputError, SpecError
from .quantities import previous_step
from .spec import GATES, LSTMSpec
from .readonly import finished, seal_all, sealed_buffer
from .trace import Trace, frozen_json, seal, step_index


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
    # always a copy: the trace must not share memory with the caller's array or tensor,
    # or a later in-place edit of theirs would rewrite the recording (and freezing our
    # array would freeze theirs)
    return _cast(_sequence(spec, x), spec.dtype)


def _sequence(spec: LSTMSpec, x: Any) -> np.ndarray:
    """x checked and seen as (T, input_size), not yet copied (record() copies it into its
    buffer, which may be a file)."""
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
    return x


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


#: How many values the non-finite scan looks at in one go once a sum has found something:
#: a boolean temporary of at most this many bytes, never one the size of the trace.
SCAN_BLOCK = 2**20


def _all_finite(a: np.ndarray) -> bool:
    """No NaN or Inf in `a`, without a boolean temporary of a's size.

    A sum is finite only if every term is (NaN and Inf propagate, Inf − Inf is NaN), so
    one reduction settles the common, all-finite case; only a sum that is not finite
    (something is, or finite values overflowed) is looked at closely, a block at a time.
    """
    if a.size <= 4096:  # small: one look costs less than the sum and its errstate
        return bool(np.isfinite(a).all())
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(a, axis=None)):
            return True
    if a.ndim == 0 or a.size <= SCAN_BLOCK:
        return bool(np.isfinite(a).all())
    if a[0].size > SCAN_BLOCK // 2:
        return all(_all_finite(row) for row in a)
    step = SCAN_BLOCK // max(a[0].size, 1)
    return all(bool(np.isfinite(a[k : k + step]).all()) for k in range(0, a.shape[0], step))


def _bad_steps(a: np.ndarray) -> np.ndarray:
    """(T,) True where a (T, n) row block holds a NaN or Inf, scanned SCAN_BLOCK at a time."""
    step = max(1, SCAN_BLOCK // max(a.shape[1], 1))
    return np.concatenate([~np.isfinite(a[k : k + step]).all(axis=-1)
                           for k in range(0, a.shape[0], step)])  # fmt: skip


def _first_nonfinite(
    spec: LSTMSpec, x, h0, c0, trace_arrays: dict, buffers: tuple = (), rows=None,
    finite: bool = False,
) -> dict | None:  # fmt: skip
    """Where a NaN or Inf first shows up: in what the user gave, or in the recording.

    Chasing a NaN is one of the reasons people open a debugger, so the trace
    reports it instead of refusing it. `finite` says the recorder saw every value it
    wrote come out finite (it checks each block as it goes, while the block is in the
    cache); `buffers` are arrays that cover the recording, checked here; `rows`, for a
    branch of an all-finite parent, lists the (layer, d, lo, hi) rows it re-ran: every
    other row is the parent's, so only those need the all-finite pass (a preview of a
    long trace must not scan all of it). None of these passes allocates a temporary the
    size of the trace. h0 or c0 None: the zeros nobody gave, which need no look.
    """
    if not _all_finite(x):
        t, unit = map(int, np.argwhere(~np.isfinite(x))[0])
        return {"where": "x", "t": t, "unit": unit}
    for name, a in (("h0", h0), ("c0", c0)):
        if a is not None and not np.isfinite(a).all():
            layer, d, unit = map(int, np.argwhere(~np.isfinite(a))[0])
            return {"where": name, "layer": layer, "direction": d, "unit": unit}
    bad_weights = _nonfinite_weights(spec)
    if bad_weights is not None:
        return dict(bad_weights)
    # the common case, everything finite, settled without looking for where
    if finite:
        return None
    if rows is not None and all(_all_finite(b[layer, d, lo:hi])
                                for b in buffers for layer, d, lo, hi in rows):  # fmt: skip
        return None
    if buffers and all(_all_finite(b) for b in buffers):
        return None
    best = None
    for name in ("i", "f", "g", "c", "o", "h"):  # the order a step computes them in
        a = trace_arrays[name]
        L, D, T = a.shape[:3]
        for layer, d in itertools.product(range(L), range(D)):
            if _all_finite(a[layer, d]):
                continue
            steps = np.flatnonzero(_bad_steps(a[layer, d]))
            # the first step the direction read: lowest t left to right, highest right to left
            rev = spec.reads_reversed(d)
            t = int(steps[-1] if rev else steps[0])
            key = (layer, T - 1 - t if rev else t, d)
            if best is None or key < best[0]:
                unit = int(np.flatnonzero(~np.isfinite(a[layer, d, t]))[0])
                best = (key, {"where": name, "layer": layer, "direction": d,
                              "t": t, "unit": unit})  # fmt: skip
    return best[1] if best else None


#: Each spec's (config, dtype name) for the meta, and its all-finite meta by source, frozen
#: (core/trace.frozen_json): a frozen spec's config cannot change, and building and checking
#: it was a tenth of recording a five-word sentence.
_CONFIGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _meta(spec: LSTMSpec, source: str | None, nonfinite: dict | None) -> Mapping:
    """The engine's meta of a recording: read-only (a caller adds its keys to a copy)."""
    known = _CONFIGS.get(spec)
    if known is None:
        config = frozen_json(spec.config(), "meta['config']")
        known = _CONFIGS[spec] = (config, str(spec.dtype), {})
    cache = nonfinite is None and (source is None or isinstance(source, str))
    meta = known[2].get(source) if cache else None
    if meta is None:
        meta = frozen_json({"config": known[0], "dtype": known[1], "source": source,
                            "first_nonfinite": nonfinite}, "meta")  # fmt: skip
        if cache and len(known[2]) < 64:  # a few sources per spec, in practice
            known[2][source] = meta
    return meta


#: Buffers from this size on live in sealed shared memory (a memfd, Linux), so that a branch
#: starts as a copy-on-write map of its parent's (`_SharedBuffer.private_copy`): only the
#: pages its re-run writes are copied. Smaller ones stay in huge-page anonymous memory,
#: which a recording fills faster (12 against 27 ms for 40 MB) and copies cheaply.
SHARED_MIN = 2**24

#: The sealed shared buffers, by the id of their read-only array; an entry (and with it the
#: memfd) goes when that array does, with the last trace that views it.
_SHARED: dict[int, "_SharedBuffer"] = {}


class _SharedBuffer:
    """A memfd written once through a shared map, then sealed against every write
    (F_SEAL_WRITE: not even through the descriptor) and mapped read-only."""

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self.shape, self.dtype = shape, dtype
        self.nbytes = dtype.itemsize * math.prod(shape)
        self.fd = os.memfd_create("lstm-tui-trace", os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
        weakref.finalize(self, os.close, self.fd)
        os.ftruncate(self.fd, self.nbytes)
        self._map = mmap.mmap(self.fd, self.nbytes)
        self.writable = np.frombuffer(self._map, dtype).reshape(shape)

    def seal(self) -> np.ndarray | None:
        """The read-only array, once every writable view is gone; None if one is still alive."""
        self.writable = None
        try:
            self._map.close()
        except BufferError:  # a view of the writable map is still alive somewhere
            return None
        fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK
                    | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)  # fmt: skip
        ro = mmap.mmap(self.fd, self.nbytes, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
        array = seal(np.frombuffer(ro, self.dtype).reshape(self.shape), freeze_owner=False)
        self.array = weakref.ref(array)
        _SHARED[id(array)] = self
        weakref.finalize(array, _SHARED.pop, id(array), None)
        return array

    def private_copy(self) -> tuple[np.ndarray, "_Private"]:
        """A writable copy-on-write map of the sealed contents: reading it reads these pages,
        and only the pages written are copied (the sealed memfd never changes)."""
        m = mmap.mmap(self.fd, self.nbytes, flags=mmap.MAP_PRIVATE,
                      prot=mmap.PROT_READ | mmap.PROT_WRITE)  # fmt: skip
        return np.frombuffer(m, self.dtype).reshape(self.shape), _Private(m, self)


class _Private:
    """The sealed side of `private_copy`: write-protected (mprotect) once the branch is done."""

    def __init__(self, m: mmap.mmap, source: _SharedBuffer):
        self.map, self.source = m, source

    def finish(self) -> np.ndarray:
        src = self.source
        array = np.frombuffer(self.map, src.dtype).reshape(src.shape)
        if not _protect(array):  # cannot write-protect: an ordinary sealed copy instead
            return seal(array)
        array.flags.writeable = False
        return seal(array, freeze_owner=False)


_MPROTECT: list = []


def _libc(name: str, cache: list):
    """libc's `name(addr, length, flags)` (mprotect, madvise) as a ctypes function, looked up
    once into `cache`; None where the C library has none (the callers then do without)."""
    if not cache:
        try:
            import ctypes

            fn = getattr(ctypes.CDLL(None, use_errno=True), name)
            fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            cache.append(fn)
        except (OSError, AttributeError):
            cache.append(None)
    return cache[0]


def _protect(a: np.ndarray) -> bool:
    """Make the pages of a (page-aligned, mmap'd) array read-only: a write through any alias
    of them faults instead of changing a trace."""
    if _libc("mprotect", _MPROTECT) is None or a.ctypes.data % mmap.PAGESIZE:
        return False
    return _MPROTECT[0](a.ctypes.data, a.nbytes, mmap.PROT_READ) == 0


def _shared_source(a: np.ndarray | None) -> _SharedBuffer | None:
    """The sealed shared buffer `a` is the whole of (as a trace's c, h or z is), or None."""
    probe = a
    while isinstance(probe, np.ndarray):
        buf = _SHARED.get(id(probe))
        if buf is not None and buf.array() is probe:
            start = probe.__array_interface__["data"][0]
            whole = a.__array_interface__["data"][0] == start and a.nbytes == probe.nbytes
            return buf if whole and a.shape == probe.shape else None
        probe = probe.base
    return None


def _start_from(parent: np.ndarray, shape: tuple[int, ...], dtype) -> tuple[np.ndarray, Any]:
    """A writable buffer holding `parent`'s values, for a branch to re-run into, and its
    sealed side for `finished`/`_Private.finish`: a copy-on-write map of the parent's sealed
    shared memory where it has one (no copy: ~150 ms a 120 MB trace), else a copy."""
    source = _shared_source(parent)
    if source is not None and source.shape == tuple(shape) and source.dtype == dtype:
        return source.private_copy()
    writable, sealed = sealed_buffer(shape, dtype)
    writable[...] = parent
    return writable, sealed


def _finish_start(sealed) -> np.ndarray:
    return sealed.finish() if isinstance(sealed, _Private) else finished(sealed)


_MADVISE: list = []  # libc's madvise, looked up on the first large buffer (Linux only)


def _huge_pages(a: np.ndarray) -> None:
    """Ask Linux to back a large, untouched buffer with 2 MiB pages (MADV_HUGEPAGE).

    A recording writes every byte of its new buffers once, and with 4 KiB pages the page
    faults cost about as much as the writes (27 against 12 ms for 40 MB, measured); the
    kernel's default ("madvise") gives huge pages only to memory that asks.
    """
    huge = 2**21
    if a.nbytes < 4 * huge or not sys.platform.startswith("linux"):
        return
    if _libc("madvise", _MADVISE) is not None:
        start = a.ctypes.data
        lo, hi = -(-start // huge) * huge, (start + a.nbytes) // huge * huge
        _MADVISE[0](lo, hi - lo, 14)  # MADV_HUGEPAGE; a refusal only costs the speed-up


#: Buffers smaller than this are plain arrays sealed by a copy at the end: for a short
#: sentence that copy is cheaper than setting up a sealed block (readonly.sealed_buffer).
SMALL_BUFFER = 2**14


class MemoryBuffers:
    """Where record() writes a trace by default: new memory, sealed once the run is done.

    The interface record() asks of any `buffers` (core/store.py writes to files with it):
    `allocate(name, shape, dtype)` returns a writable C-ordered array, called once per
    name before anything is written; `finish()`, called once every writable view has been
    dropped, returns {name: read-only array} that the Trace adopts without a copy
    (readonly.sealed_buffer: the bytes are immutable from then on).
    """

    def __init__(self) -> None:
        self._sealed: dict[str, Any] = {}
        self._small: dict[str, np.ndarray] = {}  # sealed together, by one copy, when done

    def allocate(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        dtype = np.dtype(dtype)
        if dtype.itemsize * math.prod(shape) < SMALL_BUFFER:
            self._small[name] = writable = np.empty(shape, dtype)
            return writable
        # (off Linux there is no memfd_create, and fcntl is None off Unix: no F_ADD_SEALS)
        if dtype.itemsize * math.prod(shape) >= SHARED_MIN and hasattr(os, "memfd_create") \
                and hasattr(fcntl, "F_ADD_SEALS"):  # fmt: skip
            self._sealed[name] = shared = _SharedBuffer(tuple(shape), dtype)
            return shared.writable
        writable, self._sealed[name] = sealed_buffer(shape, dtype)
        _huge_pages(writable)
        return writable

    def finish(self) -> dict[str, np.ndarray]:
        done = dict(zip(self._small, seal_all(list(self._small.values()))))
        for name, sealed in self._sealed.items():
            if isinstance(sealed, _SharedBuffer):
                array = sealed.seal()
                if array is None:  # a writable view outlived the run: sealed by a copy
                    array = seal(np.frombuffer(sealed._map, sealed.dtype).reshape(sealed.shape))
                done[name] = array
            else:
                done[name] = finished(sealed)
        return done


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
    buffers: Any = None,
) -> Trace:
    """Run `spec` over the whole sequence x and return the full Trace.

    The input projection W_ih x_t + b is one matrix product per block of ZX_BLOCK
    steps, made just before the steps that read it; only the recurrent part runs
    step by step, writing straight into the trace's arrays.

    `buffers` says where those arrays live (MemoryBuffers, the default, or a file:
    core/store.py): record() asks it for "x" (T, input_size), "gates" (L, D, T, 4, H),
    "c" (L, D, T, H), "h" (L, D, T, P) and, when z is kept, "z" (L, D, T, 4, H), and
    holds nothing else that grows with T (a block's projection, a block of the layer
    below's output), so a file-backed recording's memory stays that of a few blocks.

    The pre-activations z are kept where they are cheap: by default when they
    take at most Z_KEEP_LIMIT bytes and the recording computes them anyway (not where
    torch's oneDNN kernel hands over the gates: core/onednn_workspace.py);
    `keep_z=True`/`False` decides outright.
    They are 4 of the 10·H numbers a step stores, and for long sequences of
    wide models it is the memory, more than the arithmetic, that a full trace
    costs (see bench/bench_engine.py). Without them trace.z is None.
    """
    seq = _sequence(spec, x)
    given_h0, given_c0 = h0 is not None, c0 is not None
    h0, c0 = initial_state(spec, h0, c0)
    L, D, T = spec.num_layers, spec.num_directions, seq.shape[0]
    H, P, dt = spec.hidden_size, spec.out_size, spec.dtype
    finite, fast = True, fused(spec, T)
    if keep_z is None:  # where torch's workspace gives the gates, z would cost a GEMM more
        keep_z = L * D * T * 4 * H * dt.itemsize <= Z_KEEP_LIMIT and not (
            fast and onednn_workspace.available(spec))
    # the trace's buffers, written here and sealed (or flushed to their file) once the run is done
    store = MemoryBuffers() if buffers is None else buffers
    x = store.allocate("x", (T, spec.input_size), dt)
    gates = store.allocate("gates", (L, D, T, 4, H), dt)
    c = store.allocate("c", (L, D, T, H), dt)
    h = store.allocate("h", (L, D, T, P), dt)
    z = store.allocate("z", (L, D, T, 4, H), dt) if keep_z else None

    with np.errstate(over="ignore", invalid="ignore"):
        np.copyto(x, seq, casting="unsafe")  # as _cast: too big becomes ±inf
        del seq
        for layer in range(L):
            layer_in = _LayerInput(x, h, layer)
            for d in range(D):
                rows = (spec, layer, d, layer_in, gates[layer, d], c[layer, d], h[layer, d],
                        z[layer, d] if keep_z else None, h0[layer, d], c0[layer, d])  # fmt: skip
                finite &= _run_fused(*rows) if fast else _run(*rows, batched=True)

    # the buffers are done: drop the writable views, so the Trace adopts the sealed ones
    # uncopied (the initial states are small: sealed by copy)
    del layer_in, rows, x, gates, c, h, z
    done = store.finish()
    x, gates, c, h, z = done["x"], done["gates"], done["c"], done["h"], done.get("z")
    h0, c0 = seal_all([h0, c0])
    arrays = dict(
        i=gates[:, :, :, 0], f=gates[:, :, :, 1], g=gates[:, :, :, 2], o=gates[:, :, :, 3],
        c=c, h=h,
    )  # fmt: skip
    nonfinite = _first_nonfinite(spec, x, h0 if given_h0 else None, c0 if given_c0 else None,
                                 arrays, (gates, c, h), finite=finite)  # fmt: skip
    full_meta = _meta(spec, source, nonfinite)
    if meta:
        full_meta = dict(full_meta)
    for key, value in (meta or {}).items():
        if key == "branch" or key in full_meta and value != full_meta[key]:
            raise InputError(
                f"meta key {key!r} is computed by the engine and cannot be overridden "
                "(name your own value differently)"
            )
        full_meta[key] = value
    return Trace._adopt(
        x=x, h0=h0, c0=c0, z=z, spec=spec, tokens=tokens, labels=labels,
        output=None if output is None else _to_numpy(output, "output"),
        meta=full_meta, **arrays,
    )  # fmt: skip


class _LayerInput:
    """What one layer reads, a block of positions at a time: x, or the layer below's h
    with both directions side by side (copied one block at a time, never the whole)."""

    def __init__(self, x: np.ndarray, h: np.ndarray, layer: int):
        self.below = None if layer == 0 else h[layer - 1]  # (D, T, P)
        self.x = x
        self.T = x.shape[0]

    def rows(self, lo: int, hi: int) -> np.ndarray:
        if self.below is None:
            return self.x[lo:hi]
        if self.below.shape[0] == 1:
            return self.below[0, lo:hi]
        return np.concatenate([self.below[0, lo:hi], self.below[1, lo:hi]], -1)

    def rows_into(self, lo: int, hi: int, out: np.ndarray) -> None:
        """`rows(lo, hi)` written into `out`, without the concatenation's copy."""
        if self.below is None or self.below.shape[0] == 1:
            out[...] = self.rows(lo, hi)
        else:
            P = self.below.shape[2]
            out[:, :P], out[:, P:] = self.below[0, lo:hi], self.below[1, lo:hi]


def _run(
    spec: LSTMSpec, layer: int, d: int, layer_in: _LayerInput, gates: np.ndarray,
    c: np.ndarray, h: np.ndarray, z: np.ndarray | None, h_prev: np.ndarray,
    c_prev: np.ndarray, lo: int = 0, edited: dict[int, Override] | None = None,
    exact: bool = False, batched: bool = False,
) -> bool:  # fmt: skip
    """Step one layer and direction over positions [lo, lo + len(gates)) in its reading
    order; True when every value it wrote is finite.

    The row arrays (gates, c, h, z) cover those positions in sequence order;
    (h_prev, c_prev) is the state the first of them, in reading order, reads. `edited` maps a
    position to the cell's Override there; unedited steps take the cell's fast path.

    The input projection W_ih x_t + b_ih + b_hh is made a block at a time, just before the
    block's steps, in ZX_BLOCK blocks counted from position 0 for record() and branch()
    alike: one GEMM over a sub-range of rows rounds differently from the same rows of a
    bigger GEMM, while the same block always gives the same bits, so a branch re-projects
    only the blocks its re-run covers and still matches. `exact` (a preview, which is not
    to match record() bit for bit) projects only the rows it steps, in blocks from `lo`.
    `batched` (record()) runs the plain cell's steps through `lstm_steps`, the same bits as
    one `lstm_step` call a step, which is what branch() keeps (one call per re-run step).
    """
    w, act = spec.weights[layer][d], spec.cell_activations(layer, d)
    clip, input_forget = spec.clip, spec.input_forget
    hi, T, reverse = lo + gates.shape[0], layer_in.T, spec.reads_reversed(d)
    starts = range(lo, hi, ZX_BLOCK) if exact else range(lo - lo % ZX_BLOCK, hi, ZX_BLOCK)
    bias = _bias(spec, layer, d)
    scratch = np.empty((min(ZX_BLOCK, T), w.W_ih.shape[0]), spec.dtype)
    z_scratch = itertools.repeat(np.empty((4, spec.hidden_size), spec.dtype))
    finite, plain = True, batched and plain_cell(w, act, clip)
    for s in reversed(starts) if reverse else starts:
        e = min(s + ZX_BLOCK, hi if exact else T)
        zx = scratch[: e - s]
        np.matmul(layer_in.rows(s, e), w.W_ih.T, out=zx)
        if bias is not None:
            zx += bias
        a, b = max(s, lo), min(e, hi)  # the positions of this block that are stepped
        rows = (zx[a - s : b - s], gates[a - lo : b - lo], c[a - lo : b - lo], h[a - lo : b - lo])
        rows += (z_scratch,) if z is None else (z[a - lo : b - lo],)
        positions = range(a, b)
        if reverse:  # right to left: walk the rows from the end
            rows = tuple(r if r is z_scratch else r[::-1] for r in rows)
            positions = positions[::-1]
        if not edited and plain:
            lstm_steps(w, rows[0], h_prev, c_prev, None if z is None else rows[4], rows[1],
                       rows[2], rows[3], input_forget)  # fmt: skip
            h_prev, c_prev = rows[3][-1], rows[2][-1]
        elif not edited:
            for zx_t, gates_t, c_t, h_t, z_t in zip(*rows):
                lstm_step(w, act, zx_t, h_prev, c_prev, z_t, gates_t, c_t, h_t, clip,
                          input_forget)  # fmt: skip
                h_prev, c_prev = h_t, c_t
        else:
            for t, zx_t, gates_t, c_t, h_t, z_t in zip(positions, *rows):
                lstm_step(w, act, zx_t, h_prev, c_prev, z_t, gates_t, c_t, h_t, clip,
                          input_forget, edited.get(t))  # fmt: skip
                h_prev, c_prev = h_t, c_t
        # checked while the block is still in the cache: no pass over the trace afterwards.
        # Unedited, a NaN gate makes c_t or h_t NaN, so those two say it; an edit can set
        # c or h back to a number after a NaN gate, so then the gates are looked at too
        finite = finite and all(_all_finite(r) for r in rows[1 if edited else 2 : 4])
    return finite


#: b_ih + b_hh of each spec's layers and directions (the weights are sealed): made once.
_BIASES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _bias(spec: LSTMSpec, layer: int, d: int) -> np.ndarray | None:
    per_spec = _BIASES.get(spec)
    if per_spec is None:
        w_all = spec.weights
        per_spec = _BIASES[spec] = {
            (k, j): None if w.b_ih is None else seal(w.b_ih + w.b_hh)
            for k, dirs in enumerate(w_all) for j, w in enumerate(dirs)
        }  # fmt: skip
    return per_spec[layer, d]


#: record() lets torch's own LSTM kernel run the recurrence (see `_run_fused`) from this many
#: steps on; below it, building torch's tensors costs more than the numpy steps it saves.
FUSED_MIN_T = 16

#: The steps `_run_fused` gives torch and then recovers at a time: small enough that a
#: block's z, gates and c stay in the cache between the passes over them.
FUSED_BLOCK = 1024

#: torch's views of a spec's weights and the side-by-side [W_ih, W_hh, b] of `_run_fused`,
#: made once per spec (for a short sequence they cost more than its steps).
_TORCH_WEIGHTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def fused(spec: LSTMSpec, T: int) -> bool:
    """Does record() run `spec` over T steps with torch's fused kernel (`_run_fused`)?

    Only where torch computes exactly this cell (sigmoid/tanh, no peepholes, clip or coupled
    gate, float32 or float64) and torch is already imported: a trace of an ONNX or Keras
    model, or a file, never pays for importing torch.
    """
    return (
        "torch" in sys.modules and T >= FUSED_MIN_T and spec.clip is None
        and not spec.input_forget and spec.dtype in (np.float32, np.float64)
        and all(spec.cell_activations(layer, d).is_standard and not w.peephole
                for layer, dirs in enumerate(spec.weights) for d, w in enumerate(dirs))
    )  # fmt: skip


def _torch_weights(torch, spec: LSTMSpec, layer: int, d: int) -> tuple[list, np.ndarray]:
    """torch's parameters of one layer and direction, and [W_ih, W_hh, b_ih + b_hh] side by
    side (4H, in + P + 1) for `_run_fused`'s one product per block; made once per spec."""
    per_spec = _TORCH_WEIGHTS.get(spec)
    if per_spec is None:
        per_spec = _TORCH_WEIGHTS[spec] = {}
    if (layer, d) not in per_spec:
        w = spec.weights[layer][d]
        names = ("W_ih", "W_hh", "b_ih", "b_hh", "W_hr")  # torch's order for one layer
        with warnings.catch_warnings():  # the weights are sealed, and torch only reads them
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")
            params = [torch.from_numpy(getattr(w, n)) for n in names if getattr(w, n) is not None]
        parts = [w.W_ih, w.W_hh] + ([] if w.b_ih is None else [(w.b_ih + w.b_hh)[:, None]])
        per_spec[layer, d] = params, np.ascontiguousarray(np.concatenate(parts, axis=1))
    return per_spec[layer, d]


#: The chunk length of `_linear_scan`: about √ZX_BLOCK, so a block costs ~4·√n numpy calls.
SCAN_CHUNK = 32
#: Above this H the scan's extra passes over memory cost more than a step loop's calls
#: (measured: 0.4 against 1.1 µs a step at H=64, even at H=256, 3.0 against 1.5 at H=1024).
SCAN_MAX_H = 256


def _linear_scan(f: np.ndarray, c: np.ndarray, c_prev: np.ndarray) -> np.ndarray:
    """c_t = f_t ⊙ c_{t−1} + u_t in place over (n, H) rows in reading order (c holds u on
    entry), from c_prev; returns the last c_t.

    A step loop is two numpy calls a step, as slow as torch's whole step at small H; so the
    rows are cut into chunks of SCAN_CHUNK, every chunk's recurrence runs from zero at once
    (one call per position in a chunk, over all chunks), each chunk's incoming c follows from
    the previous chunk's end (one step per chunk), and c = local + (∏ f) ⊙ incoming fixes
    every row at once. The same sums in another order: equal to the loop to rounding. A
    last, shorter chunk takes the same operations as a whole one, so a row's bits do not
    depend on how many rows follow it (a recording's first N steps are the recording of
    its first N inputs, bit for bit).
    """
    n, H = c.shape
    if H > SCAN_MAX_H:
        fc = np.empty(H, c.dtype)
        for f_t, c_t in zip(f, c):
            np.multiply(f_t, c_prev, out=fc)
            np.add(c_t, fc, out=c_t)
            c_prev = c_t
        return c_prev
    k = SCAN_CHUNK
    m, r = divmod(n, k)
    groups = []  # (chunks, k, H) views: the whole chunks, then the shorter last one
    if m:
        groups.append((np.lib.stride_tricks.as_strided(c, (m, k, H), (k * c.strides[0], *c.strides)),
                       np.lib.stride_tricks.as_strided(f, (m, k, H), (k * f.strides[0], *f.strides))))  # fmt: skip
    if r:
        groups.append((c[m * k :][None], f[m * k :][None]))
    for c3, f3 in groups:
        q, kk = c3.shape[:2]
        p3 = np.empty((q, kk, H), c.dtype)  # ∏ f from each chunk's start
        p3[:, 0] = f3[:, 0]
        for j in range(1, kk):
            np.multiply(p3[:, j - 1], f3[:, j], out=p3[:, j])
        tmp = np.empty((q, H), c.dtype)
        for j in range(1, kk):  # every chunk's recurrence from 0, all chunks at once
            np.multiply(f3[:, j], c3[:, j - 1], out=tmp)
            np.add(c3[:, j], tmp, out=c3[:, j])
        incoming = np.empty((q, H), c.dtype)
        incoming[0] = c_prev
        for i in range(1, q):
            np.multiply(p3[i - 1, kk - 1], incoming[i - 1], out=incoming[i])
            np.add(incoming[i], c3[i - 1, kk - 1], out=incoming[i])
        np.multiply(p3, incoming[:, None], out=p3)
        np.add(c3, p3, out=c3)
        c_prev = c3[q - 1, kk - 1]  # = what `incoming` would hold next, to the bit
    return c_prev


def _run_fused(
    spec: LSTMSpec, layer: int, d: int, layer_in: _LayerInput, gates: np.ndarray,
    c: np.ndarray, h: np.ndarray, z: np.ndarray | None, h_prev: np.ndarray,
    c_prev: np.ndarray,
) -> bool:  # fmt: skip
    """`_run` over the whole sequence, with torch's fused LSTM kernel for the recurrence.

    At small H a step is a dozen numpy calls of a microsecond each, and torch's whole step
    costs about two: so torch runs the recurrence, FUSED_BLOCK steps at a time from the
    state the block reads, and gives h. In float32 without z its oneDNN kernel also hands
    over the block's gates and c (onednn_workspace.read, checked on every block). Otherwise,
    or where that check fails, everything follows from h exactly, without a step loop over
    the nonlinear part (`_recover`): z_t = W_ih x_t + W_hh h_{t−1} + b for the whole
    block in one matrix product (of [x_t, h_{t−1}, 1] with [W_ih, W_hh, b], cached), the
    gates by one call per operation, and c by the linear recurrence c_t = f_t c_{t−1} +
    i_t g_t in chunks (`_linear_scan`). So h is torch's own and the rest agrees with the
    numpy cell to rounding (tests/engine/test_speed_fused.py holds both paths to torch and
    to each other). True when every value written is finite, as `_run`.
    """
    torch = sys.modules["torch"]
    w, reverse, T = spec.weights[layer][d], spec.reads_reversed(d), layer_in.T
    params, W_cat = _torch_weights(torch, spec, layer, d)
    dt, H, P, n_in = spec.dtype, spec.hidden_size, h.shape[-1], w.W_ih.shape[1]
    one = np.ones((), dt)
    nb = min(FUSED_BLOCK, T)
    inp = np.empty((max(nb, 2), W_cat.shape[1]), dt)  # [x_t, h_{t−1}, 1] of a block's steps
    inp[:, n_in + P :] = 1
    z_scratch = np.empty((nb, 4 * H), dt) if z is None else None
    # the gates and c straight from the kernel's workspace, when z is not wanted
    workspace = z is None and onednn_workspace.available(spec)
    state = (torch.from_numpy(np.array(h_prev).reshape(1, 1, -1)),
             torch.from_numpy(np.array(c_prev).reshape(1, 1, -1)))  # fmt: skip
    c_last, finite = c_prev, True
    starts = range(0, T, nb)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "LSTM with projections is not supported with oneDNN")
        for s in reversed(starts) if reverse else starts:
            e = min(s + nb, T)
            n = e - s
            x_blk, h_blk, hp = inp[:n, :n_in], h[s:e], inp[:n, n_in : n_in + P]
            layer_in.rows_into(s, e, x_blk)
            seq = torch.from_numpy(x_blk[::-1].copy() if reverse else x_blk)
            read = None
            ran = workspace and onednn_workspace.forward(torch, params, seq, state)
            if ran:
                out, h_n, c_n, ws = ran
                out = out.numpy()
                _fill_h(h_blk, hp, out, state[0], reverse, ends=True)
                c_n_np = c_n.reshape(-1).numpy()
                read = onednn_workspace.read(ws, inp[:n][::-1] if reverse else inp[:n], W_cat,
                                             out, c_last, c_n_np)  # fmt: skip
            if read is None:  # torch's own forward gives h, and the rest is recovered from it
                workspace = False  # a workspace that did not check out: not asked again
                out, h_n, c_n = torch.lstm(seq[:, None], state, params, w.b_ih is not None,
                                           1, 0.0, False, False, False)  # fmt: skip
                _fill_h(h_blk, hp, out[:, 0].numpy(), state[0], reverse)
            state = (h_n, c_n)
            g_blk, c_blk = gates[s:e], c[s:e]
            if read is not None:
                in_order = (lambda a: a[::-1]) if reverse else (lambda a: a)
                in_order(g_blk.reshape(n, 4 * H))[...] = read[0]
                c_read = in_order(c_blk)
                c_read[: n - 1], c_read[n - 1] = read[1], c_n_np
                c_last = c_read[n - 1]
                # let the workspace go before the next block's: torch frees it, and the
                # allocator hands the same pages to the next one (two alive at once cost
                # fresh pages, a fifth of torch's time at H=256)
                ran = read = ws = None
            else:
                c_last = _recover(zb=z_scratch[:n] if z is None else z[s:e].reshape(n, 4 * H),
                                  inp=inp, W_cat=W_cat, g_blk=g_blk, c_blk=c_blk, one=one,
                                  reverse=reverse, c_last=c_last)  # fmt: skip
            # a gate is NaN only where its z is, and a NaN gate makes c_t or h_t NaN (no edit
            # here sets them back), so c and h alone say whether the block is all finite
            finite = finite and _all_finite(c_blk) and _all_finite(h_blk)
    return finite


def _fill_h(h_blk: np.ndarray, hp: np.ndarray, out: np.ndarray, h_first, reverse: bool,
            ends: bool = False) -> None:  # fmt: skip
    """A block's h (sequence order) from torch's out (reading order), and in `hp` the
    h_{t−1} each step read: the block's first read is the state it started from. `ends`:
    only the first and last row of `hp`, all that reading the workspace checks."""
    h_blk[...] = out[::-1] if reverse else out
    first = h_first.reshape(-1).numpy()
    if reverse:
        hp[-1] = first
        if ends and len(h_blk) > 1:
            hp[0] = h_blk[1]
        elif not ends:
            hp[:-1] = h_blk[1:]
    else:
        hp[0] = first
        if ends and len(h_blk) > 1:
            hp[-1] = h_blk[-2]
        elif not ends:
            hp[1:] = h_blk[:-1]


def _recover(zb, inp, W_cat, g_blk, c_blk, one, reverse, c_last) -> np.ndarray:
    """A block's z, gates and c from the h torch gave (`inp` holds its [x_t, h_{t−1}, 1]):
    z in one product, the gates by one call per operation, c by the linear recurrence;
    returns the c its last step in reading order wrote."""
    n, H = c_blk.shape
    if n > 1:
        np.matmul(inp[:n], W_cat.T, out=zb)
    else:  # one row alone is a vector product to numpy, which rounds unlike GEMM rows
        zb[...] = np.matmul(inp[:2], W_cat.T)[:1]
    gf = g_blk.reshape(n, 4 * H)
    np.negative(zb, out=gf)  # σ as the cell computes it: 1 / (1 + exp(−z))
    np.exp(gf, out=gf)
    np.add(gf, one, out=gf)
    np.divide(one, gf, out=gf)
    np.tanh(zb.reshape(n, 4, H)[:, 2], out=g_blk[:, 2])
    np.multiply(g_blk[:, 0], g_blk[:, 2], out=c_blk)  # i ⊙ g, then + f ⊙ c_{t−1}
    f_rows = g_blk[:, 1]
    if reverse:
        return _linear_scan(f_rows[::-1], c_blk[::-1], c_last)
    return _linear_scan(f_rows, c_blk, c_last)


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


def _gate_source(trace: Trace, together: np.ndarray) -> np.ndarray:
    """The array a branch starts its gates from: the sealed shared buffer trace.i is a slice
    of, when it is one (then the branch maps it copy-on-write), else the gate block."""
    probe = trace.i
    while isinstance(probe, np.ndarray):
        buf = _SHARED.get(id(probe))
        if buf is not None and buf.array() is probe:
            same = probe.__array_interface__["data"][0] == trace.i.__array_interface__["data"][0]
            return probe if same and probe.shape == together.shape else together
        probe = probe.base
    return together


def _rows_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(n,) True where row t of a differs from row t of b (NaN equal to NaN), a block at a time."""
    step = max(1, SCAN_BLOCK // max(a.shape[1], 1))
    out = np.empty(a.shape[0], bool)
    for k in range(0, a.shape[0], step):
        x, y = a[k : k + step], b[k : k + step]
        out[k : k + step] = ((x != y) & ~(np.isnan(x) & np.isnan(y))).any(axis=-1)
    return out


def _sets_something_new(trace: Trace, layer: int, d: int, t: int, override: Override) -> bool:
    """Does `override` set a value at step t that is not already the parent's there?"""
    dt = trace.c.dtype
    for what, unit, value in override:
        if what == "h_cell":
            old = trace.value("h_cell", layer, d, t)
        else:
            old = getattr(trace, what)[layer, d, t]
        old = old if unit is None else old[unit : unit + 1]
        if not (old == np.asarray(value, dt)).all():
            return True
    return False


def _first_change(
    trace: Trace, layer: int, d: int, lo: int, hi: int, changed: np.ndarray, over: dict | None
) -> int | None:
    """The first position of [lo, hi), in the direction's reading order, whose step can come
    out other than the parent's: its input changed, or a new edit sets a new value there.

    Before it every step reads the parent's input and state and is set as the parent was,
    so its rows are the parent's: a branch re-runs from here. That is what makes an edit
    that changes nothing a branch equal to its parent bit for bit, whichever way the parent
    was computed (record()'s torch path rounds unlike the numpy cell that re-runs a step).
    None when nothing in the range changes.
    """
    reverse = trace.reads_reversed(d)
    steps = np.flatnonzero(changed[lo:hi])
    first = None if not steps.size else int(steps[-1] if reverse else steps[0]) + lo
    for t in sorted(over or (), reverse=reverse):
        if not lo <= t < hi:
            continue
        if first is not None and (t <= first if reverse else t >= first):
            break
        if _sets_something_new(trace, layer, d, t, over[t]):
            return t
    return first


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
    together = _gate_block(trace)
    if together is not None:  # one block (a recording's gates share one buffer): shared or copied
        gates, gates_sealed = _start_from(_gate_source(trace, together), (L, D, T, 4, H), dt)
    else:
        gates, gates_sealed = sealed_buffer((L, D, T, 4, H), dt)
        for k, name in enumerate(GATES):
            gates[:, :, :, k] = getattr(trace, name)
    c, c_sealed = _start_from(trace.c, (L, D, T, H), dt)
    h, h_sealed = _start_from(trace.h, (L, D, T, P), dt)
    z, z_sealed = _start_from(trace.z, trace.z.shape, dt) if trace.z is not None else (None, None)
    h0, c0 = trace.h0, trace.c0

    ranges = []  # (layer, d, lo, hi): the only rows that can differ from the parent's
    finite = trace.meta.get("first_nonfinite", True) is None  # the parent was all finite
    new_over = overrides(new, spec, T)
    changed = np.zeros(T, bool)  # positions where the layer's input differs from the parent's
    for e in new_inputs:
        changed[e.t] |= _rows_differ(x[e.t : e.t + 1], trace.x[e.t : e.t + 1])[0]
    with np.errstate(over="ignore", invalid="ignore"):
        for layer in range(L):
            layer_in = _LayerInput(x, h, layer)  # read as the re-run goes: the branch's own
            changed_out = np.zeros(T, bool)
            for d in range(D):
                rerun = np.flatnonzero(mask[layer, d])
                if not rerun.size:
                    continue
                lo, hi = int(rerun[0]), int(rerun[-1]) + 1
                reverse = spec.reads_reversed(d)
                first = _first_change(trace, layer, d, lo, hi, changed, new_over.get((layer, d)))
                if first is None:  # every step reads and sets what the parent's did: its rows
                    continue
                lo, hi = (lo, first + 1) if reverse else (first, hi)
                ranges.append((layer, d, lo, hi))
                p = previous_step(hi - 1 if reverse else lo, reverse)
                h_prev, c_prev = (h[layer, d, p], c[layer, d, p]) if 0 <= p < T else \
                    (h0[layer, d], c0[layer, d])  # fmt: skip
                finite &= _run(spec, layer, d, layer_in, gates[layer, d, lo:hi],
                               c[layer, d, lo:hi], h[layer, d, lo:hi],
                               None if z is None else z[layer, d, lo:hi], h_prev, c_prev, lo,
                               edited.get((layer, d)), exact=until is not None)  # fmt: skip
                changed_out[lo:hi] |= _rows_differ(h[layer, d, lo:hi], trace.h[layer, d, lo:hi])
            changed = changed_out

    del layer_in
    x = finished(x_sealed) if new_inputs else x
    gates, c = _finish_start(gates_sealed), _finish_start(c_sealed)
    h, z = _finish_start(h_sealed), None if z_sealed is None else _finish_start(z_sealed)
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
    # a branch of an all-finite parent whose re-run rows all came out finite is all finite
    meta["first_nonfinite"] = _first_nonfinite(spec, x, h0, c0, arrays, (gates, c, h),
                                               finite=finite)  # fmt: skip
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
