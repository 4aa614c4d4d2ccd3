"""The debugger's "when?" keys: watches, continue and reverse-continue, search, quick jumps, marks.

`WatchActions` is mixed into DebuggerScreen, which owns the state it adds:
the watches (expression, on) and the bookmarks (positions) as reactives the
TraceView is bound to, and the search matches behind the strip's markers.
Every stop is found from the engine's own masks (lstm_tui.watching), so it
is where Session.where says; the cursor then moves through the Session like
any other move, and the note says which expression stopped it.

Quick jumps, for the selected unit in the layer and direction in view, each
an expression the note quotes:

* `}` / `{`  next / previous step where |Δc| is at least half the unit's
  largest (`abs(delta[u]) >= τ`): each big write, and every peak of a run;
* `"`        the unit's largest |Δc| (`abs(delta[u]) >= max`, exactly);
* `F` / ctrl+f  next / previous step where the forget gate closes (`f[u] < 0.1`);
* `>` / `<`  next / previous step where the prediction changes (`pred != pred_prev`);
* `!`        the first non-finite value the recording met (meta["first_nonfinite"]).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import numpy as np
from textual import work
from textual.binding import Binding
from textual.reactive import var

from lstm_engine import EngineError, TargetExistsError, WatchError

from ..layout import WATCHES
from ..text import safe_line
from ..watching import (
    MAX_MARKS, MAX_WATCHES, compiled, find_tokens, first_nonfinite, forget_closed, large_delta,
    largest_delta, next_match, next_stop, prediction_changes, read_saved, toggled, with_saved,
)  # fmt: skip
from ..widgets.watch_panel import WatchPanel
from .watch_dialogs import MarksDialog, SaveDialog, SearchDialog, WatchDialog

#: The keys, in footer priority order after the debugger's own (most stay off the footer).
KEYS = [
    Binding("w", "add_watch", "Watch", tooltip='Add a watch expression (f[3] < 0.1, token == "France", pred != pred_prev)'),
    Binding("c", "continue(1)", "Cont", tooltip="Continue: run forward to the next step where a watch that is on holds"),
    Binding("slash", "search", "Find", key_display="/", tooltip='Find a token (a substring, or "exact"); matches are marked › in the strip'),
    Binding("C", "continue(-1)", "Rev", show=False, tooltip="Reverse-continue: run back to the previous step where a watch that is on holds"),
    Binding("W", "watch_panel", "Watches", show=False, tooltip="Select in the watch panel: ↑/↓ pick, space turns on/off, Delete removes, Esc leaves"),
    Binding("n", "search_next(1)", "Next match", show=False, tooltip="Next token match (after /)"),
    Binding("N", "search_next(-1)", "Prev match", show=False, tooltip="Previous token match"),
    Binding("m", "mark", "Mark", show=False, tooltip="Bookmark the step in view, or remove its bookmark (• in the strip)"),
    Binding("apostrophe", "marks", "Marks", key_display="'", show=False, tooltip="List the bookmarks and go to one"),
    Binding("right_curly_bracket", "jump('delta', 1)", "Big Δc", key_display="}", show=False, tooltip="Next step where the unit's |Δc| is at least half its largest ({ previous)"),
    Binding("left_curly_bracket", "jump('delta', -1)", "Big Δc←", key_display="{", show=False, tooltip="Previous step where the unit's |Δc| is at least half its largest"),
    Binding("quotation_mark", "jump_largest", "Max Δc", key_display='"', show=False, tooltip="The step of the unit's largest |Δc|"),
    Binding("F", "jump('forget', 1)", "f closes", show=False, tooltip="Next step where the unit's forget gate falls below 0.1 (ctrl+f previous)"),
    Binding("ctrl+f", "jump('forget', -1)", "f closes←", show=False, tooltip="Previous step where the unit's forget gate falls below 0.1"),
    Binding("greater_than_sign", "jump('pred', 1)", "Pred >", key_display=">", show=False, tooltip="Next step where the prediction changes (< previous)"),
    Binding("less_than_sign", "jump('pred', -1)", "Pred <", key_display="<", show=False, tooltip="Previous step where the prediction changes"),
    Binding("exclamation_mark", "first_nonfinite", "NaN", key_display="!", show=False, tooltip="The first NaN or Inf the recording met"),
    Binding("ctrl+s", "save", "Save", show=False, tooltip="Save the trace with its bookmarks and watches (.npz)"),
]  # fmt: skip


class WatchActions:
    """Watches, search, quick jumps and bookmarks for DebuggerScreen (see the module docstring)."""

    watches: var[tuple[tuple[str, bool], ...]] = var((), init=False)
    """(expression, on) for each watch, in the order added."""
    marks: var[tuple[int, ...]] = var((), init=False)
    """The bookmarked positions, sorted."""
    markers: var[Mapping[int, str]] = var(MappingProxyType({}), init=False)
    """Position → the strip's marker kind: bookmarks ("mark") over search matches ("match")."""
    search_query: var[str] = var("", init=False)
    """The last token search (`/`), as typed."""
    stop_label: var[str] = var("", init=False)
    """What stopped the last continue, shown in the header until the cursor moves: a line in
    the header costs a repaint of one line, where a toast costs mounting a widget over the
    screen (it took c from the cost of a step to 1.7 times it)."""

    def _init_watching(self) -> None:
        """Read the bookmarks and watches a trace file carries (validated: it is the file's)."""
        self._matches = np.zeros(0, dtype=np.int64)
        self._dropped = 0
        self._read_saved(self.source.trace)

    def _read_saved(self, trace) -> None:
        marks, watches, self._dropped = read_saved(trace, self.lstm_layer, self.direction,
                                                   self.source.output_kind)  # fmt: skip
        self.set_reactive(type(self).marks, marks)
        self.set_reactive(type(self).watches, tuple((w, True) for w in watches))
        self._update_markers()

    def _say_dropped(self) -> None:
        if self._dropped:
            n = self._dropped
            self.note(f"{n} saved bookmark or watch entr{'ies' if n > 1 else 'y'} in this trace "
                      "could not be used and were dropped.", title="Trace meta",
                      severity="warning", timeout=8)  # fmt: skip

    def _watching_source(self, source) -> None:
        """A new trace: its own saved marks and watches if it has any, else keep the watches
        (they are about the model) and the marks that still fall inside it; search again."""
        if source.trace.meta.get("marks") or source.trace.meta.get("watches"):
            self._read_saved(source.trace)
            self._say_dropped()
        else:
            self.marks = tuple(k for k in self.marks if k < source.trace.T)
        try:
            query = self.search_query
            self._matches = find_tokens(source.trace.tokens, query) if query else self._matches[:0]
        except EngineError:
            self._matches = self._matches[:0]
        self._update_markers()

    def _update_markers(self) -> None:
        markers = {int(k): "match" for k in self._matches}
        markers.update((k, "mark") for k in self.marks)
        self.markers = MappingProxyType(markers)

    def watch_marks(self) -> None:
        self._update_markers()

    def _where(self) -> str:
        tr = self.source.trace
        where = f"layer {self.lstm_layer + 1}"
        if tr.num_directions == 2:
            where += ", reverse" if tr.reads_reversed(self.direction) else ", forward"
        return where

    # --- watches
    def action_add_watch(self) -> None:
        if len(self.watches) >= MAX_WATCHES:
            self.note(f"There are {MAX_WATCHES} watches already: remove one first (W, Delete).",
                      severity="warning", timeout=4)  # fmt: skip
            return

        def done(text: str | None) -> None:
            if text is None:
                return
            kept = [(w, on) for w, on in self.watches if w != text]
            self.watches = (*kept, (text, True))
            self.note(f"Watching {text}: c continues to where it holds, C back", timeout=3)
            self.call_after_refresh(self._show_watch_panel)

        self.app.push_screen(WatchDialog(self.source.trace, self.lstm_layer, self.direction,
                                         self._where(), self.source.output_kind), done)  # fmt: skip

    def _show_watch_panel(self) -> None:
        """Where the watch panel does not fit beside the plots, show it in their place."""
        applied = self.view.applied
        if applied is not None and not applied.show_watches and self.watches:
            self.panel = WATCHES

    def action_watch_panel(self) -> None:
        if not self.watches:
            self.note("There are no watches: w adds one.", timeout=3)
            return
        self._show_watch_panel()
        self.call_after_refresh(self.query_one(WatchPanel).take_focus)

    # handlers by name: @on() registers only in a Textual class's own body, not in a mixin
    def on_watch_panel_toggled(self, event: WatchPanel.Toggled) -> None:
        watches = list(self.watches)
        if 0 <= event.index < len(watches):
            text, on_ = watches[event.index]
            watches[event.index] = (text, not on_)
            self.watches = tuple(watches)
            self.note(f"{text}: {'on' if not on_ else 'off'}", timeout=2)

    def on_watch_panel_removed(self, event: WatchPanel.Removed) -> None:
        if 0 <= event.index < len(self.watches):
            text = self.watches[event.index][0]
            self.watches = tuple(w for k, w in enumerate(self.watches) if k != event.index)
            self.note(f"Removed the watch {text}", timeout=2)
            if not self.watches:
                self.set_focus(None)
                if self.panel == WATCHES:
                    self.panel = "cell"

    def action_continue(self, step: int) -> None:
        texts = [text for text, on_ in self.watches if on_]
        if not texts:
            what = "w adds one" if not self.watches else "W, then space, turns one on"
            self.note(f"No watch is on to continue to: {what}.", timeout=3)
            return
        self._hold_gc()
        try:
            stop = next_stop(self.source.trace, texts, self.t, self.lstm_layer, self.direction,
                            reverse=step < 0, output_kind=self.source.output_kind)  # fmt: skip
        except WatchError as e:
            self.note(str(e), title="A watch cannot be evaluated here", severity="error")
            return
        if stop is None:
            later = "earlier" if step < 0 else "later"
            self.app.bell()
            self.note(f"No {later} step where {' or '.join(texts)} holds.", timeout=4)
            return
        self._goto(stop.t)
        self.stop_label = f"{'◀' if step < 0 else '▶'} stopped: {' and '.join(stop.texts)}"

    # --- search
    def action_search(self) -> None:
        tokens = self.source.trace.tokens
        if tokens is None:
            self.note("This input is numeric: it has no tokens to search.", timeout=3)
            return

        def done(query: str | None) -> None:
            if query is None:
                return
            self.search_query = query
            self._matches = find_tokens(tokens, query)
            self._update_markers()
            n = len(self._matches)
            self.note(f"{n} match{'es' if n != 1 else ''} of {query} (n: next, N: previous)",
                      timeout=3)  # fmt: skip
            self.action_search_next(1)

        self.app.push_screen(SearchDialog(tokens, self.search_query), done)

    def action_search_next(self, step: int) -> None:
        if not self.search_query:
            self.note("Nothing searched yet: / finds a token.", timeout=3)
            return
        found = next_match(self._matches, self.t, step)
        if found is None:
            self.note(f"No token matches {self.search_query}.", timeout=3)
            return
        pos, wrapped = found
        self._goto(pos)
        if wrapped:
            end = "first" if step > 0 else "last"
            self.note(f"Wrapped to the {end} match of {self.search_query}.", timeout=2)

    # --- quick jumps: each an expression, found like a watch
    def action_jump(self, kind: str, step: int) -> None:
        tr, unit = self.source.trace, self.unit
        if kind == "delta":
            got = large_delta(tr, self.lstm_layer, self.direction, unit)
        elif kind == "forget":
            got = forget_closed(unit)
        else:
            got = prediction_changes(tr)
        if isinstance(got, str):
            self.note(got.capitalize() + ".", timeout=3)
            return
        expr, what = got
        self._hold_gc()
        stop = next_stop(tr, [expr], self.t, self.lstm_layer, self.direction, reverse=step < 0,
                        output_kind=self.source.output_kind)  # fmt: skip
        if stop is None:
            self.app.bell()
            self.note(f"No {'earlier' if step < 0 else 'later'} step where {expr} holds.",
                      title=what, timeout=4)  # fmt: skip
            return
        self._goto(stop.t)
        self.note(f"Step {stop.t + 1}: {expr}", title=what, timeout=4)

    def action_jump_largest(self) -> None:
        got = largest_delta(self.source.trace, self.lstm_layer, self.direction, self.unit)
        if isinstance(got, str):
            self.note(got.capitalize() + ".", timeout=3)
            return
        expr, what = got
        watch = compiled(self.source.trace, expr, self.lstm_layer, self.direction,
                         self.source.output_kind)  # fmt: skip
        hits = np.flatnonzero(watch.mask)
        later = hits[hits > self.t]
        pos = int(later[0] if len(later) else hits[0])
        self._goto(pos)
        self.note(f"Step {pos + 1}: {expr}", title=what, timeout=4)

    def action_first_nonfinite(self) -> None:
        got = first_nonfinite(self.source.trace)
        if isinstance(got, str):
            self.note(got[:1].upper() + got[1:] + ".", timeout=4)
            return
        expr, what, pos, layer, direction = got
        watch = compiled(self.source.trace, expr, layer, direction, self.source.output_kind)
        if isinstance(watch, WatchError) or not watch.mask[pos]:
            self.note("The trace's record of its first non-finite value does not match it.",
                      severity="warning", timeout=4)  # fmt: skip
            return
        self.lstm_layer, self.direction = layer, direction
        self._goto(pos)
        self.note(f"Step {pos + 1}: {expr}", title=what, timeout=6)

    # --- bookmarks
    def action_mark(self) -> None:
        if self.t not in self.marks and len(self.marks) >= MAX_MARKS:
            self.note(f"There are {MAX_MARKS} bookmarks already.", severity="warning", timeout=3)
            return
        was = self.t in self.marks
        self.marks = toggled(self.marks, self.t)
        n = len(self.marks)
        self.note(f"{'Unmarked' if was else 'Marked'} step {self.t + 1} "
                  f"({n} bookmark{'s' if n != 1 else ''}; ' lists them)", timeout=2)  # fmt: skip

    def action_marks(self) -> None:
        if not self.marks:
            self.note("No bookmarks yet: m marks the step in view.", timeout=3)
            return

        def done(pos: int | None) -> None:
            if pos is not None:
                self._goto(pos)

        self.app.push_screen(MarksDialog(self.marks, self.source.trace.tokens, self.t), done)

    # --- saving
    def action_save(self) -> None:
        n_marks, n_watches = len(self.marks), len(self.watches)
        what = (f"{n_marks} bookmark{'s' if n_marks != 1 else ''} and "
                f"{n_watches} watch{'es' if n_watches != 1 else ''}")  # fmt: skip
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in self.source.name)[:60]

        def done(answer: tuple[str, bool] | None) -> None:
            if answer is not None:
                path, overwrite = answer
                trace = with_saved(self.source.trace, self.marks, [w for w, _ in self.watches])
                trace = self.with_unit_names(trace)  # ExplainActions: the unit names too
                self._save(trace, path, overwrite, what)

        self.app.push_screen(SaveDialog(f"{stem or 'trace'}.npz", what), done)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def _save(self, trace, path: str, overwrite: bool, what: str) -> None:
        """Write in a thread (a big trace takes seconds to compress); the engine's write is
        exclusive and atomic, and refuses an existing file unless the user confirmed."""
        try:
            saved = trace.save(path, overwrite=overwrite, exists_hint="save again to replace it")
        except TargetExistsError as e:
            self.app.call_from_thread(self.note, str(e), title="Not saved", severity="error",
                                      timeout=8)  # fmt: skip
            return
        except (EngineError, OSError) as e:
            self.app.call_from_thread(self.note, str(e), title="Not saved", severity="error",
                                      timeout=8)  # fmt: skip
            return
        self.app.call_from_thread(self.note, f"Saved {safe_line(Path(saved), 200)} with {what}.",
                                  timeout=4)  # fmt: skip
