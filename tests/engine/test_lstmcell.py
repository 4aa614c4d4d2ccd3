"""nn.LSTMCell in the forms real code has it, traced as the one-layer LSTM it is.

A char-RNN stepping an LSTMCell in a Python loop, a seq2seq model (a
bidirectional nn.LSTM encoder and an LSTMCell attention decoder), a streaming
model called once per step with its state passed back in, and a bare
state_dict holding a cell. Every step's h and c is compared with the cell's own
output in torch, and the output panel with the model's own output.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from lstm_engine import InputError, load, trace_lstm, trace_module


class CharRNN(nn.Module):
    """A character LM as tutorials write it: the cell stepped over the (T, B) ids in a loop."""

    def __init__(self, vocab=11, emb=5, hidden=7, reset_every=0):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.cell = nn.LSTMCell(emb, hidden)
        self.out = nn.Linear(hidden, vocab)
        self.hidden = hidden
        self.reset_every = reset_every

    def forward(self, inp):  # inp (T, B)
        T, B = inp.shape
        h = torch.zeros(B, self.hidden, dtype=self.out.weight.dtype)
        c = torch.zeros_like(h)
        outs = []
        for t in range(T):
            if self.reset_every and t and t % self.reset_every == 0:
                h, c = torch.zeros_like(h), torch.zeros_like(c)  # a new "sentence"
            h, c = self.cell(self.embed(inp[t]), (h, c))
            outs.append(F.log_softmax(self.out(h), dim=-1))
        return torch.stack(outs)  # (T, B, V)


class Seq2Seq(nn.Module):
    """A bidirectional LSTM encoder, a bridge to the decoder's state, an attention LSTMCell decoder."""

    def __init__(self, src_vocab=9, tgt_vocab=8, emb=4, hidden=6):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, emb)
        self.tgt_embed = nn.Embedding(tgt_vocab, emb)
        self.encoder = nn.LSTM(emb, hidden, bidirectional=True, batch_first=True)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.attn = nn.Linear(hidden, 2 * hidden, bias=False)
        self.decoder = nn.LSTMCell(emb + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden, tgt_vocab)

    def forward(self, src, tgt):  # (1, S), (1, T)
        enc, (h_n, c_n) = self.encoder(self.src_embed(src))  # (1, S, 2H)
        h = torch.tanh(self.bridge(torch.cat([h_n[0], h_n[1]], dim=-1)))  # (1, H)
        c = torch.zeros_like(h)
        context = enc.mean(dim=1)
        logits = []
        for t in range(tgt.shape[1]):
            x = torch.cat([self.tgt_embed(tgt[:, t]), context], dim=-1)
            h, c = self.decoder(x, (h, c))
            scores = torch.bmm(enc, self.attn(h)[:, :, None])[:, :, 0]  # (1, S)
            context = torch.bmm(torch.softmax(scores, -1)[:, None], enc)[:, 0]
            logits.append(self.out(torch.cat([h, context], dim=-1)))
        return torch.stack(logits, dim=1)  # (1, T, V)


class Streamer(nn.Module):
    """A streaming model: one frame per call, the state handed back to the caller."""

    def __init__(self, n_in=3, hidden=4, state_default=False):
        super().__init__()
        self.cell = nn.LSTMCell(n_in, hidden)
        self.head = nn.Linear(hidden, 1)
        self.state_default = state_default

    def forward(self, x, state):  # x (B, n_in), state (h, c) of (B, hidden)
        h, c = self.cell(x, state)
        return torch.sigmoid(self.head(h)), (h, c)


def _cell_steps(cell, xs, h=None, c=None, reset_every=0):
    """Every step's (h, c) of an LSTMCell over xs (T, in), as torch computes them."""
    H = cell.hidden_size
    h = torch.zeros(1, H, dtype=xs.dtype) if h is None else h
    c = torch.zeros(1, H, dtype=xs.dtype) if c is None else c
    hs, cs = [], []
    with torch.no_grad():
        for t in range(xs.shape[0]):
            if reset_every and t and t % reset_every == 0:
                h, c = torch.zeros_like(h), torch.zeros_like(c)
            h, c = cell(xs[t:t + 1], (h, c))
            hs.append(h[0].numpy())
            cs.append(c[0].numpy())
    return np.stack(hs), np.stack(cs)


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_char_rnn_stepping_an_lstmcell_in_a_loop(tmp_path, dtype):
    torch.manual_seed(0)
    m = CharRNN().to(dtype).eval()
    torch.save(m, tmp_path / "charrnn.pt")
    ids = np.array([3, 1, 4, 1, 5, 9, 2, 6, 5, 3])
    model = load(tmp_path / "charrnn.pt", trust=True)
    assert model.lstm_names == ("cell",) and model.spec.num_layers == 1
    assert any("LSTMCell(5, 7)" in what for _, what in model.layers())
    trace = model.trace(ids)
    with torch.no_grad():
        x = m.embed(torch.from_numpy(ids))
        expect = m(torch.from_numpy(ids)[:, None])[:, 0].numpy()
    h, c = _cell_steps(m.cell, x)
    assert trace.T == len(ids)
    np.testing.assert_allclose(trace.h[0, 0], h, atol=_tol(dtype), rtol=0)
    np.testing.assert_allclose(trace.c[0, 0], c, atol=_tol(dtype), rtol=0)
    np.testing.assert_allclose(trace.output, expect, atol=_tol(dtype), rtol=0)
    assert trace.meta["lstm_input"] == "captured by a forward hook (10 calls)"
    assert "state_breaks" not in trace.meta and not trace.meta.get("warnings")
    assert model.head is not None and model.head.output == "log_softmax"
    # what follows the cell runs again from an (edited) h, as the what-if engine needs
    np.testing.assert_allclose(model.downstream("cell", trace.h[0, 0]), expect, atol=_tol(dtype), rtol=0)


def test_a_state_reset_between_calls_is_recorded_and_warned(tmp_path):
    torch.manual_seed(1)
    m = CharRNN(reset_every=4).double().eval()
    torch.save(m, tmp_path / "resetting.pt")
    ids = np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    trace = load(tmp_path / "resetting.pt", trust=True).trace(ids)
    # the model reset its state before its 5th and 9th steps (positions 4 and 8)
    assert trace.meta["state_breaks"] == [5, 9]
    assert len(trace.meta["warnings"]) == 2
    assert "at step 5" in trace.meta["warnings"][0] and "reset to zeros" in trace.meta["warnings"][0]
    # up to the reset the trace is the model's; after it, it is not (and says so)
    with torch.no_grad():
        x = m.embed(torch.from_numpy(ids))
    h, _ = _cell_steps(m.cell, x, reset_every=4)
    np.testing.assert_allclose(trace.h[0, 0, :4], h[:4], atol=1e-10, rtol=0)
    assert np.abs(trace.h[0, 0, 4:] - h[4:]).max() > 1e-3
    assert trace.meta["lstm_max_abs_diff"] > 1e-3


def test_seq2seq_offers_the_encoder_and_the_decoder_cell(tmp_path):
    torch.manual_seed(2)
    m = Seq2Seq().eval()
    torch.save(m, tmp_path / "s2s.pt")
    src, tgt = np.array([1, 4, 2, 8, 3]), np.array([2, 5, 1, 7])
    enc_model = load(tmp_path / "s2s.pt", trust=True)
    assert enc_model.lstm_names == ("encoder", "decoder")
    assert enc_model.input_names == ("src", "tgt") and enc_model.sequence_input == "src"
    info = enc_model.info()
    assert info["lstms"] == ["encoder", "decoder"]
    with torch.no_grad():
        S, Tt = torch.from_numpy(src)[None], torch.from_numpy(tgt)[None]
        expect = m(S, Tt)[0].numpy()
        enc_x = m.src_embed(S)
        # what the decoder cell read at each step, captured independently by a hook of our own
        seen = []
        hook = m.decoder.register_forward_hook(lambda mod, a, out: seen.append((a[0], a[1], out)))
        m(S, Tt)
        hook.remove()
    # the encoder: a bidirectional LSTM over the source
    enc = enc_model.trace({"src": src, "tgt": tgt})
    with torch.no_grad():
        ref, _ = m.encoder(enc_x)
    np.testing.assert_allclose(np.concatenate([enc.h[0, 0], enc.h[0, 1]], -1), ref[0].numpy(), atol=1e-5, rtol=0)
    assert enc.output is None  # 4 target steps for 5 source steps: no output row per step
    assert any("4 steps but the LSTM 'encoder' read 5" in w for w in enc.meta["warnings"])
    # the decoder: the cell over the target, from the bridge's state
    dec = load(tmp_path / "s2s.pt", trust=True, lstm="decoder").trace({"src": src, "tgt": tgt})
    assert dec.T == len(tgt)
    np.testing.assert_allclose(dec.x, np.concatenate([xt.numpy() for xt, _, _ in seen]), atol=0)
    np.testing.assert_allclose(dec.h[0, 0], np.concatenate([o[0].numpy() for _, _, o in seen]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(dec.c[0, 0], np.concatenate([o[1].numpy() for _, _, o in seen]), atol=1e-5, rtol=0)
    np.testing.assert_allclose(dec.output, expect, atol=1e-6, rtol=0)
    assert "state_breaks" not in dec.meta


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_streaming_model_called_once_per_step_with_its_state(tmp_path, dtype):
    torch.manual_seed(3)
    m = Streamer().to(dtype).eval()
    torch.save(m, tmp_path / "stream.pt")
    x = np.random.default_rng(0).normal(size=(9, 3))
    model = load(tmp_path / "stream.pt", trust=True)
    trace = model.trace(x)
    xs = torch.from_numpy(x).to(dtype)
    h, c = _cell_steps(m.cell, xs)
    np.testing.assert_allclose(trace.h[0, 0], h, atol=_tol(dtype), rtol=0)
    np.testing.assert_allclose(trace.c[0, 0], c, atol=_tol(dtype), rtol=0)
    # the output panel is the model's own output, one call per step
    state, expect = None, []
    with torch.no_grad():
        for t in range(9):
            y, state = m(xs[t:t + 1], state if state is not None else
                         (torch.zeros(1, 4, dtype=dtype), torch.zeros(1, 4, dtype=dtype)))
            expect.append(y[0].numpy())
    np.testing.assert_allclose(trace.output, np.stack(expect), atol=_tol(dtype), rtol=0)
    # its head is a Linear and a sigmoid, found on the run and re-run from h
    assert model.head is not None and model.head.output == "sigmoid"
    np.testing.assert_allclose(model.downstream("cell", trace.h[0, 0]), np.stack(expect), atol=_tol(dtype), rtol=0)
    warnings = " ".join(trace.meta["warnings"])
    assert "streaming model" in warnings and "9 calls" in warnings
    assert "'state' was not given: it starts at zeros" in warnings


def test_debug_of_a_live_streaming_step_and_a_changed_state():
    torch.manual_seed(4)
    m = Streamer().eval()
    x = torch.randn(1, 3)
    h0 = (torch.randn(1, 4), torch.randn(1, 4))
    tr = trace_module(m, (x, h0))
    with torch.no_grad():
        h, c = m.cell(x, h0)
    np.testing.assert_allclose(tr.h[0, 0, 0], h[0].numpy(), atol=1e-6, rtol=0)
    np.testing.assert_allclose(tr.c[0, 0, 0], c[0].numpy(), atol=1e-6, rtol=0)
    assert m.training is False


def test_lstmcell_state_dict_is_a_one_layer_lstm(tmp_path):
    torch.manual_seed(5)
    cell = nn.LSTMCell(3, 5).double()
    torch.save(cell.state_dict(), tmp_path / "cell.pt")
    model = load(tmp_path / "cell.pt")
    assert model.spec.num_layers == 1 and model.spec.hidden_size == 5 and model.lstm_names == ("",)
    x = np.random.default_rng(1).normal(size=(6, 3))
    trace = model.trace(x)
    h, c = _cell_steps(cell, torch.from_numpy(x))
    np.testing.assert_allclose(trace.h[0, 0], h, atol=1e-10, rtol=0)
    np.testing.assert_allclose(trace.c[0, 0], c, atol=1e-10, rtol=0)


def test_seq2seq_state_dict_lists_the_decoder_and_takes_no_bridge_as_head(tmp_path):
    torch.manual_seed(6)
    m = Seq2Seq()
    torch.save({"epoch": 3, "model_state": m.state_dict()}, tmp_path / "s2s_sd.pt")
    model = load(tmp_path / "s2s_sd.pt")
    assert model.lstm_names == ("encoder", "decoder")
    assert model.head is None  # the bridge reads the encoder's width but is not the output head
    assert model.info()["output_kind"] is None
    layer_names = [n for n, _ in model.layers()]
    assert "bridge" not in layer_names
    assert any("decoder" in w or "LSTMCell" in w for w in model.warnings)
    dec = load(tmp_path / "s2s_sd.pt", lstm="decoder")
    assert dec.spec.input_size == 4 + 12 and dec.spec.hidden_size == 6
    x = np.random.default_rng(2).normal(size=(3, 16)).astype(np.float32)
    h, c = _cell_steps(m.decoder, torch.from_numpy(x))
    trace = dec.trace(x)
    np.testing.assert_allclose(trace.h[0, 0], h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(trace.c[0, 0], c, atol=1e-5, rtol=0)


def test_a_packed_batch_reaching_a_cell_model_is_refused_in_one_line():
    torch.manual_seed(7)
    m = CharRNN().eval()
    with pytest.raises(InputError, match="batch of 3"):
        trace_module(m, (torch.tensor([[1, 2, 3], [4, 5, 6]]),))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_trace_lstm_steps_a_bare_cell_over_a_sequence(dtype):
    torch.manual_seed(8)
    cell = nn.LSTMCell(3, 4).to(dtype)
    x = torch.randn(7, 3, dtype=dtype)
    h0, c0 = torch.randn(1, 4, dtype=dtype), torch.randn(1, 4, dtype=dtype)
    tr = trace_lstm(cell, x, h0, c0)
    h, c = _cell_steps(cell, x, h0, c0)
    np.testing.assert_allclose(tr.h[0, 0], h, atol=_tol(dtype), rtol=0)
    np.testing.assert_allclose(tr.c[0, 0], c, atol=_tol(dtype), rtol=0)
    assert "LSTMCell" in tr.meta.get("source", "") or "LSTMCell" in str(tr.source)
    # one call of the cell on a batch of steps is not one sequence: said, with what to do
    with pytest.raises(InputError, match="takes one step per call"):
        trace_module(cell, (x,))


@pytest.mark.parametrize("how", ["script", "trace"])
def test_char_rnn_as_torchscript(tmp_path, how):
    """TorchScript runs no hooks: the cell's input is rebuilt from the embedding and checked."""
    torch.manual_seed(9)
    m = CharRNN().eval()
    ids = np.array([3, 1, 4, 1, 5])
    t_ids = torch.from_numpy(ids)[:, None]
    ts = torch.jit.script(m) if how == "script" else torch.jit.trace(m, t_ids)
    torch.jit.save(ts, tmp_path / "charrnn_ts.pt")
    trace = load(tmp_path / "charrnn_ts.pt", trust=True).trace(ids)
    with torch.no_grad():
        h, c = _cell_steps(m.cell, m.embed(torch.from_numpy(ids)))
        expect = m(t_ids)[:, 0].numpy()
    np.testing.assert_allclose(trace.h[0, 0], h, atol=1e-5, rtol=0)
    np.testing.assert_allclose(trace.c[0, 0], c, atol=1e-5, rtol=0)
    np.testing.assert_allclose(trace.output, expect, atol=1e-6, rtol=0)
    assert trace.meta["lstm_input"].startswith("reconstructed and checked")
