"""LSTMVis select and match (lstm_engine/select.py) on planted patterns and a hand-ranked trace.

The expected selections and rankings are written by hand from the planted values; one test
also runs a literal port of LSTMVis's own server code (query_similar_activations, with its
run-length encoding) as an independent reference on random data.
"""

from __future__ import annotations

import numpy as np
import pytest

from lstm_engine import InputError, LSTMSpec, Trace, record
from lstm_engine import Selection, match, select_units, span_context, unit_on_mask
from lstm_engine.select import on_mask

ON, OFF = 1.0, 0.05  # tanh(1.0) = 0.76 ≥ 0.3; tanh(0.05) = 0.05 < 0.3


def trace_of(c: np.ndarray, tokens=None, h=None) -> Trace:
    """A trace whose cell state is `c` (T, H); the gates are arbitrary but valid."""
    T, H = c.shape
    z = np.zeros((1, 1, T, H))
    return Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 1, H)), c0=np.zeros((1, 1, H)),
                 i=z + 0.5, f=z + 0.5, g=z, o=z + 0.5, c=c[None, None].astype(float),
                 h=(c if h is None else h)[None, None].astype(float),
                 tokens=tokens)  # fmt: skip


def planted() -> Trace:
    c = np.full((30, 12), OFF)
    c[10:15, [3, 7]] = ON  # on over the span, off before: selected
    c[9:15, 5] = ON  # on in the left padding too: not selected
    c[10:13, 8] = ON  # off on part of the span: not selected
    c[10:16, 9] = ON  # on after the span: selected without right padding only
    c[10:15, 2] = -ON  # strongly negative: tanh < θ, off
    return trace_of(c, tokens=tuple(f"w{k}" for k in range(30)))


def test_select_finds_the_planted_units():
    tr = planted()
    sel = select_units(tr, 10, 15)
    assert sel.units == (3, 7, 9)
    assert (sel.start, sel.stop, sel.threshold, sel.left, sel.right) == (10, 15, 0.3, 1, 0)
    assert select_units(tr, 10, 15, right=1).units == (3, 7)
    assert select_units(tr, 10, 15, left=0).units == (3, 5, 7, 9)
    assert select_units(tr, 10, 13, left=0).units == (3, 5, 7, 8, 9)
    # θ above tanh(1.0) = 0.7616: nothing is on
    assert select_units(tr, 10, 15, threshold=0.77).units == ()
    assert select_units(tr, 10, 15, threshold=0.76).units == (3, 7, 9)


def test_negative_threshold_and_raw_transform():
    tr = planted()
    # θ = -0.5: every unit is on except unit 2 inside the span (tanh(-1) = -0.76)
    assert 2 not in select_units(tr, 10, 15, threshold=-0.5, left=0).units
    assert select_units(tr, 10, 15, threshold=-0.5, left=0).units == tuple(u for u in range(12) if u != 2)
    # raw compares c itself: c = 1.0 ≥ 0.9, while tanh(1.0) = 0.76 < 0.9
    assert select_units(tr, 10, 15, threshold=0.9, transform="raw").units == (3, 7, 9)
    assert select_units(tr, 10, 15, threshold=0.9).units == ()
    with pytest.raises(InputError, match="between -1 and 1"):
        select_units(tr, 10, 15, threshold=1.0)
    with pytest.raises(InputError, match="transform"):
        select_units(tr, 10, 15, transform="abs")


def test_padding_outside_the_sequence_is_off():
    c = np.full((8, 3), OFF)
    c[0:3, 0] = ON
    c[5:8, 1] = ON
    tr = trace_of(c)
    assert select_units(tr, 0, 3).units == (0,)  # no step before position 0: off
    assert select_units(tr, 5, 8, right=2).units == (1,)  # no step after the last: off
    assert select_units(tr, 1, 3).units == ()  # unit 0 was on at position 0


def test_on_mask_is_tanh_at_least_theta():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(20000) * 2
    for theta in (0.3, -0.2, 0.9):
        keep = np.abs(np.tanh(v) - theta) > 1e-9  # away from the cut, where rounding could decide
        assert np.array_equal(on_mask(v, theta)[keep], (np.tanh(v) >= theta)[keep])
    # float32: the cut is compared in float32 without rounding θ's atanh either way
    cut = np.arctanh(0.3)
    below = np.nextafter(np.float32(cut), np.float32(0)) if np.float32(cut) >= cut else np.float32(cut)
    above = np.nextafter(below, np.float32(1))
    got = on_mask(np.array([below, above], dtype=np.float32), 0.3)
    assert got.tolist() == [False, True]
    assert float(below) < cut <= float(above)


def ranking_trace() -> Trace:
    """Units 3 and 7 selected; each place is built for one step of LSTMVis's ranking."""
    c = np.full((80, 10), OFF)
    c[20:23, [3, 7]] = ON  # A: both on, no extra, 3 steps
    c[30:35, [3, 7, 1]] = ON  # B: both on, unit 1 extra, 5 steps
    c[40:42, [3, 7]] = ON  # C: both on, no extra, 2 steps
    c[50:58, 3] = ON  # D: unit 3 alone, 8 steps
    c[59:63, 7] = ON  # E: unit 7 from 59, unit 3 from 60: two candidates
    c[60:63, 3] = ON
    c[70, [3, 7]] = ON  # one step: shorter than LSTMVis's cut-off of 2
    return trace_of(c, tokens=tuple(f"t{k}" for k in range(80)))


def test_match_ranks_as_lstmvis():
    got = match(ranking_trace(), [7, 3])
    rows = [(m.start, m.stop, m.on, m.extra) for m in got]
    assert rows == [
        (20, 23, (3, 7), ()),  # most selected on, fewest in all, longer than C
        (40, 42, (3, 7), ()),  # C: shorter, but no extra unit
        (30, 35, (3, 7), (1,)),  # B: longest of the three, but one extra unit
        (50, 58, (3,), ()),  # one selected unit: longest first
        (59, 63, (7,), ()),  # unit 7 from 59 (unit 3 was off there, so it fails the left pad)
        (60, 63, (3,), ()),  # unit 3 from 60 (unit 7 was on at 59: not a switch-on for it)
    ]
    assert got[0].length == 3 and got[0].input == 0
    assert [m.rank_key() for m in got] == sorted(m.rank_key() for m in got)


def test_match_length_limit_and_min_length():
    tr = ranking_trace()
    assert [(m.start, m.stop) for m in match(tr, [3, 7], length=3)] == [(20, 23), (60, 63)]
    assert [(m.start, m.stop) for m in match(tr, [3, 7], limit=2)] == [(20, 23), (40, 42)]
    one = match(tr, [3, 7], min_length=1)
    assert (70, 71, (3, 7), ()) in [(m.start, m.stop, m.on, m.extra) for m in one]
    assert (70, 71) not in [(m.start, m.stop) for m in match(tr, [3, 7])]
    assert match(tr, []) == ()
    with pytest.raises(InputError, match="unit 10 does not exist"):
        match(tr, [3, 10])


def test_match_takes_a_selection_and_its_settings():
    tr = ranking_trace()
    sel = select_units(tr, 20, 23)
    assert sel.units == (3, 7)
    assert [(m.start, m.stop) for m in match(tr, sel)][:3] == [(20, 23), (40, 42), (30, 35)]
    # with θ above tanh(1), the selection's own θ is used, so nothing is on anywhere
    strict = Selection(units=(3, 7), start=20, stop=23, threshold=0.8)
    assert match(tr, strict) == ()
    # right padding 1 (from the selection): B is still off after it, D too
    padded = Selection(units=(3, 7), start=20, stop=23, right=1)
    assert [(m.start, m.stop) for m in match(tr, padded)][:3] == [(20, 23), (40, 42), (30, 35)]


def test_match_reuses_a_precomputed_mask():
    tr = ranking_trace()
    on = unit_on_mask(tr)
    assert on.shape == (80, 10) and on[20, 3] and not on[19, 3]
    assert [m.start for m in match(tr, [3, 7], on=on)] == [m.start for m in match(tr, [3, 7])]
    with pytest.raises(InputError, match="on mask"):
        match(tr, [3, 7], on=on[:10])


def test_context_stays_inside_the_input():
    tr = ranking_trace()
    before, span, after = span_context(tr, 20, 23, before=2, after=3)
    assert before == ("t18", "t19") and span == ("t20", "t21", "t22") and after == ("t23", "t24", "t25")
    assert span_context(tr, 0, 2, before=5)[0] == ()
    assert span_context(tr, 78, 80, after=5)[2] == ()
    assert span_context(trace_of(np.zeros((4, 2))), 0, 1) is None


def test_any_registry_quantity():
    """delta_c (a formula in the registry) switches on where c jumps, not where it stays high."""
    c = np.full((20, 4), OFF)
    c[5:, 1] = ON  # c of unit 1 jumps at 5 and stays: Δc is on at 5 only
    tr = trace_of(c)
    assert select_units(tr, 5, 6, quantity="delta_c").units == (1,)
    assert select_units(tr, 5, 6, quantity="delta").units == (1,)
    assert select_units(tr, 5, 7, quantity="delta_c").units == ()
    assert select_units(tr, 5, 7, quantity="c").units == (1,)
    # h is a registry quantity of its own width; here h = 2c, so unit 1 at OFF·2 stays off
    h = c * 2
    h[10:12, 2] = ON
    assert select_units(trace_of(c, h=h), 10, 12, quantity="h").units == (2,)
    with pytest.raises(InputError, match="unknown quantity 'q'"):
        select_units(tr, 5, 6, quantity="q")
    with pytest.raises(InputError, match="layer 2 does not exist"):
        select_units(tr, 5, 6, layer=1)
    with pytest.raises(InputError, match="span"):
        select_units(tr, 5, 5)
    with pytest.raises(InputError, match="span"):
        select_units(tr, 15, 21)


def test_a_reverse_direction_reads_its_own_previous_state():
    """Δc of the right-to-left direction is c_t − c_{t+1}; select reads the registry's rule."""
    spec = LSTMSpec.random(2, 5, 1, bidirectional=True, seed=1, dtype=np.float64)
    tr = record(spec, np.random.default_rng(2).standard_normal((9, 2)) * 3)
    dc = tr.c[0, 1, :-1] - tr.c[0, 1, 1:]
    t = 3
    want = tuple(int(u) for u in np.flatnonzero(np.tanh(dc[t]) >= 0.3)
                 if np.tanh(dc[t - 1, u]) < 0.3)  # fmt: skip
    assert select_units(tr, t, t + 1, quantity="delta_c", direction=1).units == want


def test_padding_follows_the_reading_order_of_a_reverse_direction():
    """Right to left, the step read before a span is the position after it."""
    T, H = 20, 6
    c = np.full((1, 2, T, H), OFF)
    c[0, :, 10:15, [1, 4, 5]] = ON
    c[0, :, 15, 4] = ON  # on just after the span: read before it by the reverse direction
    c[0, :, 9, 5] = ON  # on just before the span: read after it by the reverse direction
    z = np.zeros((1, 2, T, H))
    tr = Trace(x=np.zeros((T, 1)), h0=np.zeros((1, 2, H)), c0=np.zeros((1, 2, H)), i=z, f=z, g=z,
               o=z, c=c, h=c)  # fmt: skip
    assert select_units(tr, 10, 15, direction=0).units == (1, 4)
    assert select_units(tr, 10, 15, direction=1).units == (1, 5)
    assert select_units(tr, 10, 15, direction=1, left=0, right=1).units == (1, 4)
    # the one candidate of all three (steps 9..15 hold one unit each: no unit is on over them)
    assert [(m.start, m.stop, m.on) for m in match(tr, [1, 4, 5], direction=1)] == [(10, 15, (1, 5))]
    assert [(m.start, m.stop, m.on) for m in match(tr, [1, 4, 5], direction=0)] == [(10, 15, (1, 4))]


# --- an independent reference: LSTMVis's own server code, ported line for line
def _rle(ia):
    """helper_functions.rle: (run lengths, start positions, values)."""
    n = len(ia)
    y = np.array(ia[1:] != ia[:-1])
    i = np.append(np.where(y), n - 1)
    z = np.diff(np.append(-1, i))
    p = np.cumsum(np.append(0, z))[:-1]
    return z, p, ia[i]


def _lstmvis_match(states, cells, threshold=0.3):
    """data_handler.query_similar_activations, mode "precise", constraints [1, 0], with its
    own filters (pos < 1 and spans reaching the last step are skipped)."""
    corrected = np.arctanh(threshold)
    disc = (states[:, cells] >= corrected).astype(float)
    cs_cand = disc.sum(axis=1)
    test_n, test = len(cells), np.copy(cs_cand)
    cands = {}
    while test_n > 0:
        if test_n != len(cells):
            test[test > test_n] = test_n
        length, positions, value = _rle(test)
        idx = np.argwhere((value == test_n) & (length >= 2))
        for lp in zip(length[idx].flatten().tolist(), positions[idx].flatten().tolist()):
            cands.setdefault(lp, lp)
        test_n -= 1
    res = []
    for ml, pos in cands.values():
        if pos < 1 or pos + ml + 1 > states.shape[0]:
            continue
        cs = np.where(states[pos - 1 : pos + ml + 1] < corrected, -1.0, 1.0)
        mask = np.ones(ml + 2)
        mask[0], mask[ml + 1] = -1, 0
        active = np.where(mask.dot(cs) == ml + 1)[0]
        inter, union = np.intersect1d(active, cells), np.union1d(active, cells)
        res.append((pos, ml, len(inter), len(union)))
    return res


def test_match_agrees_with_lstmvis_server_code():
    rng = np.random.default_rng(7)
    for trial in range(5):
        T, H = 400, 16
        c = rng.standard_normal((T, H)) * 0.4 + (rng.random((T, H)) < 0.2) * 0.8
        c[0] = c[-2:] = -1  # off at both ends, where LSTMVis skips candidates
        cells = sorted(rng.choice(H, size=3 + trial % 3, replace=False).tolist())
        ref = _lstmvis_match(c, cells)
        got = match(trace_of(c), cells, limit=None)
        assert len(got) > 5
        ours = {(m.start, m.length, len(m.on), len(cells) + len(m.extra)) for m in got}
        assert ours == {r for r in ref if r[2] > 0}
        key = [(-r[2], r[3], -r[1], r[0]) for r in ref if r[2] > 0]
        assert [(m.start, m.length) for m in got] == [(k[3], -k[2]) for k in sorted(key)]
