"""record(buffers=...): the trace's arrays written where the caller says (a file, for
core/store.py), equal bit for bit to an in-memory recording and adopted without a copy."""

from __future__ import annotations

import numpy as np
import pytest

from lstm_engine import LSTMSpec, record
from lstm_engine.core.readonly import seal
from lstm_engine.core.recorder import MemoryBuffers

STORED = ("x", "i", "f", "g", "o", "c", "h")


class NpyBuffers:
    """One .npy file per array, written through a memory map and reopened read-only."""

    def __init__(self, folder):
        self.folder, self.calls, self.paths = folder, [], {}

    def allocate(self, name, shape, dtype):
        self.calls.append(("allocate", name, tuple(shape), np.dtype(dtype)))
        self.paths[name] = self.folder / f"{name}.npy"
        return np.lib.format.open_memmap(self.paths[name], mode="w+", dtype=dtype, shape=shape)

    def finish(self):
        self.calls.append(("finish",))
        self.finished = {name: seal(np.load(path, mmap_mode="r"), freeze_owner=False)
                         for name, path in self.paths.items()}  # fmt: skip
        return self.finished


@pytest.mark.parametrize("kw, keep_z", [
    (dict(num_layers=1), None), (dict(num_layers=2, bidirectional=True), True),
    (dict(num_layers=2, proj_size=3), False), (dict(num_layers=2, bidirectional=True, peephole=True), True),
])  # fmt: skip
def test_a_file_backed_recording_is_the_memory_one_bit_for_bit(tmp_path, kw, keep_z, monkeypatch):
    import lstm_engine.core.recorder as recorder

    monkeypatch.setattr(recorder, "ZX_BLOCK", 7)  # several blocks, and a last short one
    spec = LSTMSpec.random(4, 6, seed=3, dtype=np.float32, **kw)
    x = np.random.default_rng(0).standard_normal((30, 4))
    mem = record(spec, x, keep_z=keep_z)
    store = NpyBuffers(tmp_path)
    disk = record(spec, x, keep_z=keep_z, buffers=store)
    for name in (*STORED, "z"):
        a, b = getattr(mem, name), getattr(disk, name)
        assert (a is None) == (b is None), name
        if a is not None:
            assert a.tobytes() == b.tobytes(), name
    assert disk.meta == mem.meta
    L, D, T, H, P = spec.num_layers, spec.num_directions, 30, 6, spec.out_size
    expect = [("allocate", "x", (T, 4)), ("allocate", "gates", (L, D, T, 4, H)),
              ("allocate", "c", (L, D, T, H)), ("allocate", "h", (L, D, T, P))]  # fmt: skip
    if mem.z is not None:
        expect.append(("allocate", "z", (L, D, T, 4, H)))
    assert [call[:3] for call in store.calls] == [*expect, ("finish",)]
    assert all(call[3] == np.float32 for call in store.calls[:-1])
    # adopted, not copied: the trace's arrays are the file's pages
    assert np.shares_memory(disk.c, store.finished["c"])
    assert np.shares_memory(disk.f, store.finished["gates"])
    assert np.shares_memory(disk.x, store.finished["x"])
    with pytest.raises(ValueError):
        disk.c[0, 0, 0, 0] = 1.0


def test_the_default_buffers_are_sealed_memory():
    store = MemoryBuffers()
    w = store.allocate("c", (3, 4), np.float64)
    w[...] = 2.0
    del w
    done = store.finish()["c"]
    assert done.shape == (3, 4) and (done == 2.0).all() and not done.flags.writeable
    with pytest.raises(ValueError):
        done.flags.writeable = True


def test_a_nan_is_found_where_it_is_whatever_the_buffers(tmp_path):
    spec = LSTMSpec.random(3, 5, num_layers=2, bidirectional=True, seed=1)
    x = np.random.default_rng(2).standard_normal((12, 3))
    x[6:] = 1e308  # finite input that overflows inside the cell
    mem = record(spec, x)
    disk = record(spec, x, buffers=NpyBuffers(tmp_path))
    assert mem.meta["first_nonfinite"] is not None
    assert disk.meta["first_nonfinite"] == mem.meta["first_nonfinite"]


def test_small_buffers_are_sealed_together_and_large_ones_adopted_uncopied():
    """MemoryBuffers seals its small arrays with one copy (seal_all) and adopts its large
    ones as they are: every array keeps its values, shape and dtype, none is writable, and
    a large one is the very memory the recording wrote."""
    from lstm_engine.core.readonly import _is_sealed, seal_all

    store = MemoryBuffers()
    small = store.allocate("x", (5, 6), np.float32)
    big = store.allocate("c", (1, 1, 4000, 256), np.float32)
    small[...], big[...] = 1.5, 2.5
    where = big.__array_interface__["data"][0]
    del small, big
    done = store.finish()
    assert done["c"].__array_interface__["data"][0] == where
    for name, value in (("x", 1.5), ("c", 2.5)):
        assert _is_sealed(done[name]) and not done[name].flags.writeable
        assert (done[name] == value).all()
    odd = [np.array(3.5), np.zeros((0, 4)), np.arange(6.0)[::2], np.ones((3, 4), np.int8).T]
    for a, b in zip(odd, seal_all(odd)):
        assert b.shape == a.shape and b.dtype == a.dtype and np.array_equal(a, b)
        assert _is_sealed(b) and not b.flags.writeable
