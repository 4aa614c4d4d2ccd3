"""The dialogs of the "why?" keys: go to a unit by number or name, name a unit, the model's guidance.

Names and descriptions come from a file or the user: every one is shown as
plain Text through safe_line, never as markup. The dialogs validate before
they close, so a name that matches nothing is a message in the dialog.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..explaining import MAX_NAME, NAME_HINT, clean_name, find_unit
from ..text import safe_line


class FindUnitDialog(ModalScreen[int | None]):
    """`u`: a unit number (0-based, as the table lists them) or a unit's name."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, hidden_size: int, unit: int, names: Mapping[int, str]) -> None:
        super().__init__()
        self.hidden_size, self.unit, self.names = hidden_size, unit, names

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            what = " or a name" if self.names else ""
            yield Label(f"Go to unit (0–{self.hidden_size - 1}{what})", classes="dialog-title")
            yield Input(value=str(self.unit), id="unit")
            if self.names:
                shown = ", ".join(f"{u} {n}" for u, n in self.names.items())
                yield Static(Text(safe_line("named: " + shown, 300)), classes="dialog-hint")
            yield Static("", id="error", classes="dialog-error")
            yield Static("Enter: select   Esc: cancel", classes="dialog-hint")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        got = find_unit(event.value, self.names, self.hidden_size)
        if isinstance(got, str):
            self.query_one("#error", Static).update(Text(safe_line(got, 300)))
            return
        self.dismiss(got)

    def action_cancel(self) -> None:
        self.dismiss(None)


class NameUnitDialog(ModalScreen[str | None]):
    """`r`: name the selected unit; an empty name removes it. Dismisses with the name ("" to remove)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, unit: int, name: str) -> None:
        super().__init__()
        self.unit, self.name_ = unit, name

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog", classes="dialog"):
            yield Label(f"Name unit {self.unit}", classes="dialog-title")
            yield Input(value=self.name_, id="name", max_length=MAX_NAME)
            yield Static("", id="error", classes="dialog-error")
            yield Static("Enter: name it (empty: no name; ctrl+s saves names with the trace)   "
                         "Esc: cancel", classes="dialog-hint")  # fmt: skip

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            self.dismiss("")
            return
        name = clean_name(event.value)
        if name is None:
            self.query_one("#error", Static).update(Text(f"A unit's name is {NAME_HINT}."))
            return
        self.dismiss(name)

    def action_cancel(self) -> None:
        self.dismiss(None)


class GuidanceScreen(ModalScreen[None]):
    """`I`: what the model's author says it is for: its description and its named units."""

    BINDINGS = [Binding("escape,q,I", "close", "Close")]

    def __init__(self, model_name: str, description: str, names: Mapping[int, str],
                 focus: int | None) -> None:  # fmt: skip
        super().__init__()
        self.model_name, self.description = model_name, description
        self.names, self.focus = names, focus

    def compose(self) -> ComposeResult:
        with Vertical(id="guidance", classes="dialog"):
            yield Label(Text(f"About {safe_line(self.model_name, 60)}"), classes="dialog-title")
            with VerticalScroll():
                yield Static(guidance_text(self.description, self.names, self.focus), id="about")
            yield Static("Esc: close   u: a unit by name   r: name a unit", classes="dialog-hint")

    def action_close(self) -> None:
        self.dismiss(None)


def guidance_text(description: str, names: Mapping[int, str], focus: int | None) -> Text:
    """The description (the file's, as plain text) and the named units."""
    out = Text()
    desc = " ".join(str(description or "").split())
    out.append(safe_line(desc, 4000) if desc else "The model carries no description.")
    if focus is not None:
        out.append(f"\n\nThe debugger opened on unit {focus}, the one the model points at.")
    if names:
        out.append("\n\nNamed units:")
        for u, n in names.items():
            out.append(f"\n  {u:>4}  ")
            out.append(safe_line(n, 40))
    else:
        out.append("\n\nNo unit is named yet: r names the selected one.")
    return out
