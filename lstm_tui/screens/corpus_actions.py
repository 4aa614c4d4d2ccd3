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

from lstm_engine import EngineError, Selection, match, select_units, span_context

from ..app import screenshot_name
from ..corpus_view import (
    context_text, describe_span, example_entries, extend_span, match_line, span_steps,
)  # fmt: skip
from .corpus_dialogs import DEFAULT_THETA, ExportDialog, InputsDialog, MatchDialog, ThresholdDialog

#: How many selected units a note lists by number, and the table's title.
SHOW_UNITS, SHOW_IN_TITLE = 12, 6
#: How many places the match list shows, and tokens of context on each side.
MATCHES, CONTEXT = 50, 12

#: The keys, in footer priority order after the others (all but x off the footer).
KEYS = [
    Binding("X", "next_input(-1)", "Prev input", show=False, tooltip="The previous input (x the next; i lists them)"),
    Binding("i", "inputs", "Inputs", show=False, tooltip="List the inputs (a corpus's, or the model's examples) and open one"),
    Binding("shift+right", "span(1)", "Span →", key_display="⇧→", show=False, tooltip="Select a token span: grow it from the cursor (shift+← shrinks; a mouse drag over the strip selects too)"),
    Binding("shift+left", "span(-1)", "Span ←", key_display="⇧←", show=False, tooltip="Select a token span towards the start"),
    Binding("escape", "clear_span", "Drop span", key_display="Esc", show=False, tooltip="Drop the selected token span"),
    Binding("M", "match", "Match", show=False, tooltip="Match: the other places where the selected units switch on together, ranked as LSTMVis ranks them"),
    Binding("t", "threshold", "θ", show=False, tooltip="Set θ for select and match: a unit is on where tanh of its value ≥ θ (0.3)"),
    Binding("ctrl+e", "export", "Export", show=False, tooltip="Export the unit table at t or a quantity over the trace (CSV), or the screen (SVG)"),
]  # fmt: skip

#: The binding of `x`, which the screen puts among its own keys (it is on the footer).
NEXT_INPUT = Binding("x", "next_input(1)", "Next input", tooltip="The next input: a corpus's, or the model's next example (X previous, i lists them)")  # fmt: skip


def selection_title(sel: Selection, span: tuple[int, int]) -> str:
    """What the unit table's title says of a selection: how many units, which, and the rule
    ("◆ 2 on over steps 11–15: 3 7 · tanh c ≥ 0.3")."""
    rule = f"tanh {sel.quantity} ≥ {sel.threshold:g}"
    if not sel.units:
        return f"none on over {describe_span(span)} · {rule}"
    units = " ".join(str(u) for u in sel.units[:SHOW_IN_TITLE])
    more = " …" if len(sel.units) > SHOW_IN_TITLE else ""
    return f"◆ {len(sel.units)} on over {describe_span(span)}: {units}{more} · {rule}"


class CorpusActions:
    """Inputs, the span selection and export for DebuggerScreen (see the module docstring)."""

    span: var[tuple[int, int] | None] = var(None, init=False)
    """The selected token span as (anchor, head) positions, head at the cursor; None: none."""
    theta: var[float] = var(DEFAULT_THETA, init=False)
    """θ: a unit is on where tanh of its value is at least this (select and match)."""
    selection: var[Selection | None] = var(None, init=False)
    """What the span selects (lstm_engine.select_units) in the layer, direction and heatmap
    quantity in view; None without a span."""
    marked: var[frozenset[int]] = var(frozenset(), init=False)
    """The selected units, which the unit table marks ◆."""
    marked_note: var[str] = var("", init=False)
    """The selection as the table's title says it ("◆ 3 on over steps 4–6 · tanh c ≥ 0.3")."""

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
        self._select()

    def watch_theta(self) -> None:
        self._select()

    def watch_lstm_layer(self) -> None:
        self._select()

    def watch_direction(self) -> None:
        self._select()

    def watch_heat(self) -> None:
        self._select()

    def _select(self) -> None:
        """LSTMVis's select on the span, in the layer, direction and quantity in view: the
        units on (tanh ≥ θ) at every step of it and off on the step read before it."""
        if self.span is None:
            self.selection, self.marked, self.marked_note = None, frozenset(), ""
            return
        a, b = span_steps(self.span)
        try:
            sel = select_units(self.source.trace, a, b + 1, threshold=self.theta,
                               quantity=self.heat, layer=self.lstm_layer,
                               direction=self.direction)  # fmt: skip
        except EngineError as e:
            self.selection, self.marked, self.marked_note = None, frozenset(), ""
            self.note(str(e), title="No selection", severity="error", timeout=6)
            return
        self.selection = sel
        self.marked = frozenset(sel.units)
        self.marked_note = selection_title(sel, self.span)
        if sel.units and self.unit not in sel.units:
            self.unit = sel.units[0]

    def _say_selection(self) -> None:
        """The selected units in a note, with the rule that picked them."""
        sel = self.selection
        if sel is None:
            return
        rule = (f"tanh {sel.quantity} ≥ {sel.threshold:g} on every step of "
                f"{describe_span(self.span)}, below it on the step read before")  # fmt: skip
        if not sel.units:
            self.note(f"No unit is on: {rule}.", title="Select", timeout=5)
            return
        units = ", ".join(str(u) for u in sel.units[:SHOW_UNITS])
        more = f" … ({len(sel.units)} in all)" if len(sel.units) > SHOW_UNITS else ""
        self.note(f"Units {units}{more}: {rule}. M finds where they switch on together.",
                  title=f"Select: {len(sel.units)} unit{'s' if len(sel.units) != 1 else ''}",
                  timeout=6)  # fmt: skip

    def action_span(self, step: int) -> None:
        span, t = extend_span(self.span, self.t, step, self.session.T)
        if t == self.t and span == self.span:
            self.app.bell()
            return
        self.span = span  # the table's title says what it selects: no note per key
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
        """A new trace: a span that no longer fits it is dropped; one that does selects anew."""
        if self.span is not None and max(self.span) >= source.trace.T:
            self.span = None
        else:
            self._select()

    def action_threshold(self) -> None:
        def done(theta: float | None) -> None:
            if theta is not None:
                self.theta = theta
                if self.selection is not None:
                    self._say_selection()
                else:
                    self.note(f"θ = {theta:g}: a unit is on where tanh({self.heat}) ≥ {theta:g}.",
                              timeout=3)  # fmt: skip

        self.app.push_screen(ThresholdDialog(self.theta, self.heat), done)

    # --- match
    def action_match(self) -> None:
        sel = self.selection
        if sel is None:
            self.note("Select a token span first: shift+→ from the cursor, or drag over the "
                      "strip; M then finds where its units switch on together.", timeout=5)  # fmt: skip
            return
        if not sel.units:
            self.note(f"No unit is on over {describe_span(self.span)} (tanh {sel.quantity} ≥ "
                      f"{sel.threshold:g}): there is nothing to match; t lowers θ.", timeout=5)  # fmt: skip
            return
        self._match(self.source, sel)

    @work(thread=True, exclusive=True, group="match", exit_on_error=False)
    def _match(self, source, sel: Selection) -> None:
        """Match in a thread: a corpus of 100,000 steps takes a moment."""
        try:
            # match looks for spans of 2 steps or more (LSTMVis's cut-off); a selection of one
            # step looks for single steps too
            short = {"min_length": 1} if sel.stop - sel.start == 1 else {}
            found = match(source.trace, sel, limit=MATCHES + 1, **short)
        except EngineError as e:
            self.app.call_from_thread(self.note, str(e), title="No match", severity="error",
                                      timeout=6)  # fmt: skip
            return
        others = [m for m in found if (m.start, m.stop) != (sel.start, sel.stop)][:MATCHES]
        lines = [match_line(k, m, len(sel.units), context_text(span_context(
                     source.trace, m.start, m.stop, CONTEXT, CONTEXT)), describe_span(
                     (m.start, m.stop - 1))) for k, m in enumerate(others, 1)]  # fmt: skip
        self.app.call_from_thread(self._show_matches, source, sel, others, lines)

    def _show_matches(self, source, sel: Selection, found: list, lines: list[str]) -> None:
        if source is not self.source:  # the trace changed while matching: the places are stale
            return
        units = " ".join(str(u) for u in sel.units[:SHOW_UNITS])
        what = f"units {units}{' …' if len(sel.units) > SHOW_UNITS else ''}"
        if not found:
            self.note(f"No other place where {what} switch on together (tanh {sel.quantity} ≥ "
                      f"{sel.threshold:g}, off on the step before).", title="Match", timeout=6)  # fmt: skip
            return

        def done(k: int | None) -> None:
            if k is not None:
                m = found[k]
                self._goto(m.start)
                self.note(f"Match {k + 1}: {describe_span((m.start, m.stop - 1))}, "
                          f"{len(m.on)} of {len(sel.units)} selected units on, "
                          f"{len(m.extra)} other{'s' if len(m.extra) != 1 else ''}.", timeout=4)  # fmt: skip

        title = (f"Where {what} switch on together ({len(found)} place"
                 f"{'s' if len(found) != 1 else ''}, best first)")  # fmt: skip
        hint = (f"tanh {sel.quantity} ≥ {sel.threshold:g} over the span, below it on the step "
                "read before; ranked by most selected units on, fewest others, longest span")
        self.app.push_screen(MatchDialog(title, lines, hint), done)

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
