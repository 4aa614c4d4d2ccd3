"""The small dialogs: edit the input text, go to a step (a unit, by number or name: explain_dialogs).

Both validate before they close, so a typo gets a message in the dialog
instead of a failed re-run behind it. Every string from the file (the
model's name, its unknown token) and every message quoting the user's text
is shown as plain Text through safe_line: `[/]` typed or stored is just
three characters.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static, TextArea

from lstm_engine import EngineError

from ..source import Source
from ..text import display, safe_line

#: The longest input the edit dialog re-runs the model on, in characters: a pasted
#: book would need gigabytes for its trace (every quantity at every step).
MAX_INPUT_CHARS = 20_000
#: How much of an error message the dialog shows (it quotes the user's text).
MESSAGE_LIMIT = 400
#: Up to this many tokens, the edit dialog lists the whole vocabulary it accepts.
SMALL_VOCAB = 60


class EditInputDialog(ModalScreen[str | None]):
    """Type a new input; Enter (ctrl+s for multi-line text) re-runs the model, Escape cancels.

    A character-level model reads newlines as characters, so it gets a
    multi-line TextArea where they can be typed and shown; a word model gets a
    one-line Input, in which the text's line breaks (which a word tokenizer
    reads as spaces) are shown as spaces rather than printed raw.
    """

    BINDINGS = [
        # priority: a TextArea would take Escape for itself (to leave the widget)
        Binding("escape", "cancel", "Cancel", priority=True),
        Binding("ctrl+s", "submit", "Re-run", priority=True),
    ]

    def __init__(self, source: Source, *, title: str | None = None) -> None:
        super().__init__()
        self.source = source
        self.title_text = title
        """The dialog's title (the debugger's B asks for a second input with this dialog)."""

    @property
    def chars(self) -> bool:
        return self.source.tokenizer == "chars"

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            title = self.title_text or f"Edit the input of {safe_line(self.source.name, 60)} and re-run"
            yield Label(Text(title), classes="dialog-title")
            if self.chars:
                yield TextArea(self.initial_text(), id="text", soft_wrap=True, show_line_numbers=False)
            else:
                text = " ".join(self.initial_text().splitlines())
                yield Input(value=text, id="text", select_on_focus=False)
            yield Static("", id="error", classes="dialog-error")
            keys = "ctrl+s: re-run   Enter: new line" if self.chars else "Enter: re-run"
            select = _key_for(TextArea if self.chars else Input, "select_all")
            clear = f"   {select} then Backspace: select all and clear" if select else ""
            hint = f"{keys}   Esc: cancel{clear}"
            yield Static(Text(hint), classes="dialog-hint")
            words = vocabulary_hint(self.source)
            if words:
                yield Static(Text(words), id="vocabulary", classes="dialog-hint")

    def initial_text(self) -> str:
        if self.source.text is not None:
            return self.source.text
        tokens = self.source.trace.tokens or ()
        sep = "" if self.chars else " "
        return sep.join(tokens)

    @on(Input.Submitted, "#text")
    def _submit(self, event: Input.Submitted) -> None:
        self._try(event.value)

    def action_submit(self) -> None:
        widget = self.query_one("#text")
        self._try(widget.text if isinstance(widget, TextArea) else widget.value)

    def _try(self, text: str) -> None:
        if len(text) > MAX_INPUT_CHARS:
            self._error(
                f"The text is {len(text):,} characters long; the edit dialog re-runs the model "
                f"on at most {MAX_INPUT_CHARS:,}: shorten it."
            )
            return
        try:
            self.source.check_text(text)
        except EngineError as e:
            self._error(str(e))
            return
        self.dismiss(text)

    def _error(self, message: str) -> None:
        """Show why the text cannot be re-run, as plain text (it may quote the user's input)."""
        self.query_one("#error", Static).update(Text(safe_line(message, MESSAGE_LIMIT)))

    def action_cancel(self) -> None:
        self.dismiss(None)


class _NumberDialog(ModalScreen[int | None]):
    """Type a number between `first` and `first + count - 1`; Enter dismisses with its index.

    Steps are shown 1-based and units 0-based, as the header and the table
    number them; `first` is that base, and the dialog returns the 0-based index.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    WHAT = "number"
    ACTION = "go"

    def __init__(self, count: int, index: int, first: int) -> None:
        super().__init__()
        self.count, self.index, self.first = count, index, first

    def compose(self) -> ComposeResult:
        last = self.first + self.count - 1
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Go to {self.WHAT} ({self.first}–{last})", classes="dialog-title")
            yield Input(value=str(self.index + self.first), type="integer", id=self.WHAT)
            yield Static("", id="error", classes="dialog-error")
            yield Static(f"Enter: {self.ACTION}   Esc: cancel", classes="dialog-hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            index = int(event.value) - self.first
        except ValueError:
            index = -1
        if not 0 <= index < self.count:
            last = self.first + self.count - 1
            self.query_one("#error", Static).update(
                Text(f"Enter a {self.WHAT} between {self.first} and {last}.")
            )
            return
        self.dismiss(index)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GoToStepDialog(_NumberDialog):
    """A step number, 1-based as in the header; returns the 0-based step."""

    WHAT = "step"

    def __init__(self, T: int, t: int) -> None:
        super().__init__(T, t, first=1)


def vocabulary_hint(source: Source) -> str:
    """What the input may hold, for the edit dialog: every token of a small vocabulary
    (shown as the strip shows them: ⏎, ␣), or for a large one the count and where the
    whole list is; what an unknown word becomes. "" without a vocabulary."""
    vocab = source.vocab
    if not vocab:
        return ""
    what = "characters" if source.tokenizer == "chars" else "words"
    unk = source.unk
    unknown = (f"unknown {what} become {safe_line(display(unk), 40)}" if unk
               else f"unknown {what} are refused")  # fmt: skip
    if len(vocab) <= SMALL_VOCAB:
        listed = " ".join(safe_line(display(w), 24) for w in vocab)
        return f"accepts {len(vocab)} {what}: {listed}  ({unknown})"
    if source.live is not None:  # debug(): the vocabulary is the caller's own vocab=
        where = "the vocab= you passed to debug() lists them"
    else:
        where = "`lstm-tui info MODEL --list-vocab` lists them all, ? (help) the first few"
    return f"vocabulary: {len(vocab)} {what} ({unknown}); {where}"


def _key_for(widget: type, action: str) -> str | None:
    """The key a Textual widget binds to `action`, read from its bindings (so the hint
    follows Textual if it changes the key), as a user types it."""
    for binding in widget.BINDINGS:
        if isinstance(binding, Binding) and binding.action == action:
            return binding.key.split(",")[0].replace("f7", "F7")
    return None
