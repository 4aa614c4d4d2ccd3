"""Recording straight into a trace file (store.TraceFile as record()'s buffers).

The file-backed recording must be the in-memory one bit for bit, read from the file's
pages, and leave nothing at the destination unless it was committed.
"""

from __future__ import annotations

import json
import mmap
import os

import numpy as np
import pytest

from lstm_engine import EngineError, InputError, LSTMSpec, TargetExistsError, Trace, record
from lstm_engine.core.files import WriteError
from lstm_engine.core.store import TraceFile, trace_prefix

SPECS = {
    "f32 2 layers bi z": (dict(num_layers=2, bidirectional=True, dtype=np.float32), True),
    "f64 projection": (dict(num_layers=2, proj_size=3, dtype=np.float64), None),
    "f32 uni no z": (dict(dtype=np.float32), False),
}


def _inputs(dtype_opts):
    spec = LSTMSpec.random(4, 6, seed=9, **dtype_opts)
    x = np.random.default_rng(2).standard_normal((300, 4))
    return spec, x


def _mapped(a) -> bool:
    probe = a
    while isinstance(probe, (np.ndarray, memoryview)):
        probe = probe.obj if isinstance(probe, memoryview) else probe.base
    return isinstance(probe, mmap.mmap)


def _listing(folder):
    return sorted(os.listdir(folder))


@pytest.mark.parametrize("which", SPECS)
def test_a_recording_into_a_file_is_the_recording_in_memory(tmp_path, which):
    opts, keep_z = SPECS[which]
    spec, x = _inputs(opts)
    kw = dict(keep_z=keep_z, tokens=tuple("ab\x1b" * 100), source="s", meta={"note": "n"},
              output=np.arange(600.0).reshape(300, 2), labels=("p", "q"))  # fmt: skip
    ref = record(spec, x, **kw)
    path = tmp_path / "rec.npz"
    with TraceFile(path) as out:
        tr = record(spec, x, buffers=out, **kw)
        assert _mapped(tr.c) and _mapped(tr.i)  # the recorder's trace reads the file already
        tr = out.commit(tr)
    for name in ("x", "h0", "c0", "i", "f", "g", "o", "c", "h", "z", "output"):
        a, b = getattr(ref, name), getattr(tr, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.dtype == b.dtype
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert tr.identity == ref.identity and tr.tokens == ref.tokens
    assert all(_mapped(getattr(tr, n)) for n in ("x", "i", "c", "h"))
    assert tr.extent("delta_c", 1 if spec.num_layers > 1 else 0, 0) == \
        ref.extent("delta_c", 1 if spec.num_layers > 1 else 0, 0)  # fmt: skip
    again = Trace.load(path)
    np.testing.assert_array_equal(again.h, ref.h)
    with np.load(path, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["gates"][:, :, :, 1], ref.f)
    assert _listing(tmp_path) == ["rec.npz"]  # no temporary left behind


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_an_interrupted_recording_leaves_nothing_at_the_destination(tmp_path, stop):
    spec, x = _inputs(dict(dtype=np.float32))
    path = tmp_path / "rec.npz"
    with pytest.raises(stop):
        with TraceFile(path) as out:
            record(spec, x, buffers=out)
            raise stop()
    assert _listing(tmp_path) == []


def test_a_recording_that_fails_inside_record_leaves_nothing(tmp_path):
    spec, _ = _inputs(dict(dtype=np.float32))
    with pytest.raises(InputError):
        with TraceFile(tmp_path / "rec.npz") as out:
            record(spec, np.zeros((5, 3)), buffers=out)  # the wrong width
    assert _listing(tmp_path) == []


def test_an_existing_file_or_planted_symlink_is_never_replaced_without_overwrite(tmp_path):
    spec, x = _inputs(dict(dtype=np.float32))
    kept = tmp_path / "kept.npz"
    kept.write_bytes(b"the user's")
    with pytest.raises(TargetExistsError, match="already exists"):
        TraceFile(kept)
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    link = tmp_path / "link.npz"
    link.symlink_to(victim)
    with pytest.raises(TargetExistsError):
        TraceFile(link)
    with pytest.raises(WriteError, match="symbolic link"):
        TraceFile(link, overwrite=True)  # --force replaces only a regular file
    # a name that appears while recording is not replaced either
    late = tmp_path / "late.npz"
    with TraceFile(late) as out:
        tr = record(spec, x, buffers=out)
        late.symlink_to(victim)
        with pytest.raises(TargetExistsError, match="appeared while writing"):
            out.commit(tr)
    assert victim.read_text() == "untouched" and kept.read_bytes() == b"the user's"
    assert _listing(tmp_path) == ["kept.npz", "late.npz", "link.npz", "victim"]
    with TraceFile(kept, overwrite=True) as out:
        out.commit(record(spec, x, buffers=out))
    assert Trace.load(kept).T == 300


def test_a_recording_stopped_early_keeps_its_first_steps(tmp_path):
    """What a corpus keeps on Ctrl-C: the first N steps, committed as a prefix (views of the
    buffers, no copy); the file says valid_steps and opens as an N-step trace."""
    spec, x = _inputs(dict(num_layers=2, dtype=np.float32))
    ref = record(spec, x[:120], tokens=tuple("t" * 120))
    path = tmp_path / "part.npz"
    with TraceFile(path) as out:
        full = record(spec, x, buffers=out, tokens=tuple("t" * 300))
        kept = out.commit(trace_prefix(full, 120))
    assert kept.T == 120 and kept.tokens == ref.tokens
    for name in ("x", "i", "o", "c", "h"):
        np.testing.assert_array_equal(getattr(kept, name), getattr(ref, name), err_msg=name)
    assert kept.identity == ref.identity
    with np.load(path, allow_pickle=False) as npz:
        assert npz["c"].shape[2] == 300 and json.loads(str(npz["meta"]))["valid_steps"] == 120
    assert Trace.load(path).T == 120


def test_a_prefix_of_a_right_to_left_direction_is_refused():
    spec, x = _inputs(dict(bidirectional=True))
    with pytest.raises(InputError, match="right to left"):
        trace_prefix(record(spec, x), 10)


@pytest.mark.parametrize("valid", [0, 301, "12", 1.5])
def test_a_file_whose_valid_steps_lie_is_a_load_error(tmp_path, valid):
    from lstm_engine import LoadError
    from lstm_engine.core import store
    from lstm_engine.core.trace import trace_members

    spec, x = _inputs(dict(dtype=np.float32))
    tr = record(spec, x)
    members = []
    for name, value in trace_members(tr):
        if name == "meta":
            meta = json.loads(str(value))
            meta["valid_steps"] = valid
            value = np.array(json.dumps(meta))
        members.append((name, value))
    path = tmp_path / "lie.npz"
    with open(path, "w+b") as fh:
        store.write_archive(fh, members)
    with pytest.raises(LoadError, match="valid_steps"):
        Trace.load(path)


def test_commit_refuses_a_trace_not_recorded_into_it(tmp_path):
    spec, x = _inputs(dict(dtype=np.float32))
    with TraceFile(tmp_path / "r.npz") as out:
        record(spec, x, buffers=out)
        with pytest.raises(EngineError, match="not the one recorded here"):
            out.commit(record(spec, x))
    assert _listing(tmp_path) == []
