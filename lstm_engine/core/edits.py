"""Edits: what-if interventions on a recording, as plain frozen data.

An edit names what to change and where: a state (c or h), a gate, one unit
or all of them, at one step or from a step on, or the input at one position.
`recorder.branch(trace, edits)` re-runs what the edits can reach and returns
a new Trace; the recording it started from is never changed (a replay is
read-only, an edit makes a new branch, as in rr). Edits are data so that a
branch can say how it was made: each one is JSON (`to_json` / `edit_from_json`
round-trip exactly) and a branch's .npz meta lists them.

Steps are sequence positions, as everywhere in the engine. "From t on" and
"to the end" follow the direction's reading order: positions t..T−1 for a
left-to-right direction, t down to 0 for a right-to-left one (what that
direction reads after t).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar, Union

import numpy as np

from .cell import Override
from .errors import InputError
from .spec import GATES, LSTMSpec


def _whole(v, what: str, *, optional: bool = False) -> int | None:
    """A non-negative whole number (numpy ints and integral floats too); None if optional."""
    if v is None and optional:
        return None
    if not isinstance(v, bool):
        try:
            v = operator.index(v)
        except TypeError:
            if isinstance(v, (float, np.floating)) and math.isfinite(v) and float(v).is_integer():
                v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        also = " or None" if optional else ""
        raise InputError(f"{what} must be a whole number{also}, got {v!r}")
    if v < 0:
        raise InputError(f"{what} must be 0 or more, got {v}")
    return v


def _finite(v, what: str) -> float:
    """A finite real number as a Python float (JSON has no NaN, and NaN is not an edit)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise InputError(f"{what} must be a number, got {v!r}")
    if not math.isfinite(v):
        raise InputError(f"{what} must be a finite number, got {v!r}")
    return float(v)


@dataclass(frozen=True, kw_only=True)
class _Edit:
    """What every edit of one layer and direction shares, and its checks."""

    kind: ClassVar[str]
    _steps: ClassVar[tuple[str, ...]] = ("t",)  # the fields that are steps
    _optional: ClassVar[tuple[str, ...]] = ()  # the fields that may be None
    layer: int = 0
    direction: int = 0

    def __post_init__(self) -> None:
        for name in ("layer", "direction", *self._steps, "unit"):
            v = _whole(getattr(self, name), f"{self.kind} edit's {name}",
                       optional=name in self._optional)  # fmt: skip
            object.__setattr__(self, name, v)
        if hasattr(self, "value"):
            object.__setattr__(self, "value", _finite(self.value, f"{self.kind} edit's value"))

    def to_json(self) -> dict:
        """{"kind": ..., field: value, ...}: plain JSON, and `edit_from_json` reads it back."""
        return {"kind": self.kind, **{f.name: getattr(self, f.name) for f in fields(self)}}

    def check(self, spec: LSTMSpec, T: int) -> None:
        """InputError unless the edit fits a trace of this spec and T steps."""
        L, D = spec.num_layers, spec.num_directions
        if self.layer >= L:
            raise InputError(f"{self._what()}: layer {self.layer} does not exist; the LSTM has "
                             f"layers 0..{L - 1}")  # fmt: skip
        if self.direction >= D:
            have = "direction 0 only" if D == 1 else "directions 0 (forward) and 1 (reverse)"
            raise InputError(f"{self._what()}: direction {self.direction} does not exist; "
                             f"the LSTM has {have}")  # fmt: skip
        for name in self._steps:
            t = getattr(self, name)
            if t is not None and t >= T:
                raise InputError(f"{self._what()}: step {t} is outside the trace (0..{T - 1})")
        unit = getattr(self, "unit", None)
        width = spec.out_size if getattr(self, "name", None) == "h" else spec.hidden_size
        if unit is not None and unit >= width:
            what = "h has" if width != spec.hidden_size else "the LSTM has"
            raise InputError(f"{self._what()}: unit {unit} does not exist; {what} units "
                             f"0..{width - 1}")  # fmt: skip

    def _what(self) -> str:
        return f"{self.kind} edit"

    def positions(self, T: int, reverse: bool) -> range:
        """The positions the edit intervenes at, in the direction's reading order."""
        raise NotImplementedError

    def override(self) -> Override:
        """What the cell sets at each of those positions (cell.Override)."""
        raise NotImplementedError


def _onward(t: int, T: int, reverse: bool) -> range:
    """Positions from t to the end of the reading order: t..T−1, or t down to 0."""
    return range(t, -1, -1) if reverse else range(t, T)


@dataclass(frozen=True, kw_only=True)
class SetState(_Edit):
    """Set c or h of one unit (or of every unit, unit=None) to a value at step t.

    c replaces c_t, so o's peephole, h_t = o ⊙ tanh(c_t) and the next step all
    see the edited memory; h replaces h_t only, as the next step and the layer
    above see it (with a projection, h's units are the projected ones).
    """

    kind: ClassVar[str] = "set"
    _optional: ClassVar[tuple[str, ...]] = ("unit",)
    name: str
    t: int
    unit: int | None
    value: float

    def __post_init__(self) -> None:
        if self.name not in ("c", "h"):
            raise InputError(f"set edit: {self.name!r} cannot be set; set 'c' or 'h' "
                             "(a gate is clamped with ClampGate)")  # fmt: skip
        super().__post_init__()

    def positions(self, T: int, reverse: bool) -> range:
        return range(self.t, self.t + 1)

    def override(self) -> Override:
        return ((self.name, self.unit, self.value),)


@dataclass(frozen=True, kw_only=True)
class ClampGate(_Edit):
    """Clamp gate i, f, g or o of one unit (or every unit, unit=None) to a value.

    At step t only, or with `to_end` from t to the end of the direction's
    reading order. The clamped value is the gate's activation as the rest of
    the step uses it: c_t and h_t follow from it.
    """

    kind: ClassVar[str] = "clamp"
    _optional: ClassVar[tuple[str, ...]] = ("unit",)
    gate: str
    t: int
    unit: int | None
    value: float
    to_end: bool = False

    def __post_init__(self) -> None:
        if self.gate not in GATES:
            raise InputError(f"clamp edit: unknown gate {self.gate!r}; the gates are "
                             f"{', '.join(GATES)}")  # fmt: skip
        if not isinstance(self.to_end, bool):
            raise InputError(f"clamp edit's to_end must be true or false, got {self.to_end!r}")
        super().__post_init__()

    def positions(self, T: int, reverse: bool) -> range:
        return _onward(self.t, T, reverse) if self.to_end else range(self.t, self.t + 1)

    def override(self) -> Override:
        return ((self.gate, self.unit, self.value),)


@dataclass(frozen=True, kw_only=True)
class Ablate(_Edit):
    """Zero one unit's c and h after every step, for the whole sequence or from step from_t on.

    The unit's c_t and its output o ⊙ tanh(c_t) are zeroed (with a projection,
    the unit's output before it), so neither the next step nor the layer above
    sees anything of it.
    """

    kind: ClassVar[str] = "ablate"
    _steps: ClassVar[tuple[str, ...]] = ("from_t",)
    _optional: ClassVar[tuple[str, ...]] = ("from_t",)
    unit: int
    from_t: int | None = None

    def positions(self, T: int, reverse: bool) -> range:
        if self.from_t is None:
            return range(T - 1, -1, -1) if reverse else range(T)
        return _onward(self.from_t, T, reverse)

    def override(self) -> Override:
        return (("c", self.unit, 0.0), ("h_cell", self.unit, 0.0))


@dataclass(frozen=True, kw_only=True)
class ReplaceInput:
    """Replace the LSTM's input x at position t with the vector x (input_size numbers).

    Every direction of layer 0 reads it. Replacing a token is this edit with
    the new token's embedding, made at the model level.
    """

    kind: ClassVar[str] = "input"
    t: int
    x: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "t", _whole(self.t, "input edit's t"))
        x = self.x
        if isinstance(x, (str, bytes, Mapping)) or not isinstance(x, Iterable):
            raise InputError(f"input edit's x must be a list of numbers, got {type(x).__name__}")
        x = np.asarray(x) if not isinstance(x, np.ndarray) else x
        if x.ndim != 1:
            raise InputError(f"input edit's x must be one vector, got shape {tuple(x.shape)}")
        object.__setattr__(self, "x", tuple(_finite(v, f"input edit's x[{n}]")
                                            for n, v in enumerate(x.tolist())))  # fmt: skip

    def to_json(self) -> dict:
        return {"kind": self.kind, "t": self.t, "x": list(self.x)}

    def check(self, spec: LSTMSpec, T: int) -> None:
        if self.t >= T:
            raise InputError(f"input edit: step {self.t} is outside the trace (0..{T - 1})")
        if len(self.x) != spec.input_size:
            raise InputError(f"input edit: x has {len(self.x)} numbers but the LSTM takes "
                             f"{spec.input_size} per step")  # fmt: skip


Edit = Union[SetState, ClampGate, Ablate, ReplaceInput]

#: JSON "kind" -> class.
EDIT_KINDS: Mapping[str, type] = {c.kind: c for c in (SetState, ClampGate, Ablate, ReplaceInput)}


def edit_from_json(d: Mapping) -> Edit:
    """The edit a `to_json()` dict describes; an InputError naming what is wrong otherwise."""
    if not isinstance(d, Mapping):
        raise InputError(f"an edit is a JSON object with a 'kind', got {type(d).__name__}")
    cls = EDIT_KINDS.get(d.get("kind"))
    if cls is None:
        raise InputError(f"unknown edit kind {d.get('kind')!r}; expected one of "
                         f"{', '.join(EDIT_KINDS)}")  # fmt: skip
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(d) - names - {"kind"})
    if unknown:
        raise InputError(f"{cls.kind} edit has unknown fields {unknown}; it takes {sorted(names)}")
    missing = [f.name for f in fields(cls) if f.name not in d and f.default is MISSING]
    if missing:
        raise InputError(f"{cls.kind} edit is missing {missing}; it takes {sorted(names)}")
    return cls(**{k: v for k, v in d.items() if k != "kind"})


def check_edits(edits: Iterable, spec: LSTMSpec, T: int) -> tuple[Edit, ...]:
    """The edits as a tuple, each one an Edit that fits the trace; InputError otherwise."""
    edits = tuple(edits)
    for n, e in enumerate(edits):
        if not isinstance(e, tuple(EDIT_KINDS.values())):
            raise InputError(f"edit {n} is a {type(e).__name__}, not an edit "
                             f"({', '.join(c.__name__ for c in EDIT_KINDS.values())})")  # fmt: skip
        e.check(spec, T)
    return edits


def overrides(edits: Iterable[Edit], spec: LSTMSpec, T: int) -> dict:
    """{(layer, direction): {t: Override}}: what the cell sets, step by step, in edit order."""
    out: dict = {}
    for e in edits:
        if isinstance(e, ReplaceInput):
            continue
        steps = out.setdefault((e.layer, e.direction), {})
        for t in e.positions(T, spec.reads_reversed(e.direction)):
            steps[t] = steps.get(t, ()) + e.override()
    return out


def reach(edits: Iterable[Edit], spec: LSTMSpec, T: int) -> np.ndarray:
    """Which steps the edits can change: a bool mask (L, D, T) by sequence position.

    A direction is re-run from the first position, in its reading order, that
    an edit touches or whose input changed, to the end of its reading order:
    t..T−1 reading left to right, t down to 0 reading right to left. A layer's
    input changes wherever a direction of the layer below was re-run, so a
    bidirectional layer above an edit at t re-runs its reverse direction
    from the last position down to 0. Everything outside the mask is the
    parent's, bit for bit.
    """
    edits = tuple(edits)
    L, D = spec.num_layers, spec.num_directions
    mask = np.zeros((L, D, T), bool)
    changed = np.zeros(T, bool)  # positions where the layer's input differs from the parent's
    for e in edits:
        if isinstance(e, ReplaceInput):
            changed[e.t] = True
    touched = overrides(edits, spec, T)
    for layer in range(L):
        for d in range(D):
            hit = changed.copy()
            hit[list(touched.get((layer, d), ()))] = True
            if not hit.any():
                continue
            if spec.reads_reversed(d):
                mask[layer, d, : T - int(np.argmax(hit[::-1]))] = True
            else:
                mask[layer, d, int(np.argmax(hit)) :] = True
        changed = mask[layer].any(axis=0)
    return mask
