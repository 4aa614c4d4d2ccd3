"""WatchPanel: the watch expressions, each with its value at t, whether it holds, and how often.

`⏵ on  f[3] < 0.1            holds   12 steps   f[3]=0.07`

The panel is given the watches (expression text and on/off, strings and
bools owned by the screen) and the cursor; it compiles each expression for
its own trace through `lstm_tui.watching.compiled` (the engine's compiler,
cached), so a second trace view shows the same watches on its own trace.
Keys act on the selected row while the panel has focus (`W` gives it focus);
they post messages up, and the screen changes its watches. Expressions are
the user's text, shown as plain Text through safe_line, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from lstm_engine import WatchError

from ..source import Source
from ..text import display, safe_line
from ..watching import compiled
from ._styles import CachedStyles


def _value(v: object) -> str:
    if v is None:  # no value there (pred_prev at step 1)
        return "–"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return display(v)
    if isinstance(v, float):
        return f"{v:.3g}"
    return safe_line(v, 20)


def watch_row(text: str, enabled: bool, got, t: int, width: int) -> tuple[str, str, str, str]:
    """The (on/off, expression, state at t, count and values) cells of one watch's row."""
    switch = "on " if enabled else "off"
    if isinstance(got, WatchError):
        return switch, text, "error", safe_line(str(got), 200)
    holds = bool(got.mask[t])
    count = got.count
    values = "  ".join(f"{safe_line(k, 24)}={_value(v)}" for k, v in got.values_at(t).items())
    steps = "step " if count == 1 else "steps"
    return switch, text, "holds" if holds else "  –  ", f"{count:>5} {steps}  {values}"


class WatchPanel(CachedStyles, Widget, can_focus=False):
    """The watches at the cursor; ↑/↓ select, space turns one on or off, Delete removes it.

    Focusable only between `take_focus` and leaving it (Esc): otherwise the screen's
    auto-focus would hand it ↑/↓ whenever a dialog closes, and the unit table's keys
    would stop working.
    """

    DEFAULT_CSS = """
    WatchPanel { height: auto; }
    WatchPanel > .watch-panel--holds { text-style: bold; }
    """
    COMPONENT_CLASSES = {"watch-panel--holds", "watch-panel--off", "watch-panel--cursor",
                         "watch-panel--error", "watch-panel--dim"}  # fmt: skip
    BINDINGS = [
        Binding("up,k", "select(-1)", "Previous watch", show=False),
        Binding("down,j", "select(1)", "Next watch", show=False),
        Binding("space,enter", "toggle", "On/off", show=False),
        Binding("delete,backspace", "remove", "Remove", show=False),
        Binding("escape", "leave", "Back to the table", show=False),
    ]

    source: reactive[Source | None] = reactive(None)
    t: reactive[int] = reactive(0)
    lstm_layer: reactive[int] = reactive(0)
    direction: reactive[int] = reactive(0)
    watches: reactive[tuple[tuple[str, bool], ...]] = reactive(tuple)
    """(expression, on) for each watch, in the order they were added."""
    selected: reactive[int] = reactive(0)
    """The row the keys act on."""

    @dataclass
    class Toggled(Message):
        """Turn watch `index` on or off."""

        index: int

    @dataclass
    class Removed(Message):
        """Remove watch `index`."""

        index: int

    def validate_selected(self, selected: int) -> int:
        return min(max(selected, 0), max(len(self.watches) - 1, 0))

    def watch_watches(self) -> None:
        self.selected = self.selected  # clamp to the new list
        self._set_title()

    def watch_lstm_layer(self) -> None:
        self._set_title()

    def watch_direction(self) -> None:
        self._set_title()

    def watch_source(self) -> None:
        self._set_title()

    def _set_title(self) -> None:
        if self.source is None:
            return
        tr = self.source.trace
        where = f"L{self.lstm_layer + 1}"
        if tr.num_directions == 2:
            where += " ←" if tr.reads_reversed(self.direction) else " →"
        n = len(self.watches)
        if not n:
            self.border_title = "watches"
        elif self.has_focus:
            self.border_title = (f"watches ({n}) at {where} · ↑↓ pick · space: on/off · "
                                 "Del: remove · Esc: back")  # fmt: skip
        else:
            self.border_title = f"watches ({n}) at {where} · c/C: continue · W: select"

    def take_focus(self) -> None:
        """Give the panel the keys (W)."""
        self.can_focus = True
        self.focus()

    def on_focus(self) -> None:
        self._set_title()
        self.refresh()

    def on_blur(self) -> None:
        self.can_focus = False
        self._set_title()
        self.refresh()

    def render(self) -> Text:
        if self.source is None:
            return Text("")
        if not self.watches:
            return Text("No watches: w adds one (say f[3] < 0.1, or token == \"France\").",
                        self.get_component_rich_style("watch-panel--dim"))  # fmt: skip
        style = self.component_style
        holds, off = style("watch-panel--holds"), style("watch-panel--off")
        dim = style("watch-panel--dim")
        cursor, error = style("watch-panel--cursor"), style("watch-panel--error")
        tr, width = self.source.trace, self.content_size.width
        kind = self.source.output_kind
        rows = [watch_row(text, on, compiled(tr, text, self.lstm_layer, self.direction, kind),
                          self.t, width) for text, on in self.watches]  # fmt: skip
        expr_w = min(max((cell_len(safe_line(r[1])) for r in rows), default=0), max(width // 3, 12))
        first = self._first_row(len(rows))
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        for k in range(first, min(first + max(self.content_size.height, 1), len(rows))):
            switch, text, state, rest = rows[k]
            on = self.watches[k][1]
            line = Text(no_wrap=True, overflow="ellipsis")
            line.append("▶ " if k == self.selected and self.has_focus else "  ")
            line.append(switch + " ", dim if on else off)
            shown = safe_line(text, 200)
            if cell_len(shown) > expr_w:
                shown = shown[: max(expr_w - 1, 1)] + "…"
            line.append(shown + " " * max(expr_w - cell_len(shown), 0) + "  ")
            lit = holds if state == "holds" and on else dim
            line.append(state, error if state == "error" else lit)
            line.append("  " + rest, error if state == "error" else dim)
            if k == self.selected and self.has_focus:
                line.stylize(cursor)
            if not on:
                line.stylize(off)
            out.append_text(line)
            if k + 1 < min(first + max(self.content_size.height, 1), len(rows)):
                out.append("\n")
        return out

    def _first_row(self, n: int) -> int:
        """The first row drawn, so the selected one is in view."""
        room = max(self.content_size.height, 1)
        return min(max(self.selected - room + 1, 0), max(n - room, 0))

    def action_select(self, n: int) -> None:
        self.selected += n

    def action_toggle(self) -> None:
        if self.watches:
            self.post_message(self.Toggled(self.selected))

    def action_remove(self) -> None:
        if self.watches:
            self.post_message(self.Removed(self.selected))

    def action_leave(self) -> None:
        self.screen.set_focus(None)
