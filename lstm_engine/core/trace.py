"""Trace: the immutable recording of one sequence through an LSTM, and its file format.

A trace is data, never a process: every array is read-only, so anything that
wants to change a value (a what-if edit) has to make a new trace, and the
recording it started from stays exactly as the model computed it.

Arrays are indexed [layer, direction, t, unit] by sequence position, so for
the right-to-left direction index t is the state after reading x[t] (as in
torch's output), and its "previous" step is t + 1.

A branch (recorder.branch) is a trace like any other that also says how it
was made: `parent` (the identity of the trace it was made from), `edits`
(every edit since the original recording) and `root` (that recording's
identity), kept in meta["branch"] and so in its file. A trace holds no
reference to its parent object: whoever offers undo keeps the parents.
"""

from __future__ import annotations

import hashlib
import json
import operator
import os
import threading
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from .activations import CellActivations
from .edits import Edit, check_edits, edit_from_json
from .errors import EngineError, InputError, LoadError
from .files import open_regular, read_json, read_npz, require_regular_file, write_file
from .quantities import VALUE_NAMES, evaluate_many, previous, resolve
from .readonly import _is_sealed, seal
from .spec import CellWeights, LSTMSpec

FORMAT = "lstm-tui-trace"
#: 3: uncompressed and memory-mapped (core/store.py), the gates as one "gates" member,
#: `extents` and `valid_steps`; 2: a spec's `directions` (a right-to-left-only LSTM) and
#: per-direction activations in meta.config, and a branch's parent and edits. Older
#: versions read as before.
FORMAT_VERSION = 3

_SAVED = ("x", "h0", "c0", "i", "f", "g", "o", "c", "h")

#: The quantities whose finite range (`Trace.extent`) a saved trace carries, so that a
#: front end sizes its columns and colour scales without reading the steps.
EXTENT_NAMES = VALUE_NAMES

#: Elements of one quantity computed at a time for `extent` (a few MB of temporaries).
_EXTENT_BLOCK = 1 << 18


def step_index(t) -> int:
    """t as a step number; an InputError for anything that is not a whole number.

    numpy integers and integral floats (3.0) are fine; 1.5, nan, None and
    strings are not, because silently truncating them shows the wrong step.
    """
    if isinstance(t, bool):
        raise InputError(f"a step must be a whole number, got {t!r}")
    try:
        return operator.index(t)
    except TypeError:
        pass
    if isinstance(t, (float, np.floating)) and np.isfinite(t) and float(t).is_integer():
        return int(t)
    raise InputError(f"a step must be a whole number, got {t!r}")


def _owned(a: np.ndarray) -> np.ndarray:
    """`a` if it is already sealed, else a sealed copy: a trace never shares a caller's memory."""
    if _is_sealed(a):
        return a
    return seal(np.ascontiguousarray(a))  # seal copies into memory nobody can write


def _frozen(a: np.ndarray | None) -> np.ndarray | None:
    return None if a is None else seal(np.ascontiguousarray(a))


class FrozenList(list):
    """A list that refuses changes: trace meta stays equal to plain lists and JSON-able."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("trace meta is read-only; build a new Trace with dataclasses.replace")

    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse


class FrozenDict(dict):
    """A dict that refuses changes: trace meta stays equal to plain dicts and JSON-able."""

    _refuse = FrozenList._refuse
    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse


#: What `_deep_freeze` made, by id: JSON data already checked and frozen, which `_json_value`
#: and `_deep_freeze` hand back as they are. A model's config, frozen once per spec by the
#: recorder, is then not walked again by every trace made from it (for the seed tagger that
#: walk was a third of a recording).
_FROZEN: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


def _is_frozen(v) -> bool:
    return _FROZEN.get(id(v)) is v


def _deep_freeze(v):
    """JSON data (from `_json_value`) made read-only: dicts as FrozenDict, lists as FrozenList."""
    if isinstance(v, (dict, list)) and not _is_frozen(v):
        if isinstance(v, dict):
            v = FrozenDict({k: _deep_freeze(item) for k, item in v.items()})
        else:
            v = FrozenList(_deep_freeze(item) for item in v)
        _FROZEN[id(v)] = v
    return v


def frozen_json(v, where: str):
    """v as checked, read-only JSON data (`_json_value`, then `_deep_freeze`), for meta
    that many traces share."""
    return _deep_freeze(_json_value(v, where))


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything the LSTM computed for one sequence.

    Shapes, with L layers, D directions, T steps, H hidden units and P the
    width of h (proj_size, or H without a projection):
      x (T, input_size), h0 (L, D, P), c0 (L, D, H),
      i, f, g, o, c (L, D, T, H), h (L, D, T, P),
      z (L, D, T, 4, H) the pre-activations in GATES order (None if not kept),
      output (T, n_out) the model-level output at each step (None for a bare LSTM).
    A branch also has `parent`, `root` and `edits` (from meta["branch"]); every
    trace has an `identity`, the hash its branches name it by.
    """

    x: np.ndarray
    h0: np.ndarray
    c0: np.ndarray
    i: np.ndarray
    f: np.ndarray
    g: np.ndarray
    o: np.ndarray
    c: np.ndarray
    h: np.ndarray
    z: np.ndarray | None = None
    spec: LSTMSpec | None = None
    output: np.ndarray | None = None
    tokens: tuple[str, ...] | None = None
    labels: tuple[str, ...] | None = None
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Arrays handed in are copied unless they are already sealed (record(),
        # Recorder and dataclasses.replace of a trace pass sealed arrays), so a
        # caller's later edit of its own array can never rewrite a recording.
        adopted = getattr(_ADOPTING, "on", False)
        for name in ("output",) if adopted else (*_SAVED, "z", "output"):
            a = getattr(self, name)
            if a is not None:
                object.__setattr__(self, name, _owned(np.asarray(a)))
        _validate(self, arrays=not adopted)
        object.__setattr__(self, "meta", _deep_freeze(self.meta))

    @classmethod
    def _adopt(cls, **fields) -> "Trace":
        """The Trace of arrays record() has just made and sealed, in the shapes and dtype
        `_validate` asks for by construction: only what its caller handed in (output,
        tokens, labels, meta) is checked. For a five-word sentence the array checks were
        a tenth of the recording."""
        _ADOPTING.on = True
        try:
            return cls(**fields)
        finally:
            _ADOPTING.on = False

    # --- sizes
    @property
    def num_layers(self) -> int:
        return self.c.shape[0]

    @property
    def num_directions(self) -> int:
        return self.c.shape[1]

    @property
    def T(self) -> int:
        return self.c.shape[2]

    @property
    def hidden_size(self) -> int:
        return self.c.shape[3]

    @property
    def out_size(self) -> int:
        return self.h.shape[3]

    # --- lineage: where a branch came from (recorder.branch)
    @property
    def parent(self) -> str | None:
        """The identity of the trace this branch was made from; None for a recording."""
        lineage = self.meta.get("branch")
        return None if lineage is None else lineage["parent"]

    @property
    def root(self) -> str | None:
        """The identity of the recording at the start of the chain of branches; None for it."""
        lineage = self.meta.get("branch")
        return None if lineage is None else lineage["root"]

    @property
    def preview_until(self) -> int | None:
        """For a preview of a branch (`branch(..., until=k)`): the position from which its
        left-to-right directions still hold the parent's steps, not the branch's; else None."""
        until = self.meta.get("preview_until")
        return until if isinstance(until, int) and not isinstance(until, bool) else None

    @property
    def output_not_recomputed(self) -> str | None:
        """Why this branch has no output although its recording had one (the screen shows it
        instead of a stale prediction); None when its output is its own or there never was one."""
        note = self.meta.get("output_not_recomputed")
        return note if isinstance(note, str) else None

    @cached_property
    def edits(self) -> tuple[Edit, ...]:
        """Every edit between the recording and this trace, oldest first; () for a recording."""
        lineage = self.meta.get("branch")
        return () if lineage is None else tuple(edit_from_json(e) for e in lineage["edits"])

    @cached_property
    def identity(self) -> str:
        """A content hash, "sha256:…": the weights and config, every saved array, the tokens,
        labels and output, and the lineage (parent and edits).

        The same on both sides of a save and load, so a saved branch names its
        parent by something a loaded parent still answers to; different for
        any changed bit. z is left out: it is a cache of what the cell computed,
        kept or dropped for memory, and the same recording with or without it
        is the same recording. Costs one pass over the arrays, the first time.
        """
        digest = hashlib.sha256()
        head = {
            "config": None if self.spec is None else self.spec.config(),
            "tokens": self.tokens, "labels": self.labels, "branch": self.meta.get("branch"),
        }  # fmt: skip
        digest.update(json.dumps(_json_value(head, "identity"), sort_keys=True).encode())
        named = [(n, getattr(self, n)) for n in (*_SAVED, "output") if getattr(self, n) is not None]
        if self.spec is not None:
            named += [(f"weights.{layer}.{d}.{k}", a) for layer, dirs in enumerate(self.spec.weights)
                      for d, w in enumerate(dirs) for k, a in w.arrays().items()]  # fmt: skip
        for name, a in named:
            digest.update(f"{name} {a.dtype.str} {a.shape}\n".encode())
            for block in _c_order_blocks(a):
                digest.update(block.data)
        return "sha256:" + digest.hexdigest()

    # --- every other quantity, from the registry (core/quantities.py)
    def output_activation(self, layer: int, direction: int):
        """The cell's output activation there (tanh unless the model says otherwise)."""
        if self.spec is None:
            return CellActivations().c
        return self.spec.cell_activations(layer, direction).c

    def reads_reversed(self, direction: int) -> bool:
        """Does this direction read right to left, so that its previous step is t + 1?

        Arrays are always indexed by sequence position; only the reading order differs.
        """
        if self.spec is not None:
            return self.spec.reads_reversed(direction)
        return direction == 1

    def window(self, name: str, layer: int, direction: int, t0: int, t1: int) -> np.ndarray:
        """One quantity over positions [t0, t1) of one layer and direction: (t1 − t0, width).

        Only the window is computed, so a heatmap of Δc over a 5000-step,
        1024-unit trace never materialises the whole derived array.
        """
        return self.windows((name,), layer, direction, t0, t1)[name]

    def windows(self, names, layer: int, direction: int, t0: int, t1: int) -> dict[str, np.ndarray]:
        """Several quantities over [t0, t1), sharing what their formulas have in common."""
        t0, t1 = step_index(t0), step_index(t1)
        if not 0 <= t0 <= t1 <= self.T:
            raise IndexError(f"steps {t0}..{t1} are outside the trace (0..{self.T})")
        for name in names:
            resolve(name)  # an unknown name is a KeyError before anything is computed
        reverse = self.reads_reversed(direction)

        def base(n: str) -> np.ndarray:
            cached = self.__dict__.get(n)  # a whole derived array already computed
            if cached is not None:
                return cached[layer, direction, t0:t1]
            if n == "c_prev":
                return previous(self.c[layer, direction], self.c0[layer, direction], reverse, t0, t1)
            if n == "h_prev":
                return previous(self.h[layer, direction], self.h0[layer, direction], reverse, t0, t1)
            return getattr(self, n)[layer, direction, t0:t1]

        return evaluate_many(names, base, self.output_activation(layer, direction))

    def value(self, name: str, layer: int, direction: int, t: int) -> np.ndarray:
        """One quantity at one step, (H,), computed from the stored arrays alone.

        The UI asks for one step at a time; this avoids materialising a whole
        derived [L, D, T, H] array for a model with a thousand units.
        """
        t = step_index(t)
        if not 0 <= t < self.T:  # a negative t would wrap, with c0 as its previous state
            raise IndexError(f"step {t} is outside the trace (0..{self.T - 1})")
        return self.window(name, layer, direction, t, t + 1)[0]

    def _whole(self, name: str) -> np.ndarray:
        """A derived quantity over every layer, direction and step, (L, D, T, width)."""
        return _frozen(np.stack([
            np.stack([self.window(name, layer, d, 0, self.T) for d in range(self.num_directions)])
            for layer in range(self.num_layers)
        ]))  # fmt: skip

    @cached_property
    def c_prev(self) -> np.ndarray:
        """c_{t-1} as the cell saw it at step t: c0 at the first step read."""
        return self._whole("c_prev")

    @cached_property
    def h_prev(self) -> np.ndarray:
        return self._whole("h_prev")

    @cached_property
    def kept(self) -> np.ndarray:
        return self._whole("kept")

    @cached_property
    def forgotten(self) -> np.ndarray:
        return self._whole("forgotten")

    @cached_property
    def written(self) -> np.ndarray:
        return self._whole("written")

    @cached_property
    def delta_c(self) -> np.ndarray:
        return self._whole("delta_c")

    @cached_property
    def tanh_c(self) -> np.ndarray:
        return self._whole("tanh_c")

    @cached_property
    def h_cell(self) -> np.ndarray:
        return self._whole("h_cell")

    def series(self, name: str, layer: int, direction: int) -> np.ndarray:
        """One quantity over the whole sequence, (T, H)."""
        return self.window(name, layer, direction, 0, self.T)

    def extent(self, name: str, layer: int, direction: int) -> tuple[float, float]:
        """(lo, hi): the smallest and largest finite value of a quantity over every step and
        unit of one layer and direction; (nan, nan) when it has no finite value.

        For column widths and colour scales at first paint: computed once, a block of
        steps at a time (never a whole derived (T, H) array), and kept; a trace read from
        a file answers from the ranges saved in it, without reading the steps.
        """
        q = resolve(name).name
        key = (q, int(layer), int(direction))
        cache = self.__dict__.setdefault("_extent_cache", {})
        if key not in cache:
            if not (0 <= key[1] < self.num_layers and 0 <= key[2] < self.num_directions):
                raise IndexError(f"layer {layer}, direction {direction} is not in the trace")
            cache.update(_extents(self, (q,), key[1], key[2]))
        return cache[key]

    def _all_extents(self) -> tuple[tuple[str, ...], np.ndarray]:
        """EXTENT_NAMES and their extents as one (Q, L, D, 2) float64 array, for the file."""
        cache = self.__dict__.setdefault("_extent_cache", {})
        out = np.empty((len(EXTENT_NAMES), self.num_layers, self.num_directions, 2))
        for layer in range(self.num_layers):
            for d in range(self.num_directions):
                missing = tuple(n for n in EXTENT_NAMES if (n, layer, d) not in cache)
                if missing:
                    cache.update(_extents(self, missing, layer, d))
                for k, n in enumerate(EXTENT_NAMES):
                    out[k, layer, d] = cache[(n, layer, d)]
        return EXTENT_NAMES, out

    def layer_input(self, layer: int) -> np.ndarray:
        """What layer `layer` read: x, or the layer below's h with directions concatenated."""
        if layer == 0:
            return self.x
        below = self.h[layer - 1]
        return np.concatenate(list(below), axis=-1)

    # --- comparison
    def diff(self, other: "Trace", *, tol: float | None = None):
        """A TraceDiff (core/diff.py) of this trace against `other`, differences other − self:
        `parent.diff(branch)` reads as what the branch changed. `tol` defaults to 1e-5 when
        either is float32, else 1e-10."""
        from .diff import TraceDiff  # diff reads traces; a trace needs it only when asked

        return TraceDiff(self, other, tol=tol)

    # --- file format
    def save(
        self, path: str | os.PathLike, *, overwrite: bool = False,
        exists_hint: str = "pass overwrite=True to replace it", compress: bool = False,
    ) -> Path:  # fmt: skip
        """Write one .npz readable with np.load(path, allow_pickle=False).

        Uncompressed and 64-byte aligned by default (core/store.py), so that
        Trace.load maps it instead of reading it; `compress=True` writes the
        zlib-compressed form of version 2 (i, f, g, o apart), several times
        smaller and slower to write and to open.
        Through `files.write_file`: a temporary file created exclusively beside
        the destination, then linked into place, so a failed save never leaves
        half a trace, two saves to one new name never both succeed, and an
        existing file (only a regular one) is replaced only with `overwrite`;
        `exists_hint` ends the TargetExistsError's message (the CLI says --force).
        """
        path = Path(path)
        if self.preview_until is not None:
            raise InputError("this trace is a preview of a branch (from position "
                             f"{self.preview_until} on it holds its parent's steps); "
                             "save the full branch")  # fmt: skip
        if compress:
            arrays = dict(_compressed_members(self))
            write = lambda fh: np.savez_compressed(fh, **arrays)  # noqa: E731
        else:
            from .store import write_archive

            write = lambda fh: write_archive(fh, trace_members(self))  # noqa: E731
        return write_file(path, write, overwrite=overwrite, exists_hint=exists_hint)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Trace":
        """Read a file written by `save`; anything else is a LoadError naming the file.

        An uncompressed file is memory-mapped (core/store.py): its arrays are
        read-only views of the file's pages, read only where they are shown.
        A compressed one (`save(compress=True)`, and every file written before
        version 3) is read whole, within the limits of core/limits.py.
        A trace file comes from users and other programs, so every way it can
        be malformed (truncated, bit-flipped, another .npz, a hand edit) ends
        as one clear LoadError rather than a traceback.
        """
        path = require_regular_file(path, "trace file")
        with open_regular(path, "trace file") as fh:
            return cls._from_file(fh, path)

    @classmethod
    def _from_file(cls, fh, path: Path) -> "Trace":
        from .store import Compressed, read_archive

        head = os.pread(fh.fileno(), 6, 0)
        if head.startswith(b"\x93NUMPY"):
            raise LoadError(f"{path}: not a trace file (a single array, not an .npz)")
        if not head.startswith(b"PK\x03\x04"):
            raise LoadError(f"{path}: not a trace file (not an .npz archive)")
        # only the members the format defines are read, each within the limits of core/limits.py
        try:
            data = read_archive(fh, path, _is_trace_member)
        except Compressed:
            data = read_npz(path, keep=_is_trace_member, what="trace file")
        try:
            return cls._from_arrays(data, path)
        except LoadError:
            raise
        except (EngineError, KeyError, TypeError, ValueError, AttributeError, IndexError,
                OverflowError, RecursionError) as e:  # fmt: skip
            raise LoadError(f"{path}: damaged trace file ({_one_line(e)})") from None

    def __reduce__(self):
        """Pickle (and copy.deepcopy) a trace as its fields, meta as plain JSON data.

        Frozen meta (FrozenDict, FrozenList) cannot be pickled as it is;
        the rebuilt trace validates, seals and freezes everything again.
        """
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        fields["meta"] = _thawed(self.meta)
        return (_rebuild, (fields,))

    @classmethod
    def _from_arrays(cls, data: dict, path: Path) -> "Trace":
        if "meta" not in data:
            raise LoadError(f"{path}: not an lstm-tui trace (no meta record)")
        meta_text = data.pop("meta")
        if meta_text.dtype.kind not in "US" or meta_text.shape != ():
            raise LoadError(f"{path}: not an lstm-tui trace (meta is not one JSON string)")
        meta = read_json(str(meta_text), f"{path}: meta")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            fmt = meta.get("format") if isinstance(meta, dict) else None
            raise LoadError(f"{path}: not an lstm-tui trace (format {fmt!r})")
        if meta.get("version", 0) > FORMAT_VERSION:
            raise LoadError(
                f"{path}: trace format version {meta['version']} is newer than this "
                f"lstm-tui understands ({FORMAT_VERSION}); upgrade lstm-tui"
            )
        if "gates" in data:  # version 3: i, f, g, o interleaved in one member, as recorded
            gates = data.pop("gates")
            if any(k in data for k in ("i", "f", "g", "o")):
                raise LoadError(f"{path}: holds the gates twice (gates and i/f/g/o)")
            if gates.ndim != 5 or gates.shape[3] != 4:
                raise LoadError(f"{path}: gates has shape {gates.shape}, expected (L, D, T, 4, H)")
            data.update(i=gates[:, :, :, 0], f=gates[:, :, :, 1], g=gates[:, :, :, 2],
                        o=gates[:, :, :, 3])  # fmt: skip
        missing = [k for k in _SAVED if k not in data]
        if missing:
            raise LoadError(f"{path}: trace is missing arrays {missing}")
        valid = meta.pop("valid_steps", None)
        if valid is not None:  # a recording stopped early: its first `valid` steps hold
            if type(valid) is not int or not 1 <= valid <= data["c"].shape[2]:
                raise LoadError(f"{path}: valid_steps {valid!r} is not a step count of the file")
            data["x"] = data["x"][:valid]
            for k in ("i", "f", "g", "o", "c", "h", "z"):
                if k in data:
                    data[k] = data[k][:, :, :valid]
        spec = _spec_from_saved(data, meta.get("config"))
        tokens, labels = meta.pop("tokens", None), meta.pop("labels", None)
        for name, seq in (("tokens", tokens), ("labels", labels)):
            if seq is not None and not isinstance(seq, list):
                raise LoadError(f"{path}: {name} is a {type(seq).__name__}, not a list of strings")
        extent_names = meta.pop("extents", None)
        trace = cls(
            **{k: data[k] for k in _SAVED},
            z=data.get("z"),
            output=data.get("output"),
            spec=spec,
            tokens=tuple(tokens) if tokens is not None else None,
            labels=tuple(labels) if labels is not None else None,
            meta=meta,
        )
        if extent_names is not None or "extents" in data:
            _adopt_extents(trace, extent_names, data.get("extents"), path)
        return trace


def trace_members(trace: Trace, *, skip=(), valid_steps: int | None = None):
    """(name, array) or (name, (shape, dtype, blocks)) for every member of `trace`'s file,
    in file order: the arrays, the weights, the extents and meta last (version 3).

    `skip` names members already in the file (a recording's own buffers,
    core/store.TraceFile); `valid_steps` goes into meta when only that many of
    the steps those hold are the trace's (a recording stopped early).
    """
    L, D, T, H = trace.c.shape
    if "x" not in skip:
        yield "x", trace.x
    yield "h0", trace.h0
    yield "c0", trace.c0
    if "gates" not in skip:
        from .recorder import _gate_block  # the recorder's own test for "one block of gates"

        block = _gate_block(trace)
        rows = max(1, (8 << 20) // max(1, 4 * H * trace.c.itemsize))

        def gate_blocks():  # recorded gates are written as they lie; others stacked in pieces
            for layer in range(L):
                for d in range(D):
                    for t in range(0, T, rows):
                        if block is not None:
                            yield block[layer, d, t : t + rows]
                        else:
                            yield np.stack([getattr(trace, n)[layer, d, t : t + rows]
                                            for n in ("i", "f", "g", "o")], axis=1)  # fmt: skip

        yield "gates", ((L, D, T, 4, H), trace.c.dtype, gate_blocks())
    for name in ("c", "h", "z"):
        if name not in skip and getattr(trace, name) is not None:
            yield name, getattr(trace, name)
    if trace.output is not None:
        yield "output", trace.output
    if trace.spec is not None:
        for layer, dirs in enumerate(trace.spec.weights):
            for d, w in enumerate(dirs):
                for name, arr in w.arrays().items():
                    yield f"weights.{layer}.{d}.{name}", arr
    names, extents = trace._all_extents()
    yield "extents", extents
    meta = _file_meta(trace)
    meta["extents"] = list(names)
    if valid_steps is not None:
        meta["valid_steps"] = int(valid_steps)
    yield "meta", np.array(json.dumps(_json_value(meta, "meta"), allow_nan=False))


def _compressed_members(trace: Trace):
    """The members of a compressed (version 2 layout) file: i, f, g, o apart, no extents."""
    for name in (*_SAVED, "z", "output"):
        if getattr(trace, name) is not None:
            yield name, np.ascontiguousarray(getattr(trace, name))
    if trace.spec is not None:
        for layer, dirs in enumerate(trace.spec.weights):
            for d, w in enumerate(dirs):
                for name, arr in w.arrays().items():
                    yield f"weights.{layer}.{d}.{name}", arr
    yield "meta", np.array(json.dumps(_json_value(_file_meta(trace), "meta"), allow_nan=False))


def _file_meta(trace: Trace) -> dict:
    meta = dict(trace.meta)
    meta["format"] = FORMAT
    meta["version"] = FORMAT_VERSION
    meta["tokens"] = list(trace.tokens) if trace.tokens is not None else None
    meta["labels"] = list(trace.labels) if trace.labels is not None else None
    if trace.spec is not None:
        meta["config"] = trace.spec.config()
    return meta


def _extents(trace: Trace, names, layer: int, direction: int) -> dict:
    """{(name, layer, direction): (lo, hi)} of finite values, a block of steps at a time."""
    width = max(trace.hidden_size, trace.out_size)
    rows = max(1, _EXTENT_BLOCK // width)
    lo = dict.fromkeys(names, np.inf)
    hi = dict.fromkeys(names, -np.inf)
    with np.errstate(invalid="ignore", over="ignore"):
        for t0 in range(0, trace.T, rows):
            got = trace.windows(names, layer, direction, t0, min(t0 + rows, trace.T))
            for n in names:
                a = got[n]
                a_lo, a_hi = a.min(), a.max()
                if not (np.isfinite(a_lo) and np.isfinite(a_hi)):  # NaN or inf here: the slow way
                    a = a[np.isfinite(a)]
                    if not a.size:
                        continue
                    a_lo, a_hi = a.min(), a.max()
                lo[n], hi[n] = min(lo[n], float(a_lo)), max(hi[n], float(a_hi))
    return {(n, layer, direction): (lo[n], hi[n]) if lo[n] <= hi[n] else (np.nan, np.nan)
            for n in names}  # fmt: skip


def _adopt_extents(trace: Trace, names, extents, path) -> None:
    """The extents saved in a file as the trace's, once they are checked to be extents of it."""
    if not isinstance(names, list) or extents is None:
        raise LoadError(f"{path}: extents without their names, or names without extents")
    for n in names:
        if not isinstance(n, str) or n not in VALUE_NAMES:
            raise LoadError(f"{path}: extents name an unknown quantity {n!r}")
    if len(set(names)) != len(names):
        raise LoadError(f"{path}: extents name a quantity twice")
    shape = (len(names), trace.num_layers, trace.num_directions, 2)
    if extents.dtype != np.float64 or extents.shape != shape:
        raise LoadError(f"{path}: extents are {extents.dtype} {extents.shape}, expected "
                        f"float64 {shape}")  # fmt: skip
    lo, hi = extents[..., 0], extents[..., 1]
    both_nan = np.isnan(lo) & np.isnan(hi)
    if not (both_nan | (np.isfinite(lo) & np.isfinite(hi) & (lo <= hi))).all():
        raise LoadError(f"{path}: extents are not (lo ≤ hi) pairs of finite numbers")
    cache = trace.__dict__.setdefault("_extent_cache", {})
    for k, n in enumerate(names):
        for layer in range(trace.num_layers):
            for d in range(trace.num_directions):
                cache[(n, layer, d)] = (float(lo[k, layer, d]), float(hi[k, layer, d]))


def stack_layers(layers) -> Trace:
    """One trace of a stacked LSTM from one-layer traces of its layers, bottom first.

    An ONNX export writes a k-layer LSTM as k one-layer nodes; traced node by node on one
    input and stacked, it has the shape of the original's trace, so the two can be compared
    layer by layer (Trace.diff). Each layer must read what the one below output (x has its
    width); the top layer's output, tokens and labels are the stack's.
    """
    layers = tuple(layers)
    if not layers or not all(isinstance(t, Trace) for t in layers):
        raise InputError("stack_layers takes one or more traces")
    first, top = layers[0], layers[-1]
    for k, t in enumerate(layers):
        if t.num_layers != 1:
            raise InputError(f"trace {k} has {t.num_layers} layers; stack one-layer traces")
        got = (t.num_directions, t.T, t.hidden_size, t.out_size, t.c.dtype)
        want = (first.num_directions, first.T, first.hidden_size, first.out_size, first.c.dtype)
        if got != want:
            raise InputError(f"trace {k} has (directions, T, hidden, h width, dtype) {got}, "
                             f"trace 0 has {want}: not layers of one LSTM")  # fmt: skip
        if k and t.x.shape[1] != first.num_directions * first.out_size:
            raise InputError(f"trace {k} reads {t.x.shape[1]} features per step, but the layer "
                             f"below outputs {first.num_directions * first.out_size}")  # fmt: skip
    spec = None
    specs = [t.spec for t in layers]
    if all(sp is not None for sp in specs) and len({(sp.clip, sp.input_forget, sp.directions)
                                                    for sp in specs}) == 1:  # fmt: skip
        spec = LSTMSpec(
            weights=tuple(sp.weights[0] for sp in specs),
            activations=tuple(tuple(sp.cell_activations(0, d) for d in range(sp.num_directions))
                              for sp in specs),  # fmt: skip
            clip=specs[0].clip, input_forget=specs[0].input_forget, directions=specs[0].directions,
        )  # fmt: skip

    def cat(name):
        return np.concatenate([getattr(t, name) for t in layers])

    return Trace(
        x=first.x, h0=cat("h0"), c0=cat("c0"), i=cat("i"), f=cat("f"), g=cat("g"), o=cat("o"),
        c=cat("c"), h=cat("h"), z=None if any(t.z is None for t in layers) else cat("z"),
        spec=spec, output=top.output, tokens=top.tokens, labels=top.labels,
        meta={k: v for k, v in top.meta.items() if k not in ("branch", "format", "version")},
    )  # fmt: skip


def _c_order_blocks(a: np.ndarray, elements: int = 1 << 22):
    """`a`'s bytes in C order as contiguous blocks of about `elements`: hashing a view (trace.i
    of the gates, a mapped file) never copies the whole array into memory at once."""
    if a.ndim < 2 or a.flags.c_contiguous:
        yield np.ascontiguousarray(a)
        return
    rows = max(1, elements // max(1, a.shape[-1]))
    for lead in np.ndindex(a.shape[:-2]):
        plane = a[lead]
        for r in range(0, plane.shape[0], rows):
            yield np.ascontiguousarray(plane[r : r + rows])


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _is_trace_member(name: str) -> bool:
    """The arrays the trace format defines; anything else in the archive is never read."""
    return (name in _SAVED or name in ("gates", "z", "output", "meta", "extents")
            or name.startswith("weights."))


def _thawed(v):
    if isinstance(v, Mapping):
        return {k: _thawed(item) for k, item in v.items()}
    if isinstance(v, list):
        return [_thawed(item) for item in v]
    return v


def _rebuild(fields: dict) -> "Trace":
    return Trace(**fields)


def _spec_from_saved(data: dict, config: dict | None) -> LSTMSpec | None:
    if config is None or "weights.0.0.W_ih" not in data:
        return None
    layers = []
    for layer in range(config["num_layers"]):
        dirs = []
        for d in range(2 if config["bidirectional"] else 1):
            prefix = f"weights.{layer}.{d}."
            dirs.append(
                CellWeights(**{k[len(prefix):]: v for k, v in data.items() if k.startswith(prefix)})
            )
        layers.append(tuple(dirs))
    return LSTMSpec(
        weights=tuple(layers),
        batch_first=config.get("batch_first", False),
        activations=CellActivations.from_config(config["activations"]),
        clip=config.get("clip"),
        input_forget=config.get("input_forget", False),
        directions=tuple(config["directions"]) if "directions" in config else None,
    )


_STATE = ("i", "f", "g", "o", "c", "h", "h0", "c0", "z")


#: Set while `Trace._adopt` builds a trace (per thread: recordings run in workers too).
_ADOPTING = threading.local()


def _validate(trace: Trace, arrays: bool = True) -> None:
    """Refuse a Trace that a save/load round trip or the UI could not handle (InputError).

    Checked at construction, so record(), a hand-built Trace and Trace.load
    all share one definition of a well-formed trace, and a bad one fails
    where it is made, not later in the UI. Costs O(1) per array (dtype and
    shape only), never a pass over the data. `arrays=False` (`Trace._adopt`)
    leaves out the recorded arrays, which the recorder made to this definition.
    """
    if arrays:
        _validate_arrays(trace)
    L, D, T, H = trace.c.shape
    P = trace.h.shape[3]
    output = trace.output
    if output is not None and not isinstance(output, np.ndarray):
        raise InputError(f"output must be a numpy array, got {type(output).__name__}")
    if output is not None and output.dtype.kind not in "fiu":
        raise InputError(f"output must hold real numbers, got dtype {output.dtype}")
    if output is not None and (output.ndim != 2 or output.shape[0] != T):
        raise InputError(
            f"output has shape {output.shape}, expected ({T}, n_out): one row per step"
        )
    for name in ("tokens", "labels"):
        seq = getattr(trace, name)
        if seq is None:
            continue
        if isinstance(seq, (str, bytes)) or not isinstance(seq, (tuple, list)):
            raise InputError(f"{name} must be a sequence of strings, got {type(seq).__name__}")
        bad = [v for v in seq if not isinstance(v, str)][:1]
        if bad:
            bad = bad[0]
            raise InputError(f"{name} must be strings, got {type(bad).__name__} {bad!r}")
        object.__setattr__(trace, name, tuple(seq))
    if trace.tokens is not None and len(trace.tokens) != T:
        raise InputError(f"{len(trace.tokens)} tokens for {T} steps")
    # labels name the output's classes (DET, NN, V), one per output column, not per step
    labels = trace.labels
    if labels is not None and output is not None and len(labels) != output.shape[1]:
        raise InputError(f"{len(labels)} labels for {output.shape[1]} output columns")
    spec = trace.spec
    if spec is not None:
        got = (spec.num_layers, spec.num_directions, spec.hidden_size, spec.out_size,
               spec.input_size)  # fmt: skip
        if got != (L, D, H, P, trace.x.shape[1]):
            raise InputError("the weights (spec) do not match the recorded arrays' sizes")
    if not isinstance(trace.meta, Mapping):
        raise InputError(f"meta must be a dict, got {type(trace.meta).__name__}")
    object.__setattr__(trace, "meta", _json_value(trace.meta, "meta"))
    if "branch" in trace.meta:
        _validate_lineage(trace)
    unk = trace.meta.get("unk_positions")
    if unk is not None and (
        not isinstance(unk, list)
        or not all(isinstance(k, int) and not isinstance(k, bool) and 0 <= k < T for k in unk)
    ):
        raise InputError(f"meta['unk_positions'] must list token positions 0..{T - 1}")


def _validate_arrays(trace: Trace) -> None:
    """The recorded arrays: numpy, floating point, one dtype (the weights' too), and shapes
    that agree with c's (L, D, T, H) and h's width P."""
    for name in (*_SAVED, "z"):
        a = getattr(trace, name)
        if a is None and name == "z":
            continue
        if not isinstance(a, np.ndarray):
            raise InputError(f"{name} must be a numpy array, got {type(a).__name__}")
        if a.dtype.kind != "f":
            raise InputError(f"{name} must hold floating point, got dtype {a.dtype}")
    dt = trace.c.dtype
    for name in ("x", *_STATE):
        a = getattr(trace, name)
        if a is not None and a.dtype != dt:
            raise InputError(f"{name} has dtype {a.dtype} but c has {dt}; a trace has one dtype")
    if trace.spec is not None and trace.spec.dtype != dt:
        raise InputError(f"the arrays are {dt} but the weights are {trace.spec.dtype}")
    if trace.c.ndim != 4 or trace.h.ndim != 4:
        raise InputError(f"c and h must be (layers, directions, T, units), got shapes "
                         f"{trace.c.shape} and {trace.h.shape}")  # fmt: skip
    L, D, T, H = trace.c.shape
    P = trace.h.shape[3]
    if T == 0:
        raise InputError("a trace needs at least one step (T is 0)")
    if L == 0:
        raise InputError("a trace needs at least one layer (it has 0)")
    if D not in (1, 2):
        raise InputError(f"an LSTM has 1 or 2 directions, the trace has {D}")
    if H == 0 or P == 0:
        raise InputError(f"a trace needs at least one unit (hidden size {H}, h width {P})")
    expect = {
        "i": (L, D, T, H), "f": (L, D, T, H), "g": (L, D, T, H), "o": (L, D, T, H),
        "h": (L, D, T, P), "h0": (L, D, P), "c0": (L, D, H),
    }  # fmt: skip
    for name, shape in expect.items():
        if getattr(trace, name).shape != shape:
            raise InputError(f"{name} has shape {getattr(trace, name).shape}, expected {shape}")
    if trace.x.ndim != 2 or trace.x.shape[0] != T:
        raise InputError(f"x has shape {trace.x.shape}, the trace has {T} steps")
    if trace.z is not None and trace.z.shape != (L, D, T, 4, H):
        raise InputError(f"z has shape {trace.z.shape}, expected {(L, D, T, 4, H)}")


def _validate_lineage(trace: Trace) -> None:
    """meta["branch"]: a parent and a root identity, and edits that fit the trace."""
    lineage = trace.meta["branch"]
    if not isinstance(lineage, dict) or set(lineage) != {"parent", "root", "edits"}:
        raise InputError("meta['branch'] must hold exactly 'parent', 'root' and 'edits'")
    for key in ("parent", "root"):
        if not isinstance(lineage[key], str):
            raise InputError(f"meta['branch'][{key!r}] must be an identity string")
    if not isinstance(lineage["edits"], list):
        raise InputError("meta['branch']['edits'] must be a list of edits")
    edits = tuple(edit_from_json(e) for e in lineage["edits"])
    if trace.spec is not None:
        check_edits(edits, trace.spec, trace.T)


def _json_value(v, where: str):
    """v as plain JSON data (dict, list, str, int, float, bool, None); numpy scalars become Python.

    Non-finite floats become None: JSON has no NaN, and a trace file must be
    readable by any JSON parser. Anything else is an InputError naming the key.
    """
    if isinstance(v, np.generic) and v.dtype.kind in "biufU":
        v = v.item()
    if v is None or isinstance(v, (str, bool, int)) or _is_frozen(v):
        return v
    if isinstance(v, float):
        return v if np.isfinite(v) else None
    if isinstance(v, Mapping):
        out = {}
        for k, item in v.items():
            if not isinstance(k, str):
                raise InputError(f"{where} has a non-string key {k!r}; trace meta must be JSON data")
            out[k] = _json_value(item, f"{where}[{k!r}]")
        return out
    if isinstance(v, (list, tuple)):
        return [_json_value(item, f"{where}[{n}]") for n, item in enumerate(v)]
    raise InputError(
        f"{where} is a {type(v).__name__}; trace meta must be JSON data "
        "(dict, list, str, int, float, bool, None)"
    )
