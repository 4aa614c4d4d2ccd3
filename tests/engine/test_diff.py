"""Trace.diff: differences against hand computations, and a model against its own ONNX export.

The small traces here are built by hand (not recorded), so each expected number is
arithmetic on the arrays written in the test: a changed f at one step must show in f,
kept = f·c_prev and forgotten = c_prev − kept there and nowhere else. The ONNX half is
the use the issue names: a checkpoint and its export agree, and an export with two gate
blocks swapped is caught at step 1 with those two gates named.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import lstm_engine
from lstm_engine import Ablate, InputError, LSTMSpec, SetState, Trace, TraceDiff, branch, record

ROOT = Path(__file__).resolve().parents[2]


def _hand(T=3, H=2, *, tokens=None, output=None, labels=None, **changes) -> Trace:
    """A 1-layer, 1-direction trace with simple known values; `changes` = {name: {(t, unit): v}}."""
    arrays = {
        "i": np.full((1, 1, T, H), 0.5), "f": np.full((1, 1, T, H), 0.75),
        "g": np.full((1, 1, T, H), 0.25), "o": np.full((1, 1, T, H), 0.5),
        "c": np.arange(T * H, dtype=np.float64).reshape(1, 1, T, H) / 10,
        "h": np.arange(T * H, dtype=np.float64).reshape(1, 1, T, H) / 20,
    }  # fmt: skip
    for name, at in changes.items():
        for (t, unit), v in at.items():
            arrays[name][0, 0, t, unit] = v
    return Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, H)), c0=np.zeros((1, 1, H)),
                 tokens=tokens, output=output, labels=labels, **arrays)  # fmt: skip


def test_one_changed_gate_shows_where_the_formulas_use_it():
    a = _hand()
    b = _hand(f={(1, 0): 0.5})  # f 0.75 → 0.5 at position 1, unit 0; c_prev there is c[0, 0] = 0
    b2 = _hand(f={(2, 1): 0.5})  # at position 2, unit 1: c_prev = c[1, 1] = 0.3
    d = a.diff(b)
    first = d.first_divergence
    assert (first.t, first.step, first.layer, first.direction) == (1, 2, 0, 0)
    assert [(q.name, q.max_abs, q.unit) for q in first.quantities] == [("f", 0.25, 0)]
    d2 = a.diff(b2)
    got = {q.name: (q.max_abs, q.unit) for q in d2.first_divergence.quantities}
    # kept = f·c_prev: 0.3·(0.5 − 0.75); forgotten = c_prev − kept: the opposite
    assert got == {"f": (0.25, 1), "kept": (pytest.approx(0.075), 1),
                   "forgotten": (pytest.approx(0.075), 1)}  # fmt: skip
    assert [q.name for q in d2.first_divergence.gates] == ["f"]
    assert d2.first_divergence.largest.name == "f"
    assert d2.diverged and d2.max_abs == 0.25
    np.testing.assert_array_equal(d2.step_max[(0, 0, "f")], [0, 0, 0.25])


def test_the_gates_that_differ_are_named_largest_first():
    a = _hand()
    b = _hand(i={(0, 1): 0.6}, o={(0, 0): 0.9}, g={(1, 0): 0.0})
    first = a.diff(b).first_divergence
    assert first.t == 0
    assert [(q.name, q.unit) for q in first.gates] == [("o", 0), ("i", 1)]
    assert first.gates[0].max_abs == pytest.approx(0.4)
    assert first.gates[1].max_abs == pytest.approx(0.1)
    assert "written" in {q.name for q in first.quantities}  # i·g: 0.1·0.25
    assert "g" not in {q.name for q in first.quantities}  # g differs only at the next step


def test_units_that_differ_most_and_the_difference_array():
    a = _hand(T=4, H=3)
    b = _hand(T=4, H=3, c={(1, 2): 5.0, (3, 0): 1.0, (2, 1): 0.55})
    d = a.diff(b)
    # c was 0.5 at (1, 2), 0.9 at (3, 0), 0.7 at (2, 1)
    top = d.top_units("c")
    assert [(u.unit, u.t) for u in top] == [(2, 1), (1, 2), (0, 3)]
    assert [u.max_abs for u in top] == pytest.approx([4.5, 0.15, 0.1])
    assert [u.unit for u in d.top_units("c", k=1)] == [2]
    delta = d.delta("c")
    assert delta.shape == (3, 4)  # units × steps
    expected = np.zeros((3, 4))
    expected[2, 1], expected[0, 3], expected[1, 2] = 4.5, 0.1, -0.15
    np.testing.assert_allclose(delta, expected, atol=1e-15)
    np.testing.assert_allclose(d.delta("delta_c", t0=1, t1=3), (b.delta_c - a.delta_c)[0, 0, 1:3].T)
    assert d.top_units("i") == []  # nothing differs in i


def test_tolerance_decides_what_is_a_divergence():
    a, b = _hand(), _hand(h={(2, 1): 0.25 + 1e-7})  # h was 0.25 there
    assert a.diff(b).first_divergence.t == 2  # float64: 1e-10 by default
    assert a.diff(b, tol=1e-6).first_divergence is None
    assert not a.diff(b, tol=1e-6).diverged
    with pytest.raises(InputError, match="tolerance"):
        a.diff(b, tol=-1)


def test_nan_against_a_number_is_a_divergence_and_nan_against_nan_is_not():
    a, b = _hand(c={(1, 1): np.nan}), _hand(c={(1, 1): np.nan})
    assert a.diff(b).first_divergence is None
    first = _hand().diff(a).first_divergence
    assert first.t == 1 and first.largest.max_abs == np.inf and first.largest.unit == 1
    assert json.dumps(_hand().diff(a).to_json(), allow_nan=False)


def test_inputs_of_different_length_and_tokens_are_aligned_by_position():
    a = _hand(T=3, tokens=("I", "saw", "France"))
    b = _hand(T=5, tokens=("I", "saw", "Spain", "and", "more"))
    d = a.diff(b)
    assert d.T == 3 and d.length_difference == 2 and d.token_positions == (2,)
    j = d.to_json()
    assert j["steps"] == {"a": 3, "b": 5, "compared": 3, "length_difference": 2}
    assert j["tokens_differ_at"] == [3]  # steps as on screen
    assert "tokens differ at step 3 (France → Spain)" in d.report_lines()
    assert "b is 2 steps longer" in d.report_lines()[0]


def test_top_predictions_per_step_and_the_first_change():
    out_a = np.log(np.array([[0.7, 0.3], [0.6, 0.4], [0.2, 0.8]]))
    out_b = np.log(np.array([[0.9, 0.1], [0.4, 0.6], [0.1, 0.9]]))
    a = _hand(output=out_a, labels=("French", "Spanish"))
    b = _hand(output=out_b, labels=("French", "Spanish"))
    d = a.diff(b)
    np.testing.assert_array_equal(d.prediction_changed, [False, True, False])
    assert d.first_prediction_change == 1
    assert d.output_max_abs == pytest.approx(np.log(3))  # step 1: log 0.3 → log 0.1
    assert d.to_json()["prediction"] == {
        "output_max_abs": d.output_max_abs, "changed_at": [2],
        "first_change": {"step": 2, "a": "French", "b": "Spanish"}}  # fmt: skip
    assert d.diverged  # the LSTM arrays are equal, the predictions are not
    assert a.diff(_hand()).prediction_changed is None  # no output on one side
    assert a.diff(_hand()).to_json()["prediction"] is None


def test_traces_of_different_shapes_are_refused():
    with pytest.raises(InputError, match="same LSTM shape"):
        _hand(H=2).diff(_hand(H=3))


def test_a_branch_against_its_parent_starts_at_the_edit_in_every_direction():
    spec = LSTMSpec.random(3, 5, 2, bidirectional=True, seed=7, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((9, 3))
    parent = record(spec, x)
    for d, t in ((0, 3), (1, 5)):
        child = branch(parent, [SetState(name="c", t=t, unit=4, value=2.0, direction=d)])
        diff = parent.diff(child)
        first = diff.first_divergence
        assert (first.layer, first.direction, first.t) == (0, d, t)
        assert first.largest.name == "c" and first.largest.unit == 4
        assert first.largest.max_abs == abs(2.0 - parent.c[0, d, t, 4])
        assert {q.name for q in first.gates} == set()  # the gates at t read the old state
        starts = diff.starts()
        assert starts[(0, 1 - d)] is None
        # the layer above reads the edited h where the edited direction changed it: from t
        # to the end of that direction's reading order, so the layer above's other
        # direction meets it at the first position it reads (a forward one at 0, a reverse one at 8)
        assert starts[(1, d)] == t and starts[(1, 1 - d)] == (8 if d == 0 else 0)
    # the json report numbers steps and layers as on screen
    j = parent.diff(child).to_json()
    assert j["first_divergence"]["step"] == 6 and j["first_divergence"]["layer"] == 1
    assert j["first_divergence"]["direction"] == "reverse"
    assert j["diverges_from"] == {"L1.forward": None, "L1.reverse": 6, "L2.forward": 1,
                                  "L2.reverse": 6}  # fmt: skip
    assert parent.diff(parent).first_divergence is None


def test_a_long_trace_is_compared_window_by_window(monkeypatch):
    import lstm_engine.core.diff as diff_module

    spec = LSTMSpec.random(2, 4, 1, seed=2, dtype=np.float64)
    parent = record(spec, np.random.default_rng(1).standard_normal((50, 2)))
    child = branch(parent, [Ablate(unit=1, from_t=17)])
    whole = TraceDiff(parent, child)
    monkeypatch.setattr(diff_module, "WINDOW", 7)
    windowed = TraceDiff(parent, child)
    for k in whole.step_max:
        np.testing.assert_array_equal(whole.step_max[k], windowed.step_max[k])
        np.testing.assert_array_equal(whole.unit_max[k], windowed.unit_max[k])
        np.testing.assert_array_equal(whole.unit_step[k], windowed.unit_step[k])
    assert windowed.first_divergence.t == 17
    np.testing.assert_array_equal(whole.step_max[(0, 0, "c")][:17], 0)
    np.testing.assert_allclose(whole.step_max[(0, 0, "c")],
                               np.abs(child.c - parent.c)[0, 0].max(axis=1))  # fmt: skip


# --- a model against its ONNX export
onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")


def _export(tmp_path) -> tuple[Path, Path]:
    from lstm_engine.formats.onnx_write import checkpoint_to_onnx

    pt = ROOT / "sample_models" / "france.pt"
    out = tmp_path / "france.onnx"
    checkpoint_to_onnx(pt, out)
    return pt, out


def _swap_gate_blocks(path: Path, out: Path, a: int, b: int) -> None:
    """Rewrite every LSTM node's W, R and B with ONNX gate blocks a and b exchanged."""
    from onnx import numpy_helper

    model = onnx.load(str(path))
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "LSTM":
            continue
        for k, name in enumerate(node.input[1:4]):
            arr = numpy_helper.to_array(inits[name]).copy()
            halves = 2 if k == 2 else 1  # B holds Wb then Rb
            H = arr.shape[1] // (4 * halves)
            blocks = arr.reshape(arr.shape[0], halves, 4, H, *arr.shape[2:])
            blocks[:, :, [a, b]] = blocks[:, :, [b, a]]
            inits[name].CopyFrom(numpy_helper.from_array(blocks.reshape(arr.shape), name))
    onnx.save(model, str(out))


def test_a_checkpoint_and_its_onnx_export_do_not_diverge(tmp_path):
    pt, exported = _export(tmp_path)
    model, port = lstm_engine.load(pt), lstm_engine.load(exported)
    for text in model.examples[:2]:
        d = model.trace(text).diff(port.trace(text))
        assert d.tol == 1e-5 and d.first_divergence is None, d.report_lines()
        assert d.max_abs < 1e-5
        assert d.prediction_changed is not None and not d.prediction_changed.any()
        assert not d.diverged


def test_an_export_with_two_gates_swapped_is_caught_at_step_1_naming_them(tmp_path):
    pt, exported = _export(tmp_path)
    swapped = tmp_path / "swapped.onnx"
    _swap_gate_blocks(exported, swapped, 1, 2)  # ONNX's o and f blocks (i, o, f, c)
    model = lstm_engine.load(pt)
    text = model.examples[0]
    d = model.trace(text).diff(lstm_engine.load(swapped).trace(text))
    first = d.first_divergence
    assert (first.step, first.layer, first.direction) == (1, 0, 0)
    # from the zero initial state, step 1's i and g (and c = i·g) do not depend on the swap
    assert sorted(q.name for q in first.gates) == ["f", "o"]
    assert "c" not in {q.name for q in first.quantities}
    assert "gates that differ there" in "\n".join(d.report_lines())
    j = d.to_json()
    assert j["first_divergence"]["step"] == 1
    assert {g["quantity"] for g in j["first_divergence"]["gates"]} == {"f", "o"}


def test_a_stacked_lstm_and_its_export_node_by_node_compare_layer_by_layer(tmp_path):
    from lstm_engine.formats.onnx_write import checkpoint_to_onnx

    pt = ROOT / "sample_models" / "bitagger.pt"
    checkpoint_to_onnx(pt, tmp_path / "bitagger.onnx")
    model = lstm_engine.load(pt)
    text = model.examples[0]
    port = lstm_engine.load(tmp_path / "bitagger.onnx")
    nodes = [lstm_engine.load(tmp_path / "bitagger.onnx", lstm=n).trace(text)
             for n in port.lstm_names]  # fmt: skip
    stacked = lstm_engine.stack_layers(nodes)
    assert (stacked.num_layers, stacked.num_directions) == (2, 2)
    np.testing.assert_array_equal(stacked.x, nodes[0].x)
    np.testing.assert_array_equal(stacked.c[1], nodes[1].c[0])
    assert stacked.spec.num_layers == 2 and stacked.output is nodes[1].output
    d = model.trace(text).diff(stacked)
    assert d.first_divergence is None and d.max_abs < 1e-5
    with pytest.raises(InputError, match="reads 16 features per step"):
        lstm_engine.stack_layers([nodes[0], nodes[0]])
    with pytest.raises(InputError, match="one-layer traces"):
        lstm_engine.stack_layers([model.trace(text)])


def test_a_window_that_only_reads_a_changed_state_across_its_border_is_compared(monkeypatch):
    import lstm_engine.core.diff as diff_module

    rng = np.random.default_rng(4)
    T, H = 14, 3
    arrays = {n: rng.uniform(0.1, 0.9, (1, 2, T, H)) for n in ("i", "f", "g", "o", "c", "h")}
    a = Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 2, H)), c0=np.zeros((1, 2, H)), **arrays)
    changed = {n: v.copy() for n, v in arrays.items()}
    changed["c"][0, 0, 6, 1] += 0.5  # forward: position 7 reads it as c_prev
    changed["c"][0, 1, 7, 2] += 0.25  # reverse: position 6 reads it as c_prev
    b = Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 2, H)), c0=np.zeros((1, 2, H)), **changed)
    monkeypatch.setattr(diff_module, "WINDOW", 7)  # the windows [0, 7) and [7, 14)
    d = a.diff(b)
    assert d.step_max[(0, 0, "c_prev")][7] == pytest.approx(0.5)
    assert d.step_max[(0, 1, "c_prev")][6] == pytest.approx(0.25)
    assert d.step_max[(0, 0, "kept")][7] == pytest.approx(0.5 * arrays["f"][0, 0, 7, 1])
    monkeypatch.setattr(diff_module, "WINDOW", 512)
    whole = a.diff(b)
    for k in whole.step_max:
        np.testing.assert_array_equal(whole.step_max[k], d.step_max[k])


def test_open_pair_runs_both_models_on_one_input_and_stacks_an_exports_nodes(tmp_path):
    from lstm_engine.formats.onnx_write import checkpoint_to_onnx

    pt = ROOT / "sample_models" / "bitagger.pt"
    checkpoint_to_onnx(pt, tmp_path / "bitagger.onnx")
    a, b = lstm_engine.open_pair(pt, tmp_path / "bitagger.onnx", text="the dog ran")
    assert a.tokens == b.tokens == ("the", "dog", "ran") and b.num_layers == 2
    assert a.diff(b).first_divergence is None
    a.save(tmp_path / "a.npz")
    recorded, rerun = lstm_engine.open_pair(tmp_path / "a.npz", tmp_path / "bitagger.onnx")
    assert rerun.tokens == recorded.tokens  # the model reads what the recording read
    first = lstm_engine.load(pt).examples[0]
    default_a, default_b = lstm_engine.open_pair(pt, tmp_path / "bitagger.onnx")
    assert " ".join(default_a.tokens) == first and default_b.tokens == default_a.tokens
    with pytest.raises(InputError, match="both recorded traces"):
        lstm_engine.open_pair(tmp_path / "a.npz", tmp_path / "a.npz", text="the dog")
