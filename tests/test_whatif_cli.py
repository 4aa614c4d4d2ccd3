"""`lstm-tui record --edit` and `lstm-tui diff`, run as a user runs them (real subprocesses).

What is saved is checked against the engine making the same branch, the lineage against
the recording's own identity, and every mistake is one error line (a bad edit's text and
a caret under it after it) with exit status 2; diff exits 0, 1 or 2 like diff(1).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import Ablate, Trace, open_and_trace, parse_edit

ROOT = Path(__file__).resolve().parents[1]
FRANCE = ROOT / "sample_models" / "france.pt"
BITAGGER = ROOT / "sample_models" / "bitagger.pt"


def _run(*args, cwd=None) -> subprocess.CompletedProcess:
    script = Path(sys.executable).with_name("lstm-tui")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]
    return subprocess.run([*cmd, *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=cwd)  # fmt: skip


def _error_lines(proc, n=1) -> list[str]:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert lines[0].startswith("lstm-tui: error: ") and len(lines) == n, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines


@pytest.fixture(scope="module")
def france():
    return open_and_trace(FRANCE)


def test_record_edit_saves_the_branch_with_its_parent_and_edits(tmp_path, france):
    plain, branched = tmp_path / "plain.npz", tmp_path / "branch.npz"
    assert _run("record", FRANCE, "-o", plain).returncode == 0
    t = france.trace.tokens.index("France") + 1  # the step on screen
    u = france.model.focus["unit"]  # the sample's France unit
    proc = _run("record", FRANCE, "--edit", f"ablate {u} from {t}", "--edit", f"token {t} = Spain",
                "-o", branched)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"ablate {u} from {t}" in proc.stdout and f"token {t} = Spain" in proc.stdout
    want = france.branch([parse_edit(f"ablate {u} from {t}", france.trace),
                          parse_edit(f"token {t} = Spain", france.trace)])  # fmt: skip
    first = france.trace.diff(want).first_prediction_change
    before, after = (tr.labels[int(tr.output[first].argmax())] for tr in (france.trace, want))
    assert first is not None and before != after
    assert f"the top prediction first changes at step {first + 1}: {before} → {after}" \
        in proc.stdout  # fmt: skip
    saved, parent = Trace.load(branched), Trace.load(plain)
    assert saved.parent == parent.identity == france.trace.identity
    assert saved.root == parent.identity
    assert saved.edits == want.edits and saved.edits[0] == Ablate(unit=u, from_t=t - 1)
    assert saved.tokens[t - 1] == "Spain"
    for name in ("x", "c", "h", "output"):
        np.testing.assert_array_equal(getattr(saved, name), getattr(want, name), err_msg=name)


def test_a_bad_edit_is_one_line_with_the_edit_and_a_caret_and_writes_nothing(tmp_path):
    out = tmp_path / "branch.npz"
    proc = _run("record", FRANCE, "--edit", "c[99] = 0 at 3", "-o", out)
    first, shown, caret = _error_lines(proc, 3)
    assert "--edit 'c[99] = 0 at 3'" in first and "unit 99" in first
    assert shown == "  c[99] = 0 at 3" and caret.strip().startswith("^")
    assert not out.exists()
    for edit, says in (("c[1] = 0 at 900", "step"), ("q[1] = 0 at 3", "q"),
                       ("token 5 = Narnia", "'Narnia' is not in")):  # fmt: skip
        lines = _run("record", FRANCE, "--edit", edit, "-o", out).stderr.splitlines()
        assert lines[0].startswith("lstm-tui: error: ") and says in lines[0], lines
        assert not out.exists()


def test_a_recording_branches_and_says_its_output_was_not_recomputed(tmp_path):
    rec, branched = tmp_path / "rec.npz", tmp_path / "branch.npz"
    assert _run("record", FRANCE, "-o", rec).returncode == 0
    proc = _run("record", rec, "--edit", "c[:] = 0 at 7", "-o", branched)
    assert proc.returncode == 0, proc.stderr
    assert "note: output not recomputed for this branch" in proc.stdout
    saved = Trace.load(branched)
    assert saved.parent == Trace.load(rec).identity and saved.output is None
    assert saved.output_not_recomputed.startswith("output not recomputed for this branch")
    np.testing.assert_array_equal(saved.c[0, 0, 6], 0.0)
    # an existing file is the user's: not replaced without --force
    again = _run("record", rec, "--edit", "c[:] = 0 at 7", "-o", branched)
    assert "--force" in _error_lines(again)[0]
    # info on the branch says how it was made, and that it has no output of its own
    info = _run("info", branched)
    assert info.returncode == 0, info.stderr
    rows = {line.split()[0]: line for line in info.stdout.splitlines() if line.strip()}
    assert Trace.load(rec).identity[:19] in rows["branch"]
    assert rows["edits"].split(None, 1)[1] == "c[:] = 0 at 7"
    assert "output not recomputed for this branch" in rows["output"]


def test_layer_and_direction_defaults_for_edits_without_a_prefix(tmp_path):
    out = tmp_path / "b.npz"
    proc = _run("record", BITAGGER, "--layer", "2", "--direction", "reverse", "--edit",
                "c[0] = 0.5 at 3", "--edit", "L1.fwd.h[1] = 0 at 2", "-o", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    edits = Trace.load(out).edits
    assert [(e.layer, e.direction, e.t) for e in edits] == [(1, 1, 2), (0, 0, 1)]
    assert "--layer 3" in _error_lines(_run("record", BITAGGER, "--layer", "3", "--edit",
                                            "c[0] = 0 at 1", "-o", out))[0]  # fmt: skip
    assert _run("record", FRANCE, "--layer", "0", "--edit", "c[0] = 0 at 1", "-o", out)\
        .returncode == 2  # fmt: skip


def test_diff_of_two_traces_text_and_json_with_diff_exit_codes(tmp_path, france):
    parent, child = tmp_path / "parent.npz", tmp_path / "child.npz"
    assert _run("record", FRANCE, "-o", parent).returncode == 0
    t = france.trace.tokens.index("France") + 1
    u = france.model.focus["unit"]
    assert _run("record", FRANCE, "--edit", f"ablate {u} from {t}", "-o", child).returncode == 0
    proc = _run("diff", parent, child)
    assert proc.returncode == 1, proc.stderr
    assert f"first divergence beyond 1e-05: step {t}, L1 forward" in proc.stdout
    engine = Trace.load(parent).diff(Trace.load(child))
    assert proc.stdout.splitlines()[2:] == engine.report_lines()  # after the a: and b: lines
    assert any(line.startswith("units that differ most in c, L1 forward: ")
               for line in proc.stdout.splitlines())  # fmt: skip
    j = json.loads(_run("diff", parent, child, "--json").stdout)
    want = Trace.load(parent).diff(Trace.load(child)).to_json()
    assert j["first_divergence"] == want["first_divergence"] and j["first_divergence"]["step"] == t
    assert j["prediction"] == want["prediction"]
    same = _run("diff", parent, parent)
    assert same.returncode == 0 and "no divergence beyond 1e-05" in same.stdout
    loose = _run("diff", parent, child, "--tol", "1e9")
    assert "no divergence beyond 1e+09" in loose.stdout


def test_diff_of_two_inputs_says_which_tokens_differ(tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    assert _run("record", FRANCE, "--text", "I grew up in France and I speak fluent", "-o", a)\
        .returncode == 0  # fmt: skip
    assert _run("record", FRANCE, "--text", "I grew up in Spain and I speak fluent", "-o", b)\
        .returncode == 0  # fmt: skip
    proc = _run("diff", a, b)
    assert proc.returncode == 1
    assert "tokens differ at step 5 (France → Spain)" in proc.stdout
    assert "first divergence beyond 1e-05: step 5, L1 forward" in proc.stdout
    # a recorded trace against the model: the model reads the trace's tokens
    model_vs_trace = _run("diff", a, FRANCE)
    assert model_vs_trace.returncode == 0, model_vs_trace.stdout + model_vs_trace.stderr


def test_diff_mistakes_are_one_line_and_exit_2(tmp_path):
    rec = tmp_path / "rec.npz"
    assert _run("record", FRANCE, "-o", rec).returncode == 0
    assert "no such file" in _error_lines(_run("diff", rec, tmp_path / "missing.npz"))[0]
    assert "take no --text" in _error_lines(_run("diff", rec, rec, "--text", "I speak"))[0]
    tagger = ROOT / "sample_models" / "tagger.pt"
    assert "same LSTM shape" in _error_lines(_run("diff", FRANCE, tagger, "--text", "the dog"))[0]
    assert "tolerance" in _error_lines(_run("diff", rec, rec, "--tol", "-1"))[0]


def test_diff_a_checkpoint_against_its_onnx_export_and_a_gate_swapped_one(tmp_path):
    onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from onnx import numpy_helper

    from lstm_engine.formats.onnx_write import checkpoint_to_onnx

    good, bad = tmp_path / "bitagger.onnx", tmp_path / "swapped.onnx"
    checkpoint_to_onnx(BITAGGER, good)
    proc = _run("diff", BITAGGER, good)  # two one-layer nodes, compared as the 2-layer LSTM
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "no divergence beyond 1e-05" in proc.stdout
    model = onnx.load(str(good))
    inits = {t.name: t for t in model.graph.initializer}
    node = next(n for n in model.graph.node if n.op_type == "LSTM")  # the first layer's
    for k, name in enumerate(node.input[1:4]):  # W, R, B: swap ONNX's o and f blocks (i, o, f, c)
        arr = numpy_helper.to_array(inits[name]).copy()
        halves = 2 if k == 2 else 1
        blocks = arr.reshape(arr.shape[0], halves, 4, -1, *arr.shape[2:])
        blocks[:, :, [1, 2]] = blocks[:, :, [2, 1]]
        inits[name].CopyFrom(numpy_helper.from_array(blocks.reshape(arr.shape), name))
    onnx.save(model, str(bad))
    proc = _run("diff", BITAGGER, bad, "--json")
    assert proc.returncode == 1, proc.stderr
    first = json.loads(proc.stdout)["first_divergence"]
    assert (first["step"], first["layer"], first["direction"]) == (1, 1, "forward")
    assert sorted(g["quantity"] for g in first["gates"]) == ["f", "o"]
    text = _run("diff", BITAGGER, bad).stdout
    assert "first divergence beyond 1e-05: step 1, L1 forward" in text
    assert "gates that differ there, largest first: " in text
