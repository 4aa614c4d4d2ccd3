"""What torch lacks: peepholes, per-gate activations, clipping, coupled input-forget.

The reference below is deliberately naive and shares no code with the engine:
plain Python floats and `math`, one unit at a time, written straight from
Gers & Schmidhuber (2000) and the ONNX LSTM operator's definitions.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from lstm_engine import Activation, CellActivations, LSTMSpec, Recorder, SpecError, record
from lstm_engine.core.activations import ACTIVATION_NAMES


# ONNX operator definitions, one scalar at a time
def _ref_act(name, alpha, beta):
    return {
        "Sigmoid": lambda x: 1.0 / (1.0 + math.exp(-x)) if x > -700 else 0.0,
        "Tanh": math.tanh,
        "Relu": lambda x: max(0.0, x),
        "Affine": lambda x: alpha * x + beta,
        "LeakyRelu": lambda x: x if x >= 0 else alpha * x,
        "ThresholdedRelu": lambda x: x if x > alpha else 0.0,
        "ScaledTanh": lambda x: alpha * math.tanh(beta * x),
        "HardSigmoid": lambda x: max(0.0, min(1.0, alpha * x + beta)),
        "Elu": lambda x: x if x >= 0 else alpha * (math.exp(x) - 1.0),
        "Softsign": lambda x: x / (1.0 + abs(x)),
        "Softplus": lambda x: math.log1p(math.exp(x)) if x < 30 else x + math.log1p(math.exp(-x)),
    }[name]


def reference_lstm(spec: LSTMSpec, x: np.ndarray, h0=None, c0=None):
    """Unidirectional stacks only; returns per layer lists of (i, f, g, o, c, h) per step."""
    acts = spec.activations
    fn = {k: _ref_act(a.name, a.alpha, a.beta) for k in "ifgoc" for a in [getattr(acts, k)]}
    clip = spec.clip
    cl = (lambda v: max(-clip, min(clip, v))) if clip is not None else (lambda v: v)
    H, P = spec.hidden_size, spec.out_size
    layer_in = [list(map(float, row)) for row in x]
    result = []
    for layer, (w,) in enumerate(spec.weights):
        h = [0.0] * P if h0 is None else list(map(float, h0[layer]))
        c = [0.0] * H if c0 is None else list(map(float, c0[layer]))
        steps = []
        for xt in layer_in:
            pre = []
            for r in range(4 * H):
                s = sum(float(w.W_ih[r, k]) * xt[k] for k in range(len(xt)))
                s += sum(float(w.W_hh[r, k]) * h[k] for k in range(P))
                if w.b_ih is not None:
                    s += float(w.b_ih[r]) + float(w.b_hh[r])
                pre.append(s)
            i, f, g, o, c_new, h_cell = [], [], [], [], [], []
            for u in range(H):
                zi, zf, zg, zo = pre[u], pre[H + u], pre[2 * H + u], pre[3 * H + u]
                if w.p_i is not None:
                    zi += float(w.p_i[u]) * c[u]  # input gate sees c_{t-1}
                    zf += float(w.p_f[u]) * c[u]  # forget gate sees c_{t-1}
                iu = fn["i"](cl(zi))
                fu = 1.0 - iu if spec.input_forget else fn["f"](cl(zf))
                gu = fn["g"](cl(zg))
                cu = fu * c[u] + iu * gu
                if w.p_o is not None:
                    zo += float(w.p_o[u]) * cu  # output gate sees c_t
                ou = fn["o"](cl(zo))
                i.append(iu), f.append(fu), g.append(gu), o.append(ou), c_new.append(cu)
                h_cell.append(ou * fn["c"](cu))
            if w.W_hr is not None:
                h = [sum(float(w.W_hr[p, u]) * h_cell[u] for u in range(H)) for p in range(P)]
            else:
                h = h_cell
            c = c_new
            steps.append((i, f, g, o, c, h))
        result.append(steps)
        layer_in = [s[5] for s in steps]
    return result


def _check(trace, ref, tol=1e-12):
    for layer, steps in enumerate(ref):
        for t, vals in enumerate(steps):
            for name, v in zip("ifgoch", vals):
                np.testing.assert_allclose(
                    getattr(trace, name)[layer, 0, t], v, rtol=tol, atol=tol,
                    err_msg=f"{name} layer {layer} t {t}",
                )  # fmt: skip


def _x(T=6, n=3, seed=0, scale=1.5):
    return np.random.default_rng(seed).standard_normal((T, n)) * scale


@pytest.mark.parametrize("layers,proj,bias", [(1, 0, True), (2, 0, False), (2, 2, True)])
def test_peephole_against_reference(layers, proj, bias):
    spec = LSTMSpec.random(3, 4, layers, peephole=True, proj_size=proj, bias=bias,
                           seed=11, dtype=np.float64)  # fmt: skip
    # peephole weights large enough that ignoring (or misplacing) them changes the gates
    spec = _scaled_peepholes(spec, 4.0)
    rng = np.random.default_rng(5)
    h0 = rng.standard_normal((layers, proj or 4))
    c0 = rng.standard_normal((layers, 4)) * 2
    x = _x()
    trace = record(spec, x, h0, c0)
    _check(trace, reference_lstm(spec, x, h0, c0))
    assert trace.meta["config"]["peephole"] and "peephole" in spec.summary()


def _scaled_peepholes(spec, k):
    from dataclasses import replace

    return replace(spec, weights=tuple(
        tuple(replace(w, p_i=w.p_i * k, p_f=w.p_f * k, p_o=w.p_o * k) for w in dirs)
        for dirs in spec.weights
    ))  # fmt: skip


def test_output_peephole_reads_the_new_cell_state():
    """o sees c_t, i and f see c_{t-1}: swapping them gives different numbers."""
    spec = _scaled_peepholes(LSTMSpec.random(2, 3, peephole=True, seed=2, dtype=np.float64), 5)
    x = _x(T=4, n=2, seed=3)
    trace = record(spec, x)
    w = spec.weights[0][0]
    c_prev, c = trace.c_prev[0, 0], trace.c[0, 0]
    z = trace.z[0, 0]  # pre-activations after the peephole terms
    zx = x @ w.W_ih.T + w.b_ih + w.b_hh + trace.h_prev[0, 0] @ w.W_hh.T
    H = 3
    np.testing.assert_allclose(z[:, 0], zx[:, :H] + w.p_i * c_prev, rtol=1e-13)
    np.testing.assert_allclose(z[:, 1], zx[:, H:2 * H] + w.p_f * c_prev, rtol=1e-13)
    np.testing.assert_allclose(z[:, 2], zx[:, 2 * H:3 * H], rtol=1e-13)
    np.testing.assert_allclose(z[:, 3], zx[:, 3 * H:] + w.p_o * c, rtol=1e-13)
    assert not np.allclose(w.p_o * c, w.p_o * c_prev)


@pytest.mark.parametrize("name", ACTIVATION_NAMES)
def test_each_activation_matches_onnx_definition(name):
    z = np.concatenate([np.linspace(-6, 6, 97), [0.0, 1.0, -1.0, 0.5, 2.0, 1e-8, -1e-8]])
    custom = {"Affine": (0.7, -0.2), "LeakyRelu": (0.05, None), "ThresholdedRelu": (0.5, None),
              "ScaledTanh": (1.7, 0.6), "HardSigmoid": (0.3, 0.4), "Elu": (0.8, None)}  # fmt: skip
    variants = [Activation(name)]
    if name in custom:
        variants.append(Activation(name, *custom[name]))
    onnx_defaults = {"LeakyRelu": (0.01, None), "ThresholdedRelu": (1.0, None),
                     "HardSigmoid": (0.2, 0.5), "Elu": (1.0, None)}  # fmt: skip
    if name in onnx_defaults:
        assert (variants[0].alpha, variants[0].beta) == onnx_defaults[name]
    for act in variants:
        ref = np.array([_ref_act(act.name, act.alpha, act.beta)(float(v)) for v in z])
        np.testing.assert_allclose(act(z), ref, rtol=1e-14, atol=1e-15, err_msg=str(act))
        np.testing.assert_allclose(act(z.astype(np.float32)), ref, rtol=1e-6, atol=1e-6)
        buf = z.copy()
        assert act(buf, out=buf) is buf  # in place, as the cell uses it
        np.testing.assert_allclose(buf, ref, rtol=1e-14, atol=1e-15)
        assert Activation.from_json(act.to_json()) == act


def test_activation_names_are_case_insensitive_and_checked():
    assert Activation("hardsigmoid") == Activation("HardSigmoid")
    with pytest.raises(SpecError, match="unknown activation 'Swish'.*Sigmoid"):
        Activation("Swish")


@pytest.mark.parametrize("alpha, message", [
    ("x", "HardSigmoid alpha must be a number, got 'x'"),
    (True, "must be a number, got True"),
    ([0.2], "must be a number"),
    (float("nan"), "must be finite"),
])  # fmt: skip
def test_activation_parameters_from_files_are_checked(alpha, message):
    with pytest.raises(SpecError, match=message):
        Activation("HardSigmoid", alpha)
    with pytest.raises(SpecError, match=message):
        CellActivations.from_json({"i": {"name": "HardSigmoid", "alpha": alpha}})
    assert Activation("HardSigmoid", np.float32(0.25)).alpha == 0.25


def test_activation_configs_of_the_wrong_shape_are_spec_errors():
    with pytest.raises(SpecError, match="must map gates"):
        CellActivations.from_json(["Sigmoid"])
    with pytest.raises(SpecError, match="unknown gates"):
        CellActivations.from_json({"q": "Sigmoid"})
    with pytest.raises(SpecError, match="activation name must be a string"):
        Activation(3)


CUSTOM_CELLS = {
    "keras hard_sigmoid": CellActivations(i=Activation("HardSigmoid"), f=Activation("HardSigmoid"),
                                          o=Activation("HardSigmoid")),
    "mixed": CellActivations(i=Activation("HardSigmoid", 0.3, 0.45), f=Activation("Sigmoid"),
                             g=Activation("Softsign"), o=Activation("Affine", 0.2, 0.5),
                             c=Activation("ScaledTanh", 1.5, 0.7)),
    "relu family": CellActivations(g=Activation("Relu"), c=Activation("Elu", 0.6),
                                   i=Activation("Softplus"), o=Activation("LeakyRelu", 0.1)),
    "thresholded": CellActivations(g=Activation("ThresholdedRelu", 0.3), c=Activation("Tanh")),
}  # fmt: skip


@pytest.mark.parametrize("which", CUSTOM_CELLS)
@pytest.mark.parametrize("peephole", [False, True])
def test_custom_activations_against_reference(which, peephole):
    spec = LSTMSpec.random(3, 4, 2, peephole=peephole, seed=8, dtype=np.float64,
                           activations=CUSTOM_CELLS[which])  # fmt: skip
    x = _x(T=5, seed=9)
    trace = record(spec, x)
    _check(trace, reference_lstm(spec, x))
    assert trace.meta["config"]["activations"]["i"]["name"] == CUSTOM_CELLS[which].i.name
    # tanh_c is the cell's own output activation, not tanh
    np.testing.assert_allclose(trace.tanh_c, CUSTOM_CELLS[which].c(trace.c), rtol=1e-15)


@pytest.mark.parametrize("peephole", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_clip_bounds_every_pre_activation(peephole, dtype):
    spec = LSTMSpec.random(3, 4, 2, peephole=peephole, seed=13, dtype=np.float64, clip=0.3)
    if peephole:
        spec = _scaled_peepholes(spec, 6.0)
    x = _x(T=6, seed=14, scale=4.0)
    ref = reference_lstm(spec, x)
    trace = record(spec.astype(dtype), x)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    _check(trace, ref, tol)
    assert np.abs(trace.z).max() <= 0.3 + 1e-7
    assert np.isclose(np.abs(trace.z).max(), 0.3)  # the clip was actually reached
    assert "clip 0.3" in spec.summary()


@pytest.mark.parametrize("peephole", [False, True])
def test_input_forget_couples_f_to_i(peephole):
    spec = LSTMSpec.random(3, 4, 1, peephole=peephole, seed=21, dtype=np.float64,
                           input_forget=True)  # fmt: skip
    x = _x(T=6, seed=22)
    trace = record(spec, x)
    _check(trace, reference_lstm(spec, x))
    np.testing.assert_array_equal(trace.f, 1.0 - trace.i)


def test_recorder_feed_uses_the_same_variants():
    """feed() goes through the same step: peephole, custom activations and clip included."""
    spec = LSTMSpec.random(3, 4, 2, peephole=True, seed=31, dtype=np.float64, clip=2.0,
                           activations=CUSTOM_CELLS["mixed"])  # fmt: skip
    x = _x(T=5, seed=32)
    rec = Recorder(spec)
    for row in x:
        fed = rec.feed(row)
    _check(fed, reference_lstm(spec, x))


def test_bad_options_are_spec_errors():
    with pytest.raises(SpecError, match="clip must be positive"):
        LSTMSpec.random(2, 3, clip=0.0)
    spec = LSTMSpec.random(2, 3, peephole=True)
    from dataclasses import replace

    w = spec.weights[0][0]
    with pytest.raises(SpecError, match="peepholes p_i, p_f, p_o must all be given or none"):
        LSTMSpec(weights=((replace(w, p_o=None),),))
    with pytest.raises(SpecError, match=r"p_f has shape \(2,\), expected \(3,\)"):
        LSTMSpec(weights=((replace(w, p_f=np.zeros(2, np.float32)),),))


def test_softplus_overflows_where_onnxruntime_does():
    z = np.array([-30.0, 0.0, 50.0, 88.0, 89.0, 1e4], np.float32)
    got = Activation("Softplus")(z)
    with np.errstate(over="ignore"):
        expect = np.log(np.float32(1) + np.exp(z))  # onnxruntime's formula, in float32
    np.testing.assert_array_equal(got, expect)
    assert np.isinf(got[-2:]).all() and np.isfinite(got[:-2]).all()
