"""Bad input is the user's mistake, not a bug: an EngineError whose message says what was
wrong and what was expected. NaN and Inf are not mistakes: they are recorded as torch
computes them, and meta says where they first appear."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_engine import (
    Activation, CellActivations, EngineError, InputError, LSTMSpec, SpecError, record, trace_lstm,
)  # fmt: skip


@pytest.fixture
def lstm():
    torch.manual_seed(0)
    return torch.nn.LSTM(4, 5, 2).double().eval()


@pytest.mark.parametrize(
    "shape,batch_first,pattern",
    [
        ((7, 1, 3), False, r"input width is 3 but the LSTM takes 4 .*expected shape \[T, 1, 4\]"),
        ((7, 3), False, r"input width is 3 but the LSTM takes 4 .*\[T, 4\]"),
        ((1, 7, 5), True, r"input width is 5 but the LSTM takes 4 .*expected shape \[1, T, 4\]"),
        ((0, 1, 4), False, r"empty sequence.*expected shape \[T, 1, 4\]"),
        ((0, 4), False, r"empty sequence"),
        ((1, 0, 4), True, r"empty sequence.*\[1, T, 4\]"),
        ((7, 2, 4), False, r"batch of 2 sequences.*expected shape \[T, 1, 4\]"),
        ((3, 7, 4), True, r"batch of 3 sequences.*expected shape \[1, T, 4\]"),
        ((4,), False, r"input has shape \(4,\), expected \[T, 1, 4\] or \[T, 4\]"),
        ((2, 3, 1, 4), False, r"input has shape \(2, 3, 1, 4\)"),
    ],
)  # fmt: skip
def test_bad_input_shapes(shape, batch_first, pattern):
    m = torch.nn.LSTM(4, 5, 2, batch_first=batch_first)
    for x in (torch.zeros(shape), np.zeros(shape)):
        with pytest.raises(InputError, match=pattern) as err:
            trace_lstm(m, x)
        assert isinstance(err.value, EngineError) and "\n" not in str(err.value)


@pytest.mark.parametrize(
    "h0_shape,c0_shape,pattern",
    [
        ((1, 1, 5), (2, 1, 5), r"h0 has shape \(1, 1, 5\), expected \[2, 1, 5\] or \[2, 5\]"),
        ((2, 1, 5), (2, 1, 4), r"c0 has shape \(2, 1, 4\), expected \[2, 1, 5\] .*hidden_size"),
        ((2, 3, 5), (2, 3, 5), r"h0 has shape \(2, 3, 5\)"),
        ((10,), (2, 5), r"h0 has shape \(10,\)"),
    ],
)  # fmt: skip
def test_bad_initial_state(lstm, h0_shape, c0_shape, pattern):
    with pytest.raises(InputError, match=pattern):
        trace_lstm(lstm, torch.zeros(3, 1, 4, dtype=torch.float64),
                   torch.zeros(h0_shape), torch.zeros(c0_shape))  # fmt: skip


def test_projected_h0_names_proj_size():
    m = torch.nn.LSTM(4, 5, 1, proj_size=2, bidirectional=True)
    with pytest.raises(InputError, match=r"h0 .*expected \[2, 1, 2\] or \[2, 2\] .*proj_size"):
        trace_lstm(m, torch.zeros(3, 1, 4), torch.zeros(2, 1, 5), torch.zeros(2, 1, 5))


@pytest.mark.parametrize(
    "module,pattern",
    [
        (torch.nn.GRU(4, 5), r"expected a torch\.nn\.LSTM, got GRU"),
        (torch.nn.RNN(4, 5), r"expected a torch\.nn\.LSTM, got RNN"),
        (torch.nn.Linear(4, 5), r"expected a torch\.nn\.LSTM, got Linear"),
        (torch.nn.GRUCell(4, 5), r"expected a torch\.nn\.LSTM, got GRUCell"),  # an LSTMCell is traced
        ("an LSTM", r"needs a torch\.nn\.LSTM or an LSTMSpec, got str"),
        (None, r"needs a torch\.nn\.LSTM or an LSTMSpec, got NoneType"),
        (np.zeros((16, 4)), r"needs a torch\.nn\.LSTM or an LSTMSpec, got ndarray"),
    ],
)  # fmt: skip
def test_not_an_lstm(module, pattern):
    with pytest.raises(SpecError, match=pattern):
        trace_lstm(module, torch.zeros(3, 1, 4))


@pytest.mark.parametrize(
    "x,pattern",
    [
        ([["a", "b", "c", "d"]], "input must be numeric"),
        (np.ones((2, 4), complex), r"input must be numeric \(real numbers\), got dtype complex128"),
        (np.ones((2, 4), "m8[s]"), "input must be numeric .*timedelta64"),
        ([[1.0, 2.0], [3.0]], "input must be an array or tensor"),
        ("hello", r"input has shape \(\)"),
    ],
)  # fmt: skip
def test_input_that_is_not_numbers(lstm, x, pattern):
    with pytest.raises(InputError, match=pattern):
        trace_lstm(lstm, x)


def test_spec_errors_name_the_shape():
    spec = LSTMSpec.random(4, 5, 2)
    from dataclasses import replace

    w = spec.weights[1][0]
    with pytest.raises(SpecError, match=r"layer 1 direction 0: W_ih has shape \(20, 4\), "
                                        r"expected \(20, 5\)"):  # fmt: skip
        LSTMSpec(weights=(spec.weights[0], (replace(w, W_ih=np.zeros((20, 4), np.float32)),)))
    with pytest.raises(SpecError, match="float32 or float64"):
        LSTMSpec.random(2, 3, dtype=np.int32)
    with pytest.raises(SpecError, match="at least one layer"):
        LSTMSpec(weights=())


# --- NaN and Inf: recorded, not refused --------------------------------------------------
def _nan_masks_match(trace, out, h_n, c_n):
    L, D, T, P = trace.h.shape
    ours = np.concatenate(list(trace.h[-1]), -1)
    theirs = out.reshape(T, D * P).numpy()
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
    np.testing.assert_array_equal(np.isinf(ours), np.isinf(theirs))
    np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-10)  # NaN == NaN here
    for layer in range(L):
        for d in range(D):
            last = T - 1 if d == 0 else 0
            np.testing.assert_allclose(trace.c[layer, d, last], c_n[layer * D + d, 0].numpy(),
                                       rtol=1e-10, atol=1e-10)  # fmt: skip
            np.testing.assert_allclose(trace.h[layer, d, last], h_n[layer * D + d, 0].numpy(),
                                       rtol=1e-10, atol=1e-10)  # fmt: skip


def _bi():
    torch.manual_seed(2)
    return torch.nn.LSTM(3, 4, 2, bidirectional=True).double().eval()


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_input_is_recorded_like_torch(value):
    m = _bi()
    x = torch.randn(6, 1, 3, dtype=torch.float64)
    x[3, 0, 1] = value
    trace = trace_lstm(m, x)
    with torch.no_grad():
        out, (h_n, c_n) = m(x)
    _nan_masks_match(trace, out, h_n, c_n)
    assert trace.meta["first_nonfinite"] == {"where": "x", "t": 3, "unit": 1}
    if np.isnan(value):  # forward direction is clean before t=3, reverse after it
        assert np.isfinite(trace.c[0, 0, :3]).all() and np.isnan(trace.c[0, 0, 3:]).all()
        assert np.isfinite(trace.c[0, 1, 4:]).all() and np.isnan(trace.c[0, 1, :4]).all()


@pytest.mark.parametrize(
    "param,index,direction,name",
    [
        ("weight_hh_l0", (5, 2), 0, "W_hh"),
        ("weight_ih_l1_reverse", (0, 0), 1, "W_ih"),
        ("bias_hh_l1", (7,), 0, "b_hh"),
    ],
)  # fmt: skip
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_weights_are_recorded_like_torch(param, index, direction, name, value):
    m = _bi()
    with torch.no_grad():
        getattr(m, param)[index] = value
    x = torch.randn(5, 1, 3, dtype=torch.float64)
    h0 = torch.randn(4, 1, 4, dtype=torch.float64)
    c0 = torch.randn(4, 1, 4, dtype=torch.float64)
    trace = trace_lstm(m, x, h0, c0)
    with torch.no_grad():
        out, (h_n, c_n) = m(x, (h0, c0))
    _nan_masks_match(trace, out, h_n, c_n)
    layer = int(param.split("_l")[1][0])
    assert trace.meta["first_nonfinite"] == {
        "where": "weights", "layer": layer, "direction": direction, "name": name,
    }  # fmt: skip


def test_nonfinite_initial_state():
    m = _bi()
    c0 = torch.zeros(4, 1, 4, dtype=torch.float64)
    c0[3, 0, 2] = np.nan
    trace = trace_lstm(m, torch.ones(4, 1, 3, dtype=torch.float64), torch.zeros_like(c0), c0)
    assert trace.meta["first_nonfinite"] == {"where": "c0", "layer": 1, "direction": 1, "unit": 2}
    assert np.isnan(trace.c[1, 1, 3, 2]) and np.isfinite(trace.c[1, 0]).all()


def test_overflow_inside_the_recording_is_located_in_reading_order():
    """Nothing given is non-finite; g overflows at step 4 of 6. The reverse direction reads
    step 4 second, the forward direction fifth, so the reverse direction is reported."""
    acts = CellActivations(g=Activation("Affine", 1e30, 0.0))
    spec = LSTMSpec.random(2, 3, 1, bidirectional=True, seed=5, activations=acts)
    x = np.random.default_rng(5).standard_normal((6, 2)).astype(np.float32)
    x[4] = 1e9
    trace = record(spec, x)
    first = trace.meta["first_nonfinite"]
    assert first["where"] == "g" and first["layer"] == 0
    assert (first["direction"], first["t"]) == (1, 4)
    assert not np.isfinite(trace.g[0, 1, 4, first["unit"]])
    assert np.isfinite(trace.g[0, 0, :4]).all() and np.isfinite(trace.g[0, 1, 5]).all()


def test_finite_run_has_no_nonfinite_note(lstm):
    trace = trace_lstm(lstm, torch.randn(3, 1, 4, dtype=torch.float64))
    assert trace.meta["first_nonfinite"] is None


def test_values_too_big_for_float32_become_inf_without_warnings():
    import warnings

    spec = LSTMSpec.random(2, 3, seed=0)  # float32
    x = np.array([[1.0, 0.5], [1e39, 0.0], [0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail here
        tr = record(spec, x, h0=np.full((1, 3), -1e39))
    assert np.isinf(tr.x[1, 0]) and np.isinf(tr.h0).all()
    assert tr.meta["first_nonfinite"] == {"where": "x", "t": 1, "unit": 0}


def test_trace_lstm_takes_what_torch_takes():
    class MyLSTM(torch.nn.LSTM):
        pass

    torch.manual_seed(0)
    x = torch.randn(4, 1, 2, dtype=torch.float64)
    sub = MyLSTM(2, 3).double()
    with torch.no_grad():
        np.testing.assert_allclose(trace_lstm(sub, x).h[0, 0], sub(x)[0][:, 0].numpy(), atol=1e-12)
        plain = torch.nn.LSTM(2, 3).double()
        scripted = torch.jit.script(plain)
        np.testing.assert_allclose(trace_lstm(scripted, x).h[0, 0], plain(x)[0][:, 0].numpy(),
                                   atol=1e-12)  # fmt: skip
    with pytest.raises(InputError, match="h0 given without c0"):
        trace_lstm(sub, x, torch.zeros(1, 1, 3))
    with pytest.raises(InputError, match="h0 is 2-D but the input is 3-D"):
        trace_lstm(sub, x, torch.zeros(1, 3), torch.zeros(1, 3))
    with pytest.raises(InputError, match="h0 is 3-D but the input is 2-D"):
        trace_lstm(sub, x[:, 0], torch.zeros(1, 1, 3), torch.zeros(1, 1, 3))
