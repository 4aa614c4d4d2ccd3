"""What-if on screen: the debugger's branch history, making a branch, and a trace against another.

Nothing here imports Textual, so it is tested as plain Python. The engine
makes branches (`lstm_engine.branch`: a new immutable Trace, the parent never
touched) and knows nothing of undo: undo is keeping the parents, which is
what `BranchHistory` does, the way frogmouth's navigation history does it
(`back()` / `forward()` return whether anything moved).

`make_branch` is the one way the screen edits (the engine's `Opened.branch`):
the branch, and the model's output recomputed from the branch's LSTM output
where the rest of the model can run from it, or None with the reason the
screen shows ("output not recomputed for this branch"), never the parent's
stale output.

A long branch takes seconds to make, so the screen first shows a preview
(`make_branch(..., until=k)`: the engine re-runs the left-to-right
directions only before position k, `preview_until(edit, T)` picks k) and
`PreviewData` blanks what the preview does not stand for, until the full
branch replaces it.

`Comparison` is what the screen shows of one trace against another (a branch
against its parent, a second input, a second model), read off the engine's
TraceDiff: per step whether the top prediction changed, the first divergent
step and where, the units that differ most. Two traces are aligned by
position, over the shorter one's steps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from lstm_engine import (
    EDITED_TOKEN, InputError, Opened, ReplaceInput, TokenReplacement, format_edit, parse_edit,
)  # fmt: skip
from lstm_engine import OUTPUT_NOT_RECOMPUTED as NOT_RECOMPUTED  # noqa: F401 - the panels' word

from .source import Source
from .stepdata import COLUMNS, TraceData, step_values, window

#: How many steps from the edit's first one a preview re-runs: a screen's worth of the strip
#: and heatmap to the right of the cursor, few enough that it lands at once (the engine's
#: copy of the parent's arrays, not these steps, is most of a preview's cost).
PREVIEW_STEPS = 32


def make_branch(source: Source, *edits, until: int | None = None) -> Source:
    """A new Source on a branch of `source`'s trace with `edits` applied; `source` never changes.

    The engine's front door makes it (`Opened.branch`): with the model, token
    replacements are resolved and the model's output recomputed where its
    reader can run the rest of the network; a recorded trace branches too.
    Slow for long traces (it re-runs what the edits reach): call it from a worker.
    `until` makes the engine's preview (`Trace.preview_until`), to show first.
    """
    trace = Opened(trace=source.trace, model=source.model).branch(edits, until=until)
    return replace(source, trace=trace)


def preview_until(edit, T: int, steps: int = PREVIEW_STEPS) -> int:
    """Where a preview of `edit` stops re-running: `steps` past the first step it touches (an
    ablation of the whole sequence touches step 0), within 1..T."""
    first = getattr(edit, "t", None)
    if first is None:
        first = getattr(edit, "from_t", None) or 0
    return max(1, min(T, int(first) + steps))


class PreviewData(TraceData):
    """A preview's numbers for the panels: nan (pending) where the preview still holds its
    parent's steps, i.e. from `preview_until` on in the directions read left to right, so the
    table, heatmap and history never show the parent's values as the branch's.

    Colour scales and widths are the parent's (`base`, already measured for the screen): a
    preview must not cost a pass over the whole trace; the full branch brings its own.
    """

    def __init__(self, trace, base: TraceData) -> None:
        super().__init__(trace)
        self.base, self.until = base, trace.preview_until

    def _pending(self, direction: int) -> int | None:
        """The first pending position in `direction`, or None when all of it is the branch's."""
        return None if self.trace.reads_reversed(direction) else self.until

    def scales(self, layer: int, direction: int) -> dict[str, float]:
        return self.base.scales(layer, direction)

    def number_widths(self, layer: int, direction: int) -> dict[str, int]:
        return self.base.number_widths(layer, direction)

    def half_lives(self, layer: int, direction: int) -> np.ndarray:
        """Pending: a half-life is a mean over every step, and the preview has re-run 32 of
        them (measuring it would also cost the preview a pass over the whole trace)."""
        return np.full(self.trace.hidden_size, np.nan)

    def unit_extents(self, layer: int, direction: int) -> None:
        """None: the history reads the unit's whole series (`unit_series`, pending steps nan)
        rather than cost the preview a pass over the whole trace."""
        return None

    def step_values(self, layer: int, direction: int, t: int) -> dict[str, np.ndarray]:
        got = step_values(self.trace, layer, direction, t)
        until = self._pending(direction)
        if until is not None and t >= until:
            return {q: np.full(v.shape, np.nan, np.result_type(v.dtype, np.float32))
                    for q, v in got.items()}  # fmt: skip
        return got

    def window(self, name: str, layer: int, direction: int, t0: int, t1: int,
               units) -> np.ndarray:  # fmt: skip
        got = window(self.trace, name, layer, direction, t0, t1, units)
        until = self._pending(direction)
        if until is None or t1 <= until:
            return got
        out = np.array(got, dtype=np.result_type(got.dtype, np.float32))
        out[:, max(until - t0, 0):] = np.nan
        return out

    def unit_series(self, layer: int, direction: int, unit: int) -> dict[str, np.ndarray]:
        got = super().unit_series(layer, direction, unit)
        until = self._pending(direction)
        if until is None:
            return got
        out = {}
        for q, v in got.items():
            v = np.array(v, dtype=np.result_type(v.dtype, np.float32))
            v[until:] = np.nan
            out[q] = v
        return out


class BranchHistory:
    """The chain of branches from the trace that was opened to the one in view, with redo.

    `current` is the branch in view; `undo()` goes back to its parent (the
    very Source object it was made from, so its trace is bit for bit what it
    was), `redo()` forward again; a new edit after an undo drops what could
    have been redone, as an editor's undo does.
    """

    def __init__(self, root: Source) -> None:
        self._chain: list[Source] = [root]
        self._undone: list[Source] = []

    @property
    def current(self) -> Source:
        return self._chain[-1]

    @property
    def parent(self) -> Source | None:
        """What the branch in view was made from; None for the trace that was opened."""
        return self._chain[-2] if len(self._chain) > 1 else None

    @property
    def root(self) -> Source:
        return self._chain[0]

    @property
    def depth(self) -> int:
        """Edits applied in this session (0: the trace as opened)."""
        return len(self._chain) - 1

    @property
    def undone(self) -> tuple[Source, ...]:
        """What `redo()` would bring back, next first."""
        return tuple(reversed(self._undone))

    def push(self, source: Source) -> None:
        self._chain.append(source)
        self._undone.clear()

    def undo(self) -> bool:
        if len(self._chain) == 1:
            return False
        self._undone.append(self._chain.pop())
        return True

    def redo(self) -> bool:
        if not self._undone:
            return False
        self._chain.append(self._undone.pop())
        return True

    def edits_of(self, source: Source) -> tuple:
        """The edits made in this session that `source` has (the opened trace's own excluded)."""
        return source.trace.edits[len(self.root.trace.edits):]


@dataclass(frozen=True, eq=False)
class Comparison:
    """One trace (`b`) against another (`a`: the parent, or the first input or model), as the
    screen shows it: the engine's TraceDiff (differences b − a) and the two Sources.

    `kind` is "branch", "input" or "model".
    """

    kind: str
    a: Source
    b: Source
    diff: object  # lstm_engine's TraceDiff

    @property
    def tol(self) -> float:
        return self.diff.tol

    @property
    def first(self):
        """Where the traces first differ beyond `tol` (a Divergence), or None."""
        return self.diff.first_divergence

    @property
    def pred_changed(self) -> np.ndarray | None:
        return self.diff.prediction_changed

    @property
    def token_changed(self) -> tuple[int, ...]:
        return self.diff.token_positions or ()

    def changed_steps(self) -> list[int]:
        changed = self.pred_changed
        return [] if changed is None else np.flatnonzero(changed).tolist()

    def markers(self) -> dict[int, str]:
        """Position -> marker kind for the sequence strip: "changed" where the top prediction
        differs, and "diverge" at the first divergent step (which wins there: the bar says
        whether its prediction changed too)."""
        marks = dict.fromkeys(self.changed_steps(), "changed")
        if self.first is not None:
            marks[self.first.t] = "diverge"
        return marks


def compare(a: Source, b: Source, kind: str) -> Comparison:
    """`b` against `a`, aligned by position over the steps both have (the engine's Trace.diff,
    at its tolerance: 1e-5 for float32, 1e-10 for float64). Slow for long traces."""
    if kind not in ("branch", "input", "model"):
        raise ValueError(f"kind must be branch, input or model, not {kind!r}")
    return Comparison(kind, a, b, a.trace.diff(b.trace))


class DifferenceData(TraceData):
    """The unit table's and heatmap's numbers as differences: `trace` − `base`, step by step.

    Aligned by position; where `base` has no such step (a shorter input) the
    difference is nan ("nan" in the table, the nan colour in the heatmap).
    Colour scales are the trace's own, so a difference as large as the
    largest c the trace holds is fully saturated, on one symmetric scale.
    The history panel still shows the trace's values (unit_series).
    """

    difference = True

    def __init__(self, plain: TraceData, base) -> None:
        """`plain`: the trace's own TraceData, whose colour scales and widths are reused."""
        super().__init__(plain.trace)
        self.plain, self.base = plain, base

    def scales(self, layer: int, direction: int) -> dict[str, float]:
        return self.plain.scales(layer, direction)

    def step_values(self, layer: int, direction: int, t: int) -> dict[str, np.ndarray]:
        got = step_values(self.trace, layer, direction, t)
        if t >= self.base.T:
            return {q: np.full_like(v, np.nan) for q, v in got.items()}
        base = step_values(self.base, layer, direction, t)
        with np.errstate(invalid="ignore", over="ignore"):
            return {q: got[q] - base[q] for q in COLUMNS}

    def window(self, name: str, layer: int, direction: int, t0: int, t1: int,
               units) -> np.ndarray:  # fmt: skip
        got = window(self.trace, name, layer, direction, t0, t1, units)
        out = np.full(got.shape, np.nan, dtype=np.result_type(got.dtype, np.float32))
        end = min(t1, self.base.T)
        if end > t0:
            with np.errstate(invalid="ignore", over="ignore"):
                out[:, : end - t0] = got[:, : end - t0] - window(
                    self.base, name, layer, direction, t0, end, units)
        return out

    def number_widths(self, layer: int, direction: int) -> dict[str, int]:
        """The trace's widths, with room for a sign on the gate columns (a gate's difference
        is signed)."""
        return {q: max(w, 5) for q, w in self.plain.number_widths(layer, direction).items()}

    def unit_extents(self, layer: int, direction: int) -> None:
        """None: the history reads the unit's whole series of the trace (`unit_series`)."""
        return None


def parse(text: str, source: Source, *, layer: int = 0, direction: int = 0):
    """The edit `text` names on `source`'s trace (the engine's edit syntax, screen steps 1..T);
    an InputError (with .column) otherwise. A token replacement is checked against the
    model's vocabulary here, so the dialog says so before anything runs."""
    edit = parse_edit(text, source.trace, layer=layer, direction=direction)
    if hasattr(edit, "token") and not hasattr(edit, "x"):
        if source.model is None:
            raise InputError("replacing a token needs the model's vocabulary and embedding: "
                             "open the model rather than a recorded trace")  # fmt: skip
        source.model.replace_token(source.trace, edit.t, edit.token)
    return edit


def describe(edit, trace=None) -> str:
    """An edit in the syntax the dialog takes (the engine's format_edit), layer and direction
    prefixed where they are not the first. A replaced input that `trace` (a branch holding the
    edit) names by its token is written as the token edit it came from, not as its vector."""
    if isinstance(edit, ReplaceInput) and trace is not None and trace.tokens is not None:
        token = trace.tokens[edit.t]
        if token != EDITED_TOKEN:
            edit = TokenReplacement(edit.t, token)
    return format_edit(edit, trace)
