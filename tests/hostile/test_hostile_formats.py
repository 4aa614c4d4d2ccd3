"""The new readers on hostile files: safetensors, Keras h5 and .keras, ONNX with several inputs.

Each case is small on disk whatever it declares. In process, each must be
one LoadError line naming the file and what is wrong, in bounded time, with
nothing allocated from what the file says; through the CLI, exit 2 and one
line, or (for hostile names) output with no terminal control in it.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile

import numpy as np
import pytest

import hostile_cli as hc
import hostile_files as hf
from lstm_engine import LoadError, load

h5py = pytest.importorskip("h5py", reason="the keras extra (h5py) is not installed")


def _one_line(path, *words):
    with pytest.raises(LoadError) as err:
        load(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    for w in words:
        assert w in message, message
    return message


# --- safetensors
def _safetensors(path, header, data=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _entry(dtype="F32", shape=(2, 2), offsets=(0, 16)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


@pytest.mark.parametrize("case,header,data,says", [
    ("huge-header-length", None, b"", "header, more than the"),
    ("truncated", {"w": _entry()}, b"\0" * 4, "do not hold a F32"),
    ("shape-bomb", {"w": _entry(shape=(10**6, 10**6), offsets=(0, 16))}, b"\0" * 16, "GiB"),
    ("offsets-outside", {"w": _entry(offsets=(10**12, 10**12 + 16))}, b"\0" * 16, "do not hold"),
    ("negative-shape", {"w": _entry(shape=(-1, 2))}, b"\0" * 16, "not a list of sizes"),
    ("unknown-dtype", {"w": _entry(dtype="C64")}, b"\0" * 16, "dtype 'C64'"),
    ("bool-offsets", {"w": _entry(offsets=(False, True))}, b"\0" * 16, "not [begin, end]"),
    ("not-an-entry", {"w": 5}, b"", "not a tensor entry"),
    ("deep-json", b"{\"w\":" + b"[" * 10_000 + b"]" * 10_000 + b"}", b"", "nested"),
])  # fmt: skip
def test_hostile_safetensors_is_one_line(tmp_path, case, header, data, says):
    path = tmp_path / f"{case}.safetensors"
    if header is None:  # 2^60 bytes of header declared in a 9-byte file
        path.write_bytes(struct.pack("<Q", 2**60) + b"{")
    else:
        _safetensors(path, header, data)
    _one_line(path, says)


def test_a_safetensors_without_lstm_says_so(tmp_path):
    path = _safetensors(tmp_path / "w.safetensors", {"fc.weight": _entry()}, b"\0" * 16)
    _one_line(path, "no LSTM in this state_dict")


# --- Keras h5
def _legacy_weights(path, layers):
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in layers])
        for name, weights in layers.items():
            g = f.create_group(name)
            g.attrs["weight_names"] = np.array([w.encode() for w in weights])
            for w, a in weights.items():
                if callable(a):
                    a(g, w)
                else:
                    g[w] = a
    return path


def test_an_external_link_is_refused(tmp_path):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.ones((4, 16), np.float32)
    path = _legacy_weights(tmp_path / "link.h5", {"lstm": {
        "lstm/lstm_cell/kernel:0": lambda g, w: g.__setitem__(w, h5py.ExternalLink(str(other), "/x")),
    }})  # fmt: skip
    _one_line(path, "ExternalLink", "only what the file itself holds")


def test_a_dataset_that_declares_terabytes_is_refused_unread(tmp_path):
    def huge(g, w):  # chunked and never written: a few KB on disk, 4 TB declared
        g.create_dataset(w, shape=(10**6, 10**6), dtype=np.float32, chunks=(1, 1024))

    path = _legacy_weights(tmp_path / "huge.h5", {"lstm": {"lstm/lstm_cell/kernel:0": huge}})
    assert path.stat().st_size < 2**20
    _one_line(path, "lstm/lstm_cell/kernel:0", "TiB")


def test_string_weights_and_missing_layers_are_refused(tmp_path):
    path = _legacy_weights(tmp_path / "s.h5", {"lstm": {
        "lstm/lstm_cell/kernel:0": np.array([b"rm -rf"]),
    }})  # fmt: skip
    _one_line(path, "weights are floats")
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f.attrs["layer_names"] = np.array([b"ghost"])
    _one_line(tmp_path / "m.h5", "layer 'ghost' is listed but not in the file")


@pytest.mark.parametrize("config,says", [
    ("not json {", "model_config"),
    ("[" * 10_000 + "]" * 10_000, "nested"),
    (json.dumps({"class_name": "Sequential", "config": {"layers": 5}}), "no layer list"),
])  # fmt: skip
def test_a_hostile_model_config_is_one_line(tmp_path, config, says):
    path = tmp_path / "cfg.h5"
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = config.encode()
        f.create_group("model_weights").attrs["layer_names"] = np.array([], dtype="S1")
    _one_line(path, says)


def test_a_keras_zip_with_an_oversized_config_is_refused(tmp_path):
    path = tmp_path / "big.keras"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("config.json", b" " * (17 * 2**20))  # 17 MB of spaces, deflated to KBs
        zf.writestr("model.weights.h5", b"")
    assert path.stat().st_size < 2**20
    _one_line(path, "config.json holds 17.0 MiB")


def test_not_hdf5_after_the_signature(tmp_path):
    path = tmp_path / "fake.h5"
    path.write_bytes(hf_signature() + b"\0" * 64)
    _one_line(path, "not a readable HDF5 file")


def hf_signature() -> bytes:
    from lstm_engine.formats.keras import HDF5_SIGNATURE

    return HDF5_SIGNATURE


# --- through the CLI: one line and exit 2, or output with no terminal control
def test_cli_on_hostile_keras_names_and_a_safetensors_bomb(tmp_path):
    folder = tmp_path / "here"
    victims = hc.victims(folder)
    name = hf.ESCAPES + hf.click_markup(folder)
    rng = np.random.default_rng(0)
    path = _legacy_weights(folder / "names.h5", {name: {
        f"{name}/lstm_cell/kernel:0": rng.normal(size=(2, 12)).astype(np.float32),
        f"{name}/lstm_cell/recurrent_kernel:0": rng.normal(size=(3, 12)).astype(np.float32),
        f"{name}/lstm_cell/bias:0": rng.normal(size=12).astype(np.float32),
    }})  # fmt: skip
    out = hc.shown(hc.run(["info", path], folder), victims=victims)
    assert "PWNED-title" in out  # shown as text, its control characters escaped
    bomb = _safetensors(folder / "bomb.safetensors",
                        {"w": _entry(shape=(10**6, 10**6))}, b"\0" * 16)  # fmt: skip
    hc.refused(hc.run(["info", bomb], folder), says="bomb.safetensors", victims=victims)
    np.save(folder / "x.npy", np.zeros((3, 2), np.float32))
    hc.refused(hc.run(["record", path, "--input", folder / "x.npy", "--input",
                       f"h0={folder / 'x.npy'}", "-o", folder / "t.npz"], folder),
               victims=victims)  # fmt: skip


def test_onnx_named_inputs_that_do_not_fit_are_one_line(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from lstm_engine import InputError

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
             for n, s in (("W", (1, 12, 2)), ("R", (1, 12, 3)))]  # fmt: skip
    node = helper.make_node("LSTM", ["X", "W", "R"], ["Y"], hidden_size=3)
    g = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)]), str(path))
    m = load(path)
    X = np.zeros((3, 1, 2), np.float32)
    for inp, says in [
        ({"X": X, "X\x1b[2J": X}, "no input named"),
        ({"X": np.zeros((3, 1, 5), np.float32)}, r"the model.s input .X. is \[T, 1, 2\]"),
        ({}, "no value for the model's input X"),
    ]:
        with pytest.raises(InputError, match=says) as e:
            m.trace(inp)
        assert "\n" not in str(e.value)


@pytest.mark.parametrize("scale_shape,dtype,says", [
    ((7,), np.int8, "fit neither [D] nor [D, 4H]"),
    ((1,), np.float32, "quantized W must be 8-bit"),
])  # fmt: skip
def test_a_damaged_dynamically_quantized_lstm_is_one_line(tmp_path, scale_shape, dtype, says):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    arrays = {
        "W_quantized": np.zeros((1, 3, 16), dtype), "R_quantized": np.zeros((1, 4, 16), np.int8),
        "W_scale": np.ones(scale_shape, np.float32), "W_zero_point": np.zeros(scale_shape, np.int8),
        "R_scale": np.ones(1, np.float32), "R_zero_point": np.zeros(1, np.int8),
    }  # fmt: skip
    inits = [numpy_helper.from_array(a, k) for k, a in arrays.items()]
    node = helper.make_node(
        "DynamicQuantizeLSTM",
        ["X", "W_quantized", "R_quantized", "", "", "", "", "", "W_scale", "W_zero_point",
         "R_scale", "R_zero_point"],
        ["Y"], name="q", domain="com.microsoft", hidden_size=4,
    )  # fmt: skip
    g = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", 1, 3])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], inits,
    )  # fmt: skip
    path = tmp_path / "q.onnx"
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14),
                                                helper.make_opsetid("com.microsoft", 1)])  # fmt: skip
    onnx.save(model, str(path))
    _one_line(path, says)


# --- --vocab and --labels files
def _sd(folder):
    torch = pytest.importorskip("torch")
    torch.save(hf._tiny_text_model(hidden=3, vocab=4, labels=2), folder / "sd.pt")
    return folder / "sd.pt"


@pytest.mark.parametrize("make,says", [
    (hf.fifo, "not a vocabulary (only regular files are read)"),
    (hf.symlink_loop, "symbolic link"),
    (lambda d: (d / "bad.txt").write_bytes(b"a\nb\xff\n") and d / "bad.txt", "not UTF-8"),
])  # fmt: skip
def test_a_hostile_vocab_file_is_one_line(tmp_path, make, says):
    from lstm_engine import EngineError, apply_names

    model = load(_sd(tmp_path))
    path = make(tmp_path)
    with pytest.raises(EngineError) as e:
        apply_names(model, vocab=path)
    assert says in str(e.value) and "\n" not in str(e.value)


def test_cli_labels_and_vocab_of_terminal_control_are_shown_as_text(tmp_path):
    folder = tmp_path / "here"
    victims = hc.victims(folder)
    path = _sd(folder)
    names = [hf.ESCAPES, hf.click_markup(folder), "\u202eevil", "ok"]
    (folder / "v.txt").write_text("".join(n + "\n" for n in names))
    (folder / "l.json").write_text(json.dumps(names[:2]))
    out = hc.shown(hc.run(["info", path, "--vocab", folder / "v.txt", "--labels",
                           folder / "l.json"], folder), victims=victims)  # fmt: skip
    assert "vocabulary 4 words" in out and "labels" in out
    hc.refused(hc.run(["info", path, "--labels", folder / "v.txt"], folder),
               says="4 labels, but sd's head 'head' has 2 outputs", victims=victims)  # fmt: skip
