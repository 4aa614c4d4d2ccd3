"""The debugger's corpus keys: inputs, the token span LSTMVis selects on, θ, export.

`CorpusActions` is mixed into DebuggerScreen, which owns the state it adds:
the span (two positions), θ, and the header's "input k of N", as reactives
the strip, table and header are bound to.

* `x` / `X`  the next / previous input: a corpus's (`lstm-tui MODEL
  --text-file FILE`, `lstm-tui corpus.npz`), else the model's examples;
  `i` lists them (Enter opens one).
* shift+→ / shift+←  grow or shrink a token span from the cursor (a mouse drag
  over the strip selects one too); its steps are marked ▏ in the strip; Esc
  drops it.
* `t`  θ for select and match (LSTMVis's default, 0.3, on tanh of the value).
* ctrl+e  export: the unit table at t, or a quantity over the trace, as CSV;
  the screen as SVG (to the current folder, or where the user says, and the
  note says where). Nothing is ever overwritten.
"""

from __future__ import annotations

from datetime import datetime

from textual import work
from textual.binding import Binding
from textual.reactive import var

from ..app import screenshot_name
from ..corpus_view import describe_span, example_entries, extend_span, span_steps
from .corpus_dialogs import DEFAULT_THETA, ExportDialog, InputsDialog, ThresholdDialog

#: The keys, in footer priority order after the others (all but x off the footer).
KEYS = [
    Binding("X", "next_input(-1)", "Prev input", show=False, tooltip="The previous input (x the next; i lists them)"),
    Binding("i", "inputs", "Inputs", show=False, tooltip="List the inputs (a corpus's, or the model's examples) and open one"),
    Binding("shift+right", "span(1)", "Span →", key_display="⇧→", show=False, tooltip="Select a token span: grow it from the cursor (shift+← shrinks; a mouse drag over the strip selects too)"),
    Binding("shift+left", "span(-1)", "Span ←", key_display="⇧←", show=False, tooltip="Select a token span towards the start"),
    Binding("escape", "clear_span", "Drop span", key_display="Esc", show=False, tooltip="Drop the selected token span"),
    Binding("t", "threshold", "θ", show=False, tooltip="Set θ for select and match: a unit is on where tanh of its value ≥ θ (0.3)"),
    Binding("ctrl+e", "export", "Export", show=False, tooltip="Export the unit table at t or a quantity over the trace (CSV), or the screen (SVG)"),
]  # fmt: skip

#: The binding of `x`, which the screen puts among its own keys (it is on the footer).
NEXT_INPUT = Binding("x", "next_input(1)", "Next input", tooltip="The next input: a corpus's, or the model's next example (X previous, i lists them)")  # fmt: skip


class CorpusActions:
    """Inputs, the span selection and export for DebuggerScreen (see the module docstring)."""

    span: var[tuple[int, int] | None] = var(None, init=False)
    """The selected token span as (anchor, head) positions, head at the cursor; None: none."""
    theta: var[float] = var(DEFAULT_THETA, init=False)
    """θ: a unit is on where tanh of its value is at least this (select and match)."""

    # --- the span
    def _update_markers(self) -> None:
        """The strip's markers: the span's steps ("span") over the search matches and
        bookmarks (WatchActions), which it hides only while it is selected."""
        super()._update_markers()
        if self.span is not None:
            a, b = span_steps(self.span)
            self.markers = {**self.markers, **{k: "span" for k in range(a, b + 1)}}

    def watch_span(self) -> None:
        self._update_markers()

    def action_span(self, step: int) -> None:
        span, t = extend_span(self.span, self.t, step, self.session.T)
        if t == self.t and span == self.span:
            self.app.bell()
            return
        self.span = span
        self._goto(t)

    def on_sequence_strip_span_dragged(self, event) -> None:
        """A mouse drag over the strip: the span from where it started to the pointer."""
        self.span = (event.start, event.end)
        self._goto(event.end)

    def action_clear_span(self) -> None:
        if self.span is not None:
            self.note(f"Dropped the span ({describe_span(self.span)}).", timeout=2)
            self.span = None

    def _span_source(self, source) -> None:
        """A new trace: a span that no longer fits it is dropped."""
        if self.span is not None and max(self.span) >= source.trace.T:
            self.span = None

    def action_threshold(self) -> None:
        def done(theta: float | None) -> None:
            if theta is not None:
                self.theta = theta
                self.note(f"θ = {theta:g}: a unit is on where tanh({self.heat}) ≥ {theta:g}.",
                          timeout=3)  # fmt: skip

        self.app.push_screen(ThresholdDialog(self.theta, self.heat), done)

    # --- inputs
    def _entries(self):
        return example_entries(self.source)

    def _input_index(self) -> int | None:
        """The input in view, 0-based (None: the user's own, not one of the list)."""
        example = self.source.example
        return example - 1 if example is not None else None

    def action_inputs(self) -> None:
        entries = self._entries()
        if not entries:
            self.note(self.source.example_reason or "There are no other inputs.", timeout=4)
            return

        def done(k: int | None) -> None:
            if k is not None and k != self._input_index():
                self._open_input(k)

        what = f"Examples of {self.source.name}"
        self.app.push_screen(InputsDialog(entries, self._input_index(), what), done)

    def input_reason(self) -> str | None:
        """Why `x` has no other input to go to, or None when it has."""
        return self.source.example_reason

    def action_next_input(self, step: int) -> None:
        reason = self.input_reason()
        if reason is not None:
            self.note(reason, title="No other input", severity="warning", timeout=4)
            return
        n = self.source.example_count
        k = self._input_index()
        k = (k + step) % n if k is not None else (0 if step > 0 else n - 1)
        self._open_input(k)

    def _open_input(self, k: int) -> None:
        self._open_example(k + 1)

    # --- export
    def action_export(self) -> None:
        choices = [("screenshot", "", "The screen as SVG (a screenshot)",
                    screenshot_name(self.app.title or "lstm-tui", datetime.now()))]  # fmt: skip

        def done(answer: tuple[str, str, str] | None) -> None:
            if answer is None:
                return
            kind, quantity, path = answer
            if kind == "screenshot":  # once the dialog is gone: the screen, not the dialog
                self.call_after_refresh(self.app.save_screenshot, path)

        self.app.push_screen(ExportDialog(choices), done)
