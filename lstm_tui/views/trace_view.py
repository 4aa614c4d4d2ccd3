"""TraceView: one trace's panels (strip, unit table, cell view, output, watches, history, heatmap).

The view shows a cursor it is given and owns nothing a user moves: the
screen binds t, layer, direction, unit, sort, panel, heatmap quantity and
overview to it (data_bind) and it passes them on to its panels the same way.
Clicks come back up as the panels' messages (they bubble through the view to
the screen), so a screen that shows two traces can mount two TraceViews and
bind the same cursor to both.

What the view adds is what belongs to one trace on screen: its TraceData
(the numbers, cached per trace and bounded), the unit table's columns at the
cursor, the panel titles, the layout of its rows (`lstm_tui.layout.plan`, a
pure function of its size) and the one time axis its history and heatmap
share.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import var

from ..renderables.palette import legend
from ..layout import ARRANGEMENTS, PANELS, WATCHES, Layout, plan
from ..source import Source
from ..explaining import unit_label
from ..stepdata import HEATMAP_NAMES, StepColumns, TraceData, sort_label
from ..whatif import NOT_RECOMPUTED, Comparison, DifferenceData
from ..widgets.cell_view import CellView
from ..widgets.explain_strip import ExplainStrip
from ..widgets.heatmap_view import HeatmapView
from ..widgets.output_panel import OutputPanel
from ..widgets.unit_history import UnitHistoryView
from ..widgets.unit_table import UnitTable
from ..widgets.watch_panel import WatchPanel


#: Traces whose numbers a view keeps (a branch, its parent, what undo and redo go to).
RECENT = 4


class TraceView(Vertical):
    """Every panel of one trace at the cursor it is given."""

    # `var`: a change repaints only what is bound to it, never the whole view.
    source: var[Source | None] = var(None, init=False)
    """The trace in view and the model that made it."""
    t: var[int] = var(0, init=False)
    """The cursor: sequence position, 0-based."""
    context_t: var[int] = var(0, init=False)
    """t as the history and heatmap show it (it may trail t while a key is held)."""
    lstm_layer: var[int] = var(0, init=False)
    """The LSTM layer in view."""
    direction: var[int] = var(0, init=False)
    """The direction in view (1: the reverse direction of a bidirectional LSTM)."""
    unit: var[int] = var(0, init=False)
    """The selected unit (index in the layer, independent of the sort)."""
    sort: var[str] = var("unit", init=False)
    """The unit table's sort column, one of stepdata.SORTS."""
    descending: var[bool] = var(True, init=False)
    """The sort order: largest first (True) or smallest first."""
    panel: var[str] = var("cell", init=False)
    """What the lower/side area shows when the plots do not fit: one of layout.PANELS."""
    overview: var[bool] = var(False, init=False)
    """History and heatmap show the whole sequence (True) or a window around the cursor."""
    heat: var[str] = var("c", init=False)
    """The heatmap quantity, one of stepdata.HEATMAP_QUANTITIES."""
    watches: var[tuple[tuple[str, bool], ...]] = var((), init=False)
    """The watch expressions and whether each is on (the watch panel shows them)."""
    markers: var[Mapping[int, str]] = var(dict, init=False)
    """Position → marker kind for the sequence strip (SequenceStrip.markers)."""
    bar: var[str] = var("", init=False)
    """What the strip's bar shows under the tokens (ExplainStrip.bar; "" none)."""
    names: var[Mapping[int, str]] = var(dict, init=False)
    """Unit → name, for the table and the titles."""
    comparison: var[Comparison | None] = var(None, init=False)
    """This trace against another (a branch and its parent, two inputs): strip markers, and
    with `difference` the table's and heatmap's numbers (lstm_tui.whatif)."""
    difference: var[bool] = var(False, init=False)
    """Table and heatmap show this trace minus the one it is compared with."""
    marked: var[frozenset[int]] = var(frozenset(), init=False)
    """Units the table marks ◆ (LSTMVis's select: the units on over the selected span)."""
    marked_note: var[str] = var("", init=False)
    """What the table's title says of the marked units ("" none)."""

    # --- what the view derives and passes down
    data: var[TraceData | None] = var(None, init=False)
    """The numbers of `source`'s trace, cached for this view (a new trace, a new TraceData)."""
    columns: var[StepColumns | None] = var(None, init=False, always_update=True)
    """The unit table's data at (t, layer, direction, sort)."""
    axis_room: var[int] = var(0, init=False)
    """Plot columns the history and heatmap share, so their time axes match (0: unknown yet)."""
    strip_markers: var[Mapping[int, str]] = var(dict, init=False)
    """What the strip marks: the comparison's steps (changed predictions, the first
    divergence), under the screen's `markers` (search matches, bookmarks), which win where
    both fall on one step: they are what the user is looking for now."""
    marker_note: var[str] = var("", init=False)
    """What the strip's title says of the markers."""

    @dataclass
    class LayoutChanged(Message):
        """The view's layout changed; `layout.plots_fit` says whether `p` has anything to do."""

        layout: Layout

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.applied: Layout | None = None
        """The layout last applied (None before the first)."""
        self._plain: TraceData | None = None
        """The source's own numbers (kept while the difference is toggled on and off)."""
        self._compared_marks: dict[int, str] = {}
        """The comparison's strip markers (under the screen's `markers`)."""
        self._recent: list[TraceData] = []
        """The numbers of the last RECENT traces shown, newest first (by identity, `is`)."""

    def compose(self) -> ComposeResult:
        V = TraceView
        cursor = (V.source, V.t, V.lstm_layer, V.direction, V.unit)
        context = (V.source, V.data, V.lstm_layer, V.direction, V.unit, V.overview)
        yield ExplainStrip(id="strip").data_bind(V.source, V.t, V.direction, V.marker_note,
                                                 V.lstm_layer, V.unit, V.bar, V.names,
                                                 markers=V.strip_markers)  # fmt: skip
        with Horizontal(id="body"):
            yield UnitTable(id="table").data_bind(V.columns, V.unit, V.names, V.marked)
            with Vertical(id="side"):
                yield CellView(id="cell").data_bind(*cursor, V.data)
                yield OutputPanel(id="output").data_bind(V.source, V.t)
        watched = (V.source, V.t, V.lstm_layer, V.direction, V.watches)
        yield WatchPanel(id="watches").data_bind(*watched)
        with Horizontal(id="bottom"):
            yield UnitHistoryView(id="history").data_bind(*context, t=V.context_t, room=V.axis_room)
            yield HeatmapView(id="heatmap").data_bind(
                *context, t=V.context_t, quantity=V.heat, room=V.axis_room
            )

    # --- the data
    def watch_source(self, source: Source | None) -> None:
        self._plain = self._data_for(source.trace) if source is not None else None
        self._compared()
        self._layout()

    def prepare(self, data: TraceData) -> None:
        """Keep numbers made off the UI thread for a trace about to be shown (an edit's
        worker measures the branch's column widths and colour scales), so showing it
        costs no pass over the whole trace."""
        self._recent = [data, *[d for d in self._recent if d.trace is not data.trace]][:RECENT]

    def _data_for(self, trace) -> TraceData:
        """The trace's TraceData: a recent one (switching parent ⇄ branch, undo, redo) or new."""
        data = next((d for d in self._recent if d.trace is trace), None) or TraceData(trace)
        self.prepare(data)
        return data

    def watch_comparison(self) -> None:
        self._compared()

    def watch_markers(self) -> None:
        self.strip_markers = {**self._compared_marks, **self.markers}

    def watch_difference(self) -> None:
        self._compared()

    def _compared(self) -> None:
        """The numbers the panels show (the trace's, or its difference from the other one)
        and the strip's markers, for the source and comparison in view."""
        src, cmp = self.source, self.comparison
        other = None
        if src is not None and cmp is not None:
            other = cmp.a if cmp.b is src else cmp.b if cmp.a is src else None
        if other is not None and self.difference:
            self.data = DifferenceData(self._plain, other.trace)
        else:
            self.data = self._plain
        self._compared_marks = cmp.markers() if other is not None else {}
        self.strip_markers = {**self._compared_marks, **self.markers}
        note = ""
        if other is not None:
            note = "≠ prediction changed" if cmp.changed_steps() else ""
            if cmp.first is not None:
                note = f"◆ diverges at {cmp.first.t + 1}" + (f" · {note}" if note else "")
        if src is not None and src.trace.output_not_recomputed:
            note = (note + " · " if note else "") + NOT_RECOMPUTED
        self.marker_note = note
        self._update_columns()
        self._set_titles()

    def columns_at(self, sort: str, descending: bool) -> StepColumns | None:
        """The table at the cursor under a given sort (the screen asks for its top unit)."""
        if self.data is None:
            return None
        return self.data.columns(self.lstm_layer, self.direction, self.t, sort, descending)

    def _update_columns(self) -> None:
        if self.data is not None:
            self.columns = self.columns_at(self.sort, self.descending)
            # a long trace's history scales: asked for here, measured with the half-lives
            self.data.unit_extents(self.lstm_layer, self.direction)
            if self.is_mounted:
                self._measure_later(self.data)

    # --- statistics of a long trace, measured off the UI thread (TraceData.take_wanted)
    def _measure_later(self, data: TraceData) -> None:
        wanted = data.take_wanted()
        if wanted:  # after the frame that shows them pending: not competing with its paint
            self.call_after_refresh(self.run_worker, partial(self._measure, data, wanted),
                                    thread=True, group="statistics", exit_on_error=False)  # fmt: skip

    def _measure(self, data: TraceData, wanted: set[tuple[int, int]]) -> None:
        for layer, direction in sorted(wanted):
            data.measure_half_lives(layer, direction)
        if self.app.is_running:  # not after a quit: the column is no one's to show
            self.app.call_from_thread(self._measured, data)

    def _measured(self, data: TraceData) -> None:
        data.forget_columns()
        if data is self.data:
            self._update_columns()

    def watch_t(self) -> None:
        self._update_columns()

    def watch_lstm_layer(self) -> None:
        self._update_columns()
        self._share_axis_later()

    def watch_direction(self) -> None:
        self._update_columns()
        self._set_titles()
        self._share_axis_later()

    def watch_sort(self) -> None:
        self._resorted()

    def watch_descending(self) -> None:
        self._resorted()

    def _resorted(self) -> None:
        """A new ranking is read from its top."""
        self._update_columns()
        if self.is_mounted:
            self.query_one(UnitTable).scroll_to_top()
        self._set_titles()

    def watch_unit(self) -> None:
        self._set_titles()
        self._share_axis_later()

    def watch_heat(self) -> None:
        self._set_titles()

    def watch_names(self) -> None:
        self._set_titles()

    def watch_marked_note(self) -> None:
        self._set_titles()

    def page_rows(self) -> int:
        """Units one page of the table shows (what PageUp/PageDown move by)."""
        return max(self.query_one(UnitTable).size.height - 2, 1)

    def _set_titles(self) -> None:
        if not self.is_mounted or self.source is None:
            return
        tr = self.source.trace
        table = self.query_one("#table")
        diff = self.data is not None and self.data.difference
        against = " · Δ " + self._against() if diff else ""
        # the table's colour key on screen: which ramp is a gate, which a sign
        key = legend(dark=self.app.current_theme.dark, color=not self.app.no_color)
        marked = f" · {self.marked_note}" if self.marked_note else ""
        table.border_title = Text.assemble(f"units ({tr.hidden_size}){against}{marked}  ", key)
        reverse = tr.reads_reversed(self.direction)
        table.border_subtitle = f"sort: {sort_label(self.sort, reverse, self.descending)}  (s, S)"
        # a Text, never a str: a unit's name is the file's or the user's
        self.query_one("#cell").border_title = Text(f"cell · {unit_label(self.unit, self.names)}")
        output = self.query_one("#output")
        # a Text, never a str: Textual reads a str title as markup
        output.border_title = (
            Text.assemble("output ", ("⚠ warning", output.get_component_rich_style(
                "output-panel--warning")))
            if self.source.warnings else Text("output")
        )
        self.query_one("#history").border_title = Text(f"{unit_label(self.unit, self.names)} over time")
        # the heatmap adds which units are in view to its heading (HeatmapView._retitle)
        self.query_one(HeatmapView).heading = (
            f"heatmap · {HEATMAP_NAMES.get(self.heat, self.heat)}"
            + (" Δ " + self._against() if diff else ""))  # fmt: skip

    def _against(self) -> str:
        """What a difference is taken against, as the titles say it."""
        cmp = self.comparison
        if cmp is None or cmp.kind != "branch":
            return "vs the other side"
        return "vs branch" if cmp.a is self.source else "vs parent"

    def on_mount(self) -> None:
        self._set_titles()

    # --- the layout
    def on_resize(self) -> None:
        self._layout()
        self.call_after_refresh(self._layout)

    def watch_panel(self) -> None:
        self._layout()
        self.call_after_refresh(self._layout)

    def watch_watches(self, old: tuple, new: tuple) -> None:
        if len(old) != len(new):
            self._layout()

    def _layout(self) -> None:
        """Apply `layout.plan` for the view's size and what it shows."""
        if not self.is_mounted or self.source is None or self.size.height == 0:
            return
        side = self.query_one("#side")
        fit_before = self.applied is None or self.applied.plots_fit
        side_rows = side.outer_size.height if self.panel == "cell" or fit_before else 0
        width, height = self.size
        new = plan(width, height, units=self.source.trace.hidden_size, side_rows=side_rows,
                   panel=self.panel if self.panel in (*PANELS, WATCHES) else "cell",
                   watches=len(self.watches))  # fmt: skip
        for name in ARRANGEMENTS:
            self.set_class(name == new.arrangement, f"-{name}")
        body, bottom = self.query_one("#body"), self.query_one("#bottom")
        history, heatmap = self.query_one("#history"), self.query_one("#heatmap")
        body.styles.height = new.body_rows
        # the side column's and cell view's widths are the layout's (the diagram they hold)
        side.styles.width = new.side_width if new.side_width is not None else "100%"
        self.query_one("#cell").styles.width = new.cell_width
        if new.show_bottom:
            bottom.styles.height = new.bottom_rows
            history.display, heatmap.display = new.show_history, new.show_heatmap
        bottom.display = new.show_bottom
        side.display = new.show_side
        watches = self.query_one("#watches")
        if new.show_watches:
            watches.styles.height = new.watch_rows
        watches.display = new.show_watches
        changed, self.applied = new != self.applied, new
        if changed:
            self.post_message(self.LayoutChanged(new))
        self._share_axis_later()

    # --- one time axis for the history and the heatmap
    def _share_axis_later(self) -> None:
        """Share the plot room once the panels have their new unit, layer and size."""
        if self.is_mounted:
            self.call_later(self._share_axis)

    def _share_axis(self, retries: int = 3) -> None:
        """Give the history and heatmap the smaller of their plot rooms, so the same
        column shows the same steps in both (each says what it has: `plot_room`).

        A panel just shown (the plots' row appearing on a tall terminal) has no size
        until the next refresh: its room is not known yet, not one column, so the
        sharing waits for it rather than squeezing both axes into one column.
        """
        if self.source is None:
            return
        panels = [w for w in (self.query_one(UnitHistoryView), self.query_one(HeatmapView))
                  if w.display and w.data is not None]  # fmt: skip
        if self.query_one("#bottom").display and any(w.content_size.width == 0 for w in panels):
            if retries > 0:
                self.call_after_refresh(self._share_axis, retries - 1)
            return
        self.axis_room = min((w.plot_room() for w in panels), default=0)
