"""Gates recomputed from the weights, independently of the engine, and the derived quantities.

The recomputation uses torch ops on torch's own parameters and the trace's
h_{t-1}, c_{t-1}; the derived quantities (kept, forgotten, written, ...) are
rebuilt with explicit per-step loops over the stored arrays.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_engine import GATES, QUANTITIES, trace_lstm

pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")


def _model(layers=2, bidirectional=True, bias=True, proj=0, T=7, seed=0, h0=True):
    torch.manual_seed(seed)
    m = torch.nn.LSTM(3, 5, layers, bias=bias, bidirectional=bidirectional, proj_size=proj)
    m = m.double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.mul_(3.0)  # push gates towards saturation so order mistakes show
    D, P = 2 if bidirectional else 1, proj or 5
    x = torch.randn(T, 1, 3, dtype=torch.float64)
    state = None
    if h0:
        state = (torch.randn(layers * D, 1, P, dtype=torch.float64),
                 torch.randn(layers * D, 1, 5, dtype=torch.float64))  # fmt: skip
    return m, x, state


MODELS = {
    "2-layer bi": dict(),
    "1-layer uni no-bias": dict(layers=1, bidirectional=False, bias=False),
    "3-layer bi proj": dict(layers=3, proj=2, seed=4),
    "2-layer uni proj zero-state": dict(bidirectional=False, proj=3, h0=False, seed=7),
}


def _reading_order(T, d):
    return range(T) if d == 0 else range(T - 1, -1, -1)


@pytest.mark.parametrize("which", MODELS)
def test_gates_recomputed_from_weights(which):
    m, x, state = _model(**MODELS[which])
    trace = trace_lstm(m, x, *(state or ()))
    L, D, T, H = trace.c.shape
    params = dict(m.named_parameters())
    for layer in range(L):
        x_in = torch.from_numpy(trace.layer_input(layer).copy())  # (T, in)
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            W_ih, W_hh = params["weight_ih" + sfx].detach(), params["weight_hh" + sfx].detach()
            # h_{t-1}, c_{t-1} in this direction's own reading order, from the stored h and c
            h_prev = torch.from_numpy(trace.h_prev[layer, d].copy())
            c_prev = torch.from_numpy(trace.c_prev[layer, d].copy())
            z = x_in @ W_ih.T + h_prev @ W_hh.T  # (T, 4H)
            if m.bias:
                z = z + params["bias_ih" + sfx].detach() + params["bias_hh" + sfx].detach()
            z_i, z_f, z_g, z_o = z.chunk(4, dim=1)  # torch's own gate order
            i, f, g, o = z_i.sigmoid(), z_f.sigmoid(), z_g.tanh(), z_o.sigmoid()
            c = f * c_prev + i * g
            h = o * c.tanh()
            if m.proj_size:
                h = h @ params["weight_hr" + sfx].detach().T
            for name, ref in dict(i=i, f=f, g=g, o=o, c=c, h=h).items():
                np.testing.assert_allclose(
                    getattr(trace, name)[layer, d], ref.numpy(), rtol=1e-12, atol=1e-12,
                    err_msg=f"{name} layer {layer} dir {d}",
                )  # fmt: skip
            for k, zk in enumerate((z_i, z_f, z_g, z_o)):
                np.testing.assert_allclose(trace.z[layer, d, :, k], zk.numpy(), rtol=1e-12,
                                           atol=1e-12, err_msg=f"z[{GATES[k]}]")  # fmt: skip


@pytest.mark.parametrize("which", MODELS)
def test_prev_and_derived_quantities(which):
    m, x, state = _model(**MODELS[which])
    tr = trace_lstm(m, x, *(state or ()))
    L, D, T, H = tr.c.shape
    for layer in range(L):
        for d in range(D):
            c_prev, h_prev = tr.c0[layer, d], tr.h0[layer, d]
            for t in _reading_order(T, d):
                f, i, g, o = (getattr(tr, n)[layer, d, t] for n in "figo")
                c = tr.c[layer, d, t]
                expect = {
                    "c_prev": c_prev, "kept": f * c_prev, "forgotten": (1 - f) * c_prev,
                    "written": i * g, "delta_c": c - c_prev, "tanh_c": np.tanh(c),
                    "h_cell": o * np.tanh(c), "f": f, "i": i, "g": g, "o": o, "c": c,
                    "h": tr.h[layer, d, t],
                }  # fmt: skip
                for name, ref in expect.items():
                    full = getattr(tr, name)[layer, d, t]
                    np.testing.assert_allclose(full, ref, rtol=1e-13, atol=1e-14,
                                               err_msg=f"{name} {layer},{d},{t}")  # fmt: skip
                np.testing.assert_array_equal(tr.h_prev[layer, d, t], h_prev)
                # the cell equation holds on the stored values: c_t = kept + written
                np.testing.assert_allclose(c, tr.kept[layer, d, t] + tr.written[layer, d, t],
                                           rtol=1e-13, atol=1e-14)  # fmt: skip
                if not m.proj_size:
                    np.testing.assert_allclose(tr.h[layer, d, t], tr.h_cell[layer, d, t],
                                               rtol=1e-13, atol=1e-14)  # fmt: skip
                c_prev, h_prev = c, tr.h[layer, d, t]


@pytest.mark.parametrize("which", MODELS)
def test_value_agrees_with_full_arrays(which):
    m, x, state = _model(**MODELS[which])
    a = trace_lstm(m, x, *(state or ()))
    b = trace_lstm(m, x, *(state or ()))  # fresh: value() must not rely on a cached array
    L, D, T, H = a.c.shape
    for name in (*QUANTITIES, "h_cell"):
        full = getattr(a, name)
        assert full.shape[:3] == (L, D, T)
        assert not full.flags.writeable
        for layer in range(L):
            for d in range(D):
                for t in range(T):
                    v = b.value(name, layer, d, t)
                    np.testing.assert_allclose(
                        v, full[layer, d, t], rtol=1e-14, atol=1e-15,
                        err_msg=f"value({name}, {layer}, {d}, {t})",
                    )  # fmt: skip
        np.testing.assert_array_equal(a.series(name, 0, D - 1), full[0, D - 1])
    with pytest.raises(KeyError, match="unknown quantity"):
        a.value("nonsense", 0, 0, 0)


def test_gate_order_is_torchs_chunk_order():
    """Give each gate block its own bias with zero weights: only i,f,g,o in torch's order fits."""
    H = 3
    m = torch.nn.LSTM(2, H, 1).double()
    a = {"i": 0.7, "f": -1.3, "g": 2.1, "o": -0.4}
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.bias_ih_l0.copy_(torch.tensor([a[k] for k in "ifgo"], dtype=torch.float64)
                           .repeat_interleave(H))  # fmt: skip
    x = torch.randn(1, 1, 2, dtype=torch.float64)
    c0 = torch.full((1, 1, H), 0.9, dtype=torch.float64)
    h0 = torch.zeros(1, 1, H, dtype=torch.float64)
    trace = trace_lstm(m, x, h0, c0)

    sig = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    expect = {"i": sig(a["i"]), "f": sig(a["f"]), "g": np.tanh(a["g"]), "o": sig(a["o"])}
    for k, v in expect.items():
        np.testing.assert_allclose(getattr(trace, k)[0, 0, 0], v, rtol=1e-14, err_msg=k)
    for k, gate in enumerate(GATES):
        np.testing.assert_allclose(trace.z[0, 0, 0, k], a[gate], rtol=1e-14)
    # and torch itself agrees that this is the order: h_n = o·tanh(f·c0 + i·g)
    with torch.no_grad():
        _, (h_n, c_n) = m(x, (h0, c0))
    c1 = expect["f"] * 0.9 + expect["i"] * expect["g"]
    np.testing.assert_allclose(c_n.numpy().ravel(), c1, rtol=1e-14)
    np.testing.assert_allclose(h_n.numpy().ravel(), expect["o"] * np.tanh(c1), rtol=1e-14)
    assert GATES == ("i", "f", "g", "o")


def test_reverse_direction_index_is_torchs_output_position():
    """Index t of the reverse direction is its state after reading x[t], right to left."""
    torch.manual_seed(1)
    m = torch.nn.LSTM(2, 4, 1, bidirectional=True).double().eval()
    T = 6
    x = torch.randn(T, 1, 2, dtype=torch.float64)
    trace = trace_lstm(m, x)
    with torch.no_grad():
        out, (h_n, c_n) = m(x)
    np.testing.assert_allclose(trace.h[0, 1], out[:, 0, 4:].numpy(), rtol=1e-12, atol=1e-13)
    # the reverse direction ends at t=0, so h_n[reverse] is index 0, not T-1
    np.testing.assert_allclose(trace.h[0, 1, 0], h_n[1, 0].numpy(), rtol=1e-12)
    np.testing.assert_allclose(trace.c[0, 1, 0], c_n[1, 0].numpy(), rtol=1e-12)
    # index T-1 has read x[T-1] only: one reverse step from zeros on x[T-1]
    rev = torch.nn.LSTM(2, 4, 1).double()
    with torch.no_grad():
        for name, p in rev.named_parameters():
            p.copy_(dict(m.named_parameters())[name + "_reverse"])
        h1, _ = rev(x[T - 1:])
    np.testing.assert_allclose(trace.h[0, 1, T - 1], h1[0, 0].numpy(), rtol=1e-12)
    # its c_{t-1} at the first step it reads (T-1) is c0, and at t it is c[t+1]
    assert not trace.c_prev[0, 1, T - 1].any()
    np.testing.assert_array_equal(trace.c_prev[0, 1, :-1], trace.c[0, 1, 1:])
    np.testing.assert_array_equal(trace.c_prev[0, 0, 1:], trace.c[0, 0, :-1])


@pytest.mark.parametrize("peephole", [False, True])
def test_trace_without_pre_activations_is_otherwise_identical(tmp_path, peephole):
    from lstm_engine import LSTMSpec, Trace, record

    spec = LSTMSpec.random(3, 4, 2, bidirectional=True, peephole=peephole, seed=6)
    x = np.random.default_rng(6).standard_normal((9, 3)).astype(np.float32)
    full, lean = record(spec, x, keep_z=True), record(spec, x, keep_z=False)
    assert full.z is not None and lean.z is None
    for name in ("i", "f", "g", "o", "c", "h", "kept", "delta_c"):
        np.testing.assert_array_equal(getattr(lean, name), getattr(full, name), err_msg=name)
    lean.save(tmp_path / "lean.npz")
    back = Trace.load(tmp_path / "lean.npz")
    assert back.z is None
    np.testing.assert_array_equal(back.c, full.c)


def test_pre_activations_are_kept_by_default_only_while_small(monkeypatch):
    from lstm_engine import LSTMSpec, trace_lstm
    from lstm_engine.core import recorder

    spec = LSTMSpec.random(3, 4, 2, bidirectional=True, seed=6)  # z: 2*2*T*4*4*4 = 256*T bytes
    x = np.ones((10, 3), np.float32)
    assert trace_lstm(spec, x).z is not None  # small models, the debugger's sizes, keep z
    monkeypatch.setattr(recorder, "Z_KEEP_LIMIT", 256 * 10)
    assert trace_lstm(spec, x).z is not None
    assert trace_lstm(spec, np.ones((11, 3), np.float32)).z is None
    assert trace_lstm(spec, np.ones((11, 3), np.float32), keep_z=True).z.shape == (2, 2, 11, 4, 4)
    assert trace_lstm(spec, x, keep_z=False).z is None
