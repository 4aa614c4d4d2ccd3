"""Session, the cursor over a trace, and Recorder, the trace that grows one step at a time."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lstm_engine import InputError, LSTMSpec, Recorder, Session, SpecError, record

GATE_ARRAYS = ("i", "f", "g", "o", "c", "h", "z")


def _trace(T=6, layers=2, bidirectional=True, seed=0):
    spec = LSTMSpec.random(3, 4, layers, bidirectional=bidirectional, seed=seed, dtype=np.float64)
    x = np.random.default_rng(seed).standard_normal((T, 3))
    tokens = tuple(f"w{t}" for t in range(T))
    output = np.arange(T * 2, dtype=np.float64).reshape(T, 2)
    return record(spec, x, tokens=tokens, output=output)


# --- Session -----------------------------------------------------------------------------
def test_moves_return_whether_the_cursor_moved():
    s = Session(_trace(T=5))
    assert s.t == 0 and s.T == 5
    assert s.back() is False and s.t == 0  # clamped at the start
    assert s.step() is True and s.t == 1
    assert s.step(2) is True and s.t == 3
    assert s.step(10) is True and s.t == 4  # clamped at the end, but it did move
    assert s.step() is False and s.t == 4
    assert s.goto(4) is False
    assert s.back(3) is True and s.t == 1
    assert s.back(99) is True and s.t == 0
    assert s.goto(-7) is False and s.t == 0
    assert s.goto(99) is True and s.t == 4
    assert s.first() is True and s.t == 0 and s.first() is False
    assert s.last() is True and s.t == 4 and s.last() is False
    assert s.step(0) is False
    assert s.step(-2) is True and s.t == 2  # a negative step goes back


def test_start_position_is_clamped_and_one_step_trace_cannot_move():
    assert Session(_trace(T=5), t=42).t == 4
    assert Session(_trace(T=5), t=-1).t == 0
    s = Session(_trace(T=1))
    assert (s.step(), s.back(), s.last(), s.first(), s.goto(3)) == (False,) * 5
    assert s.t == 0


def test_at_is_a_view_that_does_not_move_the_cursor():
    trace = _trace(T=6)
    s = Session(trace, t=2)
    view = s.at()
    assert view.t == 2
    assert s.at(5).t == 5 and s.t == 2
    L, D, H, P = trace.num_layers, trace.num_directions, trace.hidden_size, trace.out_size
    for name in ("f", "i", "g", "o", "c_prev", "kept", "forgotten", "written", "c", "delta_c",
                 "tanh_c", "h", "h_cell"):  # fmt: skip
        full = getattr(view, name)
        assert full.shape == (L, D, P if name == "h" else H), name
        for layer in range(L):
            for d in range(D):
                np.testing.assert_array_equal(full[layer, d], getattr(trace, name)[layer, d, 2])
                np.testing.assert_array_equal(view.value(name, layer, d),
                                              trace.value(name, layer, d, 2))  # fmt: skip
    assert view.token == "w2"
    np.testing.assert_array_equal(view.output, [4.0, 5.0])
    with pytest.raises(AttributeError):
        view.not_a_quantity  # noqa: B018
    for bad in (-1, 6, 100):
        with pytest.raises(IndexError, match=r"outside the trace \(0\.\.5\)"):
            s.at(bad)


def test_view_without_tokens_or_output():
    spec = LSTMSpec.random(2, 3, seed=1)
    s = Session(record(spec, np.ones((3, 2))))
    assert s.at().token is None and s.at().output is None


def test_run_until_forward_and_backward():
    trace = _trace(T=8)
    s = Session(trace, t=3)
    big = trace.c[0, 0].max(axis=-1)  # (T,)

    def pred(view):
        return view.c[0, 0].max() >= np.sort(big)[-3]  # the three steps with the largest c

    hits = sorted(np.argsort(big)[-3:])
    after = [t for t in hits if t > 3]
    before = [t for t in hits if t < 3]
    moved = s.run_until(pred)
    assert moved is bool(after) and s.t == (after[0] if after else 3)
    s.goto(3)
    moved = s.run_until(pred, reverse=True)
    assert moved is bool(before) and s.t == (before[-1] if before else 3)

    # by token, both ways; the current step itself never counts
    s.goto(4)
    assert s.run_until(lambda v: v.token == "w4") is False and s.t == 4
    assert s.run_until(lambda v: v.token in ("w1", "w6")) is True and s.t == 6
    assert s.run_until(lambda v: v.token in ("w1", "w6"), reverse=True) is True and s.t == 1
    assert s.run_until(lambda v: v.token == "w6", reverse=True) is False and s.t == 1
    assert s.run_until(lambda v: True) is True and s.t == 2


def test_run_until_reaches_both_ends_of_the_sequence():
    """The first and the last step are hits like any other, from anywhere and in either
    direction. Kills the mutant whose reverse search stops at t=1 (range(t - 1, 0, -1)), which
    survived the whole suite, and its forward twin that stops at T-2."""
    T = 6
    trace = _trace(T=T)
    for start in range(1, T):
        s = Session(trace, t=start)
        assert s.run_until(lambda v: v.t == 0, reverse=True) is True and s.t == 0
        s.goto(start)
        assert s.run_until(lambda v: v.token == "w0", reverse=True) is True and s.t == 0
    for start in range(T - 1):
        s = Session(trace, t=start)
        assert s.run_until(lambda v: v.t == T - 1) is True and s.t == T - 1
        s.goto(start)
        assert s.run_until(lambda v: v.token == f"w{T - 1}") is True and s.t == T - 1
    # every step is visited once, nearest first, and the cursor's own step is never one
    for start in (0, 3, T - 1):
        for reverse in (False, True):
            s, seen = Session(trace, t=start), []
            assert s.run_until(lambda v: seen.append(v.t) and False, reverse=reverse) is False
            nearest_first = range(start - 1, -1, -1) if reverse else range(start + 1, T)
            assert seen == list(nearest_first)
            assert s.t == start


# --- Recorder ----------------------------------------------------------------------------
def _spec(dtype=np.float64, **kw):
    return LSTMSpec.random(3, 5, 2, seed=4, dtype=dtype, **kw)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-13), (np.float32, 2e-6)])
@pytest.mark.parametrize("proj", [0, 2])
def test_feed_step_by_step_equals_record(dtype, tol, proj):
    """Same lstm_step, same numbers. Not bit for bit: record() projects all inputs with one
    matrix product (BLAS gemm), feed() one input at a time (gemv), and the two sum in
    different orders; everything after that projection is shared code."""
    spec = _spec(dtype, proj_size=proj)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((23, 3)).astype(dtype)
    h0 = rng.standard_normal((2, proj or 5)).astype(dtype)
    c0 = rng.standard_normal((2, 5)).astype(dtype)
    whole = record(spec, x, h0, c0, keep_z=True)  # z too: the Recorder keeps it
    rec = Recorder(spec, h0, c0)
    for t, row in enumerate(x):
        fed = rec.feed(row)
        assert fed.T == t + 1 == rec.T
        for name in GATE_ARRAYS:
            np.testing.assert_allclose(
                getattr(fed, name), getattr(whole, name)[:, :, : t + 1],
                rtol=tol, atol=tol, err_msg=f"{name} after {t + 1}",
            )  # fmt: skip
    np.testing.assert_array_equal(fed.x, whole.x)
    np.testing.assert_array_equal(fed.h0, whole.h0)
    np.testing.assert_array_equal(fed.c0, whole.c0)
    assert fed.meta["config"] == whole.meta["config"]
    for name in ("kept", "written", "delta_c", "c_prev", "h_prev"):
        np.testing.assert_allclose(getattr(fed, name), getattr(whole, name), rtol=tol, atol=tol)


def test_feed_is_deterministic_and_earlier_traces_never_change():
    spec = _spec()
    x = np.random.default_rng(9).standard_normal((40, 3))  # past the buffer's regrowth points
    a, b = Recorder(spec), Recorder(spec)
    handed_out, snapshots = [], []
    for row in x:
        ta = a.feed(row)
        tb = b.feed(torch.from_numpy(row)[None])  # tensors and (1, in) rows work too
        for name in GATE_ARRAYS + ("x",):
            np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))
        handed_out.append(ta)
        snapshots.append({n: getattr(ta, n).copy() for n in GATE_ARRAYS + ("x",)})
    for trace, snap in zip(handed_out, snapshots):
        for name, arr in snap.items():
            np.testing.assert_array_equal(getattr(trace, name), arr, err_msg=name)
        assert not trace.c.flags.writeable
    # one trace of the whole run equals the last one handed out
    last = a.trace()
    for name in GATE_ARRAYS:
        np.testing.assert_array_equal(getattr(last, name), getattr(handed_out[-1], name))


def test_recorder_refuses_bidirectional_with_a_reason():
    spec = LSTMSpec.random(3, 4, 1, bidirectional=True)
    with pytest.raises(SpecError, match="bidirectional.*cannot be fed one step at a time"):
        Recorder(spec)


def test_recorder_bad_input_and_empty_trace():
    rec = Recorder(_spec())
    with pytest.raises(InputError, match="nothing has been fed"):
        rec.trace()
    with pytest.raises(InputError, match="input width is 4 but the LSTM takes 3"):
        rec.feed(np.zeros(4))
    with pytest.raises(InputError, match=r"h0 has shape \(3, 5\), expected \[2, 1, 5\]"):
        Recorder(_spec(), h0=np.zeros((3, 5)))
    assert rec.T == 0
    rec.feed(np.zeros(3))
    assert rec.T == 1 and rec.trace().T == 1


def test_recorder_records_nonfinite_and_says_where():
    rec = Recorder(_spec())
    rec.feed(np.ones(3))
    rec.feed([0.0, np.nan, 0.0])
    trace = rec.feed(np.ones(3))
    assert trace.meta["first_nonfinite"] == {"where": "x", "t": 1, "unit": 1}
    assert np.isfinite(trace.c[:, :, 0]).all() and np.isnan(trace.c[:, :, 1:]).all()


def test_a_trace_shares_no_memory_with_what_it_was_given():
    """Editing the caller's input afterwards must not rewrite the recording, and recording
    must not freeze the caller's arrays."""
    spec = LSTMSpec.random(3, 4, 1, seed=2)  # float32, so float32 inputs need no conversion
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 3)).astype(np.float32)
    h0, c0 = rng.standard_normal((1, 4)).astype(np.float32), np.zeros((1, 4), np.float32)
    output = rng.standard_normal((5, 2)).astype(np.float32)
    tensor = torch.from_numpy(x.copy())
    traces = [record(spec, x, h0, c0, output=output), record(spec, tensor)]
    rec = Recorder(spec, h0, c0)
    traces.append(rec.feed(x[0]))
    kept = [(t.x.copy(), t.h0.copy(), t.output) for t in traces]
    x[:] = 7.0
    h0[:] = 7.0
    output[:] = 7.0  # all still writable, and writing them changes no trace
    tensor.add_(7.0)
    for trace, (x_was, h0_was, _) in zip(traces, kept):
        np.testing.assert_array_equal(trace.x, x_was)
        np.testing.assert_array_equal(trace.h0, h0_was)
    assert not (traces[0].output == 7.0).any()


# --- a recording never changes (review finding 10)
def _write_routes(tr):
    """Every public way to write into a trace's numbers; each must raise."""
    import numpy as np

    def flip(a):
        a.flags.writeable = True
        a[...] = 99

    return {
        "c": lambda: flip(tr.c), "i (view of the gates)": lambda: flip(tr.i),
        "x": lambda: flip(tr.x), "h0": lambda: flip(tr.h0), "z": lambda: flip(tr.z),
        "c.base": lambda: flip(np.asarray(tr.c.base)), "kept (derived)": lambda: flip(tr.kept),
        "weights": lambda: flip(tr.spec.weights[0][0].W_ih),
    }  # fmt: skip


def test_record_traces_cannot_be_written_through_any_public_route():
    import numpy as np
    from lstm_engine import LSTMSpec, record

    tr = record(LSTMSpec.random(2, 3, num_layers=2, seed=3), np.ones((4, 2)))
    before = {k: getattr(tr, k).copy() for k in ("x", "c", "i", "h0", "z")}
    for name, write in _write_routes(tr).items():
        with pytest.raises(ValueError):
            write()
    for k, v in before.items():
        np.testing.assert_array_equal(getattr(tr, k), v)


def test_recorder_traces_cannot_be_tampered_with_nor_change_later_steps():
    import numpy as np
    from lstm_engine import LSTMSpec, Recorder, record

    spec = LSTMSpec.random(2, 3, seed=2, dtype=np.float64)
    rec = Recorder(spec)
    first = rec.feed(np.ones(2))
    for name, write in _write_routes(first).items():
        with pytest.raises(ValueError):
            write()
    second = rec.feed(np.ones(2))
    np.testing.assert_allclose(second.c, record(spec, np.ones((2, 2))).c, atol=1e-12)


def test_meta_is_deeply_read_only_and_engine_keys_cannot_be_overridden():
    import numpy as np
    from lstm_engine import InputError, LSTMSpec, record

    tr = record(LSTMSpec.random(2, 3, seed=1), np.ones((3, 2)), meta={"runs": [1, 2]})
    with pytest.raises(TypeError):
        tr.meta["first_nonfinite"] = {"where": "x"}
    with pytest.raises(TypeError):
        tr.meta["config"]["hidden_size"] = 999
    with pytest.raises(TypeError):
        tr.meta["runs"].append(3)
    assert tr.meta["runs"] == [1, 2] and tr.meta["config"]["hidden_size"] == 3
    with pytest.raises(InputError, match="'first_nonfinite' is computed by the engine"):
        record(LSTMSpec.random(2, 3, seed=1), np.ones((3, 2)), meta={"first_nonfinite": {"where": "nowhere"}})


def test_a_hand_built_trace_copies_the_callers_arrays():
    import dataclasses

    import numpy as np
    from lstm_engine import Trace

    a = np.zeros((1, 1, 2, 3))
    tr = Trace(x=np.zeros((2, 2)), h0=np.zeros((1, 1, 3)), c0=np.zeros((1, 1, 3)),
               i=a, f=a, g=a, o=a, c=a, h=a)  # fmt: skip
    assert a.flags.writeable  # the caller's array is left alone...
    a[...] = 7
    assert tr.c.max() == 0  # ...and editing it does not reach the trace
    again = dataclasses.replace(tr, tokens=("a", "b"))
    assert again.c is tr.c  # a trace's own sealed arrays are shared, not copied


# --- steps are whole numbers, and value() never wraps (review finding 14)
def test_steps_must_be_whole_numbers():
    import numpy as np
    from lstm_engine import InputError, LSTMSpec, Session, record

    s = Session(record(LSTMSpec.random(2, 3, seed=1), np.ones((4, 2))))
    for bad in (1.5, float("nan"), None, "2", True):
        with pytest.raises(InputError, match="a step must be a whole number"):
            s.goto(bad)
    with pytest.raises(InputError, match="whole number, got 1.5"):
        s.at(1.5)
    assert s.goto(np.int64(2)) and s.t == 2 and s.at(3.0).t == 3 and type(s.at(3.0).t) is int


def test_value_rejects_out_of_range_steps_and_knows_h_prev_and_h_cell():
    import numpy as np
    from lstm_engine import LSTMSpec, record

    tr = record(LSTMSpec.random(2, 3, bidirectional=True, seed=1), np.ones((4, 2)))
    for t in (-1, 4):
        with pytest.raises(IndexError, match=r"step .* is outside the trace \(0..3\)"):
            tr.value("delta_c", 0, 0, t)
    for d in (0, 1):
        for t in range(4):
            np.testing.assert_array_equal(tr.value("h_prev", 0, d, t), tr.h_prev[0, d, t])
            np.testing.assert_array_equal(tr.value("h_cell", 0, d, t), tr.h_cell[0, d, t])
    with pytest.raises(KeyError, match="h_prev, h_cell"):
        tr.value("nonsense", 0, 0, 0)


# --- Recorder.feed stays O(1) per step (review finding 5)
@pytest.mark.parametrize("poison", [
    None, ("x", 5), ("x", 0), ("W_hh", None), ("h0", None), ("big", 7),
])  # fmt: skip
def test_recorder_first_nonfinite_matches_a_full_scan(poison):
    import dataclasses

    import numpy as np
    from lstm_engine import LSTMSpec, Recorder, record

    spec = LSTMSpec.random(3, 4, num_layers=2, seed=5, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((12, 3))
    h0 = np.zeros((2, 4))
    if poison and poison[0] == "x":
        x[poison[1], 2] = np.nan
    if poison and poison[0] == "big":
        x[poison[1]:, :] = 1e308  # overflows inside the cell from step 7 on
    if poison and poison[0] == "h0":
        h0[1, 3] = np.inf
    if poison and poison[0] == "W_hh":
        w = spec.weights[1][0]
        W = w.W_hh.copy()
        W[0, 0] = np.nan
        spec = dataclasses.replace(spec, weights=(spec.weights[0], (dataclasses.replace(w, W_hh=W),)))
    rec = Recorder(spec, h0=h0)
    for t in range(12):
        got = rec.feed(x[t]).meta["first_nonfinite"]
        assert got == record(spec, x[: t + 1], h0=h0).meta["first_nonfinite"], t


def test_recorder_feed_does_not_rescan_the_whole_buffers(monkeypatch):
    """The full scan (_first_nonfinite) runs once, for h0/c0/weights, never per feed."""
    import numpy as np
    import lstm_engine.core.recorder as recorder
    from lstm_engine import LSTMSpec, Recorder

    rec = Recorder(LSTMSpec.random(4, 8, seed=0))

    def full_scan(*args, **kwargs):
        raise AssertionError("feed() rescanned every recorded step")

    monkeypatch.setattr(recorder, "_first_nonfinite", full_scan)
    for x in np.ones((50, 4)):
        tr = rec.feed(x)
    assert tr.T == 50 and tr.meta["first_nonfinite"] is None


@pytest.mark.parametrize("x_t, message", [
    (np.ones((2, 2)), r"input step has shape \(2, 2\); Recorder.feed takes one step shaped \(2,\) or \(1, 2\)"),
    (np.ones((1, 1, 2)), r"input step has shape \(1, 1, 2\)"),
    (np.ones(4), r"input width is 4 but the LSTM takes 2 features per step; Recorder.feed"),
    (np.array(["a", "b"]), r"input step must be numeric"),
])  # fmt: skip
def test_feed_messages_speak_of_one_step(x_t, message):
    rec = Recorder(LSTMSpec.random(2, 3, seed=1))
    with pytest.raises(InputError, match=message):
        rec.feed(x_t)
    assert rec.T == 0
    assert rec.feed(np.ones((1, 2))).T == 1
