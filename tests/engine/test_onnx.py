"""ONNX LSTM nodes traced by the engine, held to onnxruntime at every step (float32, 1e-5).

Each test builds its model with onnx.helper, so every attribute of the ONNX
LSTM operator is exercised on purpose: directions, layout, initial states,
sequence_lens, clip, input_forget, peepholes, every activation with its
alpha/beta, a missing bias, stacked nodes, and an embedding Gather in front.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_helpers import (  # noqa: E402
    Oracle,
    lstm_arrays,
    lstm_node,
    session,
    single_lstm_model,
)

import lstm_engine  # noqa: E402
from lstm_engine import Activation, CellActivations, LoadError, LSTMSpec, record  # noqa: E402
from lstm_engine.formats.onnx_write import checkpoint_to_onnx, spec_to_onnx  # noqa: E402
from lstm_engine.formats.onnx_read import ONNX_EXTRA, load_onnx, resolve_activations  # noqa: E402

TOL = 1e-5
ROOT = Path(__file__).resolve().parents[2]


def save(model, tmp_path, name="model.onnx") -> str:
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def assert_matches_ort(trace, oracle: Oracle, X: np.ndarray, b: int, *, rtol=0.0) -> float:
    """Every step's h and c of the trace against onnxruntime's; returns the max abs diff.

    Every trace, a reverse-only node's too, is indexed by sequence position, as Y is.
    """
    h_ref, c_ref = oracle.states(X, b)
    h, c = trace.h[0], trace.c[0]
    assert h.shape == h_ref.shape and c.shape == c_ref.shape
    np.testing.assert_allclose(h, h_ref, atol=TOL, rtol=rtol, err_msg="h vs onnxruntime")
    np.testing.assert_allclose(c, c_ref, atol=TOL, rtol=rtol, err_msg="c vs onnxruntime")
    return float(max(np.abs(h - h_ref).max(), np.abs(c - c_ref).max()))


def assert_y_matches(trace, Y, b, L, *, layout=0):
    """The trace's h against the node's own Y output from one batched onnxruntime run."""
    Y = Y.transpose(1, 2, 0, 3) if layout else Y  # [batch, T, D, H] → [T, D, batch, H]
    h = trace.h[0]
    np.testing.assert_allclose(h, Y[:L, :, b].transpose(1, 0, 2), atol=TOL, rtol=0)
    if L < Y.shape[0]:  # onnxruntime zeroes the padded steps; the trace stops at L
        assert not Y[L:, :, b].any()


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_direction(tmp_path, direction):
    D = 2 if direction == "bidirectional" else 1
    arrays = lstm_arrays(3, 4, D, seed=1)
    model = single_lstm_model(arrays, direction=direction)
    X = np.random.default_rng(2).normal(size=(6, 2, 3)).astype(np.float32)
    Y, Y_h, Y_c = session(model).run(None, {"X": X})
    m = load_onnx(save(model, tmp_path))
    oracle = Oracle(model)
    assert m.spec.num_directions == D and m.lstm_names == ("lstm_1",)
    for b in range(2):
        tr = m.trace(X, batch_index=b)
        assert_matches_ort(tr, oracle, X, b)
        assert_y_matches(tr, Y, b, 6)
        assert "time_reversed" not in tr.meta  # indexed by position, like every trace
        assert tr.reads_reversed(0) is (direction == "reverse")
        np.testing.assert_array_equal(tr.x, X[:, b])
        assert tr.meta["batch_index"] == b and tr.meta["onnx_direction"] == direction
    # the last state each direction reaches is onnxruntime's Y_h / Y_c: right to left, position 0
    end = 0 if direction == "reverse" else -1
    np.testing.assert_allclose(tr.c[0, 0, end], Y_c[0, 1], atol=TOL, rtol=0)
    if D == 2:
        np.testing.assert_allclose(tr.c[0, 1, 0], Y_c[1, 1], atol=TOL, rtol=0)


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_initial_states_and_peepholes(tmp_path, direction):
    D = 2 if direction == "bidirectional" else 1
    arrays = lstm_arrays(3, 5, D, batch=3, peephole=True, initial=True, seed=3, scale=0.9)
    model = single_lstm_model(arrays, direction=direction)
    X = np.random.default_rng(4).normal(size=(5, 3, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    assert m.spec.peephole and "peephole" in m.spec.summary()
    oracle = Oracle(model)
    for b in range(3):
        tr = m.trace(X, batch_index=b)
        assert_matches_ort(tr, oracle, X, b)
        # the initial state is this entry's: c_prev at the first step read is initial_c[:, b]
        # (the last position, for a reverse-only node)
        first = -1 if direction == "reverse" else 0
        np.testing.assert_array_equal(tr.c_prev[0, 0, first], arrays["initial_c"][0, b])
        if D == 2:
            np.testing.assert_array_equal(tr.c_prev[0, 1, -1], arrays["initial_c"][1, b])
    # Pi, Po, Pf land on p_i, p_o, p_f: dropping any one changes the trace
    P = arrays["P"][0]
    w = m.spec.weights[0][0]
    np.testing.assert_array_equal(w.p_i, P[0:5])
    np.testing.assert_array_equal(w.p_o, P[5:10])
    np.testing.assert_array_equal(w.p_f, P[10:15])


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens(tmp_path, direction):
    D = 2 if direction == "bidirectional" else 1
    arrays = lstm_arrays(2, 4, D, batch=3, initial=True, peephole=True, seed=5)
    lens = np.array([7, 3, 5], np.int32)
    arrays["sequence_lens"] = lens
    model = single_lstm_model(arrays, direction=direction)
    X = np.random.default_rng(6).normal(size=(7, 3, 2)).astype(np.float32)
    Y, Y_h, Y_c = session(model).run(None, {"X": X})
    m = load_onnx(save(model, tmp_path))
    oracle = Oracle(model)
    traces = []
    for b in range(3):
        tr = m.trace(X, batch_index=b)
        L = int(lens[b])
        assert tr.T == L and tr.meta["sequence_length"] == L and tr.meta["padded_length"] == 7
        np.testing.assert_array_equal(tr.x, X[:L, b])
        assert_matches_ort(tr, oracle, X, b)
        assert_y_matches(tr, Y, b, L)
        # Y_h is where each direction ends: step L-1 forward, position 0 in reverse
        last = {"forward": (0, L - 1), "reverse": (0, 0), "bidirectional": (0, L - 1)}[direction]
        np.testing.assert_allclose(tr.h[0, last[0], last[1]], Y_h[0, b], atol=TOL, rtol=0)
        if direction == "bidirectional":
            np.testing.assert_allclose(tr.h[0, 1, 0], Y_h[1, b], atol=TOL, rtol=0)
            # the reverse direction starts at step L-1 from this entry's initial state
            np.testing.assert_array_equal(tr.c_prev[0, 1, L - 1], arrays["initial_c"][1, b])
        traces.append(tr)
    # batch_index really picks the sequence
    assert not np.allclose(traces[1].h[0, :, :3], traces[2].h[0, :, :3])


def test_clip_bounds_every_preactivation(tmp_path):
    arrays = lstm_arrays(3, 4, 2, peephole=True, seed=7, scale=2.0)
    model = single_lstm_model(arrays, direction="bidirectional", clip=0.75)
    X = np.random.default_rng(8).normal(0, 2, size=(6, 1, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    tr = m.trace(X)
    assert_matches_ort(tr, Oracle(model), X, 0)
    assert m.spec.clip == pytest.approx(0.75) and "clip 0.75" in m.spec.summary()
    assert tr.meta["attributes"]["clip"] == 0.75 and tr.meta["onnx_node"] == "lstm_1"
    z = tr.z[0]
    assert np.abs(z).max() <= 0.75 + 1e-7
    assert (np.abs(z) >= 0.75 - 1e-7).mean() > 0.2  # the weights are big enough that clip acts
    # without the clip the same weights give a different trace: the test can tell
    unclipped = load_onnx(
        save(single_lstm_model(arrays, direction="bidirectional"), tmp_path, "u.onnx")
    )
    assert np.abs(unclipped.trace(X).h - tr.h).max() > 1e-2


def test_input_forget(tmp_path):
    arrays = lstm_arrays(3, 4, 1, peephole=True, initial=True, seed=9)
    model = single_lstm_model(arrays, input_forget=1, clip=2.5)
    X = np.random.default_rng(10).normal(size=(6, 1, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    tr = m.trace(X)
    assert m.spec.input_forget
    assert_matches_ort(tr, Oracle(model), X, 0)
    np.testing.assert_allclose(tr.f, 1 - tr.i, atol=1e-7)


def test_no_bias(tmp_path):
    arrays = lstm_arrays(3, 4, 2, bias=False, seed=11)
    model = single_lstm_model(arrays, direction="bidirectional")
    X = np.random.default_rng(12).normal(size=(5, 2, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    assert not m.spec.bias and "no bias" in m.spec.summary()
    for b in range(2):
        assert_matches_ort(m.trace(X, batch_index=b), Oracle(model), X, b)


# Each activation in every slot (f for i/f/o, g, h), with explicit alpha/beta that
# differ per slot, so that the order in which they are consumed is tested too.
ACTIVATIONS = [
    "Sigmoid", "Tanh", "Relu", "Affine", "LeakyRelu", "ThresholdedRelu",
    "ScaledTanh", "HardSigmoid", "Elu", "Softsign", "Softplus",
]  # fmt: skip


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_every_activation_with_alpha_beta(tmp_path, name):
    slots = [[name, "Tanh", "Tanh"], ["Sigmoid", name, "Tanh"], ["Sigmoid", "Tanh", name]]
    X = np.random.default_rng(13).normal(size=(5, 2, 3)).astype(np.float32)
    for k, acts in enumerate(slots):
        alphas = [0.3 + 0.2 * j for j in range(3)]
        betas = [0.1 + 0.15 * j for j in range(3)]
        arrays = lstm_arrays(3, 4, 1, peephole=True, seed=14 + k)
        model = single_lstm_model(
            arrays, activations=acts, activation_alpha=alphas, activation_beta=betas
        )
        m = load_onnx(save(model, tmp_path, f"{k}.onnx"))
        oracle = Oracle(model)
        for b in range(2):
            assert_matches_ort(m.trace(X, batch_index=b), oracle, X, b)
        slot = {0: "i", 1: "g", 2: "c"}[k]
        got = getattr(m.spec.activations, slot)
        assert got.name == name
        if name in ("Affine", "ScaledTanh", "HardSigmoid"):
            assert (got.alpha, got.beta) == (pytest.approx(alphas[0]), pytest.approx(betas[0]))


def test_activation_defaults_follow_onnxruntime(tmp_path):
    # alpha/beta lists shorter than the activations that take them: onnxruntime walks each list
    # in order, giving values only to functions that have that parameter, then falls back to
    # its defaults (LeakyRelu 0.01, HardSigmoid 0.2/0.5, Elu 1.0, else 0).
    cases = [
        (["HardSigmoid", "LeakyRelu", "Elu"], [], []),
        (["HardSigmoid", "LeakyRelu", "Elu"], [0.4], [0.3]),
        (["Softsign", "ScaledTanh", "Affine"], [1.5], [0.7, 0.2]),
        (["Sigmoid", "ThresholdedRelu", "Affine"], [], []),
    ]
    X = np.random.default_rng(15).normal(size=(5, 1, 3)).astype(np.float32)
    for k, (acts, alphas, betas) in enumerate(cases):
        lists = {"activation_alpha": alphas, "activation_beta": betas}
        model = single_lstm_model(lstm_arrays(3, 4, seed=16 + k), activations=acts,
                                  **{k2: v for k2, v in lists.items() if v})  # fmt: skip
        m = load_onnx(save(model, tmp_path, f"{k}.onnx"))
        assert_matches_ort(m.trace(X), Oracle(model), X, 0)
    f, g, h = resolve_activations(["HardSigmoid", "LeakyRelu", "Elu"], [0.4], [0.3])
    assert (f.alpha, f.beta, g.alpha, h.alpha) == (
        pytest.approx(0.4),
        pytest.approx(0.3),
        0.01,
        1.0,
    )
    f, g, h = resolve_activations(["Softsign", "ScaledTanh", "Affine"], [1.5], [0.7, 0.2])
    assert (g.alpha, g.beta, h.alpha, h.beta) == (1.5, pytest.approx(0.7), 0.0, pytest.approx(0.2))


def test_bidirectional_activations(tmp_path):
    acts = ["HardSigmoid", "Softsign", "ScaledTanh"] * 2
    model = single_lstm_model(
        lstm_arrays(3, 4, 2, peephole=True, seed=20), direction="bidirectional", activations=acts,
        activation_alpha=[0.25, 0.9, 0.25, 0.9], activation_beta=[0.45, 1.3, 0.45, 1.3],
    )  # fmt: skip
    X = np.random.default_rng(21).normal(size=(6, 1, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    assert m.spec.activations == CellActivations(
        i=Activation("HardSigmoid", np.float32(0.25), np.float32(0.45)),
        f=Activation("HardSigmoid", np.float32(0.25), np.float32(0.45)),
        g=Activation("Softsign"),
        o=Activation("HardSigmoid", np.float32(0.25), np.float32(0.45)),
        c=Activation("ScaledTanh", np.float32(0.9), np.float32(1.3)),
    )
    assert_matches_ort(m.trace(X), Oracle(model), X, 0)


def test_each_direction_keeps_its_own_activations(tmp_path):
    """ONNX lets the directions of one node differ; the engine follows each (it used to refuse)."""
    acts = ["Sigmoid", "Tanh", "Tanh", "HardSigmoid", "Softsign", "ScaledTanh"]
    model = single_lstm_model(
        lstm_arrays(3, 4, 2, peephole=True, seed=40), direction="bidirectional", activations=acts,
        activation_alpha=[0.25, 0.9], activation_beta=[0.45, 1.3],
    )  # fmt: skip
    X = np.random.default_rng(41).normal(size=(6, 1, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    fwd, rev = m.spec.cell_activations(0, 0), m.spec.cell_activations(0, 1)
    assert fwd == CellActivations()
    assert rev.i == Activation("HardSigmoid", np.float32(0.25), np.float32(0.45))
    assert rev.g == Activation("Softsign") and rev.c.name == "ScaledTanh"
    assert "act per direction" in m.spec.summary()
    tr = m.trace(X)
    assert_matches_ort(tr, Oracle(model), X, 0)
    # derived quantities use each direction's own output activation
    np.testing.assert_allclose(tr.value("tanh_c", 0, 1, 2), rev.c(tr.c[0, 1, 2]), rtol=1e-6)
    np.testing.assert_allclose(tr.value("tanh_c", 0, 0, 2), np.tanh(tr.c[0, 0, 2]), rtol=1e-6)
    # and a saved trace, and a re-export, keep both sets
    back = lstm_engine.Trace.load(tr.save(tmp_path / "t.npz"))
    assert back.spec.cell_activations(0, 1) == rev and back.spec.cell_activations(0, 0) == fwd
    again = load_onnx(spec_to_onnx(m.spec, tmp_path / "again.onnx"))
    np.testing.assert_array_equal(again.trace(X).h, tr.h)


def test_reverse_only_node_is_indexed_by_position(tmp_path):
    """Tokens, x, states and the output panel all in sequence order; the previous step is t+1."""
    arrays = lstm_arrays(3, 4, 1, seed=42)
    model = single_lstm_model(arrays, direction="reverse")
    X = np.random.default_rng(43).normal(size=(5, 1, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    tr = m.trace(X)
    assert m.spec.directions == ("reverse",) and m.spec.summary().endswith("reverse")
    np.testing.assert_array_equal(tr.x, X[:, 0])
    for t in range(4):  # step t read the state at t + 1
        np.testing.assert_array_equal(tr.value("c_prev", 0, 0, t), tr.c[0, 0, t + 1])
    np.testing.assert_array_equal(tr.value("c_prev", 0, 0, 4), tr.c0[0, 0])
    np.testing.assert_array_equal(tr.value("h_prev", 0, 0, 4), tr.h0[0, 0])
    # the same computation as the reverse direction of a bidirectional spec, by position
    spec_bi = LSTMSpec.random(3, 4, bidirectional=True, seed=44)
    rev_only = LSTMSpec(weights=((spec_bi.weights[0][1],),), directions=("reverse",))
    a, b = record(spec_bi, X[:, 0]), record(rev_only, X[:, 0])
    for name in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_array_equal(getattr(b, name)[0, 0], getattr(a, name)[0, 1])
    np.testing.assert_array_equal(b.delta_c[0, 0], a.delta_c[0, 1])
    # a save keeps the reading order; an export writes direction="reverse" again
    back = lstm_engine.Trace.load(tr.save(tmp_path / "r.npz"))
    assert back.reads_reversed(0) and back.spec.directions == ("reverse",)
    np.testing.assert_array_equal(back.delta_c, tr.delta_c)
    exported = onnx.load(str(spec_to_onnx(rev_only, tmp_path / "rev.onnx")))
    node = [n for n in exported.graph.node if n.op_type == "LSTM"][0]
    assert helper.get_attribute_value(
        [a for a in node.attribute if a.name == "direction"][0]) == b"reverse"  # fmt: skip
    np.testing.assert_allclose(
        session(exported).run(["Y"], {"X": X})[0][:, 0], b.h[0, 0], atol=TOL, rtol=0
    )


@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_layout_1_matches_layout_0(tmp_path, direction):
    # onnxruntime's CPU LSTM refuses layout=1, so the oracle is the same model in layout 0
    D = 2 if direction == "bidirectional" else 1
    arrays = lstm_arrays(3, 4, D, batch=2, peephole=True, initial=True, seed=22)
    arrays["sequence_lens"] = np.array([4, 6], np.int32)
    model0 = single_lstm_model(arrays, direction=direction, clip=1.5)
    arrays1 = dict(arrays)
    arrays1["initial_h"] = arrays["initial_h"].transpose(1, 0, 2).copy()
    arrays1["initial_c"] = arrays["initial_c"].transpose(1, 0, 2).copy()
    model1 = single_lstm_model(arrays1, direction=direction, clip=1.5, layout=1)
    X0 = np.random.default_rng(23).normal(size=(6, 2, 3)).astype(np.float32)
    X1 = X0.transpose(1, 0, 2).copy()  # [batch, T, in]
    m0 = load_onnx(save(model0, tmp_path, "l0.onnx"))
    m1 = load_onnx(save(model1, tmp_path, "l1.onnx"))
    assert m1.node.layout == 1 and m1.spec.batch_first
    oracle = Oracle(model0)
    for b in range(2):
        t1 = m1.trace(X1, batch_index=b)
        assert_matches_ort(t1, oracle, X0, b)
        np.testing.assert_array_equal(t1.h, m0.trace(X0, batch_index=b).h)
    assert t1.output is None and t1.meta["graph_output"]["name"] == "Y"


def _stacked_model(first, second, *, D=1):
    """X → LSTM lstm_a → Transpose/Reshape → LSTM lstm_b → outputs, as stacked exports look."""
    n1, i1 = lstm_node(first, name="lstm_a", prefix="a_", outputs=("Ya", "Ya_h", "Ya_c"),
                       direction="bidirectional" if D == 2 else "forward")  # fmt: skip
    n2, i2 = lstm_node(second, name="lstm_b", x="X2", prefix="b_", outputs=("Yb", "Yb_h", "Yb_c"))
    shape = numpy_helper.from_array(np.array([0, 0, -1], np.int64), "flat")
    nodes = [
        n1,
        helper.make_node("Transpose", ["Ya"], ["Ya_t"], perm=[0, 2, 1, 3]),
        helper.make_node("Reshape", ["Ya_t", "flat"], ["X2"]),
        n2,
    ]
    x_info = helper.make_tensor_value_info(
        "X", TensorProto.FLOAT, ["T", "batch", first["W"].shape[-1]]
    )
    g = helper.make_graph(
        nodes, "stacked", [x_info],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Yb", "Yb_c", "X2")],
        [*i1, *i2, shape],
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


def test_stacked_nodes_and_node_selection(tmp_path):
    first = lstm_arrays(3, 4, 2, peephole=True, seed=24)
    second = lstm_arrays(8, 5, 1, initial=True, batch=2, seed=25)
    model = _stacked_model(first, second, D=2)
    path = save(model, tmp_path)
    X = np.random.default_rng(26).normal(size=(5, 2, 3)).astype(np.float32)
    Yb, Yb_c, X2 = session(model).run(None, {"X": X})

    a = load_onnx(path)  # the first node by default
    assert a.lstm_names == ("lstm_a", "lstm_b") and a.lstm_name == "lstm_a"
    b_model = load_onnx(path, node="lstm_b")
    assert b_model.lstm_name == "lstm_b" and b_model.spec.input_size == 8
    assert lstm_engine.load(path, lstm="lstm_b").lstm_name == "lstm_b"

    alone_a = single_lstm_model(first, direction="bidirectional")
    alone_b = single_lstm_model(second)
    for b in range(2):
        assert_matches_ort(a.trace(X, batch_index=b), Oracle(alone_a), X, b)
        tb = b_model.trace(X, batch_index=b)
        # lstm_b's input is computed by onnxruntime from lstm_a: its per-step states match
        # onnxruntime's lstm_b run on that same input
        np.testing.assert_allclose(tb.x, X2[:, b], atol=TOL, rtol=0)
        assert_matches_ort(tb, Oracle(alone_b), X2, b)
        assert_y_matches(tb, Yb, b, 5)
        np.testing.assert_allclose(tb.c[0, 0, -1], Yb_c[0, b], atol=TOL, rtol=0)
        # the graph output is lstm_b's states, not a model-level output
        assert tb.output is None and b_model.output_kind is None


def _tagger_model(vocab_size=7, E=3, H=4, n_tags=3, *, seed=27):
    """tokens [T, batch] → Gather(embedding) → LSTM → Squeeze → MatMul + Add → LogSoftmax."""
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(vocab_size, E)).astype(np.float32)
    arrays = lstm_arrays(E, H, 1, peephole=True, seed=seed + 1)
    Wh = rng.normal(size=(H, n_tags)).astype(np.float32)
    bh = rng.normal(size=(n_tags,)).astype(np.float32)
    node, inits = lstm_node(arrays, name="tagger_lstm", x="emb_out", clip=3.0)
    nodes = [
        helper.make_node("Gather", ["E", "tokens"], ["emb_out"], name="embedding"),
        node,
        helper.make_node("Squeeze", ["Y", "axis1"], ["Ys"]),
        helper.make_node("MatMul", ["Ys", "Wh"], ["z0"]),
        helper.make_node("Add", ["z0", "bh"], ["z"]),
        helper.make_node("LogSoftmax", ["z"], ["log_probs"], axis=-1),
    ]
    inits += [
        numpy_helper.from_array(a, n)
        for a, n in ((emb, "E"), (Wh, "Wh"), (bh, "bh"), (np.array([1], np.int64), "axis1"))
    ]
    tokens = helper.make_tensor_value_info("tokens", TensorProto.INT64, ["T", "batch"])
    out = helper.make_tensor_value_info("log_probs", TensorProto.FLOAT, ["T", "batch", n_tags])
    g = helper.make_graph(nodes, "tagger", [tokens], [out], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    entry = model.metadata_props.add()
    entry.key, entry.value = "labels", json.dumps(["DET", "NN", "V"])
    return model, emb, arrays


def test_embedding_gather_in_front_and_model_output(tmp_path):
    model, emb, arrays = _tagger_model()
    tokens = np.array([[1, 4], [2, 2], [6, 0], [3, 5], [0, 1]], np.int64)  # [T, batch]
    (log_probs,) = session(model).run(None, {"tokens": tokens})
    m = load_onnx(save(model, tmp_path))
    assert (
        m.input_kind == "numeric" and m.output_kind == "log_prob" and m.labels == ("DET", "NN", "V")
    )
    alone = single_lstm_model(arrays, clip=3.0)
    X = emb[tokens]  # what the Gather computes: [T, batch, E]
    for b in range(2):
        tr = m.trace(tokens, batch_index=b)
        np.testing.assert_array_equal(tr.x, X[:, b])
        assert_matches_ort(tr, Oracle(alone), X, b)
        # the output panel shows the model's real per-step log-probs for this sequence
        np.testing.assert_array_equal(tr.output, log_probs[:, b])
        assert tr.labels == ("DET", "NN", "V") and tr.meta["output_kind"] == "log_prob"
    info = m.info()
    assert (
        info["format"] == "onnx"
        and info["lstm"] == "tagger_lstm"
        and info["lstms"] == ["tagger_lstm"]
    )
    assert info["inputs"] == {"tokens": "[T, batch]"} and info["attributes"] == {
        "clip": 3.0,
        "hidden_size": 4,
    }
    floats = [t for t in model.graph.initializer if t.data_type == TensorProto.FLOAT]
    assert info["parameters"] == sum(int(np.prod(t.dims)) for t in floats)
    assert [n for n, _ in info["layers"]][:2] == ["embedding", "tagger_lstm"]
    # float token ids that are whole numbers are accepted; others are refused
    np.testing.assert_array_equal(m.trace(tokens.astype(np.float64)).h, m.trace(tokens).h)
    with pytest.raises(lstm_engine.InputError, match="integers"):
        m.trace(tokens + 0.5)


def test_output_without_a_step_axis_goes_to_meta(tmp_path):
    arrays = lstm_arrays(3, 4, seed=30)
    node, inits = lstm_node(arrays)
    W = np.random.default_rng(31).normal(size=(4, 2)).astype(np.float32)
    inits += [
        numpy_helper.from_array(W, "Wout"),
        numpy_helper.from_array(np.array([0], np.int64), "ax0"),
    ]
    nodes = [node, helper.make_node("Squeeze", ["Y_h", "ax0"], ["h_last"]),
             helper.make_node("MatMul", ["h_last", "Wout"], ["score"])]  # fmt: skip
    x_info = helper.make_tensor_value_info("X", TensorProto.FLOAT, [6, 3, 3])
    score_info = helper.make_tensor_value_info("score", TensorProto.FLOAT, [3, 2])
    g = helper.make_graph(nodes, "clf", [x_info], [score_info], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    X = np.random.default_rng(32).normal(size=(6, 3, 3)).astype(np.float32)
    (score,) = session(model).run(None, {"X": X})
    tr = load_onnx(save(model, tmp_path)).trace(X, batch_index=1)
    assert tr.output is None
    np.testing.assert_allclose(tr.meta["graph_output"]["values"], score, atol=0)
    assert tr.meta["graph_output"]["shape"] == [3, 2]


def test_opset_7_model(tmp_path):
    arrays = lstm_arrays(3, 4, 2, peephole=True, seed=33)
    model = single_lstm_model(arrays, opset=7, direction="bidirectional", clip=1.0)
    model.ir_version = 3
    X = np.random.default_rng(34).normal(size=(4, 1, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    assert m.opset == 7
    assert_matches_ort(m.trace(X), Oracle(model), X, 0)


def test_weights_and_states_from_constant_nodes(tmp_path):
    # exporters often emit Constant nodes (or small subgraphs) instead of initializers
    arrays = lstm_arrays(3, 4, 1, batch=2, peephole=True, initial=True, seed=44)
    node, inits = lstm_node(arrays)
    by_name = {t.name: t for t in inits}
    nodes = [
        helper.make_node("Constant", [], ["W"], value=by_name["W"]),
        helper.make_node("Constant", [], ["h0_half"], value=numpy_helper.from_array(
            arrays["initial_h"] / 2, "h0_half")),
        helper.make_node("Add", ["h0_half", "h0_half"], ["initial_h"]),
        node,
    ]  # fmt: skip
    inits = [t for t in inits if t.name not in ("W", "initial_h")]
    x_info = helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 2, 3])
    y_info = helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)
    g = helper.make_graph(nodes, "g", [x_info], [y_info], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    X = np.random.default_rng(45).normal(size=(5, 2, 3)).astype(np.float32)
    m = load_onnx(save(model, tmp_path))
    oracle = Oracle(single_lstm_model(arrays))
    for b in range(2):
        assert_matches_ort(m.trace(X, batch_index=b), oracle, X, b)


def test_torch_onnx_export(tmp_path):
    # what users actually bring: torch.onnx.export of Embedding → LSTM(2 layers, bi,
    # batch_first) → Linear → log_softmax, with initial states built from the input's shape
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(7, 3)
            self.lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True, batch_first=True)
            self.out = torch.nn.Linear(8, 2)

        def forward(self, x):
            h, _ = self.lstm(self.emb(x))
            return torch.log_softmax(self.out(h), -1)

    net = Net().eval()
    x = torch.tensor([[1, 2, 3, 4, 5], [0, 6, 1, 2, 2]])
    path = tmp_path / "net.onnx"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, (x,), str(path), input_names=["tokens"], output_names=["log_probs"],
                dynamic_axes={"tokens": {0: "batch", 1: "T"}}, opset_version=14, dynamo=False,
            )  # fmt: skip
    except Exception as e:  # noqa: BLE001 - the legacy exporter may be gone in a future torch
        pytest.skip(f"torch.onnx.export (TorchScript exporter) unavailable: {e}")
    names = load_onnx(path).lstm_names
    assert len(names) == 2
    with torch.no_grad():
        expected = net(x).numpy()
        for b in range(2):
            ref = lstm_engine.trace_lstm(net.lstm, net.emb(x[b : b + 1]))
            for layer, name in enumerate(names):
                tr = load_onnx(path, node=name).trace(x.numpy(), batch_index=b)
                for q in ("i", "f", "g", "o", "c", "h"):
                    np.testing.assert_allclose(
                        getattr(tr, q)[0], getattr(ref, q)[layer], atol=TOL, rtol=0
                    )
                np.testing.assert_allclose(tr.output, expected[b], atol=TOL, rtol=0)
                assert tr.meta["output_kind"] == "log_prob"


# --- the engine → ONNX → engine round trip


def scaled_peepholes(spec, k):
    """The same spec with its peephole weights ×k (specs are immutable)."""
    return dataclasses.replace(
        spec,
        weights=tuple(
            tuple(dataclasses.replace(w, p_i=k * w.p_i, p_f=k * w.p_f, p_o=k * w.p_o) for w in dirs)
            for dirs in spec.weights
        ),
    )


@pytest.mark.parametrize(
    "options",
    [
        dict(num_layers=2, bidirectional=True),
        dict(num_layers=1, clip=0.5),
        dict(num_layers=2, input_forget=True),
        dict(
            num_layers=1,
            bidirectional=True,
            activations=CellActivations(
                i=Activation("HardSigmoid", 0.3, 0.4),
                f=Activation("HardSigmoid", 0.3, 0.4),
                g=Activation("Softsign"),
                o=Activation("HardSigmoid", 0.3, 0.4),
                c=Activation("ScaledTanh", 0.8, 1.2),
            ),
        ),
    ],
    ids=["stacked-bi", "clip", "input_forget", "activations"],
)
def test_peephole_spec_exported_and_opened_both_ways(tmp_path, options):
    layers = options.pop("num_layers")
    bi = options.pop("bidirectional", False)
    spec = LSTMSpec.random(3, 5, layers, bidirectional=bi, peephole=True, seed=35, **options)
    spec = scaled_peepholes(spec, 4)  # peepholes that matter
    path = spec_to_onnx(spec, tmp_path / "spec.onnx")
    x = np.random.default_rng(36).normal(size=(7, 1, 3)).astype(np.float32)
    ref = record(spec, x)
    model = onnx.load(str(path))
    for k in range(layers):
        m = load_onnx(path, node=f"lstm_l{k}")
        layer = LSTMSpec(
            weights=(spec.weights[k],), activations=spec.activations, clip=spec.clip,
            input_forget=spec.input_forget,
        )  # fmt: skip
        assert m.spec.summary() == layer.summary()
        tr = m.trace(x)
        np.testing.assert_allclose(tr.h[0], ref.h[k], atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.c[0], ref.c[k], atol=TOL, rtol=0)
        for gate in "ifgo":
            np.testing.assert_allclose(
                getattr(tr, gate)[0], getattr(ref, gate)[k], atol=TOL, rtol=0
            )
        # and onnxruntime agrees, step by step, on the same exported node
        alone = _single_node_of(model, k)
        layer_x = x if k == 0 else np.asarray(tr.x)[:, None, :]
        assert_matches_ort(tr, Oracle(alone), layer_x, 0)
    # the exported graph's Y is the last layer's output, as record concatenates it
    Y = session(model).run(["Y"], {"X": x})[0]
    np.testing.assert_allclose(Y[:, 0], np.concatenate(list(ref.h[-1]), axis=-1), atol=TOL, rtol=0)


def _single_node_of(model, k):
    """Layer k of an exported model as a model of its own (X → that node)."""
    node = [n for n in model.graph.node if n.op_type == "LSTM"][k]
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    arrays = {
        role: inits[name]
        for role, name in zip(("W", "R", "B", "s", "h", "c", "P"), node.input[1:])
        if name
    }
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    attrs.pop("hidden_size")
    if "direction" in attrs:
        attrs["direction"] = attrs["direction"].decode()
    if "activations" in attrs:
        attrs["activations"] = [s.decode() for s in attrs["activations"]]
    return single_lstm_model(arrays, **attrs)


def test_exported_tagger_with_embedding_head_and_vocab_takes_text(tmp_path):
    spec = LSTMSpec.random(3, 4, peephole=True, seed=37, clip=2.0)
    rng = np.random.default_rng(38)
    emb = rng.normal(size=(6, 3)).astype(np.float32)
    W, b = rng.normal(size=(2, 4)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    vocab = ["<unk>", "the", "dog", "ate", "an", "apple"]
    path = spec_to_onnx(spec, tmp_path / "tagger.onnx", embedding=emb, head=(W, b),
                        output="log_softmax", labels=["A", "B"], vocab=vocab, unk="<unk>",
                        examples=["the dog ate"], description="a test tagger")  # fmt: skip
    m = load_onnx(path)
    assert m.input_kind == "text" and m.vocab == tuple(vocab) and m.examples == ("the dog ate",)
    assert (
        m.output_kind == "log_prob" and m.labels == ("A", "B") and m.description == "a test tagger"
    )
    tr = m.trace("the dog ate an owl")
    assert tr.tokens == ("the", "dog", "ate", "an", "owl")
    ids = np.array([1, 2, 3, 4, 0])
    ref = record(spec, emb[ids])
    np.testing.assert_allclose(tr.h, ref.h, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c, ref.c, atol=TOL, rtol=0)
    z = ref.h[0, 0] @ W.T + b
    expect = z - np.log(np.exp(z).sum(-1, keepdims=True))
    np.testing.assert_allclose(tr.output, expect, atol=TOL, rtol=0)
    assert tr.labels == ("A", "B")
    # the graph input itself (ids with a batch axis) works too, and names the words
    batch = np.array([[1, 5], [2, 1], [3, 2]], np.int64)
    tb = m.trace(batch, batch_index=1)
    assert tb.tokens == ("apple", "the", "dog")
    np.testing.assert_allclose(tb.h, record(spec, emb[[5, 1, 2]]).h, atol=TOL, rtol=0)
    with pytest.raises(lstm_engine.EngineError, match="already exists"):
        spec_to_onnx(spec, path)


def export_checkpoint(pt_path, onnx_path):
    """(the checkpoint opened by lstm_engine.load, its ONNX export opened by load_onnx)."""
    checkpoint_to_onnx(pt_path, onnx_path)
    return lstm_engine.load(pt_path), load_onnx(onnx_path)


def assert_same_trace(a, b):
    for name in ("x", "i", "f", "g", "o", "c", "h"):
        np.testing.assert_allclose(
            getattr(a, name), getattr(b, name), atol=TOL, rtol=0, err_msg=name
        )
    if a.output is not None or b.output is not None:
        np.testing.assert_allclose(a.output, b.output, atol=TOL, rtol=0, err_msg="output")
    assert a.tokens == b.tokens and a.labels == b.labels
    return max(
        float(np.abs(getattr(a, n) - getattr(b, n)).max()) for n in ("i", "f", "g", "o", "c", "h")
    )


def test_peephole_checkpoint_exported_and_opened_both_ways(tmp_path):
    pytest.importorskip("torch")
    spec = scaled_peepholes(LSTMSpec.random(1, 6, peephole=True, seed=39), 5)
    rng = np.random.default_rng(40)
    sd = {
        "head.weight": rng.normal(size=(2, 6)).astype(np.float32),
        "head.bias": rng.normal(size=2).astype(np.float32),
    }
    x = (rng.random((12, 1)) < 0.3).astype(np.float32)
    lstm_engine.save_checkpoint(
        sd, tmp_path / "peep.pt", peephole_lstms={"lstm": spec}, lstms=["lstm"], head="head",
        labels=["quiet", "spike"], tokenizer=None, output="log_softmax", examples=[x],
    )  # fmt: skip
    torch_side, onnx_side = export_checkpoint(tmp_path / "peep.pt", tmp_path / "peep.onnx")
    assert onnx_side.spec.peephole and onnx_side.output_kind == "log_prob"
    assert onnx_side.labels == ("quiet", "spike")
    a = torch_side.trace(x)
    b = onnx_side.trace(onnx_side.examples[0])  # the example, stored in the graph input's shape
    assert_same_trace(a, b)
    (Y,) = session(onnx.load(str(tmp_path / "peep.onnx"))).run(["output"], {"X": x[:, None, :]})
    np.testing.assert_allclose(b.output, Y[:, 0], atol=TOL, rtol=0)


def test_stacked_checkpoint_exported_with_every_lstm_module(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3)
            self.encoder = torch.nn.LSTM(3, 4, bidirectional=True)
            self.decoder = torch.nn.LSTM(8, 5, num_layers=2)
            self.out = torch.nn.Linear(5, 2)

    vocab = ["a", "b", "c", "d", "e"]
    lstm_engine.save_checkpoint(
        Net(), tmp_path / "net.pt", vocab=vocab, labels=["x", "y"], examples=["a b c d e a"],
        lstms=["encoder", "decoder"], output="softmax",
    )  # fmt: skip
    checkpoint_to_onnx(tmp_path / "net.pt", tmp_path / "net.onnx")
    names = load_onnx(tmp_path / "net.onnx").lstm_names
    assert names == ("encoder_l0", "decoder_l0", "decoder_l1")
    for module, node, layer in (("encoder", "encoder_l0", 0), ("decoder", "decoder_l1", 1)):
        a = lstm_engine.load(tmp_path / "net.pt", lstm=module).trace("a b c d e a")
        b = load_onnx(tmp_path / "net.onnx", node=node).trace("a b c d e a")
        for name in ("i", "f", "g", "o", "c", "h"):
            np.testing.assert_allclose(
                getattr(b, name)[0], getattr(a, name)[layer], atol=TOL, rtol=0
            )
        np.testing.assert_allclose(b.output, a.output, atol=TOL, rtol=0)
        assert b.meta["output_kind"] == "prob" and b.labels == ("x", "y")


def test_output_uses_the_future_when_any_node_before_it_reads_right_to_left(tmp_path):
    """Decided from the graph, not the traced node: a forward encoder whose output passes
    through a bidirectional LSTM makes every prediction depend on the whole sequence."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)

    class Net(torch.nn.Module):
        def __init__(self, bidirectional_decoder: bool):
            super().__init__()
            self.emb = torch.nn.Embedding(5, 3)
            self.encoder = torch.nn.LSTM(3, 4)
            self.decoder = torch.nn.LSTM(4, 3, bidirectional=bidirectional_decoder)
            self.out = torch.nn.Linear(6 if bidirectional_decoder else 3, 2)

    for bi in (True, False):
        pt, path = tmp_path / f"net{bi}.pt", tmp_path / f"net{bi}.onnx"
        lstm_engine.save_checkpoint(
            Net(bi), pt, vocab=list("abcde"), labels=["x", "y"], lstms=["encoder", "decoder"],
            output="log_softmax",
        )  # fmt: skip
        checkpoint_to_onnx(pt, path)
        m = load_onnx(path, node="encoder_l0")
        assert not m.spec.bidirectional and m.output_uses_future is bi
        assert lstm_engine.load(pt, lstm="encoder").output_uses_future is bi
    # a graph whose output is the traced forward node's own Y reads no future
    alone = single_lstm_model(lstm_arrays(3, 4, 1, seed=45))
    assert load_onnx(save(alone, tmp_path, "alone.onnx")).output_uses_future is False


SAMPLES = ("peephole", "tagger", "bitagger", "france", "charlm")


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_model_exported_and_opened_both_ways(tmp_path, name):
    # the acceptance test of issue 5: a sample exported to ONNX and opened both ways gives
    # the same trace (and, for the peephole sample, onnxruntime agrees step by step)
    sample = ROOT / "sample_models" / f"{name}.pt"
    if not sample.exists():
        pytest.skip(
            f"sample_models/{name}.pt is not there yet (sample_models/train_{name}.py makes it)"
        )
    pytest.importorskip("torch")
    path = tmp_path / f"{name}.onnx"
    torch_side, onnx_side = export_checkpoint(sample, path)
    assert torch_side.examples, f"the {name} sample should come with example inputs"
    assert onnx_side.input_kind == torch_side.input_kind and onnx_side.labels == torch_side.labels
    for lstm in torch_side.lstm_names:
        spec = lstm_engine.load(sample, lstm=lstm).spec
        for k in range(spec.num_layers):
            node = load_onnx(path, node=f"{lstm or 'lstm'}_l{k}")
            for e, example in enumerate(torch_side.examples[:2]):
                a = lstm_engine.load(sample, lstm=lstm).trace(example)
                b = node.trace(onnx_side.examples[e])
                for q in ("i", "f", "g", "o", "c", "h"):
                    np.testing.assert_allclose(getattr(b, q)[0], getattr(a, q)[k], atol=TOL, rtol=0)
                if a.output is not None:  # onnxruntime's head and log_softmax, in float32
                    np.testing.assert_allclose(b.output, a.output, atol=TOL, rtol=TOL)
                assert b.tokens == a.tokens and b.labels == a.labels
    if name == "peephole":
        assert onnx_side.spec.peephole and "peephole" in onnx_side.spec.summary()
        # The sample counts steps in c (|c| up to ~5 over hundreds of steps), so two float32
        # implementations drift apart by float32 rounding: both are ~6e-6 from a float64 run.
        # Hence a relative term on top of the 1e-5.
        oracle = Oracle(_single_node_of(onnx.load(str(path)), 0))
        for x in onnx_side.examples:
            assert_matches_ort(onnx_side.trace(x), oracle, x, 0, rtol=TOL)


# --- the command line


def test_cli_record_with_batch_index_and_node(tmp_path, capsys):
    cli = pytest.importorskip("lstm_tui.cli")
    first = lstm_arrays(3, 4, 2, peephole=True, seed=41)
    second = lstm_arrays(8, 5, 1, initial=True, batch=3, seed=42)
    path = save(_stacked_model(first, second, D=2), tmp_path)
    X = np.random.default_rng(43).normal(size=(6, 3, 3)).astype(np.float32)
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "t.npz"
    code = cli.main(["record", path, "--input", str(tmp_path / "X.npy"), "--batch-index", "2",
                     "--node", "lstm_b", "-o", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    saved = lstm_engine.Trace.load(out)
    direct = load_onnx(path, node="lstm_b").trace(X, batch_index=2)
    np.testing.assert_array_equal(saved.h, direct.h)
    np.testing.assert_array_equal(saved.c, direct.c)
    assert saved.meta["onnx_node"] == "lstm_b" and saved.meta["batch_index"] == 2
    assert saved.meta["attributes"] == {"hidden_size": 5}  # as written in the node
    # the model's format survives the save (Trace.save stamps "format" with its own)
    assert saved.meta["format"] == "lstm-tui-trace" and saved.meta["model_format"] == "onnx"
    # the default is the first node and the first sequence
    code = cli.main(
        ["record", path, "--input", str(tmp_path / "X.npy"), "-o", str(tmp_path / "d.npz")]
    )
    assert code == 0
    d = lstm_engine.Trace.load(tmp_path / "d.npz")
    assert d.meta["onnx_node"] == "lstm_a" and d.meta["batch_index"] == 0
    np.testing.assert_array_equal(d.h, load_onnx(path).trace(X).h)
    # an existing trace is not overwritten
    assert cli.main(["record", path, "--input", str(tmp_path / "X.npy"), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


# --- packaging


def test_missing_onnx_extra_says_how_to_install(tmp_path, monkeypatch):
    path = save(single_lstm_model(lstm_arrays(2, 3)), tmp_path)
    monkeypatch.setitem(sys.modules, "onnx", None)  # `import onnx` now raises ImportError
    with pytest.raises(LoadError) as e:
        load_onnx(path)
    assert (
        str(e.value)
        == ONNX_EXTRA
        == "ONNX support needs the onnx extra: pip install 'lstm-tui[onnx]'"
    )
    with pytest.raises(LoadError, match=r"pip install 'lstm-tui\[onnx\]'"):
        lstm_engine.load(path)
    monkeypatch.setitem(sys.modules, "onnx", onnx)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(LoadError, match=r"pip install 'lstm-tui\[onnx\]'"):
        spec_to_onnx(LSTMSpec.random(2, 3), tmp_path / "x.onnx")


def test_importing_the_engine_does_not_import_onnx():
    code = (
        "import sys, lstm_engine, lstm_engine.open, lstm_engine.formats.onnx_read, "
        "lstm_engine.formats.onnx_write; "
        "print(sorted(m for m in ('onnx', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
