"""forward with more than one argument: (input, hidden), (x, lengths), (src, tgt).

PyTorch's word_language_model example is built here as its model.py builds it
and saved whole with torch.save(model) as its main.py does; it opens as a
trusted pickle, scripted and traced TorchScript, and live (trace_module, as
debug() runs it). A hidden state the user does not give starts at zeros, and
the trace says so.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lstm_engine import InputError, load, trace_module


class RNNModel(nn.Module):
    """examples/word_language_model/model.py: encoder → RNN → decoder, weights optionally tied."""

    def __init__(self, rnn_type, ntoken, ninp, nhid, nlayers, dropout=0.5, tie_weights=False):
        super().__init__()
        self.ntoken = ntoken
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = getattr(nn, rnn_type)(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        if tie_weights:
            if nhid != ninp:
                raise ValueError("When using the tied flag, nhid must be equal to emsize")
            self.decoder.weight = self.encoder.weight
        self.init_weights()
        self.rnn_type = rnn_type
        self.nhid = nhid
        self.nlayers = nlayers

    def init_weights(self):
        initrange = 0.1
        nn.init.uniform_(self.encoder.weight, -initrange, initrange)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -initrange, initrange)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        return (weight.new_zeros(self.nlayers, bsz, self.nhid),
                weight.new_zeros(self.nlayers, bsz, self.nhid))


class ScriptableRNNModel(RNNModel):
    """The same model with the annotation torch.jit.script needs for a tuple state."""

    def forward(self, input, hidden: Tuple[torch.Tensor, torch.Tensor]):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output)
        decoded = decoded.view(-1, self.ntoken)
        return F.log_softmax(decoded, dim=1), hidden


class Lengths(nn.Module):
    """forward(x, lengths): a padded batch packed before the LSTM, as classifiers do it."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 5, batch_first=True)
        self.head = nn.Linear(5, 2)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        return self.head(out)


class PacksItsInput(nn.Module):
    """forward(x) that packs by itself, from the non-zero rows (the failure the issue saw)."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(3, 4, batch_first=True)

    def forward(self, x):
        lengths = (x.abs().sum(-1) > 0).sum(-1).cpu()
        out, _ = self.lstm(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return pad_packed_sequence(out, batch_first=True)[0]


IDS = np.array([5, 2, 9, 9, 1, 0, 3])


def _wlm(tie=True, dtype=torch.float32):
    torch.manual_seed(0)
    return RNNModel("LSTM", 12, 6, 6, 2, dropout=0.2, tie_weights=tie).to(dtype).eval()


def _expected(m, ids=IDS, hidden=None):
    """(log-probs (T, V), the LSTM's input (T, 1, E)) as the example's evaluate() computes them."""
    with torch.no_grad():
        inp = torch.from_numpy(ids)[:, None]  # (T, batch 1), time-major as batchify makes it
        hidden = m.init_hidden(1) if hidden is None else hidden
        out, _ = m(inp, hidden)
        return out.numpy(), m.encoder(inp), hidden


def _torch_steps(lstm, emb, hidden):
    """Every layer's h and c at every step, (L, T, H) each, from torch's nn.LSTM stepped one
    timestep at a time with its state carried: torch's own numbers, not the engine's."""
    h, c = hidden
    hs, cs = [], []
    with torch.no_grad():
        for t in range(emb.shape[0]):
            _, (h, c) = lstm(emb[t:t + 1], (h, c))
            hs.append(h[:, 0].numpy())
            cs.append(c[:, 0].numpy())
    return np.stack(hs, axis=1), np.stack(cs, axis=1)


def _assert_trace(trace, m, emb, hidden, tol):
    h, c = _torch_steps(m.rnn, emb, hidden)
    np.testing.assert_allclose(trace.h[:, 0], h, atol=tol, rtol=0)
    np.testing.assert_allclose(trace.c[:, 0], c, atol=tol, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_word_language_model_saved_whole(tmp_path, dtype):
    m = _wlm(dtype=dtype)
    torch.save(m, tmp_path / "model.pt")  # main.py: torch.save(model, f)
    model = load(tmp_path / "model.pt", trust=True)
    assert model.input_names == ("input", "hidden") and model.sequence_input == "input"
    trace = model.trace(IDS)
    expect, emb, hidden = _expected(m)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    _assert_trace(trace, m, emb, hidden, tol)
    np.testing.assert_allclose(trace.output, expect, atol=tol, rtol=0)
    assert any("'hidden' was not given: it starts at zeros" in w for w in trace.meta["warnings"])
    # the decoder shares the encoder's weight: counted once
    unique = sum(p.numel() for p in m.parameters())
    assert model.parameter_count == unique < sum(v.numel() for v in m.state_dict().values())


def test_a_given_hidden_state_is_used(tmp_path):
    m = _wlm()
    torch.save(m, tmp_path / "model.pt")
    model = load(tmp_path / "model.pt", trust=True)
    rng = np.random.default_rng(1)
    hc = rng.normal(size=(2, 2, 1, 6)).astype(np.float32)  # h and c stacked: (2, layers, batch, H)
    trace = model.trace({"input": IDS, "hidden": hc})
    hidden = (torch.from_numpy(hc[0]), torch.from_numpy(hc[1]))
    expect, emb, _ = _expected(m, hidden=hidden)
    _assert_trace(trace, m, emb, hidden, 1e-5)
    np.testing.assert_allclose(trace.output, expect, atol=1e-5, rtol=0)
    assert not any("'hidden'" in w for w in trace.meta.get("warnings", ()))
    with pytest.raises(InputError, match="no input named 'hiden'"):
        model.trace({"input": IDS, "hiden": hc})


@pytest.mark.parametrize("how", ["script", "trace"])
def test_word_language_model_as_torchscript(tmp_path, how):
    torch.manual_seed(0)
    m = ScriptableRNNModel("LSTM", 12, 6, 6, 2, dropout=0.2).eval()
    hidden = m.init_hidden(1)
    inp = torch.from_numpy(IDS)[:, None]
    ts = torch.jit.script(m) if how == "script" else torch.jit.trace(m, (inp, hidden))
    torch.jit.save(ts, tmp_path / "ts.pt")
    model = load(tmp_path / "ts.pt", trust=True)
    assert model.input_names == ("input", "hidden")
    trace = model.trace(IDS)
    expect, emb, hidden = _expected(m)
    _assert_trace(trace, m, emb, hidden, 1e-5)
    np.testing.assert_allclose(trace.output, expect, atol=1e-5, rtol=0)
    assert trace.meta["lstm_input"].startswith("reconstructed and checked")
    assert any("'hidden' was not given: it starts at zeros" in w for w in trace.meta["warnings"])


def test_traced_time_major_lstm_is_fed_as_one_sequence(tmp_path):
    """A traced (T, 1) model fed (1, T) runs T one-step sequences; it must get (T, 1)."""

    class TimeMajor(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(10, 4)
            self.lstm = nn.LSTM(4, 5)
            self.head = nn.Linear(5, 3)

        def forward(self, x):  # x (T, B)
            out, _ = self.lstm(self.emb(x))
            return torch.log_softmax(self.head(out), dim=-1)

    torch.manual_seed(3)
    m = TimeMajor().eval()
    ts = torch.jit.trace(m, torch.tensor([[1], [2], [3]]))
    torch.jit.save(ts, tmp_path / "tm.pt")
    trace = load(tmp_path / "tm.pt", trust=True).trace(IDS)
    with torch.no_grad():
        expect = m(torch.from_numpy(IDS)[:, None])[:, 0].numpy()
        ref = m.lstm(m.emb(torch.from_numpy(IDS)[:, None]))[0][:, 0].numpy()
    np.testing.assert_allclose(trace.output, expect, atol=1e-5, rtol=0)
    np.testing.assert_allclose(trace.h[0, 0], ref, atol=1e-5, rtol=0)
    assert trace.meta["lstm_input"].startswith("reconstructed and checked")
    assert not trace.meta.get("warnings")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_forward_x_lengths_with_packing(tmp_path, dtype):
    torch.manual_seed(4)
    m = Lengths().to(dtype).eval()
    torch.save(m, tmp_path / "len.pt")
    x = np.random.default_rng(2).normal(size=(6, 3))
    model = load(tmp_path / "len.pt", trust=True)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for given in ({}, {"lengths": np.array([6])}):
        trace = model.trace({"x": x, **given})
        xt = torch.from_numpy(x).to(dtype)
        with torch.no_grad():
            expect = m(xt[None], torch.tensor([6]))[0].numpy()
        zeros = torch.zeros(1, 1, 5, dtype=dtype)
        h, c = _torch_steps(m.lstm, xt[:, None], (zeros, zeros))  # one step at a time: (1, 1, 3)
        np.testing.assert_allclose(trace.h[:, 0], h, atol=tol, rtol=0)
        np.testing.assert_allclose(trace.c[:, 0], c, atol=tol, rtol=0)
        np.testing.assert_allclose(trace.output, expect, atol=tol, rtol=0)
        noted = any("'lengths' was not given" in w for w in trace.meta.get("warnings", ()))
        assert noted == (not given)


def test_a_model_that_packs_its_own_input(tmp_path):
    torch.manual_seed(5)
    m = PacksItsInput().eval()
    torch.save(m, tmp_path / "packs.pt")
    x = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32)
    trace = load(tmp_path / "packs.pt", trust=True).trace(x)
    with torch.no_grad():
        ref = m.lstm(torch.from_numpy(x)[None])[0][0].numpy()
    np.testing.assert_allclose(trace.h[0, 0], ref, atol=1e-5, rtol=0)
    np.testing.assert_allclose(trace.output, ref, atol=1e-6, rtol=0)
    # a packed batch of several sequences: one line that says what to do
    with pytest.raises(InputError, match="a packed sequence of 2 sequences reached the LSTM; pass one "
                                         "unpadded sequence"):
        trace_module(m, (torch.randn(2, 5, 3),))


def test_trace_module_passes_every_argument_as_the_model_is_called():
    m = _wlm()
    hidden = (torch.randn(2, 1, 6), torch.randn(2, 1, 6))
    inp = torch.from_numpy(IDS)[:, None]
    tr = trace_module(m, (inp,), {"hidden": hidden})
    expect, emb, _ = _expected(m, hidden=hidden)
    _assert_trace(tr, m, emb, hidden, 1e-5)
    np.testing.assert_allclose(tr.output, expect, atol=1e-6, rtol=0)


def test_debug_splits_its_options_from_the_forward_arguments(monkeypatch):
    from lstm_tui import app as app_module

    seen = {}

    def fake_run(self):  # debug() opens the model before the app: the app gets its Source
        seen["source"] = self._source  # (a model that fails to open raises from debug())

    monkeypatch.setattr(app_module.LstmTuiApp, "run", fake_run)
    m = _wlm()
    hidden = m.init_hidden(1)
    inp = torch.from_numpy(IDS)[:, None]
    assert app_module.debug(m, inp, hidden, name="wlm", labels=[str(k) for k in range(12)]) == 0
    src = seen["source"]
    assert src.name == "wlm" and src.trace.labels[3] == "3"
    expect, _, _ = _expected(m)
    np.testing.assert_allclose(src.trace.output, expect, atol=1e-6, rtol=0)
    app_module.debug(m, inp, hidden=hidden)  # the forward's own keyword
    np.testing.assert_allclose(seen["source"].trace.output, expect, atol=1e-6, rtol=0)
