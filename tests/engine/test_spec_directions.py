"""How a spec says each direction reads, and which functions each direction uses."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_engine import Activation, CellActivations, LSTMSpec, Recorder, SpecError, record

HARD = CellActivations(i=Activation("HardSigmoid", 0.2, 0.5), f=Activation("HardSigmoid", 0.2, 0.5),
                       o=Activation("HardSigmoid", 0.2, 0.5))  # fmt: skip


def test_directions_default_from_the_weights_and_are_checked():
    uni, bi = LSTMSpec.random(3, 4), LSTMSpec.random(3, 4, bidirectional=True)
    assert uni.directions == ("forward",) and bi.directions == ("forward", "reverse")
    assert not uni.reads_reversed(0) and bi.reads_reversed(1) and not bi.reads_reversed(0)
    rev = LSTMSpec(weights=uni.weights, directions=("reverse",))
    assert rev.reads_reversed(0) and rev.config()["directions"] == ["reverse"]
    for bad, weights in ((("reverse", "forward"), bi.weights), (("forward", "forward"), bi.weights),
                         (("sideways",), uni.weights), (("forward", "reverse"), uni.weights)):
        with pytest.raises(SpecError, match="directions"):
            LSTMSpec(weights=weights, directions=bad)


def test_a_right_to_left_lstm_reads_from_the_end():
    spec = LSTMSpec(weights=LSTMSpec.random(2, 3, seed=1).weights, directions=("reverse",))
    x = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    tr = record(spec, x)
    # reading x backwards left to right gives the same states, mirrored
    fwd = record(LSTMSpec(weights=spec.weights), x[::-1])
    np.testing.assert_array_equal(tr.c[0, 0], fwd.c[0, 0][::-1])
    np.testing.assert_array_equal(tr.h[0, 0], fwd.h[0, 0][::-1])
    with pytest.raises(SpecError, match="right-to-left LSTM reads the sequence from its end"):
        Recorder(spec)


def test_per_direction_activations_collapse_when_equal_and_are_used_per_direction():
    base = LSTMSpec.random(3, 4, 2, bidirectional=True, seed=2)
    same = LSTMSpec(weights=base.weights, activations=((HARD, HARD), (HARD, HARD)))
    assert same.activations == HARD  # one set everywhere stays one set
    mixed = LSTMSpec(weights=base.weights,
                     activations=((CellActivations(), HARD), (HARD, CellActivations())))  # fmt: skip
    assert mixed.cell_activations(0, 1) == HARD and mixed.cell_activations(1, 0) == HARD
    assert mixed.cell_activations(0, 0) == CellActivations() and not mixed.standard_activations
    x = np.random.default_rng(3).normal(size=(5, 3)).astype(np.float32)
    tr = record(mixed, x)
    # layer 0 forward is torch's cell: its gates are the plain sigmoid of z
    z = tr.z[0, 0]
    np.testing.assert_allclose(tr.f[0, 0], 1 / (1 + np.exp(-z[:, 1])), rtol=1e-6)
    # layer 0 reverse uses HardSigmoid: clip(0.2 z + 0.5, 0, 1)
    np.testing.assert_allclose(tr.f[0, 1], np.clip(0.2 * tr.z[0, 1][:, 1] + 0.5, 0, 1), rtol=1e-6)
    with pytest.raises(SpecError, match="one per layer and direction"):
        LSTMSpec(weights=base.weights, activations=((HARD,), (HARD,)))


def test_a_spec_without_units_is_refused():
    """A hidden size of 0 used to open and crash the UI later (issue 9, degenerate shapes)."""
    from lstm_engine import CellWeights

    w = CellWeights(W_ih=np.zeros((0, 3), np.float32), W_hh=np.zeros((0, 0), np.float32))
    with pytest.raises(SpecError, match="at least one unit"):
        LSTMSpec(weights=((w,),))
