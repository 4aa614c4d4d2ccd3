"""ONNX graphs with several inputs: recurrent states, sequence lengths, two sources, other inputs.

Every torch.onnx.export of `forward(x, (h, c))` has state inputs; each is fed
by name, and a state that is not given starts at zeros with a warning that
says so. The per-step oracle is onnxruntime itself: the exported model returns
its final (h, c), so running it on the prefix x[:t+1] gives step t's states.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
torch = pytest.importorskip("torch")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_helpers import Oracle, lstm_arrays, lstm_node, session, single_lstm_model  # noqa: E402

from lstm_engine import InputError  # noqa: E402
from lstm_engine.formats.onnx_read import load_onnx  # noqa: E402

TOL = 1e-5


class StatefulNet(torch.nn.Module):
    """word_language_model's shape: forward(input, hidden) -> (output, hidden)."""

    def __init__(self, n_in=3, H=4, layers=2):
        super().__init__()
        self.lstm = torch.nn.LSTM(n_in, H, num_layers=layers)
        self.out = torch.nn.Linear(H, 2)

    def forward(self, x, h0, c0):
        y, (h, c) = self.lstm(x, (h0, c0))
        return self.out(y), h, c


def _export(net, args, path, names, dynamic):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                net, args, str(path), input_names=names, output_names=["out", "hn", "cn"],
                dynamic_axes=dynamic, opset_version=14, dynamo=False,
            )  # fmt: skip
    except Exception as e:  # noqa: BLE001 - the legacy exporter may be gone in a future torch
        pytest.skip(f"torch.onnx.export (TorchScript exporter) unavailable: {e}")


@pytest.fixture(scope="module")
def stateful(tmp_path_factory):
    torch.manual_seed(3)
    net = StatefulNet().eval()
    T, B, H = 6, 2, 4
    x = torch.randn(T, B, 3)
    h0, c0 = torch.randn(2, B, H) * 0.5, torch.randn(2, B, H) * 0.5
    path = tmp_path_factory.mktemp("stateful") / "stateful.onnx"
    dyn = {"x": {0: "T", 1: "batch"}, "h0": {1: "batch"}, "c0": {1: "batch"}}
    _export(net, (x, h0, c0), path, ["x", "h0", "c0"], dyn)
    return path, net, x.numpy(), h0.numpy(), c0.numpy()


def _ort_states(path, x, h0, c0, b):
    """onnxruntime's h and c of every layer at every step for sequence b: (layers, T, H) each."""
    sess = session(onnx.load(str(path)))
    T = x.shape[0]
    hs, cs = [], []
    for t in range(T):
        _, hn, cn = sess.run(None, {"x": x[: t + 1], "h0": h0, "c0": c0})
        hs.append(hn[:, b])
        cs.append(cn[:, b])
    return np.stack(hs, 1), np.stack(cs, 1)


def test_state_inputs_are_listed_with_their_roles(stateful):
    path = stateful[0]
    m = load_onnx(path)
    assert m.input_roles == {"x": "sequence", "h0": "state", "c0": "state"}
    inputs = m.info()["inputs"]
    assert inputs["x"].endswith("(the sequence)")
    assert "zeros unless given" in inputs["h0"] and "zeros unless given" in inputs["c0"]


@pytest.mark.parametrize("b", [0, 1])
def test_named_feeds_with_states_match_onnxruntime_at_every_step(stateful, b):
    path, net, x, h0, c0 = stateful
    h_ref, c_ref = _ort_states(path, x, h0, c0, b)
    names = load_onnx(path).lstm_names
    assert len(names) == 2
    full = session(onnx.load(str(path))).run(None, {"x": x, "h0": h0, "c0": c0})[0]
    for layer, name in enumerate(names):
        tr = load_onnx(path, node=name).trace({"x": x, "h0": h0, "c0": c0}, batch_index=b)
        np.testing.assert_allclose(tr.h[0, 0], h_ref[layer], atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.c[0, 0], c_ref[layer], atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.h0[0, 0], h0[layer, b], atol=0, rtol=0)
        np.testing.assert_allclose(tr.output, full[:, b], atol=TOL, rtol=0)
        assert not tr.meta.get("warnings")


def test_states_not_given_start_at_zeros_and_say_so(stateful):
    path, net, x, h0, c0 = stateful
    zeros = np.zeros_like(h0)
    h_ref, c_ref = _ort_states(path, x, zeros, zeros, 1)
    tr = load_onnx(path).trace(x, batch_index=1)  # the sequence alone, as an array
    np.testing.assert_allclose(tr.h[0, 0], h_ref[0], atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0, 0], c_ref[0], atol=TOL, rtol=0)
    warned = tr.meta["warnings"]
    assert any("h0 was not given: it starts at zeros" in w for w in warned)
    assert any("c0 was not given" in w for w in warned)
    assert tr.meta["graph_inputs"]["h0"] == {"role": "state", "given": False}
    # one state given, the other defaulted
    tr = load_onnx(path).trace({"x": x, "h0": h0}, batch_index=1)
    assert [w for w in tr.meta["warnings"] if "was not given" in w] == [
        "the state input c0 was not given: it starts at zeros (give it with --input c0=FILE.npy)"
    ]


def test_a_name_the_graph_does_not_have_is_refused(stateful):
    with pytest.raises(InputError, match=r"no input named 'hidden'; its inputs are x, h0, c0"):
        load_onnx(stateful[0]).trace({"x": stateful[2], "hidden": stateful[3]})


def _lens_and_state_model(seed=5):
    """X, sequence_lens and initial_h as graph inputs of one LSTM node (onnx.helper)."""
    a = lstm_arrays(2, 3, seed=seed)
    node, inits = lstm_node(a, x="X")
    ins = list(node.input) + [""] * (6 - len(node.input))
    ins[4], ins[5] = "lens", "h_init"
    del node.input[:]
    node.input.extend(ins)
    g = helper.make_graph(
        [node], "lstm",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "batch", 2]),
         helper.make_tensor_value_info("lens", TensorProto.INT32, ["batch"]),
         helper.make_tensor_value_info("h_init", TensorProto.FLOAT, [1, "batch", 3])],
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("Y", "Y_h", "Y_c")],
        inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), a


def _oracle_with(model, lens, h_init):
    """onnx_helpers.Oracle on the same node with lens and h_init made initializers."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [vi for vi in m.graph.input if vi.name == "X"]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    m.graph.initializer.extend(
        [numpy_helper.from_array(lens, "lens"), numpy_helper.from_array(h_init, "h_init")]
    )
    return Oracle(m)


def test_lengths_and_state_inputs(tmp_path):
    model, _ = _lens_and_state_model()
    path = tmp_path / "lens.onnx"
    onnx.save(model, str(path))
    m = load_onnx(path)
    assert m.input_roles == {"X": "sequence", "lens": "lengths", "h_init": "state"}
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 3, 2)).astype(np.float32)
    lens = np.array([5, 3, 4], np.int32)
    h_init = rng.normal(size=(1, 3, 3)).astype(np.float32)
    oracle = _oracle_with(model, lens, h_init)
    for b in range(3):
        tr = m.trace({"X": X, "lens": lens, "h_init": h_init}, batch_index=b)
        h_ref, c_ref = oracle.states(X, b)
        assert tr.h.shape[2] == lens[b]
        np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
    # nothing but X: every sequence runs its full length from zeros, and the screen says so
    full = np.full(3, 5, np.int32)
    oracle = _oracle_with(model, full, np.zeros((1, 3, 3), np.float32))
    tr = m.trace(X, batch_index=2)
    h_ref, c_ref = oracle.states(X, 2)
    assert tr.h.shape[2] == 5
    np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
    assert any("lens was not given: every sequence runs its full length" in w
               for w in tr.meta["warnings"])  # fmt: skip
    assert any("h_init was not given: it starts at zeros" in w for w in tr.meta["warnings"])


def _two_source_model():
    """X = Concat(a, b) on features into an LSTM, and an `other` input `scale` on the output."""
    a = lstm_arrays(4, 3, seed=9)
    node, inits = lstm_node(a, x="X")
    cat = helper.make_node("Concat", ["a", "b"], ["X"], axis=2)
    sq = helper.make_node("Squeeze", ["Y", "axis1"], ["Ys"])
    mul = helper.make_node("Mul", ["Ys", "scale"], ["out"])
    inits.append(numpy_helper.from_array(np.array([1], np.int64), "axis1"))
    g = helper.make_graph(
        [cat, node, sq, mul], "two",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["T", 1, 3]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["T", 1, 1]),
         helper.make_tensor_value_info("scale", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), a


def test_two_sources_and_an_input_with_no_default(tmp_path):
    model, arrays = _two_source_model()
    path = tmp_path / "two.onnx"
    onnx.save(model, str(path))
    m = load_onnx(path)
    assert m.input_roles == {"a": "sequence", "b": "source", "scale": "other"}
    rng = np.random.default_rng(1)
    A = rng.normal(size=(4, 1, 3)).astype(np.float32)
    B = rng.normal(size=(4, 1, 1)).astype(np.float32)
    scale = np.array([2.0], np.float32)
    with pytest.raises(InputError, match=r"no value for the model's input b \[T, 1, 1\] "
                       r"\(another source\).*--input b=FILE.npy"):  # fmt: skip
        m.trace(A)
    with pytest.raises(InputError, match=r"input scale \[1\] \(no default\)"):
        m.trace({"a": A, "b": B})
    tr = m.trace({"a": A, "b": B, "scale": scale})
    h_ref, c_ref = Oracle(single_lstm_model(arrays)).states(np.concatenate([A, B], 2), 0)
    np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
    out = session(model).run(None, {"a": A, "b": B, "scale": scale})[0]
    np.testing.assert_allclose(tr.output, out[:, 0], atol=TOL, rtol=0)


def test_cli_named_inputs_and_one_npz(stateful, tmp_path, capsys):
    from lstm_engine import Trace
    from lstm_tui import cli

    path, net, x, h0, c0 = stateful
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "h.npy", h0)
    np.savez(tmp_path / "all.npz", x=x, h0=h0, c0=c0)
    direct = load_onnx(path).trace({"x": x, "h0": h0, "c0": c0}, batch_index=1)
    code = cli.main(["record", str(path), "--input", f"x={tmp_path / 'x.npy'}",
                     "--input", f"h0={tmp_path / 'h.npy'}", "--batch-index", "1",
                     "-o", str(tmp_path / "a.npz")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    a = Trace.load(tmp_path / "a.npz")
    assert any("c0 was not given" in w for w in a.meta["warnings"])
    np.testing.assert_array_equal(a.h0[0, 0], h0[0, 1])
    code = cli.main(["record", str(path), "--input", str(tmp_path / "all.npz"),
                     "--batch-index", "1", "-o", str(tmp_path / "b.npz")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    b = Trace.load(tmp_path / "b.npz")
    np.testing.assert_array_equal(b.h, direct.h)
    np.testing.assert_array_equal(b.c, direct.c)
    assert not b.meta.get("warnings")


def test_a_state_whose_batch_axis_has_no_name_takes_the_sequences_batch(tmp_path):
    """silero-vad's state is [2, ?, 128]: the one dimension nothing names is the batch."""
    model, _ = _lens_and_state_model(seed=8)
    for vi in model.graph.input:
        if vi.name == "h_init":
            vi.type.tensor_type.shape.dim[1].Clear()  # neither a size nor a name
    path = tmp_path / "unnamed.onnx"
    onnx.save(model, str(path))
    X = np.random.default_rng(2).normal(size=(4, 3, 2)).astype(np.float32)
    tr = load_onnx(path).trace(X, batch_index=1)
    oracle = _oracle_with(model, np.full(3, 4, np.int32), np.zeros((1, 3, 3), np.float32))
    h_ref, c_ref = oracle.states(X, 1)
    np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
    assert any("h_init was not given: it starts at zeros" in w for w in tr.meta["warnings"])
