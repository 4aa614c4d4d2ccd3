"""The trace file: one .npz users keep, so it must round-trip exactly and fail cleanly."""

from __future__ import annotations

import json
import mmap
import zipfile

import numpy as np
import pytest

from lstm_engine import (
    Activation, CellActivations, EngineError, LoadError, LSTMSpec, Recorder, Trace, record,
)  # fmt: skip

ARRAYS = ("x", "h0", "c0", "i", "f", "g", "o", "c", "h", "z")


def _trace(**spec_opts):
    opts = dict(num_layers=2, bidirectional=True, proj_size=2, seed=3, dtype=np.float64)
    opts.update(spec_opts)
    spec = LSTMSpec.random(3, 4, **opts)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    L, D = spec.num_layers, spec.num_directions
    h0 = rng.standard_normal((L * D, spec.out_size))
    c0 = rng.standard_normal((L * D, spec.hidden_size))
    return record(
        spec, x, h0, c0, source="unit test",
        output=rng.standard_normal((5, 2)),
        tokens=("Je", "parle", "français", "très", "bien"),
        labels=("PRON", "VERB"),  # the output's classes, one per column
        meta={"note": "ünïcode ✓"},
    )  # fmt: skip


def _assert_same(a: Trace, b: Trace):
    for name in ARRAYS + ("output",):
        va, vb = getattr(a, name), getattr(b, name)
        assert va.dtype == vb.dtype and va.shape == vb.shape, name
        np.testing.assert_array_equal(va, vb, err_msg=name)
    assert a.tokens == b.tokens and a.labels == b.labels


SPECS = {
    "bi proj f64": {},
    "uni f32": dict(num_layers=1, bidirectional=False, proj_size=0, dtype=np.float32),
    "peephole custom clip": dict(
        num_layers=1, bidirectional=False, proj_size=0, peephole=True, clip=1.5,
        input_forget=True,
        activations=CellActivations(
            i=Activation("HardSigmoid", 0.3, 0.4), c=Activation("Softsign")
        ),
    ),  # fmt: skip
    "no bias": dict(bias=False),
}


@pytest.mark.parametrize("which", SPECS)
def test_save_load_round_trip_is_exact(tmp_path, which):
    trace = _trace(**SPECS[which])
    path = trace.save(tmp_path / "run.npz")
    assert path == tmp_path / "run.npz"
    back = Trace.load(path)
    _assert_same(trace, back)
    for k in ("source", "note", "first_nonfinite", "config", "dtype"):
        assert back.meta[k] == trace.meta[k], k
    assert back.meta["note"] == "ünïcode ✓"
    # the spec comes back with identical weights and options ...
    assert back.spec.config() == trace.spec.config()
    for wa, wb in zip(
        (w for dirs in trace.spec.weights for w in dirs),
        (w for dirs in back.spec.weights for w in dirs),
    ):
        assert wa.arrays().keys() == wb.arrays().keys()
        for k in wa.arrays():
            np.testing.assert_array_equal(wa.arrays()[k], wb.arrays()[k])
            assert wa.arrays()[k].dtype == wb.arrays()[k].dtype
    # ... so recording again from the loaded file gives the identical trace
    again = record(back.spec, back.x, back.h0.reshape(-1, back.out_size),
                   back.c0.reshape(-1, back.hidden_size))  # fmt: skip
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(again, name), getattr(trace, name), err_msg=name)
    # derived quantities come out the same from the loaded arrays
    for name in ("kept", "forgotten", "written", "delta_c", "tanh_c", "h_cell", "c_prev"):
        np.testing.assert_array_equal(getattr(back, name), getattr(trace, name), err_msg=name)


@pytest.mark.parametrize("compress", [False, True])
def test_file_is_plain_npz_without_pickles(tmp_path, compress):
    trace = _trace()
    trace.save(tmp_path / "run.npz", compress=compress)
    gates = ("i", "f", "g", "o") if compress else ("gates",)  # version 3 keeps them together
    with np.load(tmp_path / "run.npz", allow_pickle=False) as npz:
        names = set(npz.files)
        assert {"x", "h0", "c0", *gates, "c", "h", "z", "output", "meta"} <= names
        assert "weights.0.0.W_ih" in names and "weights.1.1.W_hr" in names
        meta = json.loads(str(npz["meta"]))
        np.testing.assert_array_equal(npz["c"], trace.c)
        i = npz["i"] if compress else npz["gates"][:, :, :, 0]
        np.testing.assert_array_equal(i, trace.i)
        assert i.shape == (2, 2, 5, 4) and npz["h"].shape == (2, 2, 5, 2)
    assert meta["format"] == "lstm-tui-trace" and meta["version"] == 3
    assert meta["tokens"][2] == "français" and meta["labels"][0] == "PRON"
    assert meta["config"]["bidirectional"] is True and meta["config"]["proj_size"] == 2


def test_recorder_trace_saves_and_loads(tmp_path):
    spec = LSTMSpec.random(2, 3, 2, seed=1)
    rec = Recorder(spec)
    for row in np.random.default_rng(1).standard_normal((4, 2)):
        trace = rec.feed(row)
    trace.save(tmp_path / "fed.npz")
    _assert_same_arrays = Trace.load(tmp_path / "fed.npz")
    for name in ARRAYS:
        np.testing.assert_array_equal(getattr(_assert_same_arrays, name), getattr(trace, name))


def test_refuses_to_overwrite_unless_asked(tmp_path):
    path = tmp_path / "kept.npz"
    path.write_bytes(b"something the user saved")
    trace = _trace()
    with pytest.raises(EngineError, match="already exists"):
        trace.save(path)
    assert path.read_bytes() == b"something the user saved"
    trace.save(path, overwrite=True)
    _assert_same(trace, Trace.load(path))
    assert [p.name for p in tmp_path.iterdir()] == ["kept.npz"]  # no temporary left behind


def test_unwritable_destination_is_an_engine_error(tmp_path):
    with pytest.raises(EngineError, match="cannot write .*no_such_dir"):
        _trace().save(tmp_path / "no_such_dir" / "t.npz")


def test_arrays_are_read_only(tmp_path):
    trace = _trace()
    trace.save(tmp_path / "t.npz")
    for t in (trace, Trace.load(tmp_path / "t.npz")):
        for name in ARRAYS + ("output", "kept", "c_prev", "h_prev", "tanh_c"):
            arr = getattr(t, name)
            with pytest.raises(ValueError, match="read-only"):
                arr[(0,) * arr.ndim] = 1.0
        with pytest.raises(Exception):  # frozen dataclass
            t.c = None


def _corrupt_files(tmp_path, good):
    data = good.read_bytes()
    yield "empty", b""
    yield "truncated", data[: len(data) // 2]
    yield "text", b"hello, I am not a trace\n"
    flipped = bytearray(data)
    for k in range(200, len(flipped) - 200, 97):  # inside the compressed members
        flipped[k] ^= 0xFF
    yield "bit-flipped", bytes(flipped)

    def npz(**arrays):
        p = tmp_path / "tmp.npz"
        np.savez(p, **arrays)
        return p.read_bytes()

    yield "plain npz", npz(a=np.zeros(3))
    yield "meta not json", npz(meta=np.array("{nope"), x=np.zeros((1, 1)))
    yield "meta a list", npz(meta=np.array("[1, 2]"))
    yield "other format", npz(meta=np.array(json.dumps({"format": "something-else"})))
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    yield "missing arrays", npz(meta=arrays["meta"], x=arrays["x"])
    yield "wrong shape", npz(**dict(arrays, c=arrays["c"][:, :, :2]))
    yield "x steps", npz(**dict(arrays, x=arrays["x"][:2]))
    yield "future version", npz(**dict(arrays, meta=np.array(json.dumps(dict(meta, version=99)))))
    yield "token count", npz(**dict(arrays, meta=np.array(json.dumps(dict(meta, tokens=["a"])))))
    yield "bad weights", npz(**{k: v for k, v in arrays.items() if k != "weights.1.0.W_hh"})
    yield "odd weight name", npz(**dict(arrays, **{"weights.0.0.W_xx": np.zeros(3)}))
    yield "object array", None


@pytest.mark.parametrize(
    "kind",
    ["empty", "truncated", "text", "bit-flipped", "plain npz", "meta not json", "meta a list",
     "other format", "missing arrays", "wrong shape", "x steps", "token count", "future version",
     "bad weights",
     "odd weight name", "object array"],
)  # fmt: skip
def test_bad_files_give_load_error(tmp_path, kind):
    good = _trace().save(tmp_path / "good.npz")
    path = tmp_path / "bad.npz"
    if kind == "object array":
        np.savez(path, meta=np.array([{"format": "lstm-tui-trace"}], dtype=object))
    else:
        path.write_bytes(dict(_corrupt_files(tmp_path, good))[kind])
    with pytest.raises(LoadError) as err:
        Trace.load(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(LoadError, match="no such file"):
        Trace.load(tmp_path / "nope.npz")
    with pytest.raises(LoadError):
        Trace.load(tmp_path)


def test_a_single_npy_array(tmp_path):
    path = tmp_path / "a.npz"
    with open(path, "wb") as fh:
        np.save(fh, np.zeros(3))
    with pytest.raises(LoadError, match="single array"):
        Trace.load(path)


def test_a_zip_that_is_not_npz(tmp_path):
    path = tmp_path / "a.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("meta.npy", b"not an npy header")
    with pytest.raises(LoadError):
        Trace.load(path)


# --- hostile files and the promises a trace makes (issue 9)


def _writable_owner(a):
    """Walk a view's bases to whatever owns the memory, the way an attacker would."""
    probe = a
    while isinstance(probe, np.ndarray) and probe.base is not None:
        probe = probe.base
    if isinstance(probe, memoryview):
        probe = probe.obj
    return probe


@pytest.mark.parametrize("where", ["recorded", "loaded", "weights"])
def test_no_array_of_a_trace_can_be_made_writable_through_its_base(tmp_path, where):
    """`tr.c.base.obj.flags.writeable = True` used to reopen a recording for writing."""
    tr = _trace()
    if where == "loaded":
        tr = Trace.load(tr.save(tmp_path / "t.npz"))
    arrays = [tr.spec.weights[0][1].W_hh] if where == "weights" else [tr.c, tr.i, tr.h, tr.x]
    for a in arrays:
        before = np.array(a)
        probe = a
        while probe is not None:
            if isinstance(probe, np.ndarray):
                with pytest.raises(ValueError):
                    probe.flags.writeable = True
                probe = probe.base
            elif isinstance(probe, memoryview):
                assert probe.readonly
                probe = probe.obj
            elif isinstance(probe, mmap.mmap):  # a loaded trace is a read-only map of its file
                with pytest.raises(TypeError):
                    probe[0] = 0
                owner, probe = probe, None
            else:
                assert isinstance(probe, bytes)  # immutable: nothing to write through
                owner, probe = probe, None
        np.testing.assert_array_equal(a, before)
        assert isinstance(owner, mmap.mmap if where == "loaded" else bytes)
        if where != "loaded":
            assert isinstance(_writable_owner(a), bytes)


def test_a_trace_pickles_and_deep_copies_to_an_equal_trace():
    import copy
    import pickle

    tr = _trace()
    for back in (pickle.loads(pickle.dumps(tr)), copy.deepcopy(tr)):
        _assert_same(tr, back)
        assert back.meta == tr.meta and back.tokens == tr.tokens and back.identity == tr.identity
        with pytest.raises(TypeError):
            back.meta["note"] = "changed"  # still frozen after the round trip


@pytest.mark.parametrize(
    "shape,message",
    [((0, 1, 5, 4), "at least one layer"), ((1, 3, 5, 4), "1 or 2 directions"),
     ((1, 1, 5, 0), "at least one unit")],
)  # fmt: skip
def test_degenerate_shapes_are_refused_where_the_trace_is_made(shape, message):
    L, D, T, H = shape
    z = np.zeros(shape)
    with pytest.raises(EngineError, match=message):
        Trace(x=np.zeros((T, 2)), h0=np.zeros((L, D, H)), c0=np.zeros((L, D, H)),
              i=z, f=z, g=z, o=z, c=z, h=z)  # fmt: skip


@pytest.mark.parametrize("junk", [["a"], [99], [-1], "0", [True], [[0]]])
def test_unk_positions_must_be_token_positions(tmp_path, junk):
    tr = _trace()
    path = tr.save(tmp_path / "t.npz")
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = json.loads(str(arrays["meta"]))
    meta["unk_positions"] = junk
    arrays["meta"] = np.array(json.dumps(meta))
    bad = tmp_path / "bad.npz"
    np.savez(bad, **arrays)
    with pytest.raises(LoadError, match="unk_positions"):
        Trace.load(bad)


def test_members_the_format_does_not_define_are_never_read(tmp_path):
    """An extra member is not decompressed: here one that would need unpickling to read."""
    path = _trace().save(tmp_path / "t.npz")
    with zipfile.ZipFile(path, "a") as zf:
        import io

        buf = io.BytesIO()
        np.save(buf, np.array([{"x": 1}], dtype=object), allow_pickle=True)
        zf.writestr("payload.npy", buf.getvalue())
    _assert_same(Trace.load(path), _trace())


def test_a_damaged_npy_header_or_deep_meta_is_a_load_error(tmp_path):
    path = _trace().save(tmp_path / "t.npz")
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    header = bytearray(members["c.npy"])
    header[59] ^= 1 << 3  # numpy's own header parser raises SyntaxError/TokenError here
    cases = {"header": {**members, "c.npy": bytes(header)}}
    deep = "[" * 5000 + "]" * 5000
    buf = __import__("io").BytesIO()
    np.save(buf, np.array(deep))
    cases["deep meta"] = {**members, "meta.npy": buf.getvalue()}
    for name, content in cases.items():
        bad = tmp_path / f"{name}.npz"
        with zipfile.ZipFile(bad, "w") as zf:
            for member, data in content.items():
                zf.writestr(member, data)
        with pytest.raises(LoadError):
            Trace.load(bad)


def test_save_never_touches_the_old_temporary_name_and_never_races(tmp_path):
    from lstm_engine import TargetExistsError

    victim = tmp_path / ".t.npz.tmp"
    victim.write_text("the user's own file")
    target = tmp_path / "elsewhere.txt"
    target.write_text("untouched")
    (tmp_path / ".u.npz.tmp").symlink_to(target)
    tr = _trace()
    tr.save(tmp_path / "t.npz")
    tr.save(tmp_path / "u.npz")
    assert victim.read_text() == "the user's own file" and target.read_text() == "untouched"
    with pytest.raises(TargetExistsError, match="already exists"):
        tr.save(tmp_path / "t.npz")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    with pytest.raises(EngineError):
        tr.save(link, overwrite=True)  # --force replaces only a regular file
    assert target.read_text() == "untouched"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".t.npz.tmp", ".u.npz.tmp", "elsewhere.txt", "link.npz", "t.npz", "u.npz"]
