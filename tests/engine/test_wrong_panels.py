"""The panels that were silently wrong, and the containers around LSTMs, each fixed or said aloud.

A traced TorchScript model whose output the reconstruction cannot match says
so on the screen (the Source's warnings) and in `record`; torch's
quantize_dynamic LSTM opens with its weights dequantized and a banner saying
so (a quantized state_dict is refused naming the op); state_dicts nested in a
training checkpoint under the usual keys open; tied weights count once.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import InputError, LoadError, load
from lstm_tui.cli import main
from lstm_tui.opening import open_path


class Tagger(nn.Module):
    def __init__(self, vocab=9, emb=6, hidden=6, tags=3):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden)
        self.hidden2tag = nn.Linear(hidden, tags)

    def forward(self, sentence):
        embeds = self.word_embeddings(sentence)
        lstm_out, _ = self.lstm(embeds.view(len(sentence), 1, -1))
        return F.log_softmax(self.hidden2tag(lstm_out.view(len(sentence), -1)), dim=1)


class Scaled(nn.Module):
    """The LSTM's output scaled before the head: TorchScript's reconstruction cannot see it."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):  # (T, 1, 3)
        return self.head(2.0 * self.lstm(x)[0])


def _quantized_tagger():
    torch.manual_seed(0)
    m = Tagger().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return m, torch.ao.quantization.quantize_dynamic(m, {nn.LSTM, nn.Linear}, dtype=torch.qint8)


IDS = np.array([4, 0, 8, 3, 1, 1, 7])


def test_an_unmatched_torchscript_output_is_said_on_screen_and_by_record(tmp_path, capsys):
    torch.manual_seed(1)
    m = Scaled().eval()
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    torch.jit.save(torch.jit.trace(m, torch.from_numpy(x)[:, None]), tmp_path / "scaled.pt")
    np.save(tmp_path / "x.npy", x)
    src = open_path(str(tmp_path / "scaled.pt"), input_path=str(tmp_path / "x.npy"), trust=True)
    assert any("does NOT give the model's output" in w for w in src.warnings)
    with torch.no_grad():  # the panel is the model's own output, whatever the trace says
        np.testing.assert_allclose(src.trace.output, m(torch.from_numpy(x)[:, None])[:, 0].numpy(), atol=1e-6)
    assert main(["record", str(tmp_path / "scaled.pt"), "--trust", "--input", str(tmp_path / "x.npy"),
                 "-o", str(tmp_path / "t.npz")]) == 0  # fmt: skip
    said = capsys.readouterr()
    assert "warning: TorchScript runs no hooks" in said.out and "does NOT give the model's output" in said.out
    assert said.err == ""


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_quantize_dynamic_lstm_opens_dequantized_with_a_banner(tmp_path):
    m, q = _quantized_tagger()
    torch.save(q, tmp_path / "q.pt")
    model = load(tmp_path / "q.pt", trust=True)
    assert any("dequantized weights" in w for w in model.warnings)
    assert any("quantized (dynamic, int8)" in what for _, what in model.layers())
    trace = model.trace(IDS)
    # the engine's numbers are those of a float LSTM with the dequantized weights, to 1e-5
    lstm = q.lstm
    ref = nn.LSTM(6, 6)
    weights, biases = lstm.get_weight(), lstm.get_bias()
    with torch.no_grad():
        for k, v in {**weights, **biases}.items():
            getattr(ref, k).copy_(v.dequantize() if v.is_quantized else v)
        emb = q.word_embeddings(torch.from_numpy(IDS))[:, None]
        out, _ = ref(emb)
        own = q(torch.from_numpy(IDS)).numpy()
    np.testing.assert_allclose(trace.h[0, 0], out[:, 0].numpy(), atol=1e-5, rtol=0)
    h = c = torch.zeros(1, 1, 6)
    with torch.no_grad():  # c at every step: the float LSTM stepped one timestep at a time
        for t in range(len(IDS)):
            _, (h, c) = ref(emb[t:t + 1], (h, c))
            np.testing.assert_allclose(trace.c[0, 0, t], c[0, 0].numpy(), atol=1e-5, rtol=0)
    # the output panel is the quantized model's own output
    np.testing.assert_allclose(trace.output, own, atol=1e-6, rtol=0)
    # and the model's own LSTM (int8 arithmetic) is close to, not equal to, the dequantized one
    assert 0 < trace.meta["lstm_max_abs_diff"] < 0.05
    assert any("dequantized weights" in w for w in trace.meta["warnings"])


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")
def test_a_quantized_state_dict_is_refused_naming_the_op(tmp_path, capsys):
    _, q = _quantized_tagger()
    torch.save(q.state_dict(), tmp_path / "qsd.pt")
    with pytest.raises(LoadError, match=r"quantize_dynamic model \(quantized::lstm packed weights"):
        load(tmp_path / "qsd.pt", trust=True)
    assert main(["info", str(tmp_path / "qsd.pt"), "--trust"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "torch.save(model)" in err


@pytest.mark.parametrize("key", ["model", "state_dict", "model_state", "net"])
def test_state_dicts_nested_under_the_usual_keys(tmp_path, key):
    torch.manual_seed(2)
    m = Tagger().double().eval()
    ckpt = {"epoch": 7, "optimizer": {"lr": 0.1}, key: m.state_dict()}
    if key != "model":  # an EMA copy beside it: the conventional name wins
        ckpt["ema"] = {k: v.clone() for k, v in m.state_dict().items()}
    torch.save(ckpt, tmp_path / "ckpt.pt")
    model = load(tmp_path / "ckpt.pt")
    trace = model.trace(" ".join(map(str, IDS)))
    with torch.no_grad():
        ref = m.lstm(m.word_embeddings(torch.from_numpy(IDS))[:, None])
        # a state_dict does not say what follows its head: the panel shows the head's logits
        np.testing.assert_allclose(trace.output, m.hidden2tag(ref[0][:, 0]).numpy(), atol=1e-10)
    np.testing.assert_allclose(trace.h[0, 0], ref[0][:, 0].numpy(), atol=1e-10, rtol=0)
    np.testing.assert_allclose(trace.c[0, 0, -1], ref[1][1][0, 0].numpy(), atol=1e-10, rtol=0)


def test_tied_weights_count_once_in_a_state_dict(tmp_path):
    class TiedLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = nn.Embedding(20, 8)
            self.rnn = nn.LSTM(8, 8)
            self.decoder = nn.Linear(8, 20)
            self.decoder.weight = self.encoder.weight

    m = TiedLM()
    torch.save(m.state_dict(), tmp_path / "tied.pt")
    assert load(tmp_path / "tied.pt").parameter_count == sum(p.numel() for p in m.parameters())


class Wide(nn.Module):
    """Reads 7 features per step: fed 3, every layout fails."""

    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(7, 4)
        self.lstm = nn.LSTM(4, 3)

    def forward(self, x, mask=None):
        return self.lstm(self.inp(x))[0]


def test_a_forward_that_fails_on_every_layout_says_what_to_give(tmp_path):
    torch.save(Wide(), tmp_path / "wide.pt")
    model = load(tmp_path / "wide.pt", trust=True)
    with pytest.raises(InputError) as e:
        model.trace(np.zeros((5, 3), np.float32))
    msg = str(e.value)
    assert "forward failed on this input (RuntimeError" in msg and "\n" not in msg
    assert "give one sequence as [T, features] (it was (5, 3)), and its other arguments (mask) by name" in msg


class CallsItsBiLSTMTwice(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(3, 4, bidirectional=True)

    def forward(self, x):
        return self.rnn(self.rnn(x)[0][..., :3])[0]


class OnlyAGRU(nn.Module):
    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(3, 4)

    def forward(self, x):
        return self.rnn(x)[0]


def test_refusals_name_what_was_found_and_what_to_do(tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    for model, message in (
        (CallsItsBiLSTMTwice(), "the bidirectional LSTM 'rnn' was called 2 times in one forward"),
        (OnlyAGRU(), "no nn.LSTM or nn.LSTMCell inside this pickled-module model (it has GRU 'rnn'"),
    ):
        torch.save(model, tmp_path / "m.pt")
        assert main(["record", str(tmp_path / "m.pt"), "--trust", "--input", str(tmp_path / "x.npy"),
                     "-o", str(tmp_path / "t.npz")]) == 2  # fmt: skip
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
