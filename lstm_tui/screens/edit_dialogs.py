"""The what-if dialog: type an edit in the engine's edit syntax, see it checked as you type.

    c[11] = 0 at 6      h[11] = 0.5 at 6     c[:] = 0 at 6
    f[3] = 1 at 6       f[3] = 1 from 6      ablate 11      ablate 11 from 6
    token 6 = Spain     L2.rev.c[3] = 0 at 4

Steps are the screen's (1..T); without an L…/rev prefix the edit is on the
layer and direction in view. The engine parses (`lstm_engine.parse_edit`):
a mistake is its one line with a caret under the column it names, shown
while typing, and Enter does nothing until the edit parses. What the user
typed is shown only as plain Text.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from lstm_engine import EditSyntaxError, EngineError, InputError

from ..text import safe_line
from ..whatif import describe, parse

#: How much of the engine's message the dialog shows.
MESSAGE_LIMIT = 300
#: Longest edit the dialog takes, in characters (an edit is one short line).
MAX_EDIT_CHARS = 200

EXAMPLES = "c[11] = 0 at 6 · f[3] = 1 from 6 · ablate 11 from 6 · token 6 = Spain"


#: Cells between the Input's left edge and its first character (its border and padding), so
#: that the caret line below it points at the column the engine names.
INPUT_INSET = 3


class EditDialog(ModalScreen[object]):
    """Type one edit; Enter makes the branch (dismisses with the parsed edit), Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source, initial: str, *, layer: int = 0, direction: int = 0,
                 where: str = "") -> None:  # fmt: skip
        super().__init__()
        self.source = source
        self.initial = initial
        self.edit_layer, self.edit_direction = layer, direction
        self.where = where
        self.edit = None
        """The edit the text parses to, or None while it does not."""

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            title = "What if: edit this run (a new branch; the trace in view is kept)"
            yield Label(Text(title), classes="dialog-title")
            yield Input(value=self.initial, id="edit", select_on_focus=False)
            yield Static("", id="caret", classes="dialog-error")
            yield Static("", id="error", classes="dialog-error")
            yield Static("", id="preview", classes="dialog-hint")
            hint = f"Enter: apply   Esc: cancel   {self.where}\ne.g. {EXAMPLES}"
            yield Static(Text(hint), classes="dialog-hint")

    def on_mount(self) -> None:
        self._check(self.initial)

    @on(Input.Changed, "#edit")
    def _changed(self, event: Input.Changed) -> None:
        self._check(event.value)

    def _check(self, text: str) -> None:
        """Parse as the user types: the error and its caret, or what the edit will do."""
        caret, error, preview = "", "", ""
        self.edit = None
        if len(text) > MAX_EDIT_CHARS:
            error = f"An edit is one short line (at most {MAX_EDIT_CHARS} characters)."
        else:
            try:
                self.edit = parse(text, self.source, layer=self.edit_layer,
                                  direction=self.edit_direction)
            except EditSyntaxError as e:  # its message, and a caret under the column it names
                error = safe_line(e.message, MESSAGE_LIMIT)
                caret = " " * INPUT_INSET + e.caret_lines()[1]
            except InputError as e:  # the model's (a token outside its vocabulary)
                error = safe_line(str(e), MESSAGE_LIMIT)
            except EngineError as e:
                error = safe_line(str(e), MESSAGE_LIMIT)
            else:
                preview = "→ " + safe_line(describe(self.edit), MESSAGE_LIMIT)
        self.query_one("#caret", Static).update(Text(caret))
        self.query_one("#error", Static).update(Text(error))
        self.query_one("#preview", Static).update(Text(preview))

    @on(Input.Submitted, "#edit")
    def _submit(self, event: Input.Submitted) -> None:
        self._check(event.value)
        if self.edit is not None:
            self.dismiss(self.edit)

    def action_cancel(self) -> None:
        self.dismiss(None)
