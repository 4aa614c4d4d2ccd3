"""What the debugger asks "when?" with: watches, token search, quick jumps and bookmarks.

Pure Python over the engine's public API (no Textual), so it is tested
without a screen. Every condition the debugger stops on is a watch
expression compiled by the engine (`lstm_engine.compile_watch`), the same
compiler `Session.where` uses, so what the UI finds and what `lstm-tui find`
or `Session.where` find agree by construction; the quick jumps are
expressions too, and the UI shows the one it used.

Compiled watches are cached per trace, layer, direction and text (each keeps
its mask), so `c` on a long trace is a lookup in a boolean array, not a
re-evaluation.

A trace file may carry the user's bookmarks and watches in its meta
(`SAVED_MARKS`: positions 0..T-1, `SAVED_WATCHES`: expression strings).
They come from a file, so `read_saved` validates them as hostile data: ints
in range, strings of bounded length that compile, at most MAX_MARKS and
MAX_WATCHES of them; anything else is dropped, and counted so that the
screen can say so once.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from lstm_engine import InputError, REGISTRY, Trace, WatchError, compile_watch, next_hit

#: The trace meta keys the debugger saves its bookmarks and watch expressions under.
SAVED_MARKS, SAVED_WATCHES = "marks", "watches"
#: Most bookmarks and watches the debugger keeps (and reads from a file).
MAX_MARKS, MAX_WATCHES = 1000, 32
#: Longest watch expression the debugger keeps, in characters.
MAX_WATCH_CHARS = 200
#: Compiled watches kept per trace (each holds a (T,) mask).
CACHE_PER_TRACE = 64
#: The forget gate value below which a quick jump calls it closed.
FORGET_CLOSED = 0.1

_cache: "weakref.WeakKeyDictionary[Trace, dict]" = weakref.WeakKeyDictionary()


def compiled(trace: Trace, text: str, layer: int, direction: int, output_kind: str | None = None):
    """The engine's Watch for `text` on this trace, layer and direction, or the WatchError
    it raised (both cached: the panel asks for every watch at every step). `output_kind`
    is the Source's, so `prob` and `p[...]` read as the output panel shows them."""
    per_trace = _cache.setdefault(trace, {})
    key = (text, layer, direction, output_kind)
    if key not in per_trace:
        if len(per_trace) >= CACHE_PER_TRACE:
            per_trace.pop(next(iter(per_trace)))
        try:
            per_trace[key] = compile_watch(text, trace, layer, direction, output_kind=output_kind)
        except WatchError as e:
            per_trace[key] = e
    return per_trace[key]


def check_watch(text: str, trace: Trace, layer: int, direction: int,
                output_kind: str | None = None) -> WatchError | None:  # fmt: skip
    """Why `text` cannot be a watch (a condition) on this trace, or None when it can."""
    if len(text) > MAX_WATCH_CHARS:
        return WatchError(f"a watch is at most {MAX_WATCH_CHARS} characters long", text,
                          MAX_WATCH_CHARS)  # fmt: skip
    got = compiled(trace, text, layer, direction, output_kind)
    if isinstance(got, WatchError):
        return got
    if not got.is_condition:
        try:  # the engine's own words for it (raised before anything is computed)
            got.mask
        except WatchError as e:
            return e
    return None


@dataclass(frozen=True)
class Stop:
    """Where `c`/`C` (or a quick jump) lands: a position, and the expressions holding there."""

    t: int
    texts: tuple[str, ...]


def next_stop(trace: Trace, texts: Sequence[str], t: int, layer: int, direction: int,
              *, reverse: bool = False, output_kind: str | None = None) -> Stop | None:  # fmt: skip
    """The nearest position after t (before t if `reverse`) where any of `texts` holds.

    Each text's mask is the engine's (Session.where reads the same one), and the
    engine's next_hit walks their union, so this is Session.run_until over "any
    of them", from the cache.
    """
    masks = []
    for text in texts:
        got = compiled(trace, text, layer, direction, output_kind)
        if isinstance(got, WatchError):
            raise got
        masks.append(got.mask)
    if not masks:
        return None
    pos = next_hit(np.logical_or.reduce(masks), t, reverse=reverse)
    if pos is None:
        return None
    return Stop(pos, tuple(text for text, m in zip(texts, masks) if m[pos]))


# --- search
def find_tokens(tokens: Sequence[str] | None, query: str) -> np.ndarray:
    """The positions whose token matches `query`: `"France"` in double quotes is an exact
    match, anything else a substring; case as the vocabulary has it."""
    if tokens is None:
        raise InputError("this input is numeric: it has no tokens to search")
    if not query:
        raise InputError("type a token to find")
    if len(query) >= 2 and query[0] == query[-1] == '"':
        word = query[1:-1]
        return np.array([k for k, tok in enumerate(tokens) if tok == word], dtype=np.int64)
    return np.array([k for k, tok in enumerate(tokens) if query in tok], dtype=np.int64)


def next_match(matches: np.ndarray, t: int, step: int) -> tuple[int, bool] | None:
    """The match after t (`step` 1) or before it (-1), wrapping; and whether it wrapped."""
    if not len(matches):
        return None
    if step > 0:
        later = matches[matches > t]
        return (int(later[0]), False) if len(later) else (int(matches[0]), True)
    earlier = matches[matches < t]
    return (int(earlier[-1]), False) if len(earlier) else (int(matches[-1]), True)


# --- quick jumps, each an expression
def _floor_sig(x: float, digits: int = 2) -> float:
    """x rounded down to `digits` significant digits (so a threshold stays below x)."""
    if x <= 0:
        return 0.0
    scale = 10 ** (math.floor(math.log10(x)) - digits + 1)
    return math.floor(x / scale) * scale


def largest_delta(trace: Trace, layer: int, direction: int, unit: int) -> tuple[str, str] | str:
    """The expression holding exactly at the unit's largest |Δc| step(s), and what it means;
    or why there is none. Its threshold is the largest |Δc| itself, written so that it
    reads back as the same number (Python's float repr round-trips)."""
    delta = np.abs(np.asarray(trace.series("delta_c", layer, direction)[:, unit], np.float64))
    finite = delta[np.isfinite(delta)]
    if not len(finite) or finite.max() == 0:
        return f"unit {unit}'s cell state never changes here"
    top = float(finite.max())
    return f"abs(delta[{unit}]) >= {top!r}", f"unit {unit}'s largest |Δc|"


def large_delta(trace: Trace, layer: int, direction: int, unit: int) -> tuple[str, str] | str:
    """The expression for the unit's steps of large |Δc|: at least half its largest (rounded
    down to two digits), so a run of big writes and each separate peak are stops."""
    delta = np.abs(np.asarray(trace.series("delta_c", layer, direction)[:, unit], np.float64))
    finite = delta[np.isfinite(delta)]
    if not len(finite) or finite.max() == 0:
        return f"unit {unit}'s cell state never changes here"
    top = float(finite.max())
    return (f"abs(delta[{unit}]) >= {_floor_sig(top / 2):.2g}",
            f"|Δc| of unit {unit} at least half its largest ({top:.3g})")  # fmt: skip


def forget_closed(unit: int) -> tuple[str, str]:
    return f"f[{unit}] < {FORGET_CLOSED}", f"unit {unit}'s forget gate closes"


def prediction_changes(trace: Trace) -> tuple[str, str] | str:
    if trace.output is None:
        return "this trace has no model output, so no prediction to follow"
    return "pred != pred_prev", "the prediction changes"


def _whole(v: object) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def first_nonfinite(trace: Trace) -> tuple[str, str, int, int, int] | str:
    """(expression, what, position, layer, direction) for the first NaN or Inf the recording
    met (`meta["first_nonfinite"]`, validated: it is the file's), or why there is none to go to.

    The expression tests that one value, scoped to its layer and direction, so it holds
    where the recording says (the position is checked against it by the caller)."""
    where = trace.meta.get("first_nonfinite")
    if where is None:
        return "every value in this trace is finite"
    if not isinstance(where, Mapping):
        return "the trace's record of its first non-finite value is damaged"
    name = where.get("where")
    if name in ("h0", "c0"):
        return f"the initial state {name} is not finite, before step 1"
    if name == "weights":
        return "the weights are not finite (every step is)"
    t, unit = where.get("t"), where.get("unit")
    if not (_whole(t) and 0 <= t < trace.T and _whole(unit) and unit >= 0):
        return "the trace's record of its first non-finite value is damaged"
    if name == "x":
        return f"the input is not finite at step {t + 1} (feature {unit})"
    layer, direction = where.get("layer"), where.get("direction")
    ok = (name in REGISTRY and _whole(layer) and 0 <= layer < trace.num_layers and _whole(direction)
          and 0 <= direction < trace.num_directions and unit < trace.value(name, 0, 0, 0).shape[0])
    if not ok:
        return "the trace's record of its first non-finite value is damaged"
    scope = f"L{layer + 1}.{'rev' if direction else 'fwd'}."
    value = f"{scope}{name}[{unit}]"
    what = f"the first non-finite value ({name}, unit {unit})"
    return f"isnan({value}) or isinf({value})", what, int(t), int(layer), int(direction)


# --- what a trace file carries
def read_saved(trace: Trace, layer: int = 0, direction: int = 0, output_kind: str | None = None
               ) -> tuple[tuple[int, ...], tuple[str, ...], int]:  # fmt: skip
    """(marks, watches, dropped) from a trace's meta: bookmarks as positions in range and
    watch expressions that compile, at most MAX_MARKS and MAX_WATCHES, duplicates once;
    `dropped` counts every entry refused (and a value that is not a list counts as one)."""
    dropped = 0
    marks: dict[int, None] = {}
    raw = trace.meta.get(SAVED_MARKS)
    if raw is not None and not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raw, dropped = (), 1
    for k in raw or ():
        if _whole(k) and 0 <= k < trace.T and len(marks) < MAX_MARKS:
            marks[int(k)] = None
        else:
            dropped += 1
    watches: dict[str, None] = {}
    raw = trace.meta.get(SAVED_WATCHES)
    if raw is not None and not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raw, dropped = (), dropped + 1
    for text in raw or ():
        ok = (isinstance(text, str) and len(watches) < MAX_WATCHES
              and check_watch(text, trace, layer, direction, output_kind) is None)  # fmt: skip
        if ok:
            watches[text] = None
        else:
            dropped += 1
    return tuple(sorted(marks)), tuple(watches), dropped


def with_saved(trace: Trace, marks: Sequence[int], watches: Sequence[str]) -> Trace:
    """A new Trace whose meta also holds `marks` and `watches` (the trace is not changed)."""
    meta = {k: v for k, v in trace.meta.items() if k not in (SAVED_MARKS, SAVED_WATCHES)}
    if marks:
        meta[SAVED_MARKS] = [int(k) for k in sorted(marks)]
    if watches:
        meta[SAVED_WATCHES] = [str(w) for w in watches]
    return replace(trace, meta=meta)


def toggled(items: tuple, item) -> tuple:
    """`items` with `item` removed if present, else added (sorted when they are positions)."""
    if item in items:
        return tuple(x for x in items if x != item)
    return tuple(sorted((*items, item)))


__all__ = [
    "CACHE_PER_TRACE", "FORGET_CLOSED", "MAX_MARKS", "MAX_WATCHES", "MAX_WATCH_CHARS",
    "SAVED_MARKS", "SAVED_WATCHES", "Stop", "check_watch", "compiled", "find_tokens",
    "first_nonfinite", "forget_closed", "large_delta", "largest_delta", "next_match", "next_stop",
    "prediction_changes", "read_saved", "toggled", "with_saved",
]  # fmt: skip
