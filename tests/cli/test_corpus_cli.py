"""`lstm-tui record --text-file`, `lstm-tui match` and `lstm-tui export` on charlm.

What the commands write is read back and compared with the engine's own answers for the same
inputs (each input traced alone, select/match called directly), so a step off by one, a
wrong input number or a lost input fails.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import load, match, open_corpus, select_units
from lstm_engine.export import read_json_arrays
from lstm_tui import corpus_cli
from lstm_tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
CHARLM = ROOT / "sample_models" / "charlm.pt"
LINES = ["def f(x):", "    return x + 1", "", "print(f(2))", "s = 'a b'"]
TEXTS = [line for line in LINES if line]


@pytest.fixture(scope="module")
def model():
    return load(CHARLM)


@pytest.fixture()
def text_file(tmp_path):
    path = tmp_path / "in.txt"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    return path


@pytest.fixture()
def corpus_file(tmp_path, text_file, capsys):
    out = tmp_path / "corpus.npz"
    assert main(["record", str(CHARLM), "--text-file", str(text_file), "-o", str(out)]) == 0
    capsys.readouterr()
    return out


def run(capsys, *args):
    code = main([str(a) for a in args])
    got = capsys.readouterr()
    return code, got.out, got.err


def test_record_text_file_records_each_line_alone(model, tmp_path, text_file, capsys):
    out = tmp_path / "c.npz"
    code, stdout, err = run(capsys, "record", CHARLM, "--text-file", text_file, "-o", out)
    assert code == 0, err
    assert stdout.startswith("recorded 4 inputs (45 steps)") and str(out) in stdout
    assert "recording [" not in err  # the bar is for a terminal only
    corpus = open_corpus(out)
    assert len(corpus) == 4 and corpus.complete
    for k, text in enumerate(TEXTS):
        alone, one = model.trace(text), corpus.trace(k)
        for name in ("x", "i", "f", "g", "o", "c", "h", "output"):
            assert np.array_equal(getattr(alone, name), getattr(one, name)), (k, name)
        assert one.tokens == tuple(text)
    code, _, err = run(capsys, "record", CHARLM, "--text-file", text_file, "-o", out)
    assert code == 2 and "already exists" in err and "--force" in err
    assert run(capsys, "record", CHARLM, "--text-file", text_file, "--whole", "-o", out,
               "--force")[0] == 0  # fmt: skip
    whole = open_corpus(out)
    assert len(whole) == 1
    assert np.array_equal(whole.trace(0).c, model.trace(text_file.read_text()).c)


def test_record_text_file_refuses_other_inputs(tmp_path, text_file, capsys):
    out = tmp_path / "c.npz"
    code, _, err = run(capsys, "record", CHARLM, "--text-file", text_file, "--text", "x", "-o", out)
    assert code == 2 and "--text: not allowed with argument --text-file" in err
    code, _, err = run(capsys, "record", CHARLM, "--whole", "-o", out)
    assert code == 2 and "--whole goes with --text-file" in err
    code, _, err = run(capsys, "record", CHARLM, "--text-file", tmp_path / "none.txt", "-o", out)
    assert code == 2 and "no such file" in err
    assert not out.exists()


def test_ctrl_c_keeps_a_valid_partial_corpus(model, tmp_path, text_file, capsys, monkeypatch):
    calls = []

    def interrupt(self, done, total):
        calls.append(done)
        if done == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(corpus_cli._Progress, "__call__", interrupt)
    out = tmp_path / "part.npz"
    code, stdout, err = run(capsys, "record", CHARLM, "--text-file", text_file, "-o", out)
    assert code == 130 and calls == [1, 2]
    assert "interrupted: kept the first 2 of 4 inputs" in err
    assert stdout.startswith("recorded 2 inputs (25 steps)")
    corpus = open_corpus(out)
    assert len(corpus) == 2 and corpus.planned == 4 and not corpus.complete
    assert np.array_equal(corpus.trace(1).h, model.trace(TEXTS[1]).h)


def test_match_lists_what_the_engine_finds(corpus_file, capsys):
    corpus = open_corpus(corpus_file)
    sel = select_units(corpus, *corpus.bounds(1))  # every step of input 2
    assert sel.units
    code, stdout, err = run(capsys, "match", corpus_file, "--span", "2:1-16", "--json", "--limit", 0)
    assert code == 0 and f"selected units {' '.join(map(str, sel.units))}" in err
    rows = [json.loads(line) for line in stdout.splitlines()]
    want = match(corpus, sel, limit=None)
    assert len(rows) == len(want)
    for row, m in zip(rows, want):
        start = corpus.bounds(m.input)[0]
        assert (row["input"], row["first_step"], row["last_step"]) == \
            (m.input + 1, m.start - start + 1, m.stop - start)  # fmt: skip
        assert row["on"] == list(m.on) and row["extra"] == list(m.extra)
        assert "".join(row["span"]) == "".join(corpus.whole.tokens[m.start : m.stop])
    units = ",".join(map(str, sel.units))
    code, stdout, _ = run(capsys, "match", corpus_file, "--units", units, "--limit", 2)
    lines = stdout.splitlines()
    first = rows[0]
    assert len(lines) == 2 and lines[0].startswith(
        f"1. input {first['input']}  steps {first['first_step']}-{first['last_step']}  "
        f"on {len(first['on'])}/{len(sel.units)}")  # fmt: skip


def test_match_exit_status_and_errors(corpus_file, capsys):
    code, stdout, _ = run(capsys, "match", corpus_file, "--units", "3", "--threshold", "0.999")
    assert code == 1 and stdout == ""
    code, _, err = run(capsys, "match", corpus_file, "--units", "3", "--threshold", "1.5")
    assert code == 2 and "between -1 and 1" in err
    code, _, err = run(capsys, "match", corpus_file, "--units", "300")
    assert code == 2 and "unit 300 does not exist" in err
    code, _, err = run(capsys, "match", corpus_file, "--span", "5-9")
    assert code == 2 and "say which with K:S" in err
    code, _, err = run(capsys, "match", corpus_file, "--span", "9:1-2")
    assert code == 2 and "no input 9" in err
    code, _, err = run(capsys, "match", corpus_file, "--units", "a,b")
    assert code == 2 and "expected unit numbers" in err


def test_export_csv_json_npz(model, corpus_file, tmp_path, capsys):
    table = tmp_path / "t.csv"
    code, stdout, err = run(capsys, "export", corpus_file, "--to", "csv", "--step", "2:3",
                            "-o", table)  # fmt: skip
    assert code == 0, err
    assert stdout == f"wrote the unit table at step 3 of input 2 → {table}\n"
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    alone = model.trace(TEXTS[1])
    got = np.array([float(r["delta_c"]) for r in rows], dtype=np.float32)
    assert np.array_equal(got, alone.value("delta_c", 0, 0, 2))
    assert {(r["input"], r["step"]) for r in rows} == {("2", "3")}
    code, _, err = run(capsys, "export", corpus_file, "--to", "csv", "--step", "2:3", "-o", table)
    assert code == 2 and "already exists" in err
    one = tmp_path / "one.json"
    code, _, err = run(capsys, "export", CHARLM, "--text", "ab c", "--to", "json", "-o", one)
    assert code == 0, err
    assert np.array_equal(read_json_arrays(one)["c"], model.trace("ab c").c)
    again = tmp_path / "again.npz"
    assert run(capsys, "export", corpus_file, "--to", "npz", "-o", again)[0] == 0
    assert open_corpus(again).starts.tolist() == open_corpus(corpus_file).starts.tolist()


def test_export_usage_errors(corpus_file, tmp_path, capsys):
    out = tmp_path / "x.csv"
    code, _, err = run(capsys, "export", corpus_file, "--to", "csv", "-o", out)
    assert code == 2 and "--step S" in err
    code, _, err = run(capsys, "export", corpus_file, "--to", "json", "--step", "1:1", "-o", out)
    assert code == 2 and "go with --to csv" in err
    code, _, err = run(capsys, "export", corpus_file, "--to", "csv", "--step", "1:99", "-o", out)
    assert code == 2 and "outside 1..9" in err
    code, _, err = run(capsys, "export", corpus_file, "--to", "xls", "-o", out)
    assert code == 2 and "invalid choice" in err
    assert not out.exists()


def test_export_lstmvis(corpus_file, tmp_path, capsys, monkeypatch):
    pytest.importorskip("h5py")
    from lstm_engine.formats.lstmvis import read_project

    folder = tmp_path / "project"
    code, stdout, err = run(capsys, "export", corpus_file, "--to", "lstmvis", "-o", folder)
    assert code == 0, err
    assert stdout == f"wrote an LSTMVis project → {folder}\n"
    got = read_project(folder)
    corpus = open_corpus(corpus_file)
    assert len(got["words"]) == corpus.whole.T + len(corpus) - 1
    code, _, err = run(capsys, "export", corpus_file, "--to", "lstmvis", "-o", folder)
    assert code == 2 and "already exists" in err and "--force" in err
    assert run(capsys, "export", corpus_file, "--to", "lstmvis", "-o", folder, "--force")[0] == 0
    import sys

    monkeypatch.setitem(sys.modules, "h5py", None)
    code, _, err = run(capsys, "export", corpus_file, "--to", "lstmvis", "-o", tmp_path / "p2")
    assert code == 2
    assert err == "lstm-tui: error: writing an LSTMVis project needs h5py: " \
                  "pip install 'lstm-tui[lstmvis]'\n"  # fmt: skip


def test_info_says_how_many_inputs(corpus_file, capsys):
    code, stdout, _ = run(capsys, "info", corpus_file)
    assert code == 0
    assert "inputs  4, 9–16 steps each" in stdout
    assert "steps   45" in stdout


def test_a_damaged_corpus_or_hostile_tokens_are_one_safe_line(tmp_path, capsys):
    from lstm_engine import Trace

    T, H = 6, 3
    c = np.full((1, 1, T, H), 0.05)
    c[0, 0, 1:4, 2] = 1.0
    z = np.zeros((1, 1, T, H))
    tokens = ("a", "\x1b[31mred", "\u202eevil", "b", "c", "d")

    def trace(meta):
        return Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, H)), c0=np.zeros((1, 1, H)), i=z,
                     f=z, g=z, o=z, c=c, h=c, tokens=tokens, meta=meta)  # fmt: skip

    bad = trace({"corpus": {"starts": [0, 9]}}).save(tmp_path / "bad.npz")
    code, stdout, err = run(capsys, "match", bad, "--units", "2")
    assert code == 2 and stdout == "" and err.count("\n") == 1 and "starts" in err
    good = trace({"corpus": {"starts": [0, 3]}}).save(tmp_path / "good.npz")
    code, stdout, _ = run(capsys, "match", good, "--units", "2", "--min-length", 1)
    assert code == 0 and "\x1b" not in stdout and "\u202e" not in stdout
    assert stdout.startswith("1. input 1  steps 2-3  on 1/1 [2]")
    code, stdout, _ = run(capsys, "match", good, "--units", "2", "--min-length", 1, "--json")
    assert "\x1b" not in stdout and "\u202e" not in stdout
    assert [json.loads(line)["span"] for line in stdout.splitlines()][0] == ["\x1b[31mred", "\u202eevil"]


def test_record_text_file_compress_writes_the_same_corpus_compressed(tmp_path, text_file,
                                                                     corpus_file, capsys):
    import zipfile

    out = tmp_path / "small.npz"
    code, _, err = run(capsys, "record", CHARLM, "--text-file", text_file, "-o", out,
                       "--compress")
    assert code == 0, err
    with zipfile.ZipFile(out) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    small, plain = open_corpus(out), open_corpus(corpus_file)
    assert len(small) == len(plain) == len(TEXTS)
    for k in range(len(TEXTS)):
        np.testing.assert_array_equal(small.trace(k).c, plain.trace(k).c)
    code, _, err = run(capsys, "record", CHARLM, "--text-file", text_file, "-o", out,
                       "--compress")
    assert code == 2 and "already exists" in err  # refused before recording, kept
    assert open_corpus(out).whole.identity == small.whole.identity
