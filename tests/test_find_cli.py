"""`lstm-tui find` on the sample models: the matching steps, computed here from the trace's arrays,
numbered 1..T; exit 0 on a match, 1 on none, 2 on an error (a caret under a bad expression)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import open_and_trace
from lstm_tui.cli import main

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_models"
FRANCE, BITAGGER, CHARLM, PEEPHOLE = (
    SAMPLES / f"{n}.pt" for n in ("france", "bitagger", "charlm", "peephole")
)
DUCK = "I saw her duck swim near the lake"


@pytest.fixture(scope="module")
def france():
    return open_and_trace(FRANCE).trace


@pytest.fixture(scope="module")
def bitagger():
    return open_and_trace(BITAGGER, text=DUCK).trace


def _find(capsys, *args) -> tuple[int, list[str], str]:
    code = main(["find", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out.splitlines(), out.err


def _steps(lines) -> list[int]:
    return [int(line.split()[0].removeprefix("t=")) for line in lines]


def _cut(values, q: float) -> str:
    """A threshold halfway between two neighbouring values (about quantile q), so no value
    sits on it whatever precision compares them; as text for the command line."""
    v = np.unique(np.asarray(values, dtype=np.float64))
    k = min(int(q * len(v)), len(v) - 2)
    return repr(float((v[k] + v[k + 1]) / 2))


def test_find_on_france_matches_the_trace_arrays(capsys, france):
    u = france.hidden_size // 2  # the sample is retrained at times: nothing here names its units
    c = france.c[0, 0, :, u]
    cut = _cut(c, 0.6)
    code, lines, err = _find(capsys, FRANCE, "--where", f"c[{u}] > {cut}")
    want = np.flatnonzero(c > float(cut)) + 1  # steps as on screen
    assert code == 0 and err == ""
    assert _steps(lines) == list(want) and 0 < want.size < france.T
    first = lines[0].split("  ")
    assert first[0] == f"t={want[0]}" and first[1] == france.tokens[want[0] - 1]
    assert first[2] == f"c[{u}]={float(c[want[0] - 1]):.6g}"
    code, lines, _ = _find(capsys, FRANCE, "--where", 'token == "France"')
    want = [k + 1 for k, w in enumerate(france.tokens) if w == "France"]
    assert code == 0 and lines == [f"t={k}  France" for k in want] and want


def test_several_wheres_must_all_hold(capsys, france):
    u = france.hidden_size // 2
    p_french = np.exp(france.output[:, france.labels.index("French")].astype(np.float64))
    c_prev = np.concatenate([france.c0[0, 0][None], france.c[0, 0, :-1]])
    delta = np.abs(france.c[0, 0, :, u] - c_prev[:, u])
    cut_d, cut_p = _cut(delta, 0.4), _cut(p_french, 0.3)
    want = np.flatnonzero((delta > float(cut_d)) & (p_french > float(cut_p))) + 1
    code, lines, _ = _find(capsys, FRANCE, "--where", f"abs(delta[{u}]) > {cut_d}",
                           "--where", f'p["French"] > {cut_p}')  # fmt: skip
    assert code == 0 and _steps(lines) == list(want) and want.size >= 2
    assert all(f"abs(delta[{u}])=" in line and 'p["French"]=' in line for line in lines)
    only_first = np.flatnonzero(delta > float(cut_d)) + 1
    assert len(only_first) > len(want)


def test_layer_and_direction_on_the_bidirectional_tagger(capsys, bitagger):
    want = np.flatnonzero(bitagger.o[1, 1, :, 0] > 0.99) + 1
    assert 0 < want.size < bitagger.T
    code, lines, _ = _find(capsys, BITAGGER, "--text", DUCK, "--where", "L2.rev.o[0] > 0.99")
    assert code == 0 and _steps(lines) == list(want)
    code, lines2, _ = _find(capsys, BITAGGER, "--text", DUCK, "--layer", "2", "--direction", "rev",
                            "--where", "o[0] > 0.99")  # fmt: skip
    assert _steps(lines2) == list(want)
    fwd = np.flatnonzero(bitagger.o[0, 0, :, 0] > 0.99) + 1
    code, lines3, _ = _find(capsys, BITAGGER, "--text", DUCK, "--where", "o[0] > 0.99")
    assert _steps(lines3) == list(fwd) and list(fwd) != list(want)


def test_find_on_a_recorded_trace_and_json(capsys, tmp_path, france):
    out = tmp_path / "run.npz"
    assert main(["record", str(FRANCE), "-o", str(out)]) == 0
    capsys.readouterr()
    code, lines, _ = _find(capsys, out, "--where", "pred != pred_prev", "--json")
    top = np.argmax(france.output, axis=1)
    want = [k + 1 for k in range(1, france.T) if top[k] != top[k - 1]]
    rows = [json.loads(line) for line in lines]
    assert code == 0 and [r["t"] for r in rows] == want
    r = rows[0]
    assert r["token"] == france.tokens[r["t"] - 1]
    k = r["t"] - 1
    assert r["values"] == {"pred": france.labels[top[k]], "pred_prev": france.labels[top[k - 1]]}


def test_char_model_and_numeric_input(capsys, tmp_path):
    trace = open_and_trace(CHARLM).trace
    want = [k + 1 for k, ch in enumerate(trace.tokens) if ch == "("]
    code, lines, _ = _find(capsys, CHARLM, "--where", 'token == "("')
    assert code == 0 and _steps(lines) == want and want
    peep = open_and_trace(PEEPHOLE).trace
    assert peep.tokens is None
    spike = np.exp(peep.output[:, peep.labels.index("spike")].astype(np.float64))
    want = np.flatnonzero(spike > 0.5) + 1
    code, lines, _ = _find(capsys, PEEPHOLE, "--where", 'p["spike"] > 0.5')
    assert code == 0 and _steps(lines) == list(want) and want.size
    assert lines[0].split("  ")[1].startswith('p["spike"]=')  # no token column without tokens


def test_no_match_exits_1_and_prints_nothing(capsys):
    code, lines, err = _find(capsys, FRANCE, "--where", "c[11] > 1000")
    assert (code, lines, err) == (1, [], "")
    code, lines, err = _find(capsys, FRANCE, "--where", "t > 1", "--where", "t < 1")
    assert (code, lines, err) == (1, [], "")


@pytest.mark.parametrize("expr, words, column", [
    ("f[99] > 0", "unit 99 does not exist; f has units 0..15", 2),
    ("foo > 1", "unknown name 'foo'", 0),
    ("f < 0.1", "one condition per unit", 0),
    ("f[3]", "is a number, not a condition", 0),
    ("__import__('os')", "double underscores", 0),
    ("f[3] <", "syntax error", 6),
])  # fmt: skip
def test_a_bad_expression_exits_2_with_the_caret(capsys, expr, words, column):
    code, lines, err = _find(capsys, FRANCE, "--where", "t > 0", "--where", expr)
    assert code == 2 and lines == []
    first, shown, caret = err.splitlines()
    assert first.startswith("lstm-tui: error: ") and words in first and "Traceback" not in err
    assert shown == "  " + expr and caret.index("^") == 2 + column


@pytest.mark.parametrize("args, words", [
    ([FRANCE, "--layer", "2", "--where", "t > 0"], "--layer 2: the LSTM has layer 1 only"),
    ([FRANCE, "--direction", "rev", "--where", "t > 0"], "reads left to right only"),
    ([FRANCE, "--layer", "0", "--where", "t > 0"], "layers are numbered from 1"),
    ([FRANCE], "--where"),
    ([SAMPLES / "missing.pt", "--where", "t > 0"], "missing.pt"),
    ([SAMPLES / "tagger.pt", "--text", "The cat", "--where", "t > 0"], "cat"),  # no <unk>
])  # fmt: skip
def test_other_errors_exit_2_in_one_line(capsys, args, words):
    code, lines, err = _find(capsys, *args)
    assert code == 2 and lines == []
    assert err.startswith("lstm-tui: error: ") and err.count("\n") == 1 and words in err, err


def test_the_installed_command(france):
    script = Path(sys.executable).with_name("lstm-tui")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]
    run = subprocess.run([*cmd, "find", str(FRANCE), "--where", 'token == "fluent"'],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    want = "".join(f"t={k + 1}  fluent\n" for k, w in enumerate(france.tokens) if w == "fluent")
    assert run.returncode == 0 and run.stdout == want and want, run.stderr
    run = subprocess.run([*cmd, "find", str(FRANCE), "--where", "nope"], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 2 and run.stderr.count("\n") == 3 and "Traceback" not in run.stderr


def test_a_reader_that_stops_early_is_not_an_error():
    """`lstm-tui find … | head -1`: as with grep, no 'Broken pipe' error and no exit 2."""
    script = Path(sys.executable).with_name("lstm-tui")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]
    wide = " and ".join(f"abs(c[{u}]) >= 0" for u in range(6))  # ~150 KB: more than a pipe holds
    proc = subprocess.Popen([*cmd, "find", str(CHARLM), "--example", "3", "--where", wide],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    assert proc.stdout.readline().startswith(b"t=1 ")
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 0 and err == b""


def test_a_bug_exits_2_not_1(capsys, monkeypatch):
    """1 means "no step matched", so an internal error must not end with it."""
    import lstm_engine

    def broken(*a, **kw):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(lstm_engine, "compile_watch", broken)
    code, lines, err = _find(capsys, FRANCE, "--where", "t > 0")
    assert code == 2 and lines == [] and "internal error: ZeroDivisionError: boom" in err
