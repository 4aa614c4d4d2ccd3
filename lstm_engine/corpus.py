"""A corpus: many inputs recorded through one model, held as ONE trace concatenated along T.

LSTMVis finds a unit by looking across many inputs; select and match (select.py) read a
corpus exactly as they read one trace, because a corpus *is* one trace (`Corpus.whole`),
with a record of where each input starts in its meta:

    meta["corpus"] = {"starts": [0, 12, 40, ...],   # the position of each input's first step
                      "planned": K,                 # how many inputs were asked for
                      "first_nonfinite": {"k": {...}}}   # per input, where one had NaN/Inf

Every input is recorded from the model's initial state, the trace's h0/c0 (the same for
every input, so it is stored once), and z is not kept. So the file is a trace file like any
other (store's format: `np.load` reads it, the UI maps it) and a recording cut short keeps
its first inputs whole: `starts` then lists only those, and `planned` says how many were
asked for (`Corpus.complete`).

`Corpus.trace(k)` is input k as a Trace of its own, a view over its rows of the whole (no
copy); `Corpus.window` computes any registry quantity with each input's first step reading
the initial state, where the whole's own `window` would read the previous input's last step.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain
from pathlib import Path

import numpy as np

from .core.errors import InputError, LoadError
from .core.files import read_bytes, read_json, read_npz, require_regular_file
from .core.limits import max_items
from .core.quantities import evaluate_many, previous, resolve
from .core.readonly import seal
from .core.recorder import MemoryBuffers
from .core.trace import Trace, step_index

#: The meta key of a corpus's record (the starts of its inputs).
KEY = "corpus"
#: Meta entries that describe positions of the whole, so a per-input trace gets its own.
_PER_INPUT = (KEY, "unk_positions", "first_nonfinite", "marks")


@dataclass(frozen=True, eq=False)
class Corpus:
    """Inputs concatenated along T in `whole`, whose meta["corpus"]["starts"] says where each
    begins. Build one with `record_corpus`, `Corpus.from_traces` or `open_corpus`."""

    whole: Trace

    def __post_init__(self) -> None:
        record = self.whole.meta.get(KEY)
        if not isinstance(record, Mapping) or "starts" not in record:
            raise InputError("not a corpus: the trace has no meta['corpus']['starts']")
        starts = record["starts"]
        T = self.whole.T
        if (not isinstance(starts, (list, tuple)) or not starts
                or not all(type(s) is int for s in starts)):  # fmt: skip
            raise InputError("meta['corpus']['starts'] must list whole-number positions")
        arr = np.asarray(starts, dtype=np.int64)
        if arr[0] != 0 or np.any(np.diff(arr) <= 0) or arr[-1] >= T:
            raise InputError(f"meta['corpus']['starts'] must rise from 0 and stay below T={T}")
        planned = record.get("planned", len(starts))
        if type(planned) is not int or planned < len(starts):
            raise InputError("meta['corpus']['planned'] must be at least the number of inputs")
        object.__setattr__(self, "_starts", seal(arr))

    # --- sizes and places
    @property
    def starts(self) -> np.ndarray:
        """(K,) the position of each input's first step in the whole (read-only)."""
        return self._starts

    @cached_property
    def lengths(self) -> np.ndarray:
        """(K,) each input's number of steps."""
        return seal(np.diff(np.append(self._starts, self.whole.T)))

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def planned(self) -> int:
        """How many inputs the recording was asked for (more than len(self) if cut short)."""
        return int(self.whole.meta[KEY].get("planned", len(self)))

    @property
    def complete(self) -> bool:
        return self.planned == len(self)

    def _index(self, k) -> int:
        k = step_index(k)
        if not 0 <= k < len(self):
            raise IndexError(f"input {k + 1} does not exist (the corpus has {len(self)}, from 1)")
        return k

    def bounds(self, k: int) -> tuple[int, int]:
        """Positions [start, stop) of input k (0-based) in the whole."""
        k = self._index(k)
        return int(self._starts[k]), int(self._starts[k] + self.lengths[k])

    def locate(self, position: int) -> tuple[int, int]:
        """(input k, offset in it) of a position of the whole: a user sees input k + 1,
        step offset + 1."""
        position = step_index(position)
        if not 0 <= position < self.whole.T:
            raise IndexError(f"position {position} is outside the corpus (0..{self.whole.T - 1})")
        k = int(np.searchsorted(self._starts, position, side="right")) - 1
        return k, position - int(self._starts[k])

    def tokens(self, k: int) -> tuple[str, ...] | None:
        """Input k's tokens (None for numeric inputs), without building its trace."""
        start, stop = self.bounds(k)
        return None if self.whole.tokens is None else self.whole.tokens[start:stop]

    # --- one input as a trace of its own
    def trace(self, k: int) -> Trace:
        """Input k (0-based) as a Trace: views of its rows of the whole, the model's initial
        state, its own tokens and output, and the meta entries that point at its steps."""
        start, stop = self.bounds(k)
        w = self.whole
        rows = slice(start, stop)
        meta = {key: v for key, v in w.meta.items() if key not in _PER_INPUT}
        unk = [p - start for p in (w.meta.get("unk_positions") or ()) if start <= p < stop]
        if unk:
            meta["unk_positions"] = unk
        bad = (w.meta[KEY].get("first_nonfinite") or {}).get(str(k))
        meta["first_nonfinite"] = bad
        meta["input"] = {"index": k + 1, "of": len(self), "start": start}
        return Trace(
            x=w.x[rows], h0=w.h0, c0=w.c0, i=w.i[:, :, rows], f=w.f[:, :, rows],
            g=w.g[:, :, rows], o=w.o[:, :, rows], c=w.c[:, :, rows], h=w.h[:, :, rows],
            z=None, spec=w.spec, output=None if w.output is None else w.output[rows],
            tokens=None if w.tokens is None else w.tokens[rows], labels=w.labels, meta=meta,
        )  # fmt: skip

    # --- quantities with each input's own initial state
    def window(self, name: str, layer: int, direction: int, t0: int, t1: int) -> np.ndarray:
        """Like Trace.window over the whole, except that the step each input reads first
        (its first position, or its last for a direction that reads right to left) reads the
        initial state, as it did when it was recorded."""
        w = self.whole
        t0, t1 = step_index(t0), step_index(t1)
        if not 0 <= t0 <= t1 <= w.T:
            raise IndexError(f"steps {t0}..{t1} are outside the corpus (0..{w.T})")
        resolve(name)
        reverse = w.reads_reversed(direction)
        first_read = (np.append(self._starts[1:], w.T) - 1) if reverse else self._starts
        edges = first_read[(first_read >= t0) & (first_read < t1)] - t0

        def base(n: str) -> np.ndarray:
            if n in ("c_prev", "h_prev"):
                series, init = (w.c, w.c0) if n == "c_prev" else (w.h, w.h0)
                prev = previous(series[layer, direction], init[layer, direction], reverse, t0, t1)
                if edges.size:
                    prev = np.array(prev)
                    prev[edges] = init[layer, direction]
                return prev
            return getattr(w, n)[layer, direction, t0:t1]

        return evaluate_many((name,), base, w.output_activation(layer, direction))[name]

    # --- building and saving
    @classmethod
    def from_traces(cls, traces: Sequence[Trace], *, planned: int | None = None) -> "Corpus":
        """The corpus of these traces, concatenated (copied): every one from the same initial
        state, of one LSTM (the first one's spec, labels and meta describe the whole)."""
        traces = list(traces)
        if not traces or not all(isinstance(t, Trace) for t in traces):
            raise InputError("a corpus needs one or more traces")
        first = traces[0]
        for k, t in enumerate(traces[1:], 1):
            _check_same(first, t, k)
        lengths = [t.T for t in traces]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(int).tolist()

        def cat(name, axis):
            return np.concatenate([getattr(t, name) for t in traces], axis=axis)

        unk: list[int] = []
        bad: dict[str, dict] = {}
        warnings: list[str] = []
        for k, (t, start) in enumerate(zip(traces, starts)):
            _per_input(t, k, start, unk, bad, warnings)
        planned = len(traces) if planned is None else planned
        meta = _whole_meta(first, starts, planned, unk, bad, warnings)
        whole = Trace(
            x=cat("x", 0), h0=first.h0, c0=first.c0, i=cat("i", 2), f=cat("f", 2), g=cat("g", 2),
            o=cat("o", 2), c=cat("c", 2), h=cat("h", 2), spec=first.spec,
            output=None if first.output is None else cat("output", 0),
            tokens=None if first.tokens is None else tuple(chain.from_iterable(t.tokens
                                                                for t in traces)),
            labels=first.labels, meta=meta,
        )  # fmt: skip
        return cls(whole)

    def save(self, path: str | os.PathLike, *, overwrite: bool = False,
             exists_hint: str = "pass overwrite=True to replace it") -> Path:  # fmt: skip
        """Write the corpus as one trace file (Trace.save): np.load reads it, and so does
        open_corpus (and `lstm-tui` opens it)."""
        return self.whole.save(path, overwrite=overwrite, exists_hint=exists_hint)


def _check_same(first: Trace, t: Trace, k: int) -> None:
    shape = lambda tr: (tr.num_layers, tr.num_directions, tr.hidden_size, tr.out_size,  # noqa: E731
                        tr.x.shape[1], tr.c.dtype)  # fmt: skip
    if shape(t) != shape(first):
        raise InputError(f"input {k + 1} was recorded with (layers, directions, hidden, h width, "
                         f"input width, dtype) {shape(t)}, input 1 with "
                         f"{shape(first)}")  # fmt: skip
    if not (np.array_equal(t.h0, first.h0) and np.array_equal(t.c0, first.c0)):
        raise InputError(f"input {k + 1} starts from another initial state than input 1; a "
                         "corpus records every input from the model's initial state")  # fmt: skip
    for name in ("tokens", "output"):
        if (getattr(t, name) is None) != (getattr(first, name) is None):
            raise InputError(f"input {k + 1} and input 1 differ in having {name}")
    if first.output is not None and t.output.shape[1] != first.output.shape[1]:
        raise InputError(f"input {k + 1} has {t.output.shape[1]} outputs, input 1 "
                         f"{first.output.shape[1]}")  # fmt: skip
    if t.labels != first.labels:
        raise InputError(f"input {k + 1} has other labels than input 1")


def _whole_meta(first: Trace, starts, planned: int, unk, bad: dict, warnings) -> dict:
    """Input 1's meta for the whole, with the per-position entries of every input: unknown
    tokens at their positions in the whole, where each input met a NaN or Inf (and the
    whole's first one), every warning once, and the corpus record."""
    meta = {key: v for key, v in first.meta.items() if key not in (*_PER_INPUT, "input")}
    if unk:
        meta["unk_positions"] = list(unk)
    meta["first_nonfinite"] = None
    if bad:
        k, where = next(iter(bad.items()))
        meta["first_nonfinite"] = ({**where, "t": where["t"] + int(starts[int(k)])}
                                   if "t" in where else where)  # fmt: skip
    if warnings:
        meta["warnings"] = list(dict.fromkeys(warnings))
    meta[KEY] = {"starts": [int(v) for v in starts], "planned": planned,
                 **({"first_nonfinite": bad} if bad else {})}  # fmt: skip
    return meta


def _per_input(tr: Trace, k: int, start: int, unk: list, bad: dict, warnings: list) -> None:
    """Collect input k's per-position meta (recorded at `start` in the whole)."""
    unk += [start + p for p in (tr.meta.get("unk_positions") or ())]
    if tr.meta.get("first_nonfinite"):
        bad[str(k)] = dict(tr.meta["first_nonfinite"])
    warnings += list(tr.meta.get("warnings") or ())


# --- corpus files
def is_corpus_file(path: str | os.PathLike) -> bool:
    """A trace file whose meta says it is a corpus (only its meta member is read)."""
    from .open import is_trace_file  # the one rule for what a trace file is

    if not is_trace_file(path):
        return False
    try:
        meta = read_npz(path, keep=("meta",), what="trace file").get("meta")
        record = read_json(str(meta), f"{path}: meta") if meta is not None else None
    except (LoadError, ValueError):
        return False
    return isinstance(record, dict) and isinstance(record.get(KEY), dict)


def open_corpus(path: str | os.PathLike) -> Corpus:
    """The corpus in a trace file; a LoadError in one line for a trace that is not one."""
    whole = Trace.load(path)
    if not isinstance(whole.meta.get(KEY), Mapping):
        raise LoadError(f"{path}: a trace of one input, not a corpus "
                        f"(open it with: lstm-tui {path})")  # fmt: skip
    try:
        return Corpus(whole)
    except InputError as e:
        raise LoadError(f"{path}: damaged corpus ({e})") from None


# --- reading the inputs: one a line, or the whole file
def read_text_inputs(path: str | os.PathLike, *, whole: bool = False) -> list[str]:
    """The inputs in a UTF-8 text file: one a line (a line break is "\\n" or "\\r\\n"; blank
    lines, empty or only whitespace, are skipped: they are no sentence to look at), or with
    `whole` the whole file as one input (for a character model: newlines are characters it
    reads). InputError in one line."""
    path = require_regular_file(path, "text file", error=InputError)
    try:
        raw = read_bytes(path, "text file", error=InputError)
    except LoadError as e:  # too large: the limit's own message
        raise InputError(str(e)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text (byte {e.start} cannot be decoded)") from None
    if text.startswith("\ufeff"):  # a byte-order mark is not part of the first input
        text = text[1:]
    if whole:
        if not text:
            raise InputError(f"{path}: empty file, nothing to feed the model")
        return [text]
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    inputs = [line for line in lines if line.strip()]
    if not inputs:
        raise InputError(f"{path}: no line that is not blank, nothing to feed the model")
    if len(inputs) > max_items():
        raise InputError(f"{path}: {len(inputs)} inputs, more than "
                         f"LSTM_TUI_MAX_ITEMS={max_items()}")  # fmt: skip
    return inputs


# --- recording
#: A corpus recorded without a path that would take more than this many bytes goes to a
#: temporary file instead, removed at once but kept open and mapped: its arrays are then the
#: file's pages, which the system can drop and read again, not anonymous memory.
SPILL_BYTES = 256 << 20


def record_corpus(
    model, texts: Sequence[str], *, progress: Callable[[int, int], None] | None = None,
    stop=None, path: str | os.PathLike | None = None, overwrite: bool = False,
    exists_hint: str = "pass overwrite=True to replace it", spill: int | None = SPILL_BYTES,
) -> Corpus:  # fmt: skip
    """Record `model` (a Model that reads text) on each text from its initial state, into one
    corpus: with `path`, straight into that trace file; without, in memory, or, past `spill`
    bytes (None: never), in an unnamed temporary file (see SPILL_BYTES).

    Every text is tokenized first (a word the model cannot read is refused before anything
    is recorded), so the whole's size is known and its arrays are allocated once; then each
    input is traced as `model.trace` traces it and its rows copied in, z dropped.
    `progress(done, total)` is called after each input; `stop` (a threading.Event, or
    anything with is_set()) is checked before each, and Ctrl-C (KeyboardInterrupt) in
    the recording thread stops it the same way: the corpus of the inputs recorded so far
    is returned (`complete` False), saved to `path` if given. Nothing is recorded twice and
    no input is cut in half.
    """
    texts = list(texts)
    if not texts:
        raise InputError("a corpus needs at least one input")
    if getattr(model, "input_kind", None) != "text":
        raise InputError(f"{getattr(model, 'name', 'the model')} does not read text; a corpus "
                         "from a text file needs a model that does")  # fmt: skip
    planned = [len(model.tokenize(t)) for t in texts]
    scratch = None
    if path is None and spill is not None and _bytes(model.spec, sum(planned)) > spill:
        scratch = Path(tempfile.mkdtemp(prefix="lstm-tui-corpus-"))
        path = scratch / "corpus.npz"
    if path is None:
        store = MemoryBuffers()
    else:  # straight into the file (core/store.py): its pages, not anonymous memory
        from .core.store import TraceFile

        store = TraceFile(path, overwrite=overwrite, exists_hint=exists_hint)
    try:
        return _record_into(store, model, texts, planned, progress, stop, path is not None)
    finally:
        if path is not None:
            store.close()  # after a commit, only the handle; without one, the temporary goes
        if scratch is not None:  # the mapping keeps the file's pages; its name goes now
            shutil.rmtree(scratch, ignore_errors=True)


def _bytes(spec, N: int) -> int:
    """What a corpus of N steps holds: x, the gates, c and h of every layer and direction."""
    L, D, H, P = spec.num_layers, spec.num_directions, spec.hidden_size, spec.out_size
    return N * spec.dtype.itemsize * (spec.input_size + L * D * (5 * H + P))


def _record_into(store, model, texts, planned, progress, stop, to_file: bool) -> Corpus:
    N = sum(planned)
    starts = np.concatenate([[0], np.cumsum(planned)[:-1]]).astype(np.int64)
    bufs: dict[str, np.ndarray] = {}
    side = MemoryBuffers()  # the output: a trace file takes it from the trace at commit
    first: Trace | None = None
    done = 0
    unk: list[int] = []
    bad: dict[str, dict] = {}
    warnings: list[str] = []
    tokens: list[tuple[str, ...]] = []
    try:
        for k, text in enumerate(texts):
            if stop is not None and stop.is_set():
                break
            tr = model.trace(text)
            if tr.T != planned[k]:
                raise InputError(f"input {k + 1}: the model read {tr.T} steps, its text has "
                                 f"{planned[k]} tokens")  # fmt: skip
            if first is None:
                first = tr
                bufs = _allocate(store, side, tr, N)
            else:
                _check_same(first, tr, k)
            s, e = int(starts[k]), int(starts[k]) + tr.T
            _copy_rows(bufs, tr, s, e)
            _per_input(tr, k, s, unk, bad, warnings)
            if tr.tokens is not None:
                tokens.append(tr.tokens)
            done = k + 1
            if progress is not None:
                progress(done, len(texts))
    except KeyboardInterrupt:
        pass  # keep the inputs recorded so far: the caller is told how many (Corpus.complete)
    if first is None:
        raise InputError("interrupted before the first input was recorded: nothing to keep")
    del bufs  # the writable views go; the whole adopts the sealed arrays uncopied
    arrays = {**store.finish(), **side.finish()}
    n = int(starts[done]) if done < len(texts) else N
    meta = _whole_meta(first, starts[:done], len(texts), unk, bad, warnings)
    whole = _whole_trace(first, arrays, n, tokens, meta)
    if to_file:  # a stopped recording keeps the room it was given; the file says how much holds
        whole = store.commit(whole)
    return Corpus(whole)


def _allocate(store, side, tr: Trace, N: int) -> dict[str, np.ndarray]:
    """The whole's buffers for N steps: the recorder's members in `store`, the output in
    `side` (memory)."""
    L, D, P, H, dt = tr.num_layers, tr.num_directions, tr.out_size, tr.hidden_size, tr.c.dtype
    bufs = {"x": store.allocate("x", (N, tr.x.shape[1]), dt),
            "gates": store.allocate("gates", (L, D, N, 4, H), dt),
            "c": store.allocate("c", (L, D, N, H), dt),
            "h": store.allocate("h", (L, D, N, P), dt)}  # fmt: skip
    if tr.output is not None:
        bufs["output"] = side.allocate("output", (N, tr.output.shape[1]), tr.output.dtype)
    return bufs


def _copy_rows(bufs: dict, tr: Trace, s: int, e: int) -> None:
    bufs["x"][s:e] = tr.x
    for j, gate in enumerate(("i", "f", "g", "o")):
        bufs["gates"][:, :, s:e, j] = getattr(tr, gate)
    bufs["c"][:, :, s:e] = tr.c
    bufs["h"][:, :, s:e] = tr.h
    if "output" in bufs:
        bufs["output"][s:e] = tr.output


def _whole_trace(first: Trace, arrays: dict, n: int, tokens: list, meta: dict) -> Trace:
    """The whole recorded so far (its first n positions) as one Trace: views of the sealed
    buffers, adopted uncopied."""
    gates = arrays["gates"][:, :, :n]
    return Trace(
        x=arrays["x"][:n], h0=first.h0, c0=first.c0, i=gates[:, :, :, 0], f=gates[:, :, :, 1],
        g=gates[:, :, :, 2], o=gates[:, :, :, 3], c=arrays["c"][:, :, :n],
        h=arrays["h"][:, :, :n], spec=first.spec,
        output=arrays["output"][:n] if "output" in arrays else None,
        tokens=tuple(chain.from_iterable(tokens)) if first.tokens is not None else None,
        labels=first.labels,
        meta=meta,
    )  # fmt: skip
