"""The engine against torch.nn.LSTM, micrograd style: same weights, same input, same numbers.

Each configuration is drawn from a seeded generator, so the set is fixed and
reproducible but covers the option space: 1-3 layers, uni/bidirectional,
bias on/off, proj_size, batch_first, unbatched input, given h0/c0, T 1-50,
float32 and float64.

Three independent torch computations are compared against one trace:
  * the full nn.LSTM: last layer's output and h_n / c_n;
  * each layer on its own (a one-layer nn.LSTM with that layer's weights,
    fed torch's own output of the layer below): every layer's h;
  * each layer and direction stepped one timestep at a time (a one-layer,
    one-direction nn.LSTM called with T=1): every step's c and h.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from lstm_engine import trace_lstm

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")

TOL = {torch.float32: 1e-5, torch.float64: 1e-10}


def _configs(n: int = 64, seed: int = 20260):
    rnd = random.Random(seed)
    out = []
    for k in range(n):
        hidden = rnd.randint(1, 9)
        cfg = dict(
            seed=k,
            input_size=rnd.randint(1, 8),
            hidden_size=hidden,
            num_layers=rnd.choice((1, 1, 2, 2, 3)),
            bidirectional=rnd.random() < 0.5,
            bias=rnd.random() < 0.75,
            proj_size=rnd.randint(1, hidden - 1) if hidden > 1 and rnd.random() < 0.35 else 0,
            layout=rnd.choice(("seq", "seq", "batch_first", "unbatched")),
            given_state=rnd.random() < 0.5,
            T=rnd.choice((1, 2, 3, rnd.randint(4, 20), rnd.randint(20, 50))),
            dtype=rnd.choice((torch.float32, torch.float64)),
        )
        out.append(cfg)
    # make sure the corners are there whatever the draw gave
    out.append(dict(out[0], seed=900, num_layers=3, bidirectional=True, proj_size=0, T=50,
                    bias=False, given_state=True, dtype=torch.float64, layout="seq"))  # fmt: skip
    out.append(dict(out[1], seed=901, num_layers=2, bidirectional=True, hidden_size=7,
                    proj_size=3, T=1, given_state=True, dtype=torch.float32,
                    layout="batch_first"))  # fmt: skip
    return out


CONFIGS = _configs()


def _id(c):
    return (
        f"s{c['seed']}-L{c['num_layers']}{'bi' if c['bidirectional'] else 'uni'}"
        f"-in{c['input_size']}-H{c['hidden_size']}-P{c['proj_size']}"
        f"-{'b' if c['bias'] else 'nob'}-{c['layout']}-{'h0' if c['given_state'] else 'zero'}"
        f"-T{c['T']}-{str(c['dtype']).split('.')[-1]}"
    )


def _build(cfg):
    torch.manual_seed(cfg["seed"])
    dt = cfg["dtype"]
    m = torch.nn.LSTM(
        cfg["input_size"], cfg["hidden_size"], cfg["num_layers"],
        bias=cfg["bias"], batch_first=cfg["layout"] == "batch_first",
        bidirectional=cfg["bidirectional"], proj_size=cfg["proj_size"],
    ).to(dt).eval()  # fmt: skip
    # wider weights than torch's init, so that gates saturate and c grows
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(2.5)
    L, D = cfg["num_layers"], 2 if cfg["bidirectional"] else 1
    H, P = cfg["hidden_size"], cfg["proj_size"] or cfg["hidden_size"]
    seq = torch.randn(cfg["T"], cfg["input_size"], dtype=dt) * 2
    h0 = c0 = None
    if cfg["given_state"]:
        h0 = torch.randn(L * D, P, dtype=dt)
        c0 = torch.randn(L * D, H, dtype=dt) * 2
    return m, seq, h0, c0


def _shaped(cfg, seq, h0, c0):
    """The input and state as torch.nn.LSTM takes them for this layout."""
    if cfg["layout"] == "unbatched":
        return seq, h0, c0
    x = seq[None] if cfg["layout"] == "batch_first" else seq[:, None]
    return x, (None if h0 is None else h0[:, None]), (None if c0 is None else c0[:, None])


def _one_layer(m, layer, direction=None):
    """A one-layer nn.LSTM holding layer `layer` (and only `direction`, if given) of m."""
    bi = m.bidirectional and direction is None
    in_size = m.input_size if layer == 0 else (m.proj_size or m.hidden_size) * (
        2 if m.bidirectional else 1
    )
    sub = torch.nn.LSTM(in_size, m.hidden_size, 1, bias=m.bias, bidirectional=bi,
                        proj_size=m.proj_size).to(m.weight_ih_l0.dtype)  # fmt: skip
    params = dict(m.named_parameters())
    with torch.no_grad():
        for name, p in sub.named_parameters():
            base, rev = name.removesuffix("_reverse"), name.endswith("_reverse")
            src_suffix = "_reverse" if (rev or direction == 1) else ""
            p.copy_(params[base.replace("_l0", f"_l{layer}") + src_suffix])
    return sub.eval()


def _close(actual, expected, tol, what):
    np.testing.assert_allclose(
        np.asarray(actual), expected.detach().numpy(), rtol=tol, atol=tol, err_msg=what
    )


@pytest.mark.parametrize("cfg", CONFIGS, ids=[_id(c) for c in CONFIGS])
def test_engine_matches_torch(cfg):
    m, seq, h0, c0 = _build(cfg)
    tol = TOL[cfg["dtype"]]
    L, D, T = cfg["num_layers"], 2 if cfg["bidirectional"] else 1, cfg["T"]
    H, P = cfg["hidden_size"], cfg["proj_size"] or cfg["hidden_size"]
    x, h0_in, c0_in = _shaped(cfg, seq, h0, c0)

    trace = trace_lstm(m, x, h0_in, c0_in)
    assert trace.c.shape == (L, D, T, H) and trace.h.shape == (L, D, T, P)
    assert trace.c.dtype == np.dtype(str(cfg["dtype"]).split(".")[-1])

    # 1. the whole module: last layer's output, h_n and c_n
    with torch.no_grad():
        state = None if h0_in is None else (h0_in, c0_in)
        out, (h_n, c_n) = m(x, state)
    out = out.reshape(T, D * P)  # any layout: one sequence
    h_n, c_n = h_n.reshape(L * D, P), c_n.reshape(L * D, H)
    _close(np.concatenate(list(trace.h[-1]), -1), out, tol, "last layer output")
    for layer in range(L):
        for d in range(D):
            last = T - 1 if d == 0 else 0  # the step each direction reads last
            _close(trace.h[layer, d, last], h_n[layer * D + d], tol, f"h_n {layer},{d}")
            _close(trace.c[layer, d, last], c_n[layer * D + d], tol, f"c_n {layer},{d}")

    # 2. layer by layer, each fed torch's own output of the layer below
    h0_all = torch.zeros(L * D, P, dtype=cfg["dtype"]) if h0 is None else h0
    c0_all = torch.zeros(L * D, H, dtype=cfg["dtype"]) if c0 is None else c0
    layer_in = seq
    for layer in range(L):
        sub = _one_layer(m, layer)
        sl = slice(layer * D, (layer + 1) * D)
        with torch.no_grad():
            layer_out, _ = sub(layer_in, (h0_all[sl], c0_all[sl]))  # unbatched (T, D*P)
        for d in range(D):
            ref = layer_out[:, d * P:(d + 1) * P]
            _close(trace.h[layer, d], ref, tol, f"h layer {layer} dir {d}")

        # 3. one timestep at a time, per direction: every step's c (and h again)
        for d in range(D):
            cell = _one_layer(m, layer, direction=d)
            h, c = h0_all[layer * D + d][None], c0_all[layer * D + d][None]
            for t in range(T) if d == 0 else range(T - 1, -1, -1):
                with torch.no_grad():
                    _, (h, c) = cell(layer_in[t][None], (h, c))
                _close(trace.c[layer, d, t], c[0], tol, f"c layer {layer} dir {d} t {t}")
                _close(trace.h[layer, d, t], h[0], tol, f"h layer {layer} dir {d} t {t}")
        layer_in = layer_out

    # the trace keeps what it was given
    np.testing.assert_array_equal(trace.x, seq.numpy())
    if h0 is not None:
        np.testing.assert_array_equal(trace.h0.reshape(L * D, P), h0.numpy())
        np.testing.assert_array_equal(trace.c0.reshape(L * D, H), c0.numpy())
    else:
        assert not trace.h0.any() and not trace.c0.any()


def test_the_configurations_cover_the_option_space():
    seen = {k: {c[k] for c in CONFIGS} for k in CONFIGS[0]}
    assert seen["num_layers"] == {1, 2, 3}
    assert seen["bidirectional"] == seen["bias"] == seen["given_state"] == {False, True}
    assert seen["layout"] == {"seq", "batch_first", "unbatched"}
    assert seen["dtype"] == {torch.float32, torch.float64}
    assert 0 in seen["proj_size"] and len(seen["proj_size"]) > 2
    assert 1 in seen["T"] and max(seen["T"]) >= 45
    assert len(CONFIGS) >= 60
    # the corners that matter most appear together at least once
    assert any(c["bidirectional"] and c["proj_size"] and c["num_layers"] > 1 for c in CONFIGS)
    assert any(c["bidirectional"] and c["given_state"] and c["layout"] == "batch_first"
               for c in CONFIGS)  # fmt: skip


def test_spec_and_module_give_the_same_trace():
    """trace_lstm on the module and on its spec is one computation."""
    from lstm_engine.formats.torch_module import spec_from_module

    m, seq, h0, c0 = _build(dict(CONFIGS[0], num_layers=2, bidirectional=True, given_state=True,
                                 layout="seq", dtype=torch.float64))  # fmt: skip
    a = trace_lstm(m, seq[:, None], h0[:, None], c0[:, None])
    b = trace_lstm(spec_from_module(m), seq.numpy(), h0.numpy(), c0.numpy())
    for name in ("i", "f", "g", "o", "c", "h", "z"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


def test_dropout_does_nothing_at_inference():
    torch.manual_seed(3)
    m = torch.nn.LSTM(4, 5, 2, dropout=0.5).double().eval()
    x = torch.randn(9, 1, 4, dtype=torch.float64)
    with torch.no_grad():
        out, _ = m(x)
    _close(trace_lstm(m, x).h[-1, 0], out[:, 0], 1e-10, "output with dropout=0.5")
