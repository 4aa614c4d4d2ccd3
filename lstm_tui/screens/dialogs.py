"""The two small dialogs: edit the input text, go to a step.

Both validate before they close, so a typo gets a message in the dialog
instead of a failed re-run behind it.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from lstm_engine import EngineError

from ..source import Source


class EditInputDialog(ModalScreen[str | None]):
    """Type a new sentence; Enter re-runs the model on it, Escape cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, source: Source) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        model = self.source.model
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Edit the input of {self.source.name} and re-run", classes="dialog-title")
            yield Input(value=self.initial_text(), id="text", select_on_focus=False)
            yield Static("", id="error", classes="dialog-error")
            hint = "Enter: re-run   Esc: cancel"
            vocab = getattr(model, "vocab", None)
            if vocab:
                unk = getattr(model, "unk", None)
                hint += f"   vocabulary: {len(vocab)} words" + (
                    f", unknown words become {unk}" if unk else ", unknown words are refused"
                )
            yield Static(hint, classes="dialog-hint")

    def initial_text(self) -> str:
        if self.source.text is not None:
            return self.source.text
        tokens = self.source.trace.tokens or ()
        sep = "" if getattr(self.source.model, "tokenizer", "words") == "chars" else " "
        return sep.join(tokens)

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        text = event.value
        try:
            self.source.model.tokenize(text)
        except EngineError as e:
            self.query_one("#error", Static).update(str(e))
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GoToStepDialog(ModalScreen[int | None]):
    """Type a step number (1-based, as in the header); Enter jumps there."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, T: int, t: int) -> None:
        super().__init__()
        self.T = T
        self.t = t

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Go to step (1–{self.T})", classes="dialog-title")
            yield Input(value=str(self.t + 1), type="integer", id="step")
            yield Static("", id="error", classes="dialog-error")
            yield Static("Enter: go   Esc: cancel", classes="dialog-hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        try:
            step = int(event.value)
        except ValueError:
            step = 0
        if not 1 <= step <= self.T:
            self.query_one("#error", Static).update(f"Enter a step between 1 and {self.T}.")
            return
        self.dismiss(step - 1)

    def action_cancel(self) -> None:
        self.dismiss(None)
