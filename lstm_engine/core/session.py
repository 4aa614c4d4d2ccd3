"""Session: a cursor over a Trace, the way a time-travel debugger moves over a recording.

Moving is a lookup, never a recomputation: the trace already holds every
step. Like a browser history, each move returns whether the cursor moved, so
a front end can tell "at the end" from "stepped" without knowing the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .edits import Edit
from .quantities import VALUE_NAMES
from .trace import Trace, step_index
from .watch import compile_watch


@dataclass(frozen=True, eq=False)
class StepView:
    """Every layer and direction of a trace at one step t."""

    trace: Trace
    t: int

    def value(self, name: str, layer: int = 0, direction: int = 0) -> np.ndarray:
        """One quantity (see QUANTITIES) for one layer and direction, shape (H,)."""
        return self.trace.value(name, layer, direction, self.t)

    def __getattr__(self, name: str) -> np.ndarray:
        """`view.c`, `view.kept`, ...: the quantity for all layers and directions, (L, D, H)."""
        if name not in VALUE_NAMES:
            raise AttributeError(name)
        tr = self.trace
        return np.stack(
            [
                np.stack([tr.value(name, layer, d, self.t) for d in range(tr.num_directions)])
                for layer in range(tr.num_layers)
            ]
        )

    @property
    def output(self) -> np.ndarray | None:
        return None if self.trace.output is None else self.trace.output[self.t]

    @property
    def token(self) -> str | None:
        return None if self.trace.tokens is None else self.trace.tokens[self.t]


class Session:
    """A cursor t in [0, T-1] over one trace; every move is clamped to the sequence."""

    def __init__(self, trace: Trace, t: int = 0):
        self.trace = trace
        self._t = 0
        self.goto(t)

    @property
    def t(self) -> int:
        return self._t

    @property
    def T(self) -> int:
        return self.trace.T

    def goto(self, t: int) -> bool:
        """Move to step t (clamped); True if the cursor moved."""
        new = min(max(step_index(t), 0), self.T - 1)
        moved = new != self._t
        self._t = new
        return moved

    def step(self, n: int = 1) -> bool:
        return self.goto(self._t + step_index(n))

    def back(self, n: int = 1) -> bool:
        return self.goto(self._t - step_index(n))

    def first(self) -> bool:
        return self.goto(0)

    def last(self) -> bool:
        return self.goto(self.T - 1)

    def at(self, t: int | None = None) -> StepView:
        """A view of step t (default: the cursor). Does not move the cursor."""
        t = self._t if t is None else step_index(t)
        if not 0 <= t < self.T:
            raise IndexError(f"step {t} is outside the trace (0..{self.T - 1})")
        return StepView(self.trace, t)

    def where(self, text: str, *, layer: int = 0, direction: int = 0) -> np.ndarray:
        """The positions (0..T-1) where the watch expression `text` holds (core/watch.py).

        `layer` and `direction` are what unscoped names read (the screen's);
        L2.rev.c[3] in the text reads its own. A bad expression is a WatchError.
        """
        return compile_watch(text, self.trace, layer, direction).where()

    def run_until(
        self, condition: str | Callable[[StepView], bool], *, reverse: bool = False,
        layer: int = 0, direction: int = 0,
    ) -> bool:  # fmt: skip
        """Move to the next (or previous) step where `condition` holds.

        `condition` is a watch expression (evaluated once over the whole trace,
        as `where`) or a predicate of a StepView (called step by step, in order).
        Stays put and returns False if no such step exists, the way a
        debugger's continue stops at the end without a hit.
        """
        if isinstance(condition, str):
            w = compile_watch(condition, self.trace, layer, direction)
            found = w.next(self._t, reverse=reverse)
            if found is None:
                return False
            self._t = found
            return True
        steps = range(self._t - 1, -1, -1) if reverse else range(self._t + 1, self.T)
        for t in steps:
            if condition(StepView(self.trace, t)):
                self._t = t
                return True
        return False

    def edit(self, *edits: Edit) -> "Session":
        """A new Session, at the same step, over a branch of this trace with `edits` applied.

        The trace under this session is never changed (recorder.branch makes a
        new Trace that names it as its parent), so the old session stays a valid
        cursor over the parent: undo is keeping it.
        """
        from .recorder import branch  # recorder imports this module's Trace users

        return Session(branch(self.trace, edits), self._t)

