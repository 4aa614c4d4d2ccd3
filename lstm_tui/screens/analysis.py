"""AnalysisScreen (`E`): which units matter, for the trace in view.

* the units ranked (s/S cycles the ranking): variance of c or h, mean |Δc|,
  saturation, retention (half-life), contribution to the output, point-biserial
  correlation of c with the token at the cursor or with a label (l/L picks it);
* the gate saturation scatter as Karpathy, Johnson & Fei-Fei (2015) plot it,
  one braille plot per layer and per gate (x: fraction of steps < 0.1, y: > 0.9),
  the selected unit's cell in bold, and the table of the fractions;
* output attribution for a linear head: the winning label's logit at t and
  the picked label's, split into W[label, k] · h_t[k] per unit plus the bias.

Everything is computed by the engine (lstm_tui.explaining); the whole-trace
statistics run once, in a worker thread, so the screen opens at once and
fills in. ↑/↓ pick a unit of the ranking, Enter selects it in the debugger.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import var
from textual.screen import Screen
from textual.widgets import Footer, Static

from lstm_engine import EngineError

from ..explaining import RANKINGS, Analysis, analyse, attribution, ranking
from ..renderables.scatter import scatter
from ..text import display, safe_line

#: Units the ranking and the attribution list.
TOP = 12
#: Gates whose saturation is plotted (the engine counts i, f and o).
PLOT_GATES = ("i", "f", "o")
#: A scatter plot's size in cells (2×4 dots each).
PLOT_W, PLOT_H = 20, 8


class AnalysisScreen(Screen[int | None]):
    """The analysis panel over one trace; dismisses with the unit to select (or None)."""

    DEFAULT_CSS = """
    AnalysisScreen #analysis-top { height: auto; }
    AnalysisScreen #ranking, AnalysisScreen #attribution { width: 1fr; height: auto; }
    AnalysisScreen #ranking { padding-right: 2; }
    AnalysisScreen #scatter, AnalysisScreen #fractions { margin-top: 1; }
    AnalysisScreen #ranking, AnalysisScreen #attribution, AnalysisScreen #scatter,
    AnalysisScreen #fractions { text-wrap: nowrap; text-overflow: ellipsis; }
    """
    BINDINGS = [
        Binding("escape,q,E", "close", "Close"),
        Binding("s", "ranking(1)", "Ranking"),
        Binding("S", "ranking(-1)", "Ranking←", show=False),
        Binding("l", "label(1)", "Label"),
        Binding("L", "label(-1)", "Label←", show=False),
        Binding("down,j", "pick(1)", "Unit ↓", show=False),
        Binding("up,k", "pick(-1)", "Unit ↑", show=False),
        Binding("enter", "select", "Select unit"),
        Binding("pagedown,space", "page(1)", "Page ↓", show=False),
        Binding("pageup", "page(-1)", "Page ↑", show=False),
    ]

    ranking: var[str] = var("var_c", init=False)
    """The ranking shown, one of explaining.RANKINGS."""
    label: var[int] = var(-1, init=False)
    """The picked label's index (-1: none picked yet, the ranking and attribution use the winner)."""
    row: var[int] = var(0, init=False)
    """The picked row of the ranking."""

    def __init__(self, source, t: int, layer: int, direction: int, unit: int,
                 names: Mapping[int, str]) -> None:  # fmt: skip
        super().__init__()
        self.source, self.t, self.lstm_layer, self.direction = source, t, layer, direction
        self.unit, self.names = unit, names
        self.analysis: Analysis | str | None = None
        self._order: np.ndarray = np.zeros(0, np.int64)

    def compose(self) -> ComposeResult:
        # not focusable: ↑/↓ pick a ranked unit; PageUp/PageDown (and the mouse) scroll
        with VerticalScroll(id="analysis", can_focus=False):
            yield Static(id="analysis-head")
            with Horizontal(id="analysis-top"):
                yield Static(id="ranking")
                yield Static(id="attribution")
            yield Static(id="scatter")
            yield Static(id="fractions")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._draw()
        self._compute(self.source)

    @work(thread=True, exclusive=True, group="analysis", exit_on_error=False)
    def _compute(self, source) -> None:
        """The whole-trace statistics, off the UI thread (a 10,000-step trace takes a moment)."""
        try:
            got: Analysis | str = analyse(source)
        except EngineError as e:
            got = str(e)
        except MemoryError:
            got = "not enough memory for the statistics of this trace"
        self.app.call_from_thread(self._computed, got)

    def _computed(self, got: Analysis | str) -> None:
        self.analysis = got
        self._draw()

    @property
    def ready(self) -> bool:
        """Has the analysis been computed (the panel shows its numbers)?"""
        return isinstance(self.analysis, Analysis)

    def _where(self) -> str:
        tr = self.source.trace
        where = f"layer {self.lstm_layer + 1}"
        if tr.num_directions == 2:
            where += ", reverse" if tr.reads_reversed(self.direction) else ", forward"
        return where

    def _label_name(self, k: int) -> str:
        labels = self.source.trace.labels
        return display(labels[k]) if labels is not None and 0 <= k < len(labels) else f"#{k}"

    def _picked_label(self) -> str | None:
        labels = self.source.trace.labels
        if self.label < 0 or labels is None or self.label >= len(labels):
            return None
        return labels[self.label]

    # --- drawing
    def _draw(self) -> None:
        if not self.is_mounted:
            return
        head = self.query_one("#analysis-head", Static)
        title = RANKINGS[self.ranking][0]
        head.update(Text(f"analysis · {safe_line(self.source.name, 40)} · {self._where()} · step "
                         f"{self.t + 1} · ranked by {title} (s) · label (l) · Enter: select · "
                         "Esc: back"))  # fmt: skip
        if self.analysis is None:
            self.query_one("#ranking", Static).update(Text("computing the unit statistics…"))
            return
        if isinstance(self.analysis, str):
            self.query_one("#ranking", Static).update(Text(safe_line(self.analysis, 300)))
            return
        self.query_one("#ranking", Static).update(self._ranking_text())
        self.query_one("#attribution", Static).update(self._attribution_text())
        self.query_one("#scatter", Static).update(self._scatter_text())
        self.query_one("#fractions", Static).update(self._fractions_text())

    def _ranking_text(self) -> Text:
        tr = self.source.trace
        got = ranking(self.analysis, tr, self.ranking, self.lstm_layer, self.direction, self.t,
                      self._picked_label())  # fmt: skip
        title = RANKINGS[self.ranking][0]
        if self.ranking == "token" and tr.tokens is not None:
            title += f" ({display(tr.tokens[self.t])})"
        if self.ranking == "label":
            picked = self._picked_label()
            title += f" ({display(picked)})" if picked else " (l picks one)"
        out = Text(f"units by {title}\n", style="bold", no_wrap=True, overflow="ellipsis")
        if isinstance(got, str):
            self._order = np.zeros(0, np.int64)
            out.append(safe_line(got, 300))
            return out
        order, values = got
        self._order = order
        self.row = min(self.row, max(len(order) - 1, 0))
        for k in range(min(TOP, len(order))):
            u = int(order[k])
            name = self.names.get(u, "")
            mark = "▶" if k == self.row else " "
            # lines start with a glyph: Textual drops a line's leading spaces
            line = Text(f"{k + 1:<3}{mark} unit {u:>4}  {values[k]:+9.3f}  ")
            line.append(safe_line(name, 24))
            if k == self.row:
                line.stylize("bold reverse")
            out.append_text(line)
            out.append("\n")
        return out

    def _attribution_text(self) -> Text:
        out = Text(no_wrap=True, overflow="ellipsis")
        won = attribution(self.source, self.t, None)
        if isinstance(won, str):
            out.append("output attribution\n", style="bold")
            out.append(safe_line(won, 300))
            return out
        blocks = [won]
        picked = self._picked_label()
        if picked is not None:
            got = attribution(self.source, self.t, picked)
            if not isinstance(got, str) and got.label != won.label:
                blocks.append(got)
        for k, att in enumerate(blocks):
            what = "winner" if k == 0 else "picked"
            out.append(f"{self._label_name(att.label)} ({what}), step {att.t + 1}: logit "
                       f"{att.logit:+.3f}\n", style="bold")  # fmt: skip
            flat = att.contributions.reshape(-1)
            P = att.contributions.shape[1]
            top = np.argsort(-np.abs(flat), kind="stable")[: TOP // len(blocks) - 2]
            for j in top.tolist():
                d, u = divmod(j, P)
                arrow = (" ←" if self.source.trace.reads_reversed(d) else " →") if att.contributions.shape[0] == 2 else ""
                line = Text(f"  unit {u:>4}{arrow}  {flat[j]:+8.3f}  ")
                line.append(safe_line(self.names.get(u, ""), 20) if d == self.direction or att.contributions.shape[0] == 1 else "")
                out.append_text(line)
                out.append("\n")
            rest = float(flat.sum() - flat[top].sum())
            out.append(f"  {len(flat) - len(top)} others {rest:+8.3f} · bias {att.bias:+.3f}\n")
        return out

    def _scatter_text(self) -> Text:
        tr, stats = self.source.trace, self.analysis.stats
        out = Text("gate saturation (Karpathy et al. 2015): x = fraction of steps < 0.1, "
                   "y = fraction > 0.9; one dot per unit, the selected unit in bold\n",
                   no_wrap=True, overflow="ellipsis")  # fmt: skip
        width = max(self.size.width, 80)
        per_row = max(1, (width - 2) // (PLOT_W + 4))
        plots = []
        for layer in range(tr.num_layers):
            for g in PLOT_GATES:
                xs = stats.values[f"{g}_left"][layer, self.direction]
                ys = stats.values[f"{g}_right"][layer, self.direction]
                mark = self.unit if layer == self.lstm_layer else None
                plots.append(scatter(xs, ys, PLOT_W, PLOT_H, title=f"L{layer + 1} {g}", mark=mark))
        for k in range(0, len(plots), per_row):
            group = plots[k : k + per_row]
            for y in range(PLOT_H + 2):
                line = Text()
                for p in group:
                    line.append_text(p[y])
                    line.append("  ")
                out.append_text(line)
                out.append("\n")
        return out

    def _fractions_text(self) -> Text:
        stats = self.analysis.stats
        keys = ("i_left", "i_right", "f_left", "f_right", "o_left", "o_right", "half_life")
        out = Text("saturation fractions (the ranked units, then the selected one)\n", style="bold",
                   no_wrap=True, overflow="ellipsis")  # fmt: skip
        out.append("unit   " + "".join(f"{k:>10}" for k in keys) + "\n", style="bold")
        units = [int(u) for u in self._order[:TOP]]
        if self.unit not in units:
            units.append(self.unit)
        for u in units:
            row = f"{u:<6}{'▶' if u == self.unit else ' '}"
            for k in keys:
                v = float(stats.values[k][self.lstm_layer, self.direction, u])
                digits = 1 if k == "half_life" else 2
                row += f"{v:>10.{digits}f}" if np.isfinite(v) else f"{'∞':>10}"
            out.append(row + "\n")
        return out

    # --- keys
    def watch_ranking(self) -> None:
        self.row = 0
        self._draw()

    def watch_label(self) -> None:
        self._draw()

    def watch_row(self) -> None:
        if self.ready:
            self.query_one("#ranking", Static).update(self._ranking_text())

    def action_ranking(self, n: int) -> None:
        keys = list(RANKINGS)
        self.ranking = keys[(keys.index(self.ranking) + n) % len(keys)]

    def action_label(self, n: int) -> None:
        labels = self.source.trace.labels
        if not labels:
            self.notify("This trace has no labels to pick.", timeout=3)
            return
        self.label = (self.label + n) % len(labels) if self.label >= 0 else (0 if n > 0 else len(labels) - 1)

    def action_pick(self, n: int) -> None:
        if len(self._order):
            self.row = min(max(self.row + n, 0), min(TOP, len(self._order)) - 1)

    def action_page(self, n: int) -> None:
        scroll = self.query_one("#analysis", VerticalScroll)
        (scroll.scroll_page_down if n > 0 else scroll.scroll_page_up)(animate=False)

    def action_select(self) -> None:
        if self.row < len(self._order):
            self.dismiss(int(self._order[self.row]))

    def action_close(self) -> None:
        self.dismiss(None)
