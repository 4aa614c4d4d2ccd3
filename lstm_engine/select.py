"""LSTMVis's select and match over a trace or a corpus: which units switch on over a span,
and where else in the data those units switch on together.

This follows LSTMVis (Strobelt et al., HendrikStrobelt/LSTMVis) rule for rule:

- **on**: a unit is on at a step when tanh of its value is at least θ (default 0.3). Computed as
  value ≥ atanh θ, as LSTMVis's server does (`lstmdata/data_handler.py`,
  `query_similar_activations`: `activation_threshold_corrected = np.arctanh(threshold)`), which
  is tanh(value) ≥ θ in exact arithmetic; `transform="raw"` compares the value itself (its
  `data_transform` other than tanh).
- **select** (`select_units`): the units whose on/off pattern over the span and its padding is
  exactly "off for `left` steps, on on every step of the span, off for `right` steps": the
  client's signature test (`client/js/apps/LSTMController.js`, `cellSelection`: the zero brush
  `wordBrushZero` defaults to [1, 0], one step left, none right).
- **match** (`match`): candidate spans are the runs of steps where at least n of the selected
  units are on, for n from all of them down to one, at least two steps long (its `cut_off = 2`)
  or exactly `length` steps (`phrase_length`); each candidate is then checked for every unit
  with the padding constraint, and candidates are ranked by the most selected units on, then
  the fewest units on in all (selected or not: the smallest union, so the fewest extra units),
  then the longest span (its `key`: `-intersection, union, -length`).

Where this differs from LSTMVis, it is because a corpus here knows its inputs: a span never
crosses from one input into the next, and padding steps outside the input count as off (the
unit had not started; LSTMVis skips a candidate that touches the first or the last step of its
one long sequence). Every candidate is checked (LSTMVis's fast mode stops after 1,000 and
reads only the first 500,000 steps), ties are broken by position, and a candidate on which no
selected unit passes the check is dropped (LSTMVis lists it last). `left`/`right` are steps of
padding in the direction's reading order, both in select and in match (LSTMVis's match takes
each as on/off, one step): `left` is the steps read just before the span, which for a direction
that reads right to left are the positions after it.

Positions here are the whole sequence's (the corpus's rows, 0-based); a user sees input k,
step s (both from 1): `Corpus.locate` or, for one trace, position + 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .core.errors import InputError
from .core.quantities import ALIASES, REGISTRY, resolve
from .core.trace import Trace, step_index

#: LSTMVis's defaults: θ on tanh of the value, one step of left padding, none on the right.
THRESHOLD, LEFT, RIGHT = 0.3, 1, 0
#: A match is at least this many steps long unless a length is asked for (LSTMVis's cut_off).
MIN_LENGTH = 2
#: How many matches `match` returns by default (LSTMVis's no_of_results).
LIMIT = 50
TRANSFORMS = ("tanh", "raw")
#: Steps of the on/off mask computed at once: bounds the float temporaries of a derived quantity.
_BLOCK = 8192


@dataclass(frozen=True, eq=False)
class Selection:
    """The units a span selects, and the settings that selected them (a match reuses them).

    `start`/`stop` are positions [start, stop) of the whole sequence; `units` are unit
    numbers (from 0), ascending.
    """

    units: tuple[int, ...]
    start: int
    stop: int
    threshold: float = THRESHOLD
    left: int = LEFT
    right: int = RIGHT
    quantity: str = "c"
    layer: int = 0
    direction: int = 0
    transform: str = "tanh"

    def settings(self) -> dict:
        """The keywords `match` takes to look for this selection elsewhere."""
        return {"threshold": self.threshold, "left": self.left, "right": self.right,
                "quantity": self.quantity, "layer": self.layer, "direction": self.direction,
                "transform": self.transform}  # fmt: skip


@dataclass(frozen=True, eq=False)
class Match:
    """One place where selected units switch on together: positions [start, stop) of input
    `input` (0-based), the selected units `on` there (on over the span, off on its padding)
    and the other units that do the same (`extra`), both ascending."""

    start: int
    stop: int
    input: int
    on: tuple[int, ...]
    extra: tuple[int, ...]

    @property
    def length(self) -> int:
        return self.stop - self.start

    def rank_key(self) -> tuple[int, int, int, int]:
        """LSTMVis's order, smallest first: most selected units on, fewest units on in all,
        longest span; then the earliest position."""
        return (-len(self.on), len(self.on) + len(self.extra), -self.length, self.start)


def on_mask(values: np.ndarray, threshold: float = THRESHOLD,
            transform: str = "tanh") -> np.ndarray:  # fmt: skip
    """Where values are on: tanh(value) ≥ θ (as value ≥ atanh θ), or value ≥ θ for "raw".

    The threshold is compared exactly in the values' own precision: for float32 values the
    smallest float32 not below atanh θ, so a value is never on or off by a rounding of θ.
    """
    cut = _cut(threshold, transform)
    values = np.asarray(values)
    if values.dtype.kind == "f" and values.dtype != np.float64:
        low = values.dtype.type(cut)
        if float(low) < cut:
            low = np.nextafter(low, values.dtype.type(np.inf))
        return values >= low
    return values >= cut


def _cut(threshold, transform: str) -> float:
    if transform not in TRANSFORMS:
        raise InputError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
    try:
        theta = float(threshold)
    except (TypeError, ValueError):
        raise InputError(f"the threshold must be a number, got {threshold!r}") from None
    if transform == "raw":
        if not math.isfinite(theta):
            raise InputError(f"the threshold must be a finite number, got {threshold!r}")
        return theta
    if not -1.0 < theta < 1.0:
        raise InputError(f"the threshold is compared with tanh of the value, so it must lie "
                         f"strictly between -1 and 1, got {threshold!r}")  # fmt: skip
    return math.atanh(theta)


# --- what a source is: one trace, or a corpus of inputs concatenated along T
def parts(source):
    """(the whole Trace, input start positions as an int array, the object whose `window`
    computes a quantity with each input's own initial state). A Trace is a corpus of one;
    a Corpus (lstm_engine/corpus.py) gives its `whole`, `starts` and `window`."""
    if isinstance(source, Trace):
        return source, np.zeros(1, dtype=np.int64), source
    whole, starts = getattr(source, "whole", None), getattr(source, "starts", None)
    if not isinstance(whole, Trace) or starts is None or not hasattr(source, "window"):
        raise InputError(f"select and match take a Trace or a Corpus, got {type(source).__name__}")
    return whole, np.asarray(starts, dtype=np.int64), source


def input_of(starts: np.ndarray, position) -> int:
    """The index of the input that holds `position` (starts ascending, starts[0] == 0)."""
    return int(np.searchsorted(starts, position, side="right")) - 1


def check_layer_direction(whole: Trace, layer, direction) -> tuple[int, int]:
    """(layer, direction) as indices of `whole`, or an InputError a user can read (layers
    counted from 1, as on screen)."""
    layer, direction = step_index(layer), step_index(direction)
    if not 0 <= layer < whole.num_layers:
        raise InputError(f"layer {layer + 1} does not exist (the LSTM has {whole.num_layers}; "
                         "layers are numbered from 1)")  # fmt: skip
    if not 0 <= direction < whole.num_directions:
        raise InputError(f"direction {direction} does not exist (the LSTM has "
                         f"{whole.num_directions})")  # fmt: skip
    return layer, direction


def _check_place(whole: Trace, quantity: str, layer, direction) -> tuple[str, int, int, int]:
    try:
        q = resolve(quantity)
    except KeyError:
        names = ", ".join(sorted({*REGISTRY, *ALIASES}))
        raise InputError(f"unknown quantity {quantity!r}; expected one of {names}") from None
    layer, direction = check_layer_direction(whole, layer, direction)
    width = whole.out_size if q.width == "out" else whole.hidden_size
    return q.name, layer, direction, width


def _check_padding(left, right, whole: Trace, direction: int) -> tuple[int, int]:
    """(left, right) as positions: swapped for a direction that reads right to left, whose
    steps read before a span lie to its right."""
    out = []
    for name, v in (("left", left), ("right", right)):
        v = step_index(v)
        if v < 0:
            raise InputError(f"{name} padding is a number of steps, 0 or more, got {v}")
        out.append(v)
    return (out[1], out[0]) if whole.reads_reversed(direction) else (out[0], out[1])


def unit_on_mask(source, quantity: str = "c", layer: int = 0, direction: int = 0, *,
                 threshold: float = THRESHOLD, transform: str = "tanh") -> np.ndarray:  # fmt: skip
    """(N, width) bool: where each unit is on over the whole source, computed in blocks of
    steps so that a derived quantity never materialises as a whole float array."""
    whole, _, windows = parts(source)
    name, layer, direction, width = _check_place(whole, quantity, layer, direction)
    _cut(threshold, transform)
    out = np.empty((whole.T, width), dtype=bool)
    for t0 in range(0, whole.T, _BLOCK):
        t1 = min(whole.T, t0 + _BLOCK)
        out[t0:t1] = on_mask(windows.window(name, layer, direction, t0, t1), threshold, transform)
    return out


def _pack(on: np.ndarray) -> np.ndarray:
    """(N, width) bool as (N, words) uint64, unit u at bit u % 64 of word u // 64: the span
    tests below then reduce 64 units per operation."""
    N, width = on.shape
    words = -(-width // 64)
    packed = np.zeros((N, words * 8), dtype=np.uint8)
    packed[:, : -(-width // 8)] = np.packbits(on, axis=1, bitorder="little")
    return packed.view(np.uint64)


def _span_on(bits: np.ndarray, starts: np.ndarray, begin: np.ndarray, stop: np.ndarray,
             left: int, right: int) -> np.ndarray:  # fmt: skip
    """(n, words) packed (see _pack): for each span [begin, stop) (inside one input), the
    units on on every step of it and off on its `left` and `right` padding (padding outside
    the input is off). One C pass over the rows per test (ufunc.reduceat), whatever the
    number of spans."""
    N = bits.shape[0]
    padded = np.concatenate([bits, np.zeros((1, bits.shape[1]), dtype=bits.dtype)])  # row N: an end
    inputs = np.searchsorted(starts, begin, side="right") - 1
    lo = starts[inputs]
    hi = np.append(starts[1:], N)[inputs]

    def reduce(ufunc, a, b):  # ufunc over rows [a, b) of each span; a < b for every span
        order = np.argsort(a, kind="stable")
        idx = np.empty(2 * len(a) + 1, dtype=np.int64)
        idx[0:-1:2], idx[1:-1:2], idx[-1] = a[order], b[order], N
        got = ufunc.reduceat(padded, idx, axis=0)[0:-1:2]
        out = np.empty_like(got)
        out[order] = got
        return out

    result = reduce(np.bitwise_and, begin, stop)
    for a, b in ((np.maximum(begin - left, lo), begin), (stop, np.minimum(stop + right, hi))):
        some = b > a  # an empty padding (at the input's edge, or 0 steps) holds no on step
        if some.any():
            any_on = reduce(np.bitwise_or, np.where(some, a, begin), np.where(some, b, stop))
            any_on[~some] = 0
            result &= ~any_on
    return result


def select_units(
    source, start, stop, *, threshold: float = THRESHOLD, left: int = LEFT, right: int = RIGHT,
    quantity: str = "c", layer: int = 0, direction: int = 0, transform: str = "tanh",
) -> Selection:  # fmt: skip
    """The units that switch on over positions [start, stop): on at every step of it, off on
    the `left` steps read before it and the `right` steps read after it, in the direction's
    reading order (LSTMController.cellSelection).

    The span lies inside one input; padding that would reach outside the input counts as off.
    """
    whole, starts, windows = parts(source)
    name, layer, direction, width = _check_place(whole, quantity, layer, direction)
    before, after = step_index(left), step_index(right)
    left, right = _check_padding(left, right, whole, direction)
    start, stop = step_index(start), step_index(stop)
    if not 0 <= start < stop <= whole.T:
        raise InputError(f"the span must be one or more steps inside the sequence "
                         f"(1..{whole.T}), got steps {start + 1}..{stop}")  # fmt: skip
    k = input_of(starts, start)
    if input_of(starts, stop - 1) != k:
        raise InputError("a span lies inside one input; this one crosses into the next")
    lo = int(starts[k])
    hi = int(starts[k + 1]) if k + 1 < len(starts) else whole.T
    t0, t1 = max(lo, start - left), min(hi, stop + right)
    on = on_mask(windows.window(name, layer, direction, t0, t1), threshold, transform)
    inside = np.zeros(t1 - t0, dtype=bool)
    inside[start - t0 : stop - t0] = True
    units = np.flatnonzero((on == inside[:, None]).all(axis=0))
    return Selection(units=tuple(int(u) for u in units), start=start, stop=stop,
                     threshold=float(threshold), left=before, right=after, quantity=name,
                     layer=layer, direction=direction, transform=transform)  # fmt: skip


def match(
    source, units, *, threshold: float = THRESHOLD, left: int = LEFT, right: int = RIGHT,
    quantity: str = "c", layer: int = 0, direction: int = 0, transform: str = "tanh",
    length: int | None = None, min_length: int = MIN_LENGTH, limit: int | None = LIMIT,
    on: np.ndarray | None = None,
) -> tuple[Match, ...]:  # fmt: skip
    """The places where `units` switch on together, best first (LSTMVis's
    query_similar_activations; the module docstring has the rule and where it differs).

    `units` is a Selection (whose settings then replace the keywords) or unit numbers.
    `length` keeps only spans of exactly that many steps;
    `min_length` is the shortest span otherwise; `limit` caps the list (None: all).
    `on` is a precomputed `unit_on_mask` for the same settings (a UI that matches
    again at the same θ keeps it).
    """
    if isinstance(units, Selection):
        sel = units
        threshold, left, right = sel.threshold, sel.left, sel.right
        quantity, layer, direction = sel.quantity, sel.layer, sel.direction
        transform = sel.transform
        units = sel.units
    whole, starts, _ = parts(source)
    name, layer, direction, width = _check_place(whole, quantity, layer, direction)
    left, right = _check_padding(left, right, whole, direction)
    chosen = _check_units(units, width)
    if length is not None:
        length = step_index(length)
        if length < 1:
            raise InputError(f"a match length is a number of steps, 1 or more, got {length}")
    min_length = max(1, step_index(min_length))
    if limit is not None and step_index(limit) < 0:
        raise InputError(f"limit must be 0 or more, got {limit}")
    if on is None:
        on = unit_on_mask(source, name, layer, direction, threshold=threshold, transform=transform)
    elif on.shape != (whole.T, width) or on.dtype != bool:
        raise InputError(f"the on mask must be bool of shape {(whole.T, width)}, got "
                         f"{on.dtype} {on.shape}")  # fmt: skip
    if not chosen:
        return ()
    bits = _pack(on)
    selected = np.zeros((1, width), dtype=bool)
    selected[0, list(chosen)] = True
    chosen_bits = _pack(selected)
    counts = np.bitwise_count(bits & chosen_bits).sum(axis=1, dtype=np.int64)  # selected on, per step
    begin, stop = _candidates(counts, starts, len(chosen), length, min_length)
    if len(begin) == 0:
        return ()
    passed = _span_on(bits, starts, begin, stop, left, right)
    n_on = np.bitwise_count(passed & chosen_bits).sum(axis=1, dtype=np.int64)
    n_all = np.bitwise_count(passed).sum(axis=1, dtype=np.int64)
    keep = np.flatnonzero(n_on > 0)
    # LSTMVis's key: -intersection, union (= selected + extra), -length; then position
    span = stop - begin
    order = keep[np.lexsort((begin[keep], -span[keep], (n_all - n_on)[keep], -n_on[keep]))]
    if limit is not None:
        order = order[: step_index(limit)]
    inputs = np.searchsorted(starts, begin[order], side="right") - 1
    units_on = np.unpackbits(passed[order].view(np.uint8), axis=1, count=width,
                             bitorder="little").astype(bool)  # fmt: skip
    out = []
    for row, k, row_on in zip(order, inputs, units_on):
        on_units = tuple(int(u) for u in np.flatnonzero(row_on & selected[0]))
        extra = tuple(int(u) for u in np.flatnonzero(row_on & ~selected[0]))
        out.append(Match(start=int(begin[row]), stop=int(stop[row]), input=int(k), on=on_units,
                         extra=extra))  # fmt: skip
    return tuple(out)


def _check_units(units, width: int) -> tuple[int, ...]:
    try:
        chosen = sorted({step_index(u) for u in units})
    except TypeError:
        raise InputError(f"units must be unit numbers, got {units!r}") from None
    bad = [u for u in chosen if not 0 <= u < width]
    if bad:
        raise InputError(f"unit {bad[0]} does not exist (units are numbered 0..{width - 1})")
    return tuple(chosen)


def _candidates(counts: np.ndarray, starts: np.ndarray, k: int, length: int | None,
                min_length: int) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Candidate spans [begin, stop), distinct: for n = k … 1 the runs of steps with at least
    n selected units on, inside one input (LSTMVis's loop over test_cell_number, on rle runs)."""
    N = counts.shape[0]
    first = np.zeros(N, dtype=bool)
    first[starts] = True
    last = np.roll(first, -1)
    last[-1] = True
    found = []
    for n in range(k, 0, -1):
        a = counts >= n
        prev_on = np.concatenate([[False], a[:-1]]) & ~first
        next_on = np.concatenate([a[1:], [False]]) & ~last
        b = np.flatnonzero(a & ~prev_on)
        e = np.flatnonzero(a & ~next_on) + 1
        span = e - b
        ok = span == length if length is not None else span >= min_length
        found.append(b[ok] * (N + 1) + e[ok])
    key = np.sort(np.concatenate(found))  # one number per span: sorted, then distinct
    key = key[np.concatenate(([True], key[1:] != key[:-1]))] if key.size else key
    return key // (N + 1), key % (N + 1)


def span_context(source, start: int, stop: int, before: int = 5, after: int = 5):
    """(tokens before, the span's tokens, tokens after), inside the span's input; None for a
    source without tokens. What a match list shows around each match."""
    whole, starts, _ = parts(source)
    if whole.tokens is None:
        return None
    k = input_of(starts, start)
    lo = int(starts[k])
    hi = int(starts[k + 1]) if k + 1 < len(starts) else whole.T
    toks = whole.tokens
    return toks[max(lo, start - before) : start], toks[start:stop], toks[stop : min(hi, stop + after)]
