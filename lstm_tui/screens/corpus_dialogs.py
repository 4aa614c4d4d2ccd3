"""The dialogs of the corpus keys: the input list, the threshold θ, the match results, export.

Each shows strings from files (tokens, input texts, the model's name) and
from the user (paths) as plain Text through safe_line or display, never as
markup. The export dialog never overwrites: a name that exists is refused in
the dialog, and the write itself is exclusive (lstm_engine.write_file), so a
file that appears meanwhile is refused too.
"""

from __future__ import annotations

import math
import os

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from ..corpus_view import InputEntry, target_path
from ..text import safe_line
from .watch_dialogs import _Dialog

#: θ, as LSTMVis's default: a unit is "on" where tanh of its value is at least this.
DEFAULT_THETA = 0.3


class InputsDialog(_Dialog):
    """The inputs (a corpus's, or the model's examples), the one in view marked; Enter opens one."""

    def __init__(self, entries: list[InputEntry], current: int | None, what: str) -> None:
        """`current`: the 0-based index of the input in view (None: the user's own input);
        `what`: what the list holds, for the title ("inputs of corpus.npz", "examples of …")."""
        super().__init__()
        self.entries, self.current, self.what = entries, current, what

    def compose(self) -> ComposeResult:
        width = len(str(len(self.entries)))
        options = []
        for k, entry in enumerate(self.entries):
            mark = "▶" if k == self.current else " "
            steps = f"{entry.steps:>6} steps  " if entry.steps is not None else " " * 14
            options.append(Option(Text(f"{mark} {entry.number:>{width}}  {steps}{entry.preview}"),
                                  id=str(k)))  # fmt: skip
        with Vertical(id="dialog", classes="dialog inputs-dialog"):
            yield Label(Text(f"{safe_line(self.what, 70)} ({len(self.entries)})"),
                        classes="dialog-title")  # fmt: skip
            yield OptionList(*options, id="inputs")
            yield Static(Text("Enter: open it   Esc: cancel   (in the debugger: x next, X previous)"),
                         classes="dialog-hint")  # fmt: skip

    def on_mount(self) -> None:
        if self.entries:
            options = self.query_one(OptionList)
            options.highlighted = self.current or 0
            # once the dialog has its size: on a short terminal the list is shorter than asked
            self.call_after_refresh(options.scroll_to_highlight)

    @on(OptionList.OptionSelected, "#inputs")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))


class ThresholdDialog(_Dialog):
    """θ for select and match: a unit is on where tanh of its value is ≥ θ (0 < θ < 1)."""

    def __init__(self, theta: float, quantity: str) -> None:
        super().__init__()
        self.theta, self.quantity = theta, quantity

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text("Threshold θ for select and match"), classes="dialog-title")
            yield Input(value=f"{self.theta:g}", id="theta", type="number")
            yield Static("", id="error", classes="dialog-error")
            yield Static(Text(f"A unit is on where tanh({self.quantity}) ≥ θ (LSTMVis's rule; "
                              f"its default is {DEFAULT_THETA}); v picks the quantity.\n"
                              "Enter: set   Esc: cancel"), classes="dialog-hint")  # fmt: skip

    @on(Input.Submitted, "#theta")
    def _submit(self, event: Input.Submitted) -> None:
        try:
            theta = float(event.value)
        except ValueError:
            theta = math.nan
        if not 0 < theta < 1:  # tanh never reaches 1: θ ≥ 1 selects nothing, θ ≤ 0 everything
            self._say("θ is a number between 0 and 1 (tanh of a value stays below 1).")
            return
        self.dismiss(theta)


class MatchDialog(_Dialog):
    """The other places where the selected units switch on together, best first (LSTMVis's
    rank: most selected units on, fewest others, longest span); Enter goes to one."""

    def __init__(self, title: str, lines: list[str], hint: str) -> None:
        """`lines`: one per match, already safe (corpus_view.match_line)."""
        super().__init__()
        self.title_text, self.lines, self.hint = title, lines, hint

    def compose(self) -> ComposeResult:
        options = [Option(Text(line, no_wrap=True, overflow="ellipsis"), id=str(k))
                   for k, line in enumerate(self.lines)]  # fmt: skip
        with Vertical(id="dialog", classes="dialog match-dialog"):
            yield Label(Text(safe_line(self.title_text, 200)), classes="dialog-title")
            yield OptionList(*options, id="matches")
            yield Static(Text(f"{self.hint}\nEnter: go there   Esc: cancel"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0

    @on(OptionList.OptionSelected, "#matches")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))


#: The kinds of export: the unit table at t (CSV), one quantity over the trace (CSV), the screen (SVG).
EXPORTS = ("table", "quantity", "screenshot")


class ExportDialog(_Dialog):
    """Export the unit table at t or a quantity over the trace to CSV, or the screen to SVG.

    An OptionList picks what, an Input where (a file, or a folder to put the offered name
    in); Enter in the list goes to the path, Enter on the path exports. Nothing that
    exists is overwritten: the dialog says so and asks for another name.
    """

    def __init__(self, choices: list[tuple[str, str, str, str]]) -> None:
        """`choices`: (kind, quantity or "", label, offered file name) for each line, kind one
        of EXPORTS; it dismisses with (kind, quantity, path)."""
        super().__init__()
        self.choices = choices

    def compose(self) -> ComposeResult:
        options = [Option(Text(label), id=str(k)) for k, (_, _, label, _) in enumerate(self.choices)]
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text("Export"), classes="dialog-title")
            yield OptionList(*options, id="what", classes="export-list")
            yield Input(value=self.choices[0][3], id="path")
            yield Static("", id="error", classes="dialog-error")
            yield Static(Text("A file name, or a folder to put the offered name in (the current "
                              "folder by default); an existing file is never replaced.\n"
                              "↑/↓ and Enter: what   Enter on the path: export   Esc: cancel"),
                         classes="dialog-hint")  # fmt: skip

    def on_mount(self) -> None:
        self.query_one(OptionList).highlighted = 0
        self.query_one(OptionList).focus()

    def _choice(self) -> int:
        highlighted = self.query_one(OptionList).highlighted
        return highlighted if highlighted is not None else 0

    @on(OptionList.OptionHighlighted, "#what")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        """Offer the highlighted export's file name, unless the user typed a path of their own."""
        path = self.query_one("#path", Input)
        offered = {name for *_, name in self.choices}
        if path.value in offered or not path.value.strip():
            path.value = self.choices[event.option_index][3]
        self._say("")

    @on(OptionList.OptionSelected, "#what")
    def _selected(self) -> None:
        self.query_one("#path", Input).focus()

    @on(Input.Changed, "#path")
    def _changed(self) -> None:
        self._say("")

    @on(Input.Submitted, "#path")
    def _submit(self, event: Input.Submitted) -> None:
        kind, quantity, _, name = self.choices[self._choice()]
        target = target_path(event.value, name)
        if os.path.lexists(target):
            self._say(f"{safe_line(target, 200)} exists: it is never replaced; type another name.")
            return
        if not target.parent.is_dir():
            self._say(f"There is no folder {safe_line(target.parent, 200)}.")
            return
        self.dismiss((kind, quantity, str(target)))
