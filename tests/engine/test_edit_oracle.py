"""The what-if oracle: a branch equals a fresh run from the edited state.

The issue's definition of an edit, checked literally. For an edit at step t of one
layer and direction, step t is computed here by hand from the weights (what the edit
says the cell does there), and every step after t, in that direction's reading order,
must equal an independent run that starts from the branch's edited (h_t, c_t) as its
initial state: torch.nn.LSTM where torch has the cell, the engine's own `record` (from
step 0 of a fresh one-layer spec, not `branch`) for peepholes. The layers above must
equal a fresh run over the edited layer's output; everything below and before is the
parent's, bit for bit, and the parent never changes. Float64, 1e-10, on 1–3 layers,
bidirectional, proj_size and peepholes. A preview (`until`) is the branch before its
limit and the parent after it.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_engine import (
    Ablate, ClampGate, InputError, LSTMSpec, ReplaceInput, SetState, Trace, branch, record,
)  # fmt: skip

TOL = 1e-10
T = 9
CONFIGS = {
    "1 layer": dict(num_layers=1),
    "2 layers, proj": dict(num_layers=2, proj_size=3),
    "3 layers": dict(num_layers=3),
    "2 layers bidirectional": dict(num_layers=2, bidirectional=True),
    "3 layers bidirectional, peephole": dict(num_layers=3, bidirectional=True, peephole=True),
    "2 layers bidirectional, proj, peephole": dict(num_layers=2, bidirectional=True, proj_size=3,
                                                  peephole=True),
}  # fmt: skip


def _parent(config: str) -> Trace:
    kw = dict(CONFIGS[config])
    spec = LSTMSpec.random(3, 5, kw.pop("num_layers"), seed=21, dtype=np.float64, **kw)
    rng = np.random.default_rng(5)
    L, D = spec.num_layers, spec.num_directions
    return record(spec, rng.standard_normal((T, 3)) * 1.5,
                  rng.standard_normal((L * D, spec.out_size)) * 0.5,
                  rng.standard_normal((L * D, spec.hidden_size)) * 0.5)  # fmt: skip


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def _step_by_hand(w, x_t, h_prev, c_prev, *, clamp=None, set_c=None):
    """One step from the equations, with a gate clamped ((gate, unit, value)) or c set
    ((unit, value)) where the edit says: (i, f, g, o, c, h)."""
    H = w.W_hh.shape[0] // 4
    z = w.W_ih @ x_t + w.b_ih + w.b_hh + w.W_hh @ h_prev
    zi, zf, zg, zo = z.reshape(4, H)
    if w.p_i is not None:
        zi, zf = zi + w.p_i * c_prev, zf + w.p_f * c_prev
    gates = {"i": _sigmoid(zi), "f": _sigmoid(zf), "g": np.tanh(zg)}

    def clamped(name, a):
        if clamp is not None and clamp[0] == name:
            a = a.copy()
            a[slice(None) if clamp[1] is None else clamp[1]] = clamp[2]
        return a

    i, f, g = (clamped(n, gates[n]) for n in "ifg")
    c = f * c_prev + i * g
    if set_c is not None:
        c[slice(None) if set_c[0] is None else set_c[0]] = set_c[1]
    if w.p_o is not None:
        zo = zo + w.p_o * c
    o = clamped("o", _sigmoid(zo))
    h = o * np.tanh(c)
    return i, f, g, o, c, (w.W_hr @ h if w.W_hr is not None else h)


def _fresh_run(spec: LSTMSpec, layer: int, d: int, inp: np.ndarray, h_init, c_init):
    """(i, f, g, o, c, h) of one direction of one layer run over `inp` (in sequence order) from
    (h_init, c_init), each (len(inp), width) in sequence order: torch.nn.LSTM when the cell
    has no peepholes, else the engine's record() on a one-layer spec of those weights."""
    w, reverse = spec.weights[layer][d], spec.reads_reversed(d)
    if w.p_i is None:
        H, P = spec.hidden_size, spec.out_size
        lstm = torch.nn.LSTM(inp.shape[1], H, proj_size=P if w.W_hr is not None else 0,
                             dtype=torch.float64)  # fmt: skip
        with torch.no_grad():
            lstm.weight_ih_l0.copy_(torch.from_numpy(np.array(w.W_ih)))
            lstm.weight_hh_l0.copy_(torch.from_numpy(np.array(w.W_hh)))
            lstm.bias_ih_l0.copy_(torch.from_numpy(np.array(w.b_ih)))
            lstm.bias_hh_l0.copy_(torch.from_numpy(np.array(w.b_hh)))
            if w.W_hr is not None:
                lstm.weight_hr_l0.copy_(torch.from_numpy(np.array(w.W_hr)))
            seq = inp[::-1] if reverse else inp
            h = torch.from_numpy(np.array(h_init))[None, None]
            c = torch.from_numpy(np.array(c_init))[None, None]
            hs, cs = [], []
            for x_t in seq:  # one step at a time, so each step's c is there to compare
                _, (h, c) = lstm(torch.from_numpy(np.array(x_t))[None, None], (h, c))
                hs.append(h[0, 0].numpy().copy())
                cs.append(c[0, 0].numpy().copy())
        hs, cs = np.array(hs), np.array(cs)
        if reverse:
            hs, cs = hs[::-1], cs[::-1]
        return {"c": cs, "h": hs}
    one = LSTMSpec(weights=((w,),), directions=(spec.directions[d],))
    run = record(one, inp, np.asarray(h_init)[None], np.asarray(c_init)[None])
    return {n: getattr(run, n)[0, 0] for n in ("i", "f", "g", "o", "c", "h")}


def _after(t: int, reverse: bool) -> slice:
    """The positions a direction reads after t."""
    return slice(0, t) if reverse else slice(t + 1, T)


def _check_branch(parent: Trace, child: Trace, layer: int, d: int, t: int) -> None:
    """The branch against fresh runs: (layer, d) after its edited step t from the branch's own
    state at t (the step itself is the caller's to check); the layers above from scratch over
    the edited output; everything the edit cannot reach equal to the parent bit for bit."""
    spec = parent.spec
    D = spec.num_directions
    for below in range(layer):
        for name in ("i", "f", "g", "o", "c", "h"):
            np.testing.assert_array_equal(getattr(child, name)[below], getattr(parent, name)[below])
    reverse = spec.reads_reversed(d)
    inp = child.layer_input(layer)
    before = slice(t + 1, T) if reverse else slice(0, t)
    for name in ("c", "h"):
        np.testing.assert_array_equal(getattr(child, name)[layer, d, before],
                                      getattr(parent, name)[layer, d, before])  # fmt: skip
    after = _after(t, reverse)
    if inp[after].shape[0]:
        fresh = _fresh_run(spec, layer, d, inp[after], child.h[layer, d, t], child.c[layer, d, t])
        for name, want in fresh.items():
            np.testing.assert_allclose(getattr(child, name)[layer, d, after], want, rtol=0,
                                       atol=TOL, err_msg=f"{name}, L{layer + 1} d{d}")
    for other in range(D):
        if other != d:
            np.testing.assert_array_equal(child.c[layer, other], parent.c[layer, other])
            np.testing.assert_array_equal(child.h[layer, other], parent.h[layer, other])
    _check_above(parent, child, layer + 1)


def _check_above(parent: Trace, child: Trace, start: int) -> None:
    """Layers start.. of the branch: a fresh run of each over what the edited layer below gives."""
    spec = parent.spec
    for above in range(start, spec.num_layers):
        for dd in range(spec.num_directions):
            fresh = _fresh_run(spec, above, dd, child.layer_input(above), parent.h0[above, dd],
                               parent.c0[above, dd])  # fmt: skip
            for name, want in fresh.items():
                np.testing.assert_allclose(getattr(child, name)[above, dd], want, rtol=0, atol=TOL,
                                           err_msg=f"{name} of L{above + 1} d{dd}")  # fmt: skip


def _snapshot(trace: Trace) -> tuple[str, dict]:
    return trace.identity, {n: np.array(getattr(trace, n)) for n in
                            ("x", "h0", "c0", "i", "f", "g", "o", "c", "h")}  # fmt: skip


def _unchanged(trace: Trace, snap) -> None:
    identity, arrays = snap
    for name, a in arrays.items():
        np.testing.assert_array_equal(getattr(trace, name), a)
    del trace.__dict__["identity"]  # recomputed from the arrays, not the cached answer
    assert trace.identity == identity


def _state_before(trace: Trace, layer: int, d: int, t: int):
    p = t + 1 if trace.reads_reversed(d) else t - 1
    if 0 <= p < T:
        return trace.h[layer, d, p], trace.c[layer, d, p]
    return trace.h0[layer, d], trace.c0[layer, d]


def _where(spec: LSTMSpec):
    """A few (layer, direction, t) spread over the spec: the bottom, the top, the reverse."""
    L, D = spec.num_layers, spec.num_directions
    return sorted({(0, 0, 4), (L - 1, D - 1, 6), (L // 2, 0, 0), (0, D - 1, T - 1)})


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("unit", [2, None], ids=["one unit", "all units"])
def test_set_c_recomputes_h_from_the_edited_memory_then_runs_on(config, unit):
    parent = _parent(config)
    spec = parent.spec
    for layer, d, t in _where(spec):
        snap = _snapshot(parent)
        child = branch(parent, [SetState(name="c", t=t, unit=unit, value=1.25, layer=layer,
                                         direction=d)])  # fmt: skip
        _unchanged(parent, snap)
        w = spec.weights[layer][d]
        h_prev, c_prev = _state_before(parent, layer, d, t)
        want = _step_by_hand(w, parent.layer_input(layer)[t], h_prev, c_prev, set_c=(unit, 1.25))
        for name, v in zip(("i", "f", "g", "o", "c", "h"), want):
            np.testing.assert_allclose(getattr(child, name)[layer, d, t], v, rtol=0, atol=TOL,
                                       err_msg=name)  # fmt: skip
        _check_branch(parent, child, layer, d, t)


@pytest.mark.parametrize("config", CONFIGS)
def test_set_h_replaces_h_only_then_runs_on(config):
    parent = _parent(config)
    for layer, d, t in _where(parent.spec):
        child = branch(parent, [SetState(name="h", t=t, unit=1, value=-0.5, layer=layer,
                                         direction=d)])  # fmt: skip
        for name in ("i", "f", "g", "o", "c"):
            np.testing.assert_array_equal(getattr(child, name)[layer, d, t],
                                          getattr(parent, name)[layer, d, t])  # fmt: skip
        want = np.array(parent.h[layer, d, t])
        want[1] = -0.5
        np.testing.assert_array_equal(child.h[layer, d, t], want)
        _check_branch(parent, child, layer, d, t)


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("gate", ["i", "f", "g", "o"])
def test_a_gate_clamped_at_one_step_is_what_the_step_is_made_of(config, gate):
    parent = _parent(config)
    spec = parent.spec
    for layer, d, t in _where(spec):
        snap = _snapshot(parent)
        child = branch(parent, [ClampGate(gate=gate, t=t, unit=3, value=0.9, layer=layer,
                                          direction=d)])  # fmt: skip
        _unchanged(parent, snap)
        h_prev, c_prev = _state_before(parent, layer, d, t)
        want = _step_by_hand(spec.weights[layer][d], parent.layer_input(layer)[t], h_prev, c_prev,
                             clamp=(gate, 3, 0.9))  # fmt: skip
        for name, v in zip(("i", "f", "g", "o", "c", "h"), want):
            np.testing.assert_allclose(getattr(child, name)[layer, d, t], v, rtol=0, atol=TOL,
                                       err_msg=name)  # fmt: skip
        assert getattr(child, gate)[layer, d, t, 3] == 0.9
        _check_branch(parent, child, layer, d, t)


@pytest.mark.parametrize("config", CONFIGS)
def test_a_replaced_input_reruns_layer_0_from_the_parents_state(config):
    parent = _parent(config)
    spec = parent.spec
    x_new = (0.25, -2.0, 1.0)
    for t in (0, 4, T - 1):
        snap = _snapshot(parent)
        child = branch(parent, [ReplaceInput(t=t, x=x_new)])
        _unchanged(parent, snap)
        np.testing.assert_array_equal(child.x[t], x_new)
        for d in range(spec.num_directions):
            reverse = spec.reads_reversed(d)
            span = slice(0, t + 1) if reverse else slice(t, T)
            h_init, c_init = _state_before(parent, 0, d, t)
            fresh = _fresh_run(spec, 0, d, child.x[span], h_init, c_init)
            for name, want in fresh.items():
                np.testing.assert_allclose(getattr(child, name)[0, d, span], want, rtol=0, atol=TOL)
            before = slice(t + 1, T) if reverse else slice(0, t)
            np.testing.assert_array_equal(child.c[0, d, before], parent.c[0, d, before])
        _check_above(parent, child, 1)


@pytest.mark.parametrize("config", CONFIGS)
def test_ablation_zeroes_c_and_the_units_output_over_its_range(config):
    parent = _parent(config)
    spec = parent.spec
    for layer, d, t in _where(spec):
        for from_t in (None, t):
            snap = _snapshot(parent)
            child = branch(parent, [Ablate(unit=4, from_t=from_t, layer=layer, direction=d)])
            _unchanged(parent, snap)
            reverse = spec.reads_reversed(d)
            span = np.arange(T) if from_t is None else \
                (np.arange(0, t + 1) if reverse else np.arange(t, T))  # fmt: skip
            assert (child.c[layer, d, span, 4] == 0).all()
            assert (child.h_cell[layer, d, span, 4] == 0).all()  # o·tanh(c), before a projection
            if spec.proj_size == 0:
                assert (child.h[layer, d, span, 4] == 0).all()
            # the step after the range's first reads the zeroed state: the c_prev it saw is 0
            inside = span[1:] if not reverse else span[:-1]
            assert (child.c_prev[layer, d, inside, 4] == 0).all()
            _check_above(parent, child, layer + 1)


@pytest.mark.parametrize("config", ["1 layer", "3 layers bidirectional, peephole",
                                    "2 layers bidirectional, proj, peephole"])
def test_f_clamped_to_1_keeps_c_and_adds_only_what_i_g_writes(config):
    parent = _parent(config)
    spec = parent.spec
    for layer, d, t in _where(spec):
        child = branch(parent, [ClampGate(gate="f", t=t, unit=2, value=1.0, to_end=True,
                                          layer=layer, direction=d)])  # fmt: skip
        reverse = spec.reads_reversed(d)
        steps = range(t, -1, -1) if reverse else range(t, T)
        for s in steps:
            assert child.f[layer, d, s, 2] == 1.0
            # exactly: c_t = 1·c_{t−1} + i·g, nothing forgotten
            assert child.c[layer, d, s, 2] == child.c_prev[layer, d, s, 2] \
                + child.i[layer, d, s, 2] * child.g[layer, d, s, 2]  # fmt: skip
            assert child.forgotten[layer, d, s, 2] == 0.0
        first = steps[0]
        c_start = _state_before(parent, layer, d, t)[1][2]
        writes = sum(child.written[layer, d, s, 2] for s in steps)
        last = steps[-1]
        np.testing.assert_allclose(child.c[layer, d, last, 2], c_start + writes, rtol=0, atol=TOL)
        assert child.c_prev[layer, d, first, 2] == c_start


@pytest.mark.parametrize("config", ["1 layer", "3 layers bidirectional, peephole",
                                    "2 layers bidirectional, proj, peephole"])
def test_i_clamped_to_0_makes_c_the_kept_memory_exactly(config):
    parent = _parent(config)
    spec = parent.spec
    for layer, d, t in _where(spec):
        for to_end in (False, True):
            child = branch(parent, [ClampGate(gate="i", t=t, unit=None, value=0.0, to_end=to_end,
                                              layer=layer, direction=d)])  # fmt: skip
            reverse = spec.reads_reversed(d)
            steps = [t] if not to_end else list(range(t, -1, -1) if reverse else range(t, T))
            for s in steps:
                np.testing.assert_array_equal(child.i[layer, d, s], 0.0)
                np.testing.assert_array_equal(child.c[layer, d, s],
                                              child.f[layer, d, s] * child.c_prev[layer, d, s])
                np.testing.assert_array_equal(child.written[layer, d, s], 0.0)
            if not to_end:
                _check_branch(parent, child, layer, d, t)


def test_stacked_edits_are_each_a_fresh_run_from_the_state_they_leave():
    parent = _parent("3 layers bidirectional, peephole")
    first = branch(parent, [SetState(name="c", t=2, unit=0, value=3.0, layer=1)])
    second = branch(first, [SetState(name="h", t=6, unit=2, value=0.0, layer=1)])
    assert second.edits == first.edits + (SetState(name="h", t=6, unit=2, value=0.0, layer=1),)
    _check_branch(first, second, 1, 0, 6)
    both = branch(parent, list(second.edits))
    for name in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_allclose(getattr(both, name), getattr(second, name), rtol=0, atol=TOL)


@pytest.mark.parametrize("config", ["3 layers", "2 layers bidirectional, proj, peephole"])
def test_a_preview_is_the_branch_before_until_and_the_parent_after(config, tmp_path):
    parent = _parent(config)
    spec = parent.spec
    edit = SetState(name="c", t=2, unit=1, value=2.0)
    full = branch(parent, [edit])
    until = 5
    preview = branch(parent, [edit], until=until)
    assert preview.preview_until == until and full.preview_until is None
    assert preview.edits == full.edits and preview.parent == full.parent
    for layer in range(spec.num_layers):
        for d in range(spec.num_directions):
            if spec.reads_reversed(d) and layer == 0:  # untouched by the forward edit
                np.testing.assert_array_equal(preview.c[layer, d], parent.c[layer, d])
            elif not spec.reads_reversed(d):
                for name in ("i", "f", "g", "o", "c", "h"):
                    np.testing.assert_allclose(getattr(preview, name)[layer, d, :until],
                                               getattr(full, name)[layer, d, :until], rtol=0,
                                               atol=TOL)  # fmt: skip
                    np.testing.assert_array_equal(getattr(preview, name)[layer, d, until:],
                                                  getattr(parent, name)[layer, d, until:])
    # a reverse edit's own direction is re-run whole, as the full branch does
    if spec.num_directions == 2:
        back = SetState(name="c", t=6, unit=0, value=-1.0, direction=1)
        np.testing.assert_allclose(branch(parent, [back], until=1).c[0, 1],
                                   branch(parent, [back]).c[0, 1], rtol=0, atol=TOL)  # fmt: skip
    with pytest.raises(InputError, match="preview"):
        preview.save(tmp_path / "preview.npz")
    with pytest.raises(InputError, match="preview"):
        branch(preview, [edit])
    for bad in (0, T + 1, 2.5):
        with pytest.raises(InputError, match="until|whole number"):
            branch(parent, [edit], until=bad)
