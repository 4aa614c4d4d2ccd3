"""load(): every format opens by content, and traces what torch itself computes.

Formats: bare state_dicts (of an nn.LSTM or of a model around one), training
dicts holding one, TorchScript (scripted and traced), trusted pickled modules;
and every kind of bad file gives a LoadError with one clear line.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import EngineError, InputError, LoadError, Trace, UnsafeFileError, load, trace_lstm
from lstm_engine.open import sniff

ROOT = Path(__file__).resolve().parents[2]
TAGGER = ROOT / "sample_models" / "tagger.pt"


class Tagger(nn.Module):
    """The seed's LSTMTagger."""

    def __init__(self, vocab=9, emb=6, hidden=6, tags=3):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden)
        self.hidden2tag = nn.Linear(hidden, tags)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        return F.log_softmax(self.hidden2tag(lstm_out.view(len(sentence), -1)), dim=1)


class Encoder(nn.Module):
    """Two LSTM modules in a row, batch_first, numeric input, softmax head, float64."""

    def __init__(self):
        super().__init__()
        self.first = nn.LSTM(3, 5, num_layers=2, bidirectional=True, batch_first=True)
        self.second = nn.LSTM(10, 4, batch_first=True, proj_size=2)
        self.head = nn.Linear(2, 3)

    def forward(self, x):
        y, _ = self.first(x)
        y, _ = self.second(torch.tanh(y))  # not a plain chain: only hooks see the real input
        return torch.softmax(self.head(y), dim=-1)


@pytest.fixture
def tagger():
    torch.manual_seed(0)
    return Tagger().eval()


IDS = [4, 0, 8, 3, 1, 1]
TEXT = " ".join(map(str, IDS))


def _forward(m, ids=IDS):
    with torch.no_grad():
        return m(torch.tensor(ids)).numpy()


def _embedded(m, ids=IDS):
    with torch.no_grad():
        return m.word_embeddings(torch.tensor(ids))


def assert_same_trace(a, b):
    for name in ("x", "i", "f", "g", "o", "c", "h"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


# --- bare state_dicts
def test_state_dict_of_a_tagger(tmp_path, tagger):
    torch.save(tagger.state_dict(), tmp_path / "sd.pt")
    model = load(tmp_path / "sd.pt")
    assert model.format == "state_dict" and model.input_kind == "text"
    assert [n for n, _ in model.layers()] == ["word_embeddings", "lstm", "hidden2tag", "output"]
    assert model.output_kind == "logit" and model.vocab == tuple(str(k) for k in range(9))
    trace = model.trace(TEXT)
    # the state_dict does not say log_softmax follows, so the output is the head's logits
    np.testing.assert_allclose(torch.log_softmax(torch.tensor(trace.output), 1), _forward(tagger), atol=1e-5)
    assert_same_trace(trace, trace_lstm(tagger.lstm, _embedded(tagger)))
    assert trace.tokens == tuple(TEXT.split())


def test_state_dict_without_vocab_needs_token_ids(tmp_path, tagger):
    torch.save(tagger.state_dict(), tmp_path / "sd.pt")
    with pytest.raises(InputError, match=r"token ids 0–8.*'dog', '9'"):
        load(tmp_path / "sd.pt").trace("dog 9 1")


def test_training_dict_holding_a_state_dict(tmp_path, tagger):
    torch.save({"epoch": 7, "model_state_dict": tagger.state_dict(), "loss": 0.1}, tmp_path / "ck.pt")
    model = load(tmp_path / "ck.pt")
    assert model.format == "state_dict"
    assert_same_trace(model.trace(TEXT), trace_lstm(tagger.lstm, _embedded(tagger)))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(input_size=3, hidden_size=5),
        dict(input_size=3, hidden_size=5, num_layers=3, bidirectional=True),
        dict(input_size=4, hidden_size=6, proj_size=2, num_layers=2),
        dict(input_size=2, hidden_size=3, bias=False, bidirectional=True),
    ],
)
def test_state_dict_of_a_bare_lstm_infers_its_configuration(tmp_path, kwargs):
    torch.manual_seed(1)
    lstm = nn.LSTM(**kwargs)
    torch.save(lstm.state_dict(), tmp_path / "lstm.pt")
    model = load(tmp_path / "lstm.pt")
    s = model.spec
    got = dict(input_size=s.input_size, hidden_size=s.hidden_size, num_layers=s.num_layers,
               bidirectional=s.bidirectional, proj_size=s.proj_size, bias=s.bias)  # fmt: skip
    assert got == {**dict(num_layers=1, bidirectional=False, proj_size=0, bias=True), **kwargs}
    assert model.input_kind == "numeric" and model.output_kind is None
    x = np.random.default_rng(2).normal(size=(7, kwargs["input_size"])).astype(np.float32)
    trace = model.trace(x)
    assert trace.output is None and trace.tokens is None
    assert_same_trace(trace, trace_lstm(lstm, x))
    with pytest.raises(InputError, match=f"width is {kwargs['input_size'] + 1}"):
        model.trace(np.zeros((4, kwargs["input_size"] + 1)))


# --- TorchScript
def test_scripted_tagger(tmp_path, tagger):
    torch.jit.save(torch.jit.script(tagger), tmp_path / "ts.pt")
    model = load(tmp_path / "ts.pt", trust=True)
    assert model.format == "torchscript" and model.lstm_names == ("lstm",)
    trace = model.trace(TEXT)
    np.testing.assert_allclose(trace.output, _forward(tagger), atol=1e-5)
    assert model.output_kind == "log_prob" and trace.meta["output_kind"] == "log_prob"
    assert trace.meta["lstm_input"].startswith("reconstructed and checked")
    assert "warnings" not in trace.meta and model.head.name == "hidden2tag"
    assert_same_trace(trace, trace_lstm(tagger.lstm, _embedded(tagger)))


def test_traced_numeric_model_flags_an_unchecked_reconstruction(tmp_path):
    torch.manual_seed(2)
    enc = Encoder().double().eval()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    torch.jit.save(torch.jit.trace(enc, x), tmp_path / "traced.pt")
    model = load(tmp_path / "traced.pt", trust=True)
    assert model.lstm_names == ("first", "second") and model.input_kind == "numeric"
    trace = model.trace(x[0].numpy())
    with torch.no_grad():
        np.testing.assert_allclose(trace.output, enc(x)[0].numpy(), atol=1e-10)
    assert_same_trace(trace, trace_lstm(enc.first, x))
    # the tanh between the LSTMs is invisible without hooks, and the check says so
    second = load(tmp_path / "traced.pt", lstm="second", trust=True)
    meta = second.trace(x[0].numpy()).meta
    assert "does NOT give the model's output" in meta["lstm_input"]
    # ... and so does a warning the UI shows, and downstream refuses to guess
    assert len(meta["warnings"]) == 1 and "does NOT give the model's output" in meta["warnings"][0]
    assert second.head is None
    with pytest.raises(EngineError, match="does more than embedding → LSTMs → head"):
        second.downstream("first", np.zeros((6, 10)))


# --- pickled modules
def test_pickled_module_is_refused_then_traced_with_trust(tmp_path):
    torch.manual_seed(3)
    enc = Encoder().double().eval()
    torch.save(enc, tmp_path / "enc.pt")
    with pytest.raises(UnsafeFileError, match="--trust"):
        load(tmp_path / "enc.pt")
    x = torch.randn(1, 8, 3, dtype=torch.float64)
    with torch.no_grad():
        y1, _ = enc.first(x)
        expect = enc(x)[0].numpy()
    for name, lstm, lstm_in in (("first", enc.first, x), ("second", enc.second, torch.tanh(y1))):
        model = load(tmp_path / "enc.pt", trust=True, lstm=name)
        assert model.format == "pickled-module" and model.spec.batch_first
        trace = model.trace(x[0].numpy())
        np.testing.assert_allclose(trace.output, expect, atol=1e-10)
        assert trace.meta["output_kind"] == "prob"
        assert trace.meta["lstm_input"] == "captured by a forward hook"
        assert trace.meta["lstm_max_abs_diff"] < 1e-10
        assert_same_trace(trace, trace_lstm(lstm, lstm_in))


def test_pickled_tagger_with_trust(tmp_path, tagger):
    torch.save(tagger, tmp_path / "tagger_module.pt")
    trace = load(tmp_path / "tagger_module.pt", trust=True).trace(TEXT)
    np.testing.assert_allclose(trace.output, _forward(tagger), atol=1e-5)
    assert_same_trace(trace, trace_lstm(tagger.lstm, _embedded(tagger)))


# --- choosing an LSTM, and bad files
def test_unknown_lstm_name_lists_the_choices(tmp_path):
    torch.save(Encoder().state_dict(), tmp_path / "enc_sd.pt")
    with pytest.raises(LoadError, match="no LSTM named 'decoder'; the LSTMs are 'first', 'second'"):
        load(tmp_path / "enc_sd.pt", lstm="decoder")


def test_bad_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not a model\n")
    data = TAGGER.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.pt").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    torch.save({"weights": torch.zeros(3)}, tmp_path / "no_lstm.pt")
    torch.save(torch.zeros(3, 3), tmp_path / "tensor.pt")
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "sd_no_lstm.pt")
    (tmp_path / "empty.pt").write_bytes(b"")
    expect = {
        "missing.pt": "no such file",
        "notes.txt": "not a model file",
        "truncated.pt": "corrupt",
        "garbage.pt": "corrupt",
        "no_lstm.pt": "no LSTM",
        "tensor.pt": "holds a Tensor",
        "sd_no_lstm.pt": "no LSTM",
        "empty.pt": "not a model file",
        ".": "is a directory",
    }
    for name, message in expect.items():
        with pytest.raises(LoadError) as err:
            load(tmp_path / name)
        assert message in str(err.value), (name, str(err.value))
        assert "\n" not in str(err.value)


def test_a_trace_is_not_a_model(tmp_path):
    load(TAGGER).trace("The dog ate").save(tmp_path / "t.npz")
    assert sniff(tmp_path / "t.npz") == "trace"
    with pytest.raises(LoadError, match="recorded trace"):
        load(tmp_path / "t.npz")
    assert Trace.load(tmp_path / "t.npz").meta["model_format"] == "checkpoint"


def test_content_decides_not_the_suffix(tmp_path, tagger):
    torch.jit.save(torch.jit.script(tagger), tmp_path / "model.bin")
    shutil.copy(TAGGER, tmp_path / "checkpoint.weird")
    assert load(tmp_path / "model.bin", trust=True).format == "torchscript"
    assert load(tmp_path / "checkpoint.weird").format == "checkpoint"


def test_text_and_numeric_input_errors():
    model = load(TAGGER)
    with pytest.raises(InputError, match="empty text"):
        model.trace("   ")
    with pytest.raises(InputError, match=r"not in the vocabulary \(9 words, no unknown token\): 'cat', 'sat'"):
        model.trace("The cat sat on the cat")
    with pytest.raises(InputError, match="takes text"):
        model.trace(np.zeros((3, 6)))
    ids_trace = model.trace(np.array([0, 1, 2]))
    assert ids_trace.tokens == ("The", "dog", "ate")


def test_malformed_state_dicts(tmp_path):
    lstm = nn.LSTM(3, 2, num_layers=3).state_dict()
    cases = {
        "flat": ({"weight_ih_l0": torch.zeros(8)}, "expected (4*hidden_size, input_size)"),
        "ints": ({"weight_ih_l0": torch.zeros(8, 3, dtype=torch.int64),
                  "weight_hh_l0": torch.zeros(8, 2, dtype=torch.int64)}, "float32 or float64"),
        "hh": ({"weight_ih_l0": torch.zeros(8, 3), "weight_hh_l0": torch.zeros(8, 5)}, "W_hh has shape (8, 5)"),
        "gap": ({k: v for k, v in lstm.items() if "_l1" not in k}, "a layer's weights are missing"),
        "half_bias": ({k: v for k, v in lstm.items() if k != "bias_hh_l0"}, "'bias_hh_l0'"),
        "empty": ({}, "an empty dict"),
    }  # fmt: skip
    for name, (sd, message) in cases.items():
        torch.save(sd, tmp_path / f"{name}.pt")
        with pytest.raises(LoadError, match=re.escape(message)):
            load(tmp_path / f"{name}.pt")


def test_half_precision_weights_are_traced_in_float32(tmp_path):
    lstm = nn.LSTM(3, 2)
    torch.save({k: v.bfloat16() for k, v in lstm.state_dict().items()}, tmp_path / "bf16.pt")
    model = load(tmp_path / "bf16.pt")
    assert model.spec.dtype == np.float32
    w = lstm.weight_ih_l0.detach().bfloat16().float().numpy()
    np.testing.assert_array_equal(model.spec.weights[0][0].W_ih, w)


def test_onnx_is_dispatched_by_content(tmp_path):
    pytest.importorskip("onnx", reason="the onnx extra is not installed")
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    from onnx_helpers import lstm_arrays, single_lstm_model

    data = single_lstm_model(lstm_arrays(3, 4)).SerializeToString()
    (tmp_path / "m.onnx").write_bytes(data)
    (tmp_path / "exported.model").write_bytes(data)  # no suffix to go by: the protobuf says so
    for name in ("m.onnx", "exported.model"):
        assert sniff(tmp_path / name) == "onnx"
        model = load(tmp_path / name)
        assert model.format == "onnx" and model.spec.hidden_size == 4
    (tmp_path / "broken.onnx").write_bytes(data[: len(data) // 2])
    with pytest.raises(LoadError):
        load(tmp_path / "broken.onnx")


class Projected(nn.Module):
    """A Linear in front of the LSTM: the model's input width is not the LSTM's."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(2, 5)
        self.lstm = nn.LSTM(5, 3)
        self.out = nn.Linear(3, 1)

    def forward(self, x):
        y, _ = self.lstm(torch.relu(self.inp(x)))
        return self.out(y)


def test_hooks_capture_what_the_lstm_really_reads(tmp_path):
    torch.manual_seed(4)
    m = Projected().eval()
    torch.save(m, tmp_path / "proj.pt")
    x = torch.randn(6, 1, 2)
    trace = load(tmp_path / "proj.pt", trust=True).trace(x[:, 0].numpy())
    with torch.no_grad():
        lstm_in = torch.relu(m.inp(x))
        np.testing.assert_allclose(trace.output, m(x)[:, 0].numpy(), atol=1e-6)
    assert_same_trace(trace, trace_lstm(m.lstm, lstm_in))
    # one column is never a softmax (it would say 1.00 at every step): its values decide
    # between one probability and a value
    out = trace.output
    assert trace.meta["output_kind"] == ("sigmoid" if ((out >= 0) & (out <= 1)).all() else "value")
    with pytest.raises(InputError, match="forward failed"):
        load(tmp_path / "proj.pt", trust=True).trace(np.zeros((4, 3)))


class Stacked(nn.Module):
    """Embedding → a 2-layer bidirectional LSTM → a projected LSTM → Linear: a plain chain."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 4)
        self.encoder = nn.LSTM(4, 3, num_layers=2, bidirectional=True)
        self.decoder = nn.LSTM(6, 5, proj_size=2)
        self.classifier = nn.Linear(2, 4)

    def forward(self, ids):
        y, _ = self.encoder(self.emb(ids)[:, None])
        y, _ = self.decoder(y)
        return self.classifier(y[:, 0])


def test_state_dict_of_stacked_modules(tmp_path):
    torch.manual_seed(5)
    m = Stacked().eval()
    torch.save(m.state_dict(), tmp_path / "stacked.pt")
    ids = [6, 0, 3, 3, 1]
    with torch.no_grad():
        expect = m(torch.tensor(ids)).numpy()
        enc_out, _ = m.encoder(m.emb(torch.tensor(ids))[:, None])
    model = load(tmp_path / "stacked.pt")
    assert model.lstm_names == ("encoder", "decoder")
    assert [n for n, _ in model.layers()] == ["emb", "encoder", "decoder", "classifier", "output"]
    trace = model.trace("6 0 3 3 1")
    np.testing.assert_allclose(trace.output, expect, atol=1e-5)
    assert_same_trace(trace, trace_lstm(m.encoder, m.emb(torch.tensor(ids))))
    decoder = load(tmp_path / "stacked.pt", lstm="decoder").trace("6 0 3 3 1")
    ref = trace_lstm(m.decoder, enc_out)
    np.testing.assert_allclose(decoder.h, ref.h, atol=1e-5)
    np.testing.assert_allclose(decoder.output, expect, atol=1e-5)
