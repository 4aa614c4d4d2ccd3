"""record()'s float32 torch path reads the gates and c from the workspace torch's oneDNN LSTM
kernel keeps for its backward pass (core/onednn_workspace.py). Its layout is oneDNN's, so
the numbers are held to torch and to an independent float64 recomputation, every block must
actually be read there (or the speed is gone), and a workspace that does not check out must
fall back to recovering from h, never give a wrong number."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import lstm_engine.core.onednn_workspace as ow
import lstm_engine.core.recorder as recorder
from lstm_engine import record
from lstm_engine.formats.torch_module import spec_from_module

pytestmark = pytest.mark.skipif(
    not (hasattr(torch, "mkldnn_rnn_layer") and torch.backends.mkldnn.is_available()),
    reason="this torch has no oneDNN",
)

MODULES = {
    "1 layer": dict(num_layers=1),
    "2 layers bidirectional": dict(num_layers=2, bidirectional=True),
    "no bias": dict(num_layers=1, bias=False),
}


@pytest.fixture
def reads(monkeypatch):
    """Every block's outcome: True where the workspace was read, False where it fell back."""
    seen = []
    real = ow.read

    def counting(*args, **kwargs):
        got = real(*args, **kwargs)
        seen.append(got is not None)
        return got

    monkeypatch.setattr(ow, "read", counting)
    monkeypatch.setattr(recorder, "FUSED_BLOCK", 256)
    monkeypatch.setattr(recorder, "FUSED_MIN_T", 1)
    return seen


def _module(config, seed=1):
    torch.manual_seed(seed)
    return torch.nn.LSTM(5, 7, **MODULES[config])


def _float64_gates(spec, tr, layer, d):
    """i, f, g, o (T, H) from the trace's own inputs and previous h, in float64."""
    w = spec.weights[layer][d]
    x = tr.x if layer == 0 else np.concatenate(list(tr.h[layer - 1]), -1)
    h_prev = tr.h_prev[layer, d].astype(np.float64)  # in each direction's reading order
    z = x.astype(np.float64) @ w.W_ih.T.astype(np.float64) + h_prev @ w.W_hh.T
    if w.b_ih is not None:
        z = z + w.b_ih + w.b_hh
    H = spec.hidden_size
    s = 1 / (1 + np.exp(-z))
    return s[:, :H], s[:, H : 2 * H], np.tanh(z[:, 2 * H : 3 * H]), s[:, 3 * H :]


@pytest.mark.parametrize("config", MODULES)
@pytest.mark.parametrize("T", [1, 2, 40, 700])  # one step, two, one short block, several
def test_the_workspace_gives_torchs_numbers(config, T, reads):
    m = _module(config)
    spec = spec_from_module(m)
    x = torch.randn(T, 1, 5)
    L, D = m.num_layers, 2 if m.bidirectional else 1
    h0, c0 = torch.randn(L * D, 1, 7), torch.randn(L * D, 1, 7)
    tr = record(spec, x, h0, c0)
    blocks = L * D * -(-T // 256)
    assert reads == [True] * blocks  # every block read from the workspace
    assert tr.z is None  # z would cost the product the workspace saves
    with torch.no_grad():
        out, (h_n, c_n) = m(x, (h0, c0))
    h_last = np.concatenate(list(tr.h[-1]), -1)
    np.testing.assert_allclose(h_last, out[:, 0].numpy(), atol=1e-5, rtol=0)
    for layer in range(L):
        for d in range(D):
            k = layer * D + d
            last = -1 if d == 0 else 0  # the step each direction reads last
            np.testing.assert_allclose(tr.c[layer, d, last], c_n[k, 0].numpy(), atol=1e-5, rtol=0)
            for name, want in zip("ifgo", _float64_gates(spec, tr, layer, d)):
                np.testing.assert_allclose(getattr(tr, name)[layer, d], want, atol=1e-5, rtol=0)
            # and c is the recurrence of those gates
            np.testing.assert_allclose(
                tr.c[layer, d],
                tr.f[layer, d] * tr.c_prev[layer, d] + tr.i[layer, d] * tr.g[layer, d],
                atol=1e-5, rtol=0,
            )


def test_z_kept_on_request_takes_the_product(reads):
    """keep_z=True needs z, which the workspace does not hold: recovered from h as before."""
    m = _module("1 layer")
    tr = record(spec_from_module(m), torch.randn(300, 1, 5), keep_z=True)
    assert reads == [] and tr.z is not None


@pytest.mark.parametrize("damage", ["row length", "c offset"])
def test_a_workspace_that_does_not_check_out_is_not_believed(damage, reads, monkeypatch):
    """A oneDNN that lays its workspace out otherwise costs the speed, never a number: a
    wrong row length fails the gates' check and the block is recovered from torch's h (and
    the direction's later blocks go there straight); a wrong remembered offset for c is
    searched for again."""
    m = _module("2 layers bidirectional", seed=3)
    spec = spec_from_module(m)
    x = torch.randn(600, 1, 5)
    good = record(spec, x)
    reads.clear()
    if damage == "row length":
        monkeypatch.setattr(ow, "_leading", lambda n: n + 16)
    else:
        for key in list(ow._C_OFFSETS):
            monkeypatch.setitem(ow._C_OFFSETS, key, ow._C_OFFSETS[key] + ow._PAGE)
    bad = record(spec, x)
    assert reads and all(r is (damage == "c offset") for r in reads)
    # a direction whose workspace failed once does not ask again (2 layers × 2 directions;
    # 3 blocks each when read)
    assert len(reads) == (12 if damage == "c offset" else 4)
    for name in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_allclose(getattr(bad, name), getattr(good, name), atol=1e-5, rtol=0)


def test_non_finite_values_are_found_where_the_numpy_cell_finds_them(reads):
    m = _module("2 layers bidirectional", seed=4)
    spec = spec_from_module(m)
    x = torch.randn(500, 1, 5)
    x[321, 0, 2] = float("nan")
    tr = record(spec, x)
    assert tr.meta["first_nonfinite"] == {"where": "x", "t": 321, "unit": 2}
    assert np.isnan(tr.c[0, 0, 321]).any() and np.isfinite(tr.c[0, 0, :321]).all()


@pytest.mark.parametrize("n", [1, 2, 255, 257, 700])
def test_a_recordings_first_steps_do_not_depend_on_what_follows(n, reads):
    """As on the other paths: the first n steps of a recording are, bit for bit, the
    recording of the first n inputs (a trace file's valid_steps prefix relies on it)."""
    spec = spec_from_module(_module("1 layer", seed=2))
    x = np.random.default_rng(4).standard_normal((800, 5)).astype(np.float32)
    full, part = record(spec, x), record(spec, x[:n])
    for name in ("i", "f", "g", "o", "c", "h"):
        assert getattr(full, name)[:, :, :n].tobytes() == getattr(part, name).tobytes(), name
