"""The debugger on hostile strings: markup and terminal control from a file render literally.

A checkpoint (and a trace) whose every string field (name, description,
vocabulary, unknown token, labels, examples, module names, meta) is Textual
click markup, Rich styles and links, and terminal escapes (OSC 0/2/52,
ESC[2J, SGR, C1 CSI, U+202E) is opened in the real app: the screen shows the
brackets as text, carries no click action or hyperlink from the file and no
ESC, C1 or bidi control, and clicking every cell where the markup shows
creates no file. The same for the help screen, the edit dialog (markup typed
by the user), the loading and error screens, and notifications; and a
failure in a worker or in the UI itself never ends in a traceback.
"""

from __future__ import annotations

import asyncio
from functools import partial
from pathlib import Path

import pytest
from textual.binding import Binding

import hostile_cli as hc
import hostile_files as hf
from lstm_engine import LoadError
from lstm_tui.app import LstmTuiApp
from lstm_tui.opening import open_path
from lstm_tui.screens.dialogs import MAX_INPUT_CHARS, EditInputDialog
from lstm_tui.screens.help import HelpScreen, model_rows
from lstm_tui.screens.status import ErrorScreen, LoadingScreen
from lstm_tui.source import Source

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"
SIZE = (160, 48)
#: what the markup builders put in every field (hf.click_markup and the description's styles)
LITERALS = ("[@click=app.screenshot(", "see-docs[/]")


class NotingApp(LstmTuiApp):
    """The app, keeping every notification it shows (message, title, markup flag)."""

    CSS_PATH = ROOT / "lstm_tui" / LstmTuiApp.CSS_PATH

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.notes: list[tuple[str, str, bool]] = []

    def notify(self, message, *, title: str = "", markup: bool = True, **kwargs):
        self.notes.append((str(message), str(title), markup))
        return super().notify(message, title=title, markup=markup, **kwargs)


def _screen(app) -> list[tuple[str, list]]:
    """The whole screen as the compositor draws it: (text, segments) per line."""
    return [(strip.text, list(strip)) for strip in app.screen._compositor.render_strips()]


def _text(app) -> str:
    return "\n".join(t for t, _ in _screen(app))


def _problems(lines) -> list[str]:
    """Click actions or hyperlinks from the file, and terminal control, anywhere on screen."""
    found = []
    for y, (text, segments) in enumerate(lines):
        for seg in segments:
            meta = seg.style.meta if seg.style is not None else {}
            if meta and "@click" in meta and "screenshot" in str(meta["@click"]):
                found.append(f"line {y}: a click action from the file: {meta['@click']!r}")
            link = seg.style.link if seg.style is not None else None
            if link:
                found.append(f"line {y}: a hyperlink from the file: {link!r}")
        bad = sorted({f"U+{ord(c):04X}" for c in text if ord(c) in hc.BAD or ord(c) < 0x20})
        if bad:
            found.append(f"line {y}: terminal control {bad} in {text!r}")
    return found


async def _click_every(pilot, needle: str) -> int:
    """Click every cell of the screen where `needle` is drawn; how many places there were."""
    clicks = 0
    for y, (text, _) in enumerate(_screen(pilot.app)):
        x = text.find(needle)
        while x >= 0:
            for dx in range(len(needle)):
                await pilot.click(offset=(x + dx, y))
            clicks += 1
            x = text.find(needle, x + 1)
    await pilot.pause()
    return clicks


def _untouched(tmp_path, victims) -> None:
    for p, content in victims.items():
        assert p.read_bytes() == content, f"{p} was overwritten"
    assert sorted(q.name for q in (tmp_path / "victims").iterdir()) == ["notes.txt", "victim.txt"]


@pytest.mark.parametrize("which", ["checkpoint", "trace"])
async def test_markup_in_every_field_is_literal_and_clicking_it_does_nothing(tmp_path, which):
    victims = hc.victims(tmp_path / "victims")
    build = hf.hostile_strings_checkpoint if which == "checkpoint" else hf.hostile_strings_trace
    path = build(tmp_path, tmp_path / "victims")
    app = NotingApp(loader=partial(open_path, str(path)), what=path.name)
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.error is None, app.error
        assert _problems(_screen(app)) == []
        header = _screen(app)[0][0]
        assert LITERALS[0] in header  # the name, shown as the text it is
        assert await _click_every(pilot, "[@click") >= 3  # header, strip, output labels
        for step in ("right", "right", "x"):
            await pilot.press(step)
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert _problems(_screen(app)) == []
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        assert _problems(_screen(app)) == []
        await pilot.press("end")  # the model's own section, at the end of the help
        await pilot.pause()
        help_text = " ".join(_text(app).split())
        assert LITERALS[0] in help_text and "This model" in help_text
        assert _problems(_screen(app)) == []
        rows = dict(model_rows(app.screen.source))  # what the help's model table shows, as Text
        assert LITERALS[0] in rows["name"] and "\\x1b]0;PWNED-title" in rows["name"]
        if which == "checkpoint":  # description, vocabulary, unk, labels, examples, module names
            assert "[b]bold[/b] [link=https://x]l[/link]" in rows["description"]
            assert "[link=https://x]" in help_text
            for what, literal in [("LSTMs", "lstm\\x1b]0;PWNED"), ("embedding", "emb\\x1b]0;"),
                                  ("head", "head\\x1b]0;"), ("unknown token", "unk\\x1b]0;"),
                                  ("vocabulary", LITERALS[0]), ("labels", LITERALS[0]),
                                  ("example 1", LITERALS[0]), ("example 2", "[/] nope")]:
                assert literal in rows[what], (what, rows[what])
        assert await _click_every(pilot, "[@click") >= 1
        await pilot.press("escape")
        await pilot.pause()
        assert _problems(_screen(app)) == []
        if which == "checkpoint":  # the edit dialog: the model's name and the example's text
            await pilot.press("e")
            await pilot.pause()
            assert isinstance(app.screen, EditInputDialog)
            assert _problems(_screen(app)) == [] and LITERALS[0] in _text(app)
            await pilot.press("escape")
            await pilot.pause()
        assert app.notes and all(not markup for _, _, markup in app.notes)
    _untouched(tmp_path, victims)


async def _type(pilot, text: str) -> None:
    names = {"[": "left_square_bracket", "]": "right_square_bracket", "/": "slash", "@": "at",
             "=": "equals_sign", ".": "full_stop", " ": "space"}  # fmt: skip
    for ch in text:
        await pilot.press(ch if ch.isalnum() else names.get(ch, ch))


@pytest.mark.parametrize("typed", ["[/]", "[@click=app.quit]x[/]", "[bold red]x[/]"])
async def test_markup_typed_in_the_edit_dialog_is_literal(typed):
    """`e`, then markup: the dialog refuses it in one literal line, never a MarkupError."""
    app = NotingApp(loader=partial(open_path, str(TAGGER)), what="tagger.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        await _type(pilot, typed)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.error is None
        assert isinstance(app.screen, EditInputDialog)  # not in the vocabulary: refused in it
        error = str(app.screen.query_one("#error").render())
        assert all(word in error for word in typed.split()), error
        assert _problems(_screen(app)) == []
        await _click_every(pilot, "x[/]")
        assert app.return_code is None and app.is_running  # [@click=app.quit] did not quit


async def test_a_huge_paste_into_the_edit_dialog_is_refused_in_words():
    """1.1 million characters: a message in the dialog, no re-run (no MemoryError worker)."""
    app = NotingApp(loader=partial(open_path, str(TAGGER)), what="tagger.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        before = app.screen.source
        await pilot.press("e")
        await pilot.pause()
        app.screen.query_one("#text").value = "the " * 275_000
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, EditInputDialog)
        message = str(app.screen.query_one("#error").render())
        assert "1,100,000 characters" in message and f"at most {MAX_INPUT_CHARS:,}" in message
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.source is before and app.error is None


@pytest.mark.parametrize("failure", [MemoryError, RuntimeError])
async def test_a_worker_failure_is_a_message_not_the_end_of_the_app(monkeypatch, failure):
    def broken(self, text):
        raise failure("[/] \x1b]0;PWNED\x07")

    monkeypatch.setattr(Source, "retrace", broken)
    app = NotingApp(loader=partial(open_path, str(TAGGER)), what="tagger.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        before = app.screen.source
        await pilot.press("e")
        await pilot.pause()
        await pilot.press("enter")  # the example's text, unchanged: re-run
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.is_running and app.error is None and app.screen.source is before
        (message, title, markup), = [n for n in app.notes if n[1] == "Re-run failed"]
        assert not markup and "\x1b" not in message
        if failure is MemoryError:
            assert "not enough memory" in message
        else:
            assert message == "internal error: RuntimeError: [/] \\x1b]0;PWNED\\x07"
        assert _problems(_screen(app)) == []


async def test_the_error_and_loading_screens_show_the_file_literally(tmp_path):
    hostile = f"{hf.click_markup(tmp_path / 'victims')}{hf.ESCAPES}[/]"
    victims = hc.victims(tmp_path / "victims")

    def fail():
        raise LoadError(f"{hostile}: not a model")

    app = LstmTuiApp(loader=fail, what=hostile)
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, (LoadingScreen, ErrorScreen))
        assert _problems(_screen(app)) == []
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, ErrorScreen)
        text = _text(app)
        assert LITERALS[0] in text and "\\x1b]52;c;" in text
        assert _problems(_screen(app)) == []
        assert await _click_every(pilot, "[@click") >= 1
    assert app.error == f"{hostile}: not a model" and app.exit_status == 2
    _untouched(tmp_path, victims)


def test_run_leaves_one_safe_line_on_stderr(monkeypatch, capsys):
    """`run()` after a failed load: one `lstm-tui: error:` line, the escapes shown visibly."""
    import lstm_tui.opening as opening

    def fail(*args, **kwargs):
        raise LoadError("bad \x1b]0;PWNED\x07 [/] file\nsecond line")

    def headless(self, **kwargs):  # what App.run does, without a terminal
        import asyncio

        async def go():
            async with self.run_test():
                await self.workers.wait_for_complete()

        asyncio.run(go())

    monkeypatch.setattr(opening, "open_path", fail)
    monkeypatch.setattr(LstmTuiApp, "run", headless)
    from lstm_tui.app import run

    assert run("model.pt") == 2
    err = capsys.readouterr().err
    assert err == "lstm-tui: error: bad \\x1b]0;PWNED\\x07 [/] file second line\n"


class Crashing(NotingApp):
    """The app with a key that raises, as a bug in a handler would."""

    BINDINGS = [Binding("f9", "crash", priority=True)]

    def shows_tracebacks(self) -> bool:  # as outside a test
        return False

    def action_crash(self) -> None:
        raise ZeroDivisionError("[/] \x1b[2J")


async def test_a_crash_in_the_ui_exits_1_with_one_line_not_a_traceback():
    """Outside a test an unhandled exception ends the app with status 1 and
    the reason in app.error (run() and the CLI write it as one line), no traceback."""
    app = Crashing(loader=partial(open_path, str(TAGGER)), what="tagger.pt")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        app.simulate_key("f9")  # not pilot.press: that would wait for a screen that is gone
        for _ in range(500):
            if app.return_code is not None:
                break
            await asyncio.sleep(0.01)
    assert app.return_code == 1 and app.exit_status == 1
    assert app.error == ("internal error: ZeroDivisionError: [/] \x1b[2J "
                         "(set LSTM_TUI_DEBUG=1 for the traceback)")
