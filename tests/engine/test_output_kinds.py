"""Output kinds: class distributions, independent probabilities, values, embeddings, each shown
as what it is, and chosen by hand (--output-kind) when the guess is wrong.

A single sigmoid output (silero-vad's speech probability) used to be drawn
as a softmax over one column, "#0 1.00" at every step; an embedding head
(Resemblyzer's) as class probabilities. Each case runs the model through its
own runtime (onnxruntime, or the numpy reference of a Keras Dense) and checks
that the panel prints the model's own numbers.
"""

from __future__ import annotations

import numpy as np
import pytest
from rich.style import Style

from lstm_engine import guess_output_kind, open_and_trace, probabilities
from lstm_tui.opening import open_path
from lstm_tui.widgets.output_panel import render_output, shown_kind

onnx = pytest.importorskip("onnx", reason="the onnx extra is not installed")
pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

TOL = 1e-5


def test_the_guess_for_each_kind():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(6, 4))
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    assert guess_output_kind(z) == "logit"
    assert guess_output_kind(p) == "prob"
    assert guess_output_kind(np.log(p)) == "log_prob"
    assert guess_output_kind(1 / (1 + np.exp(-z[:, :1]))) == "sigmoid"
    assert guess_output_kind(z[:, :1] * 3) == "value"
    e = rng.normal(size=(6, 16))
    assert guess_output_kind(e / np.linalg.norm(e, axis=1, keepdims=True)) == "embedding"
    assert guess_output_kind(np.ones((6, 1))) == "sigmoid"  # not a softmax that says 1.00
    # independent probabilities are never renormalised; values are not turned into any
    q = 1 / (1 + np.exp(-z))
    np.testing.assert_array_equal(probabilities(q, "sigmoid"), q)
    np.testing.assert_array_equal(probabilities(z, "value"), z)


def _model(tmp_path, tail, n_out, name="m.onnx", H=4):
    """X [T, 1, 3] → LSTM(H) → Squeeze → MatMul(H, n_out) → `tail` ops → out."""
    rng = np.random.default_rng(1)
    inits = [
        numpy_helper.from_array(rng.uniform(-0.8, 0.8, (1, 4 * H, 3)).astype(np.float32), "W"),
        numpy_helper.from_array(rng.uniform(-0.8, 0.8, (1, 4 * H, H)).astype(np.float32), "R"),
        numpy_helper.from_array(rng.normal(size=(H, n_out)).astype(np.float32), "D"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "axes"),
    ]
    nodes = [
        helper.make_node("LSTM", ["X", "W", "R"], ["Y"], name="lstm", hidden_size=H),
        helper.make_node("Squeeze", ["Y", "axes"], ["Ys"]),
        helper.make_node("MatMul", ["Ys", "D"], ["z"]),
        *tail,
    ]
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])
    path = tmp_path / name
    onnx.save(model, str(path))
    np.save(tmp_path / "x.npy", rng.normal(size=(6, 1, 3)).astype(np.float32) * 2)
    return path


def _ort(path, x):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"X": x}
    )[0]


def _panel(source, t, k=5):
    return render_output(source, t, k, 60, Style(), Style()).plain.split("\n")


def test_a_speech_probability_is_one_p_on_its_own_bar(tmp_path):
    path = _model(tmp_path, [helper.make_node("Sigmoid", ["z"], ["out"])], 1)
    src = open_path(str(path), input_path=str(tmp_path / "x.npy"))
    expected = _ort(path, np.load(tmp_path / "x.npy"))  # (T, 1)
    np.testing.assert_allclose(src.trace.output, expected, atol=TOL, rtol=0)
    assert src.output_kind == "sigmoid"
    for t in range(src.trace.T):
        lines = _panel(src, t)
        assert lines[0] == f"output at t = {t + 1}   p (sigmoid)"
        assert len(lines) == 2 and f"{expected[t, 0]:5.2f}" in lines[1]
    assert len({_panel(src, t)[1] for t in range(src.trace.T)}) > 1  # not "1.00" everywhere


def test_a_single_linear_output_is_a_value_even_if_the_model_says_logits(tmp_path):
    ten = numpy_helper.from_array(np.array(10, np.float32))
    tail = [helper.make_node("Constant", [], ["ten"], value=ten),
            helper.make_node("Mul", ["z", "ten"], ["out"])]  # fmt: skip
    path = _model(tmp_path, tail, 1)
    src = open_path(str(path), input_path=str(tmp_path / "x.npy"))
    expected = _ort(path, np.load(tmp_path / "x.npy"))
    assert not ((expected >= 0) & (expected <= 1)).all()
    assert src.output_kind == "value"  # the graph's Mul said nothing: one column decided
    # a source that still says logits (a file whose reader does not refine) is re-read too
    import dataclasses

    assert shown_kind(dataclasses.replace(src, output_kind="logit")) == "value"
    lines = _panel(src, 2)
    assert lines[0].startswith("output at t = 3   value, bar over")
    assert f"{expected[2, 0]:+9.4g}" in lines[1]


def test_several_independent_probabilities_are_not_renormalised(tmp_path):
    path = _model(tmp_path, [helper.make_node("Sigmoid", ["z"], ["out"])], 3)
    src = open_path(str(path), input_path=str(tmp_path / "x.npy"))
    expected = _ort(path, np.load(tmp_path / "x.npy"))
    lines = _panel(src, 0)
    assert lines[0] == "output at t = 1   independent p (sigmoid), 3 outputs"
    shown = sorted(float(line.split()[-2]) for line in lines[1:])
    np.testing.assert_allclose(shown, sorted(np.round(expected[0], 2)), atol=0.006)


def test_an_embedding_head_shows_its_length_and_cosine(tmp_path):
    tail = [helper.make_node("LpNormalization", ["z"], ["out"], axis=-1, p=2)]
    path = _model(tmp_path, tail, 8)
    src = open_path(str(path), input_path=str(tmp_path / "x.npy"))
    expected = _ort(path, np.load(tmp_path / "x.npy"))
    np.testing.assert_allclose(src.trace.output, expected, atol=TOL, rtol=0)
    assert src.output_kind == "embedding"
    lines = _panel(src, 3)
    cos = float(expected[3] @ expected[2])
    assert lines[0] == (f"output at t = 4   embedding, 8 dims, |e| = 1.000, "
                        f"cos to step 3 = {cos:+.3f}")  # fmt: skip
    big = int(np.argmax(np.abs(expected[3])))
    assert lines[1].split()[0] == f"d{big}" and f"{expected[3, big]:+6.3f}" in lines[1]


def test_the_kind_can_be_chosen_when_the_guess_is_wrong(tmp_path):
    path = _model(tmp_path, [helper.make_node("Identity", ["z"], ["out"])], 3)
    src = open_path(str(path), input_path=str(tmp_path / "x.npy"), output_kind="value")
    assert src.output_kind == "value" and src.trace.meta["output_kind"] == "value"
    assert _panel(src, 0)[0].startswith("output at t = 1   values, bar over")
    from lstm_engine import InputError

    with pytest.raises(InputError, match="--output-kind 'softmaxish': expected one of"):
        open_and_trace(path, input_path=tmp_path / "x.npy", output_kind="softmaxish")


def test_cli_output_kind_flag(tmp_path, capsys):
    from lstm_engine import Trace
    from lstm_tui import cli

    path = _model(tmp_path, [helper.make_node("Identity", ["z"], ["out"])], 3)
    code = cli.main(["record", str(path), "--input", str(tmp_path / "x.npy"),
                     "--output-kind", "sigmoid", "-o", str(tmp_path / "t.npz")])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    assert Trace.load(tmp_path / "t.npz").meta["output_kind"] == "sigmoid"
    assert cli.main(["info", str(path), "--output-kind", "nope"]) == 2
    assert "invalid choice: 'nope'" in capsys.readouterr().err


def test_a_one_column_onnx_output_is_never_a_softmax_in_the_strip_either(tmp_path):
    """The graph's MatMul says nothing; one column is re-read at the first trace, so every
    front end (panel, strip, watches) reads the model's kind, not only the panel."""
    from lstm_tui.widgets.sequence_strip import predictions

    ten = numpy_helper.from_array(np.array(10, np.float32))
    tail = [helper.make_node("Constant", [], ["ten"], value=ten),
            helper.make_node("Mul", ["z", "ten"], ["out"])]  # fmt: skip
    path = _model(tmp_path, tail, 1)
    src = open_path(str(path), input_path=str(tmp_path / "x.npy"))
    assert src.output_kind == "value" and src.trace.meta["output_kind"] == "value"
    expected = _ort(path, np.load(tmp_path / "x.npy"))[:, 0]
    np.testing.assert_allclose(probabilities(src.trace.output, src.output_kind)[:, 0], expected,
                               atol=TOL, rtol=0)  # fmt: skip
    strip = [v for _, v in predictions(src)]  # the strip shows the value, not softmax's 1.00
    np.testing.assert_allclose(strip, expected, atol=TOL, rtol=0)
    chosen = open_path(str(path), input_path=str(tmp_path / "x.npy"), output_kind="logit")
    assert chosen.output_kind == "logit"  # the user's word is kept


def test_a_keras_dense_of_one_linear_unit_is_a_value(tmp_path):
    pytest.importorskip("h5py")
    from test_keras import Net

    from lstm_engine import load

    net = Net(seed=10, n=1)
    net.dense_act = "linear"
    m = load(net.save_keras(tmp_path / "reg.keras"))
    assert m.output_kind == "value"
