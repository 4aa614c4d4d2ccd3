"""Issue 14, words: the real terminal size with stdout piped, `e` on a live model given text
and a vocabulary, the vocabulary in the edit dialog and in `info --list-vocab`.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import struct
import subprocess
import sys
import termios

import numpy as np
import pytest

from lstm_tui import terminal
from lstm_tui.opening import from_live
from lstm_tui.screens.dialogs import SMALL_VOCAB, EditInputDialog, vocabulary_hint
from tui_helpers import ROOT, SAMPLES, RecordingApp, widget_text

torch = pytest.importorskip("torch")


def _pty(cols: int, rows: int) -> tuple[int, int]:
    """A pseudo-terminal (master, slave) of the given size."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    return master, slave


def test_terminal_size_asks_each_stream_and_the_controlling_terminal(monkeypatch):
    master, slave = _pty(173, 51)
    read_end, write_end = os.pipe()
    try:
        # a pipe first (stdout piped), then the terminal: the terminal's size
        assert terminal.terminal_size([write_end, slave], tty=None) == (173, 51)
        assert terminal.terminal_fd([write_end, None, slave]) == slave
        # no stream is a terminal: the controlling terminal, here the pty by name
        assert terminal.terminal_size([write_end], tty=os.ttyname(slave)) == (173, 51)
        # none at all: $COLUMNS/$LINES, else shutil's fallback
        monkeypatch.setenv("COLUMNS", "132")
        monkeypatch.setenv("LINES", "43")
        assert terminal.terminal_size([write_end], tty=None) == (132, 43)
        monkeypatch.delenv("COLUMNS")
        assert terminal.terminal_size([write_end], tty=None) == terminal.FALLBACK
    finally:
        for fd in (master, slave, read_end, write_end):
            os.close(fd)


def test_while_the_app_runs_shutil_sees_the_terminal_not_the_pipe(monkeypatch):
    """Textual asks shutil.get_terminal_size(), which reads stdout only."""
    master, slave = _pty(151, 47)
    read_end, write_end = os.pipe()
    piped = os.fdopen(write_end, "w")
    tty = os.fdopen(slave, "w")
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    monkeypatch.setattr(sys, "__stdout__", piped)
    monkeypatch.setattr(sys, "__stderr__", tty)
    try:
        assert tuple(shutil.get_terminal_size()) == terminal.FALLBACK  # the bug: 80×24
        with terminal.drawn_on_terminal():
            assert tuple(shutil.get_terminal_size()) == (151, 47)
            # a resize is read again, as Textual does on SIGWINCH
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
            assert tuple(shutil.get_terminal_size()) == (100, 30)
        assert sys.__stdout__ is piped  # put back
    finally:
        piped.close()
        tty.close()
        os.close(master)
        os.close(read_end)


def test_a_terminal_stdout_is_left_alone(monkeypatch):
    master, slave = _pty(90, 30)
    tty = os.fdopen(slave, "w")
    monkeypatch.setattr(sys, "__stdout__", tty)
    try:
        with terminal.drawn_on_terminal():
            assert sys.__stdout__ is tty
    finally:
        tty.close()
        os.close(master)


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = torch.nn.Embedding(5, 4)
        self.lstm = torch.nn.LSTM(4, 3)
        self.head = torch.nn.Linear(3, 2)

    def forward(self, ids):
        out, _ = self.lstm(self.emb(ids).view(len(ids), 1, -1))
        return torch.log_softmax(self.head(out.view(len(ids), -1)), dim=1)


VOCAB = {"the": 0, "dog": 1, "ate": 2, "apple": 3, "cat": 4}


def test_a_live_model_given_text_and_a_vocabulary_can_be_edited():
    model = Tagger()
    src = from_live(model, "the dog ate the apple", vocab=VOCAB, labels=["A", "B"])
    assert src.read_only_reason is None and src.editable
    assert src.text == "the dog ate the apple" and src.vocab == tuple(VOCAB)
    new = src.retrace("the cat ate")
    assert new.trace.tokens == ("the", "cat", "ate") and new.trace.labels == ("A", "B")
    assert new.text == "the cat ate" and src.trace.T == 5  # the old trace is untouched
    with torch.no_grad():
        want = model(torch.tensor([0, 4, 2])).numpy()
    np.testing.assert_allclose(new.trace.output, want, atol=1e-6)
    # a word outside the vocabulary is refused before the model runs, naming it
    with pytest.raises(Exception, match="horse"):
        src.check_text("the horse")
    # a model given ids (no text) still has nothing to edit, and says how to get it
    ids = from_live(model, torch.tensor([0, 1, 2]))
    assert ids.read_only_reason is not None and "vocab=" in ids.read_only_reason


async def test_e_on_a_live_model_re_runs_it_and_the_dialog_lists_its_words():
    src = from_live(Tagger(), "the dog ate the apple", vocab=VOCAB, labels=["A", "B"])
    app = RecordingApp(src)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("e")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, EditInputDialog)
        words = widget_text(dialog.query_one("#vocabulary"))
        assert "accepts 5 words: the dog ate apple cat" in words and "refused" in words
        field = dialog.query_one("#text")
        field.value = "the cat ate the dog"
        await pilot.press("enter")
        for _ in range(50):
            await pilot.pause(0.05)
            if app.screen.source.trace.tokens == ("the", "cat", "ate", "the", "dog"):
                break
        assert app.screen.source.trace.tokens == ("the", "cat", "ate", "the", "dog")


def test_a_large_vocabulary_gives_its_size_and_where_the_list_is():
    from lstm_tui.opening import open_path

    big = open_path(str(SAMPLES / "charlm.pt"))
    assert len(big.vocab) > SMALL_VOCAB
    hint = vocabulary_hint(big)
    assert f"{len(big.vocab)} characters" in hint and "--list-vocab" in hint
    assert "<unk>" in hint  # what an unknown character becomes
    small = open_path(str(SAMPLES / "tagger.pt"))
    hint = vocabulary_hint(small)
    assert hint.startswith("accepts 9 words: The dog ate the apple Everybody read that book")
    numeric = open_path(str(SAMPLES / "peephole.pt"))
    assert vocabulary_hint(numeric) == ""


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "lstm_tui", *args], capture_output=True,
                          text=True, env=env, timeout=120)  # fmt: skip


def test_info_lists_the_whole_vocabulary():
    out = _cli("info", str(SAMPLES / "charlm.pt"), "--list-vocab")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    from lstm_tui.opening import open_path
    from lstm_tui.text import display

    vocab = open_path(str(SAMPLES / "charlm.pt")).vocab
    assert lines == [display(w) for w in vocab] and lines[0] == "⏎" and "␣" in lines
    summary = _cli("info", str(SAMPLES / "charlm.pt")).stdout
    assert f"({len(vocab)} in all; --list-vocab lists them)" in summary
    none = _cli("info", str(SAMPLES / "peephole.pt"), "--list-vocab")
    assert none.returncode == 2 and none.stderr.count("\n") == 1 and "no vocabulary" in none.stderr


# ---------------------------------------------------------------- the CLI's step numbers


def _nonfinite_trace(tmp_path):
    """A two-layer trace whose first NaN is recorded in layer 2's c at position 3 (step 4)."""
    import dataclasses

    from lstm_engine import LSTMSpec, record

    tr = record(LSTMSpec.random(2, 3, 2, seed=0), np.ones((6, 2)))
    bad = {"where": "c", "layer": 1, "direction": 0, "t": 3, "unit": 2}
    tr = dataclasses.replace(tr, meta={**tr.meta, "first_nonfinite": bad})
    path = tmp_path / "nan.npz"
    tr.save(path)
    return tr, path


def test_doctor_numbers_a_nonfinite_place_as_the_screen_does(tmp_path):
    import json

    from lstm_engine.doctor import trace_findings

    tr, path = _nonfinite_trace(tmp_path)
    finding = next(f for f in trace_findings([tr]) if f.check == "nonfinite")
    assert "(L2 fwd, step 4, unit 2)" in finding.message
    assert finding.evidence["t"] == 3  # the engine keeps its position
    out = _cli("doctor", str(path), "--json")
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    row = next(r for r in rows if r["check"] == "nonfinite")
    assert row["evidence"]["step"] == 4 and row["evidence"]["layer"] == 2
    assert "t" not in row["evidence"]
    text = _cli("doctor", str(path)).stdout
    assert "step 4" in text and "layer 1" not in text


def test_every_command_numbers_steps_from_1(tmp_path):
    """record, diff, find, explain and info on france.pt's ablation from step 5: every step a
    user reads is the screen's (1..T), none a position."""
    import json

    france = str(SAMPLES / "france.pt")
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert _cli("record", france, "-o", str(a)).returncode == 0
    rec = _cli("record", france, "--edit", "ablate 1 from 5", "-o", str(b))
    assert "first changes at step 5" in rec.stdout, rec.stdout
    diff = _cli("diff", str(a), str(b))
    assert "first divergence beyond 1e-05: step 5" in diff.stdout, diff.stdout
    report = json.loads(_cli("diff", str(a), str(b), "--json").stdout)
    assert report["first_divergence"]["step"] == 5 and report["diverges_from"] == {"L1.forward": 5}
    assert min(report["prediction"]["changed_at"]) == 5
    first = _cli("find", str(a), "--where", "t == 1")
    assert first.stdout.split()[:2] == ["t=1", "I"], first.stdout
    last = json.loads(_cli("find", str(a), "--where", "t == 40", "--json").stdout)
    assert last["t"] == 40
    explain = _cli("explain", str(a), "--unit", "1", "--step", "5")
    assert "at step 5 France" in explain.stdout and "step     1  I" in explain.stdout
    assert "step     0" not in explain.stdout
    row = json.loads(_cli("explain", str(a), "--unit", "1", "--step", "5", "--json").stdout)
    assert row["steps"] == [1, 2, 3, 4, 5] and row["largest_step"] == 5 and row["layer"] == 1
    bad = _cli("explain", str(a), "--unit", "1", "--step", "0")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1
    assert "ablate 1 from 5" in _cli("info", str(b)).stdout
