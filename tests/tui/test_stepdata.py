"""The per-step data behind the panels equals the engine's values, windowed or not."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_engine import QUANTITIES
from lstm_tui.source import guess_output_kind, probabilities
from lstm_tui.stepdata import SORTS, TraceData, sort_order, step_values, unit_series, window
from lstm_tui.widgets.heatmap_view import follow
from lstm_tui.widgets.sequence_strip import processed, visible_range
from lstm_tui.widgets.unit_table import fmt

from tui_helpers import synthetic_source


@pytest.mark.parametrize("direction", [0, 1])
@pytest.mark.parametrize("name", ["c", "h", "f", "i", "o", "g", "delta_c"])
def test_window_equals_the_full_derived_array(name, direction):
    tr = synthetic_source(layers=2, bidirectional=True, hidden=7, T=11, seed=1).trace
    units = np.array([0, 3, 6])
    for t0, t1 in [(0, 11), (0, 4), (3, 9), (7, 11)]:
        got = window(tr, name, 1, direction, t0, t1, units)
        want = tr.series(name, 1, direction)[t0:t1][:, units].T
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_projected_h_window_is_o_tanh_c():
    tr = synthetic_source(hidden=6, proj=2, T=5, seed=2).trace
    got = window(tr, "h", 0, 0, 0, 5, np.arange(6))
    np.testing.assert_allclose(got, tr.h_cell[0, 0].T, atol=1e-12)


def test_step_values_are_the_engines():
    tr = synthetic_source(layers=2, bidirectional=True, hidden=5, T=6, seed=3).trace
    vals = step_values(tr, 1, 1, 2)
    for q in QUANTITIES:
        np.testing.assert_allclose(vals[q], getattr(tr, q)[1, 1, 2], atol=1e-12, err_msg=q)


def test_sort_orders():
    vals = {"c": np.array([0.1, -0.9, 0.5]), "f": np.array([0.2, 0.9, 0.5]),
            "delta_c": np.array([0.3, -0.4, 0.4])}  # fmt: skip
    assert list(sort_order(vals, "unit")) == [0, 1, 2]
    assert list(sort_order(vals, "c")) == [1, 2, 0]  # by |c|
    assert list(sort_order(vals, "f")) == [1, 2, 0]  # gates high to low
    assert list(sort_order(vals, "delta_c")) == [1, 2, 0]  # ties keep unit order
    assert SORTS[:2] == ("unit", "delta_c")


def test_step_cache_returns_the_same_object_until_evicted():
    tr = synthetic_source().trace
    data = TraceData(tr, steps=2)
    a = data.columns(0, 0, 1, "unit")
    assert data.columns(0, 0, 1, "unit") is a
    data.columns(0, 0, 2, "unit")
    data.columns(0, 0, 3, "unit")
    assert data.columns(0, 0, 1, "unit") is not a


def test_unit_series_is_one_unit_over_time():
    tr = synthetic_source(hidden=4, T=9).trace
    s = unit_series(tr, 0, 0, 2)
    np.testing.assert_allclose(s["c"], tr.c[0, 0, :, 2])
    np.testing.assert_allclose(s["f"], tr.f[0, 0, :, 2])


def test_number_format_keeps_two_decimals_when_it_fits():
    assert fmt(0.934, 5, gate=True) == " 0.93"
    assert fmt(-0.5, 5, gate=False) == "-0.50"
    assert fmt(12.345, 6, gate=False) == "+12.35"
    assert fmt(12.345, 5, gate=False) == "+12.3"
    assert fmt(float("nan"), 5, gate=False) == "  nan"
    # one formatter: infinity only for infinity, a large finite value in short exponent form
    assert fmt(1e6, 5, gate=False) == " +1e6" and fmt(-2.5e7, 5, gate=False) == " -2e7"
    assert fmt(float("inf"), 5, gate=False) == " +inf" and fmt(float("-inf"), 5, gate=True) == " -inf"
    assert fmt(123456.0, 8, gate=False) == " +123456"


def test_output_kinds():
    logits = np.array([[1.0, 2.0, 0.5]])
    logp = logits - np.log(np.exp(logits).sum())
    assert guess_output_kind(logp) == "log_prob"
    assert guess_output_kind(np.exp(logp)) == "prob"
    assert guess_output_kind(logits) == "logit"
    for kind, row in (("log_prob", logp[0]), ("prob", np.exp(logp[0])), ("logit", logits[0])):
        np.testing.assert_allclose(probabilities(row, kind), np.exp(logp[0]))


def test_strip_helpers():
    assert processed(3, 2, 0) and not processed(3, 4, 0)
    assert processed(3, 4, 1) and not processed(3, 2, 1)  # reverse reads right to left
    a, b = visible_range([5] * 100, 50, 30)
    assert a <= 50 < b and b - a == 6
    assert follow(0, 3, 10, 100) == 0
    assert follow(0, 12, 10, 100) == 3
    assert follow(50, 20, 10, 100) == 20


def test_ascending_sort_orders_and_nans_last():
    vals = {"c": np.array([0.1, -0.9, 0.5, np.nan]), "f": np.array([0.2, 0.9, 0.01, np.nan]),
            "delta_c": np.array([0.3, -0.3, 0.4, 0.0])}  # fmt: skip
    assert list(sort_order(vals, "f", descending=False)) == [2, 0, 1, 3]  # f ≈ 0 first
    assert list(sort_order(vals, "f")) == [1, 0, 2, 3]
    assert list(sort_order(vals, "c", descending=False)) == [0, 2, 1, 3]  # by |c|
    assert list(sort_order(vals, "delta_c", descending=False)) == [3, 0, 1, 2]  # ties stable
    assert list(sort_order(vals, "unit", descending=False)) == [3, 2, 1, 0]


def test_labels_follow_the_direction_and_say_magnitude():
    from lstm_tui.stepdata import column_label, sort_label

    assert column_label("c_prev", 0) == "c_t-1" and column_label("c_prev", 1) == "c_t+1"
    assert sort_label("g") == "|g| ↓" and sort_label("f") == "f ↓"
    assert sort_label("f", descending=False) == "f ↑"
    assert sort_label("c_prev", 1) == "|c_t+1| ↓"


def test_number_widths_cover_every_value_with_two_decimals():
    from lstm_tui.stepdata import number_widths

    for src in (synthetic_source(layers=2, bidirectional=True, hidden=7, T=9, seed=4),
                synthetic_source(hidden=5, proj=2, T=6, seed=2)):  # fmt: skip
        tr = src.trace
        for layer in range(tr.num_layers):
            for d in range(tr.num_directions):
                widths = number_widths(tr, layer, d)
                for t in range(tr.T):
                    for q, col in step_values(tr, layer, d, t).items():
                        for v in col:
                            text = f"{v:.2f}" if q in ("f", "i", "o") else f"{v:+.2f}"
                            assert len(text) <= widths[q], (q, v, widths[q])
    # gates take 4 characters (0.00–1.00), bounded signed columns 5 (+0.00)
    tr = synthetic_source(hidden=3, T=4).trace
    assert number_widths(tr, 0, 0)["f"] == 4 and number_widths(tr, 0, 0)["g"] == 5
