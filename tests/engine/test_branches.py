"""Branches: what-if edits re-run what they can reach, against independent computations.

The oracle is a plain numpy loop written from the equations (float64), with
each edit's intervention stated here by hand, not taken from the engine; the
plain cell is also checked against torch's nn.LSTM from the edited state, as
micrograd checks its engine against torch. The other half of the contract is
exactness: a branch that changes nothing is its parent bit for bit, steps an
edit cannot reach are copied, not recomputed, and the parent never changes.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

import lstm_engine.core.recorder as recorder_module
from lstm_engine import (
    Ablate, ClampGate, InputError, LoadError, LSTMSpec, Recorder, ReplaceInput, SetState, Trace,
    branch,
    edit_from_json, reach, record,
)  # fmt: skip
from lstm_engine.core.cell import lstm_step

STORED = ("x", "h0", "c0", "i", "f", "g", "o", "c", "h")
T = 8


def _spec(kind: str, dtype=np.float64) -> LSTMSpec:
    if kind == "uni":
        return LSTMSpec.random(3, 5, 1, seed=1, dtype=dtype)
    if kind == "bi":
        return LSTMSpec.random(3, 5, 1, bidirectional=True, seed=2, dtype=dtype)
    if kind == "stacked bi":
        return LSTMSpec.random(3, 5, 2, bidirectional=True, seed=3, dtype=dtype)
    if kind == "stacked bi peephole proj":
        return LSTMSpec.random(3, 5, 2, bidirectional=True, peephole=True, proj_size=3, seed=4,
                               dtype=dtype)  # fmt: skip
    if kind == "reverse only":
        return dataclasses.replace(LSTMSpec.random(3, 5, 1, seed=5, dtype=dtype),
                                   directions=("reverse",))  # fmt: skip
    raise AssertionError(kind)


CONFIGS = ("uni", "bi", "stacked bi", "stacked bi peephole proj", "reverse only")


def _recording(kind: str, dtype=np.float64, keep_z=True, T=T) -> Trace:
    spec = _spec(kind, dtype)
    rng = np.random.default_rng(11)
    L, D = spec.num_layers, spec.num_directions
    x = rng.standard_normal((T, 3)) * 2
    h0 = rng.standard_normal((L * D, spec.out_size))
    c0 = rng.standard_normal((L * D, spec.hidden_size))
    return record(spec, x, h0, c0, keep_z=keep_z, tokens=tuple(f"w{t}" for t in range(T)),
                  output=rng.standard_normal((T, 2)), labels=("A", "B"))  # fmt: skip


# --- the oracle ----------------------------------------------------------------------------
def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def oracle(trace: Trace, interventions, x_new=None):
    """Every layer and direction from the equations, in float64, with the interventions.

    interventions: (layer, direction, positions, what, unit, value), applied in order where
    `what` is used: a gate after its activation, c before o's peephole and tanh, h_cell (the
    unit's o·tanh(c), before any projection), h last. x_new: {t: replacement input}.
    """
    spec = trace.spec
    L, D, H, P = spec.num_layers, spec.num_directions, spec.hidden_size, spec.out_size
    x = trace.x.astype(np.float64)
    for t, v in (x_new or {}).items():
        x[t] = v
    out = {n: np.zeros((L, D, T, H)) for n in "ifgoc"}
    out["h"] = np.zeros((L, D, T, P))
    layer_in = x
    for layer in range(L):
        for d in range(D):
            w = {k: v.astype(np.float64) for k, v in spec.weights[layer][d].arrays().items()}
            reverse = spec.directions[d] == "reverse"
            h, c = trace.h0[layer, d].astype(np.float64), trace.c0[layer, d].astype(np.float64)
            for t in (range(T - 1, -1, -1) if reverse else range(T)):

                def put(what, a):
                    for lay, dd, positions, name, unit, value in interventions:
                        if (lay, dd, name) == (layer, d, what) and t in positions:
                            a[slice(None) if unit is None else unit] = value
                    return a

                z = w["W_ih"] @ layer_in[t] + w["b_ih"] + w["b_hh"] + w["W_hh"] @ h
                zi, zf, zg, zo = z.reshape(4, H)
                if "p_i" in w:
                    zi, zf = zi + w["p_i"] * c, zf + w["p_f"] * c
                i = put("i", _sigmoid(zi))
                f = put("f", _sigmoid(zf))
                g = put("g", np.tanh(zg))
                c = put("c", f * c + i * g)
                if "p_o" in w:
                    zo = zo + w["p_o"] * c
                o = put("o", _sigmoid(zo))
                h_cell = put("h_cell", o * np.tanh(c))
                h = put("h", w["W_hr"] @ h_cell if "W_hr" in w else h_cell)
                for name, v in (("i", i), ("f", f), ("g", g), ("o", o), ("c", c), ("h", h)):
                    out[name][layer, d, t] = v
        layer_in = np.concatenate([out["h"][layer, d] for d in range(D)], axis=-1)
    return out


def _onward(t, reverse):
    """From t to the end of the reading order, written out: later positions, or earlier ones."""
    return set(range(0, t + 1)) if reverse else set(range(t, T))


def _cases(spec):
    """(edit, oracle interventions, x replacements) for every edit kind, spread over the
    layers and directions of the spec."""
    L, D = spec.num_layers, spec.num_directions
    top, last = L - 1, D - 1
    rev = spec.reads_reversed
    x5 = (0.5, -1.25, 2.0)
    return {
        "set c of one unit": (SetState(name="c", t=3, unit=2, value=1.5, layer=top, direction=last),
                              [(top, last, {3}, "c", 2, 1.5)], None),
        "set h of all units": (SetState(name="h", t=3, unit=None, value=0.5),
                               [(0, 0, {3}, "h", None, 0.5)], None),
        "set c of all units": (SetState(name="c", t=6, unit=None, value=-2.0, direction=last),
                               [(0, last, {6}, "c", None, -2.0)], None),
        "clamp f at one step": (ClampGate(gate="f", t=2, unit=1, value=1.0, direction=last),
                                [(0, last, {2}, "f", 1, 1.0)], None),
        "clamp i to the end": (ClampGate(gate="i", t=4, unit=None, value=0.0, to_end=True,
                                         layer=top),
                               [(top, 0, _onward(4, rev(0)), "i", None, 0.0)], None),
        "clamp g to the end": (ClampGate(gate="g", t=5, unit=4, value=-0.75, to_end=True,
                                         direction=last),
                               [(0, last, _onward(5, rev(last)), "g", 4, -0.75)], None),
        "clamp o at one step": (ClampGate(gate="o", t=0, unit=0, value=0.25, layer=top),
                                [(top, 0, {0}, "o", 0, 0.25)], None),
        "ablate the whole sequence": (Ablate(unit=3),
                                      [(0, 0, set(range(T)), "c", 3, 0.0),
                                       (0, 0, set(range(T)), "h_cell", 3, 0.0)], None),
        "ablate from t on": (Ablate(unit=0, from_t=4, layer=top, direction=last),
                             [(top, last, _onward(4, rev(last)), "c", 0, 0.0),
                              (top, last, _onward(4, rev(last)), "h_cell", 0, 0.0)], None),
        "replace the input": (ReplaceInput(t=5, x=x5), [], {5: x5}),
    }  # fmt: skip


EDIT_KINDS = tuple(_cases(_spec("uni")))


def _close(trace: Trace, expected: dict, tol: float):
    for name in ("i", "f", "g", "o", "c", "h"):
        np.testing.assert_allclose(getattr(trace, name), expected[name], rtol=0, atol=tol,
                                   err_msg=name)  # fmt: skip


# --- no edits, and edits that change nothing: bit for bit --------------------------------
@pytest.mark.parametrize("keep_z", [True, False])
@pytest.mark.parametrize("kind", CONFIGS)
def test_a_branch_without_edits_is_its_parent_bit_for_bit(kind, keep_z):
    parent = _recording(kind, np.float32, keep_z=keep_z)
    b = branch(parent, [])
    for name in (*STORED, "z", "output"):
        a, p = getattr(b, name), getattr(parent, name)
        if p is None:
            assert a is None, name
            continue
        assert a.dtype == p.dtype and a.shape == p.shape, name
        assert a.tobytes() == p.tobytes(), name
    assert b.tokens == parent.tokens and b.labels == parent.labels
    assert b.parent == parent.identity and b.root == parent.identity and b.edits == ()
    assert b.identity != parent.identity  # a branch is not the recording, even if equal
    assert parent.parent is None and parent.root is None and parent.edits == ()


@pytest.mark.parametrize("block", [None, 3])
@pytest.mark.parametrize("kind", CONFIGS)
def test_edits_that_change_nothing_change_no_bit(kind, block, monkeypatch):
    """Setting a value to what it already was re-runs layers and directions through the
    cell's general path and re-projects their inputs, and must still give the parent's
    bits: the general path does the plain cell's arithmetic, and the input projection is
    computed in the same blocks as record() (a GEMM over a sub-range of rows may round
    differently from the whole; with block=3 the re-run starts inside a block)."""
    if block:
        monkeypatch.setattr(recorder_module, "ZX_BLOCK", block)
    parent = _recording(kind, np.float32)
    L, D = parent.num_layers, parent.num_directions
    same = [
        SetState(name="h", t=4, unit=1, value=float(parent.h[0, 0, 4, 1])),
        SetState(name="c", t=2, unit=0, value=float(parent.c[L - 1, D - 1, 2, 0]),
                 layer=L - 1, direction=D - 1),
        ClampGate(gate="f", t=5, unit=3, value=float(parent.f[0, D - 1, 5, 3]), direction=D - 1),
    ]  # fmt: skip
    b = branch(parent, same)
    assert reach(same, parent.spec, T).sum() >= T - 2  # something really was re-run
    for name in (*STORED, "z"):
        assert getattr(b, name).tobytes() == getattr(parent, name).tobytes(), name
    assert b.output is parent.output  # the last layer's h is unchanged, so the output holds


def test_a_long_sequence_reprojects_whole_blocks_and_matches():
    """At the default block size, over three blocks of a stacked bidirectional LSTM. An edit
    near the end re-runs 4 rows, and 4 rows projected alone round differently from the same
    rows of a bigger GEMM (gemv and small-M kernels sum in another order), so the re-run
    must re-project their whole block to match."""
    spec = LSTMSpec.random(64, 32, 2, bidirectional=True, seed=8, dtype=np.float32)
    parent = record(spec, np.random.default_rng(1).standard_normal((2100, 64)), keep_z=True)
    for t in (2096, 1500, 700):
        e = SetState(name="h", t=t, unit=2, value=float(parent.h[0, 0, t, 2]))
        b = branch(parent, [e])
        for name in ("i", "f", "g", "o", "c", "h", "z"):
            assert getattr(b, name).tobytes() == getattr(parent, name).tobytes(), (t, name)


def test_a_fed_trace_branches_too_equal_to_rounding_where_re_run():
    """Recorder projects one input at a time (not record()'s blocks): a branch of a fed trace
    copies what it does not reach bit for bit, and re-runs the rest to rounding."""
    spec = _spec("uni", np.float32)
    rec = Recorder(spec)
    for x_t in _recording("uni", np.float32).x:
        fed = rec.feed(x_t)
    assert branch(fed, []).h.tobytes() == fed.h.tobytes()
    b = branch(fed, [SetState(name="h", t=5, unit=0, value=float(fed.h[0, 0, 5, 0]))])
    assert b.h[:, :, :5].tobytes() == fed.h[:, :, :5].tobytes()
    np.testing.assert_allclose(b.h, fed.h, rtol=0, atol=1e-6)


@pytest.mark.parametrize("proj", [0, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_general_path_computes_the_plain_cells_numbers(dtype, proj):
    spec = LSTMSpec.random(4, 6, proj_size=proj, seed=9, dtype=dtype)
    w, act = spec.weights[0][0], spec.cell_activations(0, 0)
    rng = np.random.default_rng(0)
    zx = rng.standard_normal(24).astype(dtype)
    h_prev = rng.standard_normal(spec.out_size).astype(dtype)
    c_prev = rng.standard_normal(6).astype(dtype)
    outs = []
    for override in (None, ()):  # None: the short path; (): the general one, nothing to set
        z, gates = np.empty((4, 6), dtype), np.empty((4, 6), dtype)
        c, h = np.empty(6, dtype), np.empty(spec.out_size, dtype)
        lstm_step(w, act, zx, h_prev, c_prev, z, gates, c, h, override=override)
        outs.append((z, gates, c, h))
    for a, b in zip(*outs):
        assert a.tobytes() == b.tobytes()


# --- each edit kind against the oracle ---------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-5)])
@pytest.mark.parametrize("edit", EDIT_KINDS)
@pytest.mark.parametrize("kind", CONFIGS)
def test_each_edit_kind_against_the_equations(kind, edit, dtype, tol):
    parent = _recording(kind, dtype)
    e, interventions, x_new = _cases(parent.spec)[edit]
    b = branch(parent, [e])
    _close(parent, oracle(parent, []), tol)  # the oracle agrees with the recording
    _close(b, oracle(parent, interventions, x_new), tol)
    # and the edit did something a user would see
    assert any(not np.array_equal(getattr(b, n), getattr(parent, n)) for n in "ifgoch")
    if x_new:
        np.testing.assert_array_equal(b.x[5], np.asarray(x_new[5], dtype))
        assert b.tokens[5] == "<edited>" and b.tokens[4] == "w4"


@pytest.mark.parametrize("layers", [1, 2])
def test_set_c_and_h_against_torch_from_the_edited_state(layers):
    """The branch after an edit at t is torch's nn.LSTM started at t + 1 from the branch's
    state at t, and at t it is torch's nn.LSTMCell on the parent's state at t − 1 with
    c_t (or h_t) replaced and, for c, h_t = o_t · tanh(c_t)."""
    torch.manual_seed(0)
    m = torch.nn.LSTM(3, 5, layers).double().eval()
    from lstm_engine.formats.torch_module import spec_from_module

    x = torch.randn(T, 1, 3, dtype=torch.float64)
    parent = record(spec_from_module(m), x)
    t = 3
    for e in (SetState(name="c", t=t, unit=2, value=1.5), SetState(name="h", t=t, unit=None,
                                                                     value=0.25)):  # fmt: skip
        b = branch(parent, [e])
        cell = torch.nn.LSTMCell(3, 5).double()
        with torch.no_grad():
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(cell, name).copy_(getattr(m, f"{name}_l0"))
            h, c = cell(x[t], (torch.from_numpy(parent.h[0, 0, t - 1][None].copy()),
                               torch.from_numpy(parent.c[0, 0, t - 1][None].copy())))  # fmt: skip
        h, c = h[0].numpy().copy(), c[0].numpy().copy()
        if e.name == "c":
            c[2] = 1.5
            o = parent.o[0, 0, t]  # no peephole: o_t does not depend on c_t
            h[2] = o[2] * np.tanh(1.5)
        else:
            h[:] = 0.25
        np.testing.assert_allclose(b.c[0, 0, t], c, rtol=0, atol=1e-12)
        np.testing.assert_allclose(b.h[0, 0, t], h, rtol=0, atol=1e-12)
        # from t + 1 on: torch itself, started from the branch's state at t
        h_t = torch.from_numpy(np.ascontiguousarray(b.h[:, 0, t])[:, None])
        c_t = torch.from_numpy(np.ascontiguousarray(b.c[:, 0, t])[:, None])
        if layers == 2:  # layer 1 at step t read the edited h of layer 0: its state there is new
            assert not np.array_equal(b.h[1, 0, t], parent.h[1, 0, t])
        with torch.no_grad():
            out, _ = m(x[t + 1 :], (h_t, c_t))
        np.testing.assert_allclose(b.h[-1, 0, t + 1 :], out[:, 0].numpy(), rtol=0, atol=1e-10)
        np.testing.assert_array_equal(b.h[:, :, :t], parent.h[:, :, :t])


def test_clamps_do_what_the_equations_say():
    """i clamped to 0: c_t = f ⊙ c_{t−1} exactly; f clamped to 1 from t on:
    c_t = c_{t−1} + i ⊙ g; with input_forget, f = 1 − i follows a clamped i."""
    parent = _recording("stacked bi peephole proj", np.float64)
    b = branch(parent, [ClampGate(gate="i", t=4, unit=None, value=0.0, layer=1, direction=1)])
    np.testing.assert_array_equal(b.i[1, 1, 4], 0.0)
    np.testing.assert_array_equal(b.c[1, 1, 4], b.f[1, 1, 4] * b.c[1, 1, 5])  # reverse: t+1
    b = branch(parent, [ClampGate(gate="f", t=2, unit=3, value=1.0, to_end=True)])
    for t in range(2, T):
        assert b.f[0, 0, t, 3] == 1.0
        assert b.c[0, 0, t, 3] == b.c[0, 0, t - 1, 3] + b.i[0, 0, t, 3] * b.g[0, 0, t, 3]
    assert b.f[0, 0, 1, 3] == parent.f[0, 0, 1, 3] != 1.0
    b = branch(parent, [Ablate(unit=2, from_t=5, direction=1)])  # reverse: 5 down to 0
    np.testing.assert_array_equal(b.c[0, 1, :6, 2], 0.0)
    assert (b.c[0, 1, 6:, 2] != 0).all() and (b.c[0, 1, 6:] == parent.c[0, 1, 6:]).all()
    # with input_forget (ONNX), f = 1 − i follows a clamped i, and a clamped f overrides that
    spec = LSTMSpec.random(3, 5, seed=6, dtype=np.float64, input_forget=True, clip=2.0)
    coupled = record(spec, parent.x)
    b = branch(coupled, [ClampGate(gate="i", t=3, unit=1, value=0.25)])
    assert (b.i[0, 0, 3, 1], b.f[0, 0, 3, 1]) == (0.25, 0.75)
    np.testing.assert_array_equal(b.f, 1.0 - b.i)
    b = branch(coupled, [ClampGate(gate="i", t=3, unit=1, value=0.25),
                         ClampGate(gate="f", t=3, unit=1, value=0.5)])  # fmt: skip
    assert (b.i[0, 0, 3, 1], b.f[0, 0, 3, 1]) == (0.25, 0.5)


# --- reach: what is re-run, what is copied -------------------------------------------------
def test_reach_in_a_stacked_bidirectional_lstm():
    spec = _spec("stacked bi")
    m = reach([SetState(name="c", t=5, unit=0, value=1.0)], spec, T)  # layer 0, forward
    expect = np.zeros((2, 2, T), bool)
    expect[0, 0, 5:] = True  # the edited direction, from t on
    expect[1, 0, 5:] = True  # the layer above, forward: from the first changed input
    expect[1, 1, :] = True  # and reverse: it reads position T−1 first, which changed
    np.testing.assert_array_equal(m, expect)
    m = reach([Ablate(unit=1, from_t=2, direction=1)], spec, T)  # layer 0, reverse, 2 down to 0
    expect[:] = False
    expect[0, 1, :3] = True
    expect[1, 0, :] = True  # input changed at 0..2: forward reads 0 first
    expect[1, 1, :3] = True  # reverse reaches 2 only after T−1..3, which did not change
    np.testing.assert_array_equal(m, expect)
    m = reach([ReplaceInput(t=6, x=(0.0, 0.0, 0.0))], spec, T)
    np.testing.assert_array_equal(m[0, 0], np.arange(T) >= 6)
    np.testing.assert_array_equal(m[0, 1], np.arange(T) <= 6)
    assert m[1].all()
    m = reach([SetState(name="h", t=3, unit=0, value=0.0, layer=1, direction=0)], spec, T)
    assert not m[0].any() and not m[1, 1].any() and (m[1, 0] == (np.arange(T) >= 3)).all()
    assert not reach([], spec, T).any()


@pytest.mark.parametrize("kind", CONFIGS)
def test_only_reachable_steps_are_recomputed_and_the_rest_is_copied(kind, monkeypatch):
    """Counting the cell's calls: a branch steps exactly the reached positions; every other
    step is the parent's bits, and the reached ones did change (an edit at t in layer 0
    forward of a stacked bidirectional LSTM changes layer 1 reverse at position 0)."""
    parent = _recording(kind)
    L, D = parent.num_layers, parent.num_directions
    e = SetState(name="c", t=4, unit=1, value=2.5)
    mask = reach([e], parent.spec, T)
    calls = []

    def counting(*args, **kwargs):
        calls.append(1)
        return lstm_step(*args, **kwargs)

    monkeypatch.setattr(recorder_module, "lstm_step", counting)
    b = branch(parent, [e])
    assert len(calls) == mask.sum()
    for layer in range(L):
        for d in range(D):
            for t in range(T):
                same = all(getattr(b, n)[layer, d, t].tobytes()
                           == getattr(parent, n)[layer, d, t].tobytes()
                           for n in "ifgochz")  # fmt: skip
                assert same is not bool(mask[layer, d, t]), (layer, d, t)
    if kind == "stacked bi":
        assert mask[1, 1, 0] and not np.array_equal(b.h[1, 1, 0], parent.h[1, 1, 0])


# --- stacking, lineage, files ------------------------------------------------------------
def test_branches_stack_and_earlier_edits_stay_in_force():
    parent = _recording("stacked bi peephole proj")
    first = Ablate(unit=3, direction=1)  # the whole sequence, layer 0 reverse
    second = SetState(name="c", t=5, unit=1, value=-1.0, layer=1)
    b1 = branch(parent, [first])
    b2 = branch(b1, [second])
    assert b2.edits == (first, second) and b2.parent == b1.identity and b2.root == parent.identity
    both = branch(parent, [first, second])
    for name in (*STORED, "z"):
        assert getattr(b2, name).tobytes() == getattr(both, name).tobytes(), name
    # the second re-run reaches layer 0 reverse? no: but layer 1's re-run steps still read an
    # ablated unit below, and the oracle of both edits agrees
    expected = oracle(parent, [(0, 1, set(range(T)), "c", 3, 0.0),
                               (0, 1, set(range(T)), "h_cell", 3, 0.0),
                               (1, 0, {5}, "c", 1, -1.0)])  # fmt: skip
    _close(b2, expected, 1e-10)
    # an ablation of a unit in a re-run direction keeps holding in the second branch
    b3 = branch(b1, [SetState(name="h", t=0, unit=0, value=3.0, direction=1)])
    np.testing.assert_array_equal(b3.c[0, 1, :, 3], 0.0)


def test_the_parent_is_never_changed_and_a_branch_is_read_only():
    parent = _recording("stacked bi")
    before = {n: getattr(parent, n).tobytes() for n in (*STORED, "z", "output")}
    ident = parent.identity
    b = branch(parent, [SetState(name="c", t=2, unit=0, value=9.0), ReplaceInput(t=1, x=(1, 2, 3))])
    assert {n: getattr(parent, n).tobytes() for n in before} == before
    assert parent.__dict__.pop("identity") == ident and parent.identity == ident  # recomputed
    for name in (*STORED, "z"):
        with pytest.raises(ValueError):
            getattr(b, name)[(0,) * getattr(b, name).ndim] = 1.0
        with pytest.raises(ValueError):
            getattr(b, name).flags.writeable = True
    with pytest.raises(TypeError):
        b.meta["branch"]["edits"].append({})


def test_meta_holds_the_parent_and_the_edits_as_json():
    parent = _recording("bi")
    edits = [SetState(name="c", t=6, unit=1, value=0.0), Ablate(unit=2, from_t=3),
             ClampGate(gate="f", t=1, unit=None, value=1.0, to_end=True, direction=1),
             ReplaceInput(t=0, x=(1.0, 2.0, 3.0))]  # fmt: skip
    b = branch(parent, edits)
    lineage = json.loads(json.dumps(b.meta["branch"], default=dict))  # MappingProxy: dict
    assert lineage == {
        "parent": parent.identity, "root": parent.identity,
        "edits": [
            {"kind": "set", "layer": 0, "direction": 0, "name": "c", "t": 6, "unit": 1,
             "value": 0.0},
            {"kind": "ablate", "layer": 0, "direction": 0, "unit": 2, "from_t": 3},
            {"kind": "clamp", "layer": 0, "direction": 1, "gate": "f", "t": 1, "unit": None,
             "value": 1.0, "to_end": True},
            {"kind": "input", "t": 0, "x": [1.0, 2.0, 3.0]},
        ],
    }  # fmt: skip
    assert tuple(edit_from_json(e) for e in lineage["edits"]) == b.edits == tuple(edits)
    assert b.meta["config"] == parent.meta["config"]
    assert b.output is None  # the last layer's h changed: the parent's output would be stale
    given = np.zeros((T, 2))
    assert (branch(parent, edits, output=given).output == 0).all()
    assert branch(parent, edits[3:], tokens=tuple("abcdefgh")).tokens[0] == "a"
    with pytest.raises(InputError, match="branch"):
        record(parent.spec, parent.x, meta={"branch": dict(b.meta["branch"])})


def test_save_and_load_a_branch_and_branch_a_loaded_trace(tmp_path):
    parent = _recording("stacked bi peephole proj", np.float32)
    b1 = branch(parent, [Ablate(unit=1, layer=1, direction=0)])
    b2 = branch(b1, [ClampGate(gate="o", t=3, unit=2, value=0.0, to_end=True, direction=1)])
    b2.save(tmp_path / "b2.npz")
    loaded = Trace.load(tmp_path / "b2.npz")
    for name in (*STORED, "z"):
        assert getattr(loaded, name).tobytes() == getattr(b2, name).tobytes(), name
    assert loaded.identity == b2.identity
    assert loaded.parent == b1.identity and loaded.root == parent.identity
    assert loaded.edits == b2.edits
    # a recording loaded from its file (read-only) branches exactly like the original
    parent.save(tmp_path / "parent.npz")
    from_file = Trace.load(tmp_path / "parent.npz")
    assert from_file.identity == parent.identity
    again = branch(branch(from_file, b2.edits[:1]), b2.edits[1:])
    assert again.identity == b2.identity
    for name in (*STORED, "z"):
        assert getattr(again, name).tobytes() == getattr(b2, name).tobytes(), name
    # and a loaded branch can be branched again: edits append
    b3 = branch(loaded, [SetState(name="h", t=0, unit=0, value=1.0)])
    assert b3.edits == (*b2.edits, SetState(name="h", t=0, unit=0, value=1.0))
    assert b3.parent == b2.identity


def test_identity_is_the_content():
    parent = _recording("bi")
    assert parent.identity.startswith("sha256:") and len(parent.identity) == 7 + 64
    # z is a cache of what the cell computed: kept or not, the same recording
    assert _recording("bi", keep_z=False).identity == parent.identity
    c = parent.c.copy()
    c[0, 1, 3, 2] = np.nextafter(c[0, 1, 3, 2], np.inf)
    assert dataclasses.replace(parent, c=c).identity != parent.identity
    assert dataclasses.replace(parent, tokens=None).identity != parent.identity
    other = dataclasses.replace(parent, spec=parent.spec.astype(np.float64))
    assert other.identity == parent.identity  # same dtype and weights: the same trace
    assert branch(parent, []).identity == branch(parent, []).identity


def test_a_damaged_lineage_in_a_file_is_a_load_error(tmp_path):
    b = branch(_recording("uni"), [SetState(name="c", t=1, unit=0, value=1.0)])
    b.save(tmp_path / "b.npz")
    data = dict(np.load(tmp_path / "b.npz"))
    meta = json.loads(str(data["meta"]))
    for damage, message in [
        (lambda m: m["branch"]["edits"][0].update(unit=99), "unit 99 does not exist"),
        (lambda m: m["branch"]["edits"][0].update(kind="teleport"), "unknown edit kind"),
        (lambda m: m["branch"].pop("parent"), "parent"),
        (lambda m: m["branch"].update(edits="all of them"), "list of edits"),
    ]:
        broken = json.loads(json.dumps(meta))
        damage(broken)
        np.savez(tmp_path / "bad.npz", **{**data, "meta": np.array(json.dumps(broken))})
        with pytest.raises(LoadError, match=message):
            Trace.load(tmp_path / "bad.npz")


# --- edits as data, and the messages a user reads -------------------------------------------
def test_every_edit_kind_round_trips_through_json():
    for e in _cases(_spec("stacked bi")).values():
        e = e[0]
        assert edit_from_json(json.loads(json.dumps(e.to_json()))) == e
    assert SetState(name="c", t=np.int64(3), unit=2.0, value=np.float32(0.5)).to_json() == {
        "kind": "set", "layer": 0, "direction": 0, "name": "c", "t": 3, "unit": 2, "value": 0.5}


@pytest.mark.parametrize("make,message", [
    (lambda: SetState(name="g", t=1, unit=0, value=0.0), "'g' cannot be set; set 'c' or 'h'"),
    (lambda: ClampGate(gate="c", t=1, unit=0, value=0.0), "unknown gate 'c'; the gates are i, f, g, o"),
    (lambda: SetState(name="c", t=1.5, unit=0, value=0.0), "t must be a whole number"),
    (lambda: SetState(name="c", t=-1, unit=0, value=0.0), "t must be 0 or more"),
    (lambda: SetState(name="c", t=1, unit=True, value=0.0), "unit must be a whole number"),
    (lambda: SetState(name="c", t=1, unit=0, value=float("inf")), "value must be a finite number"),
    (lambda: SetState(name="c", t=1, unit=0, value="1"), "value must be a number"),
    (lambda: Ablate(unit=None), "unit must be a whole number, got None"),
    (lambda: ClampGate(gate="f", t=1, unit=0, value=1.0, to_end="yes"), "to_end must be true or false"),
    (lambda: ReplaceInput(t=0, x=(1.0, float("nan"), 0.0)), r"x\[1\] must be a finite number"),
    (lambda: ReplaceInput(t=0, x=[[1.0, 2.0, 3.0]]), "must be one vector"),
    (lambda: edit_from_json({"kind": "set", "name": "c", "t": 1, "unit": 0}), "missing \\['value'\\]"),
    (lambda: edit_from_json({"kind": "ablate", "unit": 1, "when": 3}), "unknown fields \\['when'\\]"),
    (lambda: edit_from_json(["set"]), "JSON object with a 'kind'"),
])  # fmt: skip
def test_bad_edits_are_refused_with_a_readable_message(make, message):
    with pytest.raises(InputError, match=message):
        make()


@pytest.mark.parametrize("edit,message", [
    (SetState(name="c", t=1, unit=5, value=0.0), r"unit 5 does not exist; the LSTM has units 0\.\.4"),
    (SetState(name="h", t=1, unit=3, value=0.0), r"unit 3 does not exist; h has units 0\.\.2"),
    (SetState(name="c", t=8, unit=0, value=0.0), r"step 8 is outside the trace \(0\.\.7\)"),
    (Ablate(unit=0, layer=2), r"layer 2 does not exist; the LSTM has layers 0\.\.1"),
    (Ablate(unit=0, direction=2), r"direction 2 does not exist; the LSTM has directions 0"),
    (Ablate(unit=0, from_t=9), r"step 9 is outside the trace"),
    (ReplaceInput(t=0, x=(1.0, 2.0)), "x has 2 numbers but the LSTM takes 3 per step"),
    ("c[3] = 0", "edit 0 is a str, not an edit"),
])  # fmt: skip
def test_edits_that_do_not_fit_the_trace_are_refused(edit, message):
    parent = _recording("stacked bi peephole proj")
    with pytest.raises(InputError, match=message):
        branch(parent, [edit])
    uni = _recording("uni")
    with pytest.raises(InputError, match="direction 1 does not exist; the LSTM has direction 0 "):
        branch(uni, [Ablate(unit=0, direction=1)])


def test_a_trace_without_weights_cannot_be_branched():
    parent = _recording("uni")
    bare = dataclasses.replace(parent, spec=None)
    with pytest.raises(InputError, match="no weights"):
        branch(bare, [])


@pytest.mark.parametrize("kind", CONFIGS)
@pytest.mark.parametrize("until", [None, 5])
def test_a_branch_that_overflows_reports_where_exactly_as_a_full_scan(kind, until, monkeypatch):
    """A branch of an all-finite recording scans only the rows it re-ran for NaN/Inf (the rest
    are the parent's); where it finds one, it must say what a scan of everything says."""
    parent = _recording(kind)
    assert parent.meta["first_nonfinite"] is None
    t, d = 2, parent.num_directions - 1
    child = branch(parent, [ClampGate(gate="f", t=t, unit=1, value=1e308, to_end=True,
                                      layer=0, direction=d)], until=until)  # fmt: skip
    found = child.meta["first_nonfinite"]
    arrays = {n: getattr(child, n) for n in ("i", "f", "g", "o", "c", "h")}
    full = recorder_module._first_nonfinite(child.spec, child.x, child.h0, child.c0, arrays,
                                            (child.c, child.h))  # fmt: skip
    assert found is not None and found == full and found["where"] in ("c", "h")
    # and a branch that stays finite says None, as the full scan does
    calm = branch(parent, [SetState(name="c", t=t, unit=1, value=0.5, layer=0, direction=d)],
                  until=until)  # fmt: skip
    assert calm.meta["first_nonfinite"] is None
