"""`.safetensors` state dicts, written here byte by byte as the format lays them out, opened as
the same state_dict saved with torch.save is, and held to torch at every step."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import lstm_engine  # noqa: E402
from lstm_engine import load  # noqa: E402
from lstm_engine.formats.safetensors import read_safetensors  # noqa: E402

TOL = 1e-5
_DT = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.bfloat16: "BF16",
       torch.int64: "I64"}  # fmt: skip


def save_safetensors(sd: dict, path, metadata=None) -> None:
    """The safetensors layout: u64 header length, JSON header, then each tensor's bytes."""
    header, blobs, offset = {}, [], 0
    for name, t in sd.items():
        t = t.detach().contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _DT[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}  # fmt: skip
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)  # the writer pads the header to 8 bytes
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class Tagger(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(7, 3)
        self.lstm = torch.nn.LSTM(3, 4, num_layers=2, bidirectional=True)
        self.out = torch.nn.Linear(8, 2)


def test_a_safetensors_state_dict_opens_like_the_pt_one(tmp_path):
    torch.manual_seed(0)
    net = Tagger().eval()
    path = tmp_path / "model.safetensors"
    save_safetensors(net.state_dict(), path, {"format": "pt"})
    torch.save(net.state_dict(), tmp_path / "model.pt")
    m, pt = load(path), load(tmp_path / "model.pt")
    assert m.format == "safetensors" and m.lstm_names == pt.lstm_names
    assert m.layers() == pt.layers()
    ids = torch.tensor([1, 5, 2, 6, 0])
    tr, tr_pt = m.trace("1 5 2 6 0"), pt.trace("1 5 2 6 0")
    with torch.no_grad():
        ref = lstm_engine.trace_lstm(net.lstm, net.emb(ids)[:, None, :])
        y, _ = net.lstm(net.emb(ids)[:, None, :])
        logits = net.out(y[:, 0]).numpy()
    for q in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_allclose(getattr(tr, q), getattr(ref, q), atol=TOL, rtol=0)
    np.testing.assert_allclose(tr.output, logits, atol=TOL, rtol=0)
    np.testing.assert_array_equal(tr.h, tr_pt.h)


def test_half_and_bfloat16_are_widened_exactly(tmp_path):
    sd = {"a": torch.randn(3, 2).to(torch.bfloat16), "b": torch.randn(4).half()}
    save_safetensors(sd, tmp_path / "h.safetensors")
    tensors, _ = read_safetensors(tmp_path / "h.safetensors")
    np.testing.assert_array_equal(tensors["a"], sd["a"].float().numpy())
    np.testing.assert_array_equal(tensors["b"].astype(np.float32), sd["b"].float().numpy())
    assert tensors["a"].dtype == np.float32
