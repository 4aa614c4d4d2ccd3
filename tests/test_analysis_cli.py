"""`lstm-tui explain`, `stats` and `doctor`, run as a user runs them (real subprocesses).

Numbers are checked against the trace's own arrays, computed here by hand; steps and layers
are as on screen (1..T, L1); doctor exits 0 clean, 1 when it finds something, 2 on an error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_engine import open_and_trace, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
FRANCE = ROOT / "sample_models" / "france.pt"
BITAGGER = ROOT / "sample_models" / "bitagger.pt"
TAGGER = ROOT / "sample_models" / "tagger.pt"
DUCK = "I saw her duck swim near the lake"


def _run(*args) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("lstm-tui")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=300)


def _error(proc) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("lstm-tui: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture(scope="module")
def france():
    return open_and_trace(FRANCE).trace


def test_explain_json_is_the_decomposition_of_c(france):
    unit, step = 3, 9
    proc = _run("explain", FRANCE, "--unit", unit, "--step", step, "--json")
    assert proc.returncode == 0, proc.stderr
    row = json.loads(proc.stdout)
    f = france.f[0, 0, :, unit].astype(np.float64)
    ig = (france.i[0, 0, :, unit] * france.g[0, 0, :, unit]).astype(np.float64)
    want = [float(np.prod(f[s + 1 : step]) * ig[s]) for s in range(step)]
    assert len(row["contributions"]) == step and row["steps"] == list(range(1, step + 1))
    np.testing.assert_allclose(row["contributions"], want, rtol=1e-12)
    assert row["c"] == float(france.c[0, 0, step - 1, unit])
    assert row["initial"] == 0.0  # the model starts from zeros
    assert abs(row["c"] - row["initial"] - sum(row["contributions"])) < 1e-6 * sum(map(abs, want))
    assert row["tokens"] == list(france.tokens[:step])
    assert row["largest_step"] == int(np.argmax(np.abs(want))) + 1


def test_explain_reverse_direction_runs_over_the_steps_it_read():
    trace = open_and_trace(BITAGGER, text=DUCK).trace
    proc = _run("explain", BITAGGER, "--text", DUCK, "--unit", 5, "--step", 4, "--layer", 2,
                "--direction", "rev", "--json")  # fmt: skip
    row = json.loads(proc.stdout)
    T = trace.T
    assert row["steps"] == list(range(T, 3, -1)) and row["direction"] == "rev" and row["layer"] == 2
    f = trace.f[1, 1, :, 5].astype(np.float64)
    ig = (trace.i[1, 1, :, 5] * trace.g[1, 1, :, 5]).astype(np.float64)
    want = [float(np.prod(f[3:s]) * ig[s]) for s in range(T - 1, 2, -1)]  # positions T−1..3
    np.testing.assert_allclose(row["contributions"], want, rtol=1e-12)
    assert row["c"] == float(trace.c[1, 1, 3, 5])


def test_explain_text_marks_the_largest(france):
    proc = _run("explain", FRANCE, "--unit", 0, "--step", 6)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 0 and lines[0].startswith("c[0] at step 6 and (L1 fwd) = ")
    assert len(lines) == 1 + 6 + 1 and lines[-1].startswith("residual")
    assert sum("← largest" in line for line in lines) == 1
    assert lines[5].split()[2] == france.tokens[4] == "France"


@pytest.mark.parametrize("args,what", [
    (("--unit", 99, "--step", 2), "--unit 99"), (("--unit", 0, "--step", 0), "numbered from 1"),
    (("--unit", 0, "--step", 999), "--step 999"), (("--unit", 0, "--step", 1, "--layer", 2), "--layer 2"),
    (("--unit", 0, "--step", 1, "--direction", "rev"), "--direction rev"), (("--step", 1), "--unit"),
])  # fmt: skip
def test_explain_bad_arguments_are_one_line(args, what):
    assert what in _error(_run("explain", FRANCE, *args))


def test_stats_json_has_every_key_and_direct_counts(france):
    proc = _run("stats", FRANCE, "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0 and len(rows) == france.hidden_size
    keys = {"layer", "direction", "unit", "i_left", "i_right", "f_left", "f_right", "o_left",
            "o_right", "var_c", "mean_abs_delta", "half_life"}  # fmt: skip
    for row in rows:
        assert keys <= set(row) and row["layer"] == 1 and row["direction"] == "fwd"
        u = row["unit"]
        o = france.o[0, 0, :, u]
        assert row["o_left"] == np.count_nonzero(o < 0.1) / france.T
        assert row["o_right"] == np.count_nonzero(o > 0.9) / france.T
        assert row["var_c"] == pytest.approx(float(france.c[0, 0, :, u].astype(np.float64).var()),
                                             rel=1e-12)  # fmt: skip


def test_stats_by_and_top(france):
    proc = _run("stats", FRANCE, "--by", "mean_abs_delta", "--top", 4, "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    c = france.c[0, 0].astype(np.float64)
    delta = np.abs(np.diff(np.concatenate([france.c0[0, 0][None], c]), axis=0)).mean(axis=0)
    assert [r["unit"] for r in rows] == list(np.argsort(-delta, kind="stable")[:4])
    proc = _run("stats", FRANCE, "--by", "token:France", "--top", 3, "--json")
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    r = [abs(row["r_token"]) for row in rows]
    assert r == sorted(r, reverse=True) and len(rows) == 3
    text = _run("stats", BITAGGER, "--text", DUCK, "--by", "output", "--top", 5)
    lines = text.stdout.splitlines()
    assert text.returncode == 0 and lines[0].split()[-1] == "output" and len(lines) == 6
    assert all(line.startswith("L2 ") for line in lines[1:])  # the head reads the top layer
    assert "--by 'nope'" in _error(_run("stats", FRANCE, "--by", "nope"))
    assert "no label" in _error(_run("stats", FRANCE, "--by", "label:Klingon"))


def _planted(tmp_path: Path) -> Path:
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(3, 5, num_layers=2)
            self.head = torch.nn.Linear(5, 2)

    torch.manual_seed(0)
    net = Net()
    with torch.no_grad():
        net.lstm.bias_hh_l0[5:10] = 1.0  # the forget bias initialised in one bias, layer 0 only
    rng = np.random.default_rng(0)
    examples = [rng.normal(size=(12, 3)).tolist() for _ in range(2)]
    return save_checkpoint(net, tmp_path / "planted.pt", examples=examples, labels=["a", "b"],
                           tokenizer=None)  # fmt: skip


def test_doctor_exit_codes(tmp_path):
    clean = _run("doctor", TAGGER)
    assert clean.returncode == 0 and clean.stdout.splitlines() == ["no findings"], clean.stderr
    found = _run("doctor", _planted(tmp_path))
    lines = found.stdout.splitlines()
    assert found.returncode == 1, found.stderr
    assert lines[0].startswith("forget_bias: L1 fwd: b_hh's forget slice is set by hand to 1")
    assert lines[1].startswith("forget_bias: L2 fwd: ") and lines[-1] == f"{len(lines) - 1} findings"
    js = _run("doctor", tmp_path / "planted.pt", "--json")
    rows = [json.loads(line) for line in js.stdout.splitlines()]
    assert js.returncode == 1 and [r["check"] for r in rows[:2]] == ["forget_bias"] * 2
    _error(_run("doctor", tmp_path / "missing.pt"))
    assert "examples are numbered from 1" in _error(_run("doctor", TAGGER, "--example", 0))


def test_doctor_on_a_recorded_trace_and_one_input(tmp_path):
    out = tmp_path / "run.npz"
    assert _run("record", TAGGER, "-o", out).returncode == 0
    proc = _run("doctor", out)
    assert proc.returncode == 0 and proc.stdout.strip() == "no findings"
    one = _run("doctor", TAGGER, "--text", "The dog ate the apple")
    assert one.returncode == 0 and one.stdout.strip() == "no findings"
    nan = tmp_path / "nan.npy"  # a numeric model on an input with a NaN: found, with its place
    x = np.ones((30, 1))
    x[4, 0] = np.nan
    np.save(nan, x)
    bad = _run("doctor", ROOT / "sample_models" / "peephole.pt", "--input", nan)
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0] == "nonfinite: input: the first NaN/Inf is in x (step 5, unit 0)"


def test_the_commands_are_listed():
    for cmd in ("explain", "stats", "doctor"):
        proc = _run(cmd, "--help")
        assert proc.returncode == 0 and f"lstm-tui {cmd}" in proc.stdout
