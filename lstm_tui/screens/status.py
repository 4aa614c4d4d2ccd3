"""LoadingScreen and ErrorScreen: what shows before there is a trace, or instead of one.

The loading screen paints at once while torch and the model load in a
worker; the error screen shows a load failure as one readable message (never
a traceback) and the app then exits non-zero. The file's name and the
message (which may quote the file) are plain Text through safe_line: never
markup, never a terminal escape.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, LoadingIndicator, Static

from ..text import safe_line


#: How much of an error message the error screen shows (the whole of it goes to stderr).
MESSAGE_LIMIT = 2000


class LoadingScreen(Screen):
    """Shown while the model loads and the input is traced.

    Keys typed meanwhile (a user who knows the model presses → three times
    before it has loaded) are kept, and the app replays them on the debugger.
    """

    #: Beyond this many, the keys were not meant for the debugger (a stuck key).
    MAX_KEYS = 64

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what
        self.pending_keys: list[str] = []

    def on_key(self, event: events.Key) -> None:
        if len(self.pending_keys) < self.MAX_KEYS:
            self.pending_keys.append(event.key)

    def compose(self) -> ComposeResult:
        with Vertical(id="loading-box"):
            yield Static(Text(f"Loading {safe_line(self.what, 50)} …"), id="loading-label")
            yield LoadingIndicator()
        yield Footer()


class ErrorScreen(Screen):
    """A load failure, in words; q quits with a non-zero status."""

    BINDINGS = [Binding("q,escape,enter", "app.quit", "Quit")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="error-box", classes="dialog"):
            yield Static(Text(safe_line(self.title_text, 70)), classes="dialog-title")
            yield Static(Text(safe_line(self.message, MESSAGE_LIMIT)), id="error-message")
            yield Static("Press q to quit.", classes="dialog-hint")
        yield Footer()
