"""EditList: the what-if bar under the header — the edits that made the branch, and what changed.

Two lines, shown only while there is a branch or a comparison:

    edits  1 ablate 12 from 5 · 2 c[3] = 0 at 4   undone: f[3] = 1 at 6   U undo  R redo
    vs parent · diverges at step 5 (L1 c_t) · units differing most in c_t: 12 (0.93 at 5) …

While an edit's full branch is still being computed the screen shows its
preview, and the second line says what is pending instead (`pending_line`).

The edits come formatted by the screen (the engine's edit syntax); the
second line is read off a `whatif.Comparison` (the engine's TraceDiff) for
the layer, direction and heatmap quantity in view. Everything is
plain Text: an edit may quote a token the user typed.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from lstm_engine import REGISTRY

from ..text import safe_line
from ..whatif import Comparison

#: How many of the most different units the bar lists.
TOP_UNITS = 5


def step_ranges(steps: list[int]) -> str:
    """Positions as the screen numbers them (1..T), runs collapsed: [4, 5, 6, 9] -> "5–7, 10"."""
    out: list[str] = []
    k = 0
    while k < len(steps):
        j = k
        while j + 1 < len(steps) and steps[j + 1] == steps[j] + 1:
            j += 1
        a, b = steps[k] + 1, steps[j] + 1
        out.append(str(a) if a == b else f"{a}–{b}")
        k = j + 1
    return ", ".join(out)


def where_label(first, trace) -> str:
    """A Divergence as `step 5 (L1 → f, o)`: the step as the screen numbers it, the layer, the
    direction when there are two, and the quantities that differ there, gates first (an
    export with its gate blocks in the wrong order is named by them)."""
    arrow = ""
    if trace.num_directions == 2:
        arrow = "← " if trace.reads_reversed(first.direction) else "→ "
    names = [q.name for q in first.gates] or [first.largest.name]
    shown = ", ".join(REGISTRY[n].label for n in names[:4])
    return f"step {first.step} (L{first.layer + 1} {arrow}{shown})"


def comparison_line(cmp: Comparison, layer: int, direction: int, quantity: str,
                    against: str) -> str:  # fmt: skip
    """The second line: where `cmp.b` diverges from `cmp.a`, where the tokens and the
    predictions differ, and the units whose `quantity` differs most over the sequence
    (in the layer and direction in view)."""
    tr = cmp.b.trace
    parts = [against]
    if cmp.a.trace.T != tr.T:  # early: the rest of the line counts only the common steps
        parts[0] += f" ({tr.T} steps against {cmp.a.trace.T}, aligned by position)"
    if cmp.first is None:
        parts.append(f"no difference beyond {cmp.tol:g}")
    else:
        parts.append("diverges at " + where_label(cmp.first, tr))
    top = cmp.diff.top_units(quantity, layer, direction, TOP_UNITS)
    label = REGISTRY[quantity].label
    if top:
        units = "  ".join(f"{u.unit} ({u.max_abs:.2g} at {u.t + 1})" for u in top)
        parts.append(f"units differing most in {label}: {units}")
    else:
        parts.append(f"no unit's {label} differs")
    if cmp.pred_changed is None:
        parts.append("no predictions to compare")
    else:
        changed = cmp.changed_steps()
        n = len(changed)
        parts.append(f"top prediction changed at {n} step{'s' * (n != 1)}"
                     + (f" ({step_ranges(changed)})" if n else ""))  # fmt: skip
    if cmp.token_changed:
        parts.append(f"tokens differ at {step_ranges(list(cmp.token_changed))}")
    return " · ".join(parts)


def edits_line(edits: tuple[str, ...], undone: tuple[str, ...], viewing_parent: bool) -> str:
    """The first line: the edits, numbered, then what redo would bring back, then the keys."""
    shown = " · ".join(f"{n} {safe_line(e, 60)}" for n, e in enumerate(edits, 1)) or "none"
    line = f"edits  {shown}"
    if undone:
        line += "   undone: " + " · ".join(safe_line(e, 40) for e in undone)
    keys = ["U undo"] if edits else []
    keys += ["R redo"] if undone else []
    if edits:
        keys.append("b branch" if viewing_parent else "b parent")
    return line + ("   " + "  ".join(keys) if keys else "")


def pending_line(trace, queued: int = 0) -> str:
    """The second line under a preview (`trace.preview_until` set): which steps are the
    branch's already, which are still being re-run, and that the differences wait for them."""
    T, k = trace.T, trace.preview_until
    done = f"preview: steps 1–{k} are the branch's" if k < T else "preview"
    line = (f"{done} · re-running steps {k + 1}–{T} … the differences, the later steps' "
            "values and output are pending" if k < T else
            f"{done} · comparing with the parent … the differences are pending")  # fmt: skip
    if queued:
        line += f" · {queued} more edit{'s' * (queued != 1)} queued"
    return line + " · U cancels"


class EditList(Widget):
    """The what-if bar: the edit list (or what is compared) and the comparison at the cursor."""

    DEFAULT_CSS = """
    EditList { height: 2; text-wrap: nowrap; text-overflow: ellipsis; }
    """
    COMPONENT_CLASSES = {"edit-list--label", "edit-list--dim"}

    heading: reactive[str] = reactive("")
    """The first line as the screen words it (edits_line, or what two inputs are)."""
    comparison: reactive[Comparison | None] = reactive(None)
    against: reactive[str] = reactive("vs parent")
    """How the second line names what the trace in view is compared with."""
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    quantity: reactive[str] = reactive("c")
    """Which quantity the most different units are ranked by (the heatmap's)."""
    pending: reactive[str] = reactive("")
    """Under a preview: what is still being re-run (pending_line), shown instead of the
    comparison, which the full branch brings."""

    def render(self) -> Text:
        dim = self.get_component_rich_style("edit-list--dim")
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        text.append(safe_line(self.heading, 400), dim)
        cmp = self.comparison
        if self.pending:
            text.append("\n")
            text.append(safe_line(self.pending, 400), dim)
        elif cmp is not None:
            text.append("\n")
            text.append(comparison_line(cmp, self.lstm_layer, self.direction, self.quantity,
                                        self.against))  # fmt: skip
        return text
