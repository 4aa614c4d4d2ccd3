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
from textual.widgets import Footer, LoadingIndicator, ProgressBar, Static

from ..text import safe_line


#: How much of an error message the error screen shows (the whole of it goes to stderr).
MESSAGE_LIMIT = 2000


class LoadingScreen(Screen):
    """Shown while the model loads and the input is traced, or a corpus is recorded.

    Keys typed meanwhile (a user who knows the model presses → three times
    before it has loaded) are kept, and the app replays them on the debugger.
    A corpus recording shows a progress bar (`progress`), and ctrl+c sets
    `stop`: the recorder ends after the input it is on, and the debugger
    opens on what was recorded.
    """

    BINDINGS = [Binding("ctrl+c", "stop", "Stop recording", priority=True)]

    #: Beyond this many, the keys were not meant for the debugger (a stuck key).
    MAX_KEYS = 64

    def __init__(self, what: str, stop=None) -> None:
        """`stop`: the threading.Event a corpus recording watches (None: nothing to stop)."""
        super().__init__()
        self.what = what
        self.stop = stop
        self.pending_keys: list[str] = []

    def on_key(self, event: events.Key) -> None:
        if len(self.pending_keys) < self.MAX_KEYS:
            self.pending_keys.append(event.key)

    def compose(self) -> ComposeResult:
        with Vertical(id="loading-box"):
            yield Static(Text(f"Loading {safe_line(self.what, 50)} …"), id="loading-label")
            yield LoadingIndicator()
            yield ProgressBar(show_eta=True, id="loading-progress")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """ctrl+c stops a recording; while there is none it is the app's (how to quit)."""
        return action != "stop" or self.stop is not None

    def progress(self, done: int, total: int) -> None:
        """`done` of `total` inputs recorded (the recorder's progress, on the UI thread)."""
        self.add_class("-progress")
        self.query_one(ProgressBar).update(total=max(total, 1), progress=done)
        if self.stop is None or not self.stop.is_set():
            self.query_one("#loading-label", Static).update(Text(
                f"Recording {safe_line(self.what, 30)}: {done:,} of {total:,} inputs "
                "· ctrl+c stops, keeping them"))  # fmt: skip

    def on_unmount(self) -> None:
        """Leaving the screen (q quits while it records) stops a recording too: the worker
        thread would otherwise record to the end before the process could exit."""
        if self.stop is not None:
            self.stop.set()

    def action_stop(self) -> None:
        self.stop.set()
        self.query_one("#loading-label", Static).update(Text(
            "Stopping: the inputs recorded so far are kept …"))  # fmt: skip


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
