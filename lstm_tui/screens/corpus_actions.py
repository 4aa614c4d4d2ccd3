"""The debugger's corpus keys: inputs, LSTMVis's select and match, θ, export.

`CorpusActions` is mixed into DebuggerScreen, which owns the state it adds as
reactives: the span (two positions), θ, the selection it makes and the units
the table marks, and the match in view. Which input of a corpus is in view is
the Source's (`Source.corpus`, `Source.input`: the header reads it there).
Every number comes from the engine (lstm_engine.select_units, match,
span_context, export_csv); the screen only moves the cursor.

* `x` / `X`  the next / previous input: a corpus's (`lstm-tui MODEL
  --text-file FILE`, `lstm-tui corpus.npz`), else the model's examples;
  `i` lists them (Enter opens one).
* shift+→ / shift+←  move the end of a token span from the cursor (a mouse
  drag over the strip selects one too); its steps are marked ▏ in the strip,
  the units it selects ◆ in the table; Esc drops it.
* `M`  the other places where the selected units switch on together (in a
  corpus, in every input), best first; Enter goes there, marked ≈.
* `t`  θ for select and match (LSTMVis's default, 0.3, on tanh of the value).
* ctrl+e  export: the unit table at t, or a quantity over the trace, as CSV;
  the screen as SVG (to the current folder, or where the user says, and the
  note says where). Nothing is ever overwritten.
"""

from __future__ import annotations

from datetime import datetime
from types import MappingProxyType

from textual import work
from textual.binding import Binding
from textual.reactive import var

from lstm_engine import (
    QUANTITIES, EngineError, Selection, export_csv, match, select_units, span_context,
    unit_on_mask,
)  # fmt: skip

from ..app import screenshot_name
from ..corpus_view import (
    InputEntry, Places, context_text, corpus_entries, describe_span,
    example_entries, export_name, extend_span, match_line, span_steps, stopped_note,
)  # fmt: skip
from ..stepdata import column_label
from .corpus_dialogs import DEFAULT_THETA, ExportDialog, InputsDialog, MatchDialog, ThresholdDialog

#: How many selected units a note lists by number, and the table's title.
SHOW_UNITS, SHOW_IN_TITLE = 12, 6
#: How many places the match list shows, tokens of context on each side, and the cells the
#: context takes (the list is 110 columns wide where the terminal has them).
MATCHES, CONTEXT, CONTEXT_WIDTH = 50, 30, 90

#: The keys, in footer priority order after the others (all but x off the footer).
KEYS = [
    Binding("X", "next_input(-1)", "Prev input", show=False, tooltip="The previous input (x the next; i lists them)"),
    Binding("i", "inputs", "Inputs", show=False, tooltip="List the inputs (a corpus's, or the model's examples) and open one"),
    Binding("shift+right", "span(1)", "Span →", key_display="⇧→", show=False, tooltip="Select a token span from the cursor: ⇧→ and ⇧← move its end (a mouse drag over the strip selects one too); its units are marked ◆"),
    Binding("shift+left", "span(-1)", "Span ←", key_display="⇧←", show=False, tooltip="Move the selected span's end back a step"),
    Binding("escape", "clear_span", "Drop span", key_display="Esc", show=False, tooltip="Drop the selected token span"),
    Binding("M", "match", "Match", show=False, tooltip="Match: the other places where the selected units switch on together, ranked as LSTMVis ranks them"),
    Binding("t", "threshold", "θ", show=False, tooltip="Set θ for select and match: a unit is on where tanh of its value ≥ θ (0.3)"),
    Binding("ctrl+e", "export", "Export", show=False, tooltip="Export the unit table at t or a quantity over the trace (CSV), or the screen (SVG)"),
]  # fmt: skip

#: The binding of `x`, which the screen puts among its own keys (it is on the footer).
NEXT_INPUT = Binding("x", "next_input(1)", "Next input", tooltip="Next input (a corpus's, or the model's examples; X previous, i lists them)")  # fmt: skip


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
    found: var[tuple[int, int] | None] = var(None, init=False)
    """The steps of the match in view (first, last positions), marked ≈ in the strip."""

    def on_mount(self) -> None:
        """A corpus whose recording was stopped (ctrl+c while it recorded) says how many
        inputs it holds (Textual calls each class's on_mount: this runs beside the screen's)."""
        corpus = self.source.corpus
        said = stopped_note(corpus) if corpus is not None else None
        if said is not None:
            self.note(said, title="Corpus", severity="warning", timeout=10)

    # --- the span
    def _update_markers(self) -> None:
        """The strip's markers: the span's steps ("span") and the match in view's ("found")
        over the search matches and bookmarks (WatchActions): the span is what the user is
        working on now, so it wins where they fall on one step."""
        super()._update_markers()
        ours = {}
        for kind, steps in (("found", self.found), ("span", self.span)):
            if steps is not None:
                a, b = span_steps(steps)
                ours.update((k, kind) for k in range(a, min(b + 1, self.session.T)))
        if ours:
            self.markers = MappingProxyType({**self.markers, **ours})

    def watch_found(self) -> None:
        self._update_markers()

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
            self.found = None
            return
        self.found = None
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
        """A mouse drag over the strip: the span from where it started to the pointer; the
        cursor goes to its end once the button is up."""
        self.span = (event.start, event.end)
        if event.done:
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
            self.note(f"No unit is on over {describe_span((sel.start, sel.stop - 1))} (tanh "
                      f"{sel.quantity} ≥ {sel.threshold:g}): there is nothing to match; t "
                      "lowers θ.", timeout=5)  # fmt: skip
            return
        self._match(self.source, sel)

    @work(thread=True, exclusive=True, group="match", exit_on_error=False)
    def _match(self, source, sel: Selection) -> None:
        """Match in a thread, over the whole corpus when the trace is one of its inputs (a
        corpus of 100,000 steps takes a moment)."""
        places = Places(source)
        try:
            on = self._on_mask_for(places.data, sel)
            # match looks for spans of 2 steps or more (LSTMVis's cut-off); a selection of one
            # step looks for single steps too
            short = {"min_length": 1} if sel.stop - sel.start == 1 else {}
            found = match(places.data, sel, limit=MATCHES + 1, on=on, **short)
        except EngineError as e:
            self.app.call_from_thread(self.note, str(e), title="No match", severity="error",
                                      timeout=6)  # fmt: skip
            return
        own = places.position(sel.start), places.position(sel.stop)
        others = [m for m in found if (m.start, m.stop) != own][:MATCHES]
        lines = [match_line(k, m, len(sel.units), context_text(span_context(
                     places.data, m.start, m.stop, CONTEXT, CONTEXT), CONTEXT_WIDTH), places.where(m))
                 for k, m in enumerate(others, 1)]  # fmt: skip
        self.app.call_from_thread(self._show_matches, places, sel, others, lines)

    def _on_mask_for(self, data, sel: Selection):
        """Where every unit is on over `data` at the selection's settings, kept for the next
        match at the same θ, quantity, layer and direction (thresholding a 100,000-step
        corpus is most of a first match; a second one then only ranks)."""
        key = (data, sel.quantity, sel.layer, sel.direction, sel.threshold, sel.transform)
        kept = getattr(self, "_on_mask", None)
        if kept is not None and kept[0] == key:
            return kept[1]
        on = unit_on_mask(data, sel.quantity, sel.layer, sel.direction, threshold=sel.threshold,
                          transform=sel.transform)  # fmt: skip
        self._on_mask = (key, on)
        return on

    def _show_matches(self, places: Places, sel: Selection, found: list, lines: list[str]) -> None:
        if places.source is not self.source:  # the trace changed meanwhile: the list is stale
            return
        units = " ".join(str(u) for u in sel.units[:SHOW_UNITS])
        one = len(sel.units) == 1
        what = f"unit{'' if one else 's'} {units}{' …' if len(sel.units) > SHOW_UNITS else ''}"
        if not found:
            verb = "switches on" if one else "switch on together"
            self.note(f"No other place where {what} {verb} (tanh {sel.quantity} ≥ "
                      f"{sel.threshold:g}, off on the step before).", title="Match", timeout=6)  # fmt: skip
            return

        def done(k: int | None) -> None:
            if k is not None:
                self._go_to_match(places, sel, found[k], k + 1)

        best = "the best " if len(found) == MATCHES else ""
        who = what.capitalize() if len(sel.units) <= SHOW_IN_TITLE else f"{len(sel.units)} units"
        title = f"{who} on{'' if one else ' together'}: {best}{places.count(len(found))}"
        hint = (f"On: tanh {sel.quantity} ≥ {sel.threshold:g} over the span, below it on the step "
                "read before. Best first: most selected units on, fewest others, longest.")
        self.app.push_screen(MatchDialog(title, lines, hint), done)

    def _go_to_match(self, places: Places, sel: Selection, m, rank: int) -> None:
        """Show match `m`: its input (in a corpus) at its first step, its steps marked ≈ in
        the strip, and the selection's units still marked in the table."""
        k, start = places.local(m.start)
        if places.corpus is not None and k != self.source.input:
            self._install(self.source.with_input(k), f"Input {k + 1} of {len(places.corpus)}.")
        self.span = None
        self._goto(start)
        self.unit = m.on[0]  # a selected unit that is on here, in the cell view
        self.found = (start, start + m.length - 1)
        self.selection, self.marked = sel, frozenset(sel.units)
        self.marked_note = f"◆ {len(sel.units)} selected · match {rank} here: " + \
            describe_span(self.found)  # fmt: skip
        self.note(f"Match {rank}: {places.where(m)}, {len(m.on)} of {len(sel.units)} selected "
                  f"units on, {len(m.extra)} other{'s' if len(m.extra) != 1 else ''}.", timeout=4)  # fmt: skip

    # --- inputs
    def _entries(self) -> list[InputEntry]:
        corpus = self.source.corpus
        return corpus_entries(corpus) if corpus is not None else example_entries(self.source)

    def _input_index(self) -> int | None:
        """The input in view, 0-based (None: the user's own, not one of the list)."""
        if self.source.corpus is not None:
            return self.source.input
        example = self.source.example
        return example - 1 if example is not None else None

    def action_inputs(self) -> None:
        entries = self._entries()
        if not entries:
            self.note(self.input_reason() or "There are no other inputs.", timeout=4)
            return

        def done(k: int | None) -> None:
            if k is not None and k != self._input_index():
                self._open_input(k)

        corpus = self.source.corpus
        what = "Inputs of the corpus" if corpus is not None else f"Examples of {self.source.name}"
        self.app.push_screen(InputsDialog(entries, self._input_index(), what), done)

    def input_reason(self) -> str | None:
        """Why `x` has no other input to go to, or None when it has."""
        corpus = self.source.corpus
        if corpus is None:
            return self.source.example_reason
        if len(corpus) == 1 and self.source.input == 0:
            return "The corpus holds one input, and it is open."
        return None

    def action_next_input(self, step: int) -> None:
        reason = self.input_reason()
        if reason is not None:
            self.note(reason, title="No other input", severity="warning", timeout=4)
            return
        n = len(self._entries()) if self.source.corpus is None else len(self.source.corpus)
        k = self._input_index()
        k = (k + step) % n if k is not None else (0 if step > 0 else n - 1)
        self._open_input(k)

    def _open_input(self, k: int) -> None:
        """Open input k (0-based): a corpus's at once (a view of its rows), an example by
        re-running the model in a worker."""
        corpus = self.source.corpus
        if corpus is None:
            self._open_example(k + 1)
            return
        new = self.source.with_input(k)
        self._install(new, f"Input {k + 1} of {len(corpus)}: {new.trace.T} steps.")

    # --- export
    def _export_choices(self) -> list[tuple[str, str, str, str]]:
        """What ctrl+e offers, each with the file name it is offered under: the table at t,
        each quantity over the trace in view (and over the whole corpus, for the heatmap's
        quantity), the screen."""
        src, tr = self.source, self.source.trace
        where = f"L{self.lstm_layer + 1}" + ("_rev" if tr.reads_reversed(self.direction) else "")
        if src.corpus is not None and src.input is not None:
            where = f"input{src.input + 1}_{where}"
        choices = [("table", "", f"The unit table at step {self.t + 1} (CSV, a row a unit)",
                    export_name(src.name, f"{where}_step{self.t + 1}", ".csv"))]  # fmt: skip
        for q in QUANTITIES:
            label = column_label(q, tr.reads_reversed(self.direction), src.projected)
            choices.append(("quantity", q, f"{label} over the whole sequence (CSV, a row a step)",
                            export_name(src.name, f"{where}_{q}", ".csv")))  # fmt: skip
        if src.corpus is not None:
            choices.append(("corpus", self.heat, f"{self.heat} over every input of the corpus "
                            f"({len(src.corpus)}; CSV, a row a step)",
                            export_name(src.name, f"corpus_L{self.lstm_layer + 1}_{self.heat}",
                                        ".csv")))  # fmt: skip
        choices.append(("screenshot", "", "The screen as SVG (a screenshot)",
                        screenshot_name(self.app.title or "lstm-tui", datetime.now())))  # fmt: skip
        return choices

    def action_export(self) -> None:
        def done(answer: tuple[str, str, str] | None) -> None:
            if answer is None:
                return
            kind, quantity, path = answer
            if kind == "screenshot":  # once the dialog is gone: the screen, not the dialog
                self.call_after_refresh(self.app.save_screenshot, path)
                return
            data = self.source.corpus if kind == "corpus" else self.source.trace
            at = {"t": self.t} if kind == "table" else {"quantity": quantity}
            self._export(data, path, at)

        self.app.push_screen(ExportDialog(self._export_choices()), done)

    @work(thread=True, exclusive=True, group="export", exit_on_error=False)
    def _export(self, data, path: str, at: dict) -> None:
        """Write the CSV in a thread (a corpus's quantity is T rows of H numbers) through the
        engine's exclusive writer: an existing file is refused, never replaced."""
        try:
            written = export_csv(data, path, layer=self.lstm_layer, direction=self.direction, **at)
        except (EngineError, OSError) as e:
            self.app.call_from_thread(self.note, str(e), title="Not exported", severity="error",
                                      timeout=8)  # fmt: skip
            return
        self.app.call_from_thread(self.note, f"Exported to {written.resolve()}", title="Export",
                                  timeout=6)  # fmt: skip
