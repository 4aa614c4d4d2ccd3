"""ONNX LSTM nodes inside If branches and Loop bodies (silero-vad keeps its LSTM in If branches).

An LSTM in an If branch is traced as if the branch were inlined, when the If
takes that branch: a condition fixed in the file is checked when the model
opens, one computed from the inputs when it is traced. An LSTM in a Loop
body is found and refused in one line that says where it is and why.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_helpers import Oracle, lstm_arrays, lstm_node, session, single_lstm_model  # noqa: E402

from lstm_engine import InputError, LoadError  # noqa: E402
from lstm_engine.formats.onnx_read import load_onnx  # noqa: E402

TOL = 1e-5


def _branch(arrays, name, prefix):
    """A branch graph: X (from the outer graph) → LSTM `name` → Y, its weights its own."""
    node, inits = lstm_node(arrays, name=name, x="X", prefix=prefix,
                            outputs=(f"{prefix}Y", f"{prefix}Yh", f"{prefix}Yc"))  # fmt: skip
    out = helper.make_node("Sigmoid", [f"{prefix}Y"], [f"{prefix}p"])
    return helper.make_graph(
        [node, out], f"{name}_graph", [],
        [helper.make_tensor_value_info(f"{prefix}p", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip


def _if_model(cond_nodes, cond_inputs, a16, a8):
    """silero-vad's shape: If(sr == 16000) then LSTM lstm16 else LSTM lstm8, over one X."""
    iff = helper.make_node(
        "If", ["is16k"], ["prob"], name="check_sr",
        then_branch=_branch(a16, "lstm16", "t_"), else_branch=_branch(a8, "lstm8", "e_"),
    )  # fmt: skip
    g = helper.make_graph(
        [*cond_nodes, iff], "vad",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "batch", 3]), *cond_inputs],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, None)],
    )  # fmt: skip
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])


@pytest.fixture()
def vad(tmp_path):
    a16, a8 = lstm_arrays(3, 4, seed=1), lstm_arrays(3, 4, seed=2)
    eq = helper.make_node("Equal", ["sr", "k16000"], ["is16k"])
    k = helper.make_node(
        "Constant", [], ["k16000"], value=numpy_helper.from_array(np.array([16000], np.int64))
    )
    model = _if_model([k, eq], [helper.make_tensor_value_info("sr", TensorProto.INT64, [1])],
                      a16, a8)  # fmt: skip
    path = tmp_path / "vad.onnx"
    onnx.save(model, str(path))
    return path, model, a16, a8


def test_lstms_in_if_branches_are_found_and_placed(vad):
    path = vad[0]
    m = load_onnx(path)
    assert m.lstm_names == ("lstm16", "lstm8")
    assert m.lstm_name == "lstm16"
    assert m.nested_lstms == {
        "lstm16": "inside the then_branch of If 'check_sr'",
        "lstm8": "inside the else_branch of If 'check_sr'",
    }
    assert m.input_roles == {"X": "sequence", "sr": "other"}
    assert "then_branch of If 'check_sr'" in m.info()["notes"]
    assert m.output_kind == "sigmoid"  # the branch's Sigmoid, seen through the If's Identity


@pytest.mark.parametrize("node,sr,arrays", [("lstm16", 16000, 2), ("lstm8", 8000, 3)])
def test_the_branch_the_input_takes_is_traced_against_onnxruntime(vad, node, sr, arrays):
    path, model = vad[:2]
    rng = np.random.default_rng(4)
    X = rng.normal(size=(5, 2, 3)).astype(np.float32)
    feeds = {"X": X, "sr": np.array([sr], np.int64)}
    full = session(model).run(None, feeds)[0]  # [T, 1, batch, H]
    oracle = Oracle(single_lstm_model(vad[arrays]))
    m = load_onnx(path, node=node)
    for b in range(2):
        tr = m.trace(feeds, batch_index=b)
        h_ref, c_ref = oracle.states(X, b)
        np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
        np.testing.assert_allclose(tr.output, full[:, 0, b], atol=TOL, rtol=0)


def test_an_input_that_takes_the_other_branch_says_which_lstm_runs(vad):
    X = np.zeros((3, 1, 3), np.float32)
    with pytest.raises(InputError, match=r"If 'check_sr' takes its else_branch, so the LSTM node "
                       r"'lstm16' \(in its then_branch\) does not run; trace 'lstm8' instead"):  # fmt: skip
        load_onnx(vad[0]).trace({"X": X, "sr": np.array([8000], np.int64)})
    with pytest.raises(InputError, match=r"no value for the model's input sr \[1\]"):
        load_onnx(vad[0]).trace(X)


def _constant_cond(value: bool):
    c = helper.make_node(
        "Constant", [], ["is16k"], value=numpy_helper.from_array(np.array(value))
    )
    return [c]


def test_a_constant_condition_is_decided_when_the_model_opens(tmp_path):
    a16, a8 = lstm_arrays(3, 4, seed=5), lstm_arrays(3, 4, seed=6)
    model = _if_model(_constant_cond(False), [], a16, a8)
    path = tmp_path / "const.onnx"
    onnx.save(model, str(path))
    X = np.random.default_rng(0).normal(size=(4, 1, 3)).astype(np.float32)
    tr = load_onnx(path, node="lstm8").trace(X)  # no other input needed
    h_ref, c_ref = Oracle(single_lstm_model(a8)).states(X, 0)
    np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.output, session(model).run(None, {"X": X})[0][:, 0, 0],
                               atol=TOL, rtol=0)  # fmt: skip
    with pytest.raises(LoadError, match=r"'lstm16' is in the then_branch of If 'check_sr', whose "
                       r"condition 'is16k' is always False: it never runs"):  # fmt: skip
        load_onnx(path, node="lstm16")


def test_an_lstm_in_a_loop_body_is_found_and_refused_in_one_line(tmp_path):
    a = lstm_arrays(3, 4, seed=7)
    node, inits = lstm_node(a, name="step_lstm", x="X", prefix="b_")
    body = helper.make_graph(
        [node, helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, [])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    loop = helper.make_node("Loop", ["n", "go"], ["Ys"], name="frames", body=body)
    g = helper.make_graph(
        [loop], "looped",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])],
        [helper.make_tensor_value_info("Ys", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array(2, np.int64), "n"),
         numpy_helper.from_array(np.array(True), "go")],
    )  # fmt: skip
    path = tmp_path / "loop.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    with pytest.raises(LoadError) as e:
        load_onnx(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert "the LSTM node 'step_lstm' is inside the body of Loop 'frames'" in msg
    assert "cannot be traced; export the LSTM outside the loop" in msg


def test_an_lstm_in_an_if_inside_an_if(tmp_path):
    a, b = lstm_arrays(3, 4, seed=11), lstm_arrays(3, 4, seed=12)
    inner = helper.make_node(
        "If", ["is16k"], ["t_inner"], name="inner",
        then_branch=_branch(a, "lstm_a", "a_"), else_branch=_branch(b, "lstm_b", "b_"),
    )  # fmt: skip
    eq = helper.make_node("Equal", ["sr", "k16000"], ["is16k"])
    outer_then = helper.make_graph(
        [eq, inner], "outer_then", [],
        [helper.make_tensor_value_info("t_inner", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.array([16000], np.int64), "k16000")],
    )  # fmt: skip
    zeros = numpy_helper.from_array(np.zeros((1, 1, 1, 4), np.float32))
    outer_else = helper.make_graph(
        [helper.make_node("Constant", [], ["none"], value=zeros)], "outer_else", [],
        [helper.make_tensor_value_info("none", TensorProto.FLOAT, None)],
    )  # fmt: skip
    outer = helper.make_node("If", ["on"], ["prob"], name="outer",
                             then_branch=outer_then, else_branch=outer_else)  # fmt: skip
    g = helper.make_graph(
        [helper.make_node("Constant", [], ["on"], value=numpy_helper.from_array(np.array(True))),
         outer], "nested",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, None)],
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    path = tmp_path / "nested.onnx"
    onnx.save(model, str(path))
    m = load_onnx(path, node="lstm_b")
    assert m.nested_lstms["lstm_b"] == (
        "inside the else_branch of If 'inner', inside the then_branch of If 'outer'"
    )
    X = np.random.default_rng(5).normal(size=(4, 1, 3)).astype(np.float32)
    feeds = {"X": X, "sr": np.array([8000], np.int64)}
    tr = m.trace(feeds)
    h_ref, c_ref = Oracle(single_lstm_model(b)).states(X, 0)
    np.testing.assert_allclose(tr.h[0], h_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.c[0], c_ref, atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.output, session(model).run(None, feeds)[0][:, 0, 0],
                               atol=TOL, rtol=0)  # fmt: skip
    with pytest.raises(InputError, match="If 'inner' takes its then_branch"):
        m.trace({"X": X, "sr": np.array([16000], np.int64)})
