"""The loaders on hostile content, in process: refused in one line, in bounded time, never built.

Each case is a state_dict, checkpoint or ONNX file that a reader used to
turn into a MemoryError, NotImplementedError, TypeError, a hang or a
quadratic scan; here each must be a LoadError (an EngineError with one line
naming the file and what is wrong). And the writers: save_checkpoint and
spec_to_onnx write through files.write_file (no `.NAME.tmp`, no clobbering,
--force/overwrite only onto a regular file).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hostile_files as hf  # noqa: E402
from lstm_engine import (  # noqa: E402
    EngineError, LoadError, LSTMSpec, TargetExistsError, WriteError, load, save_checkpoint,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"


def _one_line_load_error(path, *words):
    with pytest.raises(LoadError) as err:
        load(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message, message
    for w in words:
        assert w in message, message
    return message


# --- tensors a state_dict must not hold
def _with(folder: Path, key: str, tensor) -> Path:
    sd = hf._tiny_text_model()
    sd[key] = tensor
    path = folder / "odd.pt"
    torch.save(sd, path)
    return path


@pytest.mark.parametrize(
    "kind, make, says",
    [
        ("meta", lambda: torch.empty(4, 2, device="meta"), "a meta tensor"),
        ("sparse", lambda: torch.eye(4, 2).to_sparse(), "a sparse tensor"),
        ("quantized", lambda: torch.quantize_per_tensor(torch.ones(4, 2), 0.1, 0, torch.qint8),
         "a quantized tensor"),
        ("complex", lambda: torch.ones(4, 2, dtype=torch.complex64), "complex numbers"),
    ],
)  # fmt: skip
def test_a_tensor_that_is_not_dense_real_weights_is_refused_by_name(tmp_path, kind, make, says):
    try:
        path = _with(tmp_path, "emb.weight", make())
    except (RuntimeError, NotImplementedError) as e:  # this torch cannot save that kind
        pytest.skip(f"torch cannot save a {kind} tensor here: {e}")
    try:
        torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"torch's weights-only reader refuses a {kind} tensor itself: {e}")
    _one_line_load_error(path, "emb.weight", says)


def test_a_nested_tensor_is_refused_by_name(tmp_path):
    nested = torch.nested.nested_tensor([torch.ones(2, 2), torch.ones(3, 2)])
    try:
        path = _with(tmp_path, "emb.weight", nested)
        torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"this torch cannot round-trip a nested tensor: {e}")
    _one_line_load_error(path, "emb.weight", "a nested tensor")


def test_a_stride0_embedding_of_10e9_rows_is_refused_before_it_is_built(tmp_path):
    message = _one_line_load_error(hf.stride0_state_dict(tmp_path), "emb.weight", "would need")
    assert "LSTM_TUI_MAX_MEMORY" in message


def test_the_limit_is_the_users_to_raise(tmp_path, monkeypatch):
    sd = hf._tiny_text_model()
    path = tmp_path / "small.pt"
    torch.save(sd, path)
    monkeypatch.setenv("LSTM_TUI_MAX_MEMORY", "64")  # bytes: the 12x3 float32 W_hh alone is 144
    _one_line_load_error(path, "would need", "LSTM_TUI_MAX_MEMORY")
    monkeypatch.delenv("LSTM_TUI_MAX_MEMORY")
    assert load(path).spec.hidden_size == 3


def test_save_checkpoint_refuses_a_stride0_view_before_contiguous(tmp_path):
    sd = hf._tiny_text_model()
    sd["emb.weight"] = torch.zeros(1).expand(10**9, 2)
    with pytest.raises(LoadError, match="emb.weight.*would need"):
        save_checkpoint(sd, tmp_path / "c.pt")
    assert not (tmp_path / "c.pt").exists()


def test_a_state_dict_with_hidden_size_0_is_refused(tmp_path):
    _one_line_load_error(hf.degenerate_state_dict(tmp_path, "hidden0"), "hidden size 0")


def test_shared_sublists_in_an_example_are_counted_not_flattened(tmp_path):
    start = time.monotonic()
    _one_line_load_error(hf.shared_sublists_checkpoint(tmp_path), "example 1",
                         "values in one nested list")  # fmt: skip
    assert time.monotonic() - start < 10


def test_a_state_dict_of_4000_small_lstms_opens_in_linear_time(tmp_path):
    """The scan was quadratic in the number of LSTMs (8,000: 50 s, 4,000: about 14 s); linear,
    4,000 take about 2 s."""
    sd = {}
    for k in range(4000):
        for name, shape in (("weight_ih_l0", (4, 1)), ("weight_hh_l0", (4, 1))):
            sd[f"m{k}.{name}"] = torch.zeros(shape)
    path = tmp_path / "many.pt"
    torch.save(sd, path)
    start = time.monotonic()
    model = load(path, lstm="m3999")
    assert time.monotonic() - start < 8
    assert len(model.lstm_names) == 4000 and model.lstm_name == "m3999"


# --- ONNX
def test_onnx_weights_from_an_endless_loop_are_refused_at_once(tmp_path):
    start = time.monotonic()
    _one_line_load_error(hf.onnx_endless_loop(tmp_path, into="W"), "Loop node", "'forever'")
    assert time.monotonic() - start < 10


def test_an_onnx_input_from_an_endless_loop_is_refused_and_info_works(tmp_path):
    model = load(hf.onnx_endless_loop(tmp_path, into="X"))
    assert model.info()["name"]  # the graph's output is not run either
    with pytest.raises(EngineError, match="computed through a Loop node"):
        model.trace(np.zeros((4, 1, 3), np.float32))


@pytest.mark.parametrize("what", ["huge", "deep"])
def test_onnx_metadata_json_is_read_within_the_limits(tmp_path, what):
    pytest.importorskip("onnx")
    import onnx

    from lstm_engine.formats.onnx_write import spec_to_onnx

    path = spec_to_onnx(LSTMSpec.random(3, 2, 1, seed=0), tmp_path / "m.onnx")
    m = onnx.load(str(path))
    entry = m.metadata_props.add()
    entry.key = "labels"
    entry.value = json.dumps(["x" * 1000] * 20_000) if what == "huge" else "[" * 100_000 + "]" * 100_000
    onnx.save(m, str(path))
    _one_line_load_error(path, "metadata labels", "JSON")


# --- writing: save_checkpoint and spec_to_onnx through write_file
def _writers():
    from lstm_engine.formats.onnx_write import spec_to_onnx

    spec = LSTMSpec.random(3, 2, 1, seed=0)
    return {
        "checkpoint": lambda path, **kw: save_checkpoint(spec, path, **kw),
        "onnx": lambda path, **kw: spec_to_onnx(spec, path, **kw),
    }


@pytest.mark.parametrize("writer", ["checkpoint", "onnx"])
def test_writers_leave_a_users_old_temporary_name_alone_and_follow_no_symlink(tmp_path, writer):
    write = _writers()[writer]
    out = tmp_path / "m.out"
    mine = tmp_path / ".m.out.tmp"
    mine.write_bytes(b"mine")
    (tmp_path / "m.out.tmp").symlink_to(tmp_path / "victim")
    write(out)
    assert mine.read_bytes() == b"mine" and not (tmp_path / "victim").exists()
    assert sorted(os.listdir(tmp_path)) == [".m.out.tmp", "m.out", "m.out.tmp"]
    assert load(out).spec.hidden_size == 2


@pytest.mark.parametrize("writer", ["checkpoint", "onnx"])
def test_writers_do_not_clobber_and_overwrite_only_regular_files(tmp_path, writer):
    write = _writers()[writer]
    out = tmp_path / "m.out"
    out.write_bytes(b"old")
    with pytest.raises(TargetExistsError, match="already exists.*overwrite=True"):
        write(out)
    assert out.read_bytes() == b"old"
    write(out, overwrite=True)
    assert load(out).spec.hidden_size == 2
    link = tmp_path / "link.out"
    link.symlink_to(tmp_path / "victim")
    with pytest.raises(TargetExistsError):
        write(link)
    with pytest.raises(WriteError, match="symbolic link"):
        write(link, overwrite=True)
    assert link.is_symlink() and not (tmp_path / "victim").exists()


@pytest.mark.parametrize(
    "obj, says",
    [
        ({1: "tensor"}, "keys are not all strings"),
        ({"format": "lstm-tui-checkpoint", "version": 1, "state_dict": {1: "tensor"},
          "architecture": {"lstms": ["x"]}}, "keys must be parameter names"),
        ({"format": "lstm-tui-checkpoint", "version": "1"}, "version '1' is not a whole number"),
    ],
)  # fmt: skip
def test_dicts_a_weights_only_load_can_return_are_refused_in_one_line(tmp_path, obj, says):
    """Non-string keys used to be a TypeError from the key regex (an internal error)."""
    def tensors(x):
        if isinstance(x, dict):
            return {k: tensors(v) for k, v in x.items()}
        return torch.zeros(8, 2) if x == "tensor" else x

    path = tmp_path / "odd.pt"
    torch.save(tensors(obj), path)
    _one_line_load_error(path, says)


def test_trust_finds_the_models_class_in_the_current_folder_last_and_says_so(tmp_path, monkeypatch):
    """Installed modules come first; the current folder is appended only when the class is not
    found elsewhere, and the model's warnings name it (info and record print them)."""
    import importlib
    import sys

    (tmp_path / "my_tagger_mod.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.lstm = torch.nn.LSTM(2, 3)\n"
        "    def forward(self, x):\n"
        "        return self.lstm(x)[0]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    net = importlib.import_module("my_tagger_mod").Net()
    torch.save(net, tmp_path / "net.pt")
    monkeypatch.delitem(sys.modules, "my_tagger_mod")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(tmp_path)])
    monkeypatch.chdir(tmp_path)
    model = load(tmp_path / "net.pt", trust=True)
    assert sys.path[-1] == str(tmp_path) and sys.path.count(str(tmp_path)) == 1
    assert any(f"current folder {tmp_path}" in w for w in model.warnings), model.warnings
    monkeypatch.delitem(sys.modules, "my_tagger_mod")


def test_an_onnx_initializer_declaring_10e12_floats_is_refused_before_it_is_built(tmp_path):
    import onnx
    from onnx import TensorProto

    from lstm_engine.formats.onnx_write import spec_to_onnx

    path = spec_to_onnx(LSTMSpec.random(3, 2, 1, seed=0), tmp_path / "m.onnx")
    m = onnx.load(str(path))
    lstm = next(n for n in m.graph.node if n.op_type == "LSTM")
    name = lstm.input[1]  # W
    m.graph.initializer.remove(next(t for t in m.graph.initializer if t.name == name))
    bomb = TensorProto(name=name, data_type=TensorProto.FLOAT, raw_data=bytes(4))
    bomb.dims.extend([1, 8, 10**12])  # 32 TB declared in 4 bytes
    m.graph.initializer.append(bomb)
    path.unlink()
    (tmp_path / "m.onnx").write_bytes(m.SerializeToString())
    _one_line_load_error(tmp_path / "m.onnx", "would need", repr(name))


def test_an_onnx_file_larger_than_the_read_limit_is_refused_unread(tmp_path, monkeypatch):
    from lstm_engine.formats.onnx_write import spec_to_onnx

    path = spec_to_onnx(LSTMSpec.random(3, 2, 1, seed=0), tmp_path / "m.onnx")
    monkeypatch.setenv("LSTM_TUI_MAX_BYTES", "100")
    _one_line_load_error(path, "LSTM_TUI_MAX_BYTES")
