"""Bad ONNX input gets one clear line: a LoadError for the file, an InputError for the data.

Not ONNX, truncated ONNX, no LSTM node, attribute values the operator does not
define, weights the engine cannot read, wrong input shapes, a batch index out
of range and a zero-length sequence; and through the CLI, exit status 2.
"""

from __future__ import annotations

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx_helpers import lstm_arrays, lstm_node, single_lstm_model  # noqa: E402

import lstm_engine  # noqa: E402
from lstm_engine import InputError, LoadError  # noqa: E402
from lstm_engine.formats.onnx_read import load_onnx  # noqa: E402


def save(model, tmp_path, name="model.onnx") -> str:
    path = tmp_path / name
    onnx.save(model, str(path))
    return str(path)


def one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert msg and "\n" not in msg and "Traceback" not in msg
    return msg


def good_model(**attrs):
    return single_lstm_model(lstm_arrays(3, 4, seed=1), **attrs)


@pytest.mark.parametrize(
    "content",
    [b"", b"hello, this is a text file and not a model\n", bytes(range(256)) * 4],
    ids=["empty", "text", "binary"],
)
def test_not_onnx(tmp_path, content):
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    with pytest.raises(LoadError) as e:
        load_onnx(path)
    assert "ONNX" in one_line(e) and str(path) in str(e.value)


def test_truncated_onnx(tmp_path):
    data = good_model().SerializeToString()
    path = tmp_path / "model.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError) as e:
        load_onnx(path)
    assert "ONNX" in one_line(e)


def test_missing_file(tmp_path):
    with pytest.raises(LoadError, match="no such file") as e:
        load_onnx(tmp_path / "nope.onnx")
    one_line(e)


def test_no_lstm_node(tmp_path):
    g = helper.make_graph(
        [helper.make_node("Relu", ["X"], ["Y"]), helper.make_node("Sigmoid", ["Y"], ["Z"])], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("Z", TensorProto.FLOAT, [2, 3])],
    )  # fmt: skip
    path = save(helper.make_model(g), tmp_path)
    with pytest.raises(LoadError) as e:
        load_onnx(path)
    assert "no LSTM node" in one_line(e) and "Relu, Sigmoid" in str(e.value)


@pytest.mark.parametrize(
    "attrs, expect",
    [
        (dict(direction="sideways"), "unsupported direction 'sideways'"),
        (dict(activations=["Sigmoid", "Swish", "Tanh"]), "unsupported activation 'Swish'"),
        (dict(activations=["Sigmoid", "Tanh"]), "2 activations given; a forward LSTM needs 3"),
        (dict(layout=2), "unsupported layout 2"),
        (dict(clip=-1.0), "clip must be a positive number"),
        (dict(input_forget=3), "input_forget must be 0 or 1"),
        (dict(hidden_size=7), "hidden_size is 7 but R is for 4 units"),
        (dict(frobnicate=1), "unsupported attribute 'frobnicate'"),
    ],
    ids=[
        "direction",
        "activation",
        "activation-count",
        "layout",
        "clip",
        "input_forget",
        "hidden_size",
        "unknown-attribute",
    ],  # fmt: skip
)
def test_unsupported_attribute_values(tmp_path, attrs, expect):
    model = good_model()
    node = model.graph.node[0]
    for key, value in attrs.items():
        for a in list(node.attribute):
            if a.name == key:
                node.attribute.remove(a)
        node.attribute.append(helper.make_attribute(key, value))
    path = save(model, tmp_path)
    with pytest.raises(LoadError) as e:
        load_onnx(path)
    assert expect in one_line(e) and "lstm_1" in str(e.value)


def test_weights_with_wrong_shapes(tmp_path):
    arrays = lstm_arrays(3, 4, seed=2)
    arrays["B"] = arrays["B"][:, :10]
    with pytest.raises(LoadError, match=r"B has shape \(1, 10\), expected \[1, 32\]") as e:
        load_onnx(save(single_lstm_model(arrays), tmp_path))
    one_line(e)
    arrays = lstm_arrays(3, 4, 2, seed=2)  # two directions' weights on a forward node
    with pytest.raises(LoadError, match="R has shape") as e:
        load_onnx(save(single_lstm_model(arrays), tmp_path, "b.onnx"))
    one_line(e)


def test_weights_computed_from_the_input(tmp_path):
    arrays = lstm_arrays(3, 4, seed=3)
    node, inits = lstm_node({k: v for k, v in arrays.items() if k != "W"})
    node.input[1] = "W_in"
    g = helper.make_graph(
        [helper.make_node("Identity", ["Wfeed"], ["W_in"]), node], "g",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3]),
         helper.make_tensor_value_info("Wfeed", TensorProto.FLOAT, [1, 16, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    with pytest.raises(LoadError, match="computed from the graph input") as e:
        load_onnx(save(helper.make_model(g), tmp_path))
    one_line(e)


def test_unknown_node_name(tmp_path):
    path = save(good_model(), tmp_path)
    with pytest.raises(LoadError) as e:
        load_onnx(path, node="decoder")
    assert "no LSTM node named 'decoder'" in one_line(e) and "lstm_1" in str(e.value)
    with pytest.raises(LoadError, match="decoder"):
        lstm_engine.load(path, lstm="decoder")


@pytest.mark.parametrize(
    "shape, expect",
    [
        ((5, 3), r"input has shape \(5, 3\), but the model's input 'X' is \[T, batch, 3\]"),
        ((5, 1, 4), r"input has shape \(5, 1, 4\), but the model's input 'X' is \[T, batch, 3\]"),
        ((0, 1, 3), "is empty"),
    ],
)
def test_wrong_input_shape(tmp_path, shape, expect):
    m = load_onnx(save(good_model(), tmp_path))
    with pytest.raises(InputError, match=expect) as e:
        m.trace(np.zeros(shape, np.float32))
    one_line(e)


def test_wrong_input_kind(tmp_path):
    m = load_onnx(save(good_model(), tmp_path))
    for bad in ("the dog ate", ["the", "dog"], np.array([["a", "b"]]).reshape(2, 1, 1)):
        with pytest.raises(InputError) as e:
            m.trace(bad)
        one_line(e)


def test_batch_index_out_of_range(tmp_path):
    m = load_onnx(save(good_model(), tmp_path))
    X = np.zeros((4, 2, 3), np.float32)
    for b in (2, -1):
        with pytest.raises(
            InputError, match=r"batch index .* out of range: the input holds 2 sequences"
        ) as e:
            m.trace(X, batch_index=b)
        one_line(e)


def test_zero_length_sequence_is_an_input_error(tmp_path):
    # Decision: a batch entry with sequence_lens 0 runs no LSTM step (onnxruntime returns zeros
    # for it), so there is no step to show; tracing it is refused, the other entries still trace.
    arrays = lstm_arrays(3, 4, seed=4)
    arrays["sequence_lens"] = np.array([3, 0], np.int32)
    m = load_onnx(save(single_lstm_model(arrays), tmp_path))
    X = np.ones((3, 2, 3), np.float32)
    with pytest.raises(InputError, match="batch entry 1 has sequence length 0") as e:
        m.trace(X, batch_index=1)
    one_line(e)
    assert m.trace(X, batch_index=0).T == 3


def test_sequence_lens_that_do_not_fit_the_batch(tmp_path):
    arrays = lstm_arrays(3, 4, seed=5)
    arrays["sequence_lens"] = np.array([3, 9], np.int32)
    m = load_onnx(save(single_lstm_model(arrays), tmp_path))
    with pytest.raises(InputError, match=r"sequence_lens \[3, 9\] does not fit") as e:
        m.trace(np.ones((4, 2, 3), np.float32))
    one_line(e)


def test_input_for_a_computed_lstm_input_that_does_not_fit(tmp_path):
    # tokens → Gather → LSTM: an id past the embedding fails inside onnxruntime; one line still
    emb = numpy_helper.from_array(np.ones((5, 3), np.float32), "E")
    node, inits = lstm_node(lstm_arrays(3, 4, seed=6), x="emb")
    g = helper.make_graph(
        [helper.make_node("Gather", ["E", "tokens"], ["emb"]), node], "g",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["T", 1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], [emb, *inits],
    )  # fmt: skip
    m = load_onnx(save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), tmp_path))
    with pytest.raises(InputError, match="onnxruntime could not compute emb") as e:
        m.trace(np.array([[1], [7]], np.int64))
    one_line(e)


# --- through the command line


def run_cli(*argv) -> tuple[int, str]:
    from lstm_tui.cli import main

    return main(list(argv))


@pytest.mark.parametrize(
    "case", ["not-onnx", "no-lstm", "sideways", "wrong-shape", "zero-length", "batch-index"]
)
def test_cli_bad_input_exits_2_with_one_line(tmp_path, capsys, case):
    pytest.importorskip("lstm_tui.cli")
    path = tmp_path / "model.onnx"
    X = np.ones((3, 2, 3), np.float32)
    args = []
    if case == "not-onnx":
        path.write_text("not a model")
    elif case == "no-lstm":
        g = helper.make_graph(
            [helper.make_node("Relu", ["X"], ["Y"])], "g",
            [helper.make_tensor_value_info("X", TensorProto.FLOAT, [3, 2, 3])],
            [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [3, 2, 3])],
        )  # fmt: skip
        onnx.save(helper.make_model(g), str(path))
    elif case == "sideways":
        onnx.save(good_model(direction="sideways"), str(path))
    elif case == "wrong-shape":
        onnx.save(good_model(), str(path))
        X = np.ones((3, 2, 5), np.float32)
    elif case == "zero-length":
        arrays = lstm_arrays(3, 4)
        arrays["sequence_lens"] = np.array([3, 0], np.int32)
        onnx.save(single_lstm_model(arrays), str(path))
        args = ["--batch-index", "1"]
    elif case == "batch-index":
        onnx.save(good_model(), str(path))
        args = ["--batch-index", "5"]
    np.save(tmp_path / "X.npy", X)
    out = tmp_path / "t.npz"
    code = run_cli("record", str(path), "--input", str(tmp_path / "X.npy"), *args, "-o", str(out))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("lstm-tui: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


# --- exporting what ONNX's LSTM cannot express


def test_export_refuses_what_onnx_cannot_express(tmp_path):
    from lstm_engine import Activation, CellActivations, LSTMSpec, SpecError
    from lstm_engine.formats.onnx_write import spec_to_onnx

    with pytest.raises(SpecError, match="no projection") as e:
        spec_to_onnx(LSTMSpec.random(3, 4, proj_size=2), tmp_path / "p.onnx")
    one_line(e)
    acts = CellActivations(f=Activation("HardSigmoid"))  # i and o stay Sigmoid
    with pytest.raises(SpecError, match="one activation for the i, f and o gates") as e:
        spec_to_onnx(LSTMSpec.random(3, 4, activations=acts), tmp_path / "a.onnx")
    one_line(e)
    with pytest.raises(SpecError, match="needs an embedding") as e:
        spec_to_onnx(LSTMSpec.random(3, 4), tmp_path / "v.onnx", vocab=["a", "b"])
    one_line(e)
    assert not any(tmp_path.iterdir())  # nothing half-written
