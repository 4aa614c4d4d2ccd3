"""DebuggerScreen: the cursor over a trace, and the TraceView that shows it.

The screen owns the state: the Session (only the screen moves it, and only
the screen talks to the engine) and the cursor reactives t, lstm_layer,
direction, unit, sort, panel, heatmap quantity and overview, all ints, bools
and strings; WatchActions (screens/watch_actions.py) adds the watches,
bookmarks and token search, and the keys that ask "when?". The TraceView
below gets them through data_bind and passes them on to its panels; clicks
come back as messages. Stepping changes a few ints;
each panel redraws from cached per-step data, which is what keeps a held
arrow key smooth.

The footer lists only keys that do something for this model, as many as fit
(`layout.footer_fit`). It is driven by Textual's public `check_action`: a
footer entry it refuses is hidden, and each such key has a hidden twin binding
(`run(...)`) that still runs the action, so an idle key explains itself.
"""

from __future__ import annotations

import gc
import inspect
import time
from collections.abc import Mapping

import numpy as np
from textual import on, work
from textual.actions import parse as parse_action
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Static
from rich.text import Text

from lstm_engine import EngineError, Session

from .. import layout
from ..source import Source
from ..stepdata import HEATMAP_QUANTITIES, SORTS, StepColumns, sort_label
from ..text import safe_line
from ..views.compare_view import CompareView
from ..whatif import Comparison
from ..views.trace_view import TraceView
from ..widgets.edit_list import EditList
from ..widgets.heatmap_view import HeatmapView
from ..widgets.sequence_strip import SequenceStrip
from ..widgets.status_header import StatusHeader
from ..widgets.unit_table import UnitTable
from .corpus_actions import KEYS as CORPUS_KEYS
from .corpus_actions import NEXT_INPUT, CorpusActions
from .dialogs import EditInputDialog, GoToStepDialog
from .explain_actions import KEYS as EXPLAIN_KEYS
from .explain_actions import ExplainActions
from .help import HelpScreen
from .watch_actions import KEYS as WATCH_KEYS
from .watch_actions import WatchActions
from .whatif_keys import WHATIF_KEYS, WhatIfActions

#: What `p` cycles through when the plots do not fit beside the cell view.
PANELS = layout.PANELS

# Footer order is priority order: at 80 columns the last ones fall off the footer
# (they stay in the help screen and the command palette, with their tooltips).
KEYS = [
    Binding("right,l", "step(1)", "Step", key_display="→/l", tooltip="Step forward one token"),
    Binding("left,h", "step(-1)", "Back", key_display="←/h", tooltip="Step back one token"),
    Binding("question_mark", "help", "Help", key_display="?", tooltip="Keys and how to read the screen"),
    Binding("q", "app.quit", "Quit", tooltip="Quit lstm-tui"),
    Binding("s", "sort(1)", "Sort", tooltip="Cycle the unit table's sort column (|Δc| first)"),
    Binding("g", "goto", "Go to", tooltip="Go to a step by number"),
    Binding("e", "edit", "Edit", tooltip="Edit the input text and re-run the model"),
    Binding("p", "panel", "Panels", tooltip="Small terminals: show the cell view, the unit's history or the heatmap"),
    Binding("d", "direction", "Dir", tooltip="Switch direction (bidirectional LSTMs)"),
    Binding("right_square_bracket", "layer(1)", "Layer", key_display="[ ]", tooltip="Next layer (] forward, [ back; they stop at the ends)"),
    Binding("left_square_bracket", "layer(-1)", "Layer−", key_display="[", show=False, tooltip="Previous layer"),
    Binding("v", "heatmap(1)", "Heatmap", tooltip="Cycle the heatmap quantity: c, h, f, i, o, Δc"),
    Binding("u", "goto_unit", "Unit", tooltip="Go to a unit by number or name"),
    Binding("z", "overview", "Zoom", show=False, tooltip="History and heatmap: a window around the cursor, or the whole sequence"),
    Binding("J", "heatmap_scroll(1)", "Heatmap ↓", show=False, tooltip="Scroll the heatmap's units down half a panel (the mouse wheel too)"),
    Binding("K", "heatmap_scroll(-1)", "Heatmap ↑", show=False, tooltip="Scroll the heatmap's units up half a panel"),
    NEXT_INPUT,
    Binding("home", "first", "First", show=False, tooltip="First step"),
    Binding("end", "last", "Last", show=False, tooltip="Last step"),
    Binding("down,j", "unit(1)", "Unit ↓", show=False, tooltip="Select the next unit in the table"),
    Binding("up,k", "unit(-1)", "Unit ↑", show=False, tooltip="Select the previous unit in the table"),
    Binding("pagedown", "unit_page(1)", "Page ↓", show=False, tooltip="Select a unit one page down"),
    Binding("pageup", "unit_page(-1)", "Page ↑", show=False, tooltip="Select a unit one page up"),
    Binding("S", "reverse_sort", "Reverse", show=False, tooltip="Reverse the sort order (ascending lists f ≈ 0 first)"),
    *WATCH_KEYS,
    *EXPLAIN_KEYS,
    *WHATIF_KEYS,
    *CORPUS_KEYS,
]  # fmt: skip


#: How much of a notification's message is shown (it may quote a file or the user's text).
NOTE_LIMIT = 400


def always(action: str) -> str:
    """The action of a key's hidden twin: runs `action` even while its footer entry is hidden."""
    return f"run({action!r})"


def _action_key(action: str) -> tuple[str, tuple]:
    _, name, params = parse_action(action)
    return name, tuple(params)


class DebuggerScreen(CorpusActions, ExplainActions, WatchActions, WhatIfActions, Screen):
    """Step through one trace: header, sequence strip, unit table, cell, history, heatmap."""

    #: How often the whole-sequence panels (history, heatmap) follow a held arrow key;
    #: 0 makes them follow every step (the tests do that, so nothing depends on timing).
    CONTEXT_HZ: float = 10

    KEYS = KEYS
    """The keys, in footer priority order (what the help screen and the palette list)."""
    BINDINGS = [*KEYS, *[Binding(b.key, always(b.action), show=False) for b in KEYS if b.show]]

    # `var`, not `reactive`: a change repaints only the widgets bound to it, never the
    # whole screen (a full-screen repaint per step would double the cost of a step).
    source: var[Source | None] = var(None, init=False)
    """The trace in view and the model that made it (replaced by an edit-and-re-run)."""
    t: var[int] = var(0, init=False)
    """The cursor: sequence position, 0-based."""
    lstm_layer: var[int] = var(0, init=False)
    """The LSTM layer in view (not `layer`: that is Textual's compositing layer)."""
    direction: var[int] = var(0, init=False)
    """The direction index; which way it reads is the trace's (`Trace.reads_reversed`)."""
    unit: var[int] = var(0, init=False)
    """The selected unit (index in the layer, independent of the sort)."""
    sort: var[str] = var("unit", init=False)
    """The unit table's sort column, one of stepdata.SORTS."""
    descending: var[bool] = var(True, init=False)
    """The sort order: largest first (True) or smallest first (`S`)."""
    panel: var[str] = var("cell", init=False)
    """What the lower/side area shows when the plots do not fit: one of PANELS."""
    overview: var[bool] = var(False, init=False)
    """History and heatmap show the whole sequence (True) or a window around the cursor."""
    heat: var[str] = var("c", init=False)
    """The heatmap quantity, one of stepdata.HEATMAP_QUANTITIES."""
    context_t: var[int] = var(0, init=False)
    """t as the history and heatmap show it: at most CONTEXT_HZ updates a second while
    stepping, and always the final t once stepping pauses (see _follow_context)."""

    def __init__(self, source: Source, compare: Comparison | None = None) -> None:
        """`compare`: the comparison of `source` with a second trace to open on (`--compare`,
        `--compare-model`; whatif.compare)."""
        super().__init__()
        self._whatif_init(source)
        self._opening_compare = compare
        self._context_at = 0.0
        self._context_timer = None
        self._gc_timer = None
        self._plots_fit = True
        self._hidden: frozenset[tuple[str, tuple]] = frozenset()
        self.session = Session(source.trace)
        self.set_reactive(DebuggerScreen.source, source)
        self.set_reactive(DebuggerScreen.unit, self._focus_unit(source))
        self._init_watching()
        self._init_explaining()

    # --- layout
    def compose(self) -> ComposeResult:
        S = DebuggerScreen
        yield StatusHeader(id="header").data_bind(S.source, S.t, S.lstm_layer, S.direction,
                                                  S.branch_label, S.stop_label)  # fmt: skip
        yield EditList(id="whatif").data_bind(
            S.comparison, S.against, S.lstm_layer, S.direction, heading=S.whatif_heading,
            quantity=S.heat,
        )  # fmt: skip
        yield Static(id="too-small")
        shared = (S.lstm_layer, S.direction, S.unit, S.sort, S.descending, S.panel, S.overview,
                  S.heat, S.watches, S.comparison, S.difference, S.bar, S.names, S.marked,
                  S.marked_note)  # fmt: skip
        with CompareView(id="views").data_bind(S.paired, S.side):
            # search matches and bookmarks are positions of the trace in view: the first's
            yield TraceView(id="main").data_bind(S.source, S.t, S.context_t, S.markers, *shared)
            yield TraceView(id="other").data_bind(*shared, source=S.other, t=S.other_t,
                                                  context_t=S.other_t)  # fmt: skip
        yield Footer(compact=True)

    @property
    def view(self) -> TraceView:
        """The trace view this screen drives: the first trace's, or in a comparison on a
        narrow terminal the side on screen."""
        views = self.query_one(CompareView).shown()
        return views[0] if views else self.query_one("#main", TraceView)

    @property
    def columns(self) -> StepColumns | None:
        """The unit table's data at the cursor (the view's)."""
        return self.view.columns

    def on_mount(self) -> None:
        self._whatif_bar()
        self._update_footer()
        self._warn(self.source)
        self._say_dropped()
        self._say_names_dropped()
        if self._opening_compare is not None:
            cmp = self._opening_compare
            self.show_comparison(cmp.b, cmp)

    def _warn(self, source: Source) -> None:
        """Say what the model opened with warnings about, once per Source (also in the
        header, on the output panel and in the help screen)."""
        for warning in source.warnings:
            self.note(warning, title="This model opened with a warning",
                      severity="warning", timeout=12)  # fmt: skip

    def note(self, message: str, *, title: str = "", severity: str = "information",
             timeout: float | None = None) -> None:  # fmt: skip
        """A notification whose text may come from a file or the user: one safe line, never
        markup (the only way this screen notifies)."""
        self.notify(safe_line(message, NOTE_LIMIT), title=safe_line(title, 80), severity=severity,
                    timeout=timeout, markup=False)  # fmt: skip

    @staticmethod
    def _focus_unit(source: Source) -> int:
        """The unit to open on: the one the model points at (the france sample's
        country unit, `"focus": {"unit": N}` in the trace's meta), else unit 0."""
        focus = source.trace.meta.get("focus")
        unit = focus.get("unit") if isinstance(focus, Mapping) else None
        ok = isinstance(unit, (int, np.integer)) and not isinstance(unit, bool)
        return int(unit) if ok and 0 <= unit < source.trace.hidden_size else 0

    # --- the footer
    def idle_keys(self) -> set[str]:
        """Keys that do nothing for this model: their footer entries are hidden.

        Idle keys still answer (with a note saying why nothing moved); every
        key stays in the help screen and the command palette.
        """
        tr = self.source.trace
        idle = set()
        if tr.num_layers == 1:
            idle |= {"left_square_bracket", "right_square_bracket"}
        if tr.num_directions == 1:
            idle.add("d")
        if self.source.read_only_reason is not None:
            idle.add("e")
        if self._plots_fit:
            idle.add("p")
        if self.input_reason() is not None:
            idle.add("x")
        return idle | self.whatif_idle_keys()

    def footer_keys(self) -> list[Binding]:
        """The footer's entries: keys that do something, as many as fit whole beside
        the palette key (at 80 columns a footer listing layer keys for a one-layer
        LSTM would cut off the useful ones)."""
        idle = self.idle_keys()
        candidates = [b for b in self.KEYS if b.show and not set(b.key.split(",")) & idle]
        entries = [(b.key_display or b.key, b.description) for b in candidates]
        return candidates[: layout.footer_fit(entries, self.app.size.width)]

    def _update_footer(self) -> None:
        shown = {_action_key(b.action) for b in self.footer_keys()}
        hidden = frozenset(_action_key(b.action) for b in self.KEYS if b.show) - shown
        if hidden != self._hidden:
            self._hidden = hidden
            self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A footer entry the footer has no room or use for is refused, which hides it;
        the key then falls through to its hidden twin (`run`), so it still answers."""
        return (action, tuple(parameters)) not in self._hidden

    async def action_run(self, action: str) -> None:
        """Run a key's action whether or not its footer entry is shown."""
        namespace, name, params = parse_action(action)
        target = self.app if namespace == "app" else self
        result = getattr(target, f"action_{name}")(*params)
        if inspect.isawaitable(result):
            await result

    def _hold_gc(self) -> None:
        """Pause the cyclic garbage collector while keys keep coming, as Textual does
        while scrolling (App.PAUSE_GC_ON_SCROLL): a full collection costs 30–60 ms,
        which a held arrow key would feel as a stutter. It resumes 0.5 s after the
        last step."""
        if self._gc_timer is None:
            gc.disable()
        else:
            self._gc_timer.stop()
        self._gc_timer = self.set_timer(0.5, self._release_gc)

    def _release_gc(self) -> None:
        self._gc_timer = None
        gc.enable()

    def on_unmount(self) -> None:
        if self._gc_timer is not None:
            self._gc_timer.stop()
            self._release_gc()

    def on_screen_resume(self) -> None:
        """Apply the size now: a screen switched in after a resize never got one."""
        self.on_resize()

    def on_resize(self) -> None:
        w, h = self.app.size
        small = layout.too_small(w, h)
        self.set_class(small, "-too-small")
        if small:
            message = self.query_one("#too-small", Static)
            message.update(Text(layout.too_small_message(w, h)))
            # the padding only where there is room for it: at 20×5 it would eat the message
            message.styles.padding = (2, 4) if h >= 12 and w >= 40 else (0, 0)
        self.side_label()
        self._update_footer()

    def plots_fit(self) -> bool:
        """Do the history and heatmap fit below the table and cell view as they are?"""
        return self._plots_fit

    @on(TraceView.LayoutChanged)
    def _layout_changed(self, event: TraceView.LayoutChanged) -> None:
        self._plots_fit = event.layout.plots_fit
        self._update_footer()

    # --- state changes
    def watch_t(self) -> None:
        self.stop_label = ""  # a continue sets it again after its move
        self._follow_context()
        self._follow_other()

    def _follow_context(self) -> None:
        """Move the history and heatmap cursors now, or at the next 1/CONTEXT_HZ tick.

        The step's own numbers (header, strip, table, cell, output) change on
        every key; the whole-sequence panels cost as much to redraw as all of
        those together, so while a key is held they are redrawn ten times a
        second, and always once more with the final t.
        """
        if not self.CONTEXT_HZ:
            self.context_t = self.t
            return
        now = time.monotonic()
        wait = self._context_at + 1 / self.CONTEXT_HZ - now
        if wait <= 0:
            self._context_at = now
            self.context_t = self.t
        elif self._context_timer is None:
            self._context_timer = self.set_timer(wait, self._context_tick)

    def _context_tick(self) -> None:
        self._context_timer = None
        self._context_at = time.monotonic()
        self.context_t = self.t

    def watch_sort(self) -> None:
        self._resorted()

    def watch_descending(self) -> None:
        self._resorted()

    def _resorted(self) -> None:
        """A new ranking: select its top unit."""
        cols = self.view.columns_at(self.sort, self.descending)
        if cols is not None:
            self.unit = int(cols.order[0])

    def watch_source(self, source: Source) -> None:
        self._update_footer()
        self._watching_source(source)
        self._explaining_source(source)
        self._span_source(source)

    def _goto(self, t: int) -> None:
        self.session.goto(t)
        self.t = self.session.t

    # --- actions
    def action_step(self, n: int) -> None:
        self._hold_gc()
        if self.session.step(n):
            self.t = self.session.t
        else:
            self.app.bell()

    def action_first(self) -> None:
        self.session.first()
        self.t = self.session.t

    def action_last(self) -> None:
        self.session.last()
        self.t = self.session.t

    def action_unit(self, n: int) -> None:
        self._hold_gc()
        cols = self.view.columns
        row = min(max(cols.row_of(self.unit) + n, 0), cols.H - 1)
        self.unit = int(cols.order[row])

    def action_unit_page(self, n: int) -> None:
        self.action_unit(n * self.view.page_rows())

    def action_layer(self, n: int) -> None:
        L = self.source.trace.num_layers
        if L == 1:
            self.note("This LSTM has a single layer.", timeout=2)
            return
        layer = self.lstm_layer + n
        if not 0 <= layer < L:
            end = "first" if layer < 0 else "last"
            self.note(f"Layer {self.lstm_layer + 1} is the {end} of {L}.", timeout=2)
            return
        self.lstm_layer = layer

    def action_direction(self) -> None:
        if self.source.trace.num_directions == 1:
            self.note("This LSTM is unidirectional: there is no reverse direction.", timeout=2)
            return
        self.direction = 1 - self.direction

    def action_sort(self, n: int) -> None:
        self.sort = SORTS[(SORTS.index(self.sort) + n) % len(SORTS)]

    def action_reverse_sort(self) -> None:
        self.descending = not self.descending
        reverse = self.source.trace.reads_reversed(self.direction)
        self.note(f"Sorted by {sort_label(self.sort, reverse, self.descending)}", timeout=2)

    def action_heatmap(self, n: int) -> None:
        quantities = HEATMAP_QUANTITIES
        self.heat = quantities[(quantities.index(self.heat) + n) % len(quantities)]
        if not self._plots_fit and self.panel != "heatmap":
            self.panel = "heatmap"
        # the heatmap's title names the quantity: a toast per `v` would stack over the map

    def action_heatmap_scroll(self, n: int) -> None:
        """J/K: the heatmap's rows, half a panel at a time (the selected unit stays)."""
        heatmap = self.view.query_one(HeatmapView)
        if not heatmap.display or not heatmap.parent.display:
            self.note("The heatmap is not on screen (p shows it)", timeout=2)
            return
        heatmap.scroll_units(n * heatmap.page())

    def action_overview(self) -> None:
        self.overview = not self.overview
        what = "the whole sequence" if self.overview else "a window around the cursor"
        self.note(f"History and heatmap show {what} (z: toggle)", timeout=2)

    def action_panel(self) -> None:
        if self._plots_fit:
            self.note("The cell view, history and heatmap are all on screen.", timeout=2)
            return
        panels = (*PANELS, layout.WATCHES) if self.watches else PANELS
        self.panel = panels[(panels.index(self.panel) + 1) % len(panels)]
        names = {"cell": "cell view and output", "history": "unit history", "heatmap": "heatmap",
                 layout.WATCHES: "watches"}  # fmt: skip
        self.note(f"Showing the {names[self.panel]} (p: next)", timeout=2)

    @work(thread=True, exclusive=True, group="retrace", exit_on_error=False)
    def _open_example(self, n: int) -> None:
        new = self._run_model(lambda: self.source.with_example(n), "Example failed")
        if new is not None:
            self.app.call_from_thread(self._install, new, f"Example {n}: {new.trace.T} steps.")

    def _run_model(self, run, failed: str) -> Source | None:
        """Run the model in this worker thread; any failure is a notification, never the
        end of the app (the trace in view stays as it was)."""
        try:
            return run()
        except EngineError as e:
            message = str(e)
        except MemoryError:
            message = "There is not enough memory for this trace: try a shorter input."
        except Exception as e:  # noqa: BLE001 - a bug in a re-run must not take the app down
            message = f"internal error: {type(e).__name__}: {e}"
        self.app.call_from_thread(self.note, message, title=failed, severity="error", timeout=10)
        return None

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.KEYS, self.source))

    def action_goto(self) -> None:
        def done(t: int | None) -> None:
            if t is not None:
                self._goto(t)

        self.app.push_screen(GoToStepDialog(self.session.T, self.t), done)

    def action_edit(self) -> None:
        reason = self.source.read_only_reason
        if reason is not None:
            self.note(reason, title="Cannot edit the input", severity="warning", timeout=6)
            return

        def done(text: str | None) -> None:
            if text is not None:
                self._retrace(text)

        self.app.push_screen(EditInputDialog(self.source), done)

    @work(thread=True, exclusive=True, group="retrace", exit_on_error=False)
    def _retrace(self, text: str) -> None:
        """Trace the edited text in a thread: a large model must not freeze the screen."""
        new = self._run_model(lambda: self.source.retrace(text), "Re-run failed")
        if new is not None:
            self.app.call_from_thread(self._install, new)

    def _install(self, source: Source, message: str | None = None) -> None:
        """Show a new trace, keeping the cursor where it can stay."""
        tr = source.trace
        self.session = Session(tr, min(self.t, tr.T - 1))
        self.lstm_layer = min(self.lstm_layer, tr.num_layers - 1)
        self.direction = min(self.direction, tr.num_directions - 1)
        self.unit = min(self.unit, tr.hidden_size - 1)
        self.t = self.session.t
        self.context_t = self.t
        warned = self.source.warnings
        if self.paired:
            self._end_comparison()
        self._whatif_init(source)  # a new input is a new recording: its own branches
        self.source = source
        self._show_history()
        self.note(message or f"Re-ran on {tr.T} tokens.", timeout=2)
        if source.warnings != warned:
            self._warn(source)

    # --- messages from the widgets
    @on(SequenceStrip.StepClicked)
    def _strip_clicked(self, event: SequenceStrip.StepClicked) -> None:
        self._goto(event.t)

    @on(UnitTable.UnitClicked)
    def _unit_clicked(self, event: UnitTable.UnitClicked) -> None:
        self.unit = event.unit

    @on(UnitTable.SortClicked)
    def _sort_clicked(self, event: UnitTable.SortClicked) -> None:
        if event.column == self.sort:  # a second click on the sorted column flips it
            self.descending = not self.descending
        else:
            self.sort = event.column

    @on(HeatmapView.CellClicked)
    def _heat_clicked(self, event: HeatmapView.CellClicked) -> None:
        self.unit = event.unit
        self._goto(event.t)

