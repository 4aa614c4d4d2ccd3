"""The debugger's what-if keys: edit the run at the cursor, undo and redo, parent ⇄ branch, compare.

A mixin of DebuggerScreen, so that the screen module stays about stepping:
the screen still owns the Session and every reactive (these are declared
here and live on the screen), and only the screen talks to the engine.

* `=` opens the edit dialog (the engine's syntax, prefilled from the unit
  and step in view), `a` / `A` ablate the selected unit from t / over the
  whole sequence, `T` replaces the token at t. Each edit runs in a worker
  (`whatif.make_branch`), makes a new branch and shows it at the same step;
  the trace it was made from is never changed, so a recorded trace opened
  read-only branches too. The worker first hands over a preview (the engine
  re-runs a screen's worth of steps, `whatif.preview_until`), shown at
  once and marked so (the header, the what-if bar, nan where the preview
  holds the parent's steps, `whatif.PreviewData`), then the full branch,
  which replaces it at the same step. An edit made while one is running is
  queued (and said so); `U` cancels the running one and the queue; `R`,
  `b` and `B` wait for it, with a note. A preview is never saved (the
  engine refuses it, and the note says so).
* `U` (ctrl+z) and `R` (ctrl+y, ctrl+r) undo and redo one edit at a time
  (`whatif.BranchHistory`); `b` switches between the branch and its parent
  at the same step; `D` shows the table and heatmap as differences.
* `B` asks for a second input and compares it with the one in view
  (`B` again ends it); `lstm-tui MODEL --compare B` and `--compare-model`
  open on a comparison. `|` picks the side shown on a narrow terminal.
"""

from __future__ import annotations

import threading

from textual import work
from textual.worker import get_current_worker
from textual.binding import Binding
from textual.reactive import var

from lstm_engine import Ablate, Session

from ..source import Source
from ..stepdata import TraceData
from ..views.trace_view import TraceView
from ..text import safe_line
from ..whatif import (
    BranchHistory, Comparison, PreviewData, compare, describe, make_branch, preview_until,
)  # fmt: skip
from ..widgets.edit_list import EditList, edits_line, pending_line
from .dialogs import EditInputDialog
from .edit_dialogs import EditDialog

#: How long an edit's worker waits for the screen to take its preview in before the full
#: re-run (seconds; a bound, the refresh is usually much sooner).
SHOWN_WAIT = 1.0

# Footer order continues the screen's: at 80 columns these fall off the footer first
# (they stay in the help screen and the command palette).
WHATIF_KEYS = [
    Binding("equals_sign", "edit_unit", "What if", key_display="=", tooltip="What if: edit the run at the cursor (c, h or a gate of a unit, ablate, a token): a new branch"),
    Binding("a", "ablate(1)", "Ablate", tooltip="Ablate the selected unit from this step on (its c and h zeroed): a new branch"),
    Binding("A", "ablate(0)", "Ablate all", show=False, tooltip="Ablate the selected unit over the whole sequence: a new branch"),
    Binding("T", "replace_token", "Token", show=False, tooltip="Replace the token at this step (text models): a new branch"),
    Binding("U,ctrl+z", "undo", "Undo", key_display="U", tooltip="Undo the last edit (back to the branch's parent)"),
    Binding("R,ctrl+y,ctrl+r", "redo", "Redo", key_display="R", show=False, tooltip="Redo the edit undone last"),
    Binding("b", "parent", "Parent", tooltip="Switch between the branch and its parent at the same step"),
    Binding("D", "difference", "Diff", tooltip="Table and heatmap: the values, or their difference from the parent (or the other input)"),
    Binding("B", "compare_input", "Compare", tooltip="Compare with a second input, aligned by position (B again ends the comparison)"),
    Binding("vertical_line", "side", "Side", key_display="|", tooltip="Comparing on a narrow terminal: show the other side"),
]  # fmt: skip


class WhatIfActions:
    """Branches, undo/redo and comparisons for DebuggerScreen (which provides session, source,
    t, lstm_layer, direction, unit, note, _update_footer and _run_model)."""

    comparison: var[Comparison | None] = var(None, init=False)
    """The trace in view against its parent or the other input; None without either."""
    difference: var[bool] = var(False, init=False)
    """Table and heatmap show differences (D)."""
    other: var[Source | None] = var(None, init=False)
    """The second trace of a comparison (a second input or model), else None."""
    other_t: var[int] = var(0, init=False)
    """The cursor on the second trace: t, clamped to its length."""
    paired: var[bool] = var(False, init=False)
    """Is a comparison of two traces on screen?"""
    side: var[int] = var(0, init=False)
    """On a narrow terminal, which side of a comparison is shown (0 the first)."""
    branch_label: var[str] = var("", init=False)
    """The header's word on what is in view (a branch, its parent, a side)."""
    whatif_heading: var[str] = var("", init=False)
    """The what-if bar's first line: the edits, or what is compared."""
    against: var[str] = var("vs parent", init=False)
    """How the bar names what the trace in view is compared with."""

    def _whatif_init(self, source: Source) -> None:
        if getattr(self, "_edit_job", None) is not None:  # a new input: its edits are moot
            self._cancel_edits()
        self._edit_job: tuple[Source, object] | None = None  # (parent, edit) being made
        self._edit_queue: list = []  # edits made meanwhile, applied in order after it
        self.history = BranchHistory(source)
        self.viewing_parent = False
        self._comparisons: dict[int, Comparison] = {}  # history depth -> that branch's comparison
        self.compare_kind: str | None = None

    # --- what the footer shows
    def whatif_idle_keys(self) -> set[str]:
        """The what-if keys that do nothing now (hidden from the footer; they still answer)."""
        idle = set()
        if self.history.depth == 0:
            idle |= {"U", "ctrl+z", "b"}
        if not self.history.undone:
            idle |= {"R", "ctrl+y", "ctrl+r"}
        if self.comparison is None:
            idle.add("D")
        if not self.paired or self.query_one("#views").both_fit():
            idle.add("vertical_line")
        if self.paired or self.source.trace.spec is None:
            idle |= {"equals_sign", "a", "A", "T"}
        return idle

    def _can_edit(self) -> bool:
        if self.paired:
            self.note("Edits make branches of one trace: end the comparison first (B).",
                      timeout=4)  # fmt: skip
            return False
        if self.source.trace.spec is None:
            self.note("This trace has no weights, so it cannot be re-run from an edit.",
                      severity="warning", timeout=4)  # fmt: skip
            return False
        if self.viewing_parent:  # an edit of the parent would be a sibling: say where it goes
            self.action_parent()
        return True

    # --- edits
    def action_edit_unit(self) -> None:
        if not self._can_edit():
            return
        initial = f"c[{self.unit}] = 0 at {self.t + 1}"
        self._ask_edit(initial)

    def action_replace_token(self) -> None:
        if not self._can_edit():
            return
        if self.source.trace.tokens is None:
            self.note("This input has no tokens to replace.", timeout=3)
            return
        self._ask_edit(f"token {self.t + 1} = ")

    def _ask_edit(self, initial: str) -> None:
        tr = self.source.trace
        where = f"layer {self.lstm_layer + 1}" + (
            (" ← reverse" if tr.reads_reversed(self.direction) else " → forward")
            if tr.num_directions == 2 else "")  # fmt: skip

        def done(edit) -> None:
            if edit is not None:
                self._edit(edit)

        dialog = EditDialog(self.source, initial, layer=self.lstm_layer,
                            direction=self.direction, where=where)  # fmt: skip
        self.app.push_screen(dialog, done)

    def action_ablate(self, from_here: int) -> None:
        if not self._can_edit():
            return
        self._edit(Ablate(unit=self.unit, from_t=self.t if from_here else None,
                          layer=self.lstm_layer, direction=self.direction))  # fmt: skip

    def _edit(self, edit) -> None:
        if self._edit_job is not None:  # never dropped: it runs on the branch being made
            self._edit_queue.append(edit)
            self.note(f"Queued {describe(edit)}: it runs on the branch being made now "
                      "(U cancels both).", timeout=4)  # fmt: skip
            self._show_pending()
            return
        self.note(f"Re-running from the edit: {describe(edit)} …", timeout=2)
        self._start_edit(self.history.current, edit)

    def _start_edit(self, parent: Source, edit) -> None:
        self._edit_job = (parent, edit)
        view = self.query_one("#main", TraceView)
        data = view.data
        base = data.plain if data is not None and data.difference else data
        if base is None or base.trace is not parent.trace:
            base = TraceData(parent.trace)
        self._branch(self._edit_job, preview_until(edit, parent.trace.T), base)

    @work(thread=True, exclusive=True, group="whatif", exit_on_error=False)
    def _branch(self, job: tuple[Source, object], until: int, base: TraceData) -> None:
        """Make the preview, hand it over, then the full branch and its comparison, off the UI
        thread. Undo cancels this worker: what it makes after that is dropped (the engine's
        re-run itself cannot be interrupted; it finishes in the background)."""
        parent, edit = job
        layer, direction = self.lstm_layer, self.direction
        worker = get_current_worker()

        def preview() -> tuple[Source, PreviewData]:
            base.number_widths(layer, direction)  # measured already, unless new
            base.scales(layer, direction)
            new = make_branch(parent, edit, until=until)
            return new, PreviewData(new.trace, base)

        def run() -> tuple[Source, Comparison, TraceData]:
            new = make_branch(parent, edit)
            data = TraceData(new.trace)  # what showing it would measure over the whole trace
            data.number_widths(layer, direction)
            data.scales(layer, direction)
            return new, compare(parent, new, "branch"), data

        first = self._run_model(preview, "Edit failed")
        if worker.is_cancelled:
            return
        if first is None:
            self.app.call_from_thread(self._edit_failed, job)
            return
        shown = threading.Event()
        self.app.call_from_thread(self._previewed, job, *first, shown)
        # the full re-run competes with the UI thread for the GIL: start it once the screen
        # has taken the preview in (its refresh), not while the preview is being laid out
        shown.wait(SHOWN_WAIT)
        got = self._run_model(run, "Edit failed") if not worker.is_cancelled else None
        if worker.is_cancelled:
            return
        if got is None:
            self.app.call_from_thread(self._edit_failed, job)
        else:
            self.app.call_from_thread(self._branched, job, *got)

    def _previewed(self, job, preview: Source, data: PreviewData,
                   shown: threading.Event) -> None:  # fmt: skip
        """Show the preview at the same step, marked as one, until the full branch lands;
        `shown` is set after the refresh that shows it."""
        self.call_after_refresh(shown.set)
        if job is not self._edit_job:  # cancelled meanwhile
            return
        self.viewing_parent = False
        self.query_one("#main", TraceView).prepare(data)
        self.comparison = None
        self.session = Session(preview.trace, min(self.t, preview.trace.T - 1))
        self.source = preview
        self.t = self.session.t
        self._show_pending()
        self._update_footer()

    def _show_pending(self) -> None:
        """The header and what-if bar under a preview: the edit being made, what is pending."""
        shown = self.source.trace
        if self._edit_job is None or shown.preview_until is None:
            return
        h = self.history
        self.branch_label = f"⎇ branch {h.depth + 1} (preview)"
        edits = tuple(describe(e, shown) for e in shown.edits[len(h.root.trace.edits):])
        queued = tuple(f"queued {describe(e)}" for e in self._edit_queue)
        self.whatif_heading = edits_line(edits + queued, (), False)
        self.query_one("#whatif", EditList).pending = pending_line(shown, len(self._edit_queue))
        self._whatif_bar()

    def _branched(self, job, new: Source, cmp: Comparison,
                  data: TraceData | None = None) -> None:  # fmt: skip
        """The full branch replaces the preview (or lands) at the same step; a queued edit
        then runs on it."""
        if job is not self._edit_job:  # cancelled meanwhile
            return
        self._edit_job = None
        if data is not None:
            self.query_one("#main", TraceView).prepare(data)
        self.query_one("#whatif", EditList).pending = ""
        self.viewing_parent = False
        self.history.push(new)
        self._comparisons[self.history.depth] = cmp
        self._show_history()
        self.note(f"Branch {self.history.depth}: {_last_edit(new)}", timeout=3)
        if self._edit_queue:
            self._start_edit(new, self._edit_queue.pop(0))

    def _edit_failed(self, job) -> None:
        """The edit could not be made (the worker said why): back to the trace it was made
        from; the edits queued after it go too, as they were meant for its branch."""
        if job is not self._edit_job:
            return
        dropped = len(self._edit_queue)
        self._edit_job, self._edit_queue = None, []
        self.query_one("#whatif", EditList).pending = ""
        self._show_history()
        if dropped:
            self.note(f"Dropped {dropped} queued edit{'s' * (dropped != 1)} with it.",
                      severity="warning", timeout=6)  # fmt: skip

    def _cancel_edits(self) -> str:
        """Stop the edit being made and the queue; what was cancelled, for the note."""
        parent, edit = self._edit_job
        self.workers.cancel_group(self, "whatif")
        what = describe(edit) + (f" and {len(self._edit_queue)} queued" if self._edit_queue else "")
        self._edit_job, self._edit_queue = None, []
        self.query_one("#whatif", EditList).pending = ""
        return what

    def _busy(self, what: str) -> bool:
        """While an edit is being made, `what` waits for it (a note says so)."""
        if self._edit_job is None:
            return False
        self.note(f"An edit is being made: {what} when it is done, or U to cancel it.",
                  timeout=3)  # fmt: skip
        return True

    # --- undo, redo, parent
    def action_undo(self) -> None:
        if self._edit_job is not None:  # the edit being made is the last one: undo is cancel
            what = self._cancel_edits()
            self._show_history()
            self.note(f"Cancelled {what}", timeout=2)
            return
        if self.viewing_parent:
            self.viewing_parent = False
        if not self.history.undo():
            self.note("Nothing to undo: this is the trace as it was opened.", timeout=2)
            return
        self._show_history()
        self.note(f"Undid {_last_edit(self.history.undone[0])}", timeout=2)

    def action_redo(self) -> None:
        if self._busy("redo"):
            return
        if not self.history.redo():
            self.note("Nothing to redo.", timeout=2)
            return
        self.viewing_parent = False
        self._show_history()
        self.note(f"Redid {_last_edit(self.history.current)}", timeout=2)

    def action_parent(self) -> None:
        if self._busy("switch to the parent (b)"):
            return
        if self.history.parent is None:
            self.note("This is the trace as it was opened: edit it (=, a) to make a branch.",
                      timeout=3)  # fmt: skip
            return
        self.viewing_parent = not self.viewing_parent
        self._show_history()

    def _show_history(self) -> None:
        """Show the branch in view (or its parent) at the same step, with its comparison."""
        h = self.history
        shown = h.parent if self.viewing_parent and h.parent is not None else h.current
        self.comparison = self._comparisons.get(h.depth) if h.depth else None
        self.session = Session(shown.trace, min(self.t, shown.trace.T - 1))
        self.source = shown
        self.t = self.session.t
        depth = h.depth
        if depth == 0:
            self.branch_label = ""
        elif self.viewing_parent:
            self.branch_label = f"⎇ parent of branch {depth}"
        else:
            ahead = len(h.undone)
            self.branch_label = f"⎇ branch {depth}" + (f" of {depth + ahead}" if ahead else "")
        self.against = "vs branch" if self.viewing_parent else "vs parent"
        edits = tuple(describe(e, h.current.trace) for e in h.edits_of(h.current))
        undone = tuple(_last_edit(s) for s in h.undone)
        shown_edits = depth or undone
        self.whatif_heading = edits_line(edits, undone, self.viewing_parent) if shown_edits else ""
        self._whatif_bar()
        self._update_footer()

    def _whatif_bar(self) -> None:
        bar, show = self.query_one("#whatif"), bool(self.whatif_heading) or self.paired
        if bar.display != show:  # an unchanged display must not cost a layout pass
            bar.display = show

    def action_difference(self) -> None:
        if self.comparison is None:
            self.note("Nothing to compare with: make a branch (=, a) or compare inputs (B).",
                      timeout=3)  # fmt: skip
            return
        self.difference = not self.difference
        what = "differences from the " + ("other side" if self.paired else "parent")
        self.note(f"Table and heatmap show {what if self.difference else 'values'} (D)",
                  timeout=2)  # fmt: skip

    # --- comparisons
    def action_compare_input(self) -> None:
        if self._busy("compare (B)"):
            return
        if self.paired:
            self._end_comparison()
            return
        if self.history.depth:
            self.note("Comparing works on the trace as opened: undo the edits first (U).",
                      timeout=4)  # fmt: skip
            return
        reason = self.source.read_only_reason
        if reason is not None:
            self.note(reason, title="Cannot run a second input", severity="warning", timeout=6)
            return

        def done(text: str | None) -> None:
            if text is not None:
                self._second_input(text)

        title = f"Compare {self.source.name} on a second input"
        self.app.push_screen(EditInputDialog(self.source, title=title), done)

    @work(thread=True, exclusive=True, group="whatif", exit_on_error=False)
    def _second_input(self, text: str) -> None:
        first = self.source

        def run() -> tuple[Source, Comparison]:
            second = first.retrace(text)
            return second, compare(first, second, "input")

        got = self._run_model(run, "Comparison failed")
        if got is not None:
            self.app.call_from_thread(self.show_comparison, *got)

    def show_comparison(self, other: Source, cmp: Comparison) -> None:
        """Show `other` beside the trace in view (the second of a comparison)."""
        self.compare_kind = cmp.kind
        self.other = other
        self.other_t = min(self.t, other.trace.T - 1)
        self.comparison = cmp
        self.paired = True
        what = {"input": "input", "model": "model"}[cmp.kind]
        self.against = f"second {what} vs first"
        self.whatif_heading = _compare_heading(cmp)
        self._whatif_bar()
        self.side_label()
        self._update_footer()

    def _end_comparison(self) -> None:
        self.paired = False
        self.side = 0
        self.other = None
        self.comparison = None
        self.difference = False
        self.compare_kind = None
        self.branch_label = ""
        self.whatif_heading = ""
        self._whatif_bar()
        self._update_footer()
        self.note("Comparison ended.", timeout=2)

    def action_side(self) -> None:
        if not self.paired:
            self.note("Nothing to switch: compare with a second input first (B).", timeout=3)
            return
        if self.query_one("#views").both_fit():
            self.note("Both sides are on screen.", timeout=2)
            return
        self.side = 1 - self.side
        self.side_label()
        self.note(f"Showing the {'second' if self.side else 'first'} side (|: switch)", timeout=2)

    def side_label(self) -> None:
        """The header's word on a comparison: both sides, or which one is on screen."""
        if not self.paired:
            return
        what = "model" if self.compare_kind == "model" else "input"
        if self.query_one("#views").both_fit():
            self.branch_label = f"⇄ {what}s 1 | 2"
        else:
            self.branch_label = f"⇄ {what} {self.side + 1} of 2 (|)"

    def _follow_other(self) -> None:
        """The second trace's cursor: the same position, within its own length."""
        if self.other is not None:
            self.other_t = min(self.t, self.other.trace.T - 1)


def _last_edit(source: Source) -> str:
    """The edit that made this branch, as the edit list writes it."""
    return describe(source.trace.edits[-1], source.trace)


def _compare_heading(cmp: Comparison) -> str:
    """What is compared, for the bar's first line: the two inputs, or the two models."""
    if cmp.kind == "model":
        return (f"first: {safe_line(cmp.a.name, 40)} ({cmp.a.format})   second: "
                f"{safe_line(cmp.b.name, 40)} ({cmp.b.format})   same input   "
                f"tolerance {cmp.tol:g}")  # fmt: skip
    a, b = (_around(s.trace, cmp.token_changed) for s in (cmp.a, cmp.b))
    return f"first: {a}   second: {b}   D diff  B end"


def _around(trace, changed: tuple[int, ...], context: int = 3) -> str:
    """The input, or the few tokens around the first one that differs, as one safe line."""
    tokens = trace.tokens or ()
    if not changed:
        return safe_line(" ".join(tokens), 60)
    k = changed[0]
    lo, hi = max(k - context, 0), min(k + context + 1, len(tokens))
    words = " ".join(tokens[lo:hi])
    return safe_line(("… " if lo else "") + words + (" …" if hi < len(tokens) else ""), 60)
