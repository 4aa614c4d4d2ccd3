"""Corpus mode in the debugger: many inputs, stepped through input by input, matched across.

A hand-made corpus of three planted inputs (lstm_engine.Corpus.from_traces): units 3 and 7
switch on over steps 11–15 of input 1 and again over steps 6–9 of input 3. The tests read
the header, the strip, the dialogs and the notes, as a user would; the recording tests run
the real recorder (lstm_engine.record_corpus) on the tagger sample, through the loading
screen, and stop it with ctrl+c as a user would.
"""

from __future__ import annotations

import csv
import threading

import numpy as np
import pytest
from textual.widgets import OptionList

from lstm_engine import Corpus, Trace, load, read_text_inputs
from lstm_tui.corpus_view import CorpusRecording, corpus_source
from lstm_tui.opening import open_path

from test_corpus_pilot import OFF, ON, goto, marked_units
from tui_helpers import RecordingApp, widget_text

SIZE = (120, 36)


def planted_input(T: int, on: tuple[int, int] | None, word: str) -> Trace:
    """T steps of 12 units, all off but units 3 and 7 on over positions [on[0], on[1])."""
    c = np.full((T, 12), OFF)
    if on is not None:
        c[on[0]:on[1], [3, 7]] = ON
    z = np.zeros((1, 1, T, 12))
    return Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, 12)), c0=np.zeros((1, 1, 12)),
                 i=z + 0.5, f=z + 0.5, g=z, o=z + 0.5, c=c[None, None], h=np.tanh(c)[None, None],
                 tokens=tuple(f"{word}{k}" for k in range(T)))  # fmt: skip


def planted_corpus() -> Corpus:
    return Corpus.from_traces([planted_input(20, (10, 15), "a"), planted_input(8, None, "b"),
                               planted_input(12, (5, 9), "c")])  # fmt: skip


def header(app) -> str:
    return widget_text(app.screen.query_one("#header"))


def strip_tokens(app) -> str:
    return widget_text(app.screen.query_one("#strip")).splitlines()[1]


async def test_x_X_and_the_input_list_step_through_a_corpus():
    app = RecordingApp(corpus_source(planted_corpus(), name="planted"))
    async with app.run_test(size=SIZE) as pilot:
        assert "input 1 of 3" in header(app) and "a0" in strip_tokens(app)
        await pilot.press("x")
        await pilot.pause()
        assert "input 2 of 3" in header(app) and "t = 1 / 8" in header(app)
        assert "b0" in strip_tokens(app) and "a0" not in strip_tokens(app)
        await pilot.press("X", "X")  # back past the first: the last
        await pilot.pause()
        assert "input 3 of 3" in header(app) and "c11" in strip_tokens(app)
        await pilot.press("i")
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(k).prompt) for k in range(options.option_count)]
        assert [line.split()[:3] for line in lines] == [["1", "20", "steps"], ["2", "8", "steps"],
                                                        ["▶", "3", "12"]]  # fmt: skip
        assert "b0 b1 b2" in lines[1]
        await pilot.press("up", "enter")
        await pilot.pause()
        assert "input 2 of 3" in header(app)


async def test_match_finds_the_place_in_another_input_and_enter_opens_it():
    app = RecordingApp(corpus_source(planted_corpus(), name="planted"))
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, 11)
        await pilot.press(*["shift+right"] * 4, "M")
        await app.workers.wait_for_complete()
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        lines = [str(options.get_option_at_index(k).prompt) for k in range(options.option_count)]
        assert len(lines) == 1 and lines[0].startswith("  1. input 3, steps 6–9")
        assert "2 of 2 selected on, 0 others" in lines[0] and "⟦c5 c6 c7 c8⟧" in lines[0]
        assert "in 3 inputs" in widget_text(app.screen.query_one(".dialog-title"))
        await pilot.press("enter")
        await pilot.pause()
        assert "input 3 of 3" in header(app) and app.screen.t == 5 and app.screen.unit == 3
        assert marked_units(app.screen) == {3, 7}
        assert [w[1:] for w in strip_tokens(app).split() if w.startswith("≈")] == \
            ["c5", "c6", "c7", "c8"]  # fmt: skip


async def test_a_corpus_file_opens_on_its_first_input(tmp_path):
    path = planted_corpus().save(tmp_path / "corpus.npz")
    src = open_path(str(path))
    assert src.corpus is not None and len(src.corpus) == 3 and src.input == 0
    app = RecordingApp(src)
    async with app.run_test(size=SIZE) as pilot:
        assert "input 1 of 3" in header(app) and "[trace, read-only]" in header(app)
        await pilot.press("x")
        await pilot.pause()
        assert "input 2 of 3" in header(app)
    with pytest.raises(Exception, match="recorded corpus"):
        open_path(str(path), text="a b")


class _Gated:
    """The tagger, but its trace waits for `gate` from the second input on: the test
    decides when the recorder may go on, so ctrl+c lands mid-recording every time."""

    def __init__(self, model, gate: threading.Event) -> None:
        self._model, self._gate, self._calls = model, gate, 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def trace(self, text):
        self._calls += 1
        if self._calls > 1:
            assert self._gate.wait(20)
        return self._model.trace(text)


async def test_recording_shows_progress_and_ctrl_c_keeps_what_was_recorded(tagger_path, tmp_path):
    model = load(tagger_path)
    lines = tmp_path / "inputs.txt"
    lines.write_text("The dog ate the apple\nEverybody read that book\n\nThe dog read that book\n")
    texts = read_text_inputs(lines)
    assert len(texts) == 3
    gate = threading.Event()
    recording = CorpusRecording(_Gated(model, gate), texts, name="tagger")
    app = RecordingApp(loader=recording, what="inputs.txt")
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(100):  # the first input is recorded; the second waits at the gate
            await pilot.pause(0.05)
            if "1 of 3 inputs" in widget_text(app.screen.query_one("#loading-label")):
                break
        assert "1 of 3 inputs · ctrl+c stops, keeping them" in \
            widget_text(app.screen.query_one("#loading-label"))  # fmt: skip
        bar = app.screen.query_one("#loading-progress")
        assert (bar.progress, bar.total) == (1, 3)
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert "Stopping" in widget_text(app.screen.query_one("#loading-label"))
        gate.set()  # the second input finishes; the third is never started
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "input 1 of 2" in header(app)
        assert any("Recording stopped: 2 of 3 inputs recorded" in n.message for n in app.notes)
        src = app.screen.source
        assert src.trace.tokens == model.trace(texts[0]).tokens
        np.testing.assert_array_equal(src.corpus.trace(1).c, model.trace(texts[1]).c)


async def test_export_offers_the_whole_corpus_and_its_rows_say_input_and_step(tmp_path, monkeypatch):
    from test_corpus_pilot import _export

    monkeypatch.chdir(tmp_path)
    corpus = planted_corpus()
    app = RecordingApp(corpus_source(corpus, name="planted"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("x")  # input 2: the per-input export is its 8 steps
        await _export(pilot, "c_t over the whole sequence")
        rows = list(csv.reader((tmp_path / "planted_input2_L1_c.csv").open()))
        assert len(rows) == 1 + 8 and rows[1][:2] == ["1", "b0"]
        await _export(pilot, "c over every input of the corpus")
        rows = list(csv.reader((tmp_path / "planted_corpus_L1_c.csv").open()))
        assert rows[0][:3] == ["input", "step", "token"] and len(rows) == 1 + 40
        assert rows[21][:3] == ["2", "1", "b0"]  # input 2 starts after input 1's 20 steps
        got = np.array([[float(v) for v in r[3:]] for r in rows[1:]])
        np.testing.assert_array_equal(got, corpus.whole.c[0, 0])


async def test_the_input_list_shows_the_input_in_view_on_a_short_terminal():
    """40 inputs at 80×24: the list is shorter than 40 rows, and the one open (input 37) is
    highlighted and on screen."""
    corpus = Corpus.from_traces([planted_input(6, None, f"i{k}x") for k in range(40)])
    app = RecordingApp(corpus_source(corpus, name="many"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("X", "X", "X", "X", "i")  # input 40, 39, 38, 37
        await pilot.pause()
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        assert options.highlighted == 36
        dialog = app.screen.query_one("#dialog")
        # the list fits inside the dialog (not clipped by it), and the highlight is in view
        assert options.region.bottom <= dialog.content_region.bottom
        top = round(options.scroll_offset.y)
        assert top <= 36 < top + options.size.height
        assert "▶ 37" in widget_text(options)


async def test_hostile_tokens_in_the_match_and_input_lists_are_shown_as_text():
    """A token that is markup or a terminal escape is drawn as its characters (escaped)."""
    evil = ("[bold red]x[/]", "\x1b[2J", "\u202eevil", "[@click=app.quit]q[/]")
    first = planted_input(20, (10, 15), "a")
    third = planted_input(12, (5, 9), "c")
    third = Trace(**{**{f: getattr(third, f) for f in ("x", "h0", "c0", "i", "f", "g", "o", "c", "h")},
                     "tokens": ("c0", "c1", "c2", "c3", "c4", evil[0], evil[1], "c7", "c8",
                                evil[2], evil[3], "c11")})  # fmt: skip
    app = RecordingApp(corpus_source(Corpus.from_traces([first, third]), name="evil"))
    async with app.run_test(size=SIZE) as pilot:
        await goto(pilot, 11)
        await pilot.press(*["shift+right"] * 4, "M")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = widget_text(app.screen.query_one(OptionList))
        # tokens as the strip shows them (display: a space in a token is ␣)
        assert "⟦[bold␣red]x[/] \\x1b[2J c7 c8⟧ \\u202eevil" in shown
        assert "\x1b" not in shown and "\u202e" not in shown
        await pilot.press("escape", "i")
        await pilot.pause()
        listed = widget_text(app.screen.query_one(OptionList))
        assert "c4 [bold red]x[/] \\x1b[2J c7" in listed and "\x1b" not in listed
        assert app.is_running


async def test_quitting_while_a_corpus_records_stops_the_recording(tagger_path):
    """q on the loading screen: the recorder is told to stop (else the process would wait
    for it to record every input before it could exit)."""
    model = load(tagger_path)
    gate = threading.Event()
    safety = threading.Timer(3, gate.set)  # the gated input goes on, whatever happens here
    safety.start()
    recording = CorpusRecording(_Gated(model, gate), ["The dog ate the apple"] * 3, name="t")
    app = RecordingApp(loader=recording, what="inputs.txt")
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                await pilot.pause(0.05)
                if "1 of 3 inputs" in widget_text(app.screen.query_one("#loading-label")):
                    break
            assert not recording.stop.is_set()
            await pilot.press("q")
        assert recording.stop.is_set()
    finally:
        gate.set()
        safety.cancel()
