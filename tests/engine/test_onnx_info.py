"""What `info` says about an ONNX graph: weights in Constant nodes counted, a large graph
summarised (its LSTM nodes in full, the rest counted by op type), a quantized LSTM named."""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_helpers import lstm_arrays  # noqa: E402

from lstm_engine import LoadError, load  # noqa: E402


def _save(tmp_path, nodes, inits=(), name="m.onnx", outputs=("out",)):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        list(inits),
    )  # fmt: skip
    path = tmp_path / name
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    return path


def _const(name, a):
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a))


def test_weights_in_constant_nodes_are_counted(tmp_path):
    a = lstm_arrays(3, 4)
    nodes = [_const(k, a[k]) for k in ("W", "R")] + [
        helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=4)
    ]
    path = _save(tmp_path, nodes, [numpy_helper.from_array(a["B"], "B")], outputs=("Y",))
    info = load(path).info()
    assert info["parameters"] == a["W"].size + a["R"].size + a["B"].size  # 48 + 64 + 32


def test_a_large_graph_is_summarised_with_its_lstm_in_full(tmp_path):
    a = lstm_arrays(3, 4)
    inits = [numpy_helper.from_array(a[k], k) for k in ("W", "R", "B")]
    nodes = [helper.make_node("LSTM", ["X", "W", "R", "B"], ["Y"], name="lstm", hidden_size=4)]
    prev = "Y"
    for k in range(30):
        op = ("Relu", "Identity", "Sigmoid")[k % 3]
        nodes.append(helper.make_node(op, [prev], [f"v{k}"], name=f"n{k}"))
        prev = f"v{k}"
    nodes.append(helper.make_node("Identity", [prev], ["out"], name="last"))
    m = load(_save(tmp_path, nodes, inits))
    layers = m.info()["layers"]
    assert layers == [
        ("lstm", m.spec.summary()),
        ("31 other nodes", "11 Identity, 10 Relu, 10 Sigmoid"),
    ]


def test_a_small_graph_lists_every_node(tmp_path):
    a = lstm_arrays(3, 4)
    inits = [numpy_helper.from_array(a[k], k) for k in ("W", "R")]
    nodes = [helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="lstm", hidden_size=4),
             helper.make_node("Relu", ["Y"], ["out"], name="act")]  # fmt: skip
    m = load(_save(tmp_path, nodes, inits))
    assert m.info()["layers"] == [("lstm", m.spec.summary()), ("act", "Relu")]


def test_a_dynamically_quantized_lstm_opens_dequantized_with_a_banner(tmp_path):
    from onnx_helpers import Oracle, session, single_lstm_model
    from onnxruntime.quantization import QuantType, quantize_dynamic

    a = lstm_arrays(3, 4, D=2, seed=3)
    float_path = tmp_path / "f.onnx"
    onnx.save(single_lstm_model(a, direction="bidirectional"), str(float_path))
    q_path = tmp_path / "q.onnx"
    import logging

    logging.disable(logging.WARNING)  # quantize_dynamic's advice about pre-processing
    try:
        quantize_dynamic(str(float_path), str(q_path), op_types_to_quantize=["LSTM"],
                         weight_type=QuantType.QInt8)  # fmt: skip
    finally:
        logging.disable(logging.NOTSET)
    q = onnx.load(str(q_path))
    assert [n.op_type for n in q.graph.node] == ["DynamicQuantizeLSTM"]
    inits = {t.name: numpy_helper.to_array(t) for t in q.graph.initializer}

    def dequantized(role):  # [D, in, 4H] int8 → LSTM's [D, 4H, in], by the documented formula
        wq, sc, zp = (inits[f"{role}_quantized"], inits[f"{role}_scale"],
                      inits[f"{role}_zero_point"])  # fmt: skip
        w = (wq.astype(np.float32) - zp.reshape(-1, 1, 1)) * sc.reshape(-1, 1, 1)
        return w.transpose(0, 2, 1)

    deq = {"W": dequantized("W"), "R": dequantized("R"), "B": a["B"]}
    oracle = Oracle(single_lstm_model(deq, direction="bidirectional"))
    m = load(q_path)
    assert any("DynamicQuantizeLSTM" in w and "dequantized" in w for w in m.warnings)
    X = np.random.default_rng(1).normal(size=(5, 2, 3)).astype(np.float32)
    Y_q = session(q).run(None, {"X": X})[0]
    for b in range(2):
        tr = m.trace(X, batch_index=b)
        h_ref, c_ref = oracle.states(X, b)
        np.testing.assert_allclose(tr.h[0], h_ref, atol=1e-5, rtol=0)
        np.testing.assert_allclose(tr.c[0], c_ref, atol=1e-5, rtol=0)
        # the quantized run itself: the same model up to its input rounding
        assert np.abs(tr.h[0] - Y_q[:, :, b].transpose(1, 0, 2)).max() < 0.05
        assert tr.meta["op_type"] == "DynamicQuantizeLSTM"
        assert any("dequantized" in w for w in tr.meta["warnings"])


def test_an_lstm_with_a_projection_is_an_invalid_file_not_a_shape_error(tmp_path):
    # what an export of torch.nn.LSTM(3, 4, proj_size=2) writes: R [1, 4H, P], hidden_size H,
    # a node onnxruntime refuses to load
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=(1, 16, 3)).astype(np.float32), "W"),
             numpy_helper.from_array(rng.normal(size=(1, 16, 2)).astype(np.float32), "R")]  # fmt: skip
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="proj", hidden_size=4)
    path = _save(tmp_path, [node], inits, outputs=("Y",))
    with pytest.raises(Exception):  # onnxruntime itself refuses the file
        ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"X": np.zeros((2, 1, 3), np.float32)}
        )
    with pytest.raises(LoadError) as e:
        load(path)
    msg = str(e.value)
    assert "not a valid ONNX LSTM (onnxruntime refuses it too)" in msg
    assert "projected to 2 (torch's proj_size)" in msg and "\n" not in msg
