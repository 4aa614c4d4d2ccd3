"""The dialogs that ask "when?": add a watch, find a token, pick a bookmark, save the trace.

The watch dialog compiles the expression at every keystroke (the engine's
compiler is cheap) and shows the error under it with a caret at its column,
so a typo is seen before Enter. Everything shown is plain Text through
safe_line: an expression like `[bold]x` is those characters, never markup.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from lstm_engine import InputError, Trace, WatchError

from ..text import display, safe_line
from ..watching import MAX_WATCH_CHARS, check_watch, find_tokens

#: How much of a message the dialogs show (it quotes the user's text).
MESSAGE_LIMIT = 400


def caret_text(error: WatchError) -> Text:
    """The expression, the engine's caret line under the problem, and the message (plain Text)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if error.text:
        shown, caret = error.caret_lines()
        out.append(shown + "\n")
        out.append(caret + "\n")
    out.append(safe_line(error.message, MESSAGE_LIMIT))
    return out


class _Dialog(ModalScreen):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _say(self, message: Text | str) -> None:
        shown = message if isinstance(message, Text) else Text(message)
        self.query_one("#error", Static).update(shown)


class WatchDialog(_Dialog):
    """Type a watch expression; the engine's error shows as you type; Enter adds it."""

    def __init__(self, trace: Trace, layer: int, direction: int, where: str,
                 output_kind: str | None = None) -> None:  # fmt: skip
        super().__init__()
        self.trace, self.lstm_layer, self.direction, self.where = trace, layer, direction, where
        self.output_kind = output_kind

    def _error(self, text: str) -> WatchError | None:
        return check_watch(text, self.trace, self.lstm_layer, self.direction, self.output_kind)

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text(f"Add a watch (evaluated at {self.where})"), classes="dialog-title")
            yield Input(placeholder="f[3] < 0.1", id="expr", max_length=MAX_WATCH_CHARS)
            yield Static("", id="error", classes="dialog-error")
            yield Static(Text('e.g.  f[3] < 0.1   abs(delta[12]) > 0.5   token == "France"   '
                              "pred != pred_prev   L1.rev.o[0] > 0.9\n"
                              "Enter: add   Esc: cancel   c / C then run to where a watch holds"),
                         classes="dialog-hint")  # fmt: skip

    @on(Input.Changed, "#expr")
    def _changed(self, event: Input.Changed) -> None:
        text = event.value
        error = self._error(text) if text.strip() else None
        self._say(caret_text(error) if error else "")

    @on(Input.Submitted, "#expr")
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            self._say("Type an expression, or press Esc.")
            return
        error = self._error(text)
        if error is not None:
            self._say(caret_text(error))
            return
        self.dismiss(text)


class SearchDialog(_Dialog):
    """Type a token to find: a substring, or "in double quotes" for the exact token."""

    def __init__(self, tokens: tuple[str, ...], query: str = "") -> None:
        super().__init__()
        self.tokens, self.initial = tokens, query

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label("Find a token", classes="dialog-title")
            yield Input(value=self.initial, placeholder='Fra  or  "France"', id="query")
            yield Static("", id="error", classes="dialog-error")
            yield Static(Text('A substring, or "in double quotes" for the exact token; case '
                              "counts.\nEnter: go to the next match   n / N: next / previous   "
                              "Esc: cancel"), classes="dialog-hint")  # fmt: skip

    @on(Input.Changed, "#query")
    def _changed(self, event: Input.Changed) -> None:
        if not event.value:
            self._say("")
            return
        n = len(find_tokens(self.tokens, event.value))
        self._say(f"{n} match{'es' if n != 1 else ''}" if n else "no token matches")

    @on(Input.Submitted, "#query")
    def _submit(self, event: Input.Submitted) -> None:
        try:
            found = find_tokens(self.tokens, event.value)
        except InputError as e:
            self._say(safe_line(str(e), MESSAGE_LIMIT))
            return
        if not len(found):
            self._say("no token matches")
            return
        self.dismiss(event.value)


class MarksDialog(_Dialog):
    """The bookmarks, by step and token; Enter goes to one."""

    def __init__(self, marks: tuple[int, ...], tokens: tuple[str, ...] | None, t: int) -> None:
        super().__init__()
        self.marks, self.tokens, self.t = marks, tokens, t

    def compose(self) -> ComposeResult:
        options = []
        for k in self.marks:
            token = f"  {display(self.tokens[k])}" if self.tokens is not None else ""
            options.append(Option(Text(f"step {k + 1}{token}"), id=str(k)))
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text(f"Bookmarks ({len(self.marks)})"), classes="dialog-title")
            yield OptionList(*options, id="marks")
            yield Static(Text("Enter: go there   m: mark or unmark the step in view   Esc: cancel"),
                         classes="dialog-hint")  # fmt: skip

    def on_mount(self) -> None:
        marks = self.query_one(OptionList)
        later = [n for n, k in enumerate(self.marks) if k >= self.t]
        marks.highlighted = later[0] if later else len(self.marks) - 1

    @on(OptionList.OptionSelected, "#marks")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(int(event.option.id))


class SaveDialog(_Dialog):
    """A path to save the trace to, with its bookmarks and watches; an existing file is
    replaced only after a second Enter on the same name (the engine refuses otherwise)."""

    def __init__(self, default: str, what: str) -> None:
        super().__init__()
        self.default, self.what = default, what
        self._confirmed: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(Text(f"Save the trace with {self.what}"), classes="dialog-title")
            yield Input(value=self.default, id="path")
            yield Static("", id="error", classes="dialog-error")
            yield Static(Text("A .npz trace file (lstm-tui opens it read-only, marks and watches "
                              "included).\nEnter: save   Esc: cancel"), classes="dialog-hint")  # fmt: skip

    @on(Input.Changed, "#path")
    def _changed(self) -> None:
        self._confirmed = None
        self._say("")

    @on(Input.Submitted, "#path")
    def _submit(self, event: Input.Submitted) -> None:
        path = event.value.strip()
        if not path:
            self._say("Type a file name, or press Esc.")
            return
        if os.path.lexists(path) and self._confirmed != path:
            if not Path(path).is_file() or Path(path).is_symlink():
                self._say(f"{safe_line(path, 200)} exists and is not a regular file: "
                          "choose another name.")  # fmt: skip
                return
            self._confirmed = path
            self._say(f"{safe_line(path, 200)} exists: press Enter again to replace it, "
                      "or change the name.")  # fmt: skip
            return
        self.dismiss((path, self._confirmed == path))
