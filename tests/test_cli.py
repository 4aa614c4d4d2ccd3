"""The lstm-tui command line: record and info end to end, and one clean line for every mistake."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_engine import Trace, save_checkpoint, trace_lstm
from lstm_tui.cli import info_lines, main

ROOT = Path(__file__).resolve().parents[1]
TAGGER = ROOT / "sample_models" / "tagger.pt"


def _seed_tagger():
    """The LSTMTagger class from the sample's own training script, with tagger.pt's weights."""
    spec = importlib.util.spec_from_file_location("train_tagger", ROOT / "sample_models" / "train_tagger.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ckpt = torch.load(TAGGER, weights_only=True)
    model = mod.LSTMTagger(6, 6, len(ckpt["vocab"]), len(ckpt["labels"]))
    model.load_state_dict(ckpt["state_dict"])
    return model.eval(), ckpt["vocab"]


def _command() -> list[str]:
    script = Path(sys.executable).with_name("lstm-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert err.startswith("lstm-tui: error: "), err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- record
def test_record_equals_trace_lstm_and_the_models_forward(tmp_path, capsys):
    out = tmp_path / "trace.npz"
    assert main(["record", str(TAGGER), "--text", "Everybody ate the apple", "-o", str(out)]) == 0
    assert "recorded 4 steps" in capsys.readouterr().out
    trace = Trace.load(out)
    model, vocab = _seed_tagger()
    ids = torch.tensor([vocab.index(w) for w in "Everybody ate the apple".split()])
    with torch.no_grad():
        expect_output = model(ids).numpy()
        embedded = model.word_embeddings(ids)
    ref = trace_lstm(model.lstm, embedded)
    for name in ("x", "i", "f", "g", "o", "c", "h"):
        np.testing.assert_array_equal(getattr(trace, name), getattr(ref, name), err_msg=name)
    np.testing.assert_allclose(trace.output, expect_output, atol=1e-5)
    assert trace.tokens == ("Everybody", "ate", "the", "apple")
    assert trace.labels == ("DET", "NN", "V")
    assert [trace.labels[k] for k in trace.output.argmax(1)] == ["NN", "V", "DET", "NN"]
    assert trace.meta["model"] == "tagger" and trace.meta["lstm"] == "lstm"
    assert trace.meta["output_kind"] == "log_prob" and trace.meta["model_format"] == "checkpoint"


def test_record_defaults_to_the_first_example_and_never_overwrites(tmp_path, capsys):
    out = tmp_path / "t.npz"
    assert main(["record", str(TAGGER), "-o", str(out)]) == 0
    assert Trace.load(out).tokens == tuple("The dog ate the apple".split())
    before = out.read_bytes()
    assert main(["record", str(TAGGER), "--text", "the dog", "-o", str(out)]) == 2
    assert "already exists" in _one_error_line(capsys) and out.read_bytes() == before
    assert main(["record", str(TAGGER), "--text", "the dog", "-o", str(out), "--force"]) == 0
    assert Trace.load(out).tokens == ("the", "dog")
    model_bytes = TAGGER.read_bytes()
    assert main(["record", str(TAGGER), "-o", str(TAGGER), "--force"]) == 2
    assert "is the model itself" in _one_error_line(capsys) and TAGGER.read_bytes() == model_bytes


def test_record_numeric_input(tmp_path, capsys):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, num_layers=2)
    torch.save(lstm.state_dict(), tmp_path / "lstm.pt")
    x = np.random.default_rng(0).normal(size=(9, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "t.npz"
    assert main(["record", str(tmp_path / "lstm.pt"), "--input", str(tmp_path / "x.npy"), "-o", str(out)]) == 0
    trace, ref = Trace.load(out), trace_lstm(lstm, x)
    np.testing.assert_array_equal(trace.h, ref.h)
    assert trace.tokens is None and trace.output is None
    np.save(tmp_path / "wide.npy", np.zeros((4, 5)))
    assert main(["record", str(tmp_path / "lstm.pt"), "--input", str(tmp_path / "wide.npy"),
                 "-o", str(tmp_path / "w.npz")]) == 2  # fmt: skip
    assert "width is 5 but the model takes 3" in _one_error_line(capsys)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert main(["record", str(tmp_path / "lstm.pt"), "--input", str(tmp_path / "objects.npy"),
                 "-o", str(tmp_path / "o.npz")]) == 2  # fmt: skip
    assert "Python objects" in _one_error_line(capsys)
    assert main(["record", str(tmp_path / "lstm.pt"), "--text", "hello", "-o", str(tmp_path / "h.npz")]) == 2
    assert "takes numeric input" in _one_error_line(capsys)
    assert main(["record", str(tmp_path / "lstm.pt"), "-o", str(tmp_path / "n.npz")]) == 2
    assert "no example inputs; give --input" in _one_error_line(capsys)
    assert not any((tmp_path / n).exists() for n in ("w.npz", "o.npz", "h.npz", "n.npz"))


def test_record_refuses_inputs_that_are_not_plain_real_arrays(tmp_path, capsys):
    """A FIFO would hang np.load, complex values would lose their imaginary part, a
    header promising 10^11 rows would exhaust memory: each is one line and exit 2."""
    peephole = ROOT / "sample_models" / "peephole.pt"
    fifo = tmp_path / "pipe.npy"
    os.mkfifo(fifo)
    run = subprocess.run(
        [*_command(), "record", str(peephole), "--input", str(fifo), "-o", str(tmp_path / "f.npz")],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 2 and "FIFO" in run.stderr and "Traceback" not in run.stderr
    np.save(tmp_path / "complex.npy", np.ones((5, 1), complex))
    assert main(["record", str(peephole), "--input", str(tmp_path / "complex.npy"),
                 "-o", str(tmp_path / "c.npz")]) == 2  # fmt: skip
    assert "real numbers" in _one_error_line(capsys)
    huge = tmp_path / "huge.npy"
    with open(huge, "wb") as fh:  # a valid header for (10^11, 1) float64 and no data
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": (10**11, 1)}
        )
    assert main(["record", str(peephole), "--input", str(huge), "-o", str(tmp_path / "h.npz")]) == 2
    _one_error_line(capsys)
    assert not any((tmp_path / n).exists() for n in ("f.npz", "c.npz", "h.npz"))


# --- info
def test_info_describes_the_tagger(capsys):
    assert main(["info", str(TAGGER)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    fields = {line.split()[0]: line for line in lines if line and not line.startswith(" ")}
    assert "checkpoint" in fields["format"]
    assert "input 6, hidden 6, 1 layer, unidirectional, float32" in fields["sizes"]
    assert "vocabulary 9 words, no unknown token" in fields["input"]
    assert "3: DET, NN, V" in fields["labels"]
    assert "1. The dog ate the apple" in fields["examples"]
    assert "2. Everybody read that book" in out
    assert "411" in fields["parameters"]
    assert "lstm             LSTM 6→6 ×1 layer, uni   ← traced" in out
    # aligned: every value starts in the same column
    starts = {len(line) - len(line[14:].lstrip()) for line in lines}
    assert all(line[:14].strip() == "" or line[13] == " " for line in lines) and starts


def test_info_lines_for_a_numeric_multi_lstm_model():
    info = {
        "name": "enc", "path": "enc.pt", "format": "state_dict", "description": "",
        "layers": [("first", "LSTM 3→5 ×2 layers, bi"), ("second", "LSTM 10→4 ×1 layer, uni")],
        "lstms": ["first", "second"], "lstm": "second", "input_size": 10, "hidden_size": 4,
        "proj_size": 0, "num_layers": 1, "bidirectional": False, "peephole": False,
        "dtype": "float64", "input_kind": "numeric", "tokenizer": None, "vocab_size": None,
        "vocab_is_ids": False, "unk": None, "labels": None, "output_kind": None,
        "examples": [[[0.0] * 3] * 4], "parameters": 1234,
    }  # fmt: skip
    text = "\n".join(info_lines(info))
    assert "second  LSTM 10→4 ×1 layer, uni   ← traced" in text
    assert "first, second   (pick one with --lstm; tracing second)" in text
    assert "numeric array of shape [4, 3]" in text and "1,234" in text


def test_info_of_a_recorded_trace(tmp_path, capsys):
    out = tmp_path / "t.npz"
    main(["record", str(TAGGER), "-o", str(out)])
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "trace of a checkpoint model" in text and "The dog ate the apple" in text


# --- bad input: one line, exit 2
@pytest.fixture
def bad_files(tmp_path):
    data = TAGGER.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 3])
    (tmp_path / "notes.txt").write_text("not a model")
    ckpt = torch.load(TAGGER, weights_only=True)
    ckpt["architecture"]["lstms"] = []
    torch.save(ckpt, tmp_path / "no_lstm.pt")
    ckpt = torch.load(TAGGER, weights_only=True)
    ckpt["state_dict"]["hidden2tag.weight"] = torch.zeros(3, 4)
    torch.save(ckpt, tmp_path / "shapes.pt")
    return tmp_path


@pytest.mark.parametrize(
    "args,message",
    [
        (["info", "{tmp}/missing.pt"], "missing.pt: no such file"),
        (["info", "{tmp}/notes.txt"], "not a model file"),
        (["info", "{tmp}/truncated.pt"], "corrupt"),
        (["info", "{tmp}/no_lstm.pt"], "has no LSTM"),
        (["info", "{tmp}/shapes.pt"], "inconsistent shapes"),
        (["info", "{tmp}"], "is a directory"),
        (["info", "{tagger}", "--lstm", "decoder"], "no LSTM named 'decoder'"),
        (["record", "{tagger}", "--text", "", "-o", "{tmp}/t.npz"], "empty text"),
        (["record", "{tagger}", "--text", "The cat ate the mouse", "-o", "{tmp}/t.npz"],
         "not in the vocabulary (9 words, no unknown token): 'cat', 'mouse'"),
        (["record", "{tagger}", "--input", "{tmp}/none.npy", "-o", "{tmp}/t.npz"], "none.npy: no such file"),
        (["record", "{tagger}", "-o", "{tmp}/nodir/t.npz"], "no such directory"),
        (["record", "{tagger}"], "required: -o/--output"),
        (["record", "{tagger}", "--text", "a", "--input", "x.npy", "-o", "{tmp}/t.npz"], "not allowed with"),
        (["{tmp}/missing.pt"], "missing.pt: no such file"),
        (["{tagger}", "--text", "a", "--input", "x.npy"], "not allowed with"),
        (["{tagger}", "--batch-index", "-1"], "must be 0 or more"),
        (["--frobnicate"], "required: MODEL"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(bad_files, capsys, args, message):
    args = [a.format(tmp=bad_files, tagger=TAGGER) for a in args]
    assert main(args) == 2
    assert message in _one_error_line(capsys)
    assert not (bad_files / "t.npz").exists()


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "record" in capsys.readouterr().out
    assert main(["record", "--help"]) == 0
    assert "--force" in capsys.readouterr().out


# --- the real console script
def test_console_script(tmp_path):
    cmd = _command()
    data = TAGGER.read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[:1000])
    bad = subprocess.run([*cmd, "info", str(tmp_path / "cut.pt")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("lstm-tui: error: ") and bad.stderr.count("\n") == 1
    out = tmp_path / "t.npz"
    # record and info must work without importing textual (headless use, CI)
    probe = (
        "import sys; from lstm_tui.cli import main; "
        f"rc = main(['record', {str(TAGGER)!r}, '--text', 'the dog', '-o', {str(out)!r}]); "
        "assert 'textual' not in sys.modules, 'record imported textual'; sys.exit(rc)"
    )
    ok = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert Trace.load(out).tokens == ("the", "dog")


def test_save_checkpoint_one_liner_opens_in_the_cli(tmp_path, capsys):
    model, vocab = _seed_tagger()
    save_checkpoint(model, tmp_path / "mine.pt", vocab=vocab, labels=["D", "N", "V"], examples=["that book"])
    assert main(["info", str(tmp_path / "mine.pt")]) == 0
    assert "3: D, N, V" in capsys.readouterr().out


def _fake_ui(monkeypatch, terminal: bool = True):
    """cmd_ui with open_path, the terminal check and the app replaced: (opened, started) calls."""
    from lstm_tui import cli, opening

    opened, started = [], []
    monkeypatch.setattr(opening, "open_path", lambda path, **kw: opened.append((path, kw)) or "SRC")
    monkeypatch.setattr(cli, "_has_terminal", lambda: terminal)
    monkeypatch.setattr(cli, "_run_app", lambda source, what: started.append((source, what)) or 0)
    return opened, started


def test_ui_command_opens_the_file_with_its_arguments_then_starts_the_app(monkeypatch, tmp_path):
    opened, started = _fake_ui(monkeypatch)
    np.save(tmp_path / "x.npy", np.zeros((3, 6)))
    assert main([str(TAGGER), "--text", "the dog", "--lstm", "lstm", "--trust"]) == 0
    assert main([str(TAGGER), "--input", str(tmp_path / "x.npy"), "--node", "n", "--batch-index", "2"]) == 0
    assert opened == [
        (str(TAGGER), dict(text="the dog", inputs=None, trust=True, lstm="lstm", batch_index=0,
                           example=None)),
        (str(TAGGER), dict(text=None, inputs=[str(tmp_path / "x.npy")], trust=False, lstm="n",
                           batch_index=2, example=None)),
    ]  # fmt: skip
    assert started == [("SRC", "tagger.pt")] * 2


def test_ui_without_a_terminal_refuses_after_opening_and_never_starts_the_app(monkeypatch, capsys):
    opened, started = _fake_ui(monkeypatch, terminal=False)
    assert main([str(TAGGER)]) == 2
    assert "needs a terminal" in _one_error_line(capsys)
    assert len(opened) == 1 and started == []


def test_ui_refuses_a_bad_file_before_checking_for_a_terminal(monkeypatch, tmp_path, capsys):
    from lstm_tui import cli

    monkeypatch.setattr(cli, "_has_terminal", lambda: pytest.fail("checked the terminal first"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    assert main([str(tmp_path / "junk.pt")]) == 2
    assert "not a model file" in _one_error_line(capsys)


async def test_the_app_cmd_ui_starts_shows_the_source_it_opened():
    pytest.importorskip("textual")
    from lstm_tui import cli
    from lstm_tui.opening import open_path

    source = open_path(str(TAGGER), text="the dog")
    app = cli._app_for(source, "tagger.pt")
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.error is None
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "dog" in text


# --- examples, escaped labels, unknown words
CHARLM = ROOT / "sample_models" / "charlm.pt"
FRANCE = ROOT / "sample_models" / "france.pt"


def test_record_example_n_is_the_nth_example_info_lists(tmp_path, capsys):
    if not CHARLM.exists():
        pytest.skip("sample_models/charlm.pt is not built")
    from lstm_engine import load

    third = load(CHARLM).examples[2]
    out = tmp_path / "t.npz"
    assert main(["record", str(CHARLM), "--example", "3", "-o", str(out)]) == 0
    assert "(example 3)" in capsys.readouterr().out
    assert "".join(Trace.load(out).tokens) == third
    assert main(["record", str(CHARLM), "--example", "99", "-o", str(tmp_path / "u.npz")]) == 2
    err = _one_error_line(capsys)
    assert "no example 99" in err and "3 examples" in err and not (tmp_path / "u.npz").exists()
    assert main(["record", str(CHARLM), "--example", "0", "-o", str(tmp_path / "u.npz")]) == 2
    assert "numbered from 1" in _one_error_line(capsys)
    assert main(["record", str(CHARLM), "--example", "2", "--text", "x", "-o", str(tmp_path / "u.npz")]) == 2
    assert "not allowed with" in _one_error_line(capsys)


def test_ui_command_passes_example_to_open_path(monkeypatch):
    opened, _ = _fake_ui(monkeypatch)
    assert main([str(TAGGER), "--example", "2"]) == 0
    assert opened[0][1]["example"] == 2 and opened[0][1]["text"] is None


def test_info_shows_character_labels_on_one_line(capsys):
    if not CHARLM.exists():
        pytest.skip("sample_models/charlm.pt is not built")
    assert main(["info", str(CHARLM)]) == 0
    lines = capsys.readouterr().out.splitlines()
    labels = [line for line in lines if line.startswith("labels")]
    assert len(labels) == 1 and "97: ⏎, ␣, !" in labels[0]


def test_info_of_a_character_trace_escapes_labels_and_tokens(tmp_path, capsys):
    if not CHARLM.exists():
        pytest.skip("sample_models/charlm.pt is not built")
    out = tmp_path / "c.npz"
    assert main(["record", str(CHARLM), "--text", "a b\nc", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    fields = dict(line.split(None, 1) for line in text.splitlines())
    assert fields["tokens"] == "a ␣ b ⏎ c"
    assert fields["labels"].startswith("⏎, ␣, !")
    assert len(text.splitlines()) == len(fields)


def test_record_keeps_which_words_were_read_as_unk(tmp_path, capsys):
    if not FRANCE.exists():
        pytest.skip("sample_models/france.pt is not built")
    out = tmp_path / "n.npz"
    assert main(["record", str(FRANCE), "--text", "I grew up in Narnia", "-o", str(out)]) == 0
    assert "read as <unk>: Narnia" in capsys.readouterr().out
    trace = Trace.load(out)
    assert trace.tokens[4] == "Narnia"
    assert trace.meta["unk_positions"] == [4] and trace.meta["unk"] == "<unk>"
    assert main(["info", str(out)]) == 0
    assert "1 read as <unk>: Narnia" in capsys.readouterr().out


def test_record_tidies_what_a_killed_save_left_a_day_ago_and_nothing_else(tmp_path, capsys):
    """A SIGKILL mid-save leaves NAME.lstm-tui-<hex>.partial; the next record in that folder
    removes such files once they are a day old, never a fresh one (a save in progress) or the
    user's own files."""
    old = tmp_path / "t.npz.lstm-tui-0123456789abcdef.partial"
    fresh = tmp_path / "u.npz.lstm-tui-fedcba9876543210.partial"
    mine = tmp_path / "notes.partial"
    for p in (old, fresh, mine):
        p.write_bytes(b"x")
    day_and_more = os.path.getmtime(old) - 2 * 86400
    os.utime(old, (day_and_more, day_and_more))
    os.utime(mine, (day_and_more, day_and_more))
    assert main(["record", str(TAGGER), "--text", "the dog", "-o", str(tmp_path / "t.npz")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([fresh.name, mine.name, "t.npz"])


def test_version_prints_the_package_version(capsys):
    from importlib.metadata import version

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"lstm-tui {version('lstm-tui')}"
