"""Gradient saliency and output attribution, against torch autograd (micrograd's pattern).

The engine's backward pass (core/backward.py) runs over the recorded gates; torch autograd runs
over torch.nn.LSTM (the plain cells) or over the cell's equations written here in torch ops
(peepholes, clip, input_forget, which torch.nn.LSTM lacks). Float64, 1e-8.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from lstm_engine import (
    EngineError, LSTMSpec, PipelineModel, backward, linear_head, load, open_and_trace,
    output_attribution, record, saliency, torch_backward, trace_lstm,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
TOL = 1e-8


def _seed(trace, k=0):
    return np.random.default_rng(k).normal(size=(trace.num_directions, trace.T, trace.out_size))


@pytest.mark.parametrize("layers,bi,proj", [(1, False, 0), (2, True, 0), (2, True, 3), (3, False, 2)])
def test_engine_backward_matches_autograd_through_torch_lstm(layers, bi, proj):
    torch.manual_seed(layers * 10 + proj)
    m = torch.nn.LSTM(4, 5, num_layers=layers, bidirectional=bi, proj_size=proj).double()
    x = torch.randn(9, 1, 4, dtype=torch.float64) * 2
    D, P = 2 if bi else 1, proj or 5
    h0 = torch.randn(layers * D, 1, P, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(layers * D, 1, 5, dtype=torch.float64, requires_grad=True)
    trace = trace_lstm(m, x, h0.detach(), c0.detach())
    seed = _seed(trace, layers)
    xg = x.clone().requires_grad_(True)
    out, _ = m(xg, (h0, c0))  # (T, 1, D*P)
    (out[:, 0].reshape(9, D, P).permute(1, 0, 2) * torch.from_numpy(seed)).sum().backward()
    g = backward(trace, seed)
    np.testing.assert_allclose(g.x, xg.grad[:, 0].numpy(), atol=TOL, rtol=0)
    np.testing.assert_allclose(g.c0, c0.grad[:, 0].numpy().reshape(layers, D, 5), atol=TOL, rtol=0)
    np.testing.assert_allclose(g.h0, h0.grad[:, 0].numpy().reshape(layers, D, P), atol=TOL, rtol=0)
    t = torch_backward(trace, seed)  # every c_s and h_s, stepping torch.nn.LSTM
    for name in ("x", "c", "h", "c0", "h0"):
        np.testing.assert_allclose(getattr(g, name), getattr(t, name), atol=TOL, rtol=0)
    assert np.abs(g.c).max() > 1e-3  # the cell states' gradients are not all zero


def _torch_reference(spec: LSTMSpec, x: np.ndarray, seed: np.ndarray):
    """The cell of core/cell.py in torch ops, one layer and direction at a time; returns the
    gradients of Σ seed · h_top w.r.t. x and each c_t as carried to the next step."""
    T = x.shape[0]
    L, D, H, P = spec.num_layers, spec.num_directions, spec.hidden_size, spec.out_size
    tt = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    xt = tt(x).requires_grad_(True)
    carries = []
    inp = xt
    for layer in range(L):
        outs = []
        for d in range(D):
            w = spec.weights[layer][d]
            W_ih, W_hh = tt(w.W_ih), tt(w.W_hh)
            b = tt(w.b_ih) + tt(w.b_hh)
            h, c = torch.zeros(P, dtype=torch.float64), torch.zeros(H, dtype=torch.float64)
            hs, cs = [None] * T, [None] * T
            order = range(T - 1, -1, -1) if spec.reads_reversed(d) else range(T)
            for t in order:
                z = W_ih @ inp[t] + W_hh @ h + b
                zi, zf, zg, zo = z[:H], z[H : 2 * H], z[2 * H : 3 * H], z[3 * H :]
                if w.p_i is not None:
                    zi, zf = zi + tt(w.p_i) * c, zf + tt(w.p_f) * c
                if spec.clip is not None:
                    zi, zf, zg = (torch.clamp(v, -spec.clip, spec.clip) for v in (zi, zf, zg))
                i, g = torch.sigmoid(zi), torch.tanh(zg)
                f = 1 - i if spec.input_forget else torch.sigmoid(zf)
                c_new = f * c + i * g
                if w.p_o is not None:
                    zo = zo + tt(w.p_o) * c_new
                if spec.clip is not None:
                    zo = torch.clamp(zo, -spec.clip, spec.clip)
                h = torch.sigmoid(zo) * torch.tanh(c_new)
                if w.W_hr is not None:
                    h = tt(w.W_hr) @ h
                c = c_new * 1.0  # the state carried on: its own node, so its grad is the carry's
                c.retain_grad()
                hs[t], cs[t] = h, c
            carries.append(cs)
            outs.append(torch.stack(hs))
        inp = torch.cat(outs, dim=1)
    (torch.stack(outs) * tt(seed)).sum().backward()
    c_grads = np.stack([np.stack([np.zeros(H) if v.grad is None else v.grad.numpy() for v in cs])
                        for cs in carries])  # the last carry feeds nothing
    return xt.grad.numpy(), c_grads.reshape(L, D, T, H)


@pytest.mark.parametrize("options", [
    {"peephole": True}, {"clip": 0.3}, {"input_forget": True},
    {"peephole": True, "clip": 0.8, "bidirectional": True},
    {"peephole": True, "proj_size": 2, "input_forget": True}, {"directions": ("reverse",)},
], ids=lambda o: "-".join(o))  # fmt: skip
def test_engine_backward_matches_a_torch_reference_for_what_torch_lacks(options):
    spec = LSTMSpec.random(3, 4, 2, seed=len(options), dtype=np.float64, **options)
    if spec.peephole:  # peepholes large enough to matter
        from dataclasses import replace

        spec = replace(spec, weights=tuple(tuple(replace(w, p_i=w.p_i * 4, p_f=w.p_f * 4,
                                                         p_o=w.p_o * 4) for w in dirs)
                                           for dirs in spec.weights))  # fmt: skip
    x = np.random.default_rng(3).normal(size=(11, 3)) * 2
    trace = record(spec, x)
    seed = _seed(trace, 4)
    gx, gc = _torch_reference(spec, x, seed)
    g = backward(trace, seed)
    np.testing.assert_allclose(g.x, gx, atol=TOL, rtol=0)
    np.testing.assert_allclose(g.c, gc, atol=TOL, rtol=0)
    if "clip" in options:  # some pre-activations were clipped, and passed no gradient
        assert np.abs(trace.z).max() == pytest.approx(options["clip"])
    if set(options) == {"directions"}:  # a reverse-only plain cell is one torch.nn.LSTM holds
        np.testing.assert_allclose(torch_backward(trace, seed).c, gc, atol=TOL, rtol=0)
    else:
        with pytest.raises(EngineError):
            torch_backward(trace, seed)


def test_attribution_sums_to_the_logit_the_model_computed():
    opened = open_and_trace(ROOT / "sample_models" / "bitagger.pt", text="I saw her duck swim")
    model, trace = opened.model, opened.trace
    h = np.concatenate(list(trace.h[-1]), axis=-1).astype(np.float64)
    logits = h @ model.head.weight.T.astype(np.float64) + model.head.bias
    for t in range(trace.T):
        win = output_attribution(model, trace, t)
        assert win.label == int(trace.output[t].argmax())
        assert win.contributions.shape == (2, trace.out_size)
        assert win.contributions.sum() + win.bias == pytest.approx(win.logit, rel=1e-12)
        assert win.logit == pytest.approx(logits[t, win.label], rel=1e-12)
        # log_softmax of the logits is the trace's output, to float32
        lse = np.log(np.exp(logits[t] - logits[t].max()).sum()) + logits[t].max()
        assert win.logit - lse == pytest.approx(float(trace.output[t, win.label]), abs=1e-5)
        other = output_attribution(model, trace, t, label="NOUN")
        assert other.label == trace.labels.index("NOUN")
        assert other.logit == pytest.approx(logits[t, other.label], rel=1e-12)


def test_saliency_on_a_torch_sample_agrees_between_torch_and_the_engine():
    opened = open_and_trace(ROOT / "sample_models" / "france.pt")
    model, trace = opened.model, opened.trace
    a = saliency(model, trace, trace.T - 1)
    assert a.method == "torch"
    b = saliency(model, trace, trace.T - 1, method="engine")
    scale = np.abs(a.grads.x).max()
    np.testing.assert_allclose(b.grads.x, a.grads.x, atol=1e-4 * scale)  # float32 gates vs float64
    np.testing.assert_allclose(b.grads.c, a.grads.c, atol=1e-4 * np.abs(a.grads.c).max())
    assert a.c_norm.shape == (1, 1, trace.T) and a.x_norm.shape == (trace.T,)
    assert a.c_norm[0, 0, -1] == 0.0  # nothing is carried past the step that is explained
    country = trace.tokens.index("France")
    assert a.x_norm[country] > np.median(a.x_norm)


def test_peephole_sample_takes_the_engine_backward():
    opened = open_and_trace(ROOT / "sample_models" / "peephole.pt")
    s = saliency(opened.model, opened.trace, 30)
    assert s.method == "engine" and np.isfinite(s.grads.x).all()
    assert np.all(s.grads.x[31:] == 0.0)  # a forward LSTM at 30 has not read what follows


def test_heads_that_are_not_linear_in_the_traced_h_are_refused():
    spec_a = LSTMSpec.random(2, 3, seed=1, dtype=np.float64)
    spec_b = LSTMSpec.random(3, 4, seed=2, dtype=np.float64)
    head = ("head", np.ones((2, 4)), None)
    two = PipelineModel(path="two", format="checkpoint", embedding=None,
                        lstms=[("a", spec_a), ("b", spec_b)], head=head, output="logits",
                        lstm="a", examples=[np.zeros((3, 2))])  # fmt: skip
    trace = two.trace(np.zeros((3, 2)))
    with pytest.raises(EngineError, match="feeds another LSTM"):
        linear_head(two, trace)
    bare = PipelineModel(path="bare", format="checkpoint", embedding=None, lstms=[("a", spec_a)],
                         head=None, output=None)  # fmt: skip
    with pytest.raises(EngineError, match="not known"):
        output_attribution(bare, bare.trace(np.zeros((3, 2))), 0)
    with pytest.raises(EngineError, match="recorded trace"):
        saliency(None, trace, 0)
    assert load  # the public loader is the one the CLI uses
