"""Cell-state provenance and retention against the recorded c and against hand computation.

c_t = (Π f) · c_0 + Σ_s (Π f since s) · i_s g_s must hold to rounding on every sample model and
on random configurations (layers, bidirectional, reverse-only, proj_size, peepholes, clip,
input_forget), in both directions; an f of exactly 0 cuts everything before it to exactly 0; an
edit that sets c breaks the identity, and the residual says so.
"""

from __future__ import annotations

import math
import random
import sys
from pathlib import Path

import numpy as np
import pytest

from lstm_engine import (
    ClampGate, LSTMSpec, SetState, branch, half_life, load, open_and_trace, provenance, record,
    retention, steps_to_half,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = sorted((ROOT / "sample_models").glob("*.pt"))
sys.path.insert(0, str(ROOT / "sample_models"))

import train_france  # noqa: E402  (the France sentences, for fresh held-out fillers)


def _relative_residual(p) -> np.ndarray:
    """|residual| over the size of what was summed (Σ |terms|), the scale rounding works on."""
    scale = np.abs(p.initial) + np.abs(p.contributions).sum(axis=-1)
    return np.abs(p.residual) / np.maximum(scale, np.finfo(np.float64).tiny)


def _hand(trace, layer, d, t, u):
    """The decomposition by explicit loops over the reading order, from the stored arrays."""
    T = trace.T
    order = list(range(T - 1, t - 1, -1)) if trace.reads_reversed(d) else list(range(t + 1))
    f = trace.f[layer, d, :, u].astype(np.float64)
    ig = (trace.i[layer, d, :, u] * trace.g[layer, d, :, u]).astype(np.float64)
    contributions = []
    for k, s in enumerate(order):
        decay = 1.0
        for r in order[k + 1 :]:
            decay *= f[r]
        contributions.append(decay * ig[s])
    decay = 1.0
    for r in order:
        decay *= f[r]
    return order, contributions, decay * float(trace.c0[layer, d, u])


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_contributions_sum_to_c_on_every_sample(path):
    trace = open_and_trace(path).trace
    assert trace.c.dtype == np.float32
    worst = 0.0
    for layer in range(trace.num_layers):
        for d in range(trace.num_directions):
            for t in range(trace.T):
                p = provenance(trace, layer, d, t)
                np.testing.assert_array_equal(p.c, trace.c[layer, d, t])
                worst = max(worst, float(_relative_residual(p).max()))
    assert worst < 1e-6, worst


def _configs():
    out = []
    for k, (layers, bi, proj, peep, extra) in enumerate([
        (1, False, 0, False, {}), (2, True, 0, False, {}), (2, True, 3, False, {}),
        (3, False, 2, True, {}), (2, True, 0, True, {"clip": 0.4}), (1, False, 0, False,
        {"input_forget": True}), (2, False, 0, True, {"directions": ("reverse",)}),
        (1, True, 2, True, {"clip": 1.5, "input_forget": True}),
    ]):  # fmt: skip
        out.append((k, layers, bi, proj, peep, extra))
    return out


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-6)])
@pytest.mark.parametrize("cfg", _configs(), ids=lambda c: f"cfg{c[0]}")
def test_contributions_sum_to_c_on_random_configs(cfg, dtype, tol):
    k, layers, bi, proj, peep, extra = cfg
    spec = LSTMSpec.random(3, 5, layers, bidirectional=bi, proj_size=proj, peephole=peep,
                           seed=k, dtype=dtype, **extra)  # fmt: skip
    rng = np.random.default_rng(k)
    x = rng.normal(size=(23, 3)) * 2
    c0 = rng.normal(size=(layers * spec.num_directions, 5))
    trace = record(spec, x, c0=c0)
    for layer in range(layers):
        for d in range(trace.num_directions):
            for t in (0, 7, trace.T - 1):
                p = provenance(trace, layer, d, t)
                assert _relative_residual(p).max() < tol
                u = (t + layer) % 5
                order, contributions, initial = _hand(trace, layer, d, t, u)
                one = provenance(trace, layer, d, t, u)
                assert list(one.positions) == order
                np.testing.assert_allclose(one.contributions, contributions, rtol=1e-12, atol=0)
                assert one.initial == pytest.approx(initial, rel=1e-12, abs=0)
                np.testing.assert_array_equal(p.contributions[u], one.contributions)


def test_reverse_direction_reads_from_the_end():
    spec = LSTMSpec.random(2, 3, bidirectional=True, seed=4, dtype=np.float64)
    trace = record(spec, np.random.default_rng(0).normal(size=(6, 2)))
    p = provenance(trace, 0, 1, 2, 0)
    assert list(p.steps) == [6, 5, 4, 3]
    # what the last position read wrote first, decayed by f at positions 4, 3, 2
    f = trace.f[0, 1, :, 0]
    assert p.contributions[0] == pytest.approx(f[4] * f[3] * f[2] * trace.written[0, 1, 5, 0],
                                               rel=1e-14)  # fmt: skip
    assert p.contributions[-1] == trace.written[0, 1, 2, 0]


def test_a_forget_gate_of_exactly_zero_erases_everything_before_it():
    spec = LSTMSpec.random(2, 4, seed=3, dtype=np.float64)
    parent = record(spec, np.random.default_rng(1).normal(size=(12, 2)), c0=np.ones((1, 4)))
    shut = branch(parent, [ClampGate(layer=0, direction=0, gate="f", t=5, unit=2, value=0.0)])
    p = provenance(shut, 0, 0, 11, 2)
    assert np.all(p.contributions[:5] == 0.0) and p.initial == 0.0  # exactly, not tiny
    assert np.all(p.contributions[5:] != 0.0)
    assert abs(p.residual) <= 1e-12 * np.abs(p.contributions).sum()
    other = provenance(shut, 0, 0, 11, 1)  # the other units were not shut
    assert other.initial != 0.0 and np.all(other.contributions != 0.0)


def test_an_edit_that_sets_c_shows_as_the_residual():
    spec = LSTMSpec.random(2, 4, seed=5, dtype=np.float64)
    parent = record(spec, np.random.default_rng(2).normal(size=(10, 2)))
    edited = branch(parent, [SetState(layer=0, direction=0, name="c", t=4, unit=1, value=3.0)])
    before = provenance(edited, 0, 0, 3, 1)
    after = provenance(edited, 0, 0, 8, 1)
    assert abs(before.residual) < 1e-12
    jump = 3.0 - float(parent.f[0, 0, 4, 1] * parent.c[0, 0, 3, 1]
                       + parent.i[0, 0, 4, 1] * parent.g[0, 0, 4, 1])  # fmt: skip
    decay = float(np.prod(edited.f[0, 0, 5:9, 1]))
    assert after.residual == pytest.approx(jump * decay, rel=1e-9)


def test_france_focus_unit_remembers_the_country_step():
    """The issue's claim on france.pt: at "fluent" the France unit's memory comes from the step
    "France", on the first example and on fresh held-out fillers (seeds the training script does
    not use), each traced by the engine from the checkpoint."""
    trace = open_and_trace(ROOT / "sample_models" / "france.pt").trace
    unit = trace.meta["focus"]["unit"]
    p = provenance(trace, 0, 0, trace.T - 1, unit)
    assert trace.tokens[p.positions[p.largest]] == "France"

    model = load(ROOT / "sample_models" / "france.pt")
    rng = random.Random(31337)
    hits = 0
    n = 30
    for _ in range(n):
        toks, _, (a, _) = train_france.sentence(rng, train_france.TEST_SPAN, "France")
        tr = model.trace(" ".join(toks))
        p = provenance(tr, 0, 0, tr.T - 1, unit)
        hits += int(p.positions[p.largest]) == a - 1
    assert hits >= 0.9 * n, f"the country step is the largest write on {hits} of {n} fillers"


def test_france_country_write_is_kept_to_the_end():
    """Why the country's write is the largest at "fluent": the focus unit still holds over 90%
    of it there (Π f since), and provenance's term for that step is exactly that share of it."""
    trace = open_and_trace(ROOT / "sample_models" / "france.pt").trace
    unit = trace.meta["focus"]["unit"]
    country = trace.tokens.index("France")
    p = provenance(trace, 0, 0, trace.T - 1, unit)
    kept = float(np.prod(trace.f[0, 0, country + 1 :, unit].astype(np.float64)))
    assert p.contributions[country] == pytest.approx(kept * float(trace.written[0, 0, country, unit]),
                                                     rel=1e-12)  # fmt: skip
    assert kept == pytest.approx(float(retention(trace, 0, 0, country + 1, trace.T)[unit]), rel=1e-12)
    assert kept > 0.9  # the country's write survives the 35 steps after it


def test_retention_and_half_life_by_hand():
    spec = LSTMSpec.random(2, 3, bidirectional=True, seed=6, dtype=np.float64)
    trace = record(spec, np.random.default_rng(3).normal(size=(9, 2)))
    for d in range(2):
        f = trace.f[0, d]
        got = retention(trace, 0, d, 2, 6)
        for u in range(3):
            assert got[u] == pytest.approx(f[2, u] * f[3, u] * f[4, u] * f[5, u], rel=1e-14)
            geo = math.exp(sum(math.log(f[t, u]) for t in range(9)) / 9)
            assert half_life(trace, 0, d)[u] == pytest.approx(math.log(0.5) / math.log(geo), rel=1e-12)
        t = 4
        reading = list(range(t - 1, -1, -1)) if d == 1 else list(range(t + 1, 9))
        for u in range(3):
            run, want = 1.0, -1
            for k, r in enumerate(reading):
                run *= f[r, u]
                if run <= 0.5:
                    want = k + 1
                    break
            assert steps_to_half(trace, 0, d, t)[u] == want
    assert np.all(retention(trace, 0, 0, 3, 3) == 1.0)  # an empty span keeps everything


def test_half_life_of_a_constant_gate_and_the_edge_cases():
    spec = LSTMSpec.random(2, 3, seed=7, dtype=np.float64)
    parent = record(spec, np.random.default_rng(4).normal(size=(8, 2)))
    held = branch(parent, [ClampGate(layer=0, direction=0, gate="f", t=0, unit=0, value=0.5,
                                     to_end=True),
                           ClampGate(layer=0, direction=0, gate="f", t=0, unit=1, value=1.0,
                                     to_end=True),
                           ClampGate(layer=0, direction=0, gate="f", t=3, unit=2, value=0.0)])  # fmt: skip
    hl = half_life(held, 0, 0)
    assert hl[0] == pytest.approx(1.0, rel=1e-12)  # f = ½: half is gone after one step
    assert hl[1] == math.inf and hl[2] == 0.0
    assert list(steps_to_half(held, 0, 0, 0)[:2]) == [1, -1]


def test_bad_arguments_are_input_errors():
    from lstm_engine import InputError

    trace = record(LSTMSpec.random(2, 3, seed=1), np.zeros((4, 2)))
    for args in ((1, 0, 0), (0, 1, 0), (0, 0, 4), (0, 0, -1)):
        with pytest.raises(InputError):
            provenance(trace, *args)
    with pytest.raises(InputError):
        provenance(trace, 0, 0, 1, unit=3)
    with pytest.raises(InputError):
        retention(trace, 0, 0, 3, 2)
