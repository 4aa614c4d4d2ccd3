"""record()'s torch path (recorder._run_fused): torch's kernel runs the recurrence, and z, the
gates and c are recovered from its h. It must agree with torch and with the numpy cell (the
path every other spec takes, and that branch() re-runs with), give the same immutable Trace,
and leave branches equal to their parents where the edits change nothing."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import torch

import lstm_engine.core.recorder as recorder
from lstm_engine import LSTMSpec, SetState, branch, record
from lstm_engine.core.readonly import _is_sealed
from lstm_engine.formats.torch_module import spec_from_module

TOL = {np.float32: 1e-5, np.float64: 1e-10}
ARRAYS = ("i", "f", "g", "o", "c", "h", "z")
MODULES = {
    "1 layer": dict(num_layers=1),
    "2 layers bidirectional": dict(num_layers=2, bidirectional=True),
    "2 layers, proj": dict(num_layers=2, proj_size=3),
    "no bias": dict(num_layers=1, bias=False),
}


def _plain(spec, x, **kw):
    """The numpy cell's recording of the same run."""
    old = recorder.FUSED_MIN_T
    recorder.FUSED_MIN_T = 10**12
    try:
        return record(spec, x, **kw)
    finally:
        recorder.FUSED_MIN_T = old


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("config", MODULES)
@pytest.mark.parametrize("T", [40, 700])  # one short block, and several with a short last one
def test_the_torch_path_is_torch_and_the_numpy_cell(config, dtype, T, monkeypatch):
    monkeypatch.setattr(recorder, "FUSED_BLOCK", 256)
    torch.manual_seed(1)
    m = torch.nn.LSTM(5, 7, **MODULES[config]).to(torch.float64 if dtype == np.float64 else torch.float32)
    spec = spec_from_module(m)
    assert recorder.fused(spec, T)
    x = torch.randn(T, 1, 5, dtype=m.weight_hh_l0.dtype)
    L, D = m.num_layers, 2 if m.bidirectional else 1
    h0 = torch.randn(L * D, 1, m.proj_size or 7, dtype=x.dtype)
    c0 = torch.randn(L * D, 1, 7, dtype=x.dtype)
    fast = record(spec, x, h0, c0, keep_z=True)
    plain = _plain(spec, x, h0=h0, c0=c0, keep_z=True)
    with torch.no_grad():
        out, (h_n, c_n) = m(x, (h0, c0))
    tol = TOL[dtype]
    for tr in (fast, plain):
        np.testing.assert_allclose(np.concatenate(list(tr.h[-1]), -1), out[:, 0].numpy(), atol=tol, rtol=0)
        last_c = [tr.c[layer, d, 0 if d else -1] for layer in range(L) for d in range(D)]
        np.testing.assert_allclose(np.stack(last_c), c_n[:, 0].numpy(), atol=tol, rtol=0)
    for name in ARRAYS:
        np.testing.assert_allclose(getattr(fast, name), getattr(plain, name), atol=tol, rtol=tol, err_msg=name)
    # the same kind of trace: sealed arrays, the same meta
    assert fast.meta == plain.meta
    for name in ARRAYS:
        a = getattr(fast, name)
        assert _is_sealed(a) and not a.flags.writeable, name
    with pytest.raises(ValueError):
        fast.c[0, 0, 0, 0] = 1.0


def test_a_reverse_only_direction_takes_the_torch_path_too():
    spec = dataclasses.replace(LSTMSpec.random(3, 6, 1, seed=4, dtype=np.float64), directions=("reverse",))
    x = np.random.default_rng(0).standard_normal((300, 3))
    assert recorder.fused(spec, 300)
    fast, plain = record(spec, x, keep_z=True), _plain(spec, x, keep_z=True)
    for name in ARRAYS:
        np.testing.assert_allclose(getattr(fast, name), getattr(plain, name), atol=1e-10, rtol=0)


@pytest.mark.parametrize("kw", [dict(peephole=True), dict(clip=2.0), dict(input_forget=True)])
def test_cells_torch_does_not_have_take_the_numpy_cell(kw):
    extra = {k: kw.pop(k) for k in ("clip", "input_forget") if k in kw}
    spec = dataclasses.replace(LSTMSpec.random(3, 4, 1, seed=2, **kw), **extra)
    assert not recorder.fused(spec, 1000)
    assert recorder.fused(LSTMSpec.random(3, 4, 1, seed=2), 1000)
    assert not recorder.fused(LSTMSpec.random(3, 4, 1, seed=2), recorder.FUSED_MIN_T - 1)


def test_record_never_imports_torch():
    code = ("import sys, numpy as np, lstm_engine\n"
            "spec = lstm_engine.LSTMSpec.random(3, 4, 2, seed=0)\n"
            "tr = lstm_engine.record(spec, np.ones((500, 3)))\n"
            "assert tr.T == 500\n"
            "print('torch' in sys.modules)\n")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bi", [False, True])
def test_a_branch_of_a_torch_path_recording(bi):
    """Edits that set what is already there change no bit (the re-run starts where something
    changes, so the torch path's rounding is never replaced by the cell's), and a real edit
    is a fresh run from the edited state."""
    spec = LSTMSpec.random(4, 6, 2, bidirectional=bi, seed=9, dtype=np.float64)
    x = np.random.default_rng(3).standard_normal((200, 4))
    parent = record(spec, x, keep_z=True)
    assert recorder.fused(spec, 200)
    same = [SetState(name="h", t=50, unit=1, value=float(parent.h[0, 0, 50, 1])),
            SetState(name="c", t=120, unit=None, value=0.0, layer=1, direction=0)]  # fmt: skip
    noop = branch(parent, same[:1])
    for name in ARRAYS:
        assert getattr(noop, name).tobytes() == getattr(parent, name).tobytes(), name
    child = branch(parent, same[1:])
    assert child.c[1, 0, :120].tobytes() == parent.c[1, 0, :120].tobytes()
    assert (child.c[1, 0, 120] == 0).all()
    # from the edited state on, layer 2 forward is a fresh run of a one-layer LSTM
    w = spec.weights[1][0]
    one = LSTMSpec(weights=((w,),))
    inp = child.layer_input(1)[121:]
    fresh = _plain(one, inp, h0=child.h[1, 0, 120][None], c0=child.c[1, 0, 120][None])
    np.testing.assert_allclose(child.c[1, 0, 121:], fresh.c[0, 0], atol=1e-10, rtol=0)
    np.testing.assert_allclose(child.h[1, 0, 121:], fresh.h[0, 0], atol=1e-10, rtol=0)


@pytest.mark.parametrize("n", [5, 64, 100, 1000])
@pytest.mark.parametrize("H", [3, 300])  # the chunked scan, and the step loop above SCAN_MAX_H
def test_the_linear_scan_is_the_recurrence(n, H):
    rng = np.random.default_rng(n)
    gates = rng.uniform(0, 1, (n, 4, H))
    u = rng.standard_normal((n, H))
    c_prev = rng.standard_normal(H)
    for f, c in ((gates[:, 1], u.copy()), (gates[::-1, 1], u.copy()[::-1])):
        want, prev = np.empty_like(c), c_prev
        for t in range(n):
            want[t] = prev = f[t] * prev + c[t]
        last = recorder._linear_scan(f, c, c_prev)
        np.testing.assert_allclose(c, want, atol=1e-12, rtol=1e-12)
        np.testing.assert_array_equal(last, c[-1])


def test_an_overflow_is_reported_where_the_numpy_cell_reports_it():
    spec = LSTMSpec.random(3, 5, 2, bidirectional=True, seed=1)
    x = np.random.default_rng(2).standard_normal((100, 3))
    x[60:] = 1e308
    fast, plain = record(spec, x), _plain(spec, x)
    assert fast.meta["first_nonfinite"] is not None
    assert fast.meta["first_nonfinite"] == plain.meta["first_nonfinite"]


def test_trace_lstm_reads_the_spec_again_only_when_the_weights_change():
    import lstm_engine
    from lstm_engine import live

    torch.manual_seed(0)
    m = torch.nn.LSTM(3, 4)
    x = torch.randn(6, 1, 3)
    first = lstm_engine.trace_lstm(m, x)
    assert live._spec_of(m) is first.spec  # cached: the same spec object
    with torch.no_grad():
        m.weight_hh_l0.mul_(0.5)  # in place, as an optimizer step writes
    second = lstm_engine.trace_lstm(m, x)
    assert second.spec is not first.spec
    np.testing.assert_array_equal(second.spec.weights[0][0].W_hh, m.weight_hh_l0.detach().numpy())
    m.bias_ih_l0 = torch.nn.Parameter(torch.ones(16))  # a new parameter object
    third = lstm_engine.trace_lstm(m, x)
    np.testing.assert_array_equal(third.spec.weights[0][0].b_ih, np.ones(16, np.float32))
    m.double()  # new tensors of another dtype
    assert lstm_engine.trace_lstm(m, x.double()).spec.dtype == np.float64
    with torch.no_grad():
        out, _ = m(x.double())
    np.testing.assert_allclose(lstm_engine.trace_lstm(m, x.double()).h[0, 0], out[:, 0].numpy(),
                               atol=1e-10, rtol=0)


@pytest.mark.parametrize("kw", [dict(num_layers=1), dict(num_layers=2, bidirectional=True),
                                dict(num_layers=1, input_forget=True)])  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_numpy_steps_in_a_row_are_the_cells_bits(kw, dtype, monkeypatch):
    """record()'s numpy path runs the plain cell's steps through cell.lstm_steps; they must be
    lstm_step's bits, which branch() re-runs with (one call per step)."""
    extra = {"input_forget": kw.pop("input_forget")} if "input_forget" in kw else {}
    spec = dataclasses.replace(LSTMSpec.random(4, 6, seed=7, dtype=dtype, **kw), **extra)
    x = np.random.default_rng(5).standard_normal((1500, 4))
    monkeypatch.setattr(recorder, "FUSED_MIN_T", 10**12)
    for keep_z in (True, False):
        rows = record(spec, x, keep_z=keep_z)
        monkeypatch.setattr(recorder, "plain_cell", lambda *a: False)  # one lstm_step a step
        steps = record(spec, x, keep_z=keep_z)
        monkeypatch.undo()
        monkeypatch.setattr(recorder, "FUSED_MIN_T", 10**12)
        for name in ARRAYS:
            a, b = getattr(rows, name), getattr(steps, name)
            assert (a is None and b is None) or a.tobytes() == b.tobytes(), (name, keep_z)


@pytest.mark.parametrize("n", [1, 31, 33, 120, 255, 257, 700])
def test_a_recordings_first_steps_do_not_depend_on_what_follows(n, monkeypatch):
    """The torch path's blocks and scan chunks are counted from position 0, and a shorter last
    one computes as a whole one: the first n steps of a recording are, bit for bit, the
    recording of the first n inputs (what a trace file's valid_steps prefix relies on)."""
    monkeypatch.setattr(recorder, "FUSED_MIN_T", 1)
    spec = LSTMSpec.random(4, 6, 2, seed=2, dtype=np.float32)
    x = np.random.default_rng(4).standard_normal((800, 4))
    full, part = record(spec, x, keep_z=True), record(spec, x[:n], keep_z=True)
    for name in ARRAYS:
        assert getattr(full, name)[:, :, :n].tobytes() == getattr(part, name).tobytes(), name
