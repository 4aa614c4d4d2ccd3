"""Per-unit statistics against direct counts and plain formulas, and the rankings built on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lstm_engine import (
    STAT_KEYS, InputError, LSTMSpec, half_life, label_event, open_and_trace, point_biserial, rank,
    record, token_event, unit_stats,
)  # fmt: skip

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bidir():
    spec = LSTMSpec.random(3, 6, 2, bidirectional=True, seed=11, dtype=np.float64)
    return record(spec, np.random.default_rng(5).normal(size=(40, 3)) * 3)


def test_saturation_fractions_are_direct_counts(bidir):
    s = unit_stats(bidir)
    for layer in range(2):
        for d in range(2):
            for g in ("i", "f", "o"):
                gate = getattr(bidir, g)[layer, d]
                for u in range(6):
                    left = sum(1 for t in range(40) if gate[t, u] < 0.1) / 40
                    right = sum(1 for t in range(40) if gate[t, u] > 0.9) / 40
                    assert s.values[f"{g}_left"][layer, d, u] == left
                    assert s.values[f"{g}_right"][layer, d, u] == right
    assert s.values["i_right"].max() > 0 and s.values["f_left"].max() > 0  # the input saturates some


def test_variance_change_and_half_life(bidir):
    s = unit_stats(bidir)
    for layer in range(2):
        for d in range(2):
            c = bidir.c[layer, d]
            prev = np.empty_like(c)  # the state each step read, in the direction's order
            if d == 0:
                prev[0], prev[1:] = bidir.c0[layer, d], c[:-1]
            else:
                prev[-1], prev[:-1] = bidir.c0[layer, d], c[1:]
            np.testing.assert_allclose(s.values["mean_abs_delta"][layer, d],
                                       np.abs(c - prev).mean(axis=0), rtol=1e-12)  # fmt: skip
            np.testing.assert_allclose(s.values["var_c"][layer, d], c.var(axis=0), rtol=1e-12)
            hcell = bidir.o[layer, d] * np.tanh(c)
            np.testing.assert_allclose(s.values["var_h"][layer, d], hcell.var(axis=0), rtol=1e-12)
            np.testing.assert_array_equal(s.values["half_life"][layer, d], half_life(bidir, layer, d))


def test_rows_number_layers_from_one_and_name_directions(bidir):
    rows = unit_stats(bidir).rows()
    assert len(rows) == 2 * 2 * 6
    assert rows[0]["layer"] == 1 and rows[0]["direction"] == "fwd" and rows[0]["unit"] == 0
    assert rows[6]["direction"] == "rev" and rows[-1]["layer"] == 2 and rows[-1]["unit"] == 5
    assert set(STAT_KEYS) <= set(rows[0])
    s = unit_stats(bidir)
    assert rows[13]["var_c"] == s.values["var_c"][1, 0, 1]


def test_point_biserial_is_pearson_with_the_indicator():
    rng = np.random.default_rng(0)
    series = rng.normal(size=(50, 4))
    event = rng.random(50) < 0.3
    series[:, 1] += 2 * event  # unit 1 follows the event
    series[:, 3] = 1.0  # a constant unit
    r = point_biserial(series, event)
    for u in range(3):
        assert r[u] == pytest.approx(np.corrcoef(series[:, u], event.astype(float))[0, 1], rel=1e-12)
    assert r[3] == 0.0 and r[1] > 0.6
    with pytest.raises(InputError):
        point_biserial(series, np.zeros(50, bool))


def test_token_and_label_events_on_france():
    trace = open_and_trace(ROOT / "sample_models" / "france.pt").trace
    ev = token_event(trace, "the")
    assert ev.sum() == trace.tokens.count("the") and ev[trace.tokens.index("the")]
    pred = trace.output.argmax(axis=1)
    label = trace.labels[pred[-1]]
    np.testing.assert_array_equal(label_event(trace, label), pred == pred[-1])
    with pytest.raises(InputError):
        label_event(trace, "Klingon")


def test_rank_orders_largest_first_with_nan_last():
    v = np.array([[[0.5, np.nan, 2.0]], [[1.0, 2.0, -1.0]]])  # (L=2, D=1, H=3)
    got = [tuple(r) for r in rank(v)]
    assert got == [(0, 0, 2), (1, 0, 1), (1, 0, 0), (0, 0, 0), (1, 0, 2), (0, 0, 1)]
    assert [tuple(r) for r in rank(v, 2, descending=False)] == [(1, 0, 2), (0, 0, 0)]
