"""The quantity registry: each derived quantity defined once, and every reader agrees with it."""

from __future__ import annotations

import numpy as np
import pytest

import lstm_engine
from lstm_engine import ALIASES, QUANTITIES, REGISTRY, VALUE_NAMES, LSTMSpec, record


def _trace(**opts):
    spec = LSTMSpec.random(3, 5, 2, bidirectional=True, seed=4, dtype=np.float64, **opts)
    x = np.random.default_rng(5).normal(size=(7, 3))
    return record(spec, x, np.full((4, spec.out_size), 0.3), np.full((4, 5), -0.7))


def test_the_registry_names_every_value_and_the_table_in_story_order():
    assert VALUE_NAMES == tuple(REGISTRY)
    assert set(QUANTITIES) <= set(VALUE_NAMES) and QUANTITIES[:4] == ("f", "i", "g", "o")
    assert {q.name for q in REGISTRY.values() if q.is_gate} == {"f", "i", "o"}
    assert all(q.kind in ("gate", "state", "effect") for q in REGISTRY.values())
    assert REGISTRY["c_prev"].label_for(False) == "c_t-1"
    assert REGISTRY["c_prev"].label_for(True) == "c_t+1"
    assert ALIASES["delta"] == "delta_c"
    assert all(len(q.label_for(True)) <= 5 for q in REGISTRY.values())


def test_every_derived_quantity_matches_the_equations_in_both_reading_orders():
    tr = _trace()
    for layer in range(2):
        for d in range(2):
            c, c0 = tr.c[layer, d], tr.c0[layer, d]
            # the previous step in reading order: t-1 forwards, t+1 backwards, c0 at the start
            c_prev = np.concatenate([c0[None], c[:-1]]) if d == 0 else np.concatenate([c[1:], c0[None]])
            f, i, g, o = (getattr(tr, n)[layer, d] for n in "figo")
            expect = {
                "c_prev": c_prev, "kept": f * c_prev, "forgotten": (1 - f) * c_prev,
                "written": i * g, "delta_c": c - c_prev, "tanh_c": np.tanh(c),
                "h_cell": o * np.tanh(c),
            }  # fmt: skip
            for name, want in expect.items():
                np.testing.assert_allclose(tr.series(name, layer, d), want, rtol=0, atol=1e-12)
                np.testing.assert_allclose(getattr(tr, name)[layer, d], want, rtol=0, atol=1e-12)
                for t in (0, 3, 6):
                    np.testing.assert_array_equal(tr.value(name, layer, d, t),
                                                  tr.window(name, layer, d, t, t + 1)[0])  # fmt: skip
            np.testing.assert_array_equal(tr.window("delta", layer, d, 2, 5),
                                          tr.window("delta_c", layer, d, 2, 5))  # fmt: skip


def test_windows_share_what_the_formulas_share(monkeypatch):
    tr = _trace()
    calls = []
    real = lstm_engine.core.trace.previous
    monkeypatch.setattr(lstm_engine.core.trace, "previous",
                        lambda *a: calls.append(a[2]) or real(*a))  # fmt: skip
    got = tr.windows(("kept", "forgotten", "delta_c", "c_prev"), 1, 1, 2, 6)
    assert calls == [True]  # one c_prev for all four, in the reverse reading order
    for name, block in got.items():
        np.testing.assert_array_equal(block, tr.window(name, 1, 1, 2, 6))


def test_unknown_names_and_steps_say_what_is_known():
    tr = _trace()
    with pytest.raises(KeyError, match="expected one of f, i, g, o"):
        tr.windows(("kept", "nope"), 0, 0, 0, 2)
    with pytest.raises(IndexError, match="outside the trace"):
        tr.window("kept", 0, 0, 3, 9)
