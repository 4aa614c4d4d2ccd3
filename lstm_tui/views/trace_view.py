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

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.reactive import var

from ..renderables.palette import legend
from ..layout import ARRANGEMENTS, PANELS, WATCHES, Layout, plan
from ..source import Source
from ..stepdata import StepColumns, TraceData, sort_label
from ..widgets.cell_view import CellView
from ..widgets.heatmap_view import HeatmapView
from ..widgets.output_panel import OutputPanel
from ..widgets.sequence_strip import SequenceStrip
from ..widgets.unit_history import UnitHistoryView
from ..widgets.unit_table import UnitTable
from ..widgets.watch_panel import WatchPanel


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

    # --- what the view derives and passes down
    data: var[TraceData | None] = var(None, init=False)
    """The numbers of `source`'s trace, cached for this view (a new trace, a new TraceData)."""
    columns: var[StepColumns | None] = var(None, init=False, always_update=True)
    """The unit table's data at (t, layer, direction, sort)."""
    axis_room: var[int] = var(0, init=False)
    """Plot columns the history and heatmap share, so their time axes match (0: unknown yet)."""

    @dataclass
    class LayoutChanged(Message):
        """The view's layout changed; `layout.plots_fit` says whether `p` has anything to do."""

        layout: Layout

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.applied: Layout | None = None
        """The layout last applied (None before the first)."""

    def compose(self) -> ComposeResult:
        V = TraceView
        cursor = (V.source, V.t, V.lstm_layer, V.direction, V.unit)
        context = (V.source, V.data, V.lstm_layer, V.direction, V.unit, V.overview)
        yield SequenceStrip(id="strip").data_bind(V.source, V.t, V.direction, V.markers)
        with Horizontal(id="body"):
            yield UnitTable(id="table").data_bind(V.columns, V.unit)
            with Vertical(id="side"):
                yield CellView(id="cell").data_bind(*cursor)
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
        self.data = TraceData(source.trace) if source is not None else None
        self._update_columns()
        self._set_titles()
        self._layout()

    def columns_at(self, sort: str, descending: bool) -> StepColumns | None:
        """The table at the cursor under a given sort (the screen asks for its top unit)."""
        if self.data is None:
            return None
        return self.data.columns(self.lstm_layer, self.direction, self.t, sort, descending)

    def _update_columns(self) -> None:
        if self.data is not None:
            self.columns = self.columns_at(self.sort, self.descending)

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

    def page_rows(self) -> int:
        """Units one page of the table shows (what PageUp/PageDown move by)."""
        return max(self.query_one(UnitTable).size.height - 2, 1)

    def _set_titles(self) -> None:
        if not self.is_mounted or self.source is None:
            return
        tr = self.source.trace
        table = self.query_one("#table")
        # the table's colour key on screen: which ramp is a gate, which a sign
        key = legend(dark=self.app.current_theme.dark, color=not self.app.no_color)
        table.border_title = Text.assemble(f"units ({tr.hidden_size})  ", key)
        reverse = tr.reads_reversed(self.direction)
        table.border_subtitle = f"sort: {sort_label(self.sort, reverse, self.descending)}  (s, S)"
        self.query_one("#cell").border_title = f"cell · unit {self.unit}"
        output = self.query_one("#output")
        # a Text, never a str: Textual reads a str title as markup
        output.border_title = (
            Text.assemble("output ", ("⚠ warning", output.get_component_rich_style(
                "output-panel--warning")))
            if self.source.warnings else Text("output")
        )
        self.query_one("#history").border_title = f"unit {self.unit} over time"
        heat = self.query_one("#heatmap")
        heat.border_title = f"heatmap · {self.heat}"
        heat.border_subtitle = "v: quantity"

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

    def _share_axis(self) -> None:
        """Give the history and heatmap the smaller of their plot rooms, so the same
        column shows the same steps in both (each says what it has: `plot_room`)."""
        if self.source is None:
            return
        panels = [w for w in (self.query_one(UnitHistoryView), self.query_one(HeatmapView))
                  if w.display and w.data is not None]  # fmt: skip
        self.axis_room = min((w.plot_room() for w in panels), default=0)
