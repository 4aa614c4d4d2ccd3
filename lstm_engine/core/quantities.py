"""The quantity registry: every per-unit number a step has, defined once.

A trace stores only what the cell computed, i, f, g, o, c and h (plus the
initial state). Everything else a user looks at is a formula over those:
kept = f ⊙ c_prev, written = i ⊙ g, Δc = c − c_prev, ... Watches, diffs,
export and the UI's columns all ask this registry, so a formula, a label or
"which step came before" cannot drift between two copies.

"The previous step" is in the direction's own reading order: t − 1 for the
left-to-right direction, t + 1 for the right-to-left one, whose first step
read is the last position and whose previous state there is the initial one.
That rule lives in `previous_step` and `previous`, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

#: What a Quantity is, for colour and for sorting: a gate in [0, 1] (for the
#: standard sigmoid), a state of the cell (c, h and their previous values), or
#: a signed effect of one step on the cell (what it kept, wrote, changed).
KINDS = ("gate", "state", "effect")

#: The arrays a trace stores; every other quantity is a formula over these.
STORED = ("i", "f", "g", "o", "c", "h")


@dataclass(frozen=True)
class Quantity:
    """One per-unit quantity: its formula, how it is labelled and what kind of number it is.

    `label` is as in the equations and at most 5 characters, so 80 columns hold a
    table of all of them; `{prev}` in it reads t-1, or t+1 in the reverse direction.
    `width` is "hidden" (one value per unit) or "out" (h's width: proj_size when
    the LSTM projects). `formula` is None for what the trace stores and for the
    previous states; otherwise it takes a getter of other quantities by name and
    the cell's output activation, and is elementwise, so it serves one step, a
    window of steps and a whole trace alike.
    """

    name: str
    label: str
    kind: str
    doc: str
    formula: Callable[[Callable[[str], np.ndarray], Callable], np.ndarray] | None = None
    width: str = "hidden"

    def label_for(self, reverse: bool = False) -> str:
        """The label for a direction that reads left to right, or right to left (`reverse`)."""
        return self.label.format(prev=prev_subscript(reverse))

    @property
    def is_gate(self) -> bool:
        return self.kind == "gate"


def _q(name, label, kind, doc, formula=None, width="hidden") -> tuple[str, Quantity]:
    assert kind in KINDS, kind
    return name, Quantity(name, label, kind, doc, formula, width)


#: name → Quantity, in the order of the pointwise story: the gates, then
#: c_prev → kept/forgotten → + written → c_t → tanh → h, then what the table omits.
REGISTRY: Mapping[str, Quantity] = MappingProxyType(dict([
    _q("f", "f", "gate", "forget gate: the share of c_prev kept"),
    _q("i", "i", "gate", "input gate: the share of g written"),
    _q("g", "g", "effect", "candidate: what the step would write"),
    _q("o", "o", "gate", "output gate: the share of tanh(c_t) let out to h_t"),
    _q("c_prev", "c_{prev}", "state", "the cell state this step read"),
    _q("kept", "kept", "effect", "f ⊙ c_prev: the old memory that survives",
       lambda q, act: q("f") * q("c_prev")),
    _q("forgotten", "forgt", "effect", "(1 − f) ⊙ c_prev: what the forget gate erased",
       lambda q, act: q("c_prev") - q("kept")),
    _q("written", "i·g", "effect", "i ⊙ g: what the input gate let in",
       lambda q, act: q("i") * q("g")),
    _q("c", "c_t", "state", "the cell state after this step: kept + written"),
    _q("delta_c", "Δc", "effect", "c_t − c_prev: how much this step changed the memory",
       lambda q, act: q("c") - q("c_prev")),
    _q("tanh_c", "tanh", "state", "the output activation of c_t (tanh unless the model says otherwise)",
       lambda q, act: act(q("c"))),
    _q("h", "h_t", "state", "the hidden state after this step (projected, if the LSTM projects)",
       width="out"),
    _q("h_prev", "h_{prev}", "state", "the hidden state this step read", width="out"),
    _q("h_cell", "o·th", "state", "o ⊙ tanh(c_t): h before any projection",
       lambda q, act: q("o") * q("tanh_c")),
]))  # fmt: skip

#: Names a user may type for a quantity (watch expressions, the CLI): `delta` is Δc.
ALIASES: Mapping[str, str] = MappingProxyType({"delta": "delta_c"})

#: What the unit table shows, in the registry's order (h_prev and h_cell are omitted).
QUANTITIES = ("f", "i", "g", "o", "c_prev", "kept", "forgotten", "written", "c", "delta_c",
              "tanh_c", "h")  # fmt: skip

#: Every name `Trace.value` answers.
VALUE_NAMES = tuple(REGISTRY)


def resolve(name: str) -> Quantity:
    """The Quantity for a name or an alias; a KeyError listing the names otherwise."""
    q = REGISTRY.get(ALIASES.get(name, name))
    if q is None:
        raise KeyError(f"unknown quantity {name!r}; expected one of {', '.join(VALUE_NAMES)}")
    return q


def prev_subscript(reverse: bool) -> str:
    """The subscript of the step a direction reads its state from: t-1, or t+1 in reverse.

    `reverse` is the direction's reading order (`Trace.reads_reversed(d)`), not its
    index: a right-to-left-only LSTM has one direction, index 0, that reads reversed.
    """
    return "t+1" if reverse else "t-1"


def previous_step(t: int, reverse: bool) -> int:
    """The position whose state step t read: t − 1, or t + 1 when reading right to left.

    It is −1 or T (outside the sequence) where the step read the initial state.
    """
    return t + 1 if reverse else t - 1


def previous(series: np.ndarray, initial: np.ndarray, reverse: bool, t0: int, t1: int) -> np.ndarray:
    """The state each step of [t0, t1) read: series (T, n) of one layer and direction.

    Left to right, a step reads position t − 1 (the initial state at 0); right to
    left, it reads t + 1 (the initial state at T − 1).
    """
    T = series.shape[0]
    if t1 <= t0:
        return series[t0:t0]
    if not reverse:
        head = initial[None] if t0 == 0 else series[t0 - 1 : t0]
        return np.concatenate([head, series[t0 : t1 - 1]])
    tail = initial[None] if t1 >= T else series[t1 : t1 + 1]
    return np.concatenate([series[t0 + 1 : t1], tail])


def evaluate_many(
    names: Sequence[str], base: Callable[[str], np.ndarray], output_activation: Callable
) -> dict[str, np.ndarray]:
    """Several quantities from `base`, each quantity a formula needs computed once per call.

    Twelve table columns share one c_prev and one kept instead of computing
    c_prev five times; Δc and kept over the same window share one c_prev.
    """
    memo: dict[str, np.ndarray] = {}

    def get(n: str) -> np.ndarray:
        if n not in memo:
            q = resolve(n)
            memo[n] = base(q.name) if q.formula is None else q.formula(get, output_activation)
        return memo[n]

    try:
        return {n: get(n) for n in names}
    finally:
        # `get` refers to itself, so this frame's memo lives in a reference cycle that only the
        # cyclic collector frees: without this, every call's arrays (a window of every
        # quantity it needed) stayed alive until a collection, gigabytes over a long trace
        memo.clear()
