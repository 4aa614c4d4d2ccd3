"""The lstm-tui App: screens, global keys, and the two ways in — `run()` and `debug()`.

The app paints a loading screen at once and builds its Source (torch import,
model load, trace) in a worker thread; then it switches to the debugger, or
to an error screen whose quit exits non-zero. A loader with a `progress`
attribute (a corpus recording, lstm_tui.corpus_view.CorpusRecording) gets a
callback for each input recorded, shown as a progress bar, and one with a
`stop` event is stopped by ctrl+c on the loading screen. No traceback ever reaches the
terminal from a load, and none from a bug either: an unhandled exception in
the UI ends the app with exit status 1 and one `lstm-tui: error: internal
error: …` line on stderr (LSTM_TUI_DEBUG=1 shows Textual's traceback instead).
"""

from __future__ import annotations

import os
import sys
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from lstm_engine import EngineError

from .screens.status import ErrorScreen, LoadingScreen
from .threads import share_cores
from .text import safe_line

if TYPE_CHECKING:
    from .source import Source

# numpy, the engine and the debugger screen are imported when first needed (in the
# loading worker), so the loading screen paints after importing Textual alone.


class LstmTuiApp(App[int]):
    """Step through an LSTM's memory."""

    CSS_PATH = "lstm_tui.tcss"
    TITLE = "lstm-tui"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(
        self, source: Source | None = None, *, loader: Callable[[], Source] | None = None,
        what: str = "model", compare: Any = None,
    ) -> None:  # fmt: skip
        """`compare`: a whatif.Comparison of the source with a second trace to open on."""
        super().__init__()
        self._compare = compare
        if (source is None) == (loader is None):
            raise ValueError("give exactly one of source or loader")
        self._source = source
        self._loader = loader
        self._what = what
        self.exit_status = 0
        """0, or non-zero once a load failed (what run() returns)."""
        self.error: str | None = None
        """Why the load failed, repeated on stderr once the screen is gone."""

    def on_mount(self) -> None:
        self._threads_back = share_cores()
        if self._source is not None:
            from .screens.debugger import DebuggerScreen

            self.push_screen(DebuggerScreen(self._source, self._compare))
        else:
            loading = LoadingScreen(self._what, stop=getattr(self._loader, "stop", None))
            self.push_screen(loading)
            self._load(loading)

    @work(thread=True, exclusive=True, group="load")
    def _load(self, loading: LoadingScreen) -> None:
        from .opening import source_or_error
        # numpy and the engine are imported here, off the UI thread
        from .screens import debugger  # noqa: F401
        from .stepdata import measure

        if hasattr(self._loader, "progress"):  # a corpus recording reports each input
            self._loader.progress = lambda done, total: self.call_from_thread(
                loading.progress, done, total)  # fmt: skip

        def load() -> Source:
            source = self._loader()
            # the table's widths and colours: a trace recorded just now is measured here,
            # not on the UI thread at first paint (a trace file has them saved)
            others = (self._compare.a, self._compare.b) if self._compare is not None else ()
            for shown in (source, *others):  # a trace measured already costs a lookup
                measure(shown.trace)
            return source

        source, error, status = source_or_error(load)
        self.call_from_thread(self._loaded, source, error, status)

    def _loaded(self, source: Source | None, error: str | None, status: int) -> None:
        if source is not None:
            from .screens.debugger import DebuggerScreen

            keys = self.screen.pending_keys if isinstance(self.screen, LoadingScreen) else []
            self.switch_screen(DebuggerScreen(source, self._compare))
            if keys:  # typed during loading: they were meant for the debugger
                self.call_after_refresh(self._replay, keys)
        else:
            self.exit_status = status
            self.error = error
            self.switch_screen(ErrorScreen(f"Could not open {self._what}", error))

    def on_unmount(self) -> None:
        self._threads_back()

    def _replay(self, keys: list[str]) -> None:
        for key in keys:
            self.simulate_key(key)

    def _handle_exception(self, error: Exception) -> None:
        """A bug in the UI: exit 1 with one line on stderr, not exit 0 under a traceback.

        Textual has no public hook for an unhandled exception, so this overrides
        its private one. Under a test (headless) or with LSTM_TUI_DEBUG=1 it then
        defers to Textual, which keeps the traceback (and re-raises it in a test).
        """
        self.exit_status = 1
        if self.error is None:
            self.error = (f"internal error: {type(error).__name__}: {error} "
                          "(set LSTM_TUI_DEBUG=1 for the traceback)")  # as the CLI says it
        if self.shows_tracebacks():
            super()._handle_exception(error)
            return
        self.bell()
        self.exit(1, return_code=1)
        self._close_messages_no_wait()  # as Textual's handler does: its message loop may be gone

    def shows_tracebacks(self) -> bool:
        """Does a bug end in Textual's traceback (tests, LSTM_TUI_DEBUG=1) or in one line?"""
        return self.is_headless or bool(os.environ.get("LSTM_TUI_DEBUG"))

    def save_screenshot(self, path: str | os.PathLike = ".", *, filename: str | None = None
                        ) -> Path | None:  # fmt: skip
        """Save the screen as SVG through the engine's exclusive writer, and say where it went
        or why it did not (Textual's own command saves silently, or fails silently).

        `path` is a folder (the file is named after the title and the time) or the file
        itself; an existing file is never replaced. `filename` names the file in the folder
        `path` (Textual's keyword, for its TEXTUAL_SCREENSHOT run).
        """
        from lstm_engine import write_file

        svg = self.export_screenshot().encode("utf-8")
        target = Path(path).expanduser()
        if filename is not None or target.is_dir():
            target = target / (filename or screenshot_name(self.title or "lstm-tui", datetime.now()))
        try:
            written = write_file(target, lambda fh: fh.write(svg))
        except (OSError, EngineError) as e:
            self.notify(safe_line(f"Screenshot not saved: {e}"), severity="error", markup=False)
            return None
        self.notify(safe_line(f"Screenshot saved to {written.resolve()}"), title="Screenshot",
                    markup=False)  # fmt: skip
        return written

    def action_screenshot(self, filename: str | None = None, path: str | None = None) -> None:
        """Textual's `screenshot` action, through save_screenshot: Textual's delivers to the
        user's download folder (textual PR #4953), and says nothing when that folder does not
        exist; here it is the current folder (or `path`), exclusive, and the note says where."""
        self.save_screenshot(path or ".", filename=filename)

    async def action_quit(self) -> None:
        self.exit(self.exit_status, return_code=self.exit_status)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        from .screens.debugger import DebuggerScreen

        debugger = isinstance(screen, DebuggerScreen)
        for command in super().get_system_commands(screen):
            if command.title == "Screenshot":
                yield SystemCommand("Screenshot", "Save an SVG of the screen in the current folder",
                                    self.save_screenshot)  # fmt: skip
            elif not (debugger and command.title in ("Quit", "Keys")):  # the debugger's own keys say it
                yield command
        if debugger:
            from .screens.debugger import always

            for b in screen.KEYS:  # run as the key does, even when the footer hides it
                keys = b.key_display or b.key
                yield SystemCommand(
                    b.tooltip or b.description, f"Debugger key: {keys}",
                    partial(screen.run_action, always(b.action)),
                )


def screenshot_name(title: str, when: datetime) -> str:
    """The file a screenshot goes to: the app's title and the time, safe as a file name."""
    stem = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in title)[:40] or "lstm-tui"
    return f"{stem}_{when:%Y-%m-%dT%H_%M_%S}.svg"


def run(
    path: str, *, text: str | None = None, input_path: str | None = None, trust: bool = False,
    lstm: str | None = None, batch_index: int = 0, example: int | None = None,
    inputs: list[str] | None = None,
) -> int:  # fmt: skip
    """Open the debugger on a model or trace file; returns the exit status (2 after an error).

    `example` is 1-based, as `lstm-tui info` numbers a model's examples; `inputs` are
    `--input` values (X.npy, NAME=X.npy, FILE.npz) for a model with several inputs.
    """
    from .opening import open_path

    loader = partial(open_path, path, text=text, input_path=input_path, trust=trust,
                     lstm=lstm, batch_index=batch_index, example=example, inputs=inputs)  # fmt: skip
    return run_loader(loader, Path(path).name)


def run_loader(loader: Callable[[], Source], what: str) -> int:
    """The app on what `loader` builds in its loading worker (a file opened, a corpus recorded:
    lstm_tui.corpus_view.run_corpus); the exit status, with a failed load's reason on stderr."""
    from .terminal import drawn_on_terminal

    app = LstmTuiApp(loader=loader, what=what)
    with drawn_on_terminal():  # the terminal's size even with stdout piped
        app.run()
    if app.error:  # the error screen is gone with the app; leave the reason in the scrollback
        message = safe_line(" ".join(app.error.split()))  # one safe line, whatever it quoted
        sys.stderr.write(f"lstm-tui: error: {message}\n")
    return app.exit_status


#: debug()'s own keyword arguments; any other keyword goes to the model's forward
DEBUG_OPTIONS = ("h0", "c0", "tokens", "labels", "output", "output_kind", "lstm", "name", "vocab",
                 "tokenizer", "unk")  # fmt: skip


def debug(model_or_lstm: Any, *args: Any, **kwargs: Any) -> int:
    """Open the debugger on a live model from Python, the way breakpoint() opens pdb.

    `model_or_lstm` may be a torch nn.Module containing an nn.LSTM or nn.LSTMCell (run
    once as `model(*args, **forward_kwargs)`, with hooks capturing what its LSTM reads,
    so `debug(model, input, hidden)` or `debug(model, x, lengths=l)` work as the model is
    called), an nn.LSTM, an LSTMSpec, a model from lstm_engine.load, or a Trace.
    debug()'s own keyword arguments (DEBUG_OPTIONS): h0, c0, tokens, labels, output,
    output_kind, lstm (which LSTM), name, and for text: vocab (word→id dict, or words in
    id order), tokenizer ("words" or "chars") and unk (the unknown token, if the
    vocabulary has one); every other keyword argument is passed to the model's forward.
    Returns the exit status when the user quits. Given text and vocab=, `e` edits the
    text and runs the model again (same vocabulary, same other arguments).

    The model is run before the screen opens, so what a script got wrong (text
    without vocab=, a shape, an unknown word) raises here, to the caller, as
    an lstm_engine.InputError/EngineError, instead of a dialog and a silent 2.
    """
    from .opening import from_live

    options = {k: v for k, v in kwargs.items() if k in DEBUG_OPTIONS}
    forward_kwargs = {k: v for k, v in kwargs.items() if k not in DEBUG_OPTIONS}
    inputs, rest = (args[0], args[1:]) if args else (None, ())
    source = from_live(model_or_lstm, inputs, args=tuple(rest), forward_kwargs=forward_kwargs,
                       **options)  # fmt: skip
    from .stepdata import measure
    from .terminal import drawn_on_terminal

    measure(source.trace)  # before the screen opens, as the loading worker does
    app = LstmTuiApp(source)
    with drawn_on_terminal():  # a script's stdout may be piped (| tee log): the real size
        app.run()
    return app.exit_status
